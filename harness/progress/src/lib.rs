//! Progress events of a long job (a run's conformance suite and trials,
//! `proxybench conform`), kept apart from how they are shown.
//!
//! The libraries that do the work (`pb-conform`, `pb-runner`) know what
//! is planned and what is done, but not whether a person watches a
//! terminal or CI keeps a log; the command line knows that and nothing of
//! the work. An [`Event`] is the whole contract between them:
//!
//! | event | meaning | a bar | a log |
//! |---|---|---|---|
//! | [`Event::Stage`] | a stage begins with this much planned work | a new bar | one line |
//! | [`Event::Step`] | one piece of it is done | advances, shows `what` | `line`, when steps are shown |
//! | [`Event::Replan`] | the planned work changed (a rate search ended early) | length changes | nothing |
//! | [`Event::Note`] | something to see whatever the display (a failure, the CPU plan) | printed above | one line |
//!
//! Work is counted in [`Units`] the emitter chooses per stage so that
//! equal units take about equal time (milliseconds of planned load for
//! trials, one check for the conformance suite): an ETA from the rate so
//! far is then honest.

#![forbid(unsafe_code)]

/// Planned or done work, in the stage's own unit.
pub type Units = u64;

/// The stages a job goes through, so a display can treat them apart
/// (a log shows every trial but not every passed conformance check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The conformance and fault suite: one unit per check (case x core).
    Conformance,
    /// Measured trials and rate searches: one unit per millisecond of
    /// planned load (warm-up included).
    Trials,
}

impl Stage {
    /// The stage's name on a bar or in a log.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Conformance => "conformance",
            Stage::Trials => "trials",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A stage begins; `planned` units of work are expected and `title`
    /// says what they are ("76 cases x 3 cores").
    Stage {
        /// Which stage.
        stage: Stage,
        /// Work expected, in the stage's unit.
        planned: Units,
        /// What the work is, for the stage's first line.
        title: &'a str,
    },
    /// `units` of the current stage are done. `what` is short (the cell,
    /// core and trial, for a status line); `line` is the full line a log
    /// keeps.
    Step {
        /// Work done, in the stage's unit.
        units: Units,
        /// The step, short.
        what: &'a str,
        /// The step and its outcome, in full.
        line: &'a str,
    },
    /// The current stage now expects `planned` units in all.
    Replan {
        /// Work expected in all, done included.
        planned: Units,
    },
    /// A line that must be seen whatever the display.
    Note(&'a str),
}

/// Anything that watches events; closures do.
pub trait Progress {
    /// Takes one event.
    fn event(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Progress for F {
    fn event(&mut self, event: Event<'_>) {
        self(event)
    }
}

/// Watches nothing: for callers that do not show progress.
pub fn ignore(_: Event<'_>) {}

/// Milliseconds of `seconds`, the [`Stage::Trials`] unit; never zero, so
/// a step always advances.
pub fn millis(seconds: f64) -> Units {
    ((seconds * 1000.0).round() as Units).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_watch_events() {
        let mut seen = Vec::new();
        let mut watch = |e: Event<'_>| seen.push(format!("{e:?}"));
        watch.event(Event::Note("hello"));
        watch.event(Event::Replan { planned: 3 });
        assert_eq!(seen, ["Note(\"hello\")", "Replan { planned: 3 }"]);
    }

    #[test]
    fn millis_never_rounds_to_zero() {
        assert_eq!(millis(1.3), 1300);
        assert_eq!(millis(0.0), 1);
        assert_eq!(millis(0.0004), 1);
    }
}
