//! The statistical gate: a baseline and a current results file, cell by
//! cell (matched by id) and metric by metric, from the per-trial raw
//! figures.
//!
//! A change is a **regression** only when both hold:
//! 1. it is *significant*: the one-sided Mann-Whitney U test (see
//!    [`stats`](crate::stats)) of "current is worse" gives p < alpha; and
//! 2. it is *practically large*: the estimated shift, relative to the
//!    baseline's median, exceeds the metric's threshold in the worse
//!    direction (higher CPU or p99, lower QPS). The shift is the
//!    Hodges-Lehmann estimate (median of all pairwise differences; see
//!    [`hodges_lehmann`]), the estimate that goes with the rank test.
//!
//! Significance alone would fail the gate on a 0.5 % change measured
//! precisely; the threshold alone would fail it on one unlucky run.
//! Before anything is judged the inputs must be comparable: the same cell
//! ids on both sides and at least `min_trials` usable trials a side;
//! otherwise the comparison is refused with every problem listed.

use std::collections::{BTreeMap, BTreeSet};

use pb_results::{Cell, CellStatus, Results};

use crate::metric::Metric;
use crate::policy::Policy;
use crate::stats::{Alternative, Method, hodges_lehmann, mann_whitney, median};

/// What the gate concluded about one metric of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Significantly worse and beyond the threshold: fails the gate.
    Regression,
    /// Significantly better and beyond the threshold.
    Improvement,
    /// Significantly worse, but by less than the threshold.
    WorseWithinThreshold,
    /// Beyond the threshold in the worse direction, but not significant
    /// (the trials overlap too much to tell).
    NotSignificant,
    /// No change worth reporting.
    Unchanged,
}

impl Verdict {
    /// Table wording.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improved",
            Verdict::WorseWithinThreshold => "ok (worse, within threshold)",
            Verdict::NotSignificant => "ok (not significant)",
            Verdict::Unchanged => "ok",
        }
    }

    /// Whether this verdict fails the gate.
    pub fn fails(self) -> bool {
        self == Verdict::Regression
    }

    /// Applies the two-part rule. `worse_change` is the relative shift in
    /// the worse direction (positive = worse).
    pub fn decide(
        worse_change: f64,
        p_worse: f64,
        p_better: f64,
        alpha: f64,
        threshold: f64,
    ) -> Verdict {
        if p_worse < alpha && worse_change > threshold {
            Verdict::Regression
        } else if p_better < alpha && -worse_change > threshold {
            Verdict::Improvement
        } else if p_worse < alpha && worse_change > 0.0 {
            Verdict::WorseWithinThreshold
        } else if worse_change > threshold {
            Verdict::NotSignificant
        } else {
            Verdict::Unchanged
        }
    }
}

/// One metric of one cell, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Cell id (`echo/100B/c50x1/tokio-tower`).
    pub cell: String,
    /// The metric.
    pub metric: Metric,
    /// Usable trial values, baseline side.
    pub baseline: Vec<f64>,
    /// Usable trial values, current side.
    pub current: Vec<f64>,
    /// Median of `baseline`.
    pub baseline_median: f64,
    /// Median of `current`.
    pub current_median: f64,
    /// Hodges-Lehmann shift from baseline to current, as a fraction of
    /// `baseline_median` (signed; direction-free).
    pub change: f64,
    /// One-sided p-value of "current is worse".
    pub p_worse: f64,
    /// How the p-values were computed.
    pub method: Method,
    /// The metric's practical threshold (fraction).
    pub threshold: f64,
    /// The conclusion.
    pub verdict: Verdict,
}

/// The whole statistical comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// One row per enabled metric of every comparable cell.
    pub rows: Vec<Row>,
    /// Things a reader should know that do not stop the gate (parameter
    /// differences, cells skipped because no side could run them).
    pub notes: Vec<String>,
    /// The significance level applied.
    pub alpha: f64,
}

impl Comparison {
    /// Whether any row fails the gate.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict.fails())
    }
}

/// Compares `current` against `baseline` under `policy`. `Err` lists every
/// reason the inputs cannot be compared (different cells, too few
/// trials, failed cells), each naming the cell and side.
pub fn compare(
    baseline: &Results,
    current: &Results,
    policy: &Policy,
) -> Result<Comparison, Vec<String>> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let base = index(baseline, "baseline", &mut problems);
    let cur = index(current, "current", &mut problems);

    let base_ids: BTreeSet<&str> = base.keys().copied().collect();
    let cur_ids: BTreeSet<&str> = cur.keys().copied().collect();
    for id in base_ids.difference(&cur_ids) {
        problems.push(format!(
            "cell {id} is in the baseline but not in the current results"
        ));
    }
    for id in cur_ids.difference(&base_ids) {
        problems.push(format!(
            "cell {id} is in the current results but not in the baseline"
        ));
    }

    let metrics: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| policy.metric(*m).enabled)
        .collect();
    let mut pairs = Vec::new();
    // Baseline order: the order the cells were run and tabled.
    for cell_b in &baseline.cells {
        let Some(cell_c) = cur.get(cell_b.id.as_str()) else {
            continue;
        };
        match (cell_b.status, cell_c.status) {
            (CellStatus::Ok, CellStatus::Ok) => {}
            (CellStatus::Unavailable, CellStatus::Unavailable) => {
                notes.push(format!(
                    "cell {}: skipped, the core could not run on either side",
                    cell_b.id
                ));
                continue;
            }
            (b, c) => {
                for (side, status, cell) in [("baseline", b, cell_b), ("current", c, *cell_c)] {
                    if status != CellStatus::Ok {
                        problems.push(format!(
                            "cell {}: the {side} cell is {} ({})",
                            cell.id,
                            status_word(status),
                            cell.reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
                continue;
            }
        }
        let mut usable = true;
        for (side, cell) in [("baseline", cell_b), ("current", *cell_c)] {
            for &metric in &metrics {
                let n = values(cell, metric).len();
                if n < policy.min_trials {
                    problems.push(format!(
                        "cell {}: the {side} has {n} trial(s) with {metric}, the policy needs at least {}",
                        cell.id, policy.min_trials
                    ));
                    usable = false;
                    break; // one line per side is enough
                }
            }
        }
        if cell_b.params != cell_c.params {
            notes.push(format!(
                "cell {}: parameters differ ({})",
                cell_b.id,
                param_diff(cell_b, cell_c)
            ));
        }
        if usable {
            pairs.push((cell_b, *cell_c));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut rows = Vec::new();
    for (cell_b, cell_c) in pairs {
        for &metric in &metrics {
            rows.push(compare_metric(
                &cell_b.id,
                metric,
                values(cell_b, metric),
                values(cell_c, metric),
                policy,
            ));
        }
    }
    Ok(Comparison {
        rows,
        notes,
        alpha: policy.alpha,
    })
}

/// Compares one metric's trial values; both sides must be non-empty and
/// finite (as [`compare`] guarantees).
pub fn compare_metric(
    cell: &str,
    metric: Metric,
    baseline: Vec<f64>,
    current: Vec<f64>,
    policy: &Policy,
) -> Row {
    let baseline_median = median(&baseline).unwrap_or(f64::NAN);
    let current_median = median(&current).unwrap_or(f64::NAN);
    let shift = hodges_lehmann(&baseline, &current).unwrap_or(f64::NAN);
    let change = if baseline_median != 0.0 {
        shift / baseline_median
    } else if shift == 0.0 {
        0.0
    } else {
        f64::INFINITY * shift.signum()
    };
    let (worse_alt, better_alt, worse_change) = if metric.higher_is_worse() {
        (Alternative::Greater, Alternative::Less, change)
    } else {
        (Alternative::Less, Alternative::Greater, -change)
    };
    let worse = mann_whitney(&baseline, &current, worse_alt);
    let better = mann_whitney(&baseline, &current, better_alt);
    let (p_worse, p_better, method) = match (worse, better) {
        (Ok(w), Ok(b)) => (w.p_value, b.p_value, w.method),
        // Unreachable through `compare`, which checks the samples first;
        // a direct caller gets "no evidence" rather than a panic.
        _ => (1.0, 1.0, Method::Exact),
    };
    let threshold = policy.metric(metric).threshold;
    Row {
        cell: cell.to_owned(),
        metric,
        verdict: Verdict::decide(worse_change, p_worse, p_better, policy.alpha, threshold),
        baseline,
        current,
        baseline_median,
        current_median,
        change,
        p_worse,
        method,
        threshold,
    }
}

fn index<'a>(
    results: &'a Results,
    side: &str,
    problems: &mut Vec<String>,
) -> BTreeMap<&'a str, &'a Cell> {
    let mut map = BTreeMap::new();
    for cell in &results.cells {
        if map.insert(cell.id.as_str(), cell).is_some() {
            problems.push(format!("cell {} appears twice in the {side}", cell.id));
        }
    }
    map
}

/// A metric's finite values over a cell's trials.
fn values(cell: &Cell, metric: Metric) -> Vec<f64> {
    cell.trials
        .iter()
        .filter_map(|t| metric.of(t))
        .filter(|v| v.is_finite())
        .collect()
}

fn status_word(status: CellStatus) -> &'static str {
    match status {
        CellStatus::Ok => "ok",
        CellStatus::Unavailable => "unavailable",
        CellStatus::Failed => "failed",
    }
}

/// The parameters that differ, as `name baseline -> current`.
fn param_diff(b: &Cell, c: &Cell) -> String {
    let (pb, pc) = (&b.params, &c.params);
    let mut out = Vec::new();
    let mut diff = |name: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{name} {x} -> {y}"));
        }
    };
    diff("mode", pb.mode.clone(), pc.mode.clone());
    diff("rate", format!("{:?}", pb.rate), format!("{:?}", pc.rate));
    diff(
        "message_bytes",
        pb.message_bytes.to_string(),
        pc.message_bytes.to_string(),
    );
    diff(
        "connections",
        pb.connections.to_string(),
        pc.connections.to_string(),
    );
    diff(
        "in_flight",
        pb.in_flight.to_string(),
        pc.in_flight.to_string(),
    );
    diff("warmup_s", pb.warmup_s.to_string(), pc.warmup_s.to_string());
    diff(
        "duration_s",
        pb.duration_s.to_string(),
        pc.duration_s.to_string(),
    );
    diff("trials", pb.trials.to_string(), pc.trials.to_string());
    diff(
        "core_threads",
        pb.core_threads.to_string(),
        pc.core_threads.to_string(),
    );
    diff(
        "driver_threads",
        pb.driver_threads.to_string(),
        pc.driver_threads.to_string(),
    );
    diff(
        "core_spin_iters",
        pb.core_spin_iters.to_string(),
        pc.core_spin_iters.to_string(),
    );
    diff("http", format!("{:?}", pb.http), format!("{:?}", pc.http));
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_needs_both_significance_and_size() {
        let (alpha, t) = (0.01, 0.10);
        assert_eq!(
            Verdict::decide(0.15, 0.004, 1.0, alpha, t),
            Verdict::Regression
        );
        assert_eq!(
            Verdict::decide(0.05, 0.004, 1.0, alpha, t),
            Verdict::WorseWithinThreshold
        );
        assert_eq!(
            Verdict::decide(0.15, 0.2, 0.8, alpha, t),
            Verdict::NotSignificant
        );
        assert_eq!(
            Verdict::decide(-0.15, 1.0, 0.004, alpha, t),
            Verdict::Improvement
        );
        assert_eq!(Verdict::decide(0.0, 0.5, 0.5, alpha, t), Verdict::Unchanged);
        // Exactly at the threshold is not beyond it.
        assert_eq!(
            Verdict::decide(0.10, 0.004, 1.0, alpha, t),
            Verdict::WorseWithinThreshold
        );
    }

    #[test]
    fn qps_is_worse_when_lower() {
        let p = Policy::default();
        let base = vec![100.0, 101.0, 99.0, 100.5, 100.2];
        let drop: Vec<f64> = base.iter().map(|v| v * 0.8).collect();
        let row = compare_metric("c", Metric::Qps, base.clone(), drop, &p);
        assert_eq!(row.verdict, Verdict::Regression);
        assert!((row.change + 0.2).abs() < 1e-9);
        let rise: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        let row = compare_metric("c", Metric::Qps, base.clone(), rise.clone(), &p);
        assert_eq!(row.verdict, Verdict::Improvement);
        // The same rise in CPU per request is a regression.
        let row = compare_metric("c", Metric::CpuUsPerReq, base, rise, &p);
        assert_eq!(row.verdict, Verdict::Regression);
    }
}
