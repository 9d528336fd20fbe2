//! The regression gate behind `proxybench gate`: does the current build
//! cost more than the baseline, beyond noise and beyond what matters?
//!
//! Two kinds of input, one verdict:
//! - **results files** (`proxybench run`, several trials per cell): each
//!   cell and metric (core CPU µs per request, p99 latency, QPS) is judged
//!   by [`pb_stats::Rule::judge`]: a one-sided Mann-Whitney U test on the
//!   per-trial figures *and* a practical threshold on the Hodges-Lehmann
//!   shift (relative to the baseline median). The report judges its
//!   baseline comparison by the same rule, so the two never disagree;
//! - **instruction-count files** (`pb-icount`, valgrind): deterministic
//!   counts per call or request, judged by a tight threshold alone;
//! - **results files, by their counts** ([`Mode::Counters`], `gate
//!   --counters`): system calls, io_uring submissions and allocations per
//!   request, deterministic on a fixed-rate one-connection workload,
//!   judged by absolute thresholds alone.
//!
//! | module | role |
//! |---|---|
//! | [`input`] | read either kind of file, naming the file in every error |
//! | [`policy`] | `ci/gate.toml` -> the significance [`Rule`](pb_stats::Rule) (level, minimum trials, thresholds per metric) and the count threshold |
//! | [`compare`] | results vs results: cells matched by id and checked comparable, each metric judged by the rule |
//! | [`icount`] | counts vs counts (the file format is [`pb_results::icount`]) |
//! | [`counters`] | results vs results by kernel and allocation counts per request |
//! | [`table`] | the printed table |
//! | [`findings`] | the same verdicts as JSON for bots and Markdown for pull requests |
//! | [`paired`] | `gate run`: trial pairs of two builds judged as they arrive (sequential, paired), with the minimum detectable effect |
//!
//! The statistics, the metrics and their polarity live in `pb-stats`
//! ([`Metric`] and [`Verdict`] are re-exported here).
//!
//! [`gate`] ties them together: exit-code semantics are the caller's
//! (`proxybench` maps [`GateError`] to 2 and a regression to 1).

pub mod compare;
pub mod counters;
pub mod findings;
pub mod icount;
pub mod input;
pub mod paired;
pub mod policy;
pub mod table;

use std::path::Path;

pub use crate::compare::{Comparison, Row, compare};
pub use crate::counters::{CountersComparison, compare_counters};
pub use crate::icount::{IcountComparison, compare_icount};
pub use crate::input::{Input, InputError};
pub use crate::policy::{Paired, Policy, PolicyError};
pub use pb_stats::{Metric, Verdict};

/// Why the gate could not judge.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// An input file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The two files are of different kinds.
    #[error("cannot compare {baseline_kind} ({baseline}) with {current_kind} ({current})")]
    KindMismatch {
        /// Baseline path.
        baseline: String,
        /// What the baseline is.
        baseline_kind: &'static str,
        /// Current path.
        current: String,
        /// What the current file is.
        current_kind: &'static str,
    },
    /// The files cannot be compared; every reason is listed.
    #[error("unusable input ({baseline} vs {current}):\n  - {}", problems.join("\n  - "))]
    Unusable {
        /// Baseline path.
        baseline: String,
        /// Current path.
        current: String,
        /// Each problem, naming the cell or entry and the side.
        problems: Vec<String>,
    },
}

/// What the gate found.
#[derive(Debug, Clone)]
pub struct GateReport {
    /// The table to print.
    pub table: String,
    /// Every judged figure (how many, how many regressed), also for
    /// `--format json|markdown`.
    pub findings: findings::Findings,
}

impl GateReport {
    /// The report of a comparison: its text table and its findings.
    fn new(table: String, findings: findings::Findings) -> GateReport {
        GateReport { table, findings }
    }

    /// Whether anything regressed (exit 1).
    pub fn regressed(&self) -> bool {
        !self.findings.passed
    }
}

/// What two results files are judged by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Timing: CPU per request, p99, QPS, statistically.
    #[default]
    Timing,
    /// Kernel and allocation counts per request, by absolute thresholds.
    Counters,
}

/// Reads both files and compares them under `policy`; `mode` chooses what
/// results files are judged by (instruction-count files have one way).
pub fn gate(
    baseline: &Path,
    current: &Path,
    policy: &Policy,
    mode: Mode,
) -> Result<GateReport, GateError> {
    let b = input::load(baseline)?;
    let c = input::load(current)?;
    let unusable = |problems: Vec<String>| GateError::Unusable {
        baseline: baseline.display().to_string(),
        current: current.display().to_string(),
        problems,
    };
    match (&b, &c) {
        (Input::Results(b), Input::Results(c)) if mode == Mode::Counters => {
            let cmp = compare_counters(b, c, policy).map_err(unusable)?;
            Ok(GateReport::new(
                table::render_counters(&cmp),
                findings::Findings::counters(&cmp),
            ))
        }
        (Input::Icount(_), Input::Icount(_)) if mode == Mode::Counters => Err(unusable(vec![
            "--counters judges results files (proxybench run); these are instruction-count files"
                .to_owned(),
        ])),
        (Input::Results(b), Input::Results(c)) => {
            let cmp = compare(b, c, policy).map_err(unusable)?;
            Ok(GateReport::new(
                table::render(&cmp),
                findings::Findings::timing(&cmp),
            ))
        }
        (Input::Icount(b), Input::Icount(c)) => {
            let cmp = compare_icount(b, c, policy).map_err(unusable)?;
            Ok(GateReport::new(
                table::render_icount(&cmp),
                findings::Findings::instructions(&cmp),
            ))
        }
        _ => Err(GateError::KindMismatch {
            baseline: baseline.display().to_string(),
            baseline_kind: b.kind(),
            current: current.display().to_string(),
            current_kind: c.kind(),
        }),
    }
}
