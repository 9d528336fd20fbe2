//! The figures proxybench judges across runs and cores, and which way is
//! better for each, stated once ([`Metric::polarity`]). The gate's
//! policy keys, the report's columns and the significance test's
//! direction all come from here.

use std::fmt;

/// Which direction of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    /// Smaller is better: a rise is a regression (cost, latency).
    LowerIsBetter,
    /// Larger is better: a drop is a regression (throughput).
    HigherIsBetter,
}

/// A per-trial figure that is compared between runs or cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Core CPU time per completed request, µs (`trials[].cpu_us_per_req`):
    /// the fairest figure on a small machine, since it holds when the
    /// driver is the limit.
    CpuUsPerReq,
    /// 99th percentile latency of the trial, µs (`trials[].latency_us.p99`).
    LatencyP99Us,
    /// Verified requests per second (`trials[].qps`).
    Qps,
}

impl Metric {
    /// Every metric, in table order (the headline first).
    pub const ALL: [Metric; 3] = [Metric::CpuUsPerReq, Metric::LatencyP99Us, Metric::Qps];

    /// Name in the gate's policy file and in machine-readable output.
    pub fn key(self) -> &'static str {
        match self {
            Metric::CpuUsPerReq => "cpu_us_per_req",
            Metric::LatencyP99Us => "latency_p99_us",
            Metric::Qps => "qps",
        }
    }

    /// Short label with unit, for tables and chart captions.
    pub fn label(self) -> &'static str {
        match self {
            Metric::CpuUsPerReq => "core CPU µs/req",
            Metric::LatencyP99Us => "p99 µs",
            Metric::Qps => "req/s",
        }
    }

    /// Which way is better: the one place this is decided.
    pub fn polarity(self) -> Polarity {
        match self {
            Metric::CpuUsPerReq | Metric::LatencyP99Us => Polarity::LowerIsBetter,
            Metric::Qps => Polarity::HigherIsBetter,
        }
    }

    /// `change` (a signed relative change, current over baseline) turned
    /// so that positive means worse.
    pub fn worse_by(self, change: f64) -> f64 {
        match self.polarity() {
            Polarity::LowerIsBetter => change,
            Polarity::HigherIsBetter => -change,
        }
    }

    /// Whether `a` is better than `b` for this metric.
    pub fn better(self, a: f64, b: f64) -> bool {
        self.worse_by(a - b) < 0.0
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throughput_is_better_higher() {
        assert_eq!(Metric::Qps.polarity(), Polarity::HigherIsBetter);
        assert_eq!(Metric::CpuUsPerReq.polarity(), Polarity::LowerIsBetter);
        assert_eq!(Metric::LatencyP99Us.polarity(), Polarity::LowerIsBetter);
        assert_eq!(Metric::Qps.worse_by(-0.2), 0.2);
        assert_eq!(Metric::CpuUsPerReq.worse_by(0.2), 0.2);
        assert!(Metric::Qps.better(2.0, 1.0));
        assert!(Metric::LatencyP99Us.better(1.0, 2.0));
        assert!(!Metric::LatencyP99Us.better(1.0, 1.0));
    }
}
