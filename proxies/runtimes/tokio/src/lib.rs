//! The tokio runtime adapter, and the `tokio-tower` core built on it:
//! tokio's multi-thread (work-stealing) runtime with the tower composition
//! (`pb-tower`: stacks shared through `Buffer`).
//!
//! What is here is only what is tokio's: the stream and connect/timer the
//! engine runs on ([`TokioStream`], [`TokioRt`]), the echo service written
//! with tokio's I/O traits, and starting the runtime with one listener
//! and one accept loop (each connection a spawned task that asks the
//! buffered stack for a response future and drives it).

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use pb_core::core::{CoreInfo, ProxyCore};
use pb_core::{Scenario, ServeError, ServeOpts, Spin};
use pb_engine::lifecycle::drain;
use pb_engine::{ConnGauge, Runtime, Stream};
use pb_sys::{Shutdown, accept, socket};
use pb_tower::{BoxFuture, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};

static INFO: CoreInfo = CoreInfo {
    name: "tokio-tower",
    runtime: "tokio 1 multi-thread (work stealing), epoll",
    service: "tower Layer stack shared through Buffer",
    requirements: &[],
    scenarios: &[Scenario::Echo, Scenario::HttpForward],
};

/// The core's registry entry.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioTower;

impl ProxyCore for TokioTower {
    fn info(&self) -> &'static CoreInfo {
        &INFO
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        opts.validate()?;
        // Pin before the runtime exists so every worker inherits the set.
        if let Some(cpus) = &opts.cpus {
            cpus.pin_current_thread()
                .map_err(|source| ServeError::Affinity {
                    cpu: cpus.ids()[0],
                    source,
                })?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .thread_name("tokio-tower-worker")
            .enable_all()
            .build()
            .map_err(|source| ServeError::Runtime {
                runtime: "tokio",
                source,
            })?;
        let bind_error = |source| ServeError::Bind {
            addr: opts.listen,
            source,
        };
        let std_listener = socket::listener(opts.listen).map_err(bind_error)?;
        let result = runtime.block_on(async {
            let listener = TcpListener::from_std(std_listener).map_err(bind_error)?;
            let addr = listener.local_addr().map_err(bind_error)?;
            let gauge = ConnGauge::default();
            let echo = EchoService {
                buf_size: opts.buf_size,
                spin: opts.spin,
            };
            let stack = pb_tower::connection_stack::<TokioRt, _>(opts, &gauge, echo);
            on_ready(addr, opts.threads);
            accept_until_shutdown(&listener, stack, shutdown).await;
            drop(listener);
            drain(&gauge, opts.drain, tokio::time::sleep).await;
            Ok(())
        });
        runtime.shutdown_timeout(opts.drain);
        result
    }
}

async fn accept_until_shutdown(listener: &TcpListener, stack: Stack<TokioRt>, shutdown: &Shutdown) {
    accept::accept_until_shutdown(
        || listener.accept(),
        tokio::time::sleep,
        shutdown,
        |accepted| {
            // A failed accept (descriptor exhaustion, a reset in the queue)
            // costs that connection only; the driver counts what it lost.
            if let Ok((stream, _peer)) = accepted {
                let _ = stream.set_nodelay(true);
                let mut svc = stack.clone();
                tokio::spawn(async move {
                    if let Ok(svc) = svc.ready().await {
                        // Errors end this connection only; the peer sees the close.
                        let _ = svc.call(TokioStream(stream)).await;
                    }
                });
            }
        },
    )
    .await;
}

/// tokio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct TokioStream(pub TcpStream);

impl std::os::fd::AsRawFd for TokioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for TokioStream {
    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        // read_buf fills the spare capacity without zeroing it first.
        let result = self.0.read_buf(&mut buf).await;
        (result, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.0.write_all(&buf).await;
        (result, buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// Marker type: tokio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug, Clone, Copy)]
pub struct TokioRt;

impl Runtime for TokioRt {
    type Stream = TokioStream;

    async fn connect(addr: SocketAddr) -> io::Result<TokioStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }

    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }
}

pb_tower::send_runtime!(TokioRt);

// === impl EchoService ===

/// Echoes one connection: whatever arrives is written back; on the peer's
/// FIN the rest is flushed and the write side shut.
#[derive(Debug, Clone)]
pub struct EchoService {
    buf_size: usize,
    spin: Spin,
}

impl Service<TokioStream> for EchoService {
    type Response = ();
    type Error = io::Error;
    type Future = BoxFuture<()>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, TokioStream(mut stream): TokioStream) -> Self::Future {
        let (buf_size, spin) = (self.buf_size, self.spin);
        Box::pin(async move {
            let mut buf = vec![0u8; buf_size];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                spin.burn();
                stream.write_all(&buf[..n]).await?;
            }
            stream.shutdown().await
        })
    }
}
