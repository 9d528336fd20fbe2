//! The second deterministic gate: the kernel's and the allocator's work
//! per request, from two results files, against absolute thresholds and
//! no statistics.
//!
//! A request's system calls, io_uring submissions and heap allocations
//! are counts of what the code does, not of how fast the machine is: on a
//! workload where every request takes the same path (one connection at a
//! fixed low rate, so the core is idle in its wait when each request
//! arrives: `ci/gate-counters.toml`) they repeat to a few hundredths per
//! request however busy the machine is. So a change that adds one system
//! call or one allocation per request fails this gate even when timing
//! noise hides its cost from the statistical gate.
//!
//! Thresholds are absolute (per request), not relative: one extra
//! syscall is +50 % of monoio's echo and +20 % of tokio's forwarding, the
//! same cost either way. `ci/gate.toml`'s `[counters]` sets them from an
//! A/A calibration (ci/README.md).
//!
//! Each figure is the cell's median over its trials (the results'
//! summary). A counter that one side counted and the other could not
//! (perf unavailable, a core that does not count allocations) makes the
//! input unusable, naming the cell and the reason: never a silent pass.

use pb_results::{Cell, KernelWork, Results};

use crate::compare::matched_cells;
use crate::icount::IcountVerdict;
use crate::policy::Policy;

/// The counts compared, by name in the policy and the table.
pub const COUNTERS: [Counter; 3] = [
    Counter::Syscalls,
    Counter::UringSubmits,
    Counter::Allocations,
];

/// One count per request the gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// System calls (perf's `raw_syscalls:sys_enter`).
    Syscalls,
    /// io_uring submission queue entries (`io_uring:io_uring_submit_req`).
    UringSubmits,
    /// Heap allocations (the counting allocator).
    Allocations,
}

impl Counter {
    /// Its key in the policy's `[counters]` and its name in the table.
    pub fn key(self) -> &'static str {
        match self {
            Counter::Syscalls => "syscalls",
            Counter::UringSubmits => "uring_submits",
            Counter::Allocations => "allocations",
        }
    }

    /// The count per request, or why it is missing.
    fn of(self, work: &KernelWork) -> Result<f64, String> {
        let unavailable =
            |reason: &Option<String>| reason.clone().unwrap_or_else(|| "not recorded".to_owned());
        match self {
            Counter::Syscalls | Counter::UringSubmits => work
                .perf(self.key())
                .ok_or_else(|| unavailable(&work.perf_unavailable)),
            Counter::Allocations => work
                .allocations_per_req
                .ok_or_else(|| unavailable(&work.allocations_unavailable)),
        }
    }
}

/// One counter of one cell, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterRow {
    /// Cell id.
    pub cell: String,
    /// What was counted.
    pub counter: Counter,
    /// Baseline median per request.
    pub baseline: f64,
    /// Current median per request.
    pub current: f64,
    /// Absolute threshold per request.
    pub threshold: f64,
    /// The conclusion.
    pub verdict: IcountVerdict,
}

impl CounterRow {
    /// `current − baseline`, per request.
    pub fn change(&self) -> f64 {
        self.current - self.baseline
    }
}

/// The whole counter comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CountersComparison {
    /// One row per counter of every measured cell, in baseline order.
    pub rows: Vec<CounterRow>,
    /// Parameter differences and skipped cells.
    pub notes: Vec<String>,
}

impl CountersComparison {
    /// Whether any count grew beyond its threshold.
    pub fn regressed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.verdict == IcountVerdict::Regression)
    }
}

/// Compares the counts per request of two results files under `policy`'s
/// thresholds. `Err` lists every reason they cannot be compared.
pub fn compare_counters(
    baseline: &Results,
    current: &Results,
    policy: &Policy,
) -> Result<CountersComparison, Vec<String>> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let pairs = matched_cells(baseline, current, &mut problems, &mut notes);
    let mut rows = Vec::new();
    for (cell_b, cell_c) in pairs {
        let (Some(work_b), Some(work_c)) = (
            kernel(cell_b, "baseline", &mut problems),
            kernel(cell_c, "current", &mut problems),
        ) else {
            continue;
        };
        for counter in COUNTERS {
            let one_side = |side: &str, why: String| {
                format!(
                    "cell {}: the {side} did not count {}: {why}",
                    cell_b.id,
                    counter.key()
                )
            };
            match (counter.of(work_b), counter.of(work_c)) {
                (Ok(b), Ok(c)) => {
                    let threshold = policy.counter_threshold(counter);
                    let verdict = if c - b > threshold {
                        IcountVerdict::Regression
                    } else if b - c > threshold {
                        IcountVerdict::Improvement
                    } else {
                        IcountVerdict::Unchanged
                    };
                    rows.push(CounterRow {
                        cell: cell_b.id.clone(),
                        counter,
                        baseline: b,
                        current: c,
                        threshold,
                        verdict,
                    });
                }
                // Neither side could count it (allocations of a
                // reference program): nothing to compare, and said so.
                (Err(why), Err(_)) => notes.push(format!(
                    "cell {}: {} not counted on either side ({why})",
                    cell_b.id,
                    counter.key()
                )),
                (Err(why), Ok(_)) => problems.push(one_side("baseline", why)),
                (Ok(_), Err(why)) => problems.push(one_side("current", why)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if rows.is_empty() {
        return Err(vec![
            "no cell has a counter both sides counted: nothing to gate on".to_owned(),
        ]);
    }
    Ok(CountersComparison { rows, notes })
}

/// A cell's median kernel work, or a problem naming the cell and side.
fn kernel<'a>(cell: &'a Cell, side: &str, problems: &mut Vec<String>) -> Option<&'a KernelWork> {
    let work = cell.summary.as_ref().and_then(|s| s.kernel.as_ref());
    if work.is_none() {
        problems.push(format!(
            "cell {}: the {side} has no kernel counts (a results file from before \
             they were recorded, or a target that was not sampled)",
            cell.id
        ));
    }
    work
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> Results {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../results/baseline/counters.json"
        );
        pb_results::io::read_results(std::path::Path::new(path)).unwrap()
    }

    fn work(results: &mut Results, cell: usize) -> &mut KernelWork {
        results.cells[cell]
            .summary
            .as_mut()
            .unwrap()
            .kernel
            .as_mut()
            .unwrap()
    }

    #[test]
    fn growth_beyond_the_threshold_fails_and_shrinkage_is_an_improvement() {
        let base = baseline();
        let policy = Policy::default();
        let mut cur = base.clone();
        *work(&mut cur, 0).perf_per_req.get_mut("syscalls").unwrap() += 0.31;
        let a = work(&mut cur, 1).allocations_per_req.unwrap();
        work(&mut cur, 1).allocations_per_req = Some(a - 0.5);
        *work(&mut cur, 2).perf_per_req.get_mut("syscalls").unwrap() += 0.29;
        let cmp = compare_counters(&base, &cur, &policy).unwrap();
        let verdict = |cell: usize, counter: Counter| {
            cmp.rows
                .iter()
                .find(|r| r.cell == base.cells[cell].id && r.counter == counter)
                .unwrap()
                .verdict
        };
        assert_eq!(verdict(0, Counter::Syscalls), IcountVerdict::Regression);
        assert_eq!(verdict(1, Counter::Allocations), IcountVerdict::Improvement);
        assert_eq!(verdict(2, Counter::Syscalls), IcountVerdict::Unchanged);
        assert!(cmp.regressed());
        assert_eq!(
            cmp.rows
                .iter()
                .filter(|r| r.verdict == IcountVerdict::Regression)
                .count(),
            1
        );
    }

    #[test]
    fn a_count_one_side_could_not_make_is_unusable_with_the_reason() {
        let base = baseline();
        let mut cur = base.clone();
        let w = work(&mut cur, 0);
        w.perf_per_req.clear();
        w.perf_unavailable = Some("perf disabled for this test".into());
        cur.cells[1].summary.as_mut().unwrap().kernel = None;
        let problems = compare_counters(&base, &cur, &Policy::default()).unwrap_err();
        let id0 = &base.cells[0].id;
        assert!(
            problems.contains(&format!(
                "cell {id0}: the current did not count syscalls: perf disabled for this test"
            )),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&base.cells[1].id) && p.contains("no kernel counts")),
            "{problems:?}"
        );
        // Neither side counting is a note, not a problem.
        let mut both = cur.clone();
        both.cells[1] = base.cells[1].clone();
        let mut base_too = base.clone();
        let w = work(&mut base_too, 0);
        w.perf_per_req.clear();
        w.perf_unavailable = Some("no perf".into());
        let cmp = compare_counters(&base_too, &both, &Policy::default()).unwrap();
        assert!(
            cmp.notes
                .iter()
                .any(|n| n.contains("syscalls not counted on either side")),
            "{:?}",
            cmp.notes
        );
    }
}
