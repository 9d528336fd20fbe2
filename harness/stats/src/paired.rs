//! The paired, sequential judgement behind `proxybench gate run`: baseline
//! and candidate trials taken in pairs close in time, judged on the
//! within-pair ratios, with more pairs added until the answer is clear.
//!
//! Why pairs: on a shared machine a trial's figure moves by ±20 % with
//! whatever else runs. Two independent samples (the [`crate::rule`]
//! design) carry that drift into both spreads and need many trials to see
//! 10 % through it; a ratio of two trials taken one after the other
//! cancels every drift slower than a pair. What is left is the noise
//! *within* a pair.
//!
//! How a figure is judged, for `n` pairs `(b_i, c_i)`:
//! - `d_i = ln(c_i / b_i)`, turned by [`Metric::polarity`] so that
//!   positive is worse (a cost that rose, a throughput that fell);
//! - the estimate is the one-sample Hodges-Lehmann estimate (the median
//!   of the Walsh averages `(d_i + d_j) / 2`, `i ≤ j`), and its interval
//!   the distribution-free one that inverts the Wilcoxon signed-rank test
//!   ([`walsh_interval`]): the interval lies above a value exactly when
//!   the one-sided signed-rank test says the median of `d` exceeds it;
//! - against the threshold `τ` (5 % worse is `ln 1.05`; for throughput,
//!   `−ln 0.95`): the whole interval above `τ` is a **regression**, the
//!   whole interval below it is **no regression**; otherwise the gate
//!   needs more pairs, and once the budget is spent the answer is
//!   **inconclusive** at this noise — never a coin flip.
//!
//! Sequential looks: the decision is taken at a few planned pair counts
//! ([`Plan::looks`], from the minimum up by half again each time to the
//! budget), each at `alpha / looks` per side (Bonferroni), so over the
//! whole sequence a figure whose true change sits exactly at the
//! threshold is called either way with probability at most `alpha`; a
//! true change well away from it is called sooner and more surely.
//!
//! Minimum detectable effect: from the noise measured (a robust spread of
//! the `d_i`), the smallest worse change the plan would call a regression
//! with the stated power by its last look:
//! `τ + (z(1 − α_look) + z(power)) · σ / √(n · 3/π)` on the log scale,
//! `3/π` being the signed-rank test's efficiency against normal noise.
//! It says what a *no regression* could have missed.

use crate::median;
use crate::metric::{Metric, Polarity};
use crate::shift::Interval;

/// Largest pair count for which the signed-rank distribution is counted
/// exactly (the counts stay below 2^53, so exact in `f64`).
pub const EXACT_PAIRS_MAX: usize = 50;

/// How a sequence of pairs is judged: threshold, error rate, power and
/// the pair counts at which it decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Practical threshold, a fraction (0.05 = 5 % worse).
    pub threshold: f64,
    /// Overall one-sided error rate per side, over all looks.
    pub alpha: f64,
    /// Power the minimum detectable effect is stated at (0.9).
    pub power: f64,
    /// Pair counts at which the decision is taken, ascending; the last
    /// is the budget.
    pub looks: Vec<usize>,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A level, power or threshold outside its range.
    #[error("{what} must be between {low} and {high}, got {value}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: f64,
        /// Lower bound (exclusive).
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// The first look comes before any interval exists at the per-look level.
    #[error(
        "{min_pairs} pairs cannot bound anything at {alpha_look:.4} per look \
         (the smallest one-sided p with n pairs is 2^-n): start at {needed} pairs or more"
    )]
    TooFewPairs {
        /// The minimum asked for.
        min_pairs: usize,
        /// The per-look level.
        alpha_look: f64,
        /// The fewest pairs that can.
        needed: usize,
    },
    /// The budget is below the first look.
    #[error("the budget of {max_pairs} pairs is below the minimum of {min_pairs}")]
    Budget {
        /// The first look.
        min_pairs: usize,
        /// The budget.
        max_pairs: usize,
    },
}

impl Plan {
    /// A plan deciding at `min_pairs`, then at half as many again each
    /// time (rounded up), and at `max_pairs`.
    pub fn new(
        threshold: f64,
        alpha: f64,
        power: f64,
        min_pairs: usize,
        max_pairs: usize,
    ) -> Result<Plan, PlanError> {
        if !(0.0..10.0).contains(&threshold) {
            return Err(PlanError::OutOfRange {
                what: "the threshold",
                value: threshold,
                low: 0.0,
                high: 10.0,
            });
        }
        for (what, value, low, high) in [("alpha", alpha, 0.0, 0.5), ("the power", power, 0.5, 1.0)]
        {
            if !(value > low && value < high) {
                return Err(PlanError::OutOfRange {
                    what,
                    value,
                    low,
                    high,
                });
            }
        }
        if max_pairs < min_pairs {
            return Err(PlanError::Budget {
                min_pairs,
                max_pairs,
            });
        }
        let mut looks = vec![min_pairs];
        while let Some(&last) = looks.last() {
            let next = (last + last.div_ceil(2)).max(last + 1);
            if next >= max_pairs {
                break;
            }
            looks.push(next);
        }
        if *looks.last().expect("one look at least") != max_pairs {
            looks.push(max_pairs);
        }
        let plan = Plan {
            threshold,
            alpha,
            power,
            looks,
        };
        let alpha_look = plan.alpha_per_look();
        let needed = (1..).find(|n| 0.5f64.powi(*n) < alpha_look).unwrap_or(1) as usize;
        if min_pairs < needed {
            return Err(PlanError::TooFewPairs {
                min_pairs,
                alpha_look,
                needed,
            });
        }
        Ok(plan)
    }

    /// One-sided level of each look.
    pub fn alpha_per_look(&self) -> f64 {
        self.alpha / self.looks.len() as f64
    }

    /// The budget: the last look's pair count.
    pub fn budget(&self) -> usize {
        *self.looks.last().expect("a plan has looks")
    }

    /// Whether `pairs` is a pair count the plan decides at.
    pub fn is_look(&self, pairs: usize) -> bool {
        self.looks.contains(&pairs)
    }

    /// Judges `metric` from the pairs so far, `(baseline, candidate)`.
    /// Between looks the verdict is [`PairedVerdict::Pending`]; at the
    /// budget an open question is [`PairedVerdict::Inconclusive`].
    pub fn judge(&self, metric: Metric, pairs: &[(f64, f64)]) -> PairedJudgement {
        let worse: Vec<f64> = pairs
            .iter()
            .filter(|(b, c)| b.is_finite() && c.is_finite() && *b > 0.0 && *c > 0.0)
            .map(|(b, c)| to_worse(metric, (c / b).ln()))
            .collect();
        let n = worse.len();
        let tau = to_worse(metric, threshold_log(metric, self.threshold));
        let alpha_look = self.alpha_per_look();
        let estimate = walsh_estimate(&worse);
        let interval = walsh_interval(&worse, alpha_look);
        let noise = spread(&worse);
        let verdict = if n < pairs.len() {
            // A figure that is zero or missing on a side cannot be judged;
            // the caller refuses such input before it gets here.
            PairedVerdict::Inconclusive
        } else if !self.is_look(n) && n < self.budget() {
            PairedVerdict::Pending
        } else {
            match interval {
                Some(i) if i.low > tau => PairedVerdict::Regression,
                Some(i) if i.high < tau => PairedVerdict::NoRegression,
                _ if n >= self.budget() => PairedVerdict::Inconclusive,
                _ => PairedVerdict::Pending,
            }
        };
        let mde = noise.map(|sigma| {
            let z = normal_quantile(1.0 - alpha_look) + normal_quantile(self.power);
            let n = self.budget() as f64;
            let log = tau + z * sigma / (n * 3.0 / std::f64::consts::PI).sqrt();
            from_worse_log(metric, log)
        });
        PairedJudgement {
            metric,
            pairs: n,
            estimate: estimate.map(|e| relative(metric, e)),
            interval: interval.map(|i| relative_interval(metric, i)),
            threshold: self.threshold,
            noise,
            mde,
            verdict,
        }
    }
}

/// What the paired judgement concluded about one figure so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairedVerdict {
    /// The whole interval is beyond the threshold, worse.
    Regression,
    /// The whole interval is short of the threshold.
    NoRegression,
    /// The interval straddles the threshold and the budget is not spent.
    Pending,
    /// The budget is spent and the interval still straddles the
    /// threshold: this noise cannot tell.
    Inconclusive,
}

impl PairedVerdict {
    /// Words for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PairedVerdict::Regression => "REGRESSION",
            PairedVerdict::NoRegression => "no regression",
            PairedVerdict::Pending => "undecided",
            PairedVerdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// Whether more pairs could still change the answer.
    pub fn is_open(self) -> bool {
        self == PairedVerdict::Pending
    }
}

/// One figure's paired judgement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedJudgement {
    /// What was judged.
    pub metric: Metric,
    /// Usable pairs.
    pub pairs: usize,
    /// The change, candidate over baseline minus one (+0.08 = 8 % higher;
    /// the sign is the figure's, not "worse").
    pub estimate: Option<f64>,
    /// Its interval at the per-look level, in the same terms.
    pub interval: Option<Interval>,
    /// The practical threshold, a fraction (worse by this much).
    pub threshold: f64,
    /// Spread of the within-pair log-ratios (1.4826 × their median
    /// absolute deviation: a standard deviation that one wild pair
    /// cannot inflate).
    pub noise: Option<f64>,
    /// Smallest worse change (a fraction) the plan calls a regression with
    /// its power by the budget, at this noise.
    pub mde: Option<f64>,
    /// The conclusion so far.
    pub verdict: PairedVerdict,
}

/// `+1` when a rise is worse, `−1` when a drop is.
fn worse_sign(metric: Metric) -> f64 {
    match metric.polarity() {
        Polarity::LowerIsBetter => 1.0,
        Polarity::HigherIsBetter => -1.0,
    }
}

fn to_worse(metric: Metric, log_ratio: f64) -> f64 {
    log_ratio * worse_sign(metric)
}

/// The threshold as a log-ratio of the figure (not yet turned to worse).
fn threshold_log(metric: Metric, threshold: f64) -> f64 {
    match metric.polarity() {
        Polarity::LowerIsBetter => (1.0 + threshold).ln(),
        Polarity::HigherIsBetter => (1.0 - threshold).ln(),
    }
}

/// A worse-log value as a worse fraction: `ln 1.1` -> 0.10 for a cost,
/// `−ln 0.9` -> 0.10 for a throughput.
fn from_worse_log(metric: Metric, log: f64) -> f64 {
    match metric.polarity() {
        Polarity::LowerIsBetter => log.exp() - 1.0,
        Polarity::HigherIsBetter => 1.0 - (-log).exp(),
    }
}

/// A worse-log value as the figure's relative change (+0.1 = 10 % higher).
fn relative(metric: Metric, worse_log: f64) -> f64 {
    (worse_log * worse_sign(metric)).exp() - 1.0
}

/// A worse-log interval as a relative change of the figure, low to high.
fn relative_interval(metric: Metric, i: Interval) -> Interval {
    let (a, b) = (relative(metric, i.low), relative(metric, i.high));
    Interval {
        low: a.min(b),
        high: a.max(b),
        confidence: i.confidence,
    }
}

/// Robust spread of `d`: 1.4826 × the median absolute deviation (the
/// standard deviation for normal data); `None` below three values.
fn spread(d: &[f64]) -> Option<f64> {
    if d.len() < 3 {
        return None;
    }
    let centre = median(d)?;
    let deviations: Vec<f64> = d.iter().map(|v| (v - centre).abs()).collect();
    Some(1.4826 * median(&deviations)?)
}

/// Every Walsh average `(d_i + d_j) / 2`, `i ≤ j`, sorted.
fn walsh_averages(d: &[f64]) -> Vec<f64> {
    let mut w = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for (i, a) in d.iter().enumerate() {
        for b in &d[i..] {
            w.push((a + b) / 2.0);
        }
    }
    w.sort_by(f64::total_cmp);
    w
}

/// One-sample Hodges-Lehmann estimate: the median of the Walsh averages
/// (the pseudo-median the signed-rank test asks about). `None` when `d`
/// is empty or not finite.
pub fn walsh_estimate(d: &[f64]) -> Option<f64> {
    if d.iter().any(|v| !v.is_finite()) {
        return None;
    }
    median(&walsh_averages(d))
}

/// The distribution-free interval for the pseudo-median whose one-sided
/// ends are each at level `alpha`: `[W(k), W(N+1−k)]` of the `N` sorted
/// Walsh averages, `k` the largest count with `P(T+ ≤ k−1) < alpha` under
/// the null hypothesis of the signed-rank statistic `T+`. Its lower end
/// is above a value `x` exactly when the one-sided signed-rank test of
/// "the median of `d` exceeds `x`" gives p < alpha (no ties).
///
/// `None` when `d` is empty or not finite, or too short for any interval
/// at this level (`2^-n ≥ alpha`).
pub fn walsh_interval(d: &[f64], alpha: f64) -> Option<Interval> {
    if d.is_empty() || d.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let w = walsh_averages(d);
    let cdf = signed_rank_cdf(d.len());
    let k = cdf.iter().take_while(|&&p| p < alpha).count();
    if k == 0 {
        return None;
    }
    Some(Interval {
        low: w[k - 1],
        high: w[w.len() - k],
        confidence: 1.0 - 2.0 * alpha,
    })
}

/// `P(T+ ≤ t)` for `t = 0..=n(n+1)/2` under the null hypothesis (each
/// rank's sign a fair coin): exact up to [`EXACT_PAIRS_MAX`] pairs, the
/// continuity-corrected normal approximation beyond.
pub fn signed_rank_cdf(n: usize) -> Vec<f64> {
    let total = n * (n + 1) / 2;
    if n <= EXACT_PAIRS_MAX {
        // counts[s] = how many subsets of the ranks 1..=k sum to s.
        let mut counts = vec![0.0f64; total + 1];
        counts[0] = 1.0;
        for rank in 1..=n {
            for s in (rank..=rank * (rank + 1) / 2).rev() {
                counts[s] += counts[s - rank];
            }
        }
        let all = 2f64.powi(n as i32);
        let mut cumulative = 0.0;
        return counts
            .iter()
            .map(|c| {
                cumulative += c;
                cumulative / all
            })
            .collect();
    }
    let (nf, mean) = (n as f64, total as f64 / 2.0);
    let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
    (0..=total)
        .map(|t| normal_cdf((t as f64 + 0.5 - mean) / sd))
        .collect()
}

/// `P(Z ≤ z)` for a standard normal `Z`.
pub fn normal_cdf(z: f64) -> f64 {
    1.0 - crate::rank::upper_tail(z)
}

/// The standard normal quantile: `z` with `P(Z ≤ z) = p`, `0 < p < 1`
/// (Acklam's rational approximation, relative error below 1.2e-9, then
/// one Newton step on [`normal_cdf`]).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let density = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    x - (normal_cdf(x) - p) / density
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded stream of standard normal values (xorshift + Box-Muller),
    /// so the tests see noise without a dependency or flakiness.
    fn normals(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed.max(1);
        let mut uniform = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u, v) = (uniform(), uniform());
                (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect()
    }

    #[test]
    fn the_exact_distribution_matches_the_textbook_table() {
        // n = 10: P(T+ <= 8) = 0.0244, P(T+ <= 10) = 0.0420 (tables of
        // the Wilcoxon signed-rank statistic); symmetric about n(n+1)/4.
        let cdf = signed_rank_cdf(10);
        assert_eq!(cdf.len(), 56);
        assert!((cdf[8] - 0.0244).abs() < 5e-4, "{}", cdf[8]);
        assert!((cdf[10] - 0.0420).abs() < 5e-4, "{}", cdf[10]);
        assert!((cdf[0] - 1.0 / 1024.0).abs() < 1e-15);
        assert!((cdf[55] - 1.0).abs() < 1e-12);
        for t in 0..55 {
            assert!((cdf[t] - (1.0 - cdf[54 - t])).abs() < 1e-12, "t {t}");
        }
        // Past the exact range the approximation agrees where both exist.
        let exact = signed_rank_cdf(EXACT_PAIRS_MAX);
        let n = EXACT_PAIRS_MAX;
        let (mean, sd) = (
            (n * (n + 1)) as f64 / 4.0,
            ((n * (n + 1) * (2 * n + 1)) as f64 / 24.0).sqrt(),
        );
        let t = (mean - 2.0 * sd) as usize;
        let approx = normal_cdf((t as f64 + 0.5 - mean) / sd);
        assert!((exact[t] - approx).abs() < 0.003, "{} {approx}", exact[t]);
        assert_eq!(signed_rank_cdf(60).len(), 60 * 61 / 2 + 1);
    }

    #[test]
    fn the_quantile_inverts_the_cdf() {
        for p in [1e-6, 0.001, 0.01, 0.05, 0.3, 0.5, 0.9, 0.99, 0.999_9] {
            let z = normal_quantile(p);
            assert!((normal_cdf(z) - p).abs() < 1e-7 * p.max(1e-3), "{p}: {z}");
        }
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-4);
        assert!((normal_quantile(0.9) - 1.281_552).abs() < 1e-4);
    }

    #[test]
    fn the_interval_excludes_a_value_exactly_when_the_signed_rank_test_does() {
        // The lower end is above x iff the one-sided exact signed-rank
        // test of "median > x" has p < alpha: p = P(T+ >= t_obs).
        let d: Vec<f64> = normals(7, 12).iter().map(|z| 0.3 + z).collect();
        let alpha = 0.05;
        let interval = walsh_interval(&d, alpha).unwrap();
        let cdf = signed_rank_cdf(d.len());
        for step in -40..40 {
            let x = f64::from(step) * 0.05 + 0.0123;
            let mut by_size: Vec<f64> = d.iter().map(|v| v - x).collect();
            by_size.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
            let t_obs: usize = by_size
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, _)| i + 1)
                .sum();
            let p = if t_obs == 0 {
                1.0
            } else {
                1.0 - cdf[t_obs - 1]
            };
            assert_eq!(interval.low > x, p < alpha, "x {x}: p {p}, {interval:?}");
        }
    }

    #[test]
    fn the_estimate_recovers_a_shift_and_ignores_one_wild_pair() {
        let mut d: Vec<f64> = normals(3, 15).iter().map(|z| 0.1 + 0.01 * z).collect();
        assert!((walsh_estimate(&d).unwrap() - 0.1).abs() < 0.01);
        d[0] = 5.0;
        assert!((walsh_estimate(&d).unwrap() - 0.1).abs() < 0.02);
        assert_eq!(walsh_estimate(&[]), None);
        assert_eq!(walsh_interval(&[0.1, 0.2, 0.3], 0.05), None);
        assert!(walsh_interval(&[0.1, 0.2, 0.3, 0.4, 0.5], 0.05).is_some());
    }

    #[test]
    fn plans_look_at_growing_pair_counts_up_to_the_budget() {
        let plan = Plan::new(0.05, 0.05, 0.9, 8, 40).unwrap();
        assert_eq!(plan.looks, [8, 12, 18, 27, 40]);
        assert!((plan.alpha_per_look() - 0.01).abs() < 1e-12);
        assert_eq!(Plan::new(0.05, 0.05, 0.9, 8, 8).unwrap().looks, [8]);
        // From 4 pairs there would be 7 looks at 0.05 / 7 each, which
        // needs 2^-n < 0.0071: 8 pairs.
        assert!(matches!(
            Plan::new(0.05, 0.05, 0.9, 4, 40),
            Err(PlanError::TooFewPairs { needed: 8, .. })
        ));
        assert!(matches!(
            Plan::new(0.05, 0.05, 0.9, 10, 8),
            Err(PlanError::Budget { .. })
        ));
        assert!(Plan::new(-0.1, 0.05, 0.9, 8, 40).is_err());
        assert!(Plan::new(0.0, 0.05, 0.9, 8, 40).is_ok());
        assert!(Plan::new(0.05, 0.05, 1.0, 8, 40).is_err());
    }

    /// Runs the plan on pairs whose true ratio is `effect` with within-pair
    /// log noise `sigma` and a slow drift common to both halves; the
    /// verdict at the first decisive look, or at the budget.
    fn sequential(
        plan: &Plan,
        metric: Metric,
        effect: f64,
        sigma: f64,
        seed: u64,
    ) -> PairedJudgement {
        let noise = normals(seed, 2 * plan.budget());
        let mut pairs = Vec::new();
        for i in 0..plan.budget() {
            // Drift: the machine gets 40 % slower over the run, for both.
            let base = 10.0 * (1.0 + 0.4 * i as f64 / plan.budget() as f64);
            let b = base * (sigma / 2f64.sqrt() * noise[2 * i]).exp();
            let c = base * effect * (sigma / 2f64.sqrt() * noise[2 * i + 1]).exp();
            pairs.push((b, c));
            let j = plan.judge(metric, &pairs);
            if !j.verdict.is_open() {
                return j;
            }
        }
        unreachable!("the budget always decides")
    }

    #[test]
    fn no_change_passes_a_ten_percent_regression_fails_and_drift_cancels() {
        let plan = Plan::new(0.05, 0.05, 0.9, 8, 60).unwrap();
        let (mut alarms, mut detections) = (0, 0);
        for seed in 1..=50 {
            let aa = sequential(&plan, Metric::CpuUsPerReq, 1.0, 0.06, seed);
            alarms += usize::from(aa.verdict == PairedVerdict::Regression);
            let ab = sequential(&plan, Metric::CpuUsPerReq, 1.10, 0.06, seed + 1000);
            detections += usize::from(ab.verdict == PairedVerdict::Regression);
            assert_ne!(
                ab.verdict,
                PairedVerdict::NoRegression,
                "seed {seed}: {ab:?}"
            );
        }
        assert_eq!(alarms, 0);
        assert!(detections >= 48, "{detections}/50");
    }

    #[test]
    fn throughput_regresses_when_it_falls() {
        let plan = Plan::new(0.05, 0.05, 0.9, 8, 60).unwrap();
        let fell = sequential(&plan, Metric::Qps, 0.85, 0.03, 5);
        assert_eq!(fell.verdict, PairedVerdict::Regression);
        let e = fell.estimate.unwrap();
        assert!((e + 0.15).abs() < 0.03, "{e}");
        let i = fell.interval.unwrap();
        assert!(i.low < e && e < i.high && i.high < -0.05, "{i:?}");
        let rose = sequential(&plan, Metric::Qps, 1.15, 0.03, 6);
        assert_eq!(rose.verdict, PairedVerdict::NoRegression);
    }

    #[test]
    fn a_change_at_the_threshold_in_heavy_noise_is_inconclusive_not_a_coin_flip() {
        let plan = Plan::new(0.05, 0.05, 0.9, 8, 20).unwrap();
        let j = sequential(&plan, Metric::CpuUsPerReq, 1.05, 0.3, 11);
        assert_eq!(j.verdict, PairedVerdict::Inconclusive);
        assert_eq!(j.pairs, 20);
        // Between looks nothing is decided, however clear.
        let clear: Vec<(f64, f64)> = (0..9).map(|_| (10.0, 20.0)).collect();
        assert_eq!(
            plan.judge(Metric::CpuUsPerReq, &clear).verdict,
            PairedVerdict::Pending
        );
        assert_eq!(
            plan.judge(Metric::CpuUsPerReq, &clear[..8]).verdict,
            PairedVerdict::Regression
        );
    }

    #[test]
    fn the_minimum_detectable_effect_is_detected_with_its_power() {
        // At sigma 0.08 over 40 pairs: the stated MDE, then an effect of
        // 1.5 times it is called a regression in nearly every run.
        let plan = Plan::new(0.05, 0.05, 0.9, 8, 40).unwrap();
        let sigma = 0.08;
        let probe: Vec<(f64, f64)> = normals(99, 400)
            .chunks(2)
            .map(|z| {
                (
                    10.0 * (sigma / 2f64.sqrt() * z[0]).exp(),
                    10.0 * (sigma / 2f64.sqrt() * z[1]).exp(),
                )
            })
            .collect();
        let mde = plan.judge(Metric::CpuUsPerReq, &probe[..40]).mde.unwrap();
        assert!(mde > 0.05 && mde < 0.15, "{mde}");
        let at = |effect: f64| {
            (1..=100)
                .filter(|seed| {
                    sequential(&plan, Metric::CpuUsPerReq, effect, sigma, *seed + 500).verdict
                        == PairedVerdict::Regression
                })
                .count()
        };
        assert!(at(1.0 + 1.5 * mde) >= 97);
        // At the MDE itself the power is about as stated (the spread of a
        // 40-pair probe is itself uncertain, so loosely).
        let power = at(1.0 + mde);
        assert!((75..=100).contains(&power), "{power}/100 at {mde}");
    }
}
