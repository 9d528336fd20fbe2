//! The table the gate prints: one line per cell and metric (or per count
//! entry), the verdict last, notes below.

use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::icount::IcountComparison;
use crate::metric::Metric;

fn figure(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Qps if v >= 10_000.0 => format!("{:.1}k", v / 1000.0),
        Metric::Qps => format!("{v:.0}"),
        Metric::CpuUsPerReq => format!("{v:.3}"),
        Metric::LatencyP99Us => format!("{v:.1}"),
    }
}

fn width<'a>(ids: impl Iterator<Item = &'a str>, min: usize) -> usize {
    ids.map(|s| s.chars().count()).max().unwrap_or(0).max(min)
}

/// The statistical comparison as text.
pub fn render(cmp: &Comparison) -> String {
    let mut out = String::new();
    let w = width(cmp.rows.iter().map(|r| r.cell.as_str()), 4);
    let _ = writeln!(
        out,
        "{:<w$}  {:<10}  {:>12}  {:>12}  {:>8}  {:>9}  {:>9}  {:>5}  verdict",
        "cell", "metric", "baseline", "current", "change", "threshold", "p(worse)", "n"
    );
    for r in &cmp.rows {
        let _ = writeln!(
            out,
            "{:<w$}  {:<10}  {:>12}  {:>12}  {:>+7.1}%  {:>8.1}%  {:>9.4}  {:>5}  {}",
            r.cell,
            r.metric.label(),
            figure(r.metric, r.baseline_median),
            figure(r.metric, r.current_median),
            r.change * 100.0,
            r.threshold * 100.0,
            r.p_worse,
            format!("{}/{}", r.baseline.len(), r.current.len()),
            r.verdict.as_str(),
        );
    }
    let _ = writeln!(
        out,
        "baseline, current: medians over trials; change: Hodges-Lehmann shift / baseline median; \
         p(worse): one-sided Mann-Whitney U ({}), alpha {}; \
         a regression needs p(worse) < alpha AND a change beyond the threshold",
        cmp.rows
            .first()
            .map(|r| r.method.as_str())
            .unwrap_or("exact"),
        cmp.alpha
    );
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
