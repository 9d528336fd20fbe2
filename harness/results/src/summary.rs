//! Summaries derived from raw trials.

use std::collections::BTreeMap;

use pb_stats::median;

use crate::hist::{self, HistogramDecodeError};
use crate::{Summary, Trial};

impl Summary {
    /// Summarises trials: medians and spread of per-trial figures, latency
    /// from the merged histograms. `None` when there are no trials.
    pub fn from_trials(trials: &[Trial]) -> Result<Option<Summary>, HistogramDecodeError> {
        if trials.is_empty() {
            return Ok(None);
        }
        let merged = hist::merge(trials.iter().map(|t| t.histogram.as_str()))?;
        let uncorrected: Option<Vec<&str>> = trials
            .iter()
            .map(|t| t.histogram_uncorrected.as_deref())
            .collect();
        let latency_uncorrected_us = match uncorrected {
            Some(encoded) => Some(hist::percentiles(&hist::merge(encoded)?)),
            None => None,
        };
        let qps: Vec<f64> = trials.iter().map(|t| t.qps).collect();
        let cpu: Vec<f64> = trials.iter().filter_map(|t| t.cpu_us_per_req).collect();
        let driver: Vec<f64> = trials
            .iter()
            .filter_map(|t| t.driver_cpu_us_per_req)
            .collect();
        let mut errors_by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for trial in trials {
            for (kind, n) in &trial.errors_by_kind {
                *errors_by_kind.entry(kind.clone()).or_default() += n;
            }
        }
        let bound = trials.iter().find(|t| t.driver_bound);
        Ok(Some(Summary {
            qps: median(&qps).unwrap_or(0.0),
            qps_min: qps.iter().copied().fold(f64::INFINITY, f64::min),
            qps_max: qps.iter().copied().fold(0.0, f64::max),
            latency_us: hist::percentiles(&merged),
            latency_uncorrected_us,
            cpu_us_per_req: median(&cpu),
            driver_cpu_us_per_req: median(&driver),
            rss_max_bytes: trials.iter().map(|t| t.rss_max_bytes).max().unwrap_or(0),
            errors: trials.iter().map(|t| t.errors).sum(),
            errors_by_kind,
            driver_bound: bound.is_some(),
            driver_bound_reason: bound.and_then(|t| t.driver_bound_reason.clone()),
            trials: trials.len() as u32,
            kernel: crate::KernelWork::median(
                &trials
                    .iter()
                    .filter_map(|t| t.kernel.as_ref())
                    .collect::<Vec<_>>(),
            ),
        }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Percentiles;

    /// A one-second trial at `qps` that recorded `latencies_ns`.
    pub(crate) fn trial(qps: f64, latencies_ns: &[u64], errors: u64) -> Trial {
        let mut h = crate::hist::new_histogram();
        for &v in latencies_ns {
            h.record(v).unwrap();
        }
        Trial {
            index: 0,
            sequence: 0,
            window_s: 1.0,
            requests: latencies_ns.len() as u64,
            qps,
            errors,
            errors_by_kind: if errors > 0 {
                BTreeMap::from([("mismatch".to_string(), errors)])
            } else {
                BTreeMap::new()
            },
            latency_us: hist::percentiles(&h),
            histogram: hist::encode(&h),
            core_cpu_us: 100.0,
            cpu_us_per_req: Some(qps / 1000.0),
            driver_cpu_us: 50.0,
            driver_cpu_us_per_req: Some(1.0),
            driver_util: 0.5,
            rss_max_bytes: qps as u64,
            driver_bound: false,
            driver_bound_reason: None,
            latency_uncorrected_us: None,
            histogram_uncorrected: None,
            late_driver: 0,
            late_blocked: 0,
            max_lag_us: 0.0,
            intervals: Vec::new(),
            kernel: None,
            driver_kernel: None,
            classes: Vec::new(),
            threads: Vec::new(),
            soak: None,
            start_late_ms: None,
            fleet: None,
        }
    }

    #[test]
    fn medians_spread_and_merged_latency() {
        let trials = [
            trial(300.0, &[1_000; 10], 0),
            trial(100.0, &[1_000; 10], 2),
            trial(200.0, &[100_000; 10], 1),
        ];
        let s = Summary::from_trials(&trials).unwrap().unwrap();
        assert_eq!((s.qps, s.qps_min, s.qps_max), (200.0, 100.0, 300.0));
        assert_eq!(s.cpu_us_per_req, Some(0.2));
        assert_eq!(s.errors, 3);
        assert_eq!(s.errors_by_kind["mismatch"], 3);
        assert_eq!(s.rss_max_bytes, 300);
        // Merged: 20 of 30 samples at 1 µs, 10 at 100 µs.
        let Percentiles { p50, p90, max, .. } = s.latency_us;
        assert!((p50 - 1.0).abs() < 0.01, "{p50}");
        assert!((p90 - 100.0).abs() < 0.1, "{p90}");
        assert!((max - 100.0).abs() < 0.1, "{max}");
    }

    #[test]
    fn no_trials_no_summary() {
        assert_eq!(Summary::from_trials(&[]).unwrap(), None);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
    }
}
