//! Latency by percentile for one scenario cell, in the HdrHistogram
//! plotter's style: the x axis is log10(1/(1-p)), so 90 %, 99 %, 99.9 %,
//! 99.99 % are evenly spaced and the tail gets as much room as the body.
//! One curve per core, each from its trials' histograms added together.

use std::path::Path;

use plotters::prelude::*;

use super::{
    Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, Palette, render, swatch, text,
};
use crate::analysis::{GroupAnalysis, percentile_x};
use crate::error::ReportError;
use crate::fmt;

/// Percentiles labelled on the x axis.
const TICKS: [(f64, &str); 7] = [
    (0.5, "50%"),
    (0.9, "90%"),
    (0.99, "99%"),
    (0.999, "99.9%"),
    (0.9999, "99.99%"),
    (0.99999, "99.999%"),
    (0.999999, "99.9999%"),
];

/// Draws `latency-<slug>.png` for `group`.
pub(crate) fn draw(
    dir: &Path,
    slug: &str,
    group: &GroupAnalysis,
    palette: &Palette,
) -> Result<Chart, ReportError> {
    let file = format!("latency-{slug}.png");
    render(dir, &file, (super::WIDTH, 500), |root| {
        plot(root, group, palette)
    })?;
    Ok(Chart {
        file,
        title: format!(
            "{}: latency by percentile (µs, log scale), trials' histograms merged",
            group.label
        ),
        kind: ChartKind::Latency,
        group: Some(group.label.clone()),
    })
}

/// The x positions and labels of the ticks up to `x_max`.
fn ticks(x_max: f64) -> Vec<(f64, &'static str)> {
    TICKS
        .iter()
        // Rounded so 99.99 % lands on 4.0, not a hair past the axis end.
        .map(|&(p, label)| ((percentile_x(p) * 1e6).round() / 1e6, label))
        .filter(|(x, _)| *x <= x_max)
        .collect()
}

fn plot(root: &Area<'_>, group: &GroupAnalysis, palette: &Palette) -> Result<(), DrawError> {
    let values = || {
        group
            .latency
            .iter()
            .flat_map(|c| c.points.iter().map(|&(_, v)| v))
    };
    let lo = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let hi = values().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo * 0.8, hi * 1.3)
    } else {
        (1.0, 10.0)
    };
    let ticks = ticks(group.latency_x_max);
    let keys: Vec<f64> = ticks.iter().map(|(x, _)| *x).collect();

    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{} — latency by percentile, µs", group.label),
            text(24),
        )
        .margin(18)
        .margin_right(54)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            KeyedAxis::new(0f64..group.latency_x_max, keys),
            KeyedAxis::log(lo..hi),
        )?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .x_label_formatter(&|x| {
            ticks
                .iter()
                .find(|(t, _)| (t - x).abs() < 1e-6)
                .map(|(_, l)| (*l).to_owned())
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| log_tick(*y))
        .x_desc("percentile (log scale of 1/(1−p))")
        .y_desc("latency µs (log)")
        .label_style(text(16))
        .axis_desc_style(text(16))
        .draw()?;

    let mut curves: Vec<_> = group.latency.iter().collect();
    curves.sort_by_key(|c| palette.rank(&c.core));
    for curve in curves {
        let color = palette.color(&curve.core);
        let p99 = group
            .rows
            .iter()
            .find(|r| r.core == curve.core)
            .and_then(|r| r.measured())
            .map(|s| s.latency_us.p99);
        let label = match p99 {
            Some(p99) => format!(
                "{}  (p99 {} µs, {} req)",
                curve.core,
                fmt::micros(p99),
                fmt::rate(curve.requests as f64)
            ),
            None => curve.core.clone(),
        };
        // A reference proxy's curve is dashed: the yardstick, not a core.
        let points = curve.points.iter().copied();
        let series = if group
            .rows
            .iter()
            .any(|r| r.core == curve.core && r.reference_proxy)
        {
            chart.draw_series(DashedLineSeries::new(points, 12, 6, color.stroke_width(3)))?
        } else {
            chart.draw_series(LineSeries::new(points, color.stroke_width(3)))?
        };
        series.label(label).legend(swatch(color));
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

/// A tick on a log axis of µs: whole numbers, decimals only below 1.
pub(crate) fn log_tick(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_stop_at_the_data_resolution() {
        let labels: Vec<&str> = ticks(4.0).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["50%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(ticks(5.0).len(), 6);
    }
}
