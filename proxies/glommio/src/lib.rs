//! The `glommio` core: one glommio `LocalExecutor` per thread, pinned to its
//! CPU by glommio's own placement, each with its own `SO_REUSEPORT`
//! listener; connection handling as a borrowing service stack.
//!
//! `service-async` is runtime-free, so the stack is the monoio core's stack
//! with glommio's stream type: [`ConnLimit`](pb_shared::ConnLimit) ->
//! [`EchoService`], composed by `FactoryStack`, shared per thread by `Rc`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use pb_shared::core::{CoreInfo, ProxyCore, Requirement};
use pb_shared::serve::{self, ThreadSlot};
use pb_shared::{
    ConnGauge, ConnLimitFactory, ConnLimitParams, Scenario, ServeError, ServeOpts, Shutdown, Spin,
};
use service_async::stack::FactoryStack;
use service_async::{MakeService, Param, Service};

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
    scenarios: &[Scenario::Echo],
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
        let config = StackConfig {
            buf_size: opts.buf_size,
            spin: opts.spin,
            conn: ConnLimitParams {
                gauge: ConnGauge::default(),
                limit: opts.max_conns,
            },
            drain: opts.drain,
        };
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
    let echo = EchoFactory {
        buf_size: config.buf_size,
        spin: config.spin,
    };
    let stack = FactoryStack::new(config)
        .replace(echo)
        .push(ConnLimitFactory::layer())
        .check_make_svc::<TcpStream>();
    let svc = match stack.make() {
        Ok(svc) => Rc::new(svc),
        Err(never) => match never {},
    };
    slot.ready();
    serve::accept_until_shutdown(
        || listener.accept(),
        glommio::timer::sleep,
        shutdown,
        |accepted| {
            if let Ok(stream) = accepted {
                let svc = Rc::clone(&svc);
                glommio::spawn_local(async move {
                    // Errors end this connection only; the peer sees the close.
                    let _ = svc.call(stream).await;
                })
                .detach();
            }
        },
    )
    .await;
    drop(listener);
    serve::drain(&gauge, drain, glommio::timer::sleep).await;
    Ok(())
}

/// Configuration every stage of the stack reads what it needs from.
#[derive(Debug, Clone)]
struct StackConfig {
    buf_size: usize,
    spin: Spin,
    conn: ConnLimitParams,
    drain: std::time::Duration,
}

impl Param<ConnLimitParams> for StackConfig {
    fn param(&self) -> ConnLimitParams {
        self.conn.clone()
    }
}

// === impl EchoService ===

/// Echoes one connection through glommio's `AsyncRead`/`AsyncWrite`.
#[derive(Debug)]
pub struct EchoService {
    buf_size: usize,
    spin: Spin,
}

impl Service<TcpStream> for EchoService {
    type Response = ();
    type Error = io::Error;

    async fn call(&self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true).map_err(io::Error::from)?;
        let mut buf = vec![0u8; self.buf_size];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            self.spin.burn();
            stream.write_all(&buf[..n]).await?;
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }
}

/// Makes [`EchoService`]s with the stack's buffer size.
#[derive(Debug)]
struct EchoFactory {
    buf_size: usize,
    spin: Spin,
}

impl MakeService for EchoFactory {
    type Service = EchoService;
    type Error = Infallible;

    fn make_via_ref(&self, _old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(EchoService {
            buf_size: self.buf_size,
            spin: self.spin,
        })
    }
}
