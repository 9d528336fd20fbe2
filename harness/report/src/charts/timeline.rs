//! Throughput and p99 over a cell's measured window, one line per core,
//! from interval histograms, and the cores' memory and descriptors when
//! their processes were sampled each interval (a core proxybench started;
//! what a soak judges). Drawn only when a run recorded intervals (see
//! [`crate::analysis::Timeline`]).

use std::path::Path;

use plotters::prelude::*;

use super::{Area, Chart, ChartKind, DrawError, GRID, MUTED, Palette, header, render, text};
use crate::analysis::{GroupAnalysis, Timeline};
use crate::error::ReportError;
use crate::fmt;

/// Height of one panel, pixels.
const PANEL_HEIGHT: u32 = 300;

/// Draws `timeline-<slug>.png` for `group`: throughput and p99, and, when
/// the cores' processes were sampled, their memory and open
/// descriptors below on the same time axis.
pub(crate) fn draw(
    dir: &Path,
    slug: &str,
    group: &GroupAnalysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let file = format!("timeline-{slug}.png");
    let panels = panels(group);
    let height = 40 + PANEL_HEIGHT * panels.len() as u32;
    render(dir, &file, (super::WIDTH, height), |root| {
        plot(root, group, &panels, palette)
    })?;
    let sampled = if panels.len() > 2 {
        ", RSS (MiB) and open descriptors"
    } else {
        ""
    };
    Ok(Chart {
        file,
        title: format!(
            "{}: requests/s and p99 latency (µs){sampled} per interval over the measured window",
            group.label
        ),
        kind: ChartKind::Timeline,
        group: Some(group.label.clone()),
    })
}

/// The panels, top to bottom.
#[derive(Clone, Copy)]
enum Panel {
    Qps,
    P99,
    Rss,
    Fds,
}

impl Panel {
    fn caption(self) -> (&'static str, &'static str) {
        match self {
            Panel::Qps => ("requests/s per interval", "requests / s"),
            Panel::P99 => ("p99 latency per interval, µs", "p99 µs"),
            Panel::Rss => ("resident memory of the core's processes, MiB", "RSS MiB"),
            Panel::Fds => ("open descriptors of the core's processes", "descriptors"),
        }
    }

    /// The line's points for this panel: `(seconds, value)`.
    fn series(self, line: &Timeline) -> Vec<(f64, f64)> {
        match self {
            Panel::Qps => line.points.iter().map(|p| (p.0, p.1)).collect(),
            Panel::P99 => line.points.iter().map(|p| (p.0, p.2)).collect(),
            Panel::Rss => line.resources.iter().map(|p| (p.0, p.1)).collect(),
            Panel::Fds => line.resources.iter().map(|p| (p.0, p.2)).collect(),
        }
    }
}

fn panels(group: &GroupAnalysis) -> Vec<Panel> {
    let mut panels = vec![Panel::Qps, Panel::P99];
    if group.timelines.iter().any(|t| !t.resources.is_empty()) {
        panels.extend([Panel::Rss, Panel::Fds]);
    }
    panels
}

fn plot(
    root: &Area<'_>,
    group: &GroupAnalysis,
    panels: &[Panel],
    palette: &Palette,
) -> Result<(), DrawError> {
    // The whole window, even though points sit at interval middles.
    let t_max = group
        .timelines
        .iter()
        .flat_map(|t| t.points.iter())
        .map(|p| p.0)
        .fold(group.params.duration_s, f64::max)
        .max(1e-3);
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
    let areas = body.split_evenly((panels.len(), 1));
    for (area, &panel) in areas.iter().zip(panels) {
        let (caption, y_desc) = panel.caption();
        let y_max = lines
            .iter()
            .flat_map(|l| panel.series(l))
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.15;
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
                Panel::Rss => format!("{y:.1}"),
                Panel::P99 | Panel::Fds => format!("{y:.0}"),
            })
            .label_style(text(14))
            .axis_desc_style(text(14))
            .draw()?;
        for line in &lines {
            let color = palette.color(&line.core);
            let points = panel.series(line);
            // A reference proxy's line is dashed: the yardstick, not a core.
            if group
                .rows
                .iter()
                .any(|r| r.core == line.core && r.reference_proxy)
            {
                chart.draw_series(DashedLineSeries::new(
                    points.iter().copied(),
                    10,
                    6,
                    color.stroke_width(2),
                ))?;
            } else {
                chart.draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?;
            }
            // Markers only where they stay apart: a soak has hundreds of points.
            if points.len() <= 120 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
    }
    Ok(())
}
