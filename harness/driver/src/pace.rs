//! Sub-millisecond timing for open-loop sends.
//!
//! tokio's timer works in whole milliseconds, so every connection whose
//! slot falls inside the same millisecond would be woken together: at
//! 50k req/s over 50 connections, bursts of 50 requests a thousand times a
//! second. The target then queues work the schedule never asked for, and
//! its latency includes the driver's burstiness. Here one timerfd per
//! driver thread (a high-resolution kernel timer, with the thread's timer
//! slack cut to 1 µs) wakes the connections close to their own slots
//! instead: slots are grouped into steps of [`RESOLUTION`], one wake-up
//! per step, because every wake-up of an idle thread costs the driver a
//! few microseconds of CPU (on a VM, more: reprogramming the timer exits
//! to the hypervisor) and the driver must stay cheaper than the target.
//! A send up to one step late is measured from when it went out (see
//! `LoadSpec::late_after`), so the grouping never charges the target.
//!
//! [`Pacer::run_epoll`] or [`Pacer::run_uring`] (one per driver backend:
//! the timer's expiry read through tokio's reactor or through io_uring)
//! owns the timer; connections wait with [`Pacer::sleep_until`]. A wait that is re-armed for a new instant simply
//! registers again: a stale entry costs one spurious wake-up, which the
//! waiting future absorbs by checking the clock.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Wake-up granularity: every slot falling in the same step of this
/// length (counted from the pacer's creation) is served by one wake-up at
/// the step's end. At 50k req/s that is about 5 sends per wake-up instead
/// of 50 per millisecond with tokio's timer.
pub const RESOLUTION: Duration = Duration::from_micros(100);

/// Timer slack for driver threads: how late the kernel may fire a timer
/// to batch wake-ups (50 µs by default).
const TIMER_SLACK_NS: u64 = 1_000;

/// The pacer's timerfd as tokio's reactor wants it (`AsRawFd`), borrowed
/// for as long as [`Pacer::run_epoll`] runs.
#[derive(Debug)]
struct Timer<'a>(&'a TimerFd);

impl AsRawFd for Timer<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One waiting connection.
struct Entry {
    at: Instant,
    /// Tie-breaker so the heap never compares wakers.
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A driver thread's high-resolution timer. Lives on one thread (the
/// driver runtimes are current-thread), hence `RefCell`s.
pub struct Pacer {
    timer: TimerFd,
    waiting: RefCell<BinaryHeap<Reverse<Entry>>>,
    /// The instant the timerfd is set to fire at, if it is set.
    armed: Cell<Option<Instant>>,
    seq: Cell<u64>,
    /// Set by [`Pacer::stop`]: the run loop returns at its next expiry.
    stopped: Cell<bool>,
    /// Where the steps of [`RESOLUTION`] are counted from.
    epoch: Instant,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("waiting", &self.waiting.borrow().len())
            .field("armed", &self.armed.get())
            .finish()
    }
}

impl Pacer {
    /// A pacer for the calling thread, whose timer expiries are read
    /// without blocking (through tokio's reactor, [`Pacer::run_epoll`]).
    /// Also cuts the thread's timer slack.
    pub fn new() -> io::Result<Pacer> {
        Pacer::with_flags(TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
    }

    /// A pacer whose timer expiries are read through io_uring
    /// ([`Pacer::run_uring`]): its timerfd blocks, so a read waits in the
    /// kernel for the expiry (a non-blocking one would complete at once
    /// with EAGAIN).
    pub fn for_uring() -> io::Result<Pacer> {
        Pacer::with_flags(TimerFlags::TFD_CLOEXEC)
    }

    fn with_flags(flags: TimerFlags) -> io::Result<Pacer> {
        // Best effort: without it timers fire up to 50 µs late, which is
        // still far finer than a millisecond.
        let _ = nix::sys::prctl::set_timerslack(TIMER_SLACK_NS);
        Ok(Pacer {
            timer: TimerFd::new(ClockId::CLOCK_MONOTONIC, flags)?,
            waiting: RefCell::new(BinaryHeap::new()),
            armed: Cell::new(None),
            seq: Cell::new(0),
            stopped: Cell::new(false),
            epoch: Instant::now(),
        })
    }

    /// Completes at `at` (at once if it has passed).
    pub fn sleep_until(&self, at: Instant) -> Sleep<'_> {
        Sleep {
            pacer: self,
            at,
            registered: false,
        }
    }

    /// Wakes waiting connections when their instants come, reading the
    /// timer's expiries through tokio's reactor (the epoll backend); must
    /// run inside the tokio runtime the connections run in. Returns after
    /// [`Pacer::stop`], or may be dropped.
    pub async fn run_epoll(&self) -> io::Result<()> {
        // SAFETY: the registration borrows the timerfd, which `self` owns
        // and never replaces, and it ends (the `AsyncFd` is dropped) before
        // this borrow of `self` does, so the descriptor stays open and the
        // same for the registration's whole life.
        #[allow(unsafe_code)]
        let timer =
            unsafe { AsyncFd::register_with_interest(Timer(&self.timer), Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
        loop {
            let mut ready = timer.readable().await?;
            // Consume the expiration count; EAGAIN means the readiness was
            // stale (tokio clears it and we wait again).
            match ready.try_io(|fd| {
                let mut count = [0u8; 8];
                nix::unistd::read(fd.get_ref().0, &mut count).map_err(io::Error::from)
            }) {
                Ok(Ok(_)) => ready.clear_ready(),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
            if self.expired()? {
                return Ok(());
            }
        }
    }

    /// As [`Pacer::run_epoll`], reading the expiries through io_uring
    /// (the io_uring backend, in a monoio runtime): one read waits in the
    /// kernel until the timer fires. The pacer must come from
    /// [`Pacer::for_uring`]. A kernel whose timerfd takes non-blocking
    /// reads arms a poll for it (6.18 here: `uring_poll_arms` rises, no
    /// io-wq punt); one that does not hands each read to an io-wq worker
    /// thread, whose CPU the driver's thread accounting would miss — the
    /// driver's counters then show it as `uring_async_punts`.
    pub async fn run_uring(&self) -> io::Result<()> {
        let timer = monoio::fs::File::from_std(std::fs::File::from(
            self.timer.as_fd().try_clone_to_owned()?,
        ))?;
        let mut count = Vec::with_capacity(8);
        loop {
            let (read, buf) = timer.read_at(count, 0).await;
            count = buf;
            read?;
            if self.expired()? {
                return Ok(());
            }
        }
    }

    /// Stops the run loop: it returns at the next expiry, which is made
    /// to come now. A runtime then shuts down with no read of the timer
    /// left in the kernel.
    pub fn stop(&self) -> io::Result<()> {
        self.stopped.set(true);
        self.arm(Instant::now(), Instant::now())
    }

    /// The timer fired: wakes what is due, says whether to stop.
    fn expired(&self) -> io::Result<bool> {
        self.armed.set(None);
        if self.stopped.get() {
            return Ok(true);
        }
        self.wake_due(Instant::now())?;
        Ok(false)
    }

    /// Wakes everything due by `now` and sets the timer for what is next.
    fn wake_due(&self, now: Instant) -> io::Result<()> {
        let mut waiting = self.waiting.borrow_mut();
        while let Some(Reverse(first)) = waiting.peek() {
            if first.at > now {
                let next = self.step_end(first.at);
                drop(waiting);
                return self.arm(next, now);
            }
            let Reverse(entry) = waiting.pop().expect("peeked");
            entry.waker.wake();
        }
        Ok(())
    }

    /// The end of the step `at` falls in: when it is woken.
    fn step_end(&self, at: Instant) -> Instant {
        let step = RESOLUTION.as_nanos();
        let into = at.saturating_duration_since(self.epoch).as_nanos();
        let end = into.div_ceil(step) * step;
        self.epoch + Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX))
    }

    fn register(&self, at: Instant, waker: &Waker) -> io::Result<()> {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        self.waiting.borrow_mut().push(Reverse(Entry {
            at,
            seq,
            waker: waker.clone(),
        }));
        let wake = self.step_end(at);
        match self.armed.get() {
            Some(armed) if armed <= wake => Ok(()),
            _ => self.arm(wake, Instant::now()),
        }
    }

    fn arm(&self, at: Instant, now: Instant) -> io::Result<()> {
        // A zero relative expiration would disarm the timer: fire in 1 ns
        // instead when the instant has already come.
        let after = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        self.timer.set(
            Expiration::OneShot(TimeSpec::from_duration(after)),
            TimerSetTimeFlags::empty(),
        )?;
        self.armed.set(Some(at));
        Ok(())
    }
}

/// A wait for one instant; see [`Pacer::sleep_until`].
#[derive(Debug)]
pub struct Sleep<'a> {
    pacer: &'a Pacer,
    at: Instant,
    registered: bool,
}

impl Sleep<'_> {
    /// Waits for `at` instead.
    pub fn reset(&mut self, at: Instant) {
        self.at = at;
        self.registered = false;
    }

    /// Waits for `at`, registering again only if it is a new instant.
    pub fn follow(&mut self, at: Instant) {
        if at != self.at {
            self.reset(at);
        }
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            // The driver's runtime polls one task per connection, so the
            // waker of the first poll stays the right one until reset.
            if self.pacer.register(self.at, cx.waker()).is_err() {
                // The timer could not be set (timerfd_settime fails only
                // on arguments this code never passes): ask to be polled
                // again, which busy-waits until the instant rather than
                // sleeping past it.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.registered = true;
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn every_sleep_ends_and_none_early() {
        runtime().block_on(async {
            let pacer = Pacer::new().unwrap();
            let start = Instant::now();
            let ended = Cell::new(0);
            let waits = [700u64, 100, 400, 250].map(|us| {
                let at = start + Duration::from_micros(us);
                let (pacer, ended) = (&pacer, &ended);
                async move {
                    pacer.sleep_until(at).await;
                    assert!(Instant::now() >= at, "woke before its instant");
                    ended.set(ended.get() + 1);
                }
            });
            let [a, b, c, d] = waits;
            tokio::select! {
                _ = async { tokio::join!(a, b, c, d) } => {}
                r = pacer.run_epoll() => panic!("pacer stopped: {r:?}"),
                () = tokio::time::sleep(Duration::from_secs(5)) => panic!("sleeps never ended"),
            }
            assert_eq!(ended.get(), 4);
        });
    }

    /// A waker that notes its id when woken.
    struct Note(u32, std::sync::Arc<std::sync::Mutex<Vec<u32>>>);

    impl std::task::Wake for Note {
        fn wake(self: std::sync::Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn a_step_wakes_what_fell_due_in_it_in_order_and_arms_the_next() {
        runtime().block_on(async {
            let pacer = Pacer::new().unwrap();
            let woken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let waker = |id| Waker::from(std::sync::Arc::new(Note(id, woken.clone())));
            let at = |us| pacer.epoch + Duration::from_micros(us);
            pacer.register(at(150), &waker(1)).unwrap();
            pacer.register(at(120), &waker(2)).unwrap();
            pacer.register(at(480), &waker(3)).unwrap();
            // One wake-up for the step 100..200 µs, at its end.
            assert_eq!(pacer.armed.get(), Some(at(200)));
            pacer.wake_due(at(200)).unwrap();
            assert_eq!(*woken.lock().unwrap(), [2, 1]);
            assert_eq!(pacer.armed.get(), Some(at(500)));
            pacer.wake_due(at(500)).unwrap();
            assert_eq!(*woken.lock().unwrap(), [2, 1, 3]);
            assert!(pacer.waiting.borrow().is_empty());
        });
    }

    #[test]
    fn a_reset_sleep_waits_for_the_new_instant() {
        runtime().block_on(async {
            let pacer = Pacer::new().unwrap();
            let start = Instant::now();
            let mut sleep = std::pin::pin!(pacer.sleep_until(start + Duration::from_secs(30)));
            // Registered for 30 s, then moved to 300 µs: must end soon.
            let pending =
                std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_pending())).await;
            assert!(pending);
            sleep
                .as_mut()
                .get_mut()
                .reset(start + Duration::from_micros(300));
            tokio::select! {
                () = sleep => {}
                r = pacer.run_epoll() => panic!("pacer stopped: {r:?}"),
                () = tokio::time::sleep(Duration::from_secs(5)) => panic!("reset ignored"),
            }
            assert!(Instant::now() >= start + Duration::from_micros(300));
        });
    }
}
