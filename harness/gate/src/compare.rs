//! The statistical gate: a baseline and a current results file, cell by
//! cell (matched by id) and metric by metric, from the per-trial raw
//! figures.
//!
//! Each metric of each cell is judged by [`pb_stats::Rule::judge`], the
//! one definition of "significant" (the report applies it too): a
//! **regression** needs a one-sided Mann-Whitney U p-value below alpha
//! *and* a Hodges-Lehmann shift, relative to the baseline median, beyond
//! the metric's threshold in the worse direction.
//!
//! Before anything is judged the inputs must be comparable: the same cell
//! ids on both sides and at least `min_trials` usable trials a side;
//! otherwise the comparison is refused with every problem listed (the
//! rule's "too few trials" verdict never reaches a gate table).

use std::collections::{BTreeMap, BTreeSet};

use pb_results::{Cell, CellStatus, Results};

use pb_stats::{Judgement, Metric, Rule};

use crate::policy::Policy;

/// One metric of one cell, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Cell id (`echo/100B/c50x1/tokio-tower`).
    pub cell: String,
    /// The rule's judgement of the metric: figures, change, interval,
    /// p-values, verdict.
    pub judgement: Judgement,
}

/// The whole statistical comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// One row per enabled metric of every comparable cell.
    pub rows: Vec<Row>,
    /// Things a reader should know that do not stop the gate (parameter
    /// differences, cells skipped because no side could run them).
    pub notes: Vec<String>,
    /// The rule applied (level, minimum trials, thresholds).
    pub rule: Rule,
}

impl Comparison {
    /// Whether any row fails the gate.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.judgement.verdict.fails())
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
    let matched = matched_cells(baseline, current, &mut problems, &mut notes);
    let metrics: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| policy.rule.metric(*m).enabled)
        .collect();
    let mut pairs = Vec::new();
    for (cell_b, cell_c) in matched {
        let mut usable = true;
        for (side, cell) in [("baseline", cell_b), ("current", cell_c)] {
            for &metric in &metrics {
                let n = values(cell, metric).len();
                if n < policy.rule.min_trials {
                    problems.push(format!(
                        "cell {}: the {side} has {n} trial(s) with {metric}, the policy needs at least {}",
                        cell.id, policy.rule.min_trials
                    ));
                    usable = false;
                    break; // one line per side is enough
                }
            }
        }
        if usable {
            pairs.push((cell_b, cell_c));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut rows = Vec::new();
    for (cell_b, cell_c) in pairs {
        for &metric in &metrics {
            rows.push(Row {
                cell: cell_b.id.clone(),
                judgement: policy.rule.judge(
                    metric,
                    &values(cell_b, metric),
                    &values(cell_c, metric),
                ),
            });
        }
    }
    Ok(Comparison {
        rows,
        notes,
        rule: policy.rule.clone(),
    })
}

/// The cells of `baseline` and `current` paired by id, in baseline
/// order, both measured. Cells on one side only, duplicate ids and a
/// cell that failed (or could run on one side only) go to `problems`;
/// cells no side could run, and parameter differences, to `notes`.
/// Every gate on results files judges exactly these pairs.
pub(crate) fn matched_cells<'a>(
    baseline: &'a Results,
    current: &'a Results,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Vec<(&'a Cell, &'a Cell)> {
    let base = index(baseline, "baseline", problems);
    let cur = index(current, "current", problems);
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
    let mut pairs = Vec::new();
    // Baseline order: the order the cells were run and tabled.
    for cell_b in &baseline.cells {
        let Some(&cell_c) = cur.get(cell_b.id.as_str()) else {
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
                for (side, status, cell) in [("baseline", b, cell_b), ("current", c, cell_c)] {
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
        if cell_b.params != cell_c.params {
            notes.push(format!(
                "cell {}: parameters differ ({})",
                cell_b.id,
                param_diff(cell_b, cell_c)
            ));
        }
        pairs.push((cell_b, cell_c));
    }
    pairs
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
        .filter_map(|t| t.figure(metric))
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
