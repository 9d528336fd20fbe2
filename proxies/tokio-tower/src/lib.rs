//! The `tokio-tower` core: tokio's multi-thread (work-stealing) runtime with
//! connection handling as a tower [`Service`] stack shared through
//! [`tower::buffer::Buffer`] — the way most tokio proxies are built.
//!
//! Stack, outermost first: `Buffer` (one task owns the stack, connections
//! send it requests over an mpsc channel) -> [`ConnLimitLayer`] (admission
//! via the shared [`ConnGauge`]) -> [`EchoService`].
//!
//! One listener, one accept loop; each connection is a spawned task that
//! asks the buffered stack for a response future and drives it. For
//! `http-forward` the connection service runs the HTTP connection loop and
//! sends every request through a second buffered stack of tower layers
//! (see [`http`]).

pub mod http;

pub use http::{TokioRt, TokioStream};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use pb_shared::core::{CoreInfo, ProxyCore};
use pb_shared::proxy::filter::HeaderRules;
use pb_shared::proxy::pool::SharedPool;
use pb_shared::proxy::route::Router;
use pb_shared::proxy::{Done, Exchange, Forwarder};
use pb_shared::{ConnGauge, Scenario, ServeError, ServeOpts, Shutdown, Spin, serve, socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::buffer::Buffer;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// Requests the `Buffer` queues before callers wait for room.
const BUFFER_CAPACITY: usize = 1024;

/// Boxed response future: what a tower service behind `Buffer` must return
/// (it crosses tasks, so it is `Send + 'static`).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'static>>;

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
        let std_listener = socket::listener(opts.listen).map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
        let result = runtime.block_on(async {
            let listener =
                TcpListener::from_std(std_listener).map_err(|source| ServeError::Bind {
                    addr: opts.listen,
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| ServeError::Bind {
                addr: opts.listen,
                source,
            })?;
            let gauge = ConnGauge::default();
            let stack = connection_stack(opts, &gauge);
            on_ready(addr, opts.threads);
            accept_until_shutdown(&listener, stack, shutdown).await;
            drop(listener);
            serve::drain(&gauge, opts.drain, tokio::time::sleep).await;
            Ok(())
        });
        runtime.shutdown_timeout(opts.drain);
        result
    }
}

/// The connection-level stack every accepted connection goes through.
type Stack = Buffer<TokioStream, BoxFuture<()>>;

/// The request-level stack of the HTTP scenario.
type RequestStack = Buffer<Exchange<TokioStream>, BoxFuture<Done<TokioStream>>>;

/// Builds the connection stack for the scenario: `Buffer` -> connection
/// limit -> echo, or -> HTTP connection loop over the request stack
/// `Buffer` -> auth -> header rules -> routing -> forwarding.
fn connection_stack(opts: &ServeOpts, gauge: &ConnGauge) -> Stack {
    let outer = ServiceBuilder::new()
        .layer(tower::buffer::BufferLayer::new(BUFFER_CAPACITY))
        .layer(ConnLimitLayer::new(gauge.clone(), opts.max_conns));
    match (opts.scenario, &opts.http) {
        (Scenario::HttpForward, Some(config)) => {
            let forwarder = Forwarder::new(config, SharedPool::default(), 0);
            let requests: RequestStack = ServiceBuilder::new()
                .layer(tower::buffer::BufferLayer::new(BUFFER_CAPACITY))
                .layer(http::AuthLayer::new(config.auth.clone()))
                .layer(http::RewriteLayer::new(HeaderRules::new(&config.headers)))
                .layer(http::RouteLayer::new(Router::new(config)))
                .service(http::ForwardService::new(forwarder));
            outer.service(http::HttpConnService::new(requests, config))
        }
        _ => outer.service(EchoService {
            buf_size: opts.buf_size,
            spin: opts.spin,
        }),
    }
}

async fn accept_until_shutdown(listener: &TcpListener, stack: Stack, shutdown: &Shutdown) {
    serve::accept_until_shutdown(
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

// === impl ConnLimitLayer ===

/// Tower layer over the shared [`ConnGauge`]: admits a connection only
/// under the limit and keeps it counted until its future completes.
#[derive(Debug, Clone)]
pub struct ConnLimitLayer {
    gauge: ConnGauge,
    limit: usize,
}

impl ConnLimitLayer {
    /// Admits at most `limit` concurrent connections.
    pub fn new(gauge: ConnGauge, limit: usize) -> Self {
        ConnLimitLayer { gauge, limit }
    }
}

impl<S> Layer<S> for ConnLimitLayer {
    type Service = ConnLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnLimit {
            inner,
            gauge: self.gauge.clone(),
            limit: self.limit,
        }
    }
}

/// The service [`ConnLimitLayer`] produces.
#[derive(Debug, Clone)]
pub struct ConnLimit<S> {
    inner: S,
    gauge: ConnGauge,
    limit: usize,
}

impl<S, R> Service<R> for ConnLimit<S>
where
    S: Service<R, Error = io::Error>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<S::Response>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.gauge.try_enter(self.limit) {
            Ok(guard) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let out = fut.await;
                    drop(guard);
                    out
                })
            }
            Err(refused) => Box::pin(std::future::ready(Err(refused.into()))),
        }
    }
}
