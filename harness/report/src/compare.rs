//! A run against a baseline run: per cell (matched by id), each
//! [`Metric`] judged by the gate's rule ([`pb_stats::Rule::judge`] on the
//! per-trial figures), so the page calls a change a regression exactly
//! when `proxybench gate` would. Cells that exist on one side only, or
//! were not measured on one side, are listed rather than silently
//! dropped.

use std::collections::BTreeMap;

use pb_stats::{Judgement, Metric};

use crate::analysis::{Analysis, CoreRow};

/// The whole comparison.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Cells measured on both sides, in the current run's order.
    pub cells: Vec<CellComparison>,
    /// Cell ids only the current run has.
    pub only_in_current: Vec<String>,
    /// Cell ids only the baseline has.
    pub only_in_baseline: Vec<String>,
    /// Cells on both sides but not measured on at least one.
    pub not_comparable: Vec<NotComparable>,
}

/// One cell on both sides.
#[derive(Debug, Clone)]
pub struct CellComparison {
    /// Cell id.
    pub id: String,
    /// Core name.
    pub core: String,
    /// One per [`Metric::ALL`], in that order: baseline -> current.
    pub deltas: Vec<Judgement>,
}

/// A cell present on both sides that could not be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotComparable {
    /// Cell id.
    pub id: String,
    /// Which side was not measured, and why.
    pub why: String,
}

impl Comparison {
    /// Compares every cell of `current` with the same id in `baseline`,
    /// under the current analysis's rule.
    pub fn new(baseline: &Analysis, current: &Analysis) -> Comparison {
        let base_rows: BTreeMap<&str, &CoreRow> =
            rows(baseline).map(|r| (r.id.as_str(), r)).collect();
        let current_ids: Vec<&str> = rows(current).map(|r| r.id.as_str()).collect();
        let mut out = Comparison::default();
        for row in rows(current) {
            let Some(base) = base_rows.get(row.id.as_str()) else {
                out.only_in_current.push(row.id.clone());
                continue;
            };
            let unmeasured = [("baseline", *base), ("current", row)]
                .into_iter()
                .filter(|(_, r)| r.measured().is_none())
                .map(|(side, r)| {
                    let status = format!("{:?}", r.status).to_lowercase();
                    match &r.reason {
                        Some(reason) => format!("{side}: {status} ({reason})"),
                        None => format!("{side}: {status}"),
                    }
                })
                .collect::<Vec<_>>();
            if !unmeasured.is_empty() {
                out.not_comparable.push(NotComparable {
                    id: row.id.clone(),
                    why: unmeasured.join("; "),
                });
                continue;
            }
            out.cells.push(CellComparison {
                id: row.id.clone(),
                core: row.core.clone(),
                deltas: Metric::ALL
                    .iter()
                    .map(|&m| current.rule.judge(m, base.trials(m), row.trials(m)))
                    .collect(),
            });
        }
        out.only_in_baseline = rows(baseline)
            .map(|r| r.id.clone())
            .filter(|id| !current_ids.contains(&id.as_str()))
            .collect();
        out
    }

    /// Cells with at least one regression or improvement.
    pub fn changed_cells(&self) -> impl Iterator<Item = &CellComparison> {
        self.cells
            .iter()
            .filter(|c| c.deltas.iter().any(|d| d.verdict.is_change()))
    }
}

fn rows(analysis: &Analysis) -> impl Iterator<Item = &CoreRow> {
    analysis.groups.iter().flat_map(|g| &g.rows)
}
