//! The run itself: cells x cores x trials, interleaved.
//!
//! For each cell every core is started once (each its own process on the
//! core CPUs), then trial `t` runs on core A, B, C, then trial `t+1` on
//! A, B, C ..., so drift in the machine (thermal, noisy neighbours) hits
//! every core alike. While one core is measured the others are frozen
//! (SIGSTOP until their turn, [`Freezer`]): idle is not idle to a CPU's
//! other tenant when a core polls for work.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use pb_core::config::{
    DynamicConfig, DynamicEngine, HeadersConfig, LimitsConfig, Policy, PoolConfig, ProxyConfig,
    RouteConfig, TimeoutsConfig, WorkConfig,
};
use pb_driver::LoadSpec;
use pb_driver::search::{LatencyBound, SearchSpec};
use pb_netpath::Role;
use pb_progress::{Event, Progress, Stage, Units};
use pb_results::{Cell, CellStatus, CoreStatus, CpuPlan, GridCell, Results, ScenarioRef, Summary};
use pb_scenario::ScenarioFile;
use pb_scenario::{DIRECT, HttpParams};
use pb_sys::CpuSet;

use crate::env::{self, BuildInfo};
use crate::fleet::{self, Fleet, FleetConfig};
use crate::measure::{measure, rate_search};
use crate::network::CellNet;
use crate::plan;
use crate::rendezvous::Rendezvous;
use pb_process::{CoreCommand, CoreProcess, ProcSampler, StartError};

/// The cores' connect timeout in a run. A lossy path (`wan-origin`)
/// loses a SYN now and then; Linux sends it again after its initial
/// retransmission timeout, 1 s, and again 2 s later. The cores' own
/// default of 1 s turned each lost SYN into a 502 (or not, by a hair);
/// 3.5 s lets two retransmissions through, as a deployment facing such a
/// path would.
const BENCH_CONNECT_MS: u64 = 3500;

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
    /// Its runtime × composition grid cell.
    pub grid: Option<GridCell>,
    /// A reference proxy: run only where a cell lists it, and never what
    /// fails a run.
    pub reference: bool,
    /// The scenarios it serves (`Scenario::name`s); empty for any.
    pub scenarios: Vec<String>,
}

impl CoreEntry {
    /// Whether it serves `scenario` (a `Scenario::name`).
    pub fn serves(&self, scenario: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == scenario)
    }
}

impl RunConfig {
    /// The names of the cores `cell` runs: those it lists, else every
    /// registered core but the references (which run only where named).
    pub fn cores_of(&self, cell: &pb_scenario::Cell) -> Vec<String> {
        match &cell.cores {
            Some(list) => list.clone(),
            None => self
                .cores
                .iter()
                .filter(|c| !c.reference)
                .map(|c| c.name.clone())
                .collect(),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The `proxybench` executable that serves `proxy`.
    pub exe: PathBuf,
    /// Arguments every `proxybench proxy` it starts gets (`--external
    /// FILE` for each core a user brought), so children know its cores.
    pub proxy_args: Vec<String>,
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
    /// A second proxybench build whose cores run beside this one's, trial
    /// by trial in A B B A order (`run --baseline-exe`): the baseline of a
    /// pull request measured in the same minutes as its head.
    pub baseline: Option<Baseline>,
    /// Driver hosts that load each trial together over SSH (`run
    /// --drivers`), instead of the driver in this process.
    pub fleet: Option<FleetConfig>,
    /// Another run this one keeps in step with, trial by trial (the
    /// paired gate's duets, `--pairing together` and `split`): both meet
    /// here before each trial, so trial `k` of each overlaps the other's.
    pub in_step_with: Option<Rendezvous>,
}

/// The other build of an A/B run.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Its `proxybench` executable; it serves `proxy` for the cores.
    pub exe: PathBuf,
    /// What it was built from, recorded in its results file.
    pub build: BuildInfo,
}

/// Which build a core process comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// This proxybench.
    Current,
    /// [`RunConfig::baseline`].
    Baseline,
}

/// What a run measured: this build's results and, in an A/B run, the
/// baseline build's, cell for cell.
#[derive(Debug)]
pub struct Ran {
    /// This build's cells (and every reference's).
    pub results: Results,
    /// The baseline build's cells, when there is one.
    pub baseline: Option<Results>,
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

/// Runs the matrix; `progress` sees the [`Stage::Trials`] stage (in
/// milliseconds of planned load), a step per trial or rate-search probe,
/// and a note for the CPU plan and every core that could not run.
pub fn run(cfg: &RunConfig, progress: &mut dyn Progress) -> Result<Ran, RunnerError> {
    // However this run ends, its partner run (if any) stops waiting.
    let _leaves = cfg.in_step_with.as_ref().map(Rendezvous::leave_on_drop);
    let names: Vec<&str> = cfg.cores.iter().map(|c| c.name.as_str()).collect();
    cfg.scenario.check_cores(&names)?;
    let started = SystemTime::now();
    let mut tracker = Tracker::start(cfg, progress);
    let pins = Pins::plan(cfg, &mut tracker);
    let mut cells = Vec::new();
    let mut sequence = 0u32;
    let run_id = env::run_id(started);
    for cell in &cfg.scenario.cells {
        let before = tracker.done;
        cells.extend(run_cell(
            cfg,
            cell,
            &pins,
            &run_id,
            &mut sequence,
            &mut tracker,
        )?);
        // Cores that could not start, failed early or searched in fewer
        // probes than planned: the rest of the plan is what it was.
        tracker.settle(planned_load(cfg, cell), tracker.done - before);
    }
    let (baseline_cells, cells): (Vec<_>, Vec<_>) = cells
        .into_iter()
        .partition(|(side, _)| *side == Side::Baseline);
    let strip = |cells: Vec<(Side, Cell)>| cells.into_iter().map(|(_, c)| c).collect();
    Ok(Ran {
        results: results(cfg, &cfg.build, started, pins.plan.clone(), strip(cells)),
        baseline: cfg
            .baseline
            .as_ref()
            .map(|b| results(cfg, &b.build, started, pins.plan, strip(baseline_cells))),
    })
}

/// The builds whose processes serve `entry`: the baseline's too in an
/// A/B run, except for what is no build of ours (a reference proxy, the
/// `direct` pseudo-core).
fn sides(cfg: &RunConfig, entry: &CoreEntry) -> &'static [Side] {
    if cfg.baseline.is_some() && !entry.reference && entry.name != DIRECT {
        &[Side::Baseline, Side::Current]
    } else {
        &[Side::Current]
    }
}

/// A rate search is planned at this many probes per core (the search
/// stops at 24; most end in 8 to 12).
const PLANNED_PROBES: u64 = 10;

/// The load `cell` is planned to put on its cores, in milliseconds: every
/// available core that serves it, every trial, and its rate search.
fn planned_load(cfg: &RunConfig, cell: &pb_scenario::Cell) -> Units {
    let settings = &cfg.scenario.run;
    let scenario = cell.scenario.name();
    let cores: usize = cfg
        .cores_of(cell)
        .iter()
        .map(|name| match cfg.cores.iter().find(|c| &c.name == name) {
            Some(c) if c.availability.is_ok() && c.serves(scenario) => sides(cfg, c).len(),
            Some(_) => 0,
            None => usize::from(name == DIRECT),
        })
        .sum();
    let cores = cores as Units;
    let trials = Units::from(settings.trials) * trial_load(settings);
    let search = match cell.rate_search {
        Some(_) => PLANNED_PROBES * probe_load(settings),
        None => 0,
    };
    cores * (trials + search)
}

fn trial_load(settings: &pb_scenario::RunSettings) -> Units {
    pb_progress::millis(settings.warmup_s + settings.duration_s)
}

fn probe_load(settings: &pb_scenario::RunSettings) -> Units {
    pb_progress::millis(settings.warmup().min(SEARCH_WARMUP).as_secs_f64() + settings.search_step_s)
}

/// A rate-search probe warms up at most this long.
const SEARCH_WARMUP: Duration = Duration::from_millis(500);

/// The trials stage as `progress` sees it: what is planned and done.
struct Tracker<'a> {
    progress: &'a mut dyn Progress,
    planned: Units,
    done: Units,
}

impl<'a> Tracker<'a> {
    fn start(cfg: &RunConfig, progress: &'a mut dyn Progress) -> Tracker<'a> {
        let planned = cfg
            .scenario
            .cells
            .iter()
            .map(|c| planned_load(cfg, c))
            .sum();
        let trials = cfg.scenario.run.trials;
        progress.event(Event::Stage {
            stage: Stage::Trials,
            planned,
            title: &format!(
                "{}: {} cells, {trials} trial{} each, about {:.0} s of load",
                cfg.scenario.name,
                cfg.scenario.cells.len(),
                if trials == 1 { "" } else { "s" },
                planned as f64 / 1000.0
            ),
        });
        Tracker {
            progress,
            planned,
            done: 0,
        }
    }

    fn note(&mut self, line: &str) {
        self.progress.event(Event::Note(line));
    }

    fn step(&mut self, units: Units, what: &str, line: &str) {
        self.done += units;
        if self.done > self.planned {
            self.replan(self.done);
        }
        self.progress.event(Event::Step { units, what, line });
    }

    /// A cell planned at `planned` ended having done `done`.
    fn settle(&mut self, planned: Units, done: Units) {
        if planned != done {
            self.replan((self.planned + done).saturating_sub(planned).max(self.done));
        }
    }

    fn replan(&mut self, planned: Units) {
        self.planned = planned;
        self.progress.event(Event::Replan { planned });
    }
}

/// The CPU plan and the CPU sets it gives each role.
struct Pins {
    plan: CpuPlan,
    core: CpuSet,
    driver: CpuSet,
    origin: CpuSet,
}

impl Pins {
    fn plan(cfg: &RunConfig, progress: &mut Tracker<'_>) -> Pins {
        let settings = &cfg.scenario.run;
        // Forwarding cells need origin CPUs; echo cells have no origin.
        let needs_origin = cfg
            .scenario
            .cells
            .iter()
            .any(|c| c.params.http.is_some() || c.params.tcp.is_some());
        let plan = plan::plan_for(
            settings.cpu_plan,
            &cfg.allowed_cpus,
            settings.core_threads,
            settings.driver_threads,
            usize::from(needs_origin),
        );
        let core = CpuSet::new(plan.core.clone()).expect("plans give the core a CPU");
        let driver = CpuSet::new(plan.driver.clone()).expect("plans give the driver a CPU");
        let origin = CpuSet::new(plan.origin.clone()).unwrap_or_else(|| driver.clone());
        progress.note(&format!(
            "CPU plan: core on {core}, driver on {driver}{} ({})",
            if needs_origin {
                format!(", origins on {origin}")
            } else {
                String::new()
            },
            plan.note
        ));
        Pins {
            plan,
            core,
            driver,
            origin,
        }
    }
}

/// One cell for every core it lists: origins, core processes, interleaved
/// trials (the cores not measured frozen), the rate search, then every
/// process stopped.
fn run_cell(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    pins: &Pins,
    run_id: &str,
    sequence: &mut u32,
    progress: &mut Tracker<'_>,
) -> Result<Vec<(Side, Cell)>, RunnerError> {
    let label = cell.label();
    // A fleet's hosts answer (and their clocks are read) before anything
    // starts for the cell.
    let fleet = match &cfg.fleet {
        None => None,
        Some(config) => {
            match fleet::unsupported(cell).map_or_else(|| Fleet::connect(config, run_id), Err) {
                Ok(fleet) => {
                    progress.note(&format!("[{label}] {}", fleet.describe()));
                    Some(fleet)
                }
                Err(reason) => {
                    progress.note(&format!("[{label}] {reason}"));
                    return Ok(failed_cell_for_all(cfg, cell, &reason));
                }
            }
        }
    };
    // The network path first, so it is removed last (locals drop in
    // reverse): after every process in it has stopped.
    let fleet_address = cfg.fleet.as_ref().map(|f| f.core_address);
    let net = match CellNet::open(cell, &pins.driver, fleet_address) {
        Ok(net) => net,
        Err(reason) => {
            progress.note(&format!("[{label}] {reason}"));
            return Ok(failed_cell_for_all(cfg, cell, &reason));
        }
    };
    if let Some(why) = net.fallback() {
        progress.note(&format!("[{label}] {why}"));
    }
    // Origins and the proxy configuration pointing at them.
    let started = match (&cell.params.http, &cell.params.tcp) {
        (Some(h), _) => Some((h.origins, h.policy, Some(h))),
        (None, Some(t)) => Some((t.origins, t.policy, None)),
        (None, None) => None,
    }
    .map(|(count, policy, http)| {
        net.within(Role::Origin, || {
            Origins::start(
                &cfg.exe,
                count,
                policy,
                http,
                &pins.origin,
                net.listen(Role::Origin),
                &label,
            )
        })
        .and_then(|started| started)
    });
    let origins = match started {
        Some(Ok(origins)) => Some(origins),
        Some(Err(reason)) => {
            progress.note(&format!("[{label}] origins: {reason}"));
            let reason = format!("origins did not start: {reason}");
            return Ok(failed_cell_for_all(cfg, cell, &reason));
        }
        None => None,
    };
    let mut slots = start_slots(cfg, cell, pins, &net, origins.as_ref(), progress);
    run_trials(
        cfg,
        cell,
        pins,
        &net,
        fleet.as_ref(),
        &mut slots,
        sequence,
        progress,
    );
    if let Some(bound) = cell.rate_search {
        run_rate_search(cfg, cell, pins, &net, bound, &mut slots, progress);
    }
    // One record for every core of the cell (its links are the cell's),
    // taken before any process stops.
    let broken_link = net.failure();
    let network = net.record();
    let mut cells = Vec::with_capacity(slots.len());
    for mut slot in slots {
        if let Some(failure) = &broken_link
            && slot.cell.status == CellStatus::Ok
        {
            slot.end(CellStatus::Failed, format!("network path broke: {failure}"));
        }
        slot.cell.network = network.clone();
        if let Some(process) = slot.process.take() {
            let rss = process.sampler().rss_max().unwrap_or(0);
            if let Some(last) = slot.cell.trials.last_mut() {
                last.rss_max_bytes = last.rss_max_bytes.max(rss);
            }
            slot.cell.core_exit = Some(process.stop(STOP_GRACE));
        }
        slot.cell.summary = Summary::from_trials(&slot.cell.trials)?;
        cells.push((slot.side, slot.cell));
    }
    Ok(cells)
}

/// Starts every available core the cell lists (the `direct` pseudo-core
/// targets the first origin); unavailable and failed ones end at once.
fn start_slots(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    pins: &Pins,
    net: &CellNet,
    origins: Option<&Origins>,
    progress: &mut Tracker<'_>,
) -> Vec<Slot> {
    let label = cell.label();
    let direct_entry = CoreEntry {
        name: DIRECT.into(),
        runtime: "no proxy: the driver talks to an origin".into(),
        service: "-".into(),
        availability: Ok(()),
        grid: None,
        reference: false,
        scenarios: Vec::new(),
    };
    let wanted: Vec<&CoreEntry> = cfg
        .cores_of(cell)
        .iter()
        .filter_map(|name| {
            if name == DIRECT {
                Some(&direct_entry)
            } else {
                cfg.cores.iter().find(|c| &c.name == name)
            }
        })
        .collect();
    let mut slots = Vec::with_capacity(wanted.len());
    for entry in wanted {
        for &side in sides(cfg, entry) {
            let slot = start_slot(cfg, cell, pins, net, origins, entry, side);
            if let Some(reason) = &slot.cell.reason {
                progress.note(&format!("[{label}] {}: {reason}", slot.name()));
            }
            slots.push(slot);
        }
    }
    slots
}

/// One core of `cell` from one build: started, or ended with the reason.
fn start_slot(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    pins: &Pins,
    net: &CellNet,
    origins: Option<&Origins>,
    entry: &CoreEntry,
    side: Side,
) -> Slot {
    let settings = &cfg.scenario.run;
    let (exe, spin_iters) = match (side, &cfg.baseline) {
        // The calibration knob is a change to the build under test: the
        // baseline runs as built.
        (Side::Baseline, Some(baseline)) => (&baseline.exe, 0),
        _ => (&cfg.exe, settings.core_spin_iters),
    };
    let mut slot = Slot::new(cell.results_cell(&entry.name, settings), side);
    slot.cell.params.core_spin_iters = spin_iters;
    let scenario = cell.scenario.name();
    match &entry.availability {
        Err(reason) => slot.end(CellStatus::Unavailable, reason.clone()),
        Ok(()) if !entry.serves(scenario) => slot.end(
            CellStatus::Unavailable,
            format!("{} does not serve {scenario}", entry.name),
        ),
        Ok(()) if entry.name == DIRECT => {
            let first = &origins
                .expect("direct is a forwarding scenario's pseudo-core")
                .processes[0];
            slot.target = Some((first.addr(), first.sampler()));
        }
        Ok(()) => {
            // A reference proxy writes the configuration it rendered
            // for its program here; the cell keeps it.
            let program_config = entry.reference.then(program_config_file).flatten();
            let cmd = CoreCommand {
                exe,
                core: &entry.name,
                scenario: cell.scenario.name(),
                threads: settings.core_threads,
                cpus: &pins.core,
                spin_iters,
                config: origins.map(|o| &*o.config),
                program_config_out: program_config.as_deref(),
                extra_args: &cfg.proxy_args,
                listen: net.listen(Role::Core),
            };
            let started = net
                .within(Role::Core, || CoreProcess::start(&cmd))
                .unwrap_or_else(|reason| Err(StartError::Failed(reason)));
            match started {
                Ok(process) => {
                    slot.cell.program_config = program_config
                        .and_then(|path| std::fs::read_to_string(&path).ok())
                        .filter(|text| !text.is_empty());
                    slot.target = Some((process.addr(), process.sampler()));
                    slot.process = Some(process);
                }
                Err(StartError::Unavailable(reason)) => slot.end(CellStatus::Unavailable, reason),
                Err(e @ StartError::Failed(_)) => slot.end(CellStatus::Failed, e.to_string()),
            }
        }
    }
    slot
}

/// The order of trial `trial` over `slots`: as listed, except that an
/// A/B pair (the baseline's slot, then the current build's, of one core)
/// goes B A on odd trials. A B B A ... puts each build first as often as
/// second, so a drift across the pair favours neither.
fn trial_order(slots: &[Slot], trial: u32) -> Vec<usize> {
    let mut order = Vec::with_capacity(slots.len());
    let mut i = 0;
    while i < slots.len() {
        let pair = slots[i].side == Side::Baseline
            && slots.get(i + 1).is_some_and(|next| {
                next.side == Side::Current && next.cell.core == slots[i].cell.core
            });
        match (pair, trial % 2 == 1) {
            (true, true) => order.extend([i + 1, i]),
            (true, false) => order.extend([i, i + 1]),
            (false, _) => order.push(i),
        }
        i += if pair { 2 } else { 1 };
    }
    order
}

/// Trial `t` on every core, then trial `t + 1` on every core: drift hits
/// them alike. A core that fails or exits ends its cell.
#[allow(clippy::too_many_arguments)]
fn run_trials(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    pins: &Pins,
    net: &CellNet,
    fleet: Option<&Fleet<'_>>,
    slots: &mut [Slot],
    sequence: &mut u32,
    progress: &mut Tracker<'_>,
) {
    let settings = &cfg.scenario.run;
    let label = cell.label();
    // Said once per cell: after the first, every later trial is alone too.
    let mut told_alone = false;
    let mut frozen = Freezer::new(slots);
    for trial in 0..settings.trials {
        for index in trial_order(slots, trial) {
            // Kept in step with a partner run, which may still be
            // measuring on these CPUs: every core of this run waits
            // frozen, the next one to be measured too.
            if cfg.in_step_with.is_some() {
                frozen.hold(slots, None);
            }
            let slot = &mut slots[index];
            // Met even for a core that is gone, so both runs still come
            // to the same meeting for every later trial of the cell.
            let met = cfg.in_step_with.as_ref().map(|meet| {
                let key = format!("[{label}] {} trial {}", slot.name(), trial + 1);
                (meet, meet.meet(&key))
            });
            let Some((addr, sampler)) = slot.target else {
                continue;
            };
            let core = slot.cell.core.clone();
            frozen.hold(slots, Some(index));
            let slot = &mut slots[index];
            if let Some((meet, Err(why))) = met {
                meet.ran_alone();
                if !std::mem::replace(&mut told_alone, true) {
                    progress.note(&format!(
                        "[{label}] {}: trial {} and the rest started without the partner run's trial beside them: {why}",
                        slot.name(),
                        trial + 1
                    ));
                }
            }
            // The driver's threads (or wrk) start inside the driver's
            // namespace, so every connection crosses the path.
            let measured = net
                .within(Role::Driver, || match (cell.params.client, fleet) {
                    (None, Some(fleet)) => {
                        fleet.measure(cell, settings, &core, addr, sampler, trial, *sequence)
                    }
                    (None, None) => {
                        let spec = cell.load_spec(settings, addr, Some(pins.driver.clone()));
                        measure(&spec, Some(sampler), trial, *sequence)
                    }
                    (Some(client), _) => crate::measure::measure_external(
                        client,
                        cell,
                        settings,
                        addr,
                        Some(&pins.driver),
                        Some(sampler),
                        trial,
                        *sequence,
                    ),
                })
                .and_then(|measured| measured);
            match measured {
                Ok(t) => {
                    let what = format!(
                        "[{label}] {} trial {}/{}",
                        slot.name(),
                        trial + 1,
                        settings.trials
                    );
                    let line = format!(
                        "[{label}] trial {}/{} {:<12} {:>9.0} req/s  p99 {:>8.1} µs  core {:>6} µs/req  errors {}{}",
                        trial + 1,
                        settings.trials,
                        slot.name(),
                        t.qps,
                        t.latency_us.p99,
                        t.cpu_us_per_req.map_or("-".into(), |c| format!("{c:.2}")),
                        t.errors,
                        if t.driver_bound {
                            "  (driver-bound)"
                        } else {
                            ""
                        },
                    );
                    progress.step(trial_load(settings), &what, &line);
                    slot.cell.trials.push(t);
                    *sequence += 1;
                }
                Err(reason) => {
                    progress.note(&format!("[{label}] {}: {reason}", slot.name()));
                    slot.end(CellStatus::Failed, reason);
                }
            }
            if let Some(process) = slot.process.as_mut()
                && let Some(exit) = process.exited()
            {
                let reason = format!("core exited during the run: {exit}");
                progress.note(&format!("[{label}] {}: {reason}", slot.name()));
                slot.end(CellStatus::Failed, reason);
            }
        }
    }
}

/// The cell's core processes held stopped (SIGSTOP) while another is
/// measured, one entry per slot: a core waiting for its turn must not
/// take the CPU from the one being measured (an idle `glommio-spin` core
/// spins its CPU at 100 %; any core's timers wake on it). Dropped, it
/// lets them all go on.
struct Freezer(Vec<Option<pb_process::Frozen>>);

impl Freezer {
    fn new(slots: &[Slot]) -> Freezer {
        Freezer(slots.iter().map(|_| None).collect())
    }

    /// Every slot's process stopped but `running`'s, which goes on.
    fn hold(&mut self, slots: &[Slot], running: Option<usize>) {
        for (index, (slot, held)) in slots.iter().zip(&mut self.0).enumerate() {
            if Some(index) == running {
                *held = None;
            } else if held.is_none() {
                *held = slot.process.as_ref().map(CoreProcess::freeze);
            }
        }
    }
}

/// The highest rate meeting `bound`, per core, after the trials.
fn run_rate_search(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    pins: &Pins,
    net: &CellNet,
    bound: LatencyBound,
    slots: &mut [Slot],
    progress: &mut Tracker<'_>,
) {
    let settings = &cfg.scenario.run;
    let label = cell.label();
    let search = SearchSpec::new(bound, settings.search_start_rate, settings.search_max_rate);
    let mut frozen = Freezer::new(slots);
    for index in 0..slots.len() {
        let Some((addr, _)) = slots[index].target else {
            continue;
        };
        frozen.hold(slots, Some(index));
        let slot = &mut slots[index];
        let base = LoadSpec {
            warmup: settings.warmup().min(SEARCH_WARMUP),
            duration: Duration::from_secs_f64(settings.search_step_s),
            ..cell.load_spec(settings, addr, Some(pins.driver.clone()))
        };
        let core = slot.name();
        let searched = net.within(Role::Driver, || rate_search(&base, &search, |p| {
            let line = format!(
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
            );
            let what = format!("[{label}] {core} rate search at {:.0} req/s", p.offered);
            progress.step(probe_load(settings), &what, &line);
        }));
        let found = searched.and_then(|found| found.map_err(|e| e.to_string()));
        match found {
            Ok(result) => slot.cell.rate_search = Some(result),
            Err(reason) => slot.end(CellStatus::Failed, format!("rate search: {reason}")),
        }
    }
}

/// Every registered core as a results file lists it.
pub fn core_statuses(cores: &[CoreEntry]) -> Vec<CoreStatus> {
    cores
        .iter()
        .map(|c| CoreStatus {
            name: c.name.clone(),
            runtime: c.runtime.clone(),
            service: c.service.clone(),
            available: c.availability.is_ok(),
            reason: c.availability.clone().err(),
            grid: c.grid.clone(),
            reference: c.reference,
        })
        .collect()
}

/// The results file of one build's side of a run.
fn results(
    cfg: &RunConfig,
    build: &BuildInfo,
    started: SystemTime,
    cpu_plan: CpuPlan,
    cells: Vec<Cell>,
) -> Results {
    let cores = core_statuses(&cfg.cores);
    Results {
        schema_version: pb_results::SCHEMA_VERSION,
        run_id: env::run_id(started),
        started_at: env::timestamp(started),
        finished_at: env::timestamp(SystemTime::now()),
        tool_version: build.tool_version.clone(),
        scenario: ScenarioRef {
            source: cfg.scenario.source.clone(),
            name: cfg.scenario.name.clone(),
        },
        environment: env::capture(build, &cfg.io_uring, cfg.memlock_limit, cpu_plan),
        cores,
        cells,
        merged_from: Vec::new(),
        conformance: None,
    }
}

/// One core's cell while the run is in progress.
struct Slot {
    cell: Cell,
    /// The build its process comes from.
    side: Side,
    /// The core process, for real cores.
    process: Option<CoreProcess>,
    /// Where the driver connects and whose CPU is sampled.
    target: Option<(std::net::SocketAddr, ProcSampler)>,
}

impl Slot {
    fn new(cell: Cell, side: Side) -> Slot {
        Slot {
            cell,
            side,
            process: None,
            target: None,
        }
    }

    /// The core's name in progress lines: `tokio-tower`, or `tokio-tower
    /// (baseline)` for the baseline build's process.
    fn name(&self) -> String {
        match self.side {
            Side::Current => self.cell.core.clone(),
            Side::Baseline => format!("{} (baseline)", self.cell.core),
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
/// of the cell's origins under its policy, every path routed to it, and
/// the cell's injected work and dynamic filter (experiments only).
fn cell_proxy_config(
    policy: Policy,
    upstreams: Vec<std::net::SocketAddr>,
    http: Option<&HttpParams>,
) -> ProxyConfig {
    let work = http.and_then(|h| h.work.as_ref());
    let filter = http.and_then(|h| h.filter.as_ref());
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
        timeouts: TimeoutsConfig {
            connect_ms: BENCH_CONNECT_MS,
            ..TimeoutsConfig::default()
        },
        limits: LimitsConfig::default(),
        work: work.map(|w| WorkConfig {
            call_iters: w.call_iters,
            header: (w.heavy_every > 0).then(|| pb_scenario::WORK_HEADER.to_owned()),
            max_iters: pb_scenario::MAX_WORK_ITERS,
        }),
        dynamic: filter.map(|f| DynamicConfig {
            engine: DynamicEngine::from_name(&f.engine)
                .expect("the scenario checked the engine's name"),
            module: f.module.as_ref().map(std::path::PathBuf::from),
            command: None,
        }),
    }
}

/// Writes `config` where a core started with `--config` reads it, as the
/// cores' own parser will read it back.
/// An empty file for a reference proxy's rendered configuration; `None`
/// when none can be made (the cell then runs without it stored).
fn program_config_file() -> Option<tempfile::TempPath> {
    tempfile::Builder::new()
        .prefix("proxybench-program-config-")
        .tempfile()
        .ok()
        .map(tempfile::NamedTempFile::into_temp_path)
}

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
    /// `count` origins in one pool under `policy`, and the proxy
    /// configuration pointing at them: HTTP origins for an http-forward
    /// cell (whose work and filter the configuration carries), echo
    /// origins for tcp-forward (`http` is `None`; the tunnel's default
    /// pool).
    fn start(
        exe: &std::path::Path,
        count: usize,
        policy: Policy,
        http: Option<&HttpParams>,
        cpus: &CpuSet,
        listen: std::net::IpAddr,
        label: &str,
    ) -> Result<Origins, String> {
        let processes = (0..count)
            .map(|i| match http {
                Some(_) => CoreProcess::start_origin(exe, &format!("origin-{i}"), cpus, listen),
                None => {
                    CoreProcess::start_echo_origin(exe, &format!("echo-origin-{i}"), cpus, listen)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let upstreams = processes.iter().map(CoreProcess::addr).collect();
        let config = write_proxy_config(&cell_proxy_config(policy, upstreams, http), label)?;
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

/// Every core of `cell`, recorded as failed with `reason`, on each build
/// that would have run it (an A/B run's baseline file keeps the cell too).
fn failed_cell_for_all(
    cfg: &RunConfig,
    cell: &pb_scenario::Cell,
    reason: &str,
) -> Vec<(Side, Cell)> {
    let mut cells = Vec::new();
    for name in cfg.cores_of(cell) {
        let builds = match cfg.cores.iter().find(|c| c.name == name) {
            Some(entry) => sides(cfg, entry),
            None => &[Side::Current],
        };
        for &side in builds {
            let mut slot = Slot::new(cell.results_cell(&name, &cfg.scenario.run), side);
            slot.end(CellStatus::Failed, reason.to_owned());
            cells.push((side, slot.cell));
        }
    }
    cells
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
            Some(&HttpParams {
                method: pb_driver::http::Method::Get,
                keep_alive: true,
                origins: 2,
                policy: Policy::P2c,
                work: Some(pb_results::WorkParams {
                    call_iters: 10,
                    heavy_every: 4,
                    heavy_iters: 1000,
                }),
                filter: Some(pb_results::FilterParams {
                    engine: "wasmi".into(),
                    module: Some("filters/mine.wat".into()),
                }),
            }),
        );
        let dynamic = config.dynamic.clone().unwrap();
        assert_eq!(dynamic.engine, DynamicEngine::Wasmi);
        assert_eq!(
            dynamic.module.as_deref(),
            Some(std::path::Path::new("filters/mine.wat"))
        );
        let path = write_proxy_config(&config, "http-forward/GET/100B/c50x1").unwrap();
        assert_eq!(ProxyConfig::load(&path).unwrap(), config);
        let kept = path.to_path_buf();
        drop(path);
        assert!(!kept.exists(), "the file goes with its owner");
    }
}
