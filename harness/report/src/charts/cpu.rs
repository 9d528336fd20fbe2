//! CPU time per request: for each core, the core process (solid bar) and
//! the load driver (light bar beside it), medians over trials with a dot
//! per trial. The core's bar is the fairest comparison on a small machine;
//! the driver's shows how much of the box the measurement itself used.
//! The no-proxy `direct` baseline has a driver bar only: its "core" figure
//! is its origin's CPU.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, Palette, REFERENCE_LEGEND, TEXT,
    bar_span, group_label_size, header, reference_lines, render, text, throughput::cores_in, tint,
};
use pb_results::DIRECT;
use pb_stats::Metric;

use crate::analysis::{Analysis, CoreRow};
use crate::error::ReportError;
use crate::fmt;
use crate::model::status_label;

const FILE: &str = "cpu.png";

/// How much white the driver's lighter bar mixes into the core colour.
const DRIVER_TINT: f64 = 0.6;

/// Draws `cpu.png`.
pub(crate) fn draw(
    dir: &Path,
    analysis: &Analysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    render(dir, FILE, (super::WIDTH, 520), |root| {
        plot(root, analysis, palette)
    })?;
    Ok(Chart {
        file: FILE.into(),
        title:
            "CPU time per request (µs/req): core process solid, load driver light, dots per trial"
                .into(),
        kind: ChartKind::Cpu,
        group: None,
    })
}

fn plot(root: &Area<'_>, analysis: &Analysis, palette: &Palette) -> Result<(), DrawError> {
    let groups = &analysis.groups;
    let top = groups
        .iter()
        .flat_map(|g| &g.rows)
        .filter(|r| r.measured().is_some())
        .flat_map(|r| core_cpu(r).iter().chain(&r.trial_driver_cpu))
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_max = if top > 0.0 { top * 1.18 } else { 1.0 };

    let keys: Vec<f64> = (0..groups.len()).map(|g| g as f64 + 0.5).collect();
    let cores = cores_in(analysis, palette);
    let mut entries: Vec<_> = cores
        .iter()
        .map(|c| (c.clone(), palette.color(c)))
        .collect();
    entries.push(("light: load driver".into(), tint(MUTED, DRIVER_TINT)));
    let lines = reference_lines(groups, |r| r.headline(Metric::CpuUsPerReq), palette);
    if !lines.is_empty() {
        entries.push((REFERENCE_LEGEND.into(), MUTED));
    }
    let used = header(
        root,
        "CPU per request, µs  (solid: core process, light: load driver)",
        &entries,
    )?;
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
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("CPU µs per request")
        .label_style(text(16))
        .x_label_style(text(group_label_size(groups)))
        .axis_desc_style(text(16))
        .draw()?;

    chart.draw_series(lines)?;

    // Each core's slot holds two bars: core (left) and driver (right).
    let halves = |g: usize, slots: usize, i: usize| {
        let (l, r) = bar_span(g, slots, i);
        let mid = (l + r) / 2.0;
        ((l, mid), (mid, r))
    };
    for core in &cores {
        let color = palette.color(core);
        let mut bars = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let Some(i) = group.rows.iter().position(|r| &r.core == core) else {
                continue;
            };
            let Some(s) = group.rows[i].measured() else {
                continue;
            };
            let ((cl, cr), (dl, dr)) = halves(g, group.rows.len(), i);
            if let Some(cpu) = s.cpu_us_per_req.filter(|_| core != DIRECT) {
                bars.push(Rectangle::new([(cl, 0.0), (cr, cpu)], color.filled()));
            }
            if let Some(drv) = s.driver_cpu_us_per_req {
                bars.push(Rectangle::new(
                    [(dl, 0.0), (dr, drv)],
                    tint(color, DRIVER_TINT).filled(),
                ));
            }
        }
        chart.draw_series(bars)?;
    }

    for (g, group) in groups.iter().enumerate() {
        for (i, row) in group.rows.iter().enumerate() {
            let ((cl, cr), (dl, dr)) = halves(g, group.rows.len(), i);
            let (core_mid, driver_mid) = ((cl + cr) / 2.0, (dl + dr) / 2.0);
            let Some(s) = row.measured() else {
                chart.draw_series([Text::new(
                    status_label(row.status),
                    ((cl + dr) / 2.0, y_max * 0.01),
                    text(13)
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )])?;
                continue;
            };
            for (x, values) in [
                (core_mid, core_cpu(row)),
                (driver_mid, &row.trial_driver_cpu[..]),
            ] {
                chart.draw_series(
                    values
                        .iter()
                        .map(|&v| Circle::new((x, v), 3, ShapeStyle::from(&WHITE).filled())),
                )?;
                chart.draw_series(
                    values
                        .iter()
                        .map(|&v| Circle::new((x, v), 3, TEXT.stroke_width(1))),
                )?;
            }
            if row.core == DIRECT {
                chart.draw_series([Text::new(
                    "no proxy",
                    (core_mid, y_max * 0.01),
                    text(13)
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )])?;
            } else if let Some(cpu) = s.cpu_us_per_req {
                let top = row.trial_cpu.iter().copied().fold(cpu, f64::max);
                chart.draw_series([Text::new(
                    fmt::micros(cpu),
                    (core_mid, top + y_max * 0.012),
                    text(14).pos(Pos::new(HPos::Center, VPos::Bottom)),
                )])?;
            }
        }
    }
    Ok(())
}

/// A row's per-trial core CPU figures; none for [`DIRECT`], whose
/// "core" figure is its origin's CPU, not a proxy's.
fn core_cpu(row: &CoreRow) -> &[f64] {
    if row.core == DIRECT {
        &[]
    } else {
        &row.trial_cpu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tint_moves_toward_white() {
        assert_eq!(tint(RGBColor(0, 100, 255), 0.5), RGBColor(128, 178, 255));
        assert_eq!(tint(RGBColor(10, 20, 30), 0.0), RGBColor(10, 20, 30));
    }
}
