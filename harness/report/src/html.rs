//! The page: a view model of plain, pre-formatted strings, rendered by
//! minijinja from `templates/report.html.j2` (with `templates/style.css`
//! inlined), so the layout lives in template files and every figure is
//! formatted once, in Rust, the same way the charts format it.
//!
//! Templates are compiled into the binary: a report renders from any
//! working directory.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, Output, State, Value};
use pb_results::{CellStatus, DIRECT, Environment as Machine};
use pb_stats::{Metric, Rule, Verdict};
use serde::Serialize;

use crate::analysis::{Analysis, CoreRow, GroupAnalysis, Winner};
use crate::charts::{Chart, ChartKind, Palette};
use crate::compare::Comparison;
use crate::error::ReportError;
use crate::factors::Factor;
use crate::model::{Run, status_label};
use crate::{INDEX, fmt};

const PAGE: &str = "report.html.j2";

/// Everything the page is made from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The run reported on.
    pub current: &'a Run,
    /// The run it is compared with, if any.
    pub baseline: Option<&'a Run>,
    /// Figures of `current`.
    pub analysis: &'a Analysis,
    /// `baseline` -> `current`, if there is a baseline.
    pub comparison: Option<&'a Comparison>,
    /// Charts already written into the report directory.
    pub charts: &'a [Chart],
    /// Core colours (the page's swatches match the charts).
    pub palette: &'a Palette,
}

/// Renders the page into `dir/index.html`; returns its path.
pub fn write(dir: &Path, inputs: &Inputs<'_>) -> Result<PathBuf, ReportError> {
    let path = dir.join(INDEX);
    write_page(
        &path,
        PAGE,
        include_str!("../templates/report.html.j2"),
        &Page::new(inputs),
    )?;
    Ok(path)
}

/// Renders template `name` (its `source`, which may include
/// `style.css`) with `context` into `path`, escaped by
/// [`html_formatter`]: the one way every page of a report directory is
/// written (the run's report, the index of runs).
pub(crate) fn write_page(
    path: &Path,
    name: &str,
    source: &str,
    context: &impl Serialize,
) -> Result<(), ReportError> {
    let template_error = |source| ReportError::Template {
        path: path.to_owned(),
        template: name.into(),
        source,
    };
    let mut env = Environment::new();
    env.set_formatter(html_formatter);
    for (name, source) in [
        (name, source),
        ("style.css", include_str!("../templates/style.css")),
    ] {
        env.add_template(name, source).map_err(template_error)?;
    }
    let html = env
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(context)))
        .map_err(template_error)?;
    std::fs::write(path, html).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Escapes text for HTML like minijinja's default, but leaves `/` alone:
/// cell ids (`echo/100B/c50x1/monoio`) should read, search and link as
/// themselves in the page source. `&`, `<`, `>`, `"` and `'` are escaped,
/// which is all HTML text and quoted attributes need.
fn html_formatter(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#x27;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

// === view model ===

#[derive(Debug, Serialize)]
struct Page {
    run: RunInfo,
    baseline: Option<RunInfo>,
    reference: String,
    cores: Vec<CoreInfo>,
    warnings: Vec<String>,
    winners: Vec<WinnerRow>,
    overview_charts: Vec<ChartView>,
    groups: Vec<GroupView>,
    comparison: Option<ComparisonView>,
    /// The conformance matrix, when the run checked the cores first.
    conformance: Option<ConformanceView>,
    driver_bound: Vec<DriverBound>,
    not_measured: Vec<NotMeasured>,
    environment: Vec<EnvRow>,
    /// The significance rule in words: level, trials, thresholds.
    rule: RuleView,
    /// The runtime × composition grid of each scenario cell with two or
    /// more grid cores, and its effect sentences.
    grids: Vec<GridView>,
    /// Loads run under two or more driver backends, side by side.
    drivers: Vec<FactorView>,
    /// Loads run across two or more networks, side by side.
    networks: Vec<FactorView>,
}

/// One load at each level of a factor, as the page draws it.
#[derive(Debug, Serialize)]
struct FactorView {
    label: String,
    levels: Vec<String>,
    /// One row per core: its name and one cell per level.
    rows: Vec<(String, Vec<LevelView>)>,
    verdict: String,
    /// The cheapest core changed with the level, clearly.
    flip: bool,
}

#[derive(Debug, Serialize)]
struct LevelView {
    ran: bool,
    cpu: String,
    p99: String,
    per_wakeup: String,
    driver_syscalls: String,
    driver_cpu: String,
    qps: String,
}

impl FactorView {
    fn new(pair: &crate::factors::Comparison) -> FactorView {
        let num =
            |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
        let rows = pair
            .rows
            .iter()
            .map(|row| {
                let sides = row
                    .sides
                    .iter()
                    .map(|side| match side {
                        Some(s) => LevelView {
                            ran: true,
                            cpu: num(s.cpu_us_per_req, 1),
                            p99: num(s.p99_us, 0),
                            per_wakeup: num(s.requests_per_wakeup(), 1),
                            driver_syscalls: num(s.driver_syscalls_per_req, 2),
                            driver_cpu: num(s.driver_cpu_us_per_req, 1),
                            qps: s.qps.map_or("-".to_owned(), crate::fmt::rate),
                        },
                        None => LevelView {
                            ran: false,
                            cpu: String::new(),
                            p99: String::new(),
                            per_wakeup: String::new(),
                            driver_syscalls: String::new(),
                            driver_cpu: String::new(),
                            qps: String::new(),
                        },
                    })
                    .collect();
                (row.core.clone(), sides)
            })
            .collect();
        FactorView {
            label: pair.label.clone(),
            levels: pair.levels.clone(),
            rows,
            verdict: pair.verdict(),
            flip: pair.flip(),
        }
    }
}

/// One scenario cell's grid, as the page draws it.
#[derive(Debug, Serialize)]
struct GridView {
    label: String,
    compositions: Vec<String>,
    /// One row per runtime: its name and one text per composition
    /// (`-` where no core fills the cell).
    rows: Vec<(String, Vec<GridCellView>)>,
    /// Effects whose interval excludes zero.
    effects: Vec<String>,
    /// The rest: within noise, or too few trials to bound.
    other_effects: Vec<String>,
    /// Interactions whose interval excludes zero.
    interactions: Vec<String>,
    /// The rest.
    other_interactions: Vec<String>,
}

#[derive(Debug, Serialize)]
struct GridCellView {
    core: String,
    cpu: String,
    range: String,
    p99: String,
}

impl GridView {
    fn new(grid: &crate::grid::Grid) -> GridView {
        let rows = grid
            .runtimes
            .iter()
            .zip(&grid.entries)
            .map(|(runtime, entries)| {
                let cells = entries
                    .iter()
                    .map(|e| match e {
                        Some(e) => GridCellView {
                            core: e.core.clone(),
                            cpu: e.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.1}")),
                            range: e
                                .cpu_range
                                .map_or(String::new(), |(lo, hi)| format!("{lo:.1}–{hi:.1}")),
                            p99: e.p99_us.map_or("-".into(), |p| format!("{p:.0}")),
                        },
                        None => GridCellView {
                            core: String::new(),
                            cpu: String::new(),
                            range: String::new(),
                            p99: String::new(),
                        },
                    })
                    .collect();
                (runtime.clone(), cells)
            })
            .collect();
        let (effects, other_effects) =
            split_clear(grid.effects(), |e| (e.is_clear(), e.sentence()));
        let (interactions, other_interactions) =
            split_clear(grid.interactions(), |i| (i.is_clear(), i.sentence()));
        GridView {
            label: grid.label.clone(),
            compositions: grid.compositions.clone(),
            rows,
            effects,
            other_effects,
            interactions,
            other_interactions,
        }
    }
}

/// Sentences of the clear findings, and of the rest, in order.
fn split_clear<T>(
    items: Vec<T>,
    judge: impl Fn(&T) -> (bool, String),
) -> (Vec<String>, Vec<String>) {
    let (mut clear, mut rest) = (Vec::new(), Vec::new());
    for item in &items {
        match judge(item) {
            (true, sentence) => clear.push(sentence),
            (false, sentence) => rest.push(sentence),
        }
    }
    (clear, rest)
}

/// The rule the page judges by, as the gate's policy states it.
#[derive(Debug, Serialize)]
struct RuleView {
    alpha: String,
    min_trials: usize,
    /// `core CPU µs/req 10 %, p99 µs 10 %, req/s 10 %`.
    thresholds: String,
    /// Confidence of the printed intervals: `98 %`.
    confidence: String,
    /// What the comparison's figures mean, as the gate's table says it.
    legend: String,
}

#[derive(Debug, Serialize)]
struct RunInfo {
    run_id: String,
    file: String,
    scenario: String,
    started_at: String,
    finished_at: String,
    tool_version: String,
}

#[derive(Debug, Serialize)]
struct CoreInfo {
    name: String,
    color: String,
    runtime: String,
    service: String,
    available: bool,
    reason: Option<String>,
    /// Whether the run has any cell of this core.
    in_run: bool,
}

#[derive(Debug, Serialize)]
struct WinnerRow {
    label: String,
    anchor: String,
    /// Open loop: req/s is the offered rate, not a result.
    open: bool,
    cpu: Option<WinnerView>,
    qps: Option<WinnerView>,
    p99: Option<WinnerView>,
}

#[derive(Debug, Serialize)]
struct WinnerView {
    core: String,
    color: String,
    value: String,
    runner_up: Option<String>,
    margin: String,
    clear: bool,
}

#[derive(Debug, Serialize)]
struct ChartView {
    file: String,
    title: String,
    kind: ChartKind,
}

#[derive(Debug, Serialize)]
struct GroupView {
    label: String,
    anchor: String,
    params: String,
    has_reference: bool,
    rows: Vec<RowView>,
    rate_search: Vec<RateSearchView>,
    added: Vec<AddedView>,
    kernel: Option<KernelView>,
    charts: Vec<ChartView>,
}

/// The "where the CPU goes" table of a group.
#[derive(Debug, Serialize)]
struct KernelView {
    sentence: Option<String>,
    floor: Option<String>,
    rows: Vec<KernelRowView>,
    unavailable: Vec<String>,
}

#[derive(Debug, Serialize)]
struct KernelRowView {
    core: String,
    color: String,
    user: String,
    sys: String,
    sys_share: String,
    syscalls: String,
    vs_floor: String,
    reads: String,
    writes: String,
    waits: String,
    sqes: String,
    switches: String,
    allocations: String,
}

impl KernelView {
    fn new(view: &crate::kernel::WhereCpuGoes, palette: &Palette) -> KernelView {
        let n = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
        KernelView {
            sentence: view.largest_difference.clone(),
            floor: view.floor.map(|f| {
                format!(
                    "An epoll core needs at least {} data system calls per keep-alive request ({}); an io_uring core submits them as queue entries and can batch them into one io_uring_enter per wake-up.",
                    f.data_syscalls, f.what
                )
            }),
            rows: view
                .rows
                .iter()
                .map(|r| {
                    let w = &r.work;
                    KernelRowView {
                        core: r.core.clone(),
                        color: palette.css(&r.core),
                        user: r.user_us.map_or_else(|| "n/a".into(), fmt::micros),
                        sys: r.sys_us.map_or_else(|| "n/a".into(), fmt::micros),
                        sys_share: w
                            .sys_share()
                            .map_or_else(|| "n/a".into(), |v| format!("{:.0} %", v * 100.0)),
                        syscalls: n(w.perf("syscalls")),
                        vs_floor: view
                            .floor
                            .and_then(|f| r.above_floor(&f))
                            .map_or_else(|| "—".into(), |v| format!("{v:+.2}")),
                        reads: n(w.perf("reads")),
                        writes: n(w.perf("writes")),
                        waits: n(w.perf("waits")),
                        sqes: match (w.perf("uring_submits"), w.perf("uring_poll_arms")) {
                            (Some(s), Some(a)) if s > 0.0 => format!("{s:.2} / {a:.2}"),
                            (Some(_), _) => "—".into(),
                            (None, _) => "n/a".into(),
                        },
                        switches: format!("{:.2}", r.work.context_switches()),
                        allocations: match (w.allocations_per_req, w.alloc_bytes_per_req) {
                            (Some(a), Some(b)) => format!("{a:.1} ({b:.0} B)"),
                            (Some(a), None) => format!("{a:.1}"),
                            _ => "n/a".into(),
                        },
                    }
                })
                .collect(),
            unavailable: view.unavailable.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
struct RowView {
    id: String,
    core: String,
    color: String,
    measured: bool,
    status: String,
    reason: Option<String>,
    is_reference: bool,
    wins: Vec<&'static str>,
    qps: String,
    qps_range: String,
    qps_ratio: String,
    p50: String,
    p99: String,
    p99_ratio: String,
    p999: String,
    max: String,
    cpu: String,
    cpu_ratio: String,
    driver_cpu: String,
    rss: String,
    errors: u64,
    errors_detail: String,
    driver_bound: bool,
    /// Open loop only: p99 from the actual send time, not corrected for
    /// coordinated omission.
    uncorrected_p99: Option<String>,
    /// The no-proxy baseline of a forwarding cell (its CPU is its origin's).
    is_direct: bool,
    /// Conformance cases this cell's core failed.
    conformance_failures: Vec<String>,
    /// A reference proxy measured beside our cores.
    reference_proxy: bool,
    /// CPU per request as a ratio to the group's first reference proxy
    /// (`0.95× nginx`); empty when there is none.
    vs_proxy: String,
    /// The configuration its program ran with (reference proxies).
    program_config: Option<String>,
    /// In a soak run: whether every trial held the soak's rules, and what
    /// was measured or broken, in words.
    soak: Option<(bool, String)>,
}

#[derive(Debug, Serialize)]
struct RateSearchView {
    core: String,
    color: String,
    bound: String,
    found: String,
    steps: usize,
}

#[derive(Debug, Serialize)]
struct AddedView {
    core: String,
    color: String,
    qps_share: String,
    p50: String,
    p99: String,
    cpu: String,
}

#[derive(Debug, Serialize)]
struct ComparisonView {
    metrics: Vec<&'static str>,
    cells: Vec<CellDeltaView>,
    /// Cells with a regression or an improvement.
    changed: usize,
    only_in_current: Vec<String>,
    only_in_baseline: Vec<String>,
    not_comparable: Vec<(String, String)>,
    chart: Option<ChartView>,
}

#[derive(Debug, Serialize)]
struct CellDeltaView {
    id: String,
    core: String,
    color: String,
    deltas: Vec<DeltaView>,
}

#[derive(Debug, Serialize)]
struct DeltaView {
    metric: &'static str,
    /// Median over trials, as the gate prints it.
    baseline: String,
    current: String,
    /// Hodges-Lehmann shift / baseline median.
    change: String,
    /// Its interval.
    interval: String,
    /// One-sided p of "current is worse".
    p_worse: String,
    /// The gate's word for the verdict.
    verdict: &'static str,
    /// CSS class: `better`, `worse`, `neutral` (any verdict that is not a change), `na`.
    class: &'static str,
}

/// A conformance matrix: cases down, cores across.
#[derive(Debug, Serialize)]
struct ConformanceView {
    cores: Vec<CoreHead>,
    cases: Vec<CaseView>,
    /// Failed (case, core) pairs.
    failed: usize,
    /// (case, core) pairs checked.
    checked: usize,
}

#[derive(Debug, Serialize)]
struct CoreHead {
    name: String,
    color: String,
}

#[derive(Debug, Serialize)]
struct CaseView {
    name: String,
    source: String,
    /// One per core of [`ConformanceView::cores`].
    outcomes: Vec<OutcomeView>,
}

#[derive(Debug, Serialize)]
struct OutcomeView {
    /// `pass`, `fail`, or `none` (the core was not checked on this case).
    class: &'static str,
    reason: Option<String>,
}

impl ConformanceView {
    fn new(matrix: &pb_results::Conformance, palette: &Palette) -> ConformanceView {
        let mut cores: Vec<String> = Vec::new();
        for outcome in matrix.cases.iter().flat_map(|c| &c.outcomes) {
            if !cores.contains(&outcome.core) {
                cores.push(outcome.core.clone());
            }
        }
        cores.sort_by_key(|c| palette.rank(c));
        let cases: Vec<CaseView> = matrix
            .cases
            .iter()
            .map(|case| CaseView {
                name: case.name.clone(),
                source: case.source.clone(),
                outcomes: cores
                    .iter()
                    .map(
                        |core| match case.outcomes.iter().find(|o| &o.core == core) {
                            Some(o) if o.passed => OutcomeView {
                                class: "pass",
                                reason: None,
                            },
                            Some(o) => OutcomeView {
                                class: "fail",
                                reason: o.reason.clone(),
                            },
                            None => OutcomeView {
                                class: "none",
                                reason: None,
                            },
                        },
                    )
                    .collect(),
            })
            .collect();
        let outcomes = || cases.iter().flat_map(|c| &c.outcomes);
        ConformanceView {
            failed: outcomes().filter(|o| o.class == "fail").count(),
            checked: outcomes().filter(|o| o.class != "none").count(),
            cores: cores
                .into_iter()
                .map(|name| CoreHead {
                    color: palette.css(&name),
                    name,
                })
                .collect(),
            cases,
        }
    }
}

#[derive(Debug, Serialize)]
struct DriverBound {
    id: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct NotMeasured {
    id: String,
    status: String,
    reason: String,
    core_exit: Option<String>,
}

#[derive(Debug, Serialize)]
struct EnvRow {
    name: &'static str,
    current: String,
    baseline: Option<String>,
    differs: bool,
}

// === impl Page ===

impl Page {
    fn new(inputs: &Inputs<'_>) -> Page {
        let Inputs {
            current,
            baseline,
            analysis,
            comparison,
            charts,
            palette,
        } = *inputs;
        let results = &current.results;
        let chart_view = |c: &Chart| ChartView {
            file: c.file.clone(),
            title: c.title.clone(),
            kind: c.kind,
        };
        let machine = &results.environment;
        let mut warnings = Vec::new();
        if machine.build_profile != "release" {
            warnings.push(format!(
                "This run is from a {} build: its figures are not comparable with release builds.",
                machine.build_profile
            ));
        }
        if machine.cpu_plan.shared {
            warnings.push(format!(
                "Roles shared CPUs in this run ({}): only CPU per request and latency compare cores fairly.",
                machine.cpu_plan.note
            ));
        }
        let failing: Vec<String> = results
            .cells
            .iter()
            .filter(|c| !c.conformance_failures.is_empty())
            .map(|c| format!("{} ({})", c.id, c.conformance_failures.join(", ")))
            .collect();
        if !failing.is_empty() {
            warnings.push(format!(
                "Cores failed conformance cases, so their figures are not a correct proxy's: {}.",
                failing.join("; ")
            ));
        }
        let unverified: Vec<String> = results
            .cells
            .iter()
            .filter_map(|c| {
                c.params
                    .client
                    .as_ref()
                    .map(|client| format!("{} ({client})", c.id))
            })
            .collect();
        if !unverified.is_empty() {
            warnings.push(format!(
                "Unverified responses: an external client drove these cells and checked status codes at most, not bodies; their latency is the client's own: {}.",
                unverified.join("; ")
            ));
        }
        if let Some(base) = baseline {
            let differ: Vec<&str> = env_rows(machine, Some(&base.results.environment))
                .into_iter()
                // A new revision is what a comparison is for; the rest is
                // the machine.
                .filter(|r| r.differs && !matches!(r.name, "git revision" | "CPU plan note"))
                .map(|r| r.name)
                .collect();
            if !differ.is_empty() {
                warnings.push(format!(
                    "The baseline ran in a different environment ({}): differences may come from the machine, not the code.",
                    differ.join(", ")
                ));
            }
        }

        let grids = crate::grid::grids(results)
            .iter()
            .map(GridView::new)
            .collect();
        Page {
            grids,
            drivers: crate::factors::comparisons(results, Factor::Driver)
                .iter()
                .map(FactorView::new)
                .collect(),
            networks: crate::factors::comparisons(results, Factor::Network)
                .iter()
                .map(FactorView::new)
                .collect(),
            run: RunInfo::new(current),
            baseline: baseline.map(RunInfo::new),
            reference: analysis.reference.clone(),
            cores: core_infos(current, analysis, palette),
            warnings,
            winners: analysis
                .groups
                .iter()
                .map(|g| WinnerRow {
                    label: g.label.clone(),
                    anchor: anchor(&g.label),
                    open: g.params.mode == "open",
                    cpu: g
                        .winners
                        .cpu
                        .as_ref()
                        .map(|w| winner(w, Metric::CpuUsPerReq, palette)),
                    qps: g
                        .winners
                        .qps
                        .as_ref()
                        .map(|w| winner(w, Metric::Qps, palette)),
                    p99: g
                        .winners
                        .p99
                        .as_ref()
                        .map(|w| winner(w, Metric::LatencyP99Us, palette)),
                })
                .collect(),
            overview_charts: charts
                .iter()
                .filter(|c| matches!(c.kind, ChartKind::Throughput | ChartKind::Cpu))
                .map(chart_view)
                .collect(),
            groups: analysis
                .groups
                .iter()
                .map(|g| GroupView::new(g, charts, palette))
                .collect(),
            comparison: comparison.map(|c| {
                ComparisonView::new(
                    c,
                    charts
                        .iter()
                        .find(|c| c.kind == ChartKind::Baseline)
                        .map(chart_view),
                    palette,
                )
            }),
            conformance: results
                .conformance
                .as_ref()
                .filter(|m| !m.cases.is_empty())
                .map(|m| ConformanceView::new(m, palette)),
            driver_bound: analysis
                .groups
                .iter()
                .flat_map(|g| g.measured())
                .filter(|(_, s)| s.driver_bound)
                .map(|(row, s)| DriverBound {
                    id: row.id.clone(),
                    reason: s
                        .driver_bound_reason
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into()),
                })
                .collect(),
            not_measured: results
                .cells
                .iter()
                .filter(|c| c.status != CellStatus::Ok)
                .map(|c| NotMeasured {
                    id: c.id.clone(),
                    status: status_label(c.status).into(),
                    reason: c
                        .reason
                        .clone()
                        .unwrap_or_else(|| "no reason recorded".into()),
                    core_exit: c.core_exit.clone(),
                })
                .collect(),
            environment: env_rows(machine, baseline.map(|b| &b.results.environment)),
            rule: RuleView::new(&analysis.rule),
        }
    }
}

impl RunInfo {
    fn new(run: &Run) -> RunInfo {
        let r = &run.results;
        RunInfo {
            run_id: r.run_id.clone(),
            file: run.path.display().to_string(),
            scenario: format!("scenario {} from {}", r.scenario.name, r.scenario.source),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            tool_version: r.tool_version.clone(),
        }
    }
}

fn core_infos(run: &Run, analysis: &Analysis, palette: &Palette) -> Vec<CoreInfo> {
    let in_run = run.cores();
    let mut infos: Vec<CoreInfo> = run
        .results
        .cores
        .iter()
        .map(|c| CoreInfo {
            name: c.name.clone(),
            color: palette.css(&c.name),
            runtime: c.runtime.clone(),
            service: c.service.clone(),
            available: c.available,
            reason: c.reason.clone(),
            in_run: in_run.contains(&c.name),
        })
        .collect();
    // Cores with cells but missing from the registry list still get a row.
    for row in analysis.groups.iter().flat_map(|g| &g.rows) {
        if !infos.iter().any(|i| i.name == row.core) {
            let runtime = if row.core == DIRECT {
                "no proxy: the driver talks straight to an origin (the baseline)"
            } else {
                ""
            };
            infos.push(CoreInfo {
                name: row.core.clone(),
                color: palette.css(&row.core),
                runtime: runtime.into(),
                service: String::new(),
                available: true,
                reason: None,
                in_run: true,
            });
        }
    }
    infos
}

/// An HTML id for a scenario cell's section.
fn anchor(label: &str) -> String {
    format!("cell-{}", crate::charts::slug(label))
}

/// A figure of `metric` with its unit.
fn figure(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Qps => format!("{} req/s", fmt::rate(v)),
        Metric::LatencyP99Us => format!("{} µs", fmt::micros(v)),
        Metric::CpuUsPerReq => format!("{} µs/req", fmt::micros(v)),
    }
}

fn winner(w: &Winner, metric: Metric, palette: &Palette) -> WinnerView {
    WinnerView {
        core: w.core.clone(),
        color: palette.css(&w.core),
        value: figure(metric, w.value),
        runner_up: w
            .runner_up
            .as_ref()
            .map(|(core, v)| format!("{core} {}", figure(metric, *v))),
        margin: match &w.margin {
            None => "only contender".into(),
            Some(_) if w.clear() => "clear lead".into(),
            // Not clear: what the gate would say of winner vs runner-up.
            Some(j) => format!("no clear lead: {}", j.verdict.as_str()),
        },
        clear: w.clear(),
    }
}

impl RuleView {
    fn new(rule: &Rule) -> RuleView {
        RuleView {
            alpha: rule.alpha.to_string(),
            min_trials: rule.min_trials,
            thresholds: Metric::ALL
                .iter()
                .map(|&m| format!("{} {}", m.label(), pct(rule.metric(m).threshold)))
                .collect::<Vec<_>>()
                .join(", "),
            confidence: pct(1.0 - 2.0 * rule.alpha),
            legend: rule.legend(pb_stats::Method::Exact),
        }
    }
}

/// `0.1` -> `10 %`, `0.025` -> `2.5 %`.
fn pct(fraction: f64) -> String {
    let text = format!("{:.1}", fraction * 100.0);
    format!("{} %", text.strip_suffix(".0").unwrap_or(&text))
}

// === impl GroupView ===

impl GroupView {
    fn new(group: &GroupAnalysis, charts: &[Chart], palette: &Palette) -> GroupView {
        let p = &group.params;
        GroupView {
            label: group.label.clone(),
            anchor: anchor(&group.label),
            params: format!(
                "{} · {} · {} trials × {} s (warm-up {} s) · {} connections × {} in flight · {} · {} core thread(s), {} driver thread(s)",
                group.scenario,
                match p.rate {
                    Some(rate) => format!("{} loop at {} req/s offered", p.mode, fmt::rate(rate)),
                    None => format!("{} loop", p.mode),
                },
                p.trials,
                p.duration_s,
                p.warmup_s,
                p.connections,
                p.in_flight,
                match &p.http {
                    Some(h) => format!(
                        "{} with {} B bodies, {}, {} origin(s), {}",
                        h.method,
                        p.message_bytes,
                        if h.keep_alive {
                            "keep-alive"
                        } else {
                            "connection per request"
                        },
                        h.origins,
                        h.policy
                    ),
                    None => format!("{} B messages", p.message_bytes),
                },
                p.core_threads,
                p.driver_threads,
            ),
            has_reference: group.rows.iter().any(|r| r.vs_reference.is_some()),
            rate_search: group
                .rate_curves
                .iter()
                .map(|c| RateSearchView {
                    core: c.core.clone(),
                    color: palette.css(&c.core),
                    bound: format!("p{} ≤ {} µs", c.searched, fmt::micros(c.bound_us)),
                    found: c
                        .found_rate
                        .map_or_else(|| "none".into(), |r| format!("{} req/s", fmt::rate(r))),
                    steps: c.points.len(),
                })
                .collect(),
            rows: group
                .rows
                .iter()
                .map(|r| RowView::new(r, group, palette))
                .collect(),
            added: group
                .added_over_direct
                .iter()
                .map(|a| AddedView {
                    core: a.core.clone(),
                    color: palette.css(&a.core),
                    qps_share: a
                        .qps_ratio
                        .map_or_else(|| "—".into(), |r| format!("{:.0} %", r * 100.0)),
                    p50: format!("{:+.1} µs", a.p50_us),
                    p99: format!("{:+.1} µs", a.p99_us),
                    cpu: a
                        .cpu_us_per_req
                        .map_or_else(|| "—".into(), |v| format!("{} µs/req", fmt::micros(v))),
                })
                .collect(),
            kernel: group.kernel.as_ref().map(|k| KernelView::new(k, palette)),
            charts: charts
                .iter()
                .filter(|c| c.group.as_deref() == Some(group.label.as_str()))
                .map(|c| ChartView {
                    file: c.file.clone(),
                    title: c.title.clone(),
                    kind: c.kind,
                })
                .collect(),
        }
    }
}

impl RowView {
    fn new(row: &CoreRow, group: &GroupAnalysis, palette: &Palette) -> RowView {
        let dash = || "—".to_owned();
        let ratio = |r: Option<f64>| r.map_or_else(dash, fmt::ratio);
        let ratios = row.vs_reference;
        let s = row.measured();
        let wins = [
            (Metric::CpuUsPerReq, "best CPU/req"),
            (Metric::Qps, "best req/s"),
            (Metric::LatencyP99Us, "best p99"),
        ]
        .into_iter()
        .filter(|(m, _)| group.winners.get(*m).is_some_and(|w| w.core == row.core))
        .map(|(_, label)| label)
        .collect();
        RowView {
            id: row.id.clone(),
            core: row.core.clone(),
            color: palette.css(&row.core),
            measured: s.is_some(),
            status: status_label(row.status).into(),
            reason: row.reason.clone(),
            is_reference: row.is_reference,
            wins,
            qps: s.map_or_else(dash, |s| fmt::rate(s.qps)),
            qps_range: s.map_or_else(String::new, |s| {
                format!("{}–{}", fmt::rate(s.qps_min), fmt::rate(s.qps_max))
            }),
            qps_ratio: ratio(ratios.and_then(|r| r.qps)),
            p50: s.map_or_else(dash, |s| fmt::micros(s.latency_us.p50)),
            p99: s.map_or_else(dash, |s| fmt::micros(s.latency_us.p99)),
            p99_ratio: ratio(ratios.and_then(|r| r.p99)),
            p999: s.map_or_else(dash, |s| fmt::micros(s.latency_us.p999)),
            max: s.map_or_else(dash, |s| fmt::micros(s.latency_us.max)),
            cpu: s
                .and_then(|s| s.cpu_us_per_req)
                .map_or_else(dash, fmt::micros),
            cpu_ratio: ratio(ratios.and_then(|r| r.cpu)),
            driver_cpu: s
                .and_then(|s| s.driver_cpu_us_per_req)
                .map_or_else(dash, fmt::micros),
            rss: s.map_or_else(dash, |s| fmt::mib(s.rss_max_bytes)),
            errors: s.map_or(0, |s| s.errors),
            errors_detail: s.map_or_else(String::new, |s| {
                s.errors_by_kind
                    .iter()
                    .map(|(kind, n)| format!("{kind}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            driver_bound: s.is_some_and(|s| s.driver_bound),
            is_direct: row.core == DIRECT,
            conformance_failures: row.conformance_failures.clone(),
            reference_proxy: row.reference_proxy,
            vs_proxy: row
                .vs_proxy
                .as_ref()
                .map_or_else(String::new, |(name, r)| format!("{r:.2}× {name}")),
            program_config: row.program_config.clone(),
            soak: soak_view(&row.soak),
            uncorrected_p99: s
                .filter(|_| group.params.mode == "open")
                .and_then(|s| s.latency_uncorrected_us)
                .map(|l| fmt::micros(l.p99)),
        }
    }
}

/// A row's soak verdicts as a badge: held (with what moved), or the
/// broken rules.
fn soak_view(verdicts: &[pb_results::soak::SoakVerdict]) -> Option<(bool, String)> {
    if verdicts.is_empty() {
        return None;
    }
    let passed = verdicts.iter().all(|v| v.passed);
    let text = verdicts
        .iter()
        .map(|v| match v.passed {
            true => format!(
                "RSS {} → {} ({:+.2} %), descriptors {} → {} over {} samples",
                fmt::mib(v.rss_first_bytes),
                fmt::mib(v.rss_last_bytes),
                v.rss_growth * 100.0,
                v.fds_first_quarter,
                v.fds_last_quarter,
                v.samples
            ),
            false => v.reasons.join("; "),
        })
        .collect::<Vec<_>>()
        .join(" | ");
    Some((passed, text))
}

// === impl ComparisonView ===

impl ComparisonView {
    fn new(c: &Comparison, chart: Option<ChartView>, palette: &Palette) -> ComparisonView {
        ComparisonView {
            metrics: Metric::ALL.iter().map(|m| m.label()).collect(),
            changed: c.changed_cells().count(),
            cells: c
                .cells
                .iter()
                .map(|cell| CellDeltaView {
                    id: cell.id.clone(),
                    core: cell.core.clone(),
                    color: palette.css(&cell.core),
                    deltas: cell
                        .deltas
                        .iter()
                        // The strings the gate's table prints; the column
                        // header carries the unit.
                        .map(|d| DeltaView {
                            metric: d.metric.label(),
                            baseline: pb_stats::fmt::figure(d.metric, d.baseline_median),
                            current: pb_stats::fmt::figure(d.metric, d.current_median),
                            change: d.change_text(),
                            interval: d.interval_text(),
                            p_worse: pb_stats::fmt::p_value(d.p_worse),
                            verdict: d.verdict.as_str(),
                            class: match (d.verdict, d.improved()) {
                                (_, Some(true)) => "better",
                                (_, Some(false)) => "worse",
                                (Verdict::TooFewTrials, _) => "na",
                                _ => "neutral",
                            },
                        })
                        .collect(),
                })
                .collect(),
            only_in_current: c.only_in_current.clone(),
            only_in_baseline: c.only_in_baseline.clone(),
            not_comparable: c
                .not_comparable
                .iter()
                .map(|n| (n.id.clone(), n.why.clone()))
                .collect(),
            chart,
        }
    }
}

// === environment ===

fn env_rows(current: &Machine, baseline: Option<&Machine>) -> Vec<EnvRow> {
    let facts = |m: &Machine| -> Vec<(&'static str, String)> {
        let plan = &m.cpu_plan;
        vec![
            ("kernel", m.kernel.clone()),
            ("CPU model", m.cpu_model.clone()),
            ("CPUs online", m.cpu_count.to_string()),
            ("rustc", m.rustc.clone()),
            ("git revision", m.git_revision.clone()),
            ("build profile", m.build_profile.clone()),
            (
                "io_uring",
                if m.io_uring.available {
                    format!("available ({})", m.io_uring.detail)
                } else {
                    format!("unavailable: {}", m.io_uring.detail)
                },
            ),
            (
                "memlock limit",
                m.memlock_limit_bytes
                    .map_or_else(|| "unlimited".into(), fmt::mib),
            ),
            ("CPUs allowed", fmt::cpus(&plan.allowed)),
            ("core CPUs", fmt::cpus(&plan.core)),
            ("driver CPUs", fmt::cpus(&plan.driver)),
            ("origin CPUs", fmt::cpus(&plan.origin)),
            (
                "roles share CPUs",
                if plan.shared { "yes" } else { "no" }.into(),
            ),
            ("CPU plan note", plan.note.clone()),
        ]
    };
    let base = baseline.map(facts);
    facts(current)
        .into_iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let other = base.as_ref().map(|b| b[i].1.clone());
            EnvRow {
                name,
                differs: other.as_ref().is_some_and(|o| *o != value),
                current: value,
                baseline: other,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soak_badge_says_what_held_or_what_broke() {
        use pb_results::soak::SoakVerdict;
        assert_eq!(soak_view(&[]), None);
        let held = SoakVerdict {
            samples: 600,
            rss_first_bytes: 10 << 20,
            rss_last_bytes: 10 << 20,
            rss_growth: 0.0,
            fds_first_quarter: 71,
            fds_last_quarter: 72,
            errors: 0,
            passed: true,
            reasons: vec![],
        };
        let (passed, text) = soak_view(std::slice::from_ref(&held)).unwrap();
        assert!(passed);
        assert_eq!(
            text,
            "RSS 10.0 MiB → 10.0 MiB (+0.00 %), descriptors 71 → 72 over 600 samples"
        );
        let broke = SoakVerdict {
            passed: false,
            reasons: vec!["RSS grew 9.0 %".into(), "3 failed requests".into()],
            ..held.clone()
        };
        let (passed, text) = soak_view(&[held, broke]).unwrap();
        assert!(!passed);
        assert!(
            text.ends_with(" | RSS grew 9.0 %; 3 failed requests"),
            "{text}"
        );
    }

    #[test]
    fn text_is_escaped_but_slashes_stay() {
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        env.add_template("t.html", "<p title=\"{{ v }}\">{{ v }}</p>")
            .unwrap();
        let out = env
            .get_template("t.html")
            .unwrap()
            .render(minijinja::context! { v => "a/b <script>&\"'" })
            .unwrap();
        assert_eq!(
            out,
            "<p title=\"a/b &lt;script&gt;&amp;&quot;&#x27;\">a/b &lt;script&gt;&amp;&quot;&#x27;</p>"
        );
    }
}
