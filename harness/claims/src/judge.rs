//! From trials to a claim's verdict, by `pb-stats`' one rule of
//! "significant" (the gate's and the report's): the claim says which way
//! a figure of one core (`current`) lies from another's (`baseline`), and
//! the rule's judgement of the two trial sets says whether it does.
//!
//! | the claim expects | holds | does not hold | within noise |
//! |---|---|---|---|
//! | [`Expect::Better`] | significantly better, beyond the threshold | significantly worse; or the whole interval within ± the threshold (no difference of the size claimed) | otherwise |
//! | [`Expect::Worse`] | significantly worse, beyond the threshold | the mirror image | otherwise |
//! | [`Expect::NoWorse`] | the interval's worse end below the threshold | significantly worse, beyond it | otherwise |

use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_stats::{Judgement, Metric, MetricRule, Rule, Verdict};

/// What a claim says of `current` relative to `baseline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `current` is better (cheaper, faster).
    Better,
    /// `current` is worse.
    Worse,
    /// `current` costs nothing more than `baseline` (within the threshold).
    NoWorse,
}

/// The rule the claims are judged by: the gate's test and interval, with
/// thresholds of the size the article's claims are about (5 % of CPU or
/// throughput, 25 % of a p99).
pub(crate) fn rule() -> Rule {
    let metric = |threshold| MetricRule {
        enabled: true,
        threshold,
    };
    Rule {
        cpu_us_per_req: metric(0.05),
        latency_p99_us: metric(0.25),
        qps: metric(0.05),
        ..Rule::default()
    }
}

/// One comparison, judged.
#[derive(Debug, Clone)]
pub(crate) struct Compared {
    /// What it says of the claim.
    pub verdict: ClaimVerdict,
    /// The rule's view of the two trial sets.
    pub judgement: Judgement,
}

/// Judges `current` against `baseline` trial values of `metric`.
pub(crate) fn compare(
    metric: Metric,
    expect: Expect,
    baseline: &[f64],
    current: &[f64],
) -> Compared {
    let judgement = rule().judge(metric, baseline, current);
    let threshold = judgement.threshold;
    // The interval turned so that its ends read "how much worse".
    let worse = judgement.interval.map(|i| {
        let (a, b) = (metric.worse_by(i.low), metric.worse_by(i.high));
        (a.min(b), a.max(b))
    });
    let within = |(low, high): (f64, f64)| low > -threshold && high < threshold;
    let worse_change = metric.worse_by(judgement.change);
    let significantly_better = judgement.p_better < rule().alpha && worse_change < 0.0;
    let significantly_worse = judgement.p_worse < rule().alpha && worse_change > 0.0;
    let verdict = match (expect, judgement.verdict) {
        (_, Verdict::TooFewTrials) => ClaimVerdict::CannotTest,
        (Expect::Better, Verdict::Improvement) | (Expect::Worse, Verdict::Regression) => {
            ClaimVerdict::Holds
        }
        (Expect::Better, _) if significantly_worse => ClaimVerdict::DoesNotHold,
        (Expect::Worse, _) if significantly_better => ClaimVerdict::DoesNotHold,
        (Expect::Better | Expect::Worse, _) if worse.is_some_and(within) => {
            ClaimVerdict::DoesNotHold
        }
        (Expect::NoWorse, Verdict::Regression) => ClaimVerdict::DoesNotHold,
        (Expect::NoWorse, _) if worse.is_some_and(|(_, high)| high < threshold) => {
            ClaimVerdict::Holds
        }
        _ => ClaimVerdict::WithinNoise,
    };
    Compared { verdict, judgement }
}

impl Compared {
    /// The comparison as a ledger figure: the relative shift in percent
    /// with its interval.
    pub(crate) fn figure(&self, label: impl Into<String>, deciding: bool) -> ClaimFigure {
        let j = &self.judgement;
        ClaimFigure {
            label: label.into(),
            value: j.change * 100.0,
            unit: "%".into(),
            interval: j.interval.map(|i| [i.low * 100.0, i.high * 100.0]),
            deciding,
        }
    }

    /// `monoio vs tokio-tower: core CPU µs/req -12.3 % [-15.1 … -9.8 %]
    /// (medians 10.1 vs 11.5)`.
    pub(crate) fn sentence(&self, current: &str, baseline: &str) -> String {
        let j = &self.judgement;
        format!(
            "{current} vs {baseline}: {} {} [{}] (medians {} vs {}; {} trials)",
            j.metric.label(),
            j.change_text(),
            j.interval_text(),
            pb_stats::fmt::figure(j.metric, j.current_median),
            pb_stats::fmt::figure(j.metric, j.baseline_median),
            j.trials_text()
        )
    }
}

/// Several comparisons that must all go the claim's way: holds when all
/// hold, does not hold when any does not, cannot be tested when any
/// cannot, within noise otherwise.
pub(crate) fn all_of(verdicts: impl IntoIterator<Item = ClaimVerdict>) -> ClaimVerdict {
    let verdicts: Vec<ClaimVerdict> = verdicts.into_iter().collect();
    if verdicts.contains(&ClaimVerdict::CannotTest) || verdicts.is_empty() {
        ClaimVerdict::CannotTest
    } else if verdicts.contains(&ClaimVerdict::DoesNotHold) {
        ClaimVerdict::DoesNotHold
    } else if verdicts.iter().all(|v| *v == ClaimVerdict::Holds) {
        ClaimVerdict::Holds
    } else {
        ClaimVerdict::WithinNoise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn around(center: f64) -> Vec<f64> {
        [-0.02, -0.01, 0.0, 0.01, 0.02]
            .iter()
            .map(|d| center * (1.0 + d))
            .collect()
    }

    #[test]
    fn a_clear_difference_decides_either_way() {
        let (base, cheaper, dearer) = (around(10.0), around(8.0), around(12.0));
        let cpu = Metric::CpuUsPerReq;
        assert_eq!(
            compare(cpu, Expect::Better, &base, &cheaper).verdict,
            ClaimVerdict::Holds
        );
        assert_eq!(
            compare(cpu, Expect::Better, &base, &dearer).verdict,
            ClaimVerdict::DoesNotHold
        );
        assert_eq!(
            compare(cpu, Expect::Worse, &base, &dearer).verdict,
            ClaimVerdict::Holds
        );
        assert_eq!(
            compare(cpu, Expect::NoWorse, &base, &dearer).verdict,
            ClaimVerdict::DoesNotHold
        );
        // Throughput: higher is better.
        assert_eq!(
            compare(Metric::Qps, Expect::Better, &base, &dearer).verdict,
            ClaimVerdict::Holds
        );
    }

    #[test]
    fn no_difference_of_the_claimed_size_is_not_a_holding_claim() {
        let base = around(10.0);
        let same = around(10.05);
        let compared = compare(Metric::CpuUsPerReq, Expect::Better, &base, &same);
        assert_eq!(compared.verdict, ClaimVerdict::DoesNotHold);
        assert_eq!(
            compare(Metric::CpuUsPerReq, Expect::NoWorse, &base, &same).verdict,
            ClaimVerdict::Holds
        );
        let text = compared.sentence("a", "b");
        assert!(text.starts_with("a vs b: core CPU µs/req +"), "{text}");
    }

    #[test]
    fn wide_trials_are_within_noise_and_few_cannot_decide() {
        let base = [10.0, 5.0, 15.0, 8.0, 12.0];
        let other = [11.0, 4.0, 17.0, 9.0, 13.0];
        assert_eq!(
            compare(Metric::CpuUsPerReq, Expect::Better, &base, &other).verdict,
            ClaimVerdict::WithinNoise
        );
        assert_eq!(
            compare(Metric::CpuUsPerReq, Expect::Better, &base[..3], &other[..3]).verdict,
            ClaimVerdict::CannotTest
        );
    }

    #[test]
    fn all_of_needs_every_part() {
        use ClaimVerdict::*;
        assert_eq!(all_of([Holds, Holds]), Holds);
        assert_eq!(all_of([Holds, WithinNoise]), WithinNoise);
        assert_eq!(all_of([Holds, DoesNotHold, WithinNoise]), DoesNotHold);
        assert_eq!(all_of([Holds, CannotTest]), CannotTest);
    }
}
