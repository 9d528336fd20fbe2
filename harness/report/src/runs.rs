//! The index of every run kept under a reports directory:
//! `reports/index.html` links each run's report and draws, per scenario
//! cell, each core's headline figures (CPU per request, p99 latency,
//! throughput) across the runs, so drift shows without a gate.
//!
//! Each run's report directory keeps its headline figures in
//! [`HEADLINE`] (a few hundred bytes per cell, versioned), written by
//! [`crate::publish_run`]; the index is rebuilt from those files after
//! every run, so deleting a run's directory removes it from the index,
//! and the results files (which may live elsewhere, or be gone) are not
//! needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pb_results::{CellStatus, Results};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::charts::{self, Area, DrawError, GRID, MUTED, Palette, header, text};
use crate::error::ReportError;
use crate::fmt;

/// The headline file in each run's report directory.
pub const HEADLINE: &str = "headline.json";

/// Version of [`Headline`]'s layout; an index skips (and names) files of
/// another version rather than misread them.
pub const HEADLINE_VERSION: u32 = 1;

/// Runs of one scenario drawn in a trend chart: the newest this many.
pub const TREND_RUNS: usize = 30;

/// A run's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// [`HEADLINE_VERSION`].
    pub version: u32,
    /// The run's id (its report directory's name).
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// The scenario file's name: trends join runs of the same one.
    pub scenario: String,
    /// `git describe` of the build.
    pub git_revision: String,
    /// `release` or `debug`.
    pub build_profile: String,
    /// One entry per cell that ran.
    pub cells: Vec<HeadlineCell>,
    /// Cells that failed.
    pub failed: usize,
    /// Errors over every cell.
    pub errors: u64,
}

/// One cell's headline figures (medians over its trials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadlineCell {
    /// The scenario cell, without the core.
    pub group: String,
    /// The core.
    pub core: String,
    /// Requests per second.
    pub qps: f64,
    /// p99 latency, µs.
    pub p99_us: f64,
    /// Core CPU per request, µs.
    pub cpu_us_per_req: Option<f64>,
}

impl Headline {
    /// The headline of `results`.
    pub fn of(results: &Results) -> Headline {
        Headline {
            version: HEADLINE_VERSION,
            run_id: results.run_id.clone(),
            started_at: results.started_at.clone(),
            scenario: results.scenario.name.clone(),
            git_revision: results.environment.git_revision.clone(),
            build_profile: results.environment.build_profile.clone(),
            cells: results
                .cells
                .iter()
                .filter_map(|cell| {
                    let s = cell.summary.as_ref()?;
                    Some(HeadlineCell {
                        group: cell.label().to_owned(),
                        core: cell.core.clone(),
                        qps: s.qps,
                        p99_us: s.latency_us.p99,
                        cpu_us_per_req: s.cpu_us_per_req,
                    })
                })
                .collect(),
            failed: results
                .cells
                .iter()
                .filter(|c| c.status == CellStatus::Failed)
                .count(),
            errors: results
                .cells
                .iter()
                .filter_map(|c| c.summary.as_ref())
                .map(|s| s.errors)
                .sum(),
        }
    }

    /// Writes it into a run's report directory.
    pub fn write(&self, report_dir: &Path) -> Result<(), ReportError> {
        let path = report_dir.join(HEADLINE);
        let json = serde_json::to_string_pretty(self).expect("headlines serialise");
        std::fs::write(&path, json).map_err(|source| ReportError::Write { path, source })
    }
}

/// What [`write_index`] found.
#[derive(Debug)]
pub struct Index {
    /// `reports_dir/index.html`.
    pub html: PathBuf,
    /// The runs listed, newest first.
    pub runs: Vec<Headline>,
    /// Trend charts written beside it.
    pub charts: Vec<PathBuf>,
    /// Run directories whose headline could not be read, with why.
    pub skipped: Vec<String>,
}

/// Rebuilds `reports_dir/index.html` and its trend charts from every
/// run directory's [`HEADLINE`].
pub fn write_index(reports_dir: &Path) -> Result<Index, ReportError> {
    let (mut runs, skipped) = read_headlines(reports_dir)?;
    runs.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then(b.run_id.cmp(&a.run_id))
    });
    remove_old_trends(reports_dir)?;
    let mut trends = Vec::new();
    for (scenario, series) in trend_series(&runs) {
        for (n, trend) in series.into_iter().enumerate() {
            let file = format!("trend-{}-{:02}.png", charts::slug(&scenario), n + 1);
            charts::render(reports_dir, &file, (charts::WIDTH, 760), |root| {
                plot(root, &scenario, &trend)
            })?;
            trends.push(TrendView {
                scenario: scenario.clone(),
                group: trend.group.clone(),
                runs: trend.runs.len(),
                file,
            });
        }
    }
    let html = reports_dir.join(crate::INDEX);
    let page = IndexPage {
        runs: runs.iter().map(RunRow::of).collect(),
        trends: &trends,
        skipped: &skipped,
    };
    crate::html::write_page(
        &html,
        "runs.html.j2",
        include_str!("../templates/runs.html.j2"),
        &page,
    )?;
    Ok(Index {
        html,
        charts: trends.iter().map(|t| reports_dir.join(&t.file)).collect(),
        runs,
        skipped,
    })
}

/// Every run directory's headline; `latest/` is a copy and is skipped.
fn read_headlines(reports_dir: &Path) -> Result<(Vec<Headline>, Vec<String>), ReportError> {
    let read_error = |source| ReportError::List {
        path: reports_dir.to_owned(),
        source,
    };
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for entry in std::fs::read_dir(reports_dir).map_err(read_error)? {
        let dir = entry.map_err(read_error)?.path();
        if !dir.is_dir() || dir.file_name().is_some_and(|n| n == "latest") {
            continue;
        }
        let path = dir.join(HEADLINE);
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        match std::fs::read_to_string(&path) {
            // A report made before headlines existed, or not by a run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => skipped.push(format!("{name}: {e}")),
            Ok(json) => match serde_json::from_str::<Headline>(&json) {
                Ok(h) if h.version == HEADLINE_VERSION => runs.push(h),
                Ok(h) => skipped.push(format!(
                    "{name}: headline version {} (this proxybench reads {HEADLINE_VERSION})",
                    h.version
                )),
                Err(e) => skipped.push(format!("{name}: {HEADLINE}: {e}")),
            },
        }
    }
    Ok((runs, skipped))
}

fn remove_old_trends(reports_dir: &Path) -> Result<(), ReportError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Write { path, source }
    };
    for entry in std::fs::read_dir(reports_dir).map_err(write_error(reports_dir))? {
        let path = entry.map_err(write_error(reports_dir))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("trend-") && name.ends_with(".png") {
            std::fs::remove_file(&path).map_err(write_error(&path))?;
        }
    }
    Ok(())
}

/// One scenario cell's figures across runs, oldest first.
#[derive(Debug, PartialEq)]
struct Trend {
    group: String,
    /// Each run's id and start time, oldest first.
    runs: Vec<(String, String)>,
    /// Per core, its cell in each run (`None` where it did not run).
    cores: Vec<(String, Vec<Option<HeadlineCell>>)>,
}

/// Per scenario (in order of its newest run) the trend of each cell that
/// ran in at least two of its newest [`TREND_RUNS`] runs.
fn trend_series(newest_first: &[Headline]) -> Vec<(String, Vec<Trend>)> {
    let mut scenarios: Vec<(String, Vec<&Headline>)> = Vec::new();
    for run in newest_first {
        match scenarios.iter_mut().find(|(s, _)| *s == run.scenario) {
            Some((_, runs)) if runs.len() < TREND_RUNS => runs.push(run),
            Some(_) => {}
            None => scenarios.push((run.scenario.clone(), vec![run])),
        }
    }
    scenarios
        .into_iter()
        .map(|(scenario, mut runs)| {
            runs.reverse();
            let mut groups: Vec<String> = Vec::new();
            for cell in runs.iter().flat_map(|r| &r.cells) {
                if !groups.contains(&cell.group) {
                    groups.push(cell.group.clone());
                }
            }
            let trends = groups
                .into_iter()
                .filter_map(|group| {
                    let ran = runs
                        .iter()
                        .filter(|r| r.cells.iter().any(|c| c.group == group))
                        .count();
                    (ran >= 2).then(|| trend(&group, &runs))
                })
                .collect();
            (scenario, trends)
        })
        .filter(|(_, trends): &(String, Vec<Trend>)| !trends.is_empty())
        .collect()
}

fn trend(group: &str, runs: &[&Headline]) -> Trend {
    let mut cores: BTreeMap<usize, (String, Vec<Option<HeadlineCell>>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for cell in run.cells.iter().filter(|c| c.group == group) {
            let rank = match order.iter().position(|c| *c == cell.core) {
                Some(rank) => rank,
                None => {
                    order.push(cell.core.clone());
                    order.len() - 1
                }
            };
            let entry = cores
                .entry(rank)
                .or_insert_with(|| (cell.core.clone(), vec![None; runs.len()]));
            entry.1[i] = Some(cell.clone());
        }
    }
    Trend {
        group: group.to_owned(),
        runs: runs
            .iter()
            .map(|r| (r.run_id.clone(), r.started_at.clone()))
            .collect(),
        cores: cores.into_values().collect(),
    }
}

/// The panels of a trend chart, top to bottom.
#[derive(Clone, Copy)]
enum Figure {
    Cpu,
    P99,
    Qps,
}

impl Figure {
    fn of(self, cell: &HeadlineCell) -> Option<f64> {
        match self {
            Figure::Cpu => cell.cpu_us_per_req,
            Figure::P99 => Some(cell.p99_us),
            Figure::Qps => Some(cell.qps),
        }
        .filter(|v| v.is_finite())
    }

    fn caption(self) -> &'static str {
        match self {
            Figure::Cpu => "core CPU per request, µs (median of trials)",
            Figure::P99 => "p99 latency, µs (median of trials)",
            Figure::Qps => "requests/s (median of trials)",
        }
    }
}

fn plot(root: &Area<'_>, scenario: &str, trend: &Trend) -> Result<(), DrawError> {
    let palette = Palette::new(trend.cores.iter().map(|(c, _)| c.clone()).collect());
    let entries: Vec<_> = trend
        .cores
        .iter()
        .map(|(core, _)| (core.clone(), palette.color(core)))
        .collect();
    let used = header(
        root,
        &format!("{scenario}: {} — across runs", trend.group),
        &entries,
    )?;
    let (_, body) = root.split_vertically(used);
    let (_, height) = body.dim_in_pixel();
    let panels = body.split_evenly((3, 1));
    let n = trend.runs.len();
    let labels: Vec<String> = trend.runs.iter().map(|(_, at)| short_time(at)).collect();
    for (area, figure) in panels.iter().zip([Figure::Cpu, Figure::P99, Figure::Qps]) {
        let y_max = trend
            .cores
            .iter()
            .flat_map(|(_, cells)| cells.iter().flatten())
            .filter_map(|c| figure.of(c))
            .fold(0.0, f64::max)
            .max(1e-3)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(figure.caption(), text(16))
            .margin(10)
            .x_label_area_size(if height > 600 { 34 } else { 28 })
            .y_label_area_size(70)
            .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), 0f64..y_max)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(MUTED)
            .x_labels(n.min(12))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| match figure {
                Figure::Qps => fmt::rate_tick(*y),
                Figure::Cpu | Figure::P99 => format!("{y:.0}"),
            })
            .label_style(text(13))
            .draw()?;
        for (core, cells) in &trend.cores {
            let color = palette.color(core);
            let points: Vec<(f64, f64)> = cells
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().and_then(|c| figure.of(c)).map(|v| (i as f64, v)))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    Ok(())
}

/// `2026-12-02T00:15:22Z` -> `12-02 00:15`.
fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(5..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => rfc3339.to_owned(),
    }
}

#[derive(Serialize)]
struct IndexPage<'a> {
    runs: Vec<RunRow>,
    trends: &'a [TrendView],
    skipped: &'a [String],
}

#[derive(Serialize)]
struct RunRow {
    run_id: String,
    started_at: String,
    scenario: String,
    git_revision: String,
    build_profile: String,
    cells: usize,
    failed: usize,
    errors: u64,
    href: String,
}

impl RunRow {
    fn of(h: &Headline) -> RunRow {
        RunRow {
            run_id: h.run_id.clone(),
            started_at: h.started_at.clone(),
            scenario: h.scenario.clone(),
            git_revision: h.git_revision.clone(),
            build_profile: h.build_profile.clone(),
            cells: h.cells.len(),
            failed: h.failed,
            errors: h.errors,
            href: format!("{}/{}", h.run_id, crate::INDEX),
        }
    }
}

#[derive(Debug, Serialize)]
struct TrendView {
    scenario: String,
    group: String,
    runs: usize,
    file: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, scenario: &str, cells: &[(&str, &str, f64)]) -> Headline {
        Headline {
            version: HEADLINE_VERSION,
            run_id: id.into(),
            started_at: format!("2026-12-0{id}T10:00:00Z"),
            scenario: scenario.into(),
            git_revision: "abc".into(),
            build_profile: "release".into(),
            cells: cells
                .iter()
                .map(|(group, core, cpu)| HeadlineCell {
                    group: (*group).into(),
                    core: (*core).into(),
                    qps: 1000.0,
                    p99_us: 100.0,
                    cpu_us_per_req: Some(*cpu),
                })
                .collect(),
            failed: 0,
            errors: 0,
        }
    }

    #[test]
    fn trends_join_runs_of_one_scenario_oldest_first_and_need_two_runs() {
        let newest_first = [
            run("3", "default", &[("echo", "a", 3.0), ("echo", "b", 30.0)]),
            run("2", "grid", &[("echo", "a", 9.0)]),
            run("1", "default", &[("echo", "a", 1.0), ("http", "a", 5.0)]),
        ];
        let series = trend_series(&newest_first);
        assert_eq!(series.len(), 1, "grid ran once: no trend");
        let (scenario, trends) = &series[0];
        assert_eq!(scenario, "default");
        assert_eq!(trends.len(), 1, "http ran once: no trend");
        let t = &trends[0];
        assert_eq!(t.group, "echo");
        assert_eq!(
            t.runs.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ["1", "3"]
        );
        let cpu = |core: &str| {
            t.cores
                .iter()
                .find(|(c, _)| c == core)
                .unwrap()
                .1
                .iter()
                .map(|c| c.as_ref().and_then(|c| c.cpu_us_per_req))
                .collect::<Vec<_>>()
        };
        assert_eq!(cpu("a"), [Some(1.0), Some(3.0)]);
        assert_eq!(cpu("b"), [None, Some(30.0)], "b ran only in the newer run");
    }

    #[test]
    fn times_shorten_to_day_and_minute() {
        assert_eq!(short_time("2026-12-02T00:15:22Z"), "12-02 00:15");
        assert_eq!(short_time("soon"), "soon");
    }
}
