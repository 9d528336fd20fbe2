//! A run against a baseline run: per cell (matched by id), the change of
//! each [`Metric`] and whether it is significant by the rule in
//! [`crate::noise`]. Cells that exist on one side only, or were not
//! measured on one side, are listed rather than silently dropped.

use std::collections::BTreeMap;

use crate::analysis::{Analysis, CoreRow, Metric};
use crate::noise::{self, Verdict};

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
    /// One per [`Metric::ALL`], in that order.
    pub deltas: Vec<Delta>,
}

/// One metric of one cell, baseline -> current.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Which figure.
    pub metric: Metric,
    /// Baseline headline figure, when it has one.
    pub baseline: Option<f64>,
    /// Current headline figure, when it has one.
    pub current: Option<f64>,
    /// Relative change of the headline (`0.1` = +10 %).
    pub change: Option<f64>,
    /// The rule's verdict.
    pub verdict: Verdict,
}

impl Delta {
    /// For a significant change: did it get better? `None` otherwise.
    pub fn improved(&self) -> Option<bool> {
        let change = self.change?;
        (self.verdict == Verdict::Significant)
            .then_some((change > 0.0) == self.metric.higher_is_better())
    }
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
    /// Compares every cell of `current` with the same id in `baseline`.
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
                deltas: Metric::ALL.iter().map(|&m| delta(m, base, row)).collect(),
            });
        }
        out.only_in_baseline = rows(baseline)
            .map(|r| r.id.clone())
            .filter(|id| !current_ids.contains(&id.as_str()))
            .collect();
        out
    }

    /// Cells with at least one significant change.
    pub fn significant_cells(&self) -> impl Iterator<Item = &CellComparison> {
        self.cells
            .iter()
            .filter(|c| c.deltas.iter().any(|d| d.verdict == Verdict::Significant))
    }
}

fn rows(analysis: &Analysis) -> impl Iterator<Item = &CoreRow> {
    analysis.groups.iter().flat_map(|g| &g.rows)
}

fn delta(metric: Metric, baseline: &CoreRow, current: &CoreRow) -> Delta {
    let (base, cur) = (baseline.sample(metric), current.sample(metric));
    let verdict = match (&base, &cur) {
        (Some(b), Some(c)) => noise::judge(b, c),
        _ => Verdict::NotAvailable,
    };
    let (baseline, current) = (base.map(|s| s.headline), cur.map(|s| s.headline));
    Delta {
        metric,
        baseline,
        current,
        change: baseline
            .zip(current)
            .and_then(|(b, c)| noise::relative_change(b, c)),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn improvement_depends_on_the_metric_direction() {
        let d = |metric, change| Delta {
            metric,
            baseline: Some(1.0),
            current: Some(1.0 + change),
            change: Some(change),
            verdict: Verdict::Significant,
        };
        assert_eq!(d(Metric::Qps, 0.2).improved(), Some(true));
        assert_eq!(d(Metric::Qps, -0.2).improved(), Some(false));
        assert_eq!(d(Metric::CpuPerReq, -0.2).improved(), Some(true));
        assert_eq!(d(Metric::P99, 0.2).improved(), Some(false));
        let noise = Delta {
            verdict: Verdict::WithinNoise,
            ..d(Metric::Qps, 0.2)
        };
        assert_eq!(noise.improved(), None);
    }
}
