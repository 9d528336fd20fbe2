//! `proxybench run` as named stages: plan -> conform -> trials and rate
//! search ([`matrix::run`](crate::matrix::run)) -> results -> report ->
//! verdict. [`run`] chains them; each stage is public so that a caller
//! (or a test) can run one alone.

use std::path::{Path, PathBuf};

use pb_progress::Progress;
use pb_results::network::NetworkParams;
use pb_results::{CellStatus, Results};
use pb_scenario::ScenarioFile;
use pb_sys::CpuSet;

use crate::env::BuildInfo;
use crate::matrix::{self, Baseline, CoreEntry, RunConfig, RunnerError};

/// What the user asked for, before anything is checked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The scenario file (or the built-in matrix).
    pub scenario: ScenarioFile,
    /// Command-line settings that replace the file's.
    pub overrides: Overrides,
    /// Run the conformance suite first (its failures mark cores' cells).
    pub conform: bool,
    /// Where results go (`latest.json`, a timestamped copy, `hdr/`).
    pub results_dir: PathBuf,
    /// Where reports go (`<run-id>/` and `latest/`).
    pub reports_dir: PathBuf,
    /// The `proxybench` executable that serves `proxy` and `origin`.
    pub exe: PathBuf,
    /// Arguments every `proxybench proxy` it starts gets (`--external
    /// FILE` for each core a user brought), so children know its cores.
    pub proxy_args: Vec<String>,
    /// Every registered core with its availability here.
    pub cores: Vec<CoreEntry>,
    /// CPUs the run may use.
    pub allowed_cpus: CpuSet,
    /// io_uring probe result, recorded in the environment.
    pub io_uring: Result<(), String>,
    /// Memlock limit, recorded in the environment.
    pub memlock_limit: Option<u64>,
    /// Build facts.
    pub build: BuildInfo,
    /// A baseline build to run beside this one, trial by trial (A/B).
    pub baseline: Option<Baseline>,
    /// Driver hosts that load each trial together (`--drivers`).
    pub fleet: Option<crate::fleet::FleetConfig>,
}

/// Settings given on the command line, each replacing the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Only these cores, intersected with each cell's list.
    pub cores: Option<Vec<String>>,
    /// Trials per cell.
    pub trials: Option<u32>,
    /// Measured seconds per trial.
    pub duration_s: Option<f64>,
    /// Warm-up seconds per trial.
    pub warmup_s: Option<f64>,
    /// Extra work per request in every core (gate calibration).
    pub core_spin_iters: Option<u64>,
    /// Run every cell under each of these driver backends (one cell per
    /// backend), whatever the file says.
    pub drivers: Option<Vec<pb_scenario::Backend>>,
    /// Run every cell across each of these networks (`loopback`, `lan`,
    /// `wan-origin` or one the file defines), one cell per network,
    /// whatever the file says.
    pub networks: Option<Vec<String>>,
}

/// Where a run's files went.
#[derive(Debug, Clone)]
pub struct Written {
    /// `latest.json`.
    pub latest: PathBuf,
    /// The timestamped copy, which the report links to.
    pub stamped: PathBuf,
    /// The run's `.hgrm`/`.hlog` files.
    pub hdr_dir: PathBuf,
    /// The baseline build's results of an A/B run (`ab-baseline/latest.json`
    /// under the results directory, and its timestamped copy).
    pub baseline: Option<(PathBuf, PathBuf)>,
}

/// Whether the run's numbers can be trusted as they stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every cell ran without errors on a core that passed conformance.
    Passed,
    /// A cell failed, saw errors, or ran on a core that failed a case.
    Failed,
}

/// What [`run`] produced.
#[derive(Debug)]
pub struct Finished {
    /// The results, conformance included.
    pub results: Results,
    /// Where they were written.
    pub written: Written,
    /// The report's HTML page.
    pub report: PathBuf,
    /// The copy of the report in `latest/`.
    pub latest_report: PathBuf,
    /// The index of every run kept (`reports/index.html`).
    pub runs_index: PathBuf,
    /// The run's verdict.
    pub verdict: Verdict,
}

/// A run that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An override is out of range or names an unknown core.
    #[error("{0}")]
    Options(String),
    /// The conformance suite could not run at all.
    #[error("conformance suite: {0}")]
    Conform(#[from] pb_conform::SuiteError),
    /// The matrix could not run.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// Results could not be written.
    #[error(transparent)]
    Results(#[from] pb_results::io::ResultsIoError),
    /// The report could not be rendered.
    #[error(transparent)]
    Report(#[from] pb_report::ReportError),
}

/// Every load of `cells` once at each of `levels` of one setting (`set`
/// writes it; `unset` is its default): cells that differ only in that
/// setting are one load, expanded in file order. A cell `fixed` says
/// cannot vary the setting passes through as it is.
fn under_each<T: Clone>(
    cells: &[pb_scenario::Cell],
    levels: &[T],
    unset: T,
    set: impl Fn(&mut pb_scenario::Cell, T),
    fixed: impl Fn(&pb_scenario::Cell) -> bool,
) -> Vec<pb_scenario::Cell> {
    let mut seen: Vec<pb_scenario::Cell> = Vec::new();
    let mut out = Vec::new();
    for cell in cells {
        if fixed(cell) {
            out.push(cell.clone());
            continue;
        }
        let mut load = cell.clone();
        set(&mut load, unset.clone());
        if seen.contains(&load) {
            continue;
        }
        for level in levels {
            let mut cell = load.clone();
            set(&mut cell, level.clone());
            out.push(cell);
        }
        seen.push(load);
    }
    out
}

/// Every load of `cells` once under each of `drivers`. A cell an external
/// client drives has no backend to vary and passes through.
fn under_drivers(
    cells: &[pb_scenario::Cell],
    drivers: &[pb_scenario::Backend],
) -> Vec<pb_scenario::Cell> {
    under_each(
        cells,
        drivers,
        pb_scenario::Backend::Epoll,
        |cell, driver| cell.params.driver = driver,
        |cell| cell.params.client.is_some(),
    )
}

/// Every load of `cells` once across each of `networks` (`None`: loopback).
fn under_networks(
    cells: &[pb_scenario::Cell],
    networks: &[Option<NetworkParams>],
) -> Vec<pb_scenario::Cell> {
    under_each(
        cells,
        networks,
        None,
        |cell, network| cell.params.network = network,
        |_| false,
    )
}

/// Stage 1: the request checked and its overrides applied.
pub fn plan(request: &Request) -> Result<RunConfig, PipelineError> {
    let bad = |message: &str| Err(PipelineError::Options(message.to_owned()));
    let o = &request.overrides;
    let mut scenario = request.scenario.clone();
    if let Some(fleet) = &request.fleet {
        fleet.check().map_err(PipelineError::Options)?;
    }
    if let Some(trials) = o.trials {
        if trials < 1 {
            return bad("--trials must be at least 1");
        }
        scenario.run.trials = trials;
    }
    if let Some(d) = o.duration_s {
        if !(d.is_finite() && d >= 0.05) {
            return bad("--duration must be at least 0.05 s");
        }
        scenario.run.duration_s = d;
    }
    if let Some(w) = o.warmup_s {
        if !(w.is_finite() && w >= 0.0) {
            return bad("--warmup must be a non-negative number of seconds");
        }
        scenario.run.warmup_s = w;
    }
    if let Some(n) = o.core_spin_iters {
        scenario.run.core_spin_iters = n;
    }
    if let Some(drivers) = &o.drivers {
        if drivers.is_empty() {
            return bad("--driver needs at least one backend");
        }
        scenario.cells = under_drivers(&scenario.cells, drivers);
    }
    if let Some(names) = &o.networks {
        let networks = scenario
            .networks(names)
            .map_err(|e| PipelineError::Options(format!("--network: {e}")))?;
        scenario.cells = under_networks(&scenario.cells, &networks);
    }
    if let Some(only) = &o.cores {
        let names: Vec<&str> = request.cores.iter().map(|c| c.name.as_str()).collect();
        if let Some(unknown) = only.iter().find(|n| !names.contains(&n.as_str())) {
            return Err(PipelineError::Options(format!(
                "unknown core {unknown:?}; known: {}",
                names.join(", ")
            )));
        }
        for cell in &mut scenario.cells {
            let list = cell
                .cores
                .take()
                .unwrap_or_else(|| names.iter().map(|s| s.to_string()).collect());
            cell.cores = Some(list.into_iter().filter(|c| only.contains(c)).collect());
        }
    }
    Ok(RunConfig {
        exe: request.exe.clone(),
        proxy_args: request.proxy_args.clone(),
        scenario,
        cores: request.cores.clone(),
        allowed_cpus: request.allowed_cpus.clone(),
        io_uring: request.io_uring.clone(),
        memlock_limit: request.memlock_limit,
        build: request.build.clone(),
        baseline: request.baseline.clone(),
        fleet: request.fleet.clone(),
        in_step_with: None,
    })
}

/// The cores a run will start: listed by some cell and available here,
/// in first-listed order.
pub fn cores_used(cfg: &RunConfig) -> Vec<String> {
    let mut used: Vec<String> = Vec::new();
    for cell in &cfg.scenario.cells {
        for name in cfg.cores_of(cell) {
            let available = cfg
                .cores
                .iter()
                .any(|c| c.name == name && c.availability.is_ok());
            if available && !used.contains(&name) {
                used.push(name);
            }
        }
    }
    used
}

/// Stage 2: the conformance suite on every core the run uses.
pub fn conform(
    cfg: &RunConfig,
    progress: &mut dyn Progress,
) -> Result<pb_conform::Matrix, pb_conform::SuiteError> {
    let used = cores_used(cfg);
    let serves = |core: &str, scenario: &str| {
        cfg.cores
            .iter()
            .any(|c| c.name == core && c.serves(scenario))
    };
    pb_conform::run_matrix(&cfg.exe, &cfg.proxy_args, &used, &serves, None, progress)
}

/// Stage 4a: conformance into the results, each cell marked with the
/// cases its core failed.
pub fn attach_conformance(results: &mut Results, matrix: &pb_conform::Matrix) {
    results.conformance = Some(matrix.to_results());
    for cell in &mut results.cells {
        cell.conformance_failures = matrix.failures_of(&cell.core);
    }
}

/// Stage 4b: the results JSON (latest and timestamped) and the
/// HdrHistogram files under `dir`; an A/B run's baseline results under
/// `dir/ab-baseline/`.
pub fn write_results(
    results: &Results,
    baseline: Option<&Results>,
    dir: &Path,
) -> Result<Written, PipelineError> {
    let (latest, stamped) = pb_results::io::write_results(results, dir)?;
    let hdr_dir = dir.join("hdr").join(&results.run_id);
    pb_results::hdr::write_hdr_files(results, &hdr_dir)?;
    let baseline = baseline
        .map(|b| pb_results::io::write_results(b, &dir.join(AB_BASELINE_DIR)))
        .transpose()?;
    Ok(Written {
        latest,
        stamped,
        hdr_dir,
        baseline,
    })
}

/// Where under the results directory an A/B run's baseline side goes
/// (not `baseline/`, which holds the committed gate baselines).
pub const AB_BASELINE_DIR: &str = "ab-baseline";

/// In a soak run, each measured trial judged by its timeline
/// ([`pb_results::soak::judge`]); a trial too short to judge fails, with
/// the reason, rather than passing unjudged.
pub fn judge_soak(results: &mut Results) {
    for cell in &mut results.cells {
        for trial in &mut cell.trials {
            trial.soak =
                Some(pb_results::soak::judge(trial).unwrap_or_else(|reason| {
                    pb_results::soak::SoakVerdict::unjudged(trial, reason)
                }));
        }
    }
}

/// Stage 6: a run fails when any cell of one of our cores failed, saw
/// errors, failed a soak, or ran on a core that failed a conformance case.
/// A reference proxy's cells are data: shown, never what fails the run.
pub fn verdict(results: &Results) -> Verdict {
    let reference = |core: &str| results.cores.iter().any(|c| c.name == core && c.reference);
    let failed = results
        .cells
        .iter()
        .filter(|c| !reference(&c.core))
        .any(|c| {
            c.status == CellStatus::Failed
                || c.summary.as_ref().is_some_and(|s| s.errors > 0)
                || !c.conformance_failures.is_empty()
                || c.trials
                    .iter()
                    .any(|t| t.soak.as_ref().is_some_and(|v| !v.passed))
        });
    if failed {
        Verdict::Failed
    } else {
        Verdict::Passed
    }
}

/// The whole run; `progress` sees its stages and steps.
pub fn run(request: &Request, progress: &mut dyn Progress) -> Result<Finished, PipelineError> {
    let cfg = plan(request)?;
    // Conformance first: a core's numbers count only if it behaves.
    let conformance = match request.conform {
        true => Some(conform(&cfg, progress)?),
        false => None,
    };
    let matrix::Ran {
        mut results,
        baseline,
    } = matrix::run(&cfg, progress)?;
    if let Some(matrix) = &conformance {
        attach_conformance(&mut results, matrix);
    }
    if cfg.scenario.run.soak {
        judge_soak(&mut results);
    }
    let written = write_results(&results, baseline.as_ref(), &request.results_dir)?;
    let compared = written
        .baseline
        .as_ref()
        .zip(baseline.as_ref())
        .map(|((_, stamped), b)| (stamped.as_path(), b));
    let published =
        pb_report::publish_run(&written.stamped, &results, compared, &request.reports_dir)?;
    let verdict = verdict(&results);
    Ok(Finished {
        results,
        written,
        report: published.report.html,
        latest_report: published.latest,
        runs_index: published.index.html,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            scenario: ScenarioFile::builtin_default(),
            overrides: Overrides::default(),
            conform: false,
            results_dir: "results".into(),
            reports_dir: "reports".into(),
            exe: "proxybench".into(),
            proxy_args: Vec::new(),
            cores: ["tokio-tower", "monoio", "glommio"]
                .iter()
                .map(|name| CoreEntry {
                    name: (*name).into(),
                    runtime: String::new(),
                    service: String::new(),
                    availability: if *name == "glommio" {
                        Err("no io_uring".into())
                    } else {
                        Ok(())
                    },
                    grid: None,
                    reference: false,
                    scenarios: Vec::new(),
                })
                .collect(),
            allowed_cpus: CpuSet::new(vec![0, 1]).unwrap(),
            io_uring: Ok(()),
            memlock_limit: None,
            build: BuildInfo {
                tool_version: "0".into(),
                rustc: "rustc".into(),
                git_revision: "test".into(),
                profile: "test".into(),
            },
            baseline: None,
            fleet: None,
        }
    }

    #[test]
    fn overrides_replace_the_file_and_bad_ones_are_refused() {
        let mut r = request();
        r.overrides.trials = Some(5);
        r.overrides.duration_s = Some(0.5);
        r.overrides.cores = Some(vec!["monoio".into()]);
        let cfg = plan(&r).unwrap();
        assert_eq!(
            (cfg.scenario.run.trials, cfg.scenario.run.duration_s),
            (5, 0.5)
        );
        assert!(
            cfg.scenario
                .cells
                .iter()
                .all(|c| c.cores.as_deref() == Some(&["monoio".to_owned()][..]))
        );
        assert_eq!(cores_used(&cfg), ["monoio"]);

        // Every load under each backend asked for, once: a file that
        // already lists a backend is not doubled.
        let mut r = request();
        let mut uring = r.scenario.cells[0].clone();
        uring.params.driver = pb_scenario::Backend::IoUring;
        r.scenario.cells.insert(1, uring);
        let loads = r.scenario.cells.len() - 1;
        // A cell an external client drives has no backend: it runs once.
        let mut wrk = r.scenario.cells[0].clone();
        wrk.params.client = Some(pb_scenario::ExternalClient::Wrk);
        r.scenario.cells.push(wrk);
        r.overrides.drivers = Some(pb_scenario::Backend::ALL.to_vec());
        let cfg = plan(&r).unwrap();
        assert_eq!(cfg.scenario.cells.len(), 2 * loads + 1);
        let last = cfg.scenario.cells.last().unwrap();
        assert_eq!(last.params.client, Some(pb_scenario::ExternalClient::Wrk));
        for pair in cfg.scenario.cells[..2 * loads].chunks(2) {
            assert_eq!(pair[0].params.driver, pb_scenario::Backend::Epoll);
            assert_eq!(pair[1].params.driver, pb_scenario::Backend::IoUring);
            assert_eq!(pair[0].label(), pair[1].label().replace("/io_uring", ""));
        }

        for (bad, says) in [
            (
                Overrides {
                    trials: Some(0),
                    ..Overrides::default()
                },
                "--trials",
            ),
            (
                Overrides {
                    duration_s: Some(0.01),
                    ..Overrides::default()
                },
                "--duration",
            ),
            (
                Overrides {
                    warmup_s: Some(f64::NAN),
                    ..Overrides::default()
                },
                "--warmup",
            ),
            (
                Overrides {
                    cores: Some(vec!["nginx".into()]),
                    ..Overrides::default()
                },
                "unknown core \"nginx\"",
            ),
            (
                Overrides {
                    drivers: Some(Vec::new()),
                    ..Overrides::default()
                },
                "--driver",
            ),
            (
                Overrides {
                    networks: Some(vec!["moon".into()]),
                    ..Overrides::default()
                },
                "--network: unknown network \"moon\"; known: loopback, lan, wan-origin",
            ),
            (
                Overrides {
                    networks: Some(vec!["lan".into(), "lan".into()]),
                    ..Overrides::default()
                },
                "twice",
            ),
        ] {
            let mut r = request();
            r.overrides = bad;
            let error = plan(&r).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn a_network_override_runs_every_load_across_each_network_once() {
        let mut r = request();
        let loads = r.scenario.cells.len();
        // A cell the file already put on a network is the same load.
        let mut on_lan = r.scenario.cells[0].clone();
        on_lan.params.network = r.scenario.network("lan").unwrap();
        r.scenario.cells.push(on_lan);
        r.overrides.networks = Some(vec!["loopback".into(), "wan-origin".into()]);
        let cfg = plan(&r).unwrap();
        assert_eq!(cfg.scenario.cells.len(), 2 * loads);
        for pair in cfg.scenario.cells.chunks(2) {
            assert_eq!(pair[0].params.network, None);
            let wan = pair[1].params.network.as_ref().unwrap();
            assert_eq!(wan.name, "wan-origin");
            assert_eq!(
                pair[1].label(),
                format!("{}/net-wan-origin", pair[0].label())
            );
        }
    }

    #[test]
    fn only_available_listed_cores_are_conformance_tested() {
        let cfg = plan(&request()).unwrap();
        let used = cores_used(&cfg);
        assert!(used.contains(&"tokio-tower".to_owned()), "{used:?}");
        assert!(
            !used.contains(&"glommio".to_owned()),
            "unavailable: {used:?}"
        );
        assert!(!used.iter().any(|u| u == pb_scenario::DIRECT), "{used:?}");
    }
}
