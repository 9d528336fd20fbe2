//! The accept loop and drain every core runs, written once over whatever
//! runtime supplies `accept` and `sleep`.
//!
//! The pending accept is kept across timer ticks instead of being raced and
//! dropped: dropping an in-flight io_uring accept can lose a connection the
//! kernel already accepted.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::shutdown::POLL_INTERVAL;
use crate::{ConnGauge, Shutdown};

/// Accepts until `shutdown` is requested, handing each result to `on_accept`.
///
/// `accept` makes the runtime's accept future; `sleep` its timer. After a
/// failed accept (descriptor exhaustion, a reset in the queue) the loop
/// waits one tick before accepting again instead of spinning.
pub async fn accept_until_shutdown<T, E, A, AF, S, SF>(
    mut accept: A,
    mut sleep: S,
    shutdown: &Shutdown,
    mut on_accept: impl FnMut(Result<T, E>),
) where
    A: FnMut() -> AF,
    AF: Future<Output = Result<T, E>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    enum Event<R> {
        Accepted(R),
        Tick,
    }
    let mut pending = pin!(Some(accept()));
    let mut tick = pin!(sleep(POLL_INTERVAL));
    loop {
        let event = poll_fn(|cx| {
            if let Some(fut) = pending.as_mut().as_pin_mut()
                && let Poll::Ready(r) = fut.poll(cx)
            {
                return Poll::Ready(Event::Accepted(r));
            }
            if tick.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Tick);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Accepted(result) => {
                let failed = result.is_err();
                on_accept(result);
                pending.set(if failed { None } else { Some(accept()) });
            }
            Event::Tick => {
                if shutdown.requested() {
                    return;
                }
                if pending.is_none() {
                    pending.set(Some(accept()));
                }
                tick.set(sleep(POLL_INTERVAL));
            }
        }
    }
}

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

/// What one serving thread of a thread-per-core core is given.
#[derive(Debug)]
pub struct ThreadSlot {
    /// Index of the thread, 0-based.
    pub index: usize,
    /// CPU to pin to, if a CPU set was given.
    pub cpu: Option<usize>,
    /// Address to bind with `SO_REUSEPORT` (port already resolved).
    pub addr: std::net::SocketAddr,
    ready: std::sync::mpsc::Sender<Result<(), crate::ServeError>>,
}

impl ThreadSlot {
    /// Reports that this thread's listener is bound and accepting.
    pub fn ready(&self) {
        let _ = self.ready.send(Ok(()));
    }

    /// Reports a start-up failure (the thread should return after this).
    pub fn failed(&self, error: crate::ServeError) {
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
pub fn thread_per_core<F>(
    name: &'static str,
    opts: &crate::ServeOpts,
    on_ready: &mut dyn FnMut(std::net::SocketAddr, usize),
    serve_thread: F,
) -> Result<(), crate::ServeError>
where
    F: Fn(ThreadSlot) -> Result<(), crate::ServeError> + Send + Sync + 'static,
{
    use crate::ServeError;
    use std::sync::Arc;

    opts.validate()?;
    let reservation =
        crate::socket::PortReservation::new(opts.listen).map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
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
                    && let Err(e) = crate::cpus::pin_current_thread_to(cpu)
                {
                    slot.failed(e);
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
