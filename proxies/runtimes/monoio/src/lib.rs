//! The monoio runtime adapter, and the cores built on it: one monoio
//! runtime per thread, each pinned to its CPU with its own `SO_REUSEPORT`
//! listener (thread-per-core, nothing shared between threads but the
//! port), with the borrowing composition (`pb-borrow`).
//!
//! What is here is only what is monoio's: the stream and connect/timer the
//! engine runs on ([`MonoioStream`], [`MonoioRt`]), how to build a runtime
//! and accept and spawn on it ([`ThreadPerCore`]), and the echo service
//! written with monoio's owned-buffer I/O. The lifecycle is the engine's
//! [`serve_thread_per_core`].
//!
//! Two registry entries: [`Monoio::IO_URING`] (the default, io_uring) and
//! [`Monoio::EPOLL`] (monoio's legacy driver, a named variant that isolates
//! the driver and that valgrind can run).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use pb_borrow::{EchoParams, StackConfig, echo_stack, http_stack};
use pb_core::core::{CoreInfo, ProxyCore, Requirement};
use pb_core::{Scenario, ServeError, ServeOpts};
use pb_engine::lifecycle::{ThreadPerCore, ThreadSlot, serve_thread_per_core};
use pb_engine::{Runtime, Stream};
use pb_sys::Shutdown;
use service_async::Service;

/// Which monoio driver a registry entry uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    IoUring,
    Epoll,
}

/// A monoio registry entry.
#[derive(Debug, Clone, Copy)]
pub struct Monoio {
    driver: Driver,
}

static INFO_IO_URING: CoreInfo = CoreInfo {
    name: "monoio",
    runtime: "monoio 0.2 thread-per-core, io_uring driver",
    service: "service-async borrowing Service, FactoryStack",
    requirements: &[Requirement::IoUring],
    scenarios: &[Scenario::Echo, Scenario::HttpForward],
};

static INFO_EPOLL: CoreInfo = CoreInfo {
    name: "monoio-epoll",
    runtime: "monoio 0.2 thread-per-core, legacy epoll driver",
    service: "service-async borrowing Service, FactoryStack",
    requirements: &[],
    scenarios: &[Scenario::Echo, Scenario::HttpForward],
};

impl Monoio {
    /// monoio on io_uring: the configuration monoio is known for.
    pub const IO_URING: Monoio = Monoio {
        driver: Driver::IoUring,
    };
    /// monoio on its legacy epoll driver.
    pub const EPOLL: Monoio = Monoio {
        driver: Driver::Epoll,
    };
}

impl ProxyCore for Monoio {
    fn info(&self) -> &'static CoreInfo {
        match self.driver {
            Driver::IoUring => &INFO_IO_URING,
            Driver::Epoll => &INFO_EPOLL,
        }
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = StackConfig::new(opts);
        let gauge = config.conn.gauge.clone();
        match config.scenario {
            Scenario::Echo => {
                serve_thread_per_core(*self, opts, &gauge, shutdown, on_ready, move |_| {
                    let svc = Rc::new(echo_stack::<MonoioStream, EchoService>(config.clone()));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
            Scenario::HttpForward => {
                serve_thread_per_core(*self, opts, &gauge, shutdown, on_ready, move |thread| {
                    let svc = Rc::new(http_stack::<MonoioRt, _>(config.clone(), thread as u64));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
        }
    }
}

/// Serves one connection with the thread's stack (shared by `Rc`: the
/// stack never leaves the thread). Errors end this connection only; the
/// peer sees the close.
async fn call<S: Service<MonoioStream>>(svc: Rc<S>, stream: MonoioStream) {
    let _ = svc.call(stream).await;
}

impl ThreadPerCore for Monoio {
    type Rt = MonoioRt;
    type Listener = TcpListener;

    fn name(&self) -> &'static str {
        self.info().name
    }

    fn block_on<F: Future>(&self, _slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError> {
        match self.driver {
            Driver::IoUring => RuntimeBuilder::<IoUringDriver>::new()
                .enable_timer()
                .build()
                .map(|mut rt| rt.block_on(fut))
                // No io_uring here (seccomp, sysctl, old kernel): the core
                // cannot run at all, which the runner reports as
                // "unavailable".
                .map_err(|source| ServeError::Unavailable {
                    reason: format!("monoio io_uring driver: {source}"),
                }),
            Driver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
                .enable_timer()
                .build()
                .map(|mut rt| rt.block_on(fut))
                .map_err(|source| ServeError::Runtime {
                    runtime: "monoio",
                    source,
                }),
        }
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        // The legacy driver polls for readiness, so the socket must not
        // block; io_uring does not mind either way.
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    async fn accept(listener: &TcpListener) -> io::Result<MonoioStream> {
        let (stream, _peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(MonoioStream(stream))
    }

    fn spawn(task: impl Future<Output = ()> + 'static) {
        monoio::spawn(task);
    }
}

// === impl MonoioRt ===

/// monoio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct MonoioStream(pub TcpStream);

impl std::os::fd::AsRawFd for MonoioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for MonoioStream {
    async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (len, cap) = (buf.len(), buf.capacity());
        // Read into the spare capacity: the kernel fills it in place.
        let (result, slice) = self.0.read(buf.slice_mut(len..cap)).await;
        (result, slice.into_inner())
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (result, buf) = self.0.write_all(buf).await;
        (result.map(|_| ()), buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// Marker type: monoio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug, Clone, Copy)]
pub struct MonoioRt;

impl Runtime for MonoioRt {
    type Stream = MonoioStream;

    async fn connect(addr: SocketAddr) -> io::Result<MonoioStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(MonoioStream(stream))
    }

    async fn sleep(d: std::time::Duration) {
        monoio::time::sleep(d).await
    }
}

// === impl EchoService ===

/// Echoes one connection with monoio's owned-buffer I/O: the buffer moves
/// into each read and write and comes back with the result.
#[derive(Debug)]
pub struct EchoService {
    params: EchoParams,
}

impl From<EchoParams> for EchoService {
    fn from(params: EchoParams) -> EchoService {
        EchoService { params }
    }
}

impl Service<MonoioStream> for EchoService {
    type Response = ();
    type Error = io::Error;

    async fn call(&self, MonoioStream(mut stream): MonoioStream) -> io::Result<()> {
        let mut buf = Vec::with_capacity(self.params.buf_size);
        loop {
            let (read, b) = stream.read(buf).await;
            buf = b;
            if read? == 0 {
                break;
            }
            self.params.spin.burn();
            let (written, b) = stream.write_all(buf).await;
            buf = b;
            written?;
        }
        stream.shutdown().await
    }
}
