//! Keeping two runs in step: the paired gate's `--pairing together`
//! starts a baseline run and a candidate run at once, and trial `k` of
//! one is only a fair partner of trial `k` of the other if their windows
//! overlap. Each run's start-up and each trial's set-up take slightly
//! different times, so without a meeting point the two drift apart
//! trial by trial — by the end of a batch, seconds: more than the time
//! scale of the noise the pairing is there to cancel.
//!
//! A [`Rendezvous`] is that meeting point: both runs call
//! [`Rendezvous::meet`] before each trial and go on together. A party
//! that is done (its run ended or failed) says so with
//! [`Rendezvous::leave`], and one that does not come is waited for at
//! most `patience`, once: either ends the pairing, and every later
//! meeting returns at once, so a broken side costs the other at most one
//! wait, not one per remaining trial.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A reusable meeting point for a fixed number of parties (clones share
/// it).
#[derive(Clone)]
pub struct Rendezvous {
    shared: Arc<(Mutex<State>, Condvar)>,
    parties: usize,
    patience: Duration,
}

#[derive(Default)]
struct State {
    /// Parties waiting at the current meeting.
    waiting: usize,
    /// Meetings completed; a waiter leaves when it moves on.
    meetings: u64,
    /// A party left or a meeting timed out: nobody waits any more.
    over: bool,
}

impl Rendezvous {
    /// A meeting point for `parties` callers, each waiting at most
    /// `patience` for the others at every meeting.
    pub fn new(parties: usize, patience: Duration) -> Rendezvous {
        Rendezvous {
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
            parties: parties.max(1),
            patience,
        }
    }

    /// Waits until every party has arrived (true), or until `patience`
    /// has passed or a party has left (false: this party goes on alone,
    /// as will every party at every later meeting).
    pub fn meet(&self) -> bool {
        let (lock, arrived) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        if state.over {
            return false;
        }
        let meeting = state.meetings;
        state.waiting += 1;
        if state.waiting == self.parties {
            state.waiting = 0;
            state.meetings += 1;
            arrived.notify_all();
            return true;
        }
        let (mut state, _) = arrived
            .wait_timeout_while(state, self.patience, |s| s.meetings == meeting && !s.over)
            .unwrap_or_else(|e| e.into_inner());
        if state.meetings == meeting {
            state.waiting -= 1;
            state.over = true;
            arrived.notify_all();
            return false;
        }
        true
    }

    /// This party will come to no more meetings: whoever waits, or will
    /// wait, goes on at once.
    pub fn leave(&self) {
        let (lock, arrived) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).over = true;
        arrived.notify_all();
    }

    /// Leaves when the returned guard drops: a run that ends by an error
    /// or a panic leaves as surely as one that finishes.
    pub fn leave_on_drop(&self) -> Departure {
        Departure(self.clone())
    }
}

/// Leaves its [`Rendezvous`] when dropped.
#[must_use = "the party leaves as soon as the guard drops"]
#[derive(Debug)]
pub struct Departure(Rendezvous);

impl Drop for Departure {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl fmt::Debug for Rendezvous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendezvous")
            .field("parties", &self.parties)
            .field("patience", &self.patience)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_party_leaves_a_meeting_before_the_other_arrives() {
        let meet = Rendezvous::new(2, Duration::from_secs(60));
        let arrivals = Arc::new(AtomicUsize::new(0));
        let (other, counted) = (meet.clone(), Arc::clone(&arrivals));
        let late = std::thread::spawn(move || {
            (0..3)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(20));
                    counted.fetch_add(1, Ordering::SeqCst);
                    other.meet()
                })
                .collect::<Vec<bool>>()
        });
        for k in 1..=3 {
            assert!(meet.meet());
            // The late party had come to meeting k when this one left it.
            assert!(arrivals.load(Ordering::SeqCst) >= k);
        }
        assert_eq!(late.join().unwrap(), [true, true, true]);
    }

    #[test]
    fn a_party_that_never_comes_is_waited_for_only_so_long() {
        let meet = Rendezvous::new(2, Duration::from_millis(20));
        assert!(!meet.meet());
        assert!(!meet.meet());
        // The one who gave up no longer counts as waiting, and nobody
        // will wait again.
        let state = meet.shared.0.lock().unwrap();
        assert_eq!((state.waiting, state.meetings, state.over), (0, 0, true));
    }

    #[test]
    fn after_one_wait_in_vain_nobody_waits_again() {
        // Patience longer than any test may take: the second meeting must
        // return because the first timed out, not because it waited.
        let meet = Rendezvous::new(2, Duration::from_millis(20));
        assert!(!meet.meet());
        let patient = Rendezvous {
            patience: Duration::from_secs(3600),
            ..meet.clone()
        };
        assert!(!patient.meet());
        assert!(!patient.meet());
    }

    #[test]
    fn a_party_that_leaves_releases_the_one_waiting() {
        let meet = Rendezvous::new(2, Duration::from_secs(3600));
        let waiter = meet.clone();
        let waiting = std::thread::spawn(move || waiter.meet());
        // Leaving before or after the other arrives: either way it is
        // not kept waiting for its hour.
        drop(meet.leave_on_drop());
        assert!(!waiting.join().unwrap());
        assert!(!meet.meet());
    }
}
