//! The deterministic gate: instruction counts measured under valgrind
//! (`pb-icount` in `harness/bench` writes them), compared with a tight
//! threshold and no statistics.
//!
//! An instruction count of a fixed workload is the same on every run up
//! to small scheduling effects (under 1 % here), so a repeated-trials test
//! is unnecessary: a count that grew by more than the policy's
//! `instructions.threshold_pct` is a regression. Counts only compare on
//! the same machine kind, toolchain, lock file and valgrind; the file
//! records them and the gate notes any difference.
//!
//! The file format itself is [`pb_results::icount`], shared with the
//! writer.

use std::collections::{BTreeMap, BTreeSet};

use pb_results::icount::IcountReport;

use crate::policy::Policy;

/// What the gate concluded about one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcountVerdict {
    /// Grew by more than the threshold: fails the gate.
    Regression,
    /// Shrank by more than the threshold (refresh the baseline to keep it).
    Improvement,
    /// Within the threshold.
    Unchanged,
}

impl IcountVerdict {
    /// Table wording.
    pub fn as_str(self) -> &'static str {
        match self {
            IcountVerdict::Regression => "REGRESSION",
            IcountVerdict::Improvement => "improved",
            IcountVerdict::Unchanged => "ok",
        }
    }
}

/// One entry, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct IcountRow {
    /// Entry id.
    pub id: String,
    /// Unit.
    pub unit: String,
    /// Baseline instructions per unit.
    pub baseline: f64,
    /// Current instructions per unit.
    pub current: f64,
    /// `current / baseline − 1`.
    pub change: f64,
    /// The conclusion.
    pub verdict: IcountVerdict,
}

/// The whole deterministic comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct IcountComparison {
    /// One row per entry, in baseline order.
    pub rows: Vec<IcountRow>,
    /// Environment differences and similar remarks.
    pub notes: Vec<String>,
    /// The threshold applied (fraction).
    pub threshold: f64,
}

impl IcountComparison {
    /// Whether any entry grew beyond the threshold.
    pub fn regressed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.verdict == IcountVerdict::Regression)
    }
}

/// Compares two count files. `Err` lists every reason they cannot be
/// compared (different entries, unusable figures).
pub fn compare_icount(
    baseline: &IcountReport,
    current: &IcountReport,
    policy: &Policy,
) -> Result<IcountComparison, Vec<String>> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let index = |report: &'_ IcountReport, side: &str, problems: &mut Vec<String>| {
        let mut map = BTreeMap::new();
        for e in &report.entries {
            if map.insert(e.id.clone(), e.clone()).is_some() {
                problems.push(format!("entry {} appears twice in the {side}", e.id));
            }
            if !(e.per_unit.is_finite() && e.per_unit > 0.0) {
                problems.push(format!(
                    "entry {} in the {side}: {} instructions per {} is not a positive count",
                    e.id, e.per_unit, e.unit
                ));
            }
        }
        map
    };
    let base = index(baseline, "baseline", &mut problems);
    let cur = index(current, "current", &mut problems);
    let base_ids: BTreeSet<&String> = base.keys().collect();
    let cur_ids: BTreeSet<&String> = cur.keys().collect();
    for id in base_ids.difference(&cur_ids) {
        problems.push(format!(
            "entry {id} is in the baseline but not in the current counts"
        ));
    }
    for id in cur_ids.difference(&base_ids) {
        problems.push(format!(
            "entry {id} is in the current counts but not in the baseline"
        ));
    }
    for (id, b) in &base {
        if let Some(c) = cur.get(id)
            && b.unit != c.unit
        {
            problems.push(format!(
                "entry {id}: counted per {} in the baseline but per {} now",
                b.unit, c.unit
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let (be, ce) = (&baseline.environment, &current.environment);
    for (what, b, c) in [
        ("CPU model", &be.cpu_model, &ce.cpu_model),
        ("rustc", &be.rustc, &ce.rustc),
    ] {
        if b != c {
            notes.push(format!(
                "{what} differs ({b} -> {c}): counts may differ for that reason alone"
            ));
        }
    }
    if baseline.tool != current.tool {
        notes.push(format!(
            "counting tool differs ({} -> {})",
            baseline.tool, current.tool
        ));
    }

    let threshold = policy.instructions_threshold;
    let rows = baseline
        .entries
        .iter()
        .map(|b| {
            let c = &cur[&b.id];
            let change = c.per_unit / b.per_unit - 1.0;
            let verdict = if change > threshold {
                IcountVerdict::Regression
            } else if -change > threshold {
                IcountVerdict::Improvement
            } else {
                IcountVerdict::Unchanged
            };
            IcountRow {
                id: b.id.clone(),
                unit: b.unit.clone(),
                baseline: b.per_unit,
                current: c.per_unit,
                change,
                verdict,
            }
        })
        .collect();
    Ok(IcountComparison {
        rows,
        notes,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_results::icount::{
        ICOUNT_KIND, ICOUNT_VERSION, IcountEntry, IcountEnvironment, IcountRun,
    };

    fn report(entries: &[(&str, f64)]) -> IcountReport {
        IcountReport {
            kind: ICOUNT_KIND.into(),
            version: ICOUNT_VERSION,
            created_at: "0".into(),
            tool: "valgrind".into(),
            environment: IcountEnvironment {
                cpu_model: "cpu".into(),
                kernel: "k".into(),
                rustc: "rustc".into(),
                git_revision: "g".into(),
            },
            entries: entries
                .iter()
                .map(|(id, per)| IcountEntry {
                    id: (*id).into(),
                    unit: "call".into(),
                    per_unit: *per,
                    runs: vec![IcountRun::new(
                        [10, 20],
                        [1000, 1000 + (*per * 10.0) as u64],
                    )],
                })
                .collect(),
        }
    }

    #[test]
    fn growth_beyond_the_threshold_fails() {
        let policy = Policy::default(); // 2 %
        let base = report(&[("a", 1000.0), ("b", 1000.0), ("c", 1000.0)]);
        let cur = report(&[("a", 1015.0), ("b", 1030.0), ("c", 950.0)]);
        let cmp = compare_icount(&base, &cur, &policy).unwrap();
        let verdicts: Vec<_> = cmp.rows.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            [
                IcountVerdict::Unchanged,
                IcountVerdict::Regression,
                IcountVerdict::Improvement
            ]
        );
        assert!(cmp.regressed());
        assert!(!compare_icount(&base, &base, &policy).unwrap().regressed());
    }

    #[test]
    fn different_entries_are_unusable() {
        let base = report(&[("a", 1000.0), ("b", 1000.0)]);
        let cur = report(&[("a", 1000.0), ("z", 1000.0)]);
        let problems = compare_icount(&base, &cur, &Policy::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("entry b"), "{problems:?}");
        assert!(problems[1].contains("entry z"), "{problems:?}");
    }
}
