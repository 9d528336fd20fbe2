//! Throughput per core per scenario cell: a bar at the median over trials,
//! a whisker from the slowest to the fastest trial, and a dot per trial,
//! so the spread is as visible as the median.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, Palette, REFERENCE_LEGEND, TEXT,
    bar_span, group_label_size, header, reference_lines, render, text,
};
use crate::analysis::Analysis;
use crate::error::ReportError;
use crate::fmt;
use crate::model::status_label;
use pb_stats::Metric;

const FILE: &str = "throughput.png";

/// Draws `throughput.png`.
pub(crate) fn draw(
    dir: &Path,
    analysis: &Analysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let title = "Throughput (requests/s): median of trials, whiskers min–max, dots per trial";
    let height = 520;
    render(dir, FILE, (super::WIDTH, height), |root| {
        plot(root, analysis, palette)
    })?;
    Ok(Chart {
        file: FILE.into(),
        title: title.into(),
        kind: ChartKind::Throughput,
        group: None,
    })
}

fn plot(root: &Area<'_>, analysis: &Analysis, palette: &Palette) -> Result<(), DrawError> {
    let groups = &analysis.groups;
    let top = groups
        .iter()
        .flat_map(|g| g.measured())
        .map(|(_, s)| s.qps_max.max(s.qps))
        .fold(0.0, f64::max);
    let y_max = if top > 0.0 { top * 1.18 } else { 1.0 };
    let any_bound = groups
        .iter()
        .flat_map(|g| g.measured())
        .any(|(_, s)| s.driver_bound);

    let keys: Vec<f64> = (0..groups.len()).map(|g| g as f64 + 0.5).collect();
    let caption = if any_bound {
        "Throughput, req/s  (* = driver-bound: a floor, not the core's limit)"
    } else {
        "Throughput, req/s"
    };
    let cores = cores_in(analysis, palette);
    let mut entries: Vec<_> = cores
        .iter()
        .map(|c| (c.clone(), palette.color(c)))
        .collect();
    let lines = reference_lines(groups, |r| r.headline(Metric::Qps), palette);
    if !lines.is_empty() {
        entries.push((REFERENCE_LEGEND.into(), MUTED));
    }
    let used = header(root, caption, &entries)?;
    let (_, body) = root.split_vertically(used);
    let mut chart = ChartBuilder::on(&body)
        .margin(18)
        .margin_top(4)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(KeyedAxis::new(0f64..groups.len() as f64, keys), 0f64..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .x_label_formatter(&|x| {
            groups
                .get(x.floor() as usize)
                .map(|g| g.label.clone())
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| fmt::rate_tick(*y))
        .y_desc("requests / s")
        .label_style(text(16))
        .x_label_style(text(group_label_size(groups)))
        .axis_desc_style(text(16))
        .draw()?;
    chart.draw_series(lines)?;

    for core in &cores {
        let color = palette.color(core);
        let mut bars = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let Some(i) = group.rows.iter().position(|r| &r.core == core) else {
                continue;
            };
            let (l, r) = bar_span(g, group.rows.len(), i);
            if let Some(s) = group.rows[i].measured() {
                bars.push(Rectangle::new([(l, 0.0), (r, s.qps)], color.filled()));
            }
        }
        chart.draw_series(bars)?;
    }

    // Whiskers, trial dots and value labels on top of the bars.
    for (g, group) in groups.iter().enumerate() {
        for (i, row) in group.rows.iter().enumerate() {
            let (l, r) = bar_span(g, group.rows.len(), i);
            let mid = (l + r) / 2.0;
            let Some(s) = row.measured() else {
                chart.draw_series([Text::new(
                    status_label(row.status),
                    (mid, y_max * 0.01),
                    text(13)
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )])?;
                continue;
            };
            let cap = (r - l) * 0.2;
            let ink = TEXT.stroke_width(2);
            chart.draw_series([
                PathElement::new(vec![(mid, s.qps_min), (mid, s.qps_max)], ink),
                PathElement::new(vec![(mid - cap, s.qps_min), (mid + cap, s.qps_min)], ink),
                PathElement::new(vec![(mid - cap, s.qps_max), (mid + cap, s.qps_max)], ink),
            ])?;
            chart.draw_series(
                row.trial_qps
                    .iter()
                    .map(|&q| Circle::new((mid, q), 3, ShapeStyle::from(&WHITE).filled())),
            )?;
            chart.draw_series(
                row.trial_qps
                    .iter()
                    .map(|&q| Circle::new((mid, q), 3, TEXT.stroke_width(1))),
            )?;
            let label = format!(
                "{}{}",
                fmt::rate(s.qps),
                if s.driver_bound { "*" } else { "" }
            );
            chart.draw_series([Text::new(
                label,
                (mid, s.qps_max.max(s.qps) + y_max * 0.012),
                text(14).pos(Pos::new(HPos::Center, VPos::Bottom)),
            )])?;
        }
    }
    Ok(())
}

/// Cores that have a row in any group, in palette (colour) order.
pub(crate) fn cores_in(analysis: &Analysis, palette: &Palette) -> Vec<String> {
    let mut present: Vec<String> = Vec::new();
    for row in analysis.groups.iter().flat_map(|g| &g.rows) {
        if !present.contains(&row.core) {
            present.push(row.core.clone());
        }
    }
    present.sort_by_key(|core| palette.rank(core));
    present
}
