//! The figures the gate judges, where each comes from in a trial, and
//! which direction is worse.

use std::fmt;

use pb_results::Trial;

/// A per-trial figure the gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Core CPU time per completed request, µs (`trials[].cpu_us_per_req`).
    /// The fairest figure on a small machine: higher is worse.
    CpuUsPerReq,
    /// 99th percentile latency of the trial, µs (`trials[].latency_us.p99`):
    /// higher is worse.
    LatencyP99Us,
    /// Verified requests per second (`trials[].qps`): lower is worse.
    Qps,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 3] = [Metric::CpuUsPerReq, Metric::LatencyP99Us, Metric::Qps];

    /// Name in the policy file and in machine-readable output.
    pub fn key(self) -> &'static str {
        match self {
            Metric::CpuUsPerReq => "cpu_us_per_req",
            Metric::LatencyP99Us => "latency_p99_us",
            Metric::Qps => "qps",
        }
    }

    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Metric::CpuUsPerReq => "cpu µs/req",
            Metric::LatencyP99Us => "p99 µs",
            Metric::Qps => "req/s",
        }
    }

    /// Whether a larger value is a regression (false: a smaller one is).
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::Qps)
    }

    /// The figure in one trial; `None` when the trial has none (no
    /// completed requests, so no CPU per request).
    pub fn of(self, trial: &Trial) -> Option<f64> {
        match self {
            Metric::CpuUsPerReq => trial.cpu_us_per_req,
            Metric::LatencyP99Us => Some(trial.latency_us.p99),
            Metric::Qps => Some(trial.qps),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
