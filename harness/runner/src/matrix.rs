//! The run itself: cells x cores x trials, interleaved.
//!
//! For each cell every core is started once (each its own process on the
//! core CPUs; idle ones sleep in their event loop), then trial `t` runs on
//! core A, B, C, then trial `t+1` on A, B, C ..., so drift in the machine
//! (thermal, noisy neighbours) hits every core alike.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use pb_driver::{LoadReport, LoadSpec, WindowEdge};
use pb_results::{
    Cell, CellParams, CellStatus, CoreStatus, Results, ScenarioRef, Summary, Trial, hist,
};
use pb_scenario::ScenarioFile;
use pb_shared::CpuSet;

use crate::env::{self, BuildInfo};
use crate::plan;
use crate::process::{CoreCommand, CoreProcess, StartError};

/// How long a core gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A core as the runner knows it: by name, with its availability here.
#[derive(Debug, Clone)]
pub struct CoreEntry {
    /// Registry name.
    pub name: String,
    /// Runtime description.
    pub runtime: String,
    /// Service description.
    pub service: String,
    /// `Err(reason)` when it cannot run here.
    pub availability: Result<(), String>,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The `proxybench` executable that serves `proxy`.
    pub exe: PathBuf,
    /// What to run.
    pub scenario: ScenarioFile,
    /// Every registered core (cells pick from these).
    pub cores: Vec<CoreEntry>,
    /// CPUs the run may use (default: this process's affinity).
    pub allowed_cpus: CpuSet,
    /// io_uring probe result, recorded in the environment.
    pub io_uring: Result<(), String>,
    /// Memlock limit, recorded in the environment.
    pub memlock_limit: Option<u64>,
    /// Build facts.
    pub build: BuildInfo,
}

/// A run that could not produce results at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A cell names a core that is not registered.
    #[error("{0}")]
    Scenario(#[from] pb_scenario::ScenarioError),
    /// A trial's histogram could not be summarised (a bug, reported plainly).
    #[error("cannot summarise trials: {0}")]
    Summary(#[from] pb_results::hist::HistogramDecodeError),
}

/// Runs the matrix; `progress` receives one line per step.
pub fn run(cfg: &RunConfig, progress: &mut dyn FnMut(&str)) -> Result<Results, RunnerError> {
    let names: Vec<&str> = cfg.cores.iter().map(|c| c.name.as_str()).collect();
    cfg.scenario.check_cores(&names)?;
    let started = SystemTime::now();
    let settings = &cfg.scenario.run;
    // Echo has no origin; forwarding scenarios will ask for one.
    let cpu_plan = plan::plan(
        &cfg.allowed_cpus,
        settings.core_threads,
        settings.driver_threads,
        0,
    );
    let core_cpus = CpuSet::new(cpu_plan.core.clone()).expect("plans give the core a CPU");
    let driver_cpus = CpuSet::new(cpu_plan.driver.clone()).expect("plans give the driver a CPU");
    progress(&format!(
        "CPU plan: core on {core_cpus}, driver on {driver_cpus} ({})",
        cpu_plan.note
    ));

    let mut cells = Vec::new();
    let mut sequence = 0u32;
    for cell in &cfg.scenario.cells {
        let params = CellParams {
            mode: "closed".into(),
            message_bytes: cell.params.message_bytes,
            connections: cell.params.connections,
            in_flight: cell.params.in_flight,
            warmup_s: settings.warmup_s,
            duration_s: settings.duration_s,
            trials: settings.trials,
            core_threads: settings.core_threads,
            driver_threads: settings.driver_threads,
        };
        let label = cell.label();
        let wanted: Vec<&CoreEntry> = match &cell.cores {
            Some(list) => list
                .iter()
                .filter_map(|name| cfg.cores.iter().find(|c| &c.name == name))
                .collect(),
            None => cfg.cores.iter().collect(),
        };

        // Start every available core of the cell.
        let mut slots: Vec<Slot> = Vec::new();
        for entry in wanted {
            let mut slot = Slot::new(&label, cell.scenario.name(), entry, &params);
            match &entry.availability {
                Err(reason) => slot.end(CellStatus::Unavailable, reason.clone()),
                Ok(()) => {
                    let cmd = CoreCommand {
                        exe: &cfg.exe,
                        core: &entry.name,
                        scenario: cell.scenario.name(),
                        threads: settings.core_threads,
                        cpus: &core_cpus,
                    };
                    match CoreProcess::start(&cmd) {
                        Ok(process) => slot.process = Some(process),
                        Err(StartError::Unavailable(reason)) => {
                            slot.end(CellStatus::Unavailable, reason)
                        }
                        Err(e @ StartError::Failed(_)) => {
                            slot.end(CellStatus::Failed, e.to_string())
                        }
                    }
                }
            }
            if let Some(reason) = &slot.cell.reason {
                progress(&format!("[{label}] {}: {reason}", entry.name));
            }
            slots.push(slot);
        }

        for trial in 0..settings.trials {
            for slot in slots.iter_mut() {
                let Some(process) = slot.process.as_mut() else {
                    continue;
                };
                let spec = LoadSpec {
                    threads: settings.driver_threads,
                    cpus: Some(driver_cpus.clone()),
                    ..LoadSpec::closed_echo(
                        process.addr(),
                        cell.params.message_bytes,
                        cell.params.connections,
                        cell.params.in_flight,
                        settings.warmup(),
                        settings.duration(),
                    )
                };
                match measure(process, &spec, trial, sequence) {
                    Ok(t) => {
                        progress(&format!(
                            "[{label}] trial {}/{} {:<12} {:>9.0} req/s  p99 {:>8.1} µs  core {:>6} µs/req  errors {}{}",
                            trial + 1,
                            settings.trials,
                            slot.cell.core,
                            t.qps,
                            t.latency_us.p99,
                            t.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.2}")),
                            t.errors,
                            if t.driver_bound {
                                "  (driver-bound)"
                            } else {
                                ""
                            },
                        ));
                        slot.cell.trials.push(t);
                        sequence += 1;
                    }
                    Err(reason) => {
                        progress(&format!("[{label}] {}: {reason}", slot.cell.core));
                        slot.end(CellStatus::Failed, reason);
                    }
                }
                if let Some(process) = slot.process.as_mut()
                    && let Some(exit) = process.exited()
                {
                    let reason = format!("core exited during the run: {exit}");
                    progress(&format!("[{label}] {}: {reason}", slot.cell.core));
                    slot.end(CellStatus::Failed, reason);
                }
            }
        }

        for mut slot in slots {
            if let Some(process) = slot.process.take() {
                let rss = process.rss_max().unwrap_or(0);
                if let Some(last) = slot.cell.trials.last_mut() {
                    last.rss_max_bytes = last.rss_max_bytes.max(rss);
                }
                slot.cell.core_exit = Some(process.stop(STOP_GRACE));
            }
            slot.cell.summary = Summary::from_trials(&slot.cell.trials)?;
            cells.push(slot.cell);
        }
    }

    let cores = cfg
        .cores
        .iter()
        .map(|c| CoreStatus {
            name: c.name.clone(),
            runtime: c.runtime.clone(),
            service: c.service.clone(),
            available: c.availability.is_ok(),
            reason: c.availability.clone().err(),
        })
        .collect();
    Ok(Results {
        schema_version: pb_results::SCHEMA_VERSION,
        run_id: run_id(started),
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        tool_version: cfg.build.tool_version.clone(),
        scenario: ScenarioRef {
            source: cfg.scenario.source.clone(),
            name: cfg.scenario.name.clone(),
        },
        environment: env::capture(&cfg.build, &cfg.io_uring, cfg.memlock_limit, cpu_plan),
        cores,
        cells,
    })
}

/// `20261126T221530Z` from a time.
fn run_id(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// One core's cell while the run is in progress.
struct Slot {
    cell: Cell,
    process: Option<CoreProcess>,
}

impl Slot {
    fn new(label: &str, scenario: &str, entry: &CoreEntry, params: &CellParams) -> Slot {
        Slot {
            cell: Cell {
                id: format!("{label}/{}", entry.name),
                scenario: scenario.to_owned(),
                core: entry.name.clone(),
                status: CellStatus::Ok,
                reason: None,
                params: params.clone(),
                trials: Vec::new(),
                core_exit: None,
                summary: None,
            },
            process: None,
        }
    }

    /// Marks the cell as ended early; the process, if any, is stopped.
    fn end(&mut self, status: CellStatus, reason: String) {
        self.cell.status = status;
        self.cell.reason = Some(reason);
        if let Some(process) = self.process.take() {
            self.cell.core_exit = Some(process.stop(STOP_GRACE));
        }
    }
}

/// One trial against one running core: the driver runs, and the core's
/// CPU is sampled exactly at the window's edges.
fn measure(
    process: &CoreProcess,
    spec: &LoadSpec,
    index: u32,
    sequence: u32,
) -> Result<Trial, String> {
    let mut cpu_at_start = None;
    let mut cpu_at_end = None;
    let mut sample_error = None;
    let report: LoadReport = pb_driver::run(spec, &mut |edge| {
        let sample = process.cpu_time();
        match (edge, sample) {
            (WindowEdge::Start, Ok(t)) => cpu_at_start = Some(t),
            (WindowEdge::End, Ok(t)) => cpu_at_end = Some(t),
            (_, Err(e)) => sample_error = Some(e.to_string()),
        }
    })
    .map_err(|e| e.to_string())?;
    if let Some(e) = sample_error {
        return Err(format!("cannot read the core's CPU time: {e}"));
    }
    let core_cpu = match (cpu_at_start, cpu_at_end) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => return Err("the core's CPU time was not sampled".into()),
    };
    let per_req = |cpu: Duration| {
        (report.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / report.requests as f64)
    };
    Ok(Trial {
        index,
        sequence,
        window_s: report.window.as_secs_f64(),
        requests: report.requests,
        qps: report.qps(),
        errors: report.error_count(),
        errors_by_kind: report.errors.clone(),
        latency_us: hist::percentiles(&report.histogram),
        histogram: hist::encode(&report.histogram),
        core_cpu_us: core_cpu.as_secs_f64() * 1e6,
        cpu_us_per_req: per_req(core_cpu),
        driver_cpu_us: report.driver_cpu.as_secs_f64() * 1e6,
        driver_cpu_us_per_req: report.driver_cpu_us_per_req(),
        driver_util: report.driver_util(),
        rss_max_bytes: process.rss_max().unwrap_or(0),
        driver_bound: report.driver_bound.is_some(),
        driver_bound_reason: report.driver_bound.clone(),
    })
}
