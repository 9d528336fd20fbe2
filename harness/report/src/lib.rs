//! Comparison reports: one results file (and optionally a baseline) in, a
//! directory with a self-contained `index.html` and its PNG charts out.
//! The page works offline from disk: inline CSS, images by relative path.
//!
//! The modules follow the data:
//!
//! | module | role |
//! |---|---|
//! | [`model`] | a results file grouped into scenario cells, and the core order that fixes colours |
//! | [`analysis`] | per scenario cell: rows, ratios to the reference core, winners (a clear lead by the gate's rule), merged-histogram latency curves, cost over `direct` |
//! | [`compare`] | current vs baseline per cell and metric, judged by the gate's rule |
//! | [`charts`] | PNGs drawn with plotters and an embedded font |
//! | [`html`] | the page, from `templates/` via minijinja |
//! | [`kernel`] | per scenario cell: where each core's CPU goes (user vs kernel, syscalls, io_uring, switches, allocations), the distance from the scenario's floor of data syscalls, the largest difference between cores |
//! | [`factors`] | loads run at two or more levels of a setup factor (driver backends, network paths): each core's cost and tail at each, the counters that explain it, and whether the cheapest core changes with the level |
//! | [`grid`] | the runtime × composition grid of each scenario cell, and each factor's effect with the other held fixed |
//! | [`runs`] | the index of every run kept (`reports/index.html`): a link to each, and each headline figure's trend across runs |
//! | [`claims`] | the claims ledger of `proxybench claims` as a page (`reports/claims/<run-id>/index.html`) |
//! | [`fmt`] | number formatting shared by charts and page |
//! | [`error`] | [`ReportError`]: every variant names its file |
//!
//! "Significant" means what it means to the regression gate: the rule
//! of `pb-stats` ([`pb_stats::Rule`]: one-sided Mann-Whitney U, the
//! Hodges-Lehmann shift with its interval, the policy's thresholds), with
//! the gate's words for its verdicts.
//!
//! The report reads result files only: it knows nothing of cores, the
//! driver or the runner beyond what `pb-results` records.

pub mod analysis;
pub mod charts;
pub mod claims;
pub mod compare;
pub mod error;
pub mod factors;
pub mod fmt;
pub mod grid;
pub mod html;
pub mod kernel;
pub mod model;
pub mod runs;

use std::path::{Path, PathBuf};

use pb_results::Results;
use pb_stats::Rule;

pub use crate::error::ReportError;

/// Name of the page in a report directory.
pub const INDEX: &str = "index.html";

/// Choices that change what the report says.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Core the ratios are taken to; default: the first core in the
    /// file's order that is not the `direct` path
    /// ([`analysis::reference_core`]).
    pub reference: Option<String>,
    /// The significance rule (the gate policy's statistics); default the
    /// built-in one, [`Rule::default`], as `proxybench gate` without
    /// `--policy`.
    pub rule: Rule,
}

/// A report on disk.
#[derive(Debug, Clone)]
pub struct Report {
    /// The page.
    pub html: PathBuf,
    /// Every chart it shows, in page order.
    pub charts: Vec<PathBuf>,
}

/// Reads `current` (and `baseline`) and writes a report into `out`.
pub fn render_files(
    current: &Path,
    baseline: Option<&Path>,
    options: &Options,
    out: &Path,
) -> Result<Report, ReportError> {
    let results = pb_results::io::read_results(current)?;
    let base = baseline
        .map(|path| pb_results::io::read_results(path).map(|r| (path, r)))
        .transpose()?;
    render(
        current,
        &results,
        base.as_ref().map(|(p, r)| (*p, r)),
        options,
        out,
    )
}

/// Writes a report on `results` (read from `path`) into `out`, compared
/// with `baseline` when given.
pub fn render(
    path: &Path,
    results: &Results,
    baseline: Option<(&Path, &Results)>,
    options: &Options,
    out: &Path,
) -> Result<Report, ReportError> {
    let current = model::Run::new(path, results.clone());
    let base = baseline.map(|(p, r)| model::Run::new(p, r.clone()));
    let analysis = analysis::Analysis::with_rule(
        &current,
        options.reference.as_deref(),
        options.rule.clone(),
    )?;
    let comparison = match &base {
        Some(base) => {
            // The baseline is analysed with the same reference when it has
            // that core, else with its own default.
            let reference =
                Some(analysis.reference.as_str()).filter(|r| base.cores().iter().any(|c| c == r));
            let base_analysis =
                analysis::Analysis::with_rule(base, reference, options.rule.clone())?;
            Some(compare::Comparison::new(&base_analysis, &analysis))
        }
        None => None,
    };
    let palette = charts::Palette::new(model::core_order(&current, base.as_ref()));

    std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
        path: out.to_owned(),
        source,
    })?;
    let drawn = charts::draw_all(out, &analysis, comparison.as_ref(), &palette)?;
    let html = html::write(
        out,
        &html::Inputs {
            current: &current,
            baseline: base.as_ref(),
            analysis: &analysis,
            comparison: comparison.as_ref(),
            charts: &drawn,
            palette: &palette,
        },
    )?;
    Ok(Report {
        html,
        charts: drawn.iter().map(|c| out.join(&c.file)).collect(),
    })
}

/// What [`publish_run`] wrote.
#[derive(Debug)]
pub struct Published {
    /// The run's report in `reports_dir/<run-id>/`.
    pub report: Report,
    /// `reports_dir/latest/index.html`, a copy of it.
    pub latest: PathBuf,
    /// The index of every run kept, with trends ([`runs::write_index`]).
    pub index: runs::Index,
}

/// What `proxybench run` leaves behind: `reports_dir/<run-id>/` (with the
/// run's [`runs::HEADLINE`]), a copy in `reports_dir/latest/` so the
/// newest report has a stable address, and the index of runs
/// `reports_dir/index.html`. An A/B run's report compares against the
/// baseline build's results.
pub fn publish_run(
    results_path: &Path,
    results: &Results,
    baseline: Option<(&Path, &Results)>,
    reports_dir: &Path,
) -> Result<Published, ReportError> {
    let dir = reports_dir.join(&results.run_id);
    let report = render(results_path, results, baseline, &Options::default(), &dir)?;
    runs::Headline::of(results).write(&dir)?;
    let latest = reports_dir.join("latest");
    copy_report(&report, &latest)?;
    let index = runs::write_index(reports_dir)?;
    Ok(Published {
        report,
        latest: latest.join(INDEX),
        index,
    })
}

/// Copies a report's files into `dir`, first removing pages and charts a
/// previous report left there (its cells may have been different).
fn copy_report(report: &Report, dir: &Path) -> Result<(), ReportError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    for entry in std::fs::read_dir(dir).map_err(write_error(dir))? {
        let path = entry.map_err(write_error(dir))?.path();
        let ours = path.extension().is_some_and(|e| e == "png" || e == "html");
        if ours && path.is_file() {
            std::fs::remove_file(&path).map_err(write_error(&path))?;
        }
    }
    for file in report.charts.iter().chain([&report.html]) {
        let name = file.file_name().unwrap_or_default();
        let target = dir.join(name);
        std::fs::copy(file, &target).map_err(write_error(&target))?;
    }
    Ok(())
}
