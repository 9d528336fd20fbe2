//! The accept loop every core (and the origin) runs, written once over
//! whatever runtime supplies `accept` and `sleep`.
//!
//! The pending accept is kept across timer ticks instead of being raced and
//! dropped: dropping an in-flight io_uring accept can lose a connection the
//! kernel already accepted.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
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
