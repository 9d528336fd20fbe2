//! How far the current trials moved from the baseline's, and how sure
//! that estimate is: the Hodges-Lehmann shift and its distribution-free
//! (Moses) interval.
//!
//! Both come from the same `m·n` pairwise differences `c − b` the
//! Mann-Whitney test counts, so size, interval and significance are one
//! view of the data: with no ties, the interval at level `alpha` lies
//! wholly above zero exactly when the one-sided test of "greater" gives
//! p < alpha (and wholly below zero exactly when "less" does).

use crate::median;
use crate::rank::u_cdf;

/// Hodges-Lehmann estimate of how far `current` moved from `baseline`:
/// the median of all `m·n` pairwise differences `c − b`.
///
/// It is the shift the Mann-Whitney test asks about, so the size and the
/// significance of a change come from one view of the data. With 20
/// noisy trials a side it also wanders less than the difference of two
/// medians: for normal data its efficiency relative to the difference of
/// means is 3/π ≈ 0.95, the medians' 2/π ≈ 0.64. `None` when a side is
/// empty or holds a value that is not finite.
pub fn hodges_lehmann(baseline: &[f64], current: &[f64]) -> Option<f64> {
    median(&differences(baseline, current)?)
}

/// A two-sided interval for the shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end (same unit as the samples).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Nominal coverage, `1 − 2·alpha` (at least that without ties).
    pub confidence: f64,
}

impl Interval {
    /// Both ends divided by `by` (a baseline median: a relative interval).
    pub fn relative_to(self, by: f64) -> Interval {
        Interval {
            low: self.low / by,
            high: self.high / by,
            confidence: self.confidence,
        }
    }
}

/// The distribution-free interval for the shift whose one-sided ends are
/// each at level `alpha`: `[D(k), D(mn+1−k)]` of the sorted pairwise
/// differences, with `k` the largest count for which `P(U ≤ k−1) <
/// alpha` under the null hypothesis.
///
/// `None` when a side is empty or not finite, or when the samples are too
/// small for any interval at this level (with 3 trials a side the
/// smallest one-sided p is 1/20, so nothing is bounded at alpha 0.01).
pub fn shift_interval(baseline: &[f64], current: &[f64], alpha: f64) -> Option<Interval> {
    let mut diffs = differences(baseline, current)?;
    if diffs.iter().any(|d| !d.is_finite()) {
        return None;
    }
    diffs.sort_by(f64::total_cmp);
    let cdf = u_cdf(current.len(), baseline.len());
    // cdf[k-1] = P(U <= k-1); the largest k with that below alpha.
    let k = cdf.iter().take_while(|&&p| p < alpha).count();
    if k == 0 {
        return None;
    }
    let mn = diffs.len();
    Some(Interval {
        low: diffs[k - 1],
        high: diffs[mn - k],
        confidence: 1.0 - 2.0 * alpha,
    })
}

/// Every `c − b`; `None` when a side is empty.
fn differences(baseline: &[f64], current: &[f64]) -> Option<Vec<f64>> {
    if baseline.is_empty() || current.is_empty() {
        return None;
    }
    Some(
        current
            .iter()
            .flat_map(|c| baseline.iter().map(move |b| c - b))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::{Alternative, mann_whitney};

    #[test]
    fn hodges_lehmann_recovers_a_known_shift_and_ignores_one_outlier() {
        let base = [10.0, 10.4, 9.7, 10.1, 9.9, 10.3, 9.8];
        let cur: Vec<f64> = base.iter().map(|v| v + 1.5).collect();
        let hl = hodges_lehmann(&base, &cur).unwrap();
        assert!((hl - 1.5).abs() < 1e-9, "{hl}");
        // One wild trial on the current side barely moves the estimate.
        let mut wild = cur.clone();
        wild[0] = 1000.0;
        let hl = hodges_lehmann(&base, &wild).unwrap();
        assert!((hl - 1.5).abs() < 0.35, "{hl}");
        // Same data both sides: no shift.
        assert_eq!(hodges_lehmann(&base, &base), Some(0.0));
        assert_eq!(hodges_lehmann(&[], &base), None);
        assert_eq!(hodges_lehmann(&base, &[f64::NAN]), None);
    }

    #[test]
    fn the_interval_holds_the_estimate_and_narrows_with_more_trials() {
        let base = [10.0, 10.4, 9.7, 10.1, 9.9, 10.3, 9.8];
        let cur: Vec<f64> = base.iter().map(|v| v + 1.5).collect();
        let i = shift_interval(&base, &cur, 0.01).unwrap();
        assert!(i.low < 1.5 && 1.5 < i.high, "{i:?}");
        assert!((i.confidence - 0.98).abs() < 1e-12);
        // A looser level gives a narrower interval inside the first.
        let j = shift_interval(&base, &cur, 0.1).unwrap();
        assert!(i.low <= j.low && j.high <= i.high, "{i:?} {j:?}");
        // Too few trials for the level: no interval.
        assert_eq!(
            shift_interval(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.01),
            None
        );
        assert!(shift_interval(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.1).is_some());
    }

    #[test]
    fn the_interval_excludes_zero_exactly_when_the_test_is_significant() {
        // Shifts from none to complete separation, 6 a side, no ties: the
        // lower end is above zero iff p(greater) < alpha, for two levels.
        let base: Vec<f64> = (0..6).map(|i| f64::from(i) * 1.1).collect();
        for alpha in [0.01, 0.05] {
            for step in 0..40 {
                let shift = f64::from(step) * 0.25 + 0.013;
                let cur: Vec<f64> = base.iter().map(|v| v + shift).collect();
                let p = mann_whitney(&base, &cur, Alternative::Greater)
                    .unwrap()
                    .p_value;
                let i = shift_interval(&base, &cur, alpha).unwrap();
                assert_eq!(
                    i.low > 0.0,
                    p < alpha,
                    "alpha {alpha} shift {shift}: p {p}, {i:?}"
                );
                let q = mann_whitney(&cur, &base, Alternative::Less)
                    .unwrap()
                    .p_value;
                let back = shift_interval(&cur, &base, alpha).unwrap();
                assert_eq!(back.high < 0.0, q < alpha, "alpha {alpha} shift {shift}");
            }
        }
    }
}
