//! `proxybench claims`: the design article's claims as experiments, each
//! with a verdict on this machine.
//!
//! A claim is data ([`ledger`]: its words, source, experiment and
//! deciding figure, in `scenarios/claims/ledger.toml`); an experiment is
//! one or more scenario files in `scenarios/claims/` run through the
//! ordinary runner, and a function that turns their results into each
//! claim's verdict ([`experiments`]) by `pb-stats`' one rule of
//! "significant" ([`judge`]). The run, in order:
//!
//! 1. the ledger and the experiments' scenario files, checked;
//! 2. the conformance suite on every core the experiments use (a core's
//!    numbers count only if it behaves);
//! 3. each experiment that fits the machine ([`lab`]), its results files
//!    and reports under `results/claims/<run-id>/` and
//!    `reports/claims/<run-id>/`;
//! 4. the ledger ([`pb_results::claims::Ledger`]): one row per claim with
//!    its figures and verdict — *holds*, *does not hold*, *within noise*,
//!    or *cannot be tested here* with the reason — as JSON beside them
//!    and as the page `reports/claims/<run-id>/index.html`
//!    (`pb_report::claims`).
//!
//! | module | role |
//! |---|---|
//! | [`ledger`] | the claims as data |
//! | [`experiments`] | what each experiment runs and how its figures decide its claims |
//! | [`judge`] | trial sets -> a claim's verdict, by `pb-stats`' rule |
//! | [`lab`] | running a scenario file for an experiment; what its cells' figures are and whether they count |
//!
//! Where the machine is too small for an experiment to decide (threads
//! that would need CPUs of their own share them), it still runs, so it
//! is tested, and its figures are shown; the verdict says it cannot
//! decide here and what it would need.

pub mod experiments;
pub mod judge;
pub mod lab;
pub mod ledger;

use std::path::PathBuf;
use std::time::SystemTime;

use pb_progress::{Event, Progress};
use pb_results::claims::{ClaimOutcome, ClaimVerdict, LEDGER_KIND, LEDGER_VERSION, Ledger};
use pb_runner::CoreEntry;
use pb_runner::env::BuildInfo;
use pb_sys::CpuSet;

use crate::experiments::Judged;

/// What `proxybench claims` was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The `proxybench` executable that serves `proxy` and `origin`.
    pub exe: PathBuf,
    /// Arguments every `proxybench proxy` it starts gets.
    pub proxy_args: Vec<String>,
    /// Every registered core with its availability here.
    pub cores: Vec<CoreEntry>,
    /// CPUs the experiments may use.
    pub allowed_cpus: CpuSet,
    /// io_uring probe result.
    pub io_uring: Result<(), String>,
    /// Memlock limit.
    pub memlock_limit: Option<u64>,
    /// Build facts.
    pub build: BuildInfo,
    /// `results/claims`: each run in `<run-id>/`, the newest ledger as
    /// `latest.json`.
    pub results_dir: PathBuf,
    /// `reports/claims`: each run's pages in `<run-id>/`.
    pub reports_dir: PathBuf,
    /// Only these experiments (names); every one when `None`.
    pub only: Option<Vec<String>>,
    /// Short trials: every figure exists, none is to be trusted (tests).
    pub quick: bool,
    /// Run the conformance suite first.
    pub conform: bool,
    /// Reads a counter of the process's heap allocations, for the
    /// per-call allocation counts of the in-process stacks (claim 4);
    /// `None` when the binary does not count them.
    pub allocations: Option<pb_bench::drive::Probe>,
}

/// What a claims run produced.
#[derive(Debug)]
pub struct Finished {
    /// The ledger.
    pub ledger: Ledger,
    /// `results/claims/<run-id>/ledger.json`.
    pub ledger_path: PathBuf,
    /// `results/claims/latest.json`, a copy.
    pub latest_path: PathBuf,
    /// The ledger's page.
    pub report: PathBuf,
}

/// A claims run that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// The ledger or an experiment's scenario file is wrong.
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    /// An experiment's scenario file is wrong.
    #[error(transparent)]
    Scenario(#[from] pb_scenario::ScenarioError),
    /// `--only` names no experiment.
    #[error("unknown experiment {0:?}; known: {1}")]
    UnknownExperiment(String, String),
    /// An experiment could not be planned.
    #[error(transparent)]
    Plan(#[from] pb_runner::pipeline::PipelineError),
    /// An experiment could not run.
    #[error(transparent)]
    Runner(#[from] pb_runner::RunnerError),
    /// The conformance suite could not run.
    #[error("conformance suite: {0}")]
    Conform(#[from] pb_conform::SuiteError),
    /// A file could not be written.
    #[error(transparent)]
    Results(#[from] pb_results::io::ResultsIoError),
    /// A report could not be rendered.
    #[error(transparent)]
    Report(#[from] pb_report::ReportError),
    /// The in-process stacks could not run.
    #[error("in-process stacks: {0}")]
    Bench(#[source] std::io::Error),
    /// An experiment could not set itself up.
    #[error("{0}")]
    Experiment(String),
}

/// Runs the experiments and writes the ledger; `progress` sees the
/// conformance stage and each experiment's trials.
pub fn run(request: &Request, progress: &mut dyn Progress) -> Result<Finished, ClaimsError> {
    let claims = ledger::builtin();
    let selected = experiments::select(request.only.as_deref())?;
    let started = SystemTime::now();
    let run_id = pb_runner::env::run_id(started);
    let results_dir = request.results_dir.join(&run_id);
    let reports_dir = request.reports_dir.join(&run_id);

    let conformance = if request.conform {
        let cores = experiments::cores_used(&selected, request)?;
        let serves = |core: &str, scenario: &str| {
            request
                .cores
                .iter()
                .any(|c| c.name == core && c.serves(scenario))
        };
        Some(pb_conform::run_matrix(
            &request.exe,
            &request.proxy_args,
            &cores,
            &serves,
            None,
            progress,
        )?)
    } else {
        None
    };

    let mut lab = lab::Lab::new(
        request,
        results_dir.clone(),
        reports_dir.clone(),
        conformance,
        progress,
    );
    let mut judged: Vec<Judged> = Vec::new();
    for experiment in &selected {
        if let Some(run) = experiment.run {
            lab.progress.event(Event::Note(&format!(
                "experiment {}: {}",
                experiment.name, experiment.about
            )));
            judged.extend(run(&mut lab)?);
        }
    }

    let ledger = Ledger {
        kind: LEDGER_KIND.into(),
        version: LEDGER_VERSION,
        run_id,
        started_at: pb_runner::env::timestamp(started),
        finished_at: pb_runner::env::timestamp(SystemTime::now()),
        tool_version: format!(
            "{} ({})",
            request.build.tool_version, request.build.git_revision
        ),
        machine: machine(request),
        claims: claims
            .iter()
            .map(|claim| outcome(claim, &selected, &judged))
            .collect(),
    };
    let ledger_path = results_dir.join("ledger.json");
    pb_results::io::write_ledger(&ledger, &ledger_path)?;
    let latest_path = request.results_dir.join("latest.json");
    pb_results::io::write_ledger(&ledger, &latest_path)?;
    let report = pb_report::claims::write(&ledger, &reports_dir)?;
    Ok(Finished {
        ledger,
        ledger_path,
        latest_path,
        report,
    })
}

/// A claim's row: what its experiment judged, or why nothing was.
fn outcome(
    claim: &ledger::Claim,
    selected: &[&experiments::Experiment],
    judged: &[Judged],
) -> ClaimOutcome {
    let row = |verdict, reason: String| ClaimOutcome {
        id: claim.id.clone(),
        title: claim.title.clone(),
        claim: claim.claim.clone(),
        source: claim.source.clone(),
        experiment: claim.experiment.clone(),
        decides: claim.decides.clone(),
        verdict,
        reason,
        figures: Vec::new(),
        flags: Vec::new(),
        results: Vec::new(),
    };
    let experiment = experiments::ALL
        .iter()
        .find(|e| e.name == claim.experiment)
        .expect("the ledger is checked against the experiments");
    if experiment.run.is_none() {
        return row(
            ClaimVerdict::CannotTest,
            format!(
                "this build has no {} experiment yet: {}",
                experiment.name, experiment.about
            ),
        );
    }
    if !selected.iter().any(|e| e.name == experiment.name) {
        return row(
            ClaimVerdict::CannotTest,
            format!(
                "not run: --only left out the {} experiment",
                experiment.name
            ),
        );
    }
    match judged.iter().find(|j| j.claim == claim.id) {
        Some(j) => ClaimOutcome {
            verdict: j.verdict,
            reason: j.reason.clone(),
            figures: j.figures.clone(),
            flags: j.flags.clone(),
            results: j.results.clone(),
            ..row(j.verdict, String::new())
        },
        None => row(
            ClaimVerdict::CannotTest,
            format!("the {} experiment judged nothing for it", experiment.name),
        ),
    }
}

fn machine(request: &Request) -> pb_results::claims::LedgerMachine {
    let environment = pb_runner::env::capture(
        &request.build,
        &request.io_uring,
        request.memlock_limit,
        pb_results::CpuPlan {
            allowed: request.allowed_cpus.ids().to_vec(),
            core: Vec::new(),
            driver: Vec::new(),
            origin: Vec::new(),
            shared: false,
            note: String::new(),
        },
    );
    pb_results::claims::LedgerMachine {
        cpus: request.allowed_cpus.len(),
        cpu_model: environment.cpu_model,
        kernel: environment.kernel,
        git_revision: environment.git_revision,
        io_uring_unavailable: request.io_uring.clone().err(),
    }
}
