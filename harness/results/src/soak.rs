//! The soak verdict: whether a core held steady over a long trial at a
//! fixed rate. A leak is slow, so it is judged on the trial's per-interval
//! resource samples ([`IntervalPoint::resources`]), not on one figure at
//! the end, and against the state right after warm-up, not the empty
//! process: pools, buffers and allocator arenas fill during warm-up and
//! are not a leak.

use serde::{Deserialize, Serialize};

use crate::{IntervalPoint, Resources, Trial};

/// RSS may grow this much over the measured window (from its first sample
/// to its last) before the soak fails: more than allocator noise, far less
/// than a leak of a few bytes per request over minutes.
pub const RSS_GROWTH_LIMIT: f64 = 0.05;

/// Descriptors the last quarter's floor may exceed the first quarter's
/// peak by (or [`FDS_SLACK_SHARE`] of it, whichever is more): an upstream
/// pool reaching a new high-water mark in a burst opens a connection or
/// two and keeps them, which is not a leak; one descriptor lost per
/// 100 000 requests, 12 over ten minutes at 2000 req/s, is.
pub const FDS_SLACK: u64 = 2;

/// The share of descriptors the same slack is at least.
pub const FDS_SLACK_SHARE: f64 = 0.02;

/// Fewest samples a timeline needs to be judged: with fewer, a first and
/// a last quarter are not apart enough to show a trend.
pub const MIN_SAMPLES: usize = 8;

/// What the soak found in one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakVerdict {
    /// Resource samples judged (one per interval).
    pub samples: usize,
    /// Median RSS over the first quarter of the samples, bytes.
    pub rss_first_bytes: u64,
    /// Median RSS over the last quarter, bytes.
    pub rss_last_bytes: u64,
    /// `rss_last / rss_first - 1`.
    pub rss_growth: f64,
    /// Most descriptors open at a sample of the first quarter: what the
    /// core held at its busiest after warm-up (its pools grown).
    pub fds_first_quarter: u64,
    /// Fewest descriptors open at a sample of the last quarter: what it
    /// holds however quiet, which a leak raises.
    pub fds_last_quarter: u64,
    /// Failures of any kind in the trial.
    pub errors: u64,
    /// Every rule held.
    pub passed: bool,
    /// The rules that failed, in words; empty when passed.
    pub reasons: Vec<String>,
}

/// Judges `trial`'s timeline, or says why it cannot be judged. The rules,
/// each on a quarter of the samples rather than one, so a sample taken
/// in a burst decides nothing: RSS grows less than [`RSS_GROWTH_LIMIT`]
/// from the first quarter's median to the last's; the descriptor count
/// is flat (the last quarter's floor is at most [`FDS_SLACK`] above the
/// first quarter's peak: connections in flight come and go between the
/// two, a pool grows to its high-water mark early, and only a leak lifts
/// the floor past the early peak); and no request failed.
pub fn judge(trial: &Trial) -> Result<SoakVerdict, String> {
    let samples: Vec<Resources> = trial
        .intervals
        .iter()
        .filter_map(|p: &IntervalPoint| p.resources)
        .collect();
    if samples.len() < MIN_SAMPLES {
        return Err(format!(
            "{} resource samples, a soak needs at least {MIN_SAMPLES} (a longer window, or a core proxybench starts)",
            samples.len()
        ));
    }
    let quarter = samples.len() / 4;
    let (head, tail) = (&samples[..quarter], &samples[samples.len() - quarter..]);
    let floor = |s: &[Resources]| s.iter().map(|r| r.fds).min().unwrap_or(0);
    let peak = |s: &[Resources]| s.iter().map(|r| r.fds).max().unwrap_or(0);
    let median = |s: &[Resources]| {
        let mut rss: Vec<u64> = s.iter().map(|r| r.rss_bytes).collect();
        rss.sort_unstable();
        rss[rss.len() / 2]
    };
    let (fds_first_quarter, fds_last_quarter) = (peak(head), floor(tail));
    let (rss_first_bytes, rss_last_bytes) = (median(head), median(tail));
    let rss_growth = rss_last_bytes as f64 / rss_first_bytes.max(1) as f64 - 1.0;
    let mut reasons = Vec::new();
    if rss_growth >= RSS_GROWTH_LIMIT {
        reasons.push(format!(
            "RSS grew {:.1} % over the window ({} -> {} KiB), the limit is {:.0} %",
            rss_growth * 100.0,
            rss_first_bytes >> 10,
            rss_last_bytes >> 10,
            RSS_GROWTH_LIMIT * 100.0
        ));
    }
    let slack = FDS_SLACK.max((fds_first_quarter as f64 * FDS_SLACK_SHARE) as u64);
    if fds_last_quarter > fds_first_quarter + slack {
        reasons.push(format!(
            "open descriptors climbed: at most {fds_first_quarter} in the first quarter, never fewer than {fds_last_quarter} in the last (more than {slack} up)"
        ));
    }
    if trial.errors > 0 {
        reasons.push(format!(
            "{} failed requests: {:?}",
            trial.errors, trial.errors_by_kind
        ));
    }
    Ok(SoakVerdict {
        samples: samples.len(),
        rss_first_bytes,
        rss_last_bytes,
        rss_growth,
        fds_first_quarter,
        fds_last_quarter,
        errors: trial.errors,
        passed: reasons.is_empty(),
        reasons,
    })
}

impl SoakVerdict {
    /// A failed verdict for a trial that could not be judged, `reason`
    /// saying why.
    pub fn unjudged(trial: &Trial, reason: String) -> SoakVerdict {
        SoakVerdict {
            samples: 0,
            rss_first_bytes: 0,
            rss_last_bytes: 0,
            rss_growth: 0.0,
            fds_first_quarter: 0,
            fds_last_quarter: 0,
            errors: trial.errors,
            passed: false,
            reasons: vec![reason],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trial whose intervals sampled `samples` (RSS KiB, descriptors).
    fn trial(samples: &[(u64, u64)], errors: u64) -> Trial {
        let h = crate::hist::new_histogram();
        let point = |&(rss_kib, fds): &(u64, u64)| IntervalPoint {
            start_s: 0.0,
            length_s: 1.0,
            requests: 0,
            qps: 0.0,
            latency_us: crate::hist::percentiles(&h),
            histogram: crate::hist::encode(&h),
            origins: Default::default(),
            resources: Some(Resources {
                rss_bytes: rss_kib << 10,
                fds,
                sockets: fds - 5,
            }),
        };
        let mut trial = crate::summary::tests::trial(0.0, &[], errors);
        trial.intervals = samples.iter().map(point).collect();
        trial
    }

    #[test]
    fn a_steady_timeline_holds() {
        let v = judge(&trial(&[(10_000, 60); 20], 0)).unwrap();
        assert!(v.passed && v.reasons.is_empty(), "{v:?}");
        assert_eq!((v.samples, v.rss_growth), (20, 0.0));
    }

    /// 20 samples: the last quarter's five at `last`, the rest at `first`.
    fn quarters(first: (u64, u64), last: (u64, u64)) -> Vec<(u64, u64)> {
        let mut samples = vec![first; 20];
        samples[15..].fill(last);
        samples
    }

    #[test]
    fn each_rule_fails_alone_at_its_edge() {
        // RSS: 4.9 % holds, 5 % fails.
        let held = quarters((10_000, 60), (10_490, 60));
        assert!(judge(&trial(&held, 0)).unwrap().passed);
        let v = judge(&trial(&quarters((10_000, 60), (10_500, 60)), 0)).unwrap();
        assert!(
            !v.passed && v.reasons[0].starts_with("RSS grew 5.0 %"),
            "{v:?}"
        );
        // One sample in a burst decides nothing: medians and floors hold.
        let mut burst = quarters((10_000, 60), (10_000, 60));
        burst[19] = (20_000, 90);
        assert!(judge(&trial(&burst, 0)).unwrap().passed);
        // Descriptors: a floor two up holds (a pool's new connections),
        // three up fails; a dip in the middle does not matter, nor do
        // connections in flight at a last-quarter sample, nor a pool that
        // kept growing while the first quarter's peak already showed it.
        let mut samples = quarters((10_000, 60), (10_000, 62));
        samples[8].1 = 40;
        samples[17].1 = 90;
        assert!(judge(&trial(&samples, 0)).unwrap().passed);
        let mut growing = quarters((10_000, 40), (10_000, 70));
        growing[3].1 = 70;
        assert!(judge(&trial(&growing, 0)).unwrap().passed);
        let v = judge(&trial(&quarters((10_000, 60), (10_000, 63)), 0)).unwrap();
        assert!(!v.passed && v.reasons.len() == 1, "{v:?}");
        assert!(
            v.reasons[0].starts_with("open descriptors climbed"),
            "{v:?}"
        );
        // Any failed request.
        let v = judge(&trial(&[(10_000, 60); 20], 1)).unwrap();
        assert!(!v.passed && v.reasons[0].starts_with("1 failed"), "{v:?}");
    }

    #[test]
    fn a_short_or_unsampled_timeline_is_not_judged() {
        let err = judge(&trial(&[(10_000, 60); 7], 0)).unwrap_err();
        assert!(err.starts_with("7 resource samples"), "{err}");
        let mut unsampled = trial(&[(10_000, 60); 20], 0);
        for p in &mut unsampled.intervals {
            p.resources = None;
        }
        assert!(judge(&unsampled).is_err());
        let v = SoakVerdict::unjudged(&unsampled, "why".into());
        assert!(!v.passed && v.reasons == ["why"]);
    }
}
