//! PNG charts, drawn with plotters into memory and encoded with `png`.
//!
//! | module | chart |
//! |---|---|
//! | [`throughput`] | req/s per core per scenario cell, whiskers and trial dots |
//! | [`cpu`] | core and driver CPU µs per request |
//! | [`latency`] | latency by percentile (HdrHistogram style), per scenario cell |
//! | [`timeline`] | req/s and p99 over time, when interval data exists |
//! | [`rate`] | p99 against offered rate, when a rate search ran |
//! | [`kernel`] | where the CPU goes per scenario cell: user vs kernel µs per request, the kernel's counts beside it |
//! | [`baseline`] | relative change per cell against a baseline run |
//!
//! Text comes from the font compiled into the binary ([`font`]), never
//! from the system, so a report renders identically on a fresh machine.
//! Each core keeps one colour across every chart ([`Palette`]).

pub(crate) mod backend;
pub(crate) mod baseline;
pub(crate) mod cpu;
pub(crate) mod font;
pub(crate) mod kernel;
pub(crate) mod latency;
pub(crate) mod rate;
pub(crate) mod throughput;
pub(crate) mod timeline;

use std::path::{Path, PathBuf};

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Serialize;

use crate::analysis::Analysis;
use crate::compare::Comparison;
use crate::error::ReportError;

/// Font family every chart uses; registered by [`font::register`].
pub(crate) const FONT: &str = "sans-serif";
/// Width of every chart, px. The page shows charts at up to this width.
pub(crate) const WIDTH: u32 = 1100;

/// One PNG the report wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// File name, relative to the report directory.
    pub file: String,
    /// What it shows (also the image's alt text).
    pub title: String,
    /// Which section of the page it belongs to.
    pub kind: ChartKind,
    /// The scenario cell it is about, for per-cell charts.
    pub group: Option<String>,
}

/// Which section of the page a chart belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Throughput across scenario cells.
    Throughput,
    /// CPU per request across scenario cells.
    Cpu,
    /// Latency distribution of one scenario cell.
    Latency,
    /// Throughput and latency over time of one scenario cell.
    Timeline,
    /// Latency against offered rate of one scenario cell.
    Rate,
    /// User vs kernel CPU and the kernel's counts of one scenario cell.
    Kernel,
    /// Changes against the baseline.
    Baseline,
}

/// A colour per core, fixed by the core's position in the report's core
/// order (see [`crate::model::core_order`]).
#[derive(Debug, Clone)]
pub struct Palette {
    cores: Vec<String>,
}

/// Tableau 10: distinct, colour-blind-considerate, good on white.
const COLOURS: [(u8, u8, u8); 10] = [
    (0x4e, 0x79, 0xa7),
    (0xf2, 0x8e, 0x2b),
    (0x59, 0xa1, 0x4f),
    (0xb0, 0x7a, 0xa1),
    (0xe1, 0x57, 0x59),
    (0x76, 0xb7, 0xb2),
    (0xed, 0xc9, 0x48),
    (0x9c, 0x75, 0x5f),
    (0xff, 0x9d, 0xa7),
    (0x79, 0x70, 0x6e),
];

impl Palette {
    /// A palette over `cores`, in colour order.
    pub fn new(cores: Vec<String>) -> Palette {
        Palette { cores }
    }

    /// The core's colour (grey for a core the palette was not given, dark
    /// grey for the no-proxy baseline, so it never looks like a contender).
    pub fn color(&self, core: &str) -> RGBColor {
        if core == pb_results::DIRECT {
            return RGBColor(0x55, 0x55, 0x55);
        }
        let Some(i) = self.cores.iter().position(|c| c == core) else {
            return RGBColor(0x88, 0x88, 0x88);
        };
        // Past ten cores (a grid run), the same hues darker, then lighter.
        let (r, g, b) = COLOURS[i % COLOURS.len()];
        let shade = |c: u8| match (i / COLOURS.len()) % 3 {
            0 => c,
            1 => (f64::from(c) * 0.62).round() as u8,
            _ => (f64::from(c) + (255.0 - f64::from(c)) * 0.5).round() as u8,
        };
        RGBColor(shade(r), shade(g), shade(b))
    }

    /// The core's place in colour order (unknown cores last).
    pub fn rank(&self, core: &str) -> usize {
        self.cores
            .iter()
            .position(|c| c == core)
            .unwrap_or(usize::MAX)
    }

    /// The same colour as CSS `#rrggbb`, for the page's swatches.
    pub fn css(&self, core: &str) -> String {
        let RGBColor(r, g, b) = self.color(core);
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

/// Draws every chart the data supports into `dir`; returns them in page
/// order.
pub(crate) fn draw_all(
    dir: &Path,
    analysis: &Analysis,
    comparison: Option<&Comparison>,
    palette: &Palette,
) -> Result<Vec<Chart>, ReportError> {
    font::register()?;
    let mut charts = Vec::new();
    if analysis
        .groups
        .iter()
        .any(|g| g.measured().next().is_some())
    {
        charts.push(throughput::draw(dir, analysis, palette)?);
        charts.push(cpu::draw(dir, analysis, palette)?);
    }
    for (i, group) in analysis.groups.iter().enumerate() {
        let slug = format!("{:02}-{}", i + 1, slug(&group.label));
        if !group.latency.is_empty() {
            charts.push(latency::draw(dir, &slug, group, palette)?);
        }
        if !group.timelines.is_empty() {
            charts.push(timeline::draw(dir, &slug, group, palette)?);
        }
        if !group.rate_curves.is_empty() {
            charts.push(rate::draw(dir, &slug, group, palette)?);
        }
        if let Some(view) = &group.kernel {
            charts.push(kernel::draw(dir, &slug, group, view, palette)?);
        }
    }
    if let Some(comparison) = comparison.filter(|c| !c.cells.is_empty()) {
        charts.push(baseline::draw(dir, comparison)?);
    }
    Ok(charts)
}

/// A label as a file-name fragment: `echo/100B/c50x1` -> `echo-100B-c50x1`.
pub(crate) fn slug(label: &str) -> String {
    let mut out = String::new();
    for ch in label.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The drawing area every chart function draws on.
pub(crate) type Area<'a> = DrawingArea<backend::ChartBackend<'a>, Shift>;

/// A plotters failure, as text (its error type is generic over the
/// backend, and the report only needs to say what happened).
#[derive(Debug)]
pub(crate) struct DrawError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// Draws a `width` x `height` chart with `draw` and writes it to
/// `dir/file` as PNG.
pub(crate) fn render(
    dir: &Path,
    file: &str,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<(), DrawError>,
) -> Result<PathBuf, ReportError> {
    let path = dir.join(file);
    let chart_error = |message: String| ReportError::Chart {
        path: path.clone(),
        message,
    };
    let face = font::face()?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let bitmap = BitMapBackend::with_buffer(&mut rgb, (width, height));
        let root = backend::ChartBackend::new(bitmap, face).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_error(e.to_string()))?;
        draw(&root).map_err(|DrawError(m)| chart_error(m))?;
        root.present().map_err(|e| chart_error(e.to_string()))?;
    }
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder
            .write_header()
            .map_err(|e| chart_error(e.to_string()))?;
        writer
            .write_image_data(&rgb)
            .map_err(|e| chart_error(e.to_string()))?;
        writer.finish().map_err(|e| chart_error(e.to_string()))?;
    }
    std::fs::write(&path, encoded).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Text style of a given size (px, ascent to descent) in the chart font.
pub(crate) fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&TEXT)
}

/// Draws a chart's title, centred, and under it a legend row (wrapped
/// when it does not fit) of `entries`, outside the plot so it never
/// covers data. Returns the height used.
pub(crate) fn header(
    area: &Area<'_>,
    title: &str,
    entries: &[(String, RGBColor)],
) -> Result<u32, DrawError> {
    let (width, _) = area.dim_in_pixel();
    let title_style = text(24);
    let (title_w, _) = area.estimate_text_size(title, &title_style)?;
    area.draw(&Text::new(
        title.to_owned(),
        ((width as i32 - title_w as i32) / 2, 12),
        title_style,
    ))?;

    let style = text(16);
    let mut rows: Vec<Vec<(&str, RGBColor, u32)>> = vec![Vec::new()];
    let mut used = 0;
    for (label, color) in entries {
        let w = area.estimate_text_size(label, &style)?.0 + 18 + 26;
        if used + w > width.saturating_sub(40) && used > 0 {
            rows.push(Vec::new());
            used = 0;
        }
        used += w;
        rows.last_mut().expect("one row").push((label, *color, w));
    }
    let mut y = 50;
    for row in rows.iter().filter(|r| !r.is_empty()) {
        let total: u32 = row.iter().map(|e| e.2).sum();
        let mut x = (width.saturating_sub(total) / 2) as i32;
        for &(label, color, w) in row {
            area.draw(&Rectangle::new(
                [(x, y + 3), (x + 13, y + 16)],
                color.filled(),
            ))?;
            area.draw(&Text::new(label.to_owned(), (x + 18, y), style.clone()))?;
            x += w as i32;
        }
        y += 26;
    }
    Ok(y as u32 + 6)
}

/// `color` mixed with `white` (0..=1) parts of white: the lighter half
/// of a two-part bar.
pub(crate) fn tint(color: RGBColor, white: f64) -> RGBColor {
    let mix = |c: u8| (c as f64 + (255.0 - c as f64) * white).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Body text colour: near-black reads softer than pure black.
pub(crate) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Grid and secondary lines.
pub(crate) const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
/// Muted text (n/a, notes).
pub(crate) const MUTED: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// Legend entry of [`reference_lines`].
pub(crate) const REFERENCE_LEGEND: &str = "dashed: reference proxies' medians across their group";

/// Where each reference proxy (nginx, HAProxy, ...) of each group lies by
/// `value`: a dashed line in its colour across the whole group, drawn
/// behind the bars, so that every core's bar reads against the proxies
/// its users would otherwise run. Empty when no group ran one.
pub(crate) fn reference_lines(
    groups: &[crate::analysis::GroupAnalysis],
    value: impl Fn(&crate::analysis::CoreRow) -> Option<f64>,
    palette: &Palette,
) -> Vec<plotters::element::DashedPathElement<std::vec::IntoIter<(f64, f64)>, u32>> {
    let mut lines = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for row in group.rows.iter().filter(|r| r.reference_proxy) {
            let Some(y) = value(row).filter(|v| v.is_finite()) else {
                continue;
            };
            let x = g as f64;
            let style = palette.color(&row.core).stroke_width(2);
            lines.extend(DashedLineSeries::new(
                vec![(x + 0.01, y), (x + 0.99, y)],
                9,
                5,
                style,
            ));
        }
    }
    lines
}

/// The font size of the group labels under the bar charts: smaller when
/// the labels would run into each other (long cell names, many cells).
pub(crate) fn group_label_size(groups: &[crate::analysis::GroupAnalysis]) -> u32 {
    let longest = groups
        .iter()
        .map(|g| g.label.chars().count())
        .max()
        .unwrap_or(0);
    // About 0.55 em per character; the plot is about WIDTH - 100 px wide.
    let room = f64::from(WIDTH - 100) / groups.len().max(1) as f64;
    let fits = room / (0.55 * longest.max(1) as f64);
    fits.floor().clamp(10.0, 16.0) as u32
}

/// A legend swatch: a filled square in `color`.
pub(crate) fn swatch(color: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled())
}

/// Positions of bars within a group of a grouped bar chart: the group
/// spans `[g, g+1)`, with `slots` bars side by side in its middle 80 %.
/// Returns `(left, right)` of bar `i`.
pub(crate) fn bar_span(group: usize, slots: usize, i: usize) -> (f64, f64) {
    let inner = 0.8 / slots.max(1) as f64;
    let left = group as f64 + 0.1 + i as f64 * inner;
    (left + inner * 0.1, left + inner * 0.9)
}

/// An f64 axis (linear or log) whose ticks sit exactly at given
/// positions: group centres of a bar chart, percentiles on the latency
/// chart, 1-2-5 steps on a log scale. (plotters' own `with_key_points`
/// lacks a value formatter for f64 axes.)
#[derive(Clone)]
pub(crate) struct KeyedAxis<R = RangedCoordf64> {
    inner: R,
    keys: Vec<f64>,
}

impl KeyedAxis {
    /// A linear `range` with ticks at `keys`.
    pub(crate) fn new(range: Range<f64>, keys: Vec<f64>) -> KeyedAxis {
        KeyedAxis {
            inner: range.into(),
            keys,
        }
    }
}

impl KeyedAxis<LogCoord<f64>> {
    /// A log `range` (both ends positive) with ticks at 1, 2 and 5 times
    /// each power of ten inside it.
    pub(crate) fn log(range: Range<f64>) -> KeyedAxis<LogCoord<f64>> {
        let keys = log_ticks(range.start, range.end);
        KeyedAxis {
            inner: range.log_scale().into(),
            keys,
        }
    }
}

/// 1-2-5 steps within `[lo, hi]`.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut keys = Vec::new();
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return keys;
    }
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for step in [1.0, 2.0, 5.0] {
            let v = decade * step;
            if v >= lo && v <= hi {
                keys.push(v);
            }
        }
        decade *= 10.0;
    }
    keys
}

impl<R: Ranged<ValueType = f64>> Ranged for KeyedAxis<R> {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Only bold ticks: the light mesh would repeat them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

impl<R> ValueFormatter<f64> for KeyedAxis<R> {
    fn format(value: &f64) -> String {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::analysis::{Analysis, RateCurve, Timeline};
    use crate::model::Run;

    /// The closed-loop fixture (windows shorter than one interval, no rate
    /// search) with timelines and rate curves filled in by hand, including
    /// a core with no rate within the bound: the charts draw them.
    #[test]
    fn timeline_and_rate_charts_draw_when_the_data_exists() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/echo-4-cores.json");
        let results = pb_results::io::read_results(&path).unwrap();
        let run = Run::new(&path, results);
        let mut analysis = Analysis::new(&run, None).unwrap();
        let group = &mut analysis.groups[0];
        assert!(group.timelines.is_empty() && group.rate_curves.is_empty());
        // The run's first two cores: the palette's first two colours.
        for (i, core) in run.cores().into_iter().take(2).enumerate() {
            let k = i as f64 + 1.0;
            group.timelines.push(Timeline {
                core: core.clone(),
                points: (0..20)
                    .map(|t| (t as f64 * 0.1, 100_000.0 * k + t as f64 * 500.0, 200.0 * k))
                    .collect(),
                resources: (0..20)
                    .map(|t| (t as f64 * 0.1, 8.0 * k, 60.0 + k))
                    .collect(),
            });
            group.rate_curves.push(RateCurve {
                core,
                percentile: 99.0,
                searched: 99.0,
                bound_us: 1000.0,
                found_rate: (i == 0).then_some(60_000.0),
                points: (1..8)
                    .map(|r| (r as f64 * 20_000.0, 100.0 * k * (1.0 + (r * r) as f64)))
                    .collect(),
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let palette = Palette::new(run.cores());
        let charts = draw_all(dir.path(), &analysis, None, &palette).unwrap();
        let kinds: Vec<ChartKind> = charts.iter().map(|c| c.kind).collect();
        for kind in [ChartKind::Timeline, ChartKind::Rate] {
            assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "{kinds:?}");
        }
        for chart in charts
            .iter()
            .filter(|c| matches!(c.kind, ChartKind::Timeline | ChartKind::Rate))
        {
            let file = std::fs::File::open(dir.path().join(&chart.file)).unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(file))
                .read_info()
                .unwrap();
            let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut rgb).unwrap();
            assert!(info.width >= 600, "{}", chart.file);
            let blue = rgb.chunks(3).filter(|p| *p == [0x4e, 0x79, 0xa7]).count();
            let orange = rgb.chunks(3).filter(|p| *p == [0xf2, 0x8e, 0x2b]).count();
            assert!(
                blue > 100 && orange > 100,
                "{}: {blue} {orange}",
                chart.file
            );
        }
    }

    #[test]
    fn slugs_are_file_safe() {
        assert_eq!(slug("echo/100B/c50x1"), "echo-100B-c50x1");
        assert_eq!(slug("a b//c"), "a-b-c");
    }

    #[test]
    fn colours_follow_the_core_order() {
        let p = Palette::new(vec!["a".into(), "b".into()]);
        assert_eq!(p.css("a"), "#4e79a7");
        assert_eq!(p.css("b"), "#f28e2b");
        assert_eq!(p.css("zzz"), "#888888");
        // Thirty cores (a grid run): thirty different colours.
        let many: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let p = Palette::new(many.clone());
        let colours: std::collections::BTreeSet<String> = many.iter().map(|c| p.css(c)).collect();
        assert_eq!(colours.len(), 30);
    }

    #[test]
    fn log_ticks_step_1_2_5() {
        assert_eq!(
            log_ticks(12.0, 1100.0),
            [20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert!(log_ticks(0.0, 10.0).is_empty());
    }

    #[test]
    fn bars_stay_inside_their_group() {
        for slots in 1..6 {
            for i in 0..slots {
                let (l, r) = bar_span(2, slots, i);
                assert!(2.0 < l && l < r && r < 3.0, "{slots} {i}: {l} {r}");
            }
        }
    }
}
