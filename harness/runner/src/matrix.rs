//! The run itself: cells x cores x trials, interleaved.
//!
//! For each cell every core is started once (each its own process on the
//! core CPUs; idle ones sleep in their event loop), then trial `t` runs on
//! core A, B, C, then trial `t+1` on A, B, C ..., so drift in the machine
//! (thermal, noisy neighbours) hits every core alike.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use pb_driver::http::{HttpWorkload, Method};
use pb_driver::search::SearchSpec;
use pb_driver::{LoadSpec, Workload};
use pb_results::{
    Cell, CellParams, CellStatus, CoreStatus, HttpCellParams, Results, ScenarioRef, Summary,
};
use pb_scenario::ScenarioFile;
use pb_scenario::{DIRECT, HttpParams};
use pb_shared::CpuSet;
use pb_shared::proxy::config::{
    HeadersConfig, LimitsConfig, Policy, PoolConfig, ProxyConfig, RouteConfig, TimeoutsConfig,
};

use crate::env::{self, BuildInfo};
use crate::measure::{measure, rate_search};
use crate::plan;
use crate::process::{CoreCommand, CoreProcess, ProcSampler, StartError};

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
    // Forwarding cells need origin CPUs; echo cells have no origin.
    let needs_origin = cfg.scenario.cells.iter().any(|c| c.params.http.is_some());
    let cpu_plan = plan::plan(
        &cfg.allowed_cpus,
        settings.core_threads,
        settings.driver_threads,
        usize::from(needs_origin),
    );
    let core_cpus = CpuSet::new(cpu_plan.core.clone()).expect("plans give the core a CPU");
    let driver_cpus = CpuSet::new(cpu_plan.driver.clone()).expect("plans give the driver a CPU");
    let origin_cpus = CpuSet::new(cpu_plan.origin.clone()).unwrap_or_else(|| driver_cpus.clone());
    progress(&format!(
        "CPU plan: core on {core_cpus}, driver on {driver_cpus}{} ({})",
        if needs_origin {
            format!(", origins on {origin_cpus}")
        } else {
            String::new()
        },
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
            http: cell.params.http.as_ref().map(|h| HttpCellParams {
                method: match h.method {
                    Method::Get => "GET".into(),
                    Method::Post => "POST".into(),
                },
                keep_alive: h.keep_alive,
                origins: h.origins,
                policy: h.policy.name().into(),
            }),
        };
        let label = cell.label();
        // Origins and the proxy configuration pointing at them.
        let origins = match &cell.params.http {
            Some(h) => match Origins::start(&cfg.exe, h, &origin_cpus, &label) {
                Ok(origins) => Some(origins),
                Err(reason) => {
                    progress(&format!("[{label}] origins: {reason}"));
                    failed_cell_for_all(cfg, cell, &label, &params, &reason, &mut cells);
                    continue;
                }
            },
            None => None,
        };
        let direct_entry = CoreEntry {
            name: DIRECT.into(),
            runtime: "no proxy: the driver talks to an origin".into(),
            service: "-".into(),
            availability: Ok(()),
        };
        let wanted: Vec<&CoreEntry> = match &cell.cores {
            Some(list) => list
                .iter()
                .filter_map(|name| {
                    if name == DIRECT {
                        Some(&direct_entry)
                    } else {
                        cfg.cores.iter().find(|c| &c.name == name)
                    }
                })
                .collect(),
            None => cfg.cores.iter().collect(),
        };

        // Start every available core of the cell.
        let mut slots: Vec<Slot> = Vec::new();
        for entry in wanted {
            let mut slot = Slot::new(&label, cell.scenario.name(), entry, &params);
            match &entry.availability {
                Err(reason) => slot.end(CellStatus::Unavailable, reason.clone()),
                Ok(()) if entry.name == DIRECT => {
                    let first = &origins
                        .as_ref()
                        .expect("direct is an http-forward pseudo-core")
                        .processes[0];
                    slot.target = Some((first.addr(), first.sampler()));
                }
                Ok(()) => {
                    let cmd = CoreCommand {
                        exe: &cfg.exe,
                        core: &entry.name,
                        scenario: cell.scenario.name(),
                        threads: settings.core_threads,
                        cpus: &core_cpus,
                        spin_iters: settings.core_spin_iters,
                        config: origins.as_ref().map(|o| &*o.config),
                    };
                    match CoreProcess::start(&cmd) {
                        Ok(process) => {
                            slot.target = Some((process.addr(), process.sampler()));
                            slot.process = Some(process);
                        }
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

        let spec_for = |addr: std::net::SocketAddr| {
            let p = &cell.params;
            let base = match p.rate {
                Some(rate) => LoadSpec::open_echo(
                    addr,
                    p.message_bytes,
                    rate,
                    p.connections,
                    p.in_flight,
                    settings.warmup(),
                    settings.duration(),
                ),
                None => LoadSpec::closed_echo(
                    addr,
                    p.message_bytes,
                    p.connections,
                    p.in_flight,
                    settings.warmup(),
                    settings.duration(),
                ),
            };
            let workload = match &p.http {
                Some(h) => Workload::Http(HttpWorkload {
                    method: h.method,
                    keep_alive: h.keep_alive,
                    ..HttpWorkload::get(p.message_bytes)
                }),
                None => base.workload.clone(),
            };
            LoadSpec {
                threads: settings.driver_threads,
                cpus: Some(driver_cpus.clone()),
                workload,
                ..base
            }
        };
        for trial in 0..settings.trials {
            for slot in slots.iter_mut() {
                let Some((addr, sampler)) = slot.target else {
                    continue;
                };
                let spec = spec_for(addr);
                match measure(&spec, Some(sampler), trial, sequence) {
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
                let Some((addr, _)) = slot.target else {
                    continue;
                };
                let base = LoadSpec {
                    warmup: settings.warmup().min(std::time::Duration::from_millis(500)),
                    duration: std::time::Duration::from_secs_f64(settings.search_step_s),
                    ..spec_for(addr)
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
        conformance: None,
    })
}

/// One core's cell while the run is in progress.
struct Slot {
    cell: Cell,
    /// The core process, for real cores.
    process: Option<CoreProcess>,
    /// Where the driver connects and whose CPU is sampled.
    target: Option<(std::net::SocketAddr, ProcSampler)>,
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
                conformance_failures: Vec::new(),
                summary: None,
            },
            process: None,
            target: None,
        }
    }

    /// Marks the cell as ended early; the process, if any, is stopped.
    fn end(&mut self, status: CellStatus, reason: String) {
        self.cell.status = status;
        self.cell.reason = Some(reason);
        self.target = None;
        if let Some(process) = self.process.take() {
            self.cell.core_exit = Some(process.stop(STOP_GRACE));
        }
    }
}

/// The origins of one `http-forward` cell and the proxy configuration
/// that points at them; stopped and removed when dropped.
struct Origins {
    processes: Vec<CoreProcess>,
    /// The proxy configuration file; removed when dropped.
    config: tempfile::TempPath,
}

/// What every core of an http-forward cell is configured with: one pool
/// of the cell's origins under its policy, every path routed to it.
fn cell_proxy_config(policy: Policy, upstreams: Vec<std::net::SocketAddr>) -> ProxyConfig {
    ProxyConfig {
        pools: vec![PoolConfig {
            name: "origins".into(),
            policy,
            upstreams,
        }],
        routes: vec![RouteConfig {
            host: None,
            path_prefix: "/".into(),
            pool: "origins".into(),
        }],
        auth: None,
        headers: HeadersConfig {
            response_add: vec![("via".into(), "1.1 proxybench".into())],
            ..HeadersConfig::default()
        },
        timeouts: TimeoutsConfig::default(),
        limits: LimitsConfig::default(),
    }
}

/// Writes `config` where a core started with `--config` reads it, as the
/// cores' own parser will read it back.
fn write_proxy_config(config: &ProxyConfig, label: &str) -> Result<tempfile::TempPath, String> {
    let text = toml::to_string(config).map_err(|e| format!("proxy config for {label}: {e}"))?;
    let file = tempfile::Builder::new()
        .prefix("proxybench-")
        .suffix(".toml")
        .tempfile()
        .map_err(|e| format!("cannot create a proxy config file: {e}"))?;
    std::fs::write(
        file.path(),
        format!("# written by proxybench run for {label}\n{text}"),
    )
    .map_err(|e| format!("cannot write {}: {e}", file.path().display()))?;
    Ok(file.into_temp_path())
}

impl Origins {
    fn start(
        exe: &std::path::Path,
        http: &HttpParams,
        cpus: &CpuSet,
        label: &str,
    ) -> Result<Origins, String> {
        let processes = (0..http.origins)
            .map(|i| {
                CoreProcess::start_origin(exe, &format!("origin-{i}"), cpus)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let upstreams = processes.iter().map(CoreProcess::addr).collect();
        let config = write_proxy_config(&cell_proxy_config(http.policy, upstreams), label)?;
        Ok(Origins { processes, config })
    }
}

impl Drop for Origins {
    fn drop(&mut self) {
        for p in self.processes.drain(..) {
            p.stop(STOP_GRACE);
        }
    }
}

/// Records every core of `cell` as failed with `reason`.
fn failed_cell_for_all(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    label: &str,
    params: &CellParams,
    reason: &str,
    cells: &mut Vec<Cell>,
) {
    let names: Vec<String> = match &cell.cores {
        Some(list) => list.clone(),
        None => cfg.cores.iter().map(|c| c.name.clone()).collect(),
    };
    for name in names {
        let entry = CoreEntry {
            name,
            runtime: String::new(),
            service: String::new(),
            availability: Ok(()),
        };
        let mut slot = Slot::new(label, cell.scenario.name(), &entry, params);
        slot.end(
            CellStatus::Failed,
            format!("origins did not start: {reason}"),
        );
        cells.push(slot.cell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_proxy_config_reads_back_the_same() {
        let config = cell_proxy_config(
            Policy::P2c,
            vec![
                "127.0.0.1:9001".parse().unwrap(),
                "[::1]:9002".parse().unwrap(),
            ],
        );
        let path = write_proxy_config(&config, "http-forward/GET/100B/c50x1").unwrap();
        assert_eq!(ProxyConfig::load(&path).unwrap(), config);
        let kept = path.to_path_buf();
        drop(path);
        assert!(!kept.exists(), "the file goes with its owner");
    }
}
