//! The run itself: cells x cores x trials, interleaved.
//!
//! For each cell every core is started once (each its own process on the
//! core CPUs; idle ones sleep in their event loop), then trial `t` runs on
//! core A, B, C, then trial `t+1` on A, B, C ..., so drift in the machine
//! (thermal, noisy neighbours) hits every core alike.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use pb_driver::LoadSpec;
use pb_driver::search::SearchSpec;
use pb_results::{Cell, CellParams, CellStatus, CoreStatus, Results, ScenarioRef, Summary};
use pb_scenario::ScenarioFile;
use pb_shared::CpuSet;

use crate::env::{self, BuildInfo};
use crate::measure::{measure, rate_search};
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
            mode: if cell.params.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            rate: cell.params.rate,
            message_bytes: cell.params.message_bytes,
            connections: cell.params.connections,
            in_flight: cell.params.in_flight,
            warmup_s: settings.warmup_s,
            duration_s: settings.duration_s,
            trials: settings.trials,
            core_threads: settings.core_threads,
            driver_threads: settings.driver_threads,
            core_spin_iters: settings.core_spin_iters,
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
                        spin_iters: settings.core_spin_iters,
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

        let spec_for = |process: &CoreProcess| {
            let p = &cell.params;
            let base = match p.rate {
                Some(rate) => LoadSpec::open_echo(
                    process.addr(),
                    p.message_bytes,
                    rate,
                    p.connections,
                    p.in_flight,
                    settings.warmup(),
                    settings.duration(),
                ),
                None => LoadSpec::closed_echo(
                    process.addr(),
                    p.message_bytes,
                    p.connections,
                    p.in_flight,
                    settings.warmup(),
                    settings.duration(),
                ),
            };
            LoadSpec {
                threads: settings.driver_threads,
                cpus: Some(driver_cpus.clone()),
                ..base
            }
        };
        for trial in 0..settings.trials {
            for slot in slots.iter_mut() {
                let Some(process) = slot.process.as_mut() else {
                    continue;
                };
                let spec = spec_for(process);
                match measure(&spec, Some(process.sampler()), trial, sequence) {
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

        if let Some(bound) = cell.rate_search {
            let search =
                SearchSpec::new(bound, settings.search_start_rate, settings.search_max_rate);
            for slot in slots.iter_mut() {
                let Some(process) = slot.process.as_ref() else {
                    continue;
                };
                let base = LoadSpec {
                    warmup: settings.warmup().min(std::time::Duration::from_millis(500)),
                    duration: std::time::Duration::from_secs_f64(settings.search_step_s),
                    ..spec_for(process)
                };
                let core = slot.cell.core.clone();
                let found = rate_search(&base, &search, |p| {
                    progress(&format!(
                        "[{label}] rate search {core}: {:>9.0} req/s offered, {:>9.0} done, p99 {:>9.1} µs, p99.9 {:>9.1} µs: {}",
                        p.offered,
                        p.achieved,
                        p.latency_us.p99,
                        p.latency_us.p999,
                        if p.ok {
                            format!("meets {bound}")
                        } else {
                            format!("misses {bound}")
                        }
                    ))
                });
                match found {
                    Ok(result) => slot.cell.rate_search = Some(result),
                    Err(reason) => slot.end(CellStatus::Failed, format!("rate search: {reason}")),
                }
            }
        }

        for mut slot in slots {
            if let Some(process) = slot.process.take() {
                let rss = process.sampler().rss_max().unwrap_or(0);
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
        run_id: env::run_id(started),
        started_at: env::timestamp(started),
        finished_at: env::timestamp(SystemTime::now()),
        tool_version: cfg.build.tool_version.clone(),
        scenario: ScenarioRef {
            source: cfg.scenario.source.clone(),
            name: cfg.scenario.name.clone(),
        },
        environment: env::capture(&cfg.build, &cfg.io_uring, cfg.memlock_limit, cpu_plan),
        cores,
        cells,
        merged_from: Vec::new(),
    })
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
                rate_search: None,
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
