//! Change against a baseline run: one row per cell, one panel per metric,
//! a bar for the relative Hodges-Lehmann shift with a whisker for its
//! interval, coloured by the gate's verdict ([`pb_stats::Rule`]: green
//! improved, red REGRESSION, grey anything else). The shaded band is the
//! metric's practical threshold.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, Chart, ChartKind, DrawError, GRID, KeyedAxis, MUTED, TEXT, render, text};
use pb_stats::{Judgement, Metric};

use crate::compare::Comparison;
use crate::error::ReportError;
use crate::fmt;

const FILE: &str = "baseline.png";
/// Space for the cell ids left of the first panel, px.
const ID_AREA: u32 = 270;
/// Height of one cell's row, px.
const ROW: u32 = 30;

const BETTER: RGBColor = RGBColor(0x3a, 0x9a, 0x4a);
const WORSE: RGBColor = RGBColor(0xd6, 0x3b, 0x3b);
const NEUTRAL: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);
const BAND: RGBColor = RGBColor(0xf1, 0xf1, 0xf1);

/// Draws `baseline.png`.
pub(crate) fn draw(dir: &Path, comparison: &Comparison) -> Result<Chart, ReportError> {
    let height = 150 + ROW * comparison.cells.len() as u32;
    render(dir, FILE, (super::WIDTH, height), |root| {
        plot(root, comparison)
    })?;
    Ok(Chart {
        file: FILE.into(),
        title: "Change against the baseline, % (green: improved, red: REGRESSION, grey: ok or too few trials; whiskers: interval; band: threshold)".into(),
        kind: ChartKind::Baseline,
        group: None,
    })
}

fn colour(delta: &Judgement) -> RGBColor {
    match delta.improved() {
        Some(true) => BETTER,
        Some(false) => WORSE,
        None => NEUTRAL,
    }
}

fn plot(root: &Area<'_>, comparison: &Comparison) -> Result<(), DrawError> {
    let (title, body) = root.split_vertically(70);
    title.draw(&Text::new(
        "Change against the baseline, %",
        (18, 10),
        text(24),
    ))?;
    let mut x = 18;
    for (color, label) in [
        (BETTER, "improved"),
        (WORSE, "REGRESSION"),
        (NEUTRAL, "ok / too few trials"),
        (BAND, "± threshold"),
    ] {
        title.draw(&Rectangle::new([(x, 44), (x + 14, 58)], color.filled()))?;
        title.draw(&Text::new(label, (x + 20, 44), text(16)))?;
        x += 40 + 8 * label.chars().count() as i32;
    }

    let panel = (super::WIDTH - ID_AREA) / 3;
    let (first, rest) = body.split_horizontally(ID_AREA + panel);
    let (second, third) = rest.split_horizontally(panel);
    let n = comparison.cells.len();
    for (i, (area, metric)) in [first, second, third].iter().zip(Metric::ALL).enumerate() {
        let deltas: Vec<Option<&Judgement>> = comparison
            .cells
            .iter()
            .map(|c| c.deltas.iter().find(|d| d.metric == metric))
            .collect();
        let threshold = deltas
            .iter()
            .flatten()
            .map(|d| d.threshold)
            .next()
            .unwrap_or(0.0);
        let reach = deltas
            .iter()
            .flatten()
            .map(|d| d.change)
            .filter(|c| c.is_finite())
            .map(|c| c.abs() * 100.0)
            .fold((threshold * 200.0).max(1.0), f64::max)
            * 1.6; // room for the value label beside the longest bar
        let keys: Vec<f64> = (0..n).map(|r| r as f64 + 0.5).collect();
        let ids = |y: &f64| {
            let row = n.saturating_sub(1 + y.floor() as usize);
            comparison
                .cells
                .get(row)
                .map(|c| c.id.clone())
                .unwrap_or_default()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(metric.label(), text(18))
            .margin(10)
            .margin_right(16)
            .x_label_area_size(36)
            .y_label_area_size(if i == 0 { ID_AREA } else { 0 })
            .build_cartesian_2d(-reach..reach, KeyedAxis::new(0f64..n as f64, keys))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(MUTED)
            .x_labels(5)
            .x_label_formatter(&|v| {
                if v.abs() < 0.5 {
                    "0".to_owned()
                } else {
                    format!("{v:+.0}%")
                }
            })
            .y_label_formatter(&ids)
            .label_style(text(14))
            .draw()?;
        let floor = threshold * 100.0;
        chart.draw_series([Rectangle::new(
            [(-floor, 0.0), (floor, n as f64)],
            BAND.filled(),
        )])?;
        chart.draw_series([PathElement::new(
            vec![(0.0, 0.0), (0.0, n as f64)],
            MUTED.stroke_width(1),
        )])?;
        for (row, delta) in deltas.iter().enumerate() {
            let y = (n - 1 - row) as f64;
            let Some((delta, change)) = delta
                .filter(|d| d.change.is_finite())
                .map(|d| (d, d.change * 100.0))
            else {
                chart.draw_series([Text::new(
                    "n/a",
                    (0.0, y + 0.5),
                    text(14)
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )])?;
                continue;
            };
            chart.draw_series([Rectangle::new(
                [(0.0, y + 0.2), (change, y + 0.8)],
                colour(delta).filled(),
            )])?;
            if let Some(i) = delta.interval {
                let clamp = |v: f64| (v * 100.0).clamp(-reach, reach);
                chart.draw_series([PathElement::new(
                    vec![(clamp(i.low), y + 0.5), (clamp(i.high), y + 0.5)],
                    TEXT.stroke_width(2),
                )])?;
            }
            let (anchor, at) = if change >= 0.0 {
                (HPos::Left, change + reach * 0.02)
            } else {
                (HPos::Right, change - reach * 0.02)
            };
            chart.draw_series([Text::new(
                fmt::change(change / 100.0),
                (at, y + 0.5),
                text(14).color(&TEXT).pos(Pos::new(anchor, VPos::Center)),
            )])?;
        }
    }
    Ok(())
}
