//! The `monoio` core: one monoio runtime per thread, each pinned to its CPU
//! with its own `SO_REUSEPORT` listener (thread-per-core, nothing shared
//! between threads but the port), and connection handling as a
//! `service-async` borrowing service stack built with `FactoryStack`.
//!
//! Stack, outermost first: [`ConnLimit`](pb_shared::ConnLimit) (shared
//! admission logic) -> [`EchoService`]. The stack is built once per thread
//! and shared by every connection on that thread through an `Rc` — no
//! `Arc`, no `Buffer`, no `poll_ready`.
//!
//! Two registry entries: [`Monoio::IO_URING`] (the default, io_uring) and
//! [`Monoio::EPOLL`] (monoio's legacy driver, a named variant that isolates
//! the driver and that valgrind can run).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use pb_shared::borrowing::{EchoFactory, EchoParams, StackConfig};
use pb_shared::core::{CoreInfo, ProxyCore, Requirement};
use pb_shared::proxy::io::{Runtime, Stream};
use pb_shared::proxy::stack::http_stack;
use pb_shared::serve::{self, ThreadSlot};
use pb_shared::socket;
use pb_shared::{BACKLOG, ConnLimitFactory, Scenario, ServeError, ServeOpts, Shutdown};
use service_async::Service;
use service_async::stack::FactoryStack;
use std::os::fd::AsRawFd;

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
        let driver = self.driver;
        let config = StackConfig::new(opts);
        let shutdown = shutdown.clone();
        serve::thread_per_core(self.info().name, opts, on_ready, move |slot| {
            serve_thread(driver, slot, config.clone(), &shutdown)
        })
    }
}

fn serve_thread(
    driver: Driver,
    slot: ThreadSlot,
    config: StackConfig,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    let runtime_error = |source: io::Error| match driver {
        // No io_uring here (seccomp, sysctl, old kernel): the core cannot
        // run at all, which the runner reports as "unavailable".
        Driver::IoUring => ServeError::Unavailable {
            reason: format!("monoio io_uring driver: {source}"),
        },
        Driver::Epoll => ServeError::Runtime {
            runtime: "monoio",
            source,
        },
    };
    match driver {
        Driver::IoUring => match RuntimeBuilder::<IoUringDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => rt.block_on(serve_listener(slot, config, shutdown)),
            Err(e) => Err(report_failed(&slot, runtime_error(e))),
        },
        Driver::Epoll => match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
            Ok(mut rt) => rt.block_on(serve_listener(slot, config, shutdown)),
            Err(e) => Err(report_failed(&slot, runtime_error(e))),
        },
    }
}

/// Hands a start-up failure to the coordinator (which reports it) and
/// returns a short form for the thread's own result.
fn report_failed(slot: &ThreadSlot, error: ServeError) -> ServeError {
    let summary = ServeError::Thread {
        thread: slot.index,
        message: error.to_string(),
    };
    slot.failed(error);
    summary
}

async fn serve_listener(
    slot: ThreadSlot,
    config: StackConfig,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(BACKLOG);
    let listener = match TcpListener::bind_with_config(slot.addr, &opts) {
        Ok(listener) => listener,
        Err(source) => {
            let error = ServeError::Bind {
                addr: slot.addr,
                source,
            };
            return Err(report_failed(&slot, error));
        }
    };
    let gauge = config.conn.gauge.clone();
    let drain = config.drain;
    match config.scenario {
        Scenario::Echo => {
            let echo = EchoFactory::<EchoService>::new(&config);
            let stack = FactoryStack::new(config)
                .replace(echo)
                .push(ConnLimitFactory::layer())
                .check_make_svc::<MonoioStream>();
            let Ok(svc) = stack.make();
            slot.ready();
            accept_all(&listener, Rc::new(svc), shutdown).await;
        }
        Scenario::HttpForward => {
            let svc = http_stack::<MonoioRt, _>(config, slot.index as u64);
            slot.ready();
            accept_all(&listener, Rc::new(svc), shutdown).await;
        }
    }
    // The abandoned accept still holds the socket; see `stop_listening`.
    let _ = socket::stop_listening(listener.as_raw_fd());
    drop(listener);
    serve::drain(&gauge, drain, monoio::time::sleep).await;
    Ok(())
}

/// Accepts until shutdown, serving each connection on its own task with
/// the thread's stack (shared by `Rc`: the stack never leaves the thread).
async fn accept_all<S>(listener: &TcpListener, svc: Rc<S>, shutdown: &Shutdown)
where
    S: Service<MonoioStream> + 'static,
{
    serve::accept_until_shutdown(
        || listener.accept(),
        monoio::time::sleep,
        shutdown,
        |accepted| {
            if let Ok((stream, _peer)) = accepted {
                let _ = stream.set_nodelay(true);
                let svc = Rc::clone(&svc);
                monoio::spawn(async move {
                    // Errors end this connection only; the peer sees the close.
                    let _ = svc.call(MonoioStream(stream)).await;
                });
            }
        },
    )
    .await;
}

// === impl Monoio (runtime) ===

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
#[derive(Debug)]
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
