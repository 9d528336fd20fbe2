//! How a long command shows its [`pb_progress`] events: a live bar with
//! phase, current step, elapsed time and ETA on a terminal; plain lines,
//! each with its share done and ETA, where nobody watches a terminal (CI
//! logs, a pipe) or the user asked for quiet or no colour.
//!
//! Either way progress goes to stderr, so the table and file paths on
//! stdout stay clean for a pipe.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pb_progress::{Event, Progress, Stage, Units};

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct Options {
    /// Only the stages and what went wrong: no live bar and no line per
    /// trial.
    #[arg(long, short)]
    quiet: bool,
}

/// Which steps print a line of their own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown {
    /// One line per passed or failed conformance check (`conform
    /// --verbose`); a run shows only the failures.
    pub(crate) conformance_steps: bool,
}

/// Where the events go.
pub(crate) enum Display {
    Bar(Bar),
    Lines(Lines),
}

impl Display {
    /// A bar when stdout and stderr are terminals and neither `--quiet`
    /// nor `NO_COLOR` is set; plain lines otherwise.
    pub(crate) fn choose(options: Options, shown: Shown) -> Display {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if terminal && !options.quiet && !no_color {
            Display::Bar(Bar::new(shown))
        } else {
            Display::Lines(Lines::new(shown, options.quiet))
        }
    }
}

impl Progress for Display {
    fn event(&mut self, event: Event<'_>) {
        match self {
            Display::Bar(bar) => bar.event(event),
            Display::Lines(lines) => lines.event(event),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Display::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// Share done and time left, from the rate so far.
struct Clock {
    started: Instant,
    planned: Units,
    done: Units,
}

impl Clock {
    fn new(planned: Units) -> Clock {
        Clock {
            started: Instant::now(),
            planned,
            done: 0,
        }
    }

    fn eta(&self) -> Option<Duration> {
        if self.done == 0 {
            return None;
        }
        let left = self.planned.saturating_sub(self.done) as f64;
        Some(self.started.elapsed().mul_f64(left / self.done as f64))
    }

    /// "[ 42% 1m02s, ETA 1m30s]".
    fn stamp(&self) -> String {
        let percent = match self.planned {
            0 => 100,
            planned => (self.done * 100 / planned).min(100),
        };
        format!(
            "[{percent:>3}% {}, ETA {}]",
            clock(self.started.elapsed()),
            self.eta().map_or_else(|| "?".to_owned(), clock)
        )
    }
}

/// "1m02s", "45s", "1h03m".
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn shows_steps(shown: Shown, stage: Option<Stage>) -> bool {
    match stage {
        Some(Stage::Conformance) => shown.conformance_steps,
        Some(Stage::Trials) | None => true,
    }
}

/// Plain lines on stderr: a line per stage, per note and (unless quiet)
/// per shown step, each step stamped with its share and ETA.
pub(crate) struct Lines {
    shown: Shown,
    quiet: bool,
    stage: Option<Stage>,
    clock: Clock,
}

impl Lines {
    fn new(shown: Shown, quiet: bool) -> Lines {
        Lines {
            shown,
            quiet,
            stage: None,
            clock: Clock::new(0),
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Stage {
                stage,
                planned,
                title,
            } => {
                self.stage = Some(stage);
                self.clock = Clock::new(planned);
                eprintln!("{}: {title}", stage.name());
            }
            Event::Step { units, line, .. } => {
                self.clock.done += units;
                if !self.quiet && shows_steps(self.shown, self.stage) {
                    eprintln!("{} {line}", self.clock.stamp());
                }
            }
            Event::Replan { planned } => self.clock.planned = planned,
            Event::Note(line) => eprintln!("{line}"),
        }
    }
}

/// A live bar on stderr: the stage, a bar, share, elapsed and ETA, and
/// the step in progress; shown steps and notes print above it.
pub(crate) struct Bar {
    shown: Shown,
    stage: Option<Stage>,
    bar: Option<ProgressBar>,
}

impl Bar {
    fn new(shown: Shown) -> Bar {
        Bar {
            shown,
            stage: None,
            bar: None,
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{prefix:>11.bold} [{bar:30.cyan/blue}] {percent:>3}%  {elapsed_precise} elapsed, ETA {eta_precise}  {wide_msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ")
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Stage {
                stage,
                planned,
                title,
            } => {
                self.finish();
                let bar = ProgressBar::with_draw_target(
                    Some(planned),
                    ProgressDrawTarget::stderr_with_hz(4),
                )
                .with_style(Bar::style())
                .with_prefix(stage.name())
                .with_message(title.to_owned());
                bar.enable_steady_tick(Duration::from_millis(250));
                bar.println(format!("{}: {title}", stage.name()));
                self.stage = Some(stage);
                self.bar = Some(bar);
            }
            Event::Step { units, what, line } => {
                if let Some(bar) = &self.bar {
                    if shows_steps(self.shown, self.stage) {
                        bar.println(line);
                    }
                    bar.inc(units);
                    bar.set_message(what.to_owned());
                }
            }
            Event::Replan { planned } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(planned);
                }
            }
            Event::Note(line) => match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            },
        }
    }

    /// Ends the current bar, leaving nothing behind but the lines printed
    /// above it.
    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_like_a_person_writes_it() {
        assert_eq!(clock(Duration::from_secs(45)), "45s");
        assert_eq!(clock(Duration::from_secs(62)), "1m02s");
        assert_eq!(clock(Duration::from_secs(3780)), "1h03m");
    }

    #[test]
    fn eta_comes_from_the_rate_so_far() {
        let mut c = Clock::new(400);
        assert_eq!(c.eta(), None);
        c.started = Instant::now() - Duration::from_secs(10);
        c.done = 100;
        let eta = c.eta().unwrap().as_secs_f64();
        assert!((29.0..=31.5).contains(&eta), "{eta}");
        assert!(c.stamp().starts_with("[ 25% 10s, ETA 3"), "{}", c.stamp());
    }

    #[test]
    fn a_run_shows_conformance_failures_only_unless_verbose() {
        let quiet = Shown {
            conformance_steps: false,
        };
        assert!(!shows_steps(quiet, Some(Stage::Conformance)));
        assert!(shows_steps(quiet, Some(Stage::Trials)));
        let verbose = Shown {
            conformance_steps: true,
        };
        assert!(shows_steps(verbose, Some(Stage::Conformance)));
    }
}
