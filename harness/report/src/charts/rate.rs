//! p99 latency against offered rate, one line per core, from an open-loop
//! rate search: where each core's latency starts to climb is its usable
//! capacity. Drawn only when a run searched rates (see
//! [`crate::analysis::RateCurve`]).

use std::path::Path;

use plotters::prelude::*;

use super::{
    Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, Palette, render, swatch, text,
};
use crate::analysis::GroupAnalysis;
use crate::error::ReportError;
use crate::fmt;

/// Draws `rate-<slug>.png` for `group`.
pub(crate) fn draw(
    dir: &Path,
    slug: &str,
    group: &GroupAnalysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let file = format!("rate-{slug}.png");
    render(dir, &file, (super::WIDTH, 480), |root| {
        plot(root, group, palette)
    })?;
    Ok(Chart {
        file,
        title: format!(
            "{}: {} latency (µs, log scale) against offered rate (requests/s), open loop; dashed: the search's bound and each core's highest rate within it",
            group.label,
            percentile_label(group)
        ),
        kind: ChartKind::Rate,
        group: Some(group.label.clone()),
    })
}

/// `p99`, `p99.9`, ... for the percentile the curves show.
fn percentile_label(group: &GroupAnalysis) -> String {
    let p = group.rate_curves.first().map_or(99.0, |c| c.percentile);
    format!("p{p}")
}

fn plot(root: &Area<'_>, group: &GroupAnalysis, palette: &Palette) -> Result<(), DrawError> {
    let label = percentile_label(group);
    // The bound, when the curves show the percentile the search watched.
    let bound = group
        .rate_curves
        .first()
        .filter(|c| c.percentile == c.searched)
        .map(|c| c.bound_us);
    let points = || group.rate_curves.iter().flat_map(|c| c.points.iter());
    let rate_max = points().map(|p| p.0).fold(0.0, f64::max).max(1.0) * 1.05;
    // From just below the first rate tried: the search never starts at 0.
    let rate_min = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let rate_min = if rate_min.is_finite() && rate_min < rate_max {
        rate_min * 0.9
    } else {
        0.0
    };
    let lo = points()
        .map(|p| p.1)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = points().map(|p| p.1).chain(bound).fold(0.0, f64::max);
    let lo = bound.map_or(lo, |b| lo.min(b));
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo * 0.8, hi * 1.3)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{} — {label} latency against offered rate", group.label),
            text(24),
        )
        .margin(18)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(rate_min..rate_max, KeyedAxis::log(lo..hi))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .x_desc("offered requests / s")
        .y_desc(format!("{label} µs (log)"))
        .x_label_formatter(&|x| fmt::rate_tick(*x))
        .y_label_formatter(&|y| super::latency::log_tick(*y))
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;
    if let Some(bound) = bound {
        chart
            .draw_series(DashedLineSeries::new(
                [(rate_min, bound), (rate_max, bound)],
                8,
                6,
                MUTED.stroke_width(2),
            ))?
            .label(format!("bound: {label} ≤ {} µs", fmt::micros(bound)))
            .legend(swatch(MUTED));
    }
    let mut curves: Vec<_> = group.rate_curves.iter().collect();
    curves.sort_by_key(|c| palette.rank(&c.core));
    for curve in curves {
        let color = palette.color(&curve.core);
        if let Some(found) = curve.found_rate {
            chart.draw_series(DashedLineSeries::new(
                [(found, lo), (found, hi)],
                6,
                6,
                color.stroke_width(1),
            ))?;
        }
        let legend = match curve.found_rate {
            Some(found) => format!(
                "{}  (highest within bound: {} req/s)",
                curve.core,
                fmt::rate(found)
            ),
            None => format!("{}  (no rate within bound)", curve.core),
        };
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(3),
            ))?
            .label(legend)
            .legend(swatch(color));
        chart.draw_series(
            curve
                .points
                .iter()
                .map(|&p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(GRID)
        .label_font(text(16))
        .draw()?;
    Ok(())
}
