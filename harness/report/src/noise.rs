//! When is a difference between two sets of trials real?
//!
//! One rule, used wherever the report says "significant" (a baseline
//! delta) or "clear" (a winner ahead of the runner-up):
//!
//! > A change is **significant** when the per-trial values of the two sides
//! > do not overlap (every trial of one side is above every trial of the
//! > other) **and** the headline figures differ by more than
//! > [`MIN_RELATIVE_CHANGE`] (5 %) relative to the first side.
//! > Otherwise it is **within noise**.
//!
//! Why both conditions: non-overlap alone calls a 0.5 % shift significant
//! when trials happen to be tight (and with one trial per side, ranges are
//! points that almost never overlap); the 5 % floor alone calls a change
//! significant when trials scatter by ±20 % anyway. The headline figure is
//! what the report shows for the metric: the median over trials for QPS
//! and CPU per request, the merged-histogram percentile for latency (never
//! an average of percentiles); the per-trial values are each trial's own
//! figure. With few trials the rule is deliberately coarse: it is a
//! screen for a human, not a hypothesis test.

use serde::Serialize;

/// Smallest relative change of the headline figure that can count as
/// significant.
pub const MIN_RELATIVE_CHANGE: f64 = 0.05;

/// One side's figures for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The figure the report shows (median, or merged percentile).
    pub headline: f64,
    /// Each trial's own figure.
    pub trials: Vec<f64>,
}

impl Sample {
    /// Lowest and highest trial; `None` without trials.
    pub fn range(&self) -> Option<(f64, f64)> {
        let mut it = self.trials.iter().copied().filter(|v| v.is_finite());
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
    }
}

/// The rule's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Ranges apart and the headline moved by more than 5 %.
    Significant,
    /// Anything else with figures on both sides.
    WithinNoise,
    /// A side has no figure (no trials, or a zero headline to divide by).
    NotAvailable,
}

impl Verdict {
    /// The words the page uses.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Significant => "significant",
            Verdict::WithinNoise => "within noise",
            Verdict::NotAvailable => "n/a",
        }
    }
}

/// Relative change of `to` over `from` (`0.5` = +50 %); `None` when `from`
/// is zero or either is not a number.
pub fn relative_change(from: f64, to: f64) -> Option<f64> {
    let change = (to - from) / from;
    (from != 0.0 && change.is_finite()).then_some(change)
}

/// Applies the rule (see the module docs) to `from` -> `to`.
pub fn judge(from: &Sample, to: &Sample) -> Verdict {
    let (Some((from_lo, from_hi)), Some((to_lo, to_hi))) = (from.range(), to.range()) else {
        return Verdict::NotAvailable;
    };
    let Some(change) = relative_change(from.headline, to.headline) else {
        return Verdict::NotAvailable;
    };
    let apart = to_lo > from_hi || to_hi < from_lo;
    if apart && change.abs() > MIN_RELATIVE_CHANGE {
        Verdict::Significant
    } else {
        Verdict::WithinNoise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(trials: &[f64]) -> Sample {
        let mut sorted = trials.to_vec();
        sorted.sort_by(f64::total_cmp);
        Sample {
            headline: sorted[sorted.len() / 2],
            trials: trials.to_vec(),
        }
    }

    #[test]
    fn apart_and_large_is_significant_either_way() {
        let a = sample(&[100.0, 102.0, 98.0]);
        let b = sample(&[150.0, 149.0, 155.0]);
        assert_eq!(judge(&a, &b), Verdict::Significant);
        assert_eq!(judge(&b, &a), Verdict::Significant);
    }

    #[test]
    fn overlapping_trials_are_noise_however_far_the_medians() {
        // Medians 100 -> 130 (+30 %), but a trial of each side overlaps.
        let a = sample(&[90.0, 100.0, 140.0]);
        let b = sample(&[120.0, 130.0, 135.0]);
        assert_eq!(judge(&a, &b), Verdict::WithinNoise);
    }

    #[test]
    fn apart_but_small_is_noise() {
        // Tight trials, +3 %: apart, but under the 5 % floor.
        let a = sample(&[100.0, 100.1, 99.9]);
        let b = sample(&[103.0, 103.1, 102.9]);
        assert_eq!(judge(&a, &b), Verdict::WithinNoise);
        // Just over the floor.
        let c = sample(&[105.2, 105.3, 105.1]);
        assert_eq!(judge(&a, &c), Verdict::Significant);
    }

    #[test]
    fn single_trials_rest_on_the_floor_alone() {
        assert_eq!(
            judge(&sample(&[100.0]), &sample(&[104.0])),
            Verdict::WithinNoise
        );
        assert_eq!(
            judge(&sample(&[100.0]), &sample(&[94.0])),
            Verdict::Significant
        );
    }

    #[test]
    fn identical_runs_are_noise_and_missing_figures_are_not_available() {
        let a = sample(&[1.0, 2.0, 3.0]);
        assert_eq!(judge(&a, &a), Verdict::WithinNoise);
        let empty = Sample {
            headline: 1.0,
            trials: vec![],
        };
        assert_eq!(judge(&a, &empty), Verdict::NotAvailable);
        let zero = Sample {
            headline: 0.0,
            trials: vec![0.0],
        };
        assert_eq!(judge(&zero, &a), Verdict::NotAvailable);
        assert_eq!(relative_change(2.0, 3.0), Some(0.5));
        assert_eq!(relative_change(0.0, 3.0), None);
    }
}
