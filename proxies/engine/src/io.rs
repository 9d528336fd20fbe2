//! What the forwarding code needs from a runtime: a stream with
//! owned-buffer reads and writes, `connect`, and a timer. Owned buffers are
//! the common ground: monoio's io_uring I/O needs them, and the poll-based
//! runtimes (tokio, glommio) lose nothing by them.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

/// A connected byte stream. Its descriptor lets the engine check an idle
/// connection and abort one given up on without the runtime
/// ([`Stream::is_quiet`], [`Stream::abort`]); an in-memory stream in a
/// test overrides both.
pub trait Stream: AsRawFd {
    /// The runtime's timer, for a connection's [`Deadline`].
    type Timer: Timer;
    /// Reads into the spare capacity of `buf` (after its length), growing
    /// its length by what was read; 0 means the peer closed its side.
    fn read(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;
    /// Writes all of `buf`.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Shuts the write side (FIN).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;
    /// Whether the peer is silent and has not closed: see
    /// [`pb_sys::socket::is_quiet`].
    fn is_quiet(&self) -> bool {
        pb_sys::socket::is_quiet(self.as_raw_fd())
    }
    /// Shuts both directions now, for a connection given up on: see
    /// [`pb_sys::socket::abort`].
    fn abort(&self) {
        pb_sys::socket::abort(self.as_raw_fd());
    }
}

/// A runtime's connect and timer.
pub trait Runtime {
    /// Its TCP stream.
    type Stream: Stream;
    /// Opens a TCP connection with `TCP_NODELAY` set.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Sleeps.
    fn sleep(d: Duration) -> impl Future<Output = ()>;
}

/// Runs `fut` for at most `limit`; `None` if the time ran out first.
pub async fn timeout<R: Runtime, F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut timer = pin!(R::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// A runtime's timer that can be moved to another instant without being
/// made again (a timer wheel entry re-linked, not freed and allocated).
pub trait Timer: Future<Output = ()> + Unpin + std::fmt::Debug {
    /// A timer that fires at `when`.
    fn at(when: Instant) -> Self;
    /// Moves it to fire at `when`, whether or not it has fired.
    fn reset(&mut self, when: Instant);
}

/// When an operation raced against a [`Deadline`] times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// This long after it first has to wait.
    After(Duration),
    /// At this instant (a deadline shared by several operations).
    At(Instant),
}

/// How far ahead a connection's timer is set at most. Each operation's
/// own limit still holds exactly: a timer that fires before the running
/// operation's due time is moved on, not taken as a timeout.
const REARM_AT_MOST: Duration = Duration::from_secs(1);

/// One timer per connection, re-armed lazily (nginx's pattern) instead of
/// a timer made and cancelled around every read and write.
///
/// Every operation with a limit is raced against the same timer. The
/// timer is set at most [`REARM_AT_MOST`] ahead (or the operation's own
/// limit, if shorter), so when the next operation comes, the timer almost
/// always fires no later than that operation is due and is left alone: a
/// busy kept-alive connection moves its timer about once a second, not
/// several times per request. When the timer fires before the running
/// operation is due, it is moved on; when it fires after, the operation
/// has timed out. Created on the first operation that has to wait, so a
/// connection that never waits has no timer at all.
#[derive(Debug)]
pub struct Deadline<T> {
    timer: Option<T>,
    /// When the timer fires.
    armed: Instant,
}

impl<T> Default for Deadline<T> {
    fn default() -> Self {
        Deadline {
            timer: None,
            armed: Instant::now(),
        }
    }
}

impl<T: Timer> Deadline<T> {
    /// Runs `fut` until it is done or `limit` has passed (`None`).
    pub async fn race<F: Future>(&mut self, limit: Duration, fut: F) -> Option<F::Output> {
        self.race_until(Due::After(limit), fut).await
    }

    /// Runs `fut` until it is done or `due` (`None`).
    pub async fn race_until<F: Future>(&mut self, due: Due, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        // An operation that is ready at once needs no clock and no timer.
        let (mut at, limit) = match due {
            Due::After(limit) => (None, limit),
            Due::At(at) => (Some(at), Duration::ZERO),
        };
        poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            let now = Instant::now();
            let due = *at.get_or_insert(now + limit);
            loop {
                let timer = match &mut self.timer {
                    Some(timer) => {
                        // Set for later than this operation is due: only
                        // a shorter limit than the last one does this.
                        if self.armed > due {
                            self.armed = due;
                            timer.reset(due);
                        }
                        timer
                    }
                    None => {
                        self.armed = due.min(now + REARM_AT_MOST);
                        self.timer.insert(T::at(self.armed))
                    }
                };
                if Pin::new(&mut *timer).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let now = Instant::now();
                if now >= due {
                    return Poll::Ready(None);
                }
                // Fired early, for an earlier operation: moved on, and
                // polled again so it wakes this task.
                self.armed = due.min(now + REARM_AT_MOST);
                timer.reset(self.armed);
            }
        })
        .await
    }
}
