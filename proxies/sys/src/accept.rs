//! The accept loop every core (and the origin) runs, written once over
//! whatever runtime supplies `accept` and `sleep`.
//!
//! The pending accept is kept across timer ticks instead of being raced and
//! dropped: dropping an in-flight io_uring accept can lose a connection the
//! kernel already accepted. And it is polled again only when it woke the
//! task itself, not at every tick ([`Branch`]).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::shutdown::{POLL_INTERVAL, Shutdown};

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
    let (accept_branch, tick_branch) = (Branch::new(), Branch::new());
    loop {
        let event = poll_fn(|cx| {
            if let Some(fut) = pending.as_mut().as_pin_mut()
                && let Poll::Ready(r) = accept_branch.poll(fut, cx)
            {
                return Poll::Ready(Event::Accepted(r));
            }
            if tick_branch.poll(tick.as_mut(), cx).is_ready() {
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
                accept_branch.rearm();
            }
            Event::Tick => {
                if shutdown.requested() {
                    return;
                }
                if pending.is_none() {
                    pending.set(Some(accept()));
                    accept_branch.rearm();
                }
                tick.set(sleep(POLL_INTERVAL));
                tick_branch.rearm();
            }
        }
    }
}

/// One of the futures the loop races, polled only when it asked to be:
/// its waker remembers that it fired, then wakes the task. Polling a
/// pending future whenever the task wakes for something else is allowed,
/// but a runtime may keep every waker it is polled with: glommio 0.9
/// appends one to the I/O source per poll and counts them in the task's
/// 16-bit reference count, so an idle listener's accept, polled at every
/// 25 ms tick, panicked the serving thread after 32 767 ticks (13.6
/// minutes without a connection; found by the soak). Polled only on its
/// own wake-ups, a pending accept is polled once per connection.
struct Branch {
    state: Arc<BranchState>,
    waker: Waker,
}

struct BranchState {
    /// Poll at the next chance: the future woke, or is new.
    woken: AtomicBool,
    /// The task to wake, as of the latest poll.
    task: Mutex<Option<Waker>>,
}

impl Wake for BranchState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Ok(task) = self.task.lock()
            && let Some(task) = task.as_ref()
        {
            task.wake_by_ref();
        }
    }
}

impl Branch {
    fn new() -> Branch {
        let state = Arc::new(BranchState {
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Branch {
            waker: Waker::from(Arc::clone(&state)),
            state,
        }
    }

    /// A new future took the branch's place: poll it at the next chance.
    fn rearm(&self) {
        self.state.woken.store(true, Ordering::Release);
    }

    /// Polls `fut` if it woke (or is new) since its last poll, with the
    /// branch's own waker; otherwise it is still pending.
    fn poll<F: Future>(&self, fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Ok(mut task) = self.state.task.lock()
            && !task.as_ref().is_some_and(|t| t.will_wake(cx.waker()))
        {
            *task = Some(cx.waker().clone());
        }
        if !self.state.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        fut.poll(&mut Context::from_waker(&self.waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Runs `fut` to completion on this thread.
    fn block_on<F: Future>(fut: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    /// An accept that never completes, counting how often it is polled.
    struct Idle<'a>(&'a Cell<u32>);

    impl Future for Idle<'_> {
        type Output = Result<(), ()>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            self.0.set(self.0.get() + 1);
            Poll::Pending
        }
    }

    #[test]
    fn an_idle_accept_is_polled_once_however_many_ticks_pass() {
        let polls = Cell::new(0);
        let ticks = Cell::new(0);
        let shutdown = Shutdown::manual();
        block_on(accept_until_shutdown(
            || Idle(&polls),
            |_| {
                // Every tick is over at once; the thousandth asks to stop.
                ticks.set(ticks.get() + 1);
                if ticks.get() == 1000 {
                    shutdown.trigger();
                }
                std::future::ready(())
            },
            &shutdown,
            |_: Result<(), ()>| unreachable!("nothing is accepted"),
        ));
        assert_eq!(ticks.get(), 1000);
        assert_eq!(polls.get(), 1, "the pending accept was polled at ticks");
    }

    /// An accept that completes for the first `ready` calls, then idles.
    struct Some3<'a> {
        made: &'a Cell<u32>,
        ready: u32,
    }

    impl Future for Some3<'_> {
        type Output = Result<u32, ()>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            match self.made.get() <= self.ready {
                true => Poll::Ready(Ok(self.made.get())),
                false => Poll::Pending,
            }
        }
    }

    #[test]
    fn each_ready_accept_is_handed_over_then_the_loop_idles_and_stops() {
        let (made, accepted) = (Cell::new(0), Cell::new(Vec::new()));
        let shutdown = Shutdown::manual();
        block_on(accept_until_shutdown(
            || {
                made.set(made.get() + 1);
                Some3 {
                    made: &made,
                    ready: 3,
                }
            },
            |_| {
                shutdown.trigger();
                std::future::ready(())
            },
            &shutdown,
            |r: Result<u32, ()>| {
                let mut seen = accepted.take();
                seen.push(r.unwrap());
                accepted.set(seen);
            },
        ));
        assert_eq!(accepted.take(), [1, 2, 3]);
    }
}
