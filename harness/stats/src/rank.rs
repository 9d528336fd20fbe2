//! The significance test of [`crate::rule`]: a one-sided Mann-Whitney U (Wilcoxon rank-sum)
//! test of "the current trials tend to be larger (or smaller) than the
//! baseline's".
//!
//! Why this test: trial figures are few (5 to 20 a side), not normal
//! (latency percentiles are skewed, a noisy neighbour makes outliers) and
//! only their order is trustworthy. A rank test assumes neither normality
//! nor equal variances and one outlier trial moves it by one rank at most.
//!
//! How the p-value is computed:
//! - **Exact** when both samples together hold at most [`EXACT_MAX`]
//!   values: the permutation distribution of the current sample's rank sum,
//!   *conditional on the ties present* (tied values get their mid-rank), is
//!   counted exactly over all `C(m+n, m)` ways to split the pooled values.
//!   With no ties this is the classic exact Mann-Whitney distribution; with
//!   ties (percentiles from the same histogram bucket) it stays exact
//!   instead of falling back to an approximation at the sizes we use.
//! - **Normal approximation** beyond that, with the tie correction of the
//!   variance, `var = m·n/12 · ((N+1) − Σ(t³−t) / (N(N−1)))`, and a
//!   continuity correction of 0.5.
//!
//! The smallest p-value an exact test can give is `1 / C(m+n, m)`: 1/252
//! with 5 trials a side, which is why fewer than 5 trials a side cannot
//! pass a 1 % significance level (see [`min_p_value`]).

use std::cmp::Ordering;

/// Largest pooled sample (`m + n`) for which the p-value is counted
/// exactly; the counts stay below 2^53, so they are exact in `f64` too.
pub const EXACT_MAX: usize = 50;

/// Which way the current sample is suspected to have moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    /// Current values tend to be larger than the baseline's.
    Greater,
    /// Current values tend to be smaller than the baseline's.
    Less,
}

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Exact permutation distribution of the rank sum (ties kept).
    Exact,
    /// Normal approximation with tie and continuity corrections.
    Normal,
}

impl Method {
    /// `exact` or `normal`, for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Normal => "normal",
        }
    }
}

/// Outcome of a one-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    /// U of the current sample: pairs (baseline b, current c) with c > b,
    /// plus half the tied pairs. Ranges over `0..=m·n`.
    pub u_current: f64,
    /// Probability, if both samples came from one distribution, of a U at
    /// least this far in the suspected direction.
    pub p_value: f64,
    /// How `p_value` was computed.
    pub method: Method,
}

/// Samples the test cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// One side has no values.
    #[error("the {side} sample is empty")]
    Empty {
        /// `baseline` or `current`.
        side: &'static str,
    },
    /// A value is NaN or infinite.
    #[error("the {side} sample holds a value that is not a finite number")]
    NotFinite {
        /// `baseline` or `current`.
        side: &'static str,
    },
}

fn check(sample: &[f64], side: &'static str) -> Result<(), StatsError> {
    if sample.is_empty() {
        return Err(StatsError::Empty { side });
    }
    if sample.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite { side });
    }
    Ok(())
}

/// `C(n, k)` as `f64` (exact below 2^53).
fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The smallest p-value a one-sided exact test can reach with `m` and `n`
/// values a side (no ties): `1 / C(m+n, m)`.
pub fn min_p_value(m: usize, n: usize) -> f64 {
    1.0 / binomial(m + n, m).round()
}

/// One-sided Mann-Whitney U test of `current` against `baseline`.
pub fn mann_whitney(
    baseline: &[f64],
    current: &[f64],
    alternative: Alternative,
) -> Result<TestResult, StatsError> {
    check(baseline, "baseline")?;
    check(current, "current")?;
    let (m, n) = (current.len(), baseline.len());
    let total = m + n;

    // Pool, sort, and give every value its doubled mid-rank (an integer:
    // a tie group over 1-based ranks i..=j gets i + j).
    let mut pooled: Vec<(f64, bool)> = current
        .iter()
        .map(|&v| (v, true))
        .chain(baseline.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    let mut doubled = vec![0usize; total];
    let mut tie_term = 0.0; // Σ (t³ − t) over tie groups
    let mut i = 0;
    while i < total {
        let mut j = i;
        while j + 1 < total && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        for rank in &mut doubled[i..=j] {
            *rank = (i + 1) + (j + 1);
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let w2_current: usize = pooled
        .iter()
        .zip(&doubled)
        .filter(|((_, is_current), _)| *is_current)
        .map(|(_, r)| *r)
        .sum();
    // U = W − m(m+1)/2, with W the (undoubled) rank sum.
    let u_current = w2_current as f64 / 2.0 - (m * (m + 1)) as f64 / 2.0;

    if total <= EXACT_MAX {
        let p_value = exact_p(&doubled, m, w2_current, alternative);
        return Ok(TestResult {
            u_current,
            p_value,
            method: Method::Exact,
        });
    }

    let (mf, nf, nt) = (m as f64, n as f64, total as f64);
    let mean = mf * nf / 2.0;
    let var = mf * nf / 12.0 * ((nt + 1.0) - tie_term / (nt * (nt - 1.0)));
    let p_value = if var <= 0.0 {
        1.0 // every value equal: no evidence either way
    } else {
        let sd = var.sqrt();
        match alternative {
            Alternative::Greater => upper_tail((u_current - mean - 0.5) / sd),
            Alternative::Less => upper_tail((mean - u_current - 0.5) / sd),
        }
    };
    Ok(TestResult {
        u_current,
        p_value: p_value.clamp(0.0, 1.0),
        method: Method::Normal,
    })
}

/// Exact one-sided p-value: the share of all size-`m` subsets of the pooled
/// ranks whose (doubled) rank sum is at least (`Greater`) or at most
/// (`Less`) the observed one.
fn exact_p(doubled: &[usize], m: usize, observed: usize, alternative: Alternative) -> f64 {
    let counts = rank_sum_counts(doubled, m);
    let all: f64 = counts.iter().sum();
    let tail: f64 = match alternative {
        Alternative::Greater => counts[observed..].iter().sum(),
        Alternative::Less => counts[..=observed].iter().sum(),
    };
    (tail / all).clamp(0.0, 1.0)
}

/// `counts[s]`: how many size-`m` subsets of `doubled` (doubled ranks)
/// have doubled rank sum `s`.
fn rank_sum_counts(doubled: &[usize], m: usize) -> Vec<f64> {
    let max_sum: usize = doubled.iter().sum();
    // counts[k][s]: subsets of size k with doubled rank sum s.
    let mut counts = vec![vec![0.0f64; max_sum + 1]; m + 1];
    counts[0][0] = 1.0;
    let mut reach = 0; // largest sum reachable so far
    for &rank in doubled {
        reach += rank;
        for k in (1..=m).rev() {
            let (lower, upper) = counts.split_at_mut(k);
            let (from, to) = (&lower[k - 1], &mut upper[0]);
            for s in (rank..=reach.min(max_sum)).rev() {
                to[s] += from[s - rank];
            }
        }
    }
    counts.swap_remove(m)
}

/// `P(U ≤ u)` under the null hypothesis for `m` current and `n` baseline
/// values without ties, for `u = 0..=m·n`: exact up to [`EXACT_MAX`]
/// pooled values, the continuity-corrected normal approximation beyond.
/// The interval of [`crate::shift`] reads its critical value here, so
/// interval and test share one null distribution.
pub(crate) fn u_cdf(m: usize, n: usize) -> Vec<f64> {
    let (total, mn) = (m + n, m * n);
    if total <= EXACT_MAX {
        // Ranks 1..=N doubled; U = W2/2 − m(m+1)/2.
        let doubled: Vec<usize> = (1..=total).map(|r| 2 * r).collect();
        let counts = rank_sum_counts(&doubled, m);
        let all: f64 = counts.iter().sum();
        let offset = m * (m + 1);
        let mut acc = 0.0;
        return (0..=mn)
            .map(|u| {
                acc += counts.get(2 * u + offset).copied().unwrap_or(0.0);
                (acc / all).clamp(0.0, 1.0)
            })
            .collect();
    }
    let (mf, nf) = (m as f64, n as f64);
    let sd = (mf * nf * (mf + nf + 1.0) / 12.0).sqrt();
    (0..=mn)
        .map(|u| upper_tail((mf * nf / 2.0 - u as f64 - 0.5) / sd))
        .collect()
}

/// `P(Z ≥ z)` for a standard normal `Z`.
pub(crate) fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function, Abramowitz & Stegun 7.1.26 (absolute
/// error below 1.5e-7, plenty next to a significance level of 0.01).
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fully_separated_five_a_side_gives_the_smallest_exact_p() {
        let base = [10.0, 11.0, 12.0, 13.0, 14.0];
        let cur = [20.0, 21.0, 22.0, 23.0, 24.0];
        let r = mann_whitney(&base, &cur, Alternative::Greater).unwrap();
        assert_eq!(r.method, Method::Exact);
        assert_eq!(r.u_current, 25.0);
        assert!((r.p_value - 1.0 / 252.0).abs() < 1e-12, "{}", r.p_value);
        assert!((min_p_value(5, 5) - 1.0 / 252.0).abs() < 1e-15);
        // The other direction is as unlikely as possible to be "less".
        let r = mann_whitney(&base, &cur, Alternative::Less).unwrap();
        assert!((r.p_value - 1.0).abs() < 1e-12);
    }

    #[test]
    fn exact_distribution_matches_the_textbook_table() {
        // m = n = 5: the arrangements with U = u are the partitions of u
        // into at most 5 parts of at most 5: u = 0..=4 -> 1, 1, 2, 3, 5,
        // so P(U <= 4) = 12/252.
        let base = [5.0, 6.0, 7.0, 8.0, 10.0];
        let cur = [1.0, 2.0, 3.0, 4.0, 9.0]; // U_current = 4 (9 beats 5, 6, 7, 8)
        let r = mann_whitney(&base, &cur, Alternative::Less).unwrap();
        assert_eq!(r.u_current, 4.0);
        assert!((r.p_value - 12.0 / 252.0).abs() < 1e-12, "{}", r.p_value);
    }

    #[test]
    fn ties_use_mid_ranks_and_stay_exact() {
        let base = [1.0, 2.0, 2.0, 3.0, 3.0];
        let cur = [3.0, 3.0, 4.0, 4.0, 5.0];
        let r = mann_whitney(&base, &cur, Alternative::Greater).unwrap();
        assert_eq!(r.method, Method::Exact);
        // Pairs c > b: 3 beats 1,2,2 (x2 = 6), 4 and 5 beat all 5 (x3 = 15);
        // ties: each 3 in cur ties two 3s in base: 4 ties -> 2.
        assert_eq!(r.u_current, 23.0);
        assert!(r.p_value < 0.05 && r.p_value > 1.0 / 252.0, "{}", r.p_value);
    }

    #[test]
    fn identical_samples_give_no_evidence() {
        let v = [7.0; 6];
        for alt in [Alternative::Greater, Alternative::Less] {
            let r = mann_whitney(&v, &v, alt).unwrap();
            assert!((r.p_value - 1.0).abs() < 1e-12, "{alt:?}: {}", r.p_value);
        }
        let big = vec![7.0; 40];
        let r = mann_whitney(&big, &big, Alternative::Greater).unwrap();
        assert_eq!(r.method, Method::Normal);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn normal_approximation_agrees_with_exact_at_moderate_sizes() {
        // 25 a side, no ties, a moderate shift: the exact tail and the
        // normal formula (continuity-corrected) agree to within 0.005.
        let base: Vec<f64> = (0..25).map(f64::from).collect();
        let cur: Vec<f64> = (0..25).map(|i| f64::from(i) + 6.5).collect();
        let exact = mann_whitney(&base, &cur, Alternative::Greater).unwrap();
        assert_eq!(exact.method, Method::Exact);
        let (m, n) = (25.0f64, 25.0f64);
        let sd = (m * n * (m + n + 1.0) / 12.0).sqrt();
        let z = (exact.u_current - m * n / 2.0 - 0.5) / sd;
        assert!(
            (upper_tail(z) - exact.p_value).abs() < 0.005,
            "{} vs {}",
            upper_tail(z),
            exact.p_value
        );
        // Past EXACT_MAX the normal path is taken and still sees the shift.
        let base: Vec<f64> = (0..30).map(f64::from).collect();
        let cur: Vec<f64> = (0..30).map(|i| f64::from(i) + 8.0).collect();
        let normal = mann_whitney(&base, &cur, Alternative::Greater).unwrap();
        assert_eq!(normal.method, Method::Normal);
        assert!(normal.p_value < 0.05, "{}", normal.p_value);
    }

    #[test]
    fn erfc_is_accurate_enough() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((upper_tail(-1.959_964) - 0.975).abs() < 1e-6);
        assert!((upper_tail(3.090_232) - 0.001).abs() < 1e-6);
    }

    #[test]
    fn refuses_empty_and_non_finite_samples() {
        assert_eq!(
            mann_whitney(&[], &[1.0], Alternative::Greater).unwrap_err(),
            StatsError::Empty { side: "baseline" }
        );
        assert_eq!(
            mann_whitney(&[1.0], &[f64::NAN], Alternative::Greater).unwrap_err(),
            StatsError::NotFinite { side: "current" }
        );
    }

    #[test]
    fn the_null_distribution_matches_the_test() {
        // m = n = 5 without ties: P(U <= 4) = 12/252 (see above), and the
        // CDF agrees with the test's own exact tail at every u.
        let cdf = u_cdf(5, 5);
        assert_eq!(cdf.len(), 26);
        assert!((cdf[4] - 12.0 / 252.0).abs() < 1e-12, "{}", cdf[4]);
        assert!((cdf[0] - 1.0 / 252.0).abs() < 1e-12);
        assert!((cdf[25] - 1.0).abs() < 1e-12);
        // Past EXACT_MAX the normal CDF is monotone and centred on mn/2.
        let big = u_cdf(30, 30);
        assert!(big.windows(2).all(|w| w[0] <= w[1]));
        assert!((big[450] - 0.5).abs() < 0.01, "{}", big[450]);
    }
}
