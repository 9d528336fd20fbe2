//! The table the gate prints: one line per cell and metric (or per count
//! entry), the verdict last, notes below.

use std::fmt::Write as _;

use pb_stats::Method;
use pb_stats::fmt::{figure, p_value};

use crate::compare::Comparison;
use crate::counters::CountersComparison;
use crate::icount::IcountComparison;

fn width<'a>(ids: impl Iterator<Item = &'a str>, min: usize) -> usize {
    ids.map(|s| s.chars().count()).max().unwrap_or(0).max(min)
}

/// The statistical comparison as text: figures, change and interval as
/// `pb-stats` formats them (the report shows the same strings), and the
/// rule's legend below.
pub fn render(cmp: &Comparison) -> String {
    let mut out = String::new();
    let w = width(cmp.rows.iter().map(|r| r.cell.as_str()), 4);
    let _ = writeln!(
        out,
        "{:<w$}  {:<15}  {:>10}  {:>10}  {:>9}  {:>17}  {:>9}  {:>8}  {:>5}  verdict",
        "cell", "metric", "baseline", "current", "change", "interval", "threshold", "p(worse)", "n"
    );
    for r in &cmp.rows {
        let j = &r.judgement;
        let _ = writeln!(
            out,
            "{:<w$}  {:<15}  {:>10}  {:>10}  {:>9}  {:>17}  {:>9}  {:>8}  {:>5}  {}",
            r.cell,
            j.metric.label(),
            figure(j.metric, j.baseline_median),
            figure(j.metric, j.current_median),
            j.change_text(),
            j.interval_text(),
            format!("{:.1} %", j.threshold * 100.0),
            p_value(j.p_worse),
            j.trials_text(),
            j.verdict.as_str(),
        );
    }
    let method = cmp
        .rows
        .first()
        .map_or(Method::Exact, |r| r.judgement.method);
    let _ = writeln!(out, "{}", cmp.rule.legend(method));
    for note in &cmp.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The deterministic comparison as text.
pub fn render_icount(cmp: &IcountComparison) -> String {
    let mut out = String::new();
    let w = width(cmp.rows.iter().map(|r| r.id.as_str()), 5);
    let _ = writeln!(
        out,
        "{:<w$}  {:>14}  {:>14}  {:>8}  {:>9}  verdict",
        "entry", "baseline Ir", "current Ir", "change", "threshold"
    );
    for r in &cmp.rows {
        let _ = writeln!(
            out,
            "{:<w$}  {:>14}  {:>14}  {:>+7.2}%  {:>8.1}%  {}",
            r.id,
            format!("{:.1}/{}", r.baseline, r.unit),
            format!("{:.1}/{}", r.current, r.unit),
            r.change * 100.0,
            cmp.threshold * 100.0,
            r.verdict.as_str(),
        );
    }
    let _ = writeln!(
        out,
        "instructions per unit under valgrind; a count that grew beyond the threshold is a regression"
    );
    for note in &cmp.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The counter comparison as text.
pub fn render_counters(cmp: &CountersComparison) -> String {
    let mut out = String::new();
    let w = width(cmp.rows.iter().map(|r| r.cell.as_str()), 4);
    let _ = writeln!(
        out,
        "{:<w$}  {:<13}  {:>9}  {:>9}  {:>8}  {:>9}  verdict",
        "cell", "counter", "baseline", "current", "change", "threshold"
    );
    for r in &cmp.rows {
        let _ = writeln!(
            out,
            "{:<w$}  {:<13}  {:>9.3}  {:>9.3}  {:>+8.3}  {:>9.2}  {}",
            r.cell,
            r.counter.key(),
            r.baseline,
            r.current,
            r.change(),
            r.threshold,
            r.verdict.as_str(),
        );
    }
    let _ = writeln!(
        out,
        "counts per request (cell medians); a count that grew by more than the threshold is a regression"
    );
    for note in &cmp.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
