//! Keeping two runs in step: the paired gate's duets (`--pairing
//! together` and `--pairing split`) start a baseline run and a candidate
//! run at once, and trial `k` of one is only a fair partner of trial `k`
//! of the other if their windows overlap. Each run's start-up and each
//! trial's set-up take slightly different times, so without a meeting
//! point the two drift apart trial by trial — by the end of a batch,
//! seconds: more than the time scale of the noise the pairing is there
//! to cancel.
//!
//! A [`Rendezvous`] is that meeting point: both runs call
//! [`Rendezvous::meet`] before each trial, naming the trial, and go on
//! together. The pairing ends, for the rest of the rendezvous, when a
//! party is done ([`Rendezvous::leave`]: its run ended or failed), when
//! one has waited `patience` in vain, or when the two name different
//! trials (one run skipped a failed cell); every later meeting then
//! returns at once with the reason, so a broken side costs the other at
//! most one wait, and no trial is called paired that was not.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A meeting point for a fixed number of parties (clones share it), good
/// until the pairing ends.
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
    /// The trial the current meeting is for (the first arrival's).
    key: String,
    /// Meetings completed; a waiter leaves when it moves on.
    meetings: u64,
    /// Why the pairing ended, once it has.
    apart: Option<Apart>,
    /// Trials that ran without their partner (see
    /// [`Rendezvous::ran_alone`]).
    alone: u64,
}

impl State {
    fn end(&mut self, why: Apart) -> Apart {
        *self.apart.get_or_insert(why)
    }
}

/// Why a party went on without the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apart {
    /// A party waited `patience` and the other did not come.
    Late,
    /// The other party's run had ended.
    Left,
    /// The parties came to meetings for different trials.
    OutOfStep,
}

impl fmt::Display for Apart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Apart::Late => "the partner run did not come in time",
            Apart::Left => "the partner run had ended",
            Apart::OutOfStep => "the partner run was at a different trial",
        })
    }
}

impl Rendezvous {
    /// A meeting point for `parties` callers, each waiting at most
    /// `patience` for the others (once: a wait in vain ends the pairing).
    pub fn new(parties: usize, patience: Duration) -> Rendezvous {
        Rendezvous {
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
            parties: parties.max(1),
            patience,
        }
    }

    /// Waits until every party has arrived at the meeting for `trial`
    /// (`Ok`), or returns why this party goes on alone — as every party
    /// will at every later meeting.
    pub fn meet(&self, trial: &str) -> Result<(), Apart> {
        let (lock, arrived) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = state.apart {
            return Err(why);
        }
        if state.waiting == 0 {
            trial.clone_into(&mut state.key);
        } else if state.key != trial {
            let why = state.end(Apart::OutOfStep);
            arrived.notify_all();
            return Err(why);
        }
        state.waiting += 1;
        if state.waiting == self.parties {
            state.waiting = 0;
            state.meetings += 1;
            arrived.notify_all();
            return Ok(());
        }
        let meeting = state.meetings;
        let (mut state, _) = arrived
            .wait_timeout_while(state, self.patience, |s| {
                s.meetings == meeting && s.apart.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
        if state.meetings != meeting {
            return Ok(());
        }
        state.waiting -= 1;
        let why = state.end(Apart::Late);
        arrived.notify_all();
        Err(why)
    }

    /// This party will come to no more meetings: whoever waits, or will
    /// wait, goes on at once.
    pub fn leave(&self) {
        let (lock, arrived) = &*self.shared;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .end(Apart::Left);
        arrived.notify_all();
    }

    /// Leaves when the returned guard drops: a run that ends by an error
    /// or a panic leaves as surely as one that finishes.
    pub fn leave_on_drop(&self) -> Departure {
        Departure(self.clone())
    }

    /// Counts a trial that ran after [`meet`](Rendezvous::meet) said
    /// `Err` (a meeting for a core that is gone runs none).
    pub fn ran_alone(&self) {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).alone += 1;
    }

    /// Trials, of all parties, that ran without their partner.
    pub fn alone(&self) -> u64 {
        let (lock, _) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).alone
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
    use std::sync::mpsc;

    /// Longer than any test may take: a test that has to wait for it has
    /// failed (`soon` below gives up long before).
    const HOUR: Duration = Duration::from_secs(3600);

    /// `f` started on its own thread; [`soon`] takes its answer.
    fn later<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx
    }

    /// The answer if it comes within ten seconds (a party kept waiting
    /// past that was not released).
    fn soon<T>(answer: mpsc::Receiver<T>) -> Option<T> {
        answer.recv_timeout(Duration::from_secs(10)).ok()
    }

    /// Until a party is waiting at the current meeting.
    fn until_one_waits(meet: &Rendezvous) {
        for _ in 0..10_000 {
            if meet.shared.0.lock().unwrap().waiting == 1 {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("nobody came to the meeting");
    }

    #[test]
    fn no_party_leaves_a_meeting_before_the_other_arrives() {
        let meet = Rendezvous::new(2, Duration::from_secs(60));
        let arrivals = Arc::new(AtomicUsize::new(0));
        let (other, counted) = (meet.clone(), Arc::clone(&arrivals));
        let late = std::thread::spawn(move || {
            (0..3)
                .map(|k| {
                    std::thread::sleep(Duration::from_millis(20));
                    counted.fetch_add(1, Ordering::SeqCst);
                    other.meet(&k.to_string())
                })
                .collect::<Vec<_>>()
        });
        for k in 1..=3 {
            assert_eq!(meet.meet(&(k - 1).to_string()), Ok(()));
            // The late party had come to meeting k when this one left it.
            assert!(arrivals.load(Ordering::SeqCst) >= k);
        }
        assert_eq!(late.join().unwrap(), [Ok(()), Ok(()), Ok(())]);
    }

    #[test]
    fn after_one_wait_in_vain_nobody_waits_again() {
        let meet = Rendezvous::new(2, Duration::from_millis(20));
        assert_eq!(meet.meet("0"), Err(Apart::Late));
        // The one who gave up no longer counts as waiting.
        assert_eq!(meet.shared.0.lock().unwrap().waiting, 0);
        // A party that would wait an hour is told at once.
        let patient = Rendezvous {
            patience: HOUR,
            ..meet.clone()
        };
        assert_eq!(
            soon(later(move || patient.meet("1"))),
            Some(Err(Apart::Late))
        );
    }

    #[test]
    fn a_party_that_leaves_releases_the_one_waiting() {
        let meet = Rendezvous::new(2, HOUR);
        let waiter = meet.clone();
        let waiting = later(move || waiter.meet("0"));
        // Leave only once the other is waiting, so the leave must wake it.
        until_one_waits(&meet);
        drop(meet.leave_on_drop());
        assert_eq!(soon(waiting), Some(Err(Apart::Left)));
        assert_eq!(soon(later(move || meet.meet("1"))), Some(Err(Apart::Left)));
    }

    #[test]
    fn parties_at_different_trials_are_told_so() {
        let meet = Rendezvous::new(2, HOUR);
        let waiter = meet.clone();
        let first = later(move || waiter.meet("cell a, trial 1"));
        until_one_waits(&meet);
        let second = meet.clone();
        assert_eq!(
            soon(later(move || second.meet("cell b, trial 1"))),
            Some(Err(Apart::OutOfStep))
        );
        assert_eq!(soon(first), Some(Err(Apart::OutOfStep)));
    }

    #[test]
    fn trials_run_alone_are_counted_across_parties() {
        let meet = Rendezvous::new(2, HOUR);
        meet.clone().ran_alone();
        meet.ran_alone();
        assert_eq!(meet.alone(), 2);
    }
}
