//! The gate's conclusion in forms other tools read: one row per judged
//! figure whatever the input kind (timing, instruction counts, counters
//! per request), as JSON for bots and as a compact Markdown table that
//! fits a pull-request comment or a GitHub job summary.
//!
//! The text table ([`crate::table`]) stays the terminal's form; this is
//! the same verdicts with the same wording, not a second judgement.

use std::fmt::Write as _;

use serde::Serialize;

use crate::compare::Comparison;
use crate::counters::CountersComparison;
use crate::icount::{IcountComparison, IcountVerdict};

/// The version of the JSON form; bumped when a field changes meaning.
pub const FINDINGS_VERSION: u32 = 1;

/// Every judged figure of one gate run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Findings {
    /// [`FINDINGS_VERSION`].
    pub version: u32,
    /// What was compared: `timing`, `instructions` or `counters`.
    pub kind: &'static str,
    /// Nothing regressed.
    pub passed: bool,
    /// Rows judged.
    pub judged: usize,
    /// Rows that regressed.
    pub regressions: usize,
    /// One per judged figure, in the table's order.
    pub rows: Vec<Finding>,
    /// Remarks that did not stop the gate (parameter differences,
    /// environment differences, counts neither side made).
    pub notes: Vec<String>,
}

/// One judged figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The cell (results files) or entry (instruction counts).
    pub subject: String,
    /// The metric or count: `cpu_us_per_req`, `instructions`, `syscalls`.
    pub measure: String,
    /// Its unit, per figure: `µs`, `req/s`, `instructions/request`, `per request`.
    pub unit: String,
    /// Baseline figure (median for results files).
    pub baseline: f64,
    /// Current figure.
    pub current: f64,
    /// The change as the table prints it (`+12.3 %`, `+1.002`).
    pub change: String,
    /// Its confidence interval, for statistical rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// One-sided p-value of "current is worse", for statistical rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_worse: Option<f64>,
    /// The threshold as printed (`5.0 %`, `0.30`).
    pub threshold: String,
    /// The gate's word (`REGRESSION`, `improved`, `ok`, ...).
    pub verdict: String,
    /// Whether this row fails the gate.
    pub regression: bool,
}

impl Findings {
    fn new(kind: &'static str, rows: Vec<Finding>, notes: Vec<String>) -> Findings {
        let regressions = rows.iter().filter(|r| r.regression).count();
        Findings {
            version: FINDINGS_VERSION,
            kind,
            passed: regressions == 0,
            judged: rows.len(),
            regressions,
            rows,
            notes,
        }
    }

    /// The statistical comparison's rows.
    pub fn timing(cmp: &Comparison) -> Findings {
        let rows = cmp
            .rows
            .iter()
            .map(|r| {
                let j = &r.judgement;
                Finding {
                    subject: r.cell.clone(),
                    measure: j.metric.key().to_owned(),
                    unit: unit(j.metric).to_owned(),
                    baseline: j.baseline_median,
                    current: j.current_median,
                    change: j.change_text(),
                    interval: Some(j.interval_text()),
                    p_worse: Some(j.p_worse),
                    threshold: format!("{:.1} %", j.threshold * 100.0),
                    verdict: j.verdict.as_str().to_owned(),
                    regression: j.verdict.fails(),
                }
            })
            .collect();
        Findings::new("timing", rows, cmp.notes.clone())
    }

    /// The instruction-count comparison's rows.
    pub fn instructions(cmp: &IcountComparison) -> Findings {
        let rows = cmp
            .rows
            .iter()
            .map(|r| Finding {
                subject: r.id.clone(),
                measure: "instructions".into(),
                unit: format!("instructions/{}", r.unit),
                baseline: r.baseline,
                current: r.current,
                change: format!("{:+.2} %", r.change * 100.0),
                interval: None,
                p_worse: None,
                threshold: format!("{:.1} %", cmp.threshold * 100.0),
                verdict: r.verdict.as_str().to_owned(),
                regression: r.verdict == IcountVerdict::Regression,
            })
            .collect();
        Findings::new("instructions", rows, cmp.notes.clone())
    }

    /// The counter comparison's rows.
    pub fn counters(cmp: &CountersComparison) -> Findings {
        let rows = cmp
            .rows
            .iter()
            .map(|r| Finding {
                subject: r.cell.clone(),
                measure: r.counter.key().to_owned(),
                unit: "per request".into(),
                baseline: r.baseline,
                current: r.current,
                change: format!("{:+.3}", r.change()),
                interval: None,
                p_worse: None,
                threshold: format!("{:.2}", r.threshold),
                verdict: r.verdict.as_str().to_owned(),
                regression: r.verdict == IcountVerdict::Regression,
            })
            .collect();
        Findings::new("counters", rows, cmp.notes.clone())
    }

    /// A Markdown summary for a pull request: a verdict line, then the
    /// regressed rows first, then the rest, then the notes. Cell ids go
    /// in code spans; `|` in any text is escaped so the table holds.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let what = match self.kind {
            "timing" => "CPU per request, p99 and QPS",
            "instructions" => "instruction counts",
            _ => "kernel and allocation counts per request",
        };
        let _ = writeln!(
            out,
            "### proxybench gate ({what}): {}\n",
            if self.passed {
                format!("passed, {} figures compared", self.judged)
            } else {
                format!(
                    "**FAILED**, {} of {} figures regressed",
                    self.regressions, self.judged
                )
            }
        );
        let statistical = self.rows.iter().any(|r| r.interval.is_some());
        let _ = writeln!(
            out,
            "| cell | measure | baseline → current | change{} | threshold | verdict |",
            if statistical { " [interval]" } else { "" }
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let ordered = self
            .rows
            .iter()
            .filter(|r| r.regression)
            .chain(self.rows.iter().filter(|r| !r.regression));
        for r in ordered {
            let change = match &r.interval {
                Some(interval) => format!("{} [{}]", r.change, interval),
                None => r.change.clone(),
            };
            let verdict = if r.regression {
                format!("**{}**", r.verdict)
            } else {
                r.verdict.clone()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} → {} {} | {} | {} | {} |",
                cell_text(&r.subject),
                cell_text(&r.measure),
                number(r.baseline),
                number(r.current),
                cell_text(&r.unit),
                cell_text(&change),
                cell_text(&r.threshold),
                cell_text(&verdict),
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {}", cell_text(note));
            }
        }
        out
    }
}

/// The unit of a metric's figures.
fn unit(metric: pb_stats::Metric) -> &'static str {
    match metric {
        pb_stats::Metric::CpuUsPerReq | pb_stats::Metric::LatencyP99Us => "µs",
        pb_stats::Metric::Qps => "req/s",
    }
}

/// A figure with as many decimals as its size needs.
fn number(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Text safe inside a Markdown table cell.
fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(subject: &str, regression: bool) -> Finding {
        Finding {
            subject: subject.into(),
            measure: "syscalls".into(),
            unit: "per request".into(),
            baseline: 3.04,
            current: if regression { 4.04 } else { 3.05 },
            change: if regression { "+1.000" } else { "+0.010" }.into(),
            interval: None,
            p_worse: None,
            threshold: "0.30".into(),
            verdict: if regression { "REGRESSION" } else { "ok" }.into(),
            regression,
        }
    }

    #[test]
    fn markdown_puts_regressions_first_and_keeps_the_table_intact() {
        let f = Findings::new(
            "counters",
            vec![finding("echo/a|b", false), finding("echo/c", true)],
            vec!["cell x: allocations not counted on either side (a | program)".into()],
        );
        assert!(!f.passed);
        assert_eq!((f.judged, f.regressions), (2, 1));
        let md = f.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "### proxybench gate (kernel and allocation counts per request): **FAILED**, 1 of 2 figures regressed"
        );
        assert_eq!(
            lines[4],
            "| `echo/c` | syscalls | 3.040 → 4.040 per request | +1.000 | 0.30 | **REGRESSION** |"
        );
        assert!(lines[5].starts_with("| `echo/a\\|b` |"), "{}", lines[5]);
        // Every table row has the header's six columns.
        for line in [lines[2], lines[4], lines[5]] {
            assert_eq!(line.matches(" | ").count() + 2, 7, "{line}");
        }
        assert_eq!(
            *lines.last().unwrap(),
            "- cell x: allocations not counted on either side (a \\| program)"
        );
    }

    #[test]
    fn json_carries_every_row_and_the_version() {
        let f = Findings::new("counters", vec![finding("echo/c", false)], vec![]);
        let v: serde_json::Value = serde_json::to_value(&f).unwrap();
        assert_eq!(v["version"], FINDINGS_VERSION);
        assert_eq!(v["passed"], true);
        assert_eq!(v["rows"][0]["measure"], "syscalls");
        assert!(v["rows"][0].get("interval").is_none());
    }
}
