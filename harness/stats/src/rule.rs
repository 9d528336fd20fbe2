//! The rule that turns two sets of trials into a verdict: the one meaning
//! of "significant" in proxybench. The gate fails a build by it; the
//! report judges a baseline comparison and a winner's lead by it.
//!
//! For one metric, baseline trials `b` and current trials `c`:
//! 1. fewer than [`Rule::min_trials`] a side: **too few trials** (the
//!    gate refuses such input; the report says so);
//! 2. *significant worse*: the one-sided Mann-Whitney U test
//!    ([`crate::rank`]) of "current is worse" gives p < alpha (worse =
//!    larger for cost and latency, smaller for throughput, by
//!    [`Metric::polarity`]); *significant better* likewise;
//! 3. *practically large*: the Hodges-Lehmann shift ([`crate::shift`])
//!    relative to the baseline median is beyond the metric's threshold.
//!
//! | significant | beyond threshold | verdict |
//! |---|---|---|
//! | worse | worse | [`Verdict::Regression`] |
//! | better | better | [`Verdict::Improvement`] |
//! | worse | no | [`Verdict::WorseWithinThreshold`] |
//! | no | worse | [`Verdict::NotSignificant`] |
//! | otherwise | | [`Verdict::Unchanged`] |
//!
//! Significance alone would fail the gate on a 0.5 % change measured
//! precisely; the threshold alone would fail it on one unlucky run. The
//! interval printed beside the change is the shift's `1 − 2·alpha`
//! interval, whose ends are the one-sided tests at level alpha.

use crate::fmt;
use crate::median;
use crate::metric::{Metric, Polarity};
use crate::rank::{Alternative, Method, mann_whitney};
use crate::shift::{Interval, hodges_lehmann, shift_interval};

/// Built-in one-sided significance level.
pub const DEFAULT_ALPHA: f64 = 0.01;

/// Fewest trials a side the rule ever judges: with 5 a side the smallest
/// exact one-sided p is 1/252 ≈ 0.004, just below [`DEFAULT_ALPHA`].
pub const MIN_TRIALS_FLOOR: usize = 5;

/// Built-in practical threshold of every metric (a fraction: 10 %).
pub const DEFAULT_THRESHOLD: f64 = 0.10;

/// What the rule applies to one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricRule {
    /// Whether the metric is judged at all (the gate skips it otherwise).
    pub enabled: bool,
    /// Practical threshold, as a fraction (0.10 = 10 %): a significant
    /// change smaller than this is reported but never fails the gate.
    pub threshold: f64,
}

/// The whole rule: how sure, how many trials, how large per metric. The
/// gate's policy file (`ci/gate.toml`) fills one in; the report takes one
/// from its caller, the built-in [`Rule::default`] unless told.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// One-sided significance level.
    pub alpha: f64,
    /// Fewest usable trials per side.
    pub min_trials: usize,
    /// Core CPU µs per request.
    pub cpu_us_per_req: MetricRule,
    /// p99 latency.
    pub latency_p99_us: MetricRule,
    /// Requests per second.
    pub qps: MetricRule,
}

impl Default for Rule {
    /// alpha [`DEFAULT_ALPHA`], [`MIN_TRIALS_FLOOR`] trials,
    /// [`DEFAULT_THRESHOLD`] for every metric.
    fn default() -> Self {
        let metric = MetricRule {
            enabled: true,
            threshold: DEFAULT_THRESHOLD,
        };
        Rule {
            alpha: DEFAULT_ALPHA,
            min_trials: MIN_TRIALS_FLOOR,
            cpu_us_per_req: metric,
            latency_p99_us: metric,
            qps: metric,
        }
    }
}

/// What the rule concluded about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Significantly worse and beyond the threshold: fails the gate.
    Regression,
    /// Significantly better and beyond the threshold.
    Improvement,
    /// Significantly worse, but by less than the threshold.
    WorseWithinThreshold,
    /// Beyond the threshold in the worse direction, but not significant
    /// (the trials overlap too much to tell).
    NotSignificant,
    /// No change worth reporting.
    Unchanged,
    /// A side has fewer trials than the rule needs: nothing can be said
    /// (the gate refuses such input rather than judging it).
    TooFewTrials,
}

impl Verdict {
    /// The words both the gate's table and the report print.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improved",
            Verdict::WorseWithinThreshold => "ok (worse, within threshold)",
            Verdict::NotSignificant => "ok (not significant)",
            Verdict::Unchanged => "ok",
            Verdict::TooFewTrials => "too few trials",
        }
    }

    /// Whether this verdict fails the gate.
    pub fn fails(self) -> bool {
        self == Verdict::Regression
    }

    /// Whether the change is both significant and beyond the threshold,
    /// either way: what the report counts as changed.
    pub fn is_change(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::Improvement)
    }

    /// Applies the two-part rule. `worse_change` is the relative shift in
    /// the worse direction (positive = worse).
    pub fn decide(
        worse_change: f64,
        p_worse: f64,
        p_better: f64,
        alpha: f64,
        threshold: f64,
    ) -> Verdict {
        if p_worse < alpha && worse_change > threshold {
            Verdict::Regression
        } else if p_better < alpha && -worse_change > threshold {
            Verdict::Improvement
        } else if p_worse < alpha && worse_change > 0.0 {
            Verdict::WorseWithinThreshold
        } else if worse_change > threshold {
            Verdict::NotSignificant
        } else {
            Verdict::Unchanged
        }
    }
}

/// One metric, baseline trials against current trials, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The metric.
    pub metric: Metric,
    /// Finite trial values, baseline side.
    pub baseline: Vec<f64>,
    /// Finite trial values, current side.
    pub current: Vec<f64>,
    /// Median of `baseline` (NaN when empty).
    pub baseline_median: f64,
    /// Median of `current` (NaN when empty).
    pub current_median: f64,
    /// Hodges-Lehmann shift from baseline to current, as a fraction of
    /// `baseline_median` (signed; direction-free).
    pub change: f64,
    /// The shift's `1 − 2·alpha` interval relative to `baseline_median`;
    /// `None` when the trials are too few to bound it at this level.
    pub interval: Option<Interval>,
    /// One-sided p-value of "current is worse".
    pub p_worse: f64,
    /// One-sided p-value of "current is better".
    pub p_better: f64,
    /// How the p-values were computed.
    pub method: Method,
    /// The metric's practical threshold (fraction).
    pub threshold: f64,
    /// The conclusion.
    pub verdict: Verdict,
}

impl Judgement {
    /// For a regression or an improvement: did it get better? `None` for
    /// every verdict that is not a change.
    pub fn improved(&self) -> Option<bool> {
        match self.verdict {
            Verdict::Improvement => Some(true),
            Verdict::Regression => Some(false),
            _ => None,
        }
    }

    /// `+50.0 %`: the relative Hodges-Lehmann shift.
    pub fn change_text(&self) -> String {
        fmt::change(self.change)
    }

    /// `+45.1 … +55.2 %`: its interval.
    pub fn interval_text(&self) -> String {
        fmt::interval(self.interval)
    }

    /// `n` as `baseline/current` trial counts.
    pub fn trials_text(&self) -> String {
        format!("{}/{}", self.baseline.len(), self.current.len())
    }
}

// === impl Rule ===

impl Rule {
    /// The rule for one metric.
    pub fn metric(&self, metric: Metric) -> MetricRule {
        match metric {
            Metric::CpuUsPerReq => self.cpu_us_per_req,
            Metric::LatencyP99Us => self.latency_p99_us,
            Metric::Qps => self.qps,
        }
    }

    /// Judges `metric` from `baseline` to `current` trial values (values
    /// that are not finite are dropped first).
    pub fn judge(&self, metric: Metric, baseline: &[f64], current: &[f64]) -> Judgement {
        let finite = |v: &[f64]| v.iter().copied().filter(|x| x.is_finite()).collect();
        let (baseline, current): (Vec<f64>, Vec<f64>) = (finite(baseline), finite(current));
        let baseline_median = median(&baseline).unwrap_or(f64::NAN);
        let current_median = median(&current).unwrap_or(f64::NAN);
        let shift = hodges_lehmann(&baseline, &current).unwrap_or(f64::NAN);
        let change = if baseline_median != 0.0 {
            shift / baseline_median
        } else if shift == 0.0 {
            0.0
        } else {
            f64::INFINITY * shift.signum()
        };
        let interval = shift_interval(&baseline, &current, self.alpha)
            .filter(|_| baseline_median != 0.0 && baseline_median.is_finite())
            .map(|i| i.relative_to(baseline_median));
        let (worse_alt, better_alt) = match metric.polarity() {
            Polarity::LowerIsBetter => (Alternative::Greater, Alternative::Less),
            Polarity::HigherIsBetter => (Alternative::Less, Alternative::Greater),
        };
        let worse = mann_whitney(&baseline, &current, worse_alt);
        let better = mann_whitney(&baseline, &current, better_alt);
        let (p_worse, p_better, method) = match (worse, better) {
            (Ok(w), Ok(b)) => (w.p_value, b.p_value, w.method),
            // An empty side: no evidence either way.
            _ => (1.0, 1.0, Method::Exact),
        };
        let threshold = self.metric(metric).threshold;
        let too_few = baseline.len().min(current.len()) < self.min_trials;
        let verdict = if too_few {
            Verdict::TooFewTrials
        } else {
            let worse_change = metric.worse_by(change);
            Verdict::decide(worse_change, p_worse, p_better, self.alpha, threshold)
        };
        Judgement {
            metric,
            baseline,
            current,
            baseline_median,
            current_median,
            change,
            interval,
            p_worse,
            p_better,
            method,
            threshold,
            verdict,
        }
    }

    /// What the figures beside a verdict mean, in one sentence both the
    /// gate's table and the report print under their comparisons.
    pub fn legend(&self, method: Method) -> String {
        format!(
            "baseline, current: medians over trials; change: Hodges-Lehmann shift / baseline median, \
             with its {:.0} % interval; p(worse): one-sided Mann-Whitney U ({}), alpha {}; \
             a regression needs p(worse) < alpha AND a change beyond the threshold; \
             fewer than {} trials a side is too few to judge",
            (1.0 - 2.0 * self.alpha) * 100.0,
            method.as_str(),
            self.alpha,
            self.min_trials
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_needs_both_significance_and_size() {
        let (alpha, t) = (0.01, 0.10);
        assert_eq!(
            Verdict::decide(0.15, 0.004, 1.0, alpha, t),
            Verdict::Regression
        );
        assert_eq!(
            Verdict::decide(0.05, 0.004, 1.0, alpha, t),
            Verdict::WorseWithinThreshold
        );
        assert_eq!(
            Verdict::decide(0.15, 0.2, 0.8, alpha, t),
            Verdict::NotSignificant
        );
        assert_eq!(
            Verdict::decide(-0.15, 1.0, 0.004, alpha, t),
            Verdict::Improvement
        );
        assert_eq!(Verdict::decide(0.0, 0.5, 0.5, alpha, t), Verdict::Unchanged);
        // Exactly at the threshold is not beyond it.
        assert_eq!(
            Verdict::decide(0.10, 0.004, 1.0, alpha, t),
            Verdict::WorseWithinThreshold
        );
    }

    #[test]
    fn qps_is_worse_when_lower() {
        let rule = Rule::default();
        let base = [100.0, 101.0, 99.0, 100.5, 100.2];
        let drop: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        let j = rule.judge(Metric::Qps, &base, &drop);
        assert_eq!(j.verdict, Verdict::Regression);
        assert_eq!(j.improved(), Some(false));
        assert!((j.change + 0.2).abs() < 1e-9);
        let rise: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        let j = rule.judge(Metric::Qps, &base, &rise);
        assert_eq!(j.verdict, Verdict::Improvement);
        assert_eq!(j.improved(), Some(true));
        // The same rise in CPU per request is a regression.
        let j = rule.judge(Metric::CpuUsPerReq, &base, &rise);
        assert_eq!(j.verdict, Verdict::Regression);
        // Its interval holds the shift and lies wholly on the worse side.
        let i = j.interval.unwrap();
        assert!(
            0.0 < i.low && i.low <= j.change && j.change <= i.high,
            "{i:?}"
        );
    }

    #[test]
    fn separated_trials_that_overlap_by_one_are_still_significant() {
        // One current trial falls among the baseline's, so the ranges
        // overlap; the ranks still say "larger", and the shift is +30 %.
        let rule = Rule::default();
        let base = [100.0, 101.0, 99.0, 102.0, 98.0, 100.5];
        let cur = [130.0, 131.0, 129.0, 132.0, 128.0, 100.8];
        let j = rule.judge(Metric::LatencyP99Us, &base, &cur);
        assert_eq!(j.verdict, Verdict::Regression, "{j:?}");
        assert!(j.p_worse < rule.alpha);
    }

    #[test]
    fn a_small_precise_change_is_significant_but_within_the_threshold() {
        let rule = Rule::default();
        let base = [100.0, 100.1, 99.9, 100.05, 99.95];
        let cur: Vec<f64> = base.iter().map(|v| v * 1.03).collect();
        let j = rule.judge(Metric::CpuUsPerReq, &base, &cur);
        assert_eq!(j.verdict, Verdict::WorseWithinThreshold);
        assert!(!j.verdict.is_change() && j.improved().is_none());
    }

    #[test]
    fn too_few_trials_are_never_judged_however_far_apart() {
        let rule = Rule::default();
        let j = rule.judge(Metric::Qps, &[100.0, 101.0, 99.0], &[200.0, 201.0, 199.0]);
        assert_eq!(j.verdict, Verdict::TooFewTrials);
        assert_eq!(j.interval, None);
        assert!((j.change - 1.0).abs() < 1e-9, "the size is still shown");
        let j = rule.judge(Metric::CpuUsPerReq, &[], &[1.0; 5]);
        assert_eq!(j.verdict, Verdict::TooFewTrials);
        assert!(j.baseline_median.is_nan());
        // A looser rule judges the same trials.
        let loose = Rule {
            min_trials: 3,
            alpha: 0.1,
            ..Rule::default()
        };
        let j = loose.judge(Metric::Qps, &[100.0, 101.0, 99.0], &[200.0, 201.0, 199.0]);
        assert_eq!(j.verdict, Verdict::Improvement);
    }

    #[test]
    fn identical_trials_are_unchanged() {
        let rule = Rule::default();
        let v = [5.0, 5.2, 4.9, 5.1, 5.05];
        let j = rule.judge(Metric::CpuUsPerReq, &v, &v);
        assert_eq!(j.verdict, Verdict::Unchanged);
        assert_eq!(j.change, 0.0);
        assert_eq!(j.change_text(), "+0.0 %");
        assert_eq!(j.trials_text(), "5/5");
    }

    #[test]
    fn the_legend_names_the_level_and_the_interval() {
        let text = Rule::default().legend(Method::Exact);
        assert!(
            text.contains("98 % interval") && text.contains("alpha 0.01"),
            "{text}"
        );
        assert!(text.contains("Mann-Whitney U (exact)"), "{text}");
    }
}
