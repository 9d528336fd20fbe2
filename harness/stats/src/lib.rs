//! What "significant" means in proxybench, defined once: the regression
//! gate (`pb-gate`) fails a build by it and the report (`pb-report`)
//! colours its baseline comparison and calls a lead clear by it, so the
//! two can never disagree about the same trials.
//!
//! | item | role |
//! |---|---|
//! | [`metric`] | the judged per-trial figures and their [`Polarity`] (lower or higher is better), stated once |
//! | [`median`] | the one median every crate uses |
//! | [`rank`] | one-sided Mann-Whitney U: exact with ties, normal approximation for large samples |
//! | [`shift`] | the Hodges-Lehmann shift and its distribution-free interval |
//! | [`paired`] | the paired, sequential judgement of `gate run`: Wilcoxon signed-rank on within-pair log-ratios, its Hodges-Lehmann estimate and interval, planned looks, the minimum detectable effect |
//! | [`bootstrap`] | a seeded percentile bootstrap, for statistics of several samples (interactions) |
//! | [`rule`] | significance level, minimum trials and practical thresholds -> a [`Verdict`]; the words and figures both outputs print |
//! | [`fmt`] | how a change and a figure read, in the gate's table and on the page alike |
//!
//! The rule in one sentence: a change is a **regression** (or an
//! **improvement**) when the one-sided Mann-Whitney U test of the
//! per-trial figures gives p < alpha in that direction *and* the
//! Hodges-Lehmann shift, relative to the baseline median, is beyond the
//! metric's threshold; see [`rule`] for every other verdict.
//!
//! The crate is pure arithmetic on `f64` slices: it reads no files and
//! knows no results format, so both sides can depend on it and it tests
//! without fixtures.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod fmt;
pub mod metric;
pub mod paired;
pub mod rank;
pub mod rule;
pub mod shift;

pub use crate::bootstrap::bootstrap_interval;
pub use crate::metric::{Metric, Polarity};
pub use crate::paired::{PairedJudgement, PairedVerdict, Plan, PlanError};
pub use crate::rank::{Alternative, Method, StatsError, TestResult, mann_whitney, min_p_value};
pub use crate::rule::{
    DEFAULT_ALPHA, DEFAULT_THRESHOLD, Judgement, MIN_TRIALS_FLOOR, MetricRule, Rule, Verdict,
};
pub use crate::shift::{Interval, hodges_lehmann, shift_interval};

/// Median of finite values (mean of the middle two for an even count);
/// `None` when `sample` is empty or holds a value that is not finite.
///
/// The only median in proxybench: results summaries, the gate's rows, the
/// report's figures and the instruction counts all take this one, so "the
/// median of the trials" is one number wherever it is printed.
pub fn median(sample: &[f64]) -> Option<f64> {
    if sample.is_empty() || sample.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }
}
