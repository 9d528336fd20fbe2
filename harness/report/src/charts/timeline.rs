//! Throughput and p99 over a cell's measured window, one line per core,
//! from interval histograms. Drawn only when a run recorded intervals
//! (see [`crate::analysis::Timeline`]).

use std::path::Path;

use plotters::prelude::*;

use super::{Area, Chart, ChartKind, DrawError, GRID, MUTED, Palette, header, render, text};
use crate::analysis::GroupAnalysis;
use crate::error::ReportError;
use crate::fmt;

/// Draws `timeline-<slug>.png` for `group`.
pub(crate) fn draw(
    dir: &Path,
    slug: &str,
    group: &GroupAnalysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let file = format!("timeline-{slug}.png");
    render(dir, &file, (super::WIDTH, 640), |root| {
        plot(root, group, palette)
    })?;
    Ok(Chart {
        file,
        title: format!(
            "{}: requests/s and p99 latency (µs) per interval over the measured window",
            group.label
        ),
        kind: ChartKind::Timeline,
        group: Some(group.label.clone()),
    })
}

/// The two panels, top to bottom.
#[derive(Clone, Copy)]
enum Panel {
    Qps,
    P99,
}

fn plot(root: &Area<'_>, group: &GroupAnalysis, palette: &Palette) -> Result<(), DrawError> {
    let points = || group.timelines.iter().flat_map(|t| t.points.iter());
    // The whole window, even though points sit at interval middles.
    let t_max = points()
        .map(|p| p.0)
        .fold(group.params.duration_s, f64::max)
        .max(1e-3);
    let qps_max = points().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.15;
    let p99_max = points().map(|p| p.2).fold(0.0, f64::max).max(1.0) * 1.15;

    let mut lines: Vec<_> = group.timelines.iter().collect();
    lines.sort_by_key(|t| palette.rank(&t.core));
    let entries: Vec<_> = lines
        .iter()
        .map(|t| (t.core.clone(), palette.color(&t.core)))
        .collect();
    let used = header(
        root,
        &format!("{} — over the measured window", group.label),
        &entries,
    )?;
    let (_, body) = root.split_vertically(used);
    let (upper, lower) = body.split_vertically((640 - used) / 2);
    for (area, panel) in [(&upper, Panel::Qps), (&lower, Panel::P99)] {
        let (caption, y_max, y_desc) = match panel {
            Panel::Qps => ("requests/s per interval", qps_max, "requests / s"),
            Panel::P99 => ("p99 latency per interval, µs", p99_max, "p99 µs"),
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(18))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(MUTED)
            .x_desc("seconds into the window")
            .y_desc(y_desc)
            .y_label_formatter(&|y| match panel {
                Panel::Qps => fmt::rate_tick(*y),
                Panel::P99 => format!("{y:.0}"),
            })
            .label_style(text(14))
            .axis_desc_style(text(14))
            .draw()?;
        for line in &lines {
            let color = palette.color(&line.core);
            let at = |&(t, qps, p99): &(f64, f64, f64)| match panel {
                Panel::Qps => (t, qps),
                Panel::P99 => (t, p99),
            };
            // A reference proxy's line is dashed: the yardstick, not a core.
            let points = line.points.iter().map(at);
            if group
                .rows
                .iter()
                .any(|r| r.core == line.core && r.reference_proxy)
            {
                chart.draw_series(DashedLineSeries::new(points, 10, 6, color.stroke_width(2)))?;
            } else {
                chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
            }
            chart.draw_series(
                line.points
                    .iter()
                    .map(|p| Circle::new(at(p), 3, color.filled())),
            )?;
        }
    }
    Ok(())
}
