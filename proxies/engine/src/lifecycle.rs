//! How a core lives: the accept loop until shutdown, the drain, and — for
//! thread-per-core runtimes — one pinned thread per CPU, each with its own
//! runtime and `SO_REUSEPORT` listener.
//!
//! [`serve_thread_per_core`] is the whole lifecycle of such a core, written
//! once: a runtime adapter ([`ThreadPerCore`]) says how to build its
//! runtime, take over a listening socket, accept, spawn and sleep; a
//! service composition says what serves each connection. Binding, the
//! readiness hand-shake, stopping the listener and draining are therefore
//! the same on every thread-per-core core and cannot drift between them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use pb_core::{CoreInfo, ProxyCore, ServeError, ServeOpts};
use pb_sys::shutdown::POLL_INTERVAL;
use pb_sys::{Shutdown, accept, socket};

use crate::conn::ConnGauge;
use crate::io::Runtime;

/// Waits until no connection is active or `limit` has passed; returns how
/// many were still open (0 after a clean drain).
pub async fn drain<S, SF>(gauge: &ConnGauge, limit: Duration, mut sleep: S) -> usize
where
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let deadline = Instant::now() + limit;
    while gauge.active() > 0 && Instant::now() < deadline {
        sleep(POLL_INTERVAL).await;
    }
    gauge.active()
}

/// A thread-per-core runtime, as [`serve_thread_per_core`] drives it.
/// A value, not only a type, because one runtime can come in variants
/// (monoio's io_uring and epoll drivers).
pub trait ThreadPerCore: Copy + Send + Sync + 'static {
    /// Connect, timer and stream for the engine.
    type Rt: Runtime;
    /// The runtime's listener.
    type Listener;

    /// Name for thread names and errors (`monoio`).
    fn name(&self) -> &'static str;

    /// Builds this thread's runtime and runs `fut` on it to completion.
    /// A runtime this machine cannot build is [`ServeError::Unavailable`]
    /// when that means the core cannot run here at all (no io_uring).
    fn block_on<F: Future>(&self, slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError>;

    /// Takes over a bound, listening, blocking socket (from
    /// [`socket::reuseport_listener`]); called on the runtime's thread.
    fn listen(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Accepts one connection, with `TCP_NODELAY` set.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<<Self::Rt as Runtime>::Stream>>;

    /// Runs `task` on the current thread's runtime, detached.
    fn spawn(task: impl Future<Output = ()> + 'static);
}

/// A service composition as a thread-per-core core uses it: how it serves
/// `opts` on runtime `T`, which is [`serve_thread_per_core`] with the
/// composition's per-thread connection handler.
pub trait Composition<T: ThreadPerCore>: Copy + Send + Sync + 'static {
    /// Serves until `shutdown`; see [`ProxyCore::serve`].
    fn serve(
        self,
        runtime: T,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError>;
}

/// A core made of a thread-per-core runtime and a composition: what every
/// grid cell of such a runtime is, as a registry entry.
pub struct TpcCore<T, C> {
    runtime: T,
    composition: C,
    info: &'static CoreInfo,
}

impl<T, C> TpcCore<T, C> {
    /// The core `info` describes: `composition` on `runtime`.
    pub const fn new(runtime: T, composition: C, info: &'static CoreInfo) -> Self {
        TpcCore {
            runtime,
            composition,
            info,
        }
    }
}

impl<T, C> std::fmt::Debug for TpcCore<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpcCore")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl<T: ThreadPerCore, C: Composition<T>> ProxyCore for TpcCore<T, C> {
    fn info(&self) -> &'static CoreInfo {
        self.info
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        self.composition
            .serve(self.runtime, opts, shutdown, on_ready)
    }
}

/// Serves `opts` on one thread per CPU with runtime `rt` until `shutdown`.
///
/// On each thread: build the runtime, bind the thread's listener, make the
/// thread's connection handler with `make(thread_index)`, report ready,
/// accept (one spawned task per connection, `handle(stream)`), and on
/// shutdown stop the listener at once ([`socket::stop_listening`]), then
/// let open connections — counted by `gauge`, which the handler's
/// connection limit shares — finish for at most `opts.drain`.
pub fn serve_thread_per_core<T, M, H, F>(
    rt: T,
    opts: &ServeOpts,
    gauge: &ConnGauge,
    shutdown: &Shutdown,
    on_ready: &mut dyn FnMut(SocketAddr, usize),
    make: M,
) -> Result<(), ServeError>
where
    T: ThreadPerCore,
    M: Fn(usize) -> H + Send + Sync + 'static,
    H: Fn(<T::Rt as Runtime>::Stream) -> F,
    F: Future<Output = ()> + 'static,
{
    let (gauge, drain_limit, shutdown) = (gauge.clone(), opts.drain, shutdown.clone());
    thread_per_core(rt.name(), opts, on_ready, move |slot| {
        match rt.block_on(
            &slot,
            serve_one_thread(rt, &slot, &gauge, drain_limit, &shutdown, &make),
        ) {
            Ok(served) => served,
            Err(error) => Err(report_failed(&slot, error)),
        }
    })
}

async fn serve_one_thread<T, M, H, F>(
    rt: T,
    slot: &ThreadSlot,
    gauge: &ConnGauge,
    drain_limit: Duration,
    shutdown: &Shutdown,
    make: &M,
) -> Result<(), ServeError>
where
    T: ThreadPerCore,
    M: Fn(usize) -> H,
    H: Fn(<T::Rt as Runtime>::Stream) -> F,
    F: Future<Output = ()> + 'static,
{
    let bound = socket::reuseport_listener(slot.addr).and_then(|std| {
        // A second descriptor on the same socket: the runtime owns the
        // first, this one stops the socket however the runtime holds it.
        let stopper = std.try_clone()?;
        Ok((rt.listen(std)?, stopper))
    });
    let (listener, stopper) = match bound {
        Ok(bound) => bound,
        Err(source) => {
            let error = ServeError::Bind {
                addr: slot.addr,
                source,
            };
            return Err(report_failed(slot, error));
        }
    };
    let handle = make(slot.index);
    slot.ready();
    accept::accept_until_shutdown(
        || T::accept(&listener),
        T::Rt::sleep,
        shutdown,
        |accepted| {
            // A failed accept (descriptor exhaustion, a reset in the queue)
            // costs that connection only; the driver counts what it lost.
            if let Ok(stream) = accepted {
                T::spawn(handle(stream));
            }
        },
    )
    .await;
    // The abandoned accept still holds the socket; see `stop_listening`.
    let _ = socket::stop_listening(stopper.as_raw_fd());
    drop(listener);
    drain(gauge, drain_limit, T::Rt::sleep).await;
    Ok(())
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

/// What one serving thread of a thread-per-core core is given.
#[derive(Debug)]
pub struct ThreadSlot {
    /// Index of the thread, 0-based.
    pub index: usize,
    /// CPU to pin to, if a CPU set was given.
    pub cpu: Option<usize>,
    /// Address to bind with `SO_REUSEPORT` (port already resolved).
    pub addr: std::net::SocketAddr,
    ready: std::sync::mpsc::Sender<Result<(), ServeError>>,
}

impl ThreadSlot {
    /// Reports that this thread's listener is bound and accepting.
    fn ready(&self) {
        let _ = self.ready.send(Ok(()));
    }

    /// Reports a start-up failure (the thread should return after this).
    fn failed(&self, error: ServeError) {
        let _ = self.ready.send(Err(error));
    }
}

/// Runs `opts.threads` serving threads, each with its own runtime and its
/// own `SO_REUSEPORT` listener on one shared port, and calls `on_ready`
/// once all of them are bound.
///
/// `serve_thread` builds the runtime, binds `slot.addr`, calls
/// [`ThreadSlot::ready`] (or [`ThreadSlot::failed`]) and serves until
/// shutdown. Pinning is done here, before it runs.
fn thread_per_core<F>(
    name: &'static str,
    opts: &ServeOpts,
    on_ready: &mut dyn FnMut(std::net::SocketAddr, usize),
    serve_thread: F,
) -> Result<(), ServeError>
where
    F: Fn(ThreadSlot) -> Result<(), ServeError> + Send + Sync + 'static,
{
    use std::sync::Arc;

    opts.validate()?;
    let reservation = opts.reserve_port()?;
    let addr = reservation.addr();
    let serve_thread = Arc::new(serve_thread);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut handles = Vec::with_capacity(opts.threads);
    for index in 0..opts.threads {
        let slot = ThreadSlot {
            index,
            cpu: opts.cpu_for_thread(index),
            addr,
            ready: tx.clone(),
        };
        let serve_thread = Arc::clone(&serve_thread);
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                if let Some(cpu) = slot.cpu
                    && let Err(source) = pb_sys::cpus::pin_current_thread_to(cpu)
                {
                    slot.failed(ServeError::Affinity { cpu, source });
                    return Ok(());
                }
                serve_thread(slot)
            })
            .map_err(|source| ServeError::Runtime {
                runtime: name,
                source,
            })?;
        handles.push(handle);
    }
    drop(tx);
    let mut startup = Ok(());
    for _ in 0..opts.threads {
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                startup = Err(e);
                break;
            }
            Err(_) => {
                startup = Err(ServeError::Thread {
                    thread: 0,
                    message: "a serving thread exited before it was ready".into(),
                });
                break;
            }
        }
    }
    match &startup {
        Ok(()) => {
            reservation.release();
            on_ready(addr, opts.threads);
        }
        // Threads that did start are waiting for a stop; there is no one
        // else to send it, so the process exits with the start-up error.
        Err(_) => return startup,
    }
    for (index, handle) in handles.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".into());
                return Err(ServeError::Thread {
                    thread: index,
                    message,
                });
            }
        }
    }
    Ok(())
}
