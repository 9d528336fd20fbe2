//! The `glommio` core: one glommio `LocalExecutor` per thread, pinned to its
//! CPU by glommio's own placement, each with its own `SO_REUSEPORT`
//! listener; connection handling as a borrowing service stack.
//!
//! `service-async` is runtime-free, so the stack is the monoio core's stack
//! with glommio's stream type: [`ConnLimit`](pb_shared::ConnLimit) ->
//! [`EchoService`], composed by `FactoryStack`, shared per thread by `Rc`.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use pb_shared::borrowing::{EchoFactory, EchoParams, StackConfig};
use pb_shared::core::{CoreInfo, ProxyCore, Requirement};
use pb_shared::proxy::io::{Runtime, Stream};
use pb_shared::proxy::stack::http_stack;
use pb_shared::serve::{self, ThreadSlot};
use pb_shared::{ConnLimitFactory, Scenario, ServeError, ServeOpts, Shutdown};
use service_async::Service;
use service_async::stack::FactoryStack;

/// Memory glommio preallocates and registers with io_uring per executor.
/// glommio's default (10 MiB) is for storage I/O, which no scenario does;
/// this keeps the core inside a typical 8 MiB memlock limit.
pub const IO_MEMORY: usize = 1 << 20;

static INFO: CoreInfo = CoreInfo {
    name: "glommio",
    runtime: "glommio 0.9 LocalExecutor per core, io_uring",
    service: "service-async borrowing Service, FactoryStack",
    requirements: &[
        Requirement::IoUring,
        // The registered I/O memory plus the rings themselves.
        Requirement::LockedMemory(2 * IO_MEMORY as u64),
    ],
    scenarios: &[Scenario::Echo, Scenario::HttpForward],
};

/// The core's registry entry.
#[derive(Debug, Default, Clone, Copy)]
pub struct Glommio;

impl ProxyCore for Glommio {
    fn info(&self) -> &'static CoreInfo {
        &INFO
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = StackConfig::new(opts);
        let shutdown = shutdown.clone();
        serve::thread_per_core(INFO.name, opts, on_ready, move |slot| {
            serve_thread(slot, config.clone(), &shutdown)
        })
    }
}

fn serve_thread(
    slot: ThreadSlot,
    config: StackConfig,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    let placement = match slot.cpu {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    let executor = LocalExecutorBuilder::new(placement)
        .name(&format!("glommio-{}", slot.index))
        .io_memory(IO_MEMORY)
        .make();
    match executor {
        Ok(executor) => executor.run(serve_listener(slot, config, shutdown)),
        Err(e) => {
            // No io_uring or not enough locked memory: the core cannot run
            // here, which the runner reports as "unavailable".
            let error = ServeError::Unavailable {
                reason: format!("glommio executor: {e}"),
            };
            let summary = ServeError::Thread {
                thread: slot.index,
                message: error.to_string(),
            };
            slot.failed(error);
            Err(summary)
        }
    }
}

async fn serve_listener(
    slot: ThreadSlot,
    config: StackConfig,
    shutdown: &Shutdown,
) -> Result<(), ServeError> {
    // glommio's bind sets SO_REUSEPORT and the shared backlog (1024) itself.
    let listener = match TcpListener::bind(slot.addr) {
        Ok(listener) => listener,
        Err(e) => {
            let error = ServeError::Bind {
                addr: slot.addr,
                source: io::Error::from(e),
            };
            let summary = ServeError::Thread {
                thread: slot.index,
                message: error.to_string(),
            };
            slot.failed(error);
            return Err(summary);
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
                .check_make_svc::<GlommioStream>();
            let Ok(svc) = stack.make();
            slot.ready();
            accept_all(&listener, Rc::new(svc), shutdown).await;
        }
        Scenario::HttpForward => {
            let svc = http_stack::<GlommioRt, _>(config, slot.index as u64);
            slot.ready();
            accept_all(&listener, Rc::new(svc), shutdown).await;
        }
    }
    drop(listener);
    serve::drain(&gauge, drain, glommio::timer::sleep).await;
    Ok(())
}

/// Accepts until shutdown, serving each connection on its own task with
/// the thread's stack (shared by `Rc`: the stack never leaves the thread).
async fn accept_all<S>(listener: &TcpListener, svc: Rc<S>, shutdown: &Shutdown)
where
    S: Service<GlommioStream> + 'static,
{
    serve::accept_until_shutdown(
        || listener.accept(),
        glommio::timer::sleep,
        shutdown,
        |accepted| {
            if let Ok(stream) = accepted {
                let _ = stream.set_nodelay(true);
                let svc = Rc::clone(&svc);
                glommio::spawn_local(async move {
                    // Errors end this connection only; the peer sees the close.
                    let _ = svc.call(GlommioStream::new(stream)).await;
                })
                .detach();
            }
        },
    )
    .await;
}

// === impl GlommioRt ===

/// glommio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct GlommioStream {
    /// The socket.
    pub stream: TcpStream,
    /// Where reads land before they are appended to the caller's buffer.
    /// futures' `AsyncRead`, glommio's read interface, wants an
    /// initialised slice, and the caller's spare capacity is not one:
    /// zeroing 16 KiB of it before every read cost glommio a memset per
    /// read that the other cores (reading into spare capacity) do not pay.
    /// This buffer is zeroed once, on the first read; afterwards a read
    /// costs a copy of the bytes that actually arrived.
    scratch: Vec<u8>,
}

impl GlommioStream {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> GlommioStream {
        GlommioStream {
            stream,
            scratch: Vec::new(),
        }
    }
}

impl std::os::fd::AsRawFd for GlommioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }
}

impl Stream for GlommioStream {
    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let want = (buf.capacity() - buf.len()).min(pb_shared::proxy::exchange::READ_CHUNK);
        if self.scratch.len() < want {
            self.scratch.resize(want, 0);
        }
        let result = self.stream.read(&mut self.scratch[..want]).await;
        if let Ok(n) = result {
            buf.extend_from_slice(&self.scratch[..n]);
        }
        (result, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.stream.write_all(&buf).await;
        (result, buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }
}

/// Marker type: glommio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug)]
pub struct GlommioRt;

impl Runtime for GlommioRt {
    type Stream = GlommioStream;

    async fn connect(addr: SocketAddr) -> io::Result<GlommioStream> {
        let stream = TcpStream::connect(addr).await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(GlommioStream::new(stream))
    }

    async fn sleep(d: std::time::Duration) {
        glommio::timer::sleep(d).await;
    }
}

// === impl EchoService ===

/// Echoes one connection through glommio's `AsyncRead`/`AsyncWrite`.
#[derive(Debug)]
pub struct EchoService {
    params: EchoParams,
}

impl From<EchoParams> for EchoService {
    fn from(params: EchoParams) -> EchoService {
        EchoService { params }
    }
}

impl Service<GlommioStream> for EchoService {
    type Response = ();
    type Error = io::Error;

    async fn call(&self, GlommioStream { mut stream, .. }: GlommioStream) -> io::Result<()> {
        let mut buf = vec![0u8; self.params.buf_size];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            self.params.spin.burn();
            stream.write_all(&buf[..n]).await?;
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }
}
