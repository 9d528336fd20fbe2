//! The instruction-count file (`results/baseline/icount.json`):
//! deterministic instructions per call or request, measured under
//! valgrind by `pb-icount` (`harness/bench`, which writes it) and compared
//! by the gate (`pb-gate`, which reads it). One definition here, beside
//! the results file, so writer and reader cannot drift apart.
//!
//! Each entry is a per-unit figure from two runs of different lengths,
//! `(Ir(N2) − Ir(N1)) / (N2 − N1)`, which cancels start-up and shutdown.

use serde::{Deserialize, Serialize};

/// Value of [`IcountReport::kind`]: how the gate tells these files from
/// results files.
pub const ICOUNT_KIND: &str = "proxybench-icount";

/// Version of this format; bumped on any incompatible change.
pub const ICOUNT_VERSION: u32 = 1;

/// A file of instruction counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcountReport {
    /// Always [`ICOUNT_KIND`].
    pub kind: String,
    /// Always [`ICOUNT_VERSION`].
    pub version: u32,
    /// When it was measured, RFC 3339 UTC or seconds since the epoch.
    pub created_at: String,
    /// What counted: `valgrind-3.19.0 cachegrind (I refs)`.
    pub tool: String,
    /// What the counts depend on besides the code.
    pub environment: IcountEnvironment,
    /// One entry per measured workload.
    pub entries: Vec<IcountEntry>,
}

/// Facts that make counts comparable or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcountEnvironment {
    /// CPU model (runtime CPU-feature dispatch changes the code run).
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `git describe` of the measured tree.
    pub git_revision: String,
}

/// One workload's count per unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcountEntry {
    /// Stable id: `micro/tower-buffer/16`, `core/tokio-tower/echo-100B`.
    pub id: String,
    /// What one unit is: `call`, `request`.
    pub unit: String,
    /// Instructions per unit: the median over `runs`.
    pub per_unit: f64,
    /// Every measurement pair.
    pub runs: Vec<IcountRun>,
}

/// One pair of runs of different lengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcountRun {
    /// Units done in the short and the long run.
    pub units: [u64; 2],
    /// Instructions counted in the short and the long run.
    pub instructions: [u64; 2],
    /// `(instructions[1] − instructions[0]) / (units[1] − units[0])`.
    pub per_unit: f64,
}

impl IcountRun {
    /// A run pair and its per-unit figure.
    pub fn new(units: [u64; 2], instructions: [u64; 2]) -> IcountRun {
        let du = units[1].saturating_sub(units[0]).max(1) as f64;
        let di = instructions[1] as f64 - instructions[0] as f64;
        IcountRun {
            units,
            instructions,
            per_unit: di / du,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_pairs_cancel_start_up() {
        let run = IcountRun::new([1000, 5000], [3_000_000, 11_000_000]);
        assert_eq!(run.per_unit, 2000.0);
    }
}
