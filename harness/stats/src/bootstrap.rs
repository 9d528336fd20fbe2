//! A percentile bootstrap, for statistics of several independent samples
//! that no rank-based interval covers (an interaction: a difference of
//! differences between four groups of trials).
//!
//! Resampling is deterministic: the generator is seeded, so the same
//! trials give the same interval on every run and in every output.

use crate::shift::Interval;

/// The fewest values a sample may have for a bootstrap interval: below
/// it, resamples repeat a handful of values and the percentiles mean
/// little.
pub const MIN_SAMPLE: usize = 5;

/// How many resamples [`bootstrap_interval`] draws.
pub const RESAMPLES: usize = 2000;

/// The `[alpha, 1 − alpha]` percentile interval of `statistic` over
/// [`RESAMPLES`] resamples (each sample resampled with replacement, on
/// its own). `None` when a sample has fewer than [`MIN_SAMPLE`] values or
/// a value that is not finite, or when the statistic is undefined on too
/// many resamples.
pub fn bootstrap_interval(
    samples: &[&[f64]],
    statistic: impl Fn(&[&[f64]]) -> Option<f64>,
    alpha: f64,
) -> Option<Interval> {
    if samples
        .iter()
        .any(|s| s.len() < MIN_SAMPLE || s.iter().any(|v| !v.is_finite()))
    {
        return None;
    }
    let mut rng = SplitMix64(0x5eed_5eed_b007_57a9);
    let mut drawn: Vec<Vec<f64>> = samples
        .iter()
        .map(|s| Vec::with_capacity(s.len()))
        .collect();
    let mut values = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for (sample, out) in samples.iter().zip(&mut drawn) {
            out.clear();
            out.extend((0..sample.len()).map(|_| sample[rng.below(sample.len())]));
        }
        let views: Vec<&[f64]> = drawn.iter().map(Vec::as_slice).collect();
        if let Some(v) = statistic(&views).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.len() < RESAMPLES / 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some(Interval {
        low: at(alpha),
        high: at(1.0 - alpha),
        confidence: 1.0 - 2.0 * alpha,
    })
}

/// Steele, Lea and Flood's SplitMix64: small, fast, and good enough to
/// pick resample indices.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias for the
    /// small `n` of a trial count is far below anything measurable).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::median;

    fn shift_of_medians(s: &[&[f64]]) -> Option<f64> {
        Some(median(s[1])? - median(s[0])?)
    }

    #[test]
    fn separated_samples_give_an_interval_that_excludes_zero_and_is_repeatable() {
        let a = [10.0, 10.2, 9.9, 10.1, 10.3, 9.8];
        let b = [12.0, 12.1, 11.9, 12.3, 12.2, 11.8];
        let i = bootstrap_interval(&[&a, &b], shift_of_medians, 0.025).unwrap();
        assert!(i.low > 1.0 && i.high < 3.0, "{i:?}");
        assert_eq!(
            bootstrap_interval(&[&a, &b], shift_of_medians, 0.025),
            Some(i)
        );
    }

    #[test]
    fn overlapping_samples_cover_zero() {
        let a = [10.0, 11.0, 9.0, 10.5, 9.5, 10.2];
        let b = [10.1, 9.2, 10.9, 9.6, 10.4, 10.0];
        let i = bootstrap_interval(&[&a, &b], shift_of_medians, 0.025).unwrap();
        assert!(i.low < 0.0 && i.high > 0.0, "{i:?}");
    }

    #[test]
    fn small_or_broken_samples_give_no_interval() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(bootstrap_interval(&[&a, &b], shift_of_medians, 0.025), None);
        let c = [1.0, 2.0, f64::NAN, 4.0, 5.0];
        assert_eq!(bootstrap_interval(&[&b, &c], shift_of_medians, 0.025), None);
    }
}
