//! Claim 5: configuration updates under load. For every core of
//! `scenarios/claims/reload.toml` (the borrowing ones once per
//! strategy), each trial starts the core afresh routed to the pool
//! "old", drives it at a fixed rate over keep-alive connections, and
//! halfway through the window publishes a configuration that routes to
//! the pool "new" through the admin endpoint (`PUT /config`). The driver
//! checks which origin answered every request (`x-origin`) and counts
//! replies per origin per 10 ms interval, so the switch can be read off
//! the timeline.
//!
//! Per trial: requests lost (any failure) and misrouted (an origin
//! neither configuration routes to) — both must be 0; replies from the
//! old pool completing more than [`BOUND`] after the update was
//! acknowledged (must be 0: every core takes a publication at its next
//! request); the time from the acknowledgement to the last reply from
//! the old pool; and the p99 blip (the worst interval p99 in the 100 ms
//! after the update over the median interval p99 before it). The claim
//! holds when nothing is lost, misrouted or served by the old pool past
//! the bound, on every core and strategy.
//!
//! Beside it, the CPU an update costs a core ([`update_cost`]): after a
//! case's last trial, with the load stopped, [`UPDATES`] requests on one
//! connection, then as many again each after a publication (the routes
//! flipping between the two configurations); the difference of the core
//! process's CPU over the two, per update — the admin request, parsing
//! and checking the configuration, publishing it, and every thread that
//! serves taking it at its next request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use pb_driver::http::HttpWorkload;
use pb_driver::{LoadSpec, WindowEdge, Workload};
use pb_process::{CoreCommand, CoreProcess};
use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_results::{CellStatus, Results, ScenarioRef, Summary, Trial};
use pb_sys::CpuSet;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::lab::{Lab, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "reload",
    about: "routes and upstream pools changed under load through the admin endpoint, on every core and strategy",
    scenarios: &[(
        "reload",
        include_str!("../../../../scenarios/claims/reload.toml"),
    )],
    run: Some(run),
};

/// Replies from the old pool may complete this long after the
/// acknowledgement (requests already routed when it came); none later.
pub const BOUND: Duration = Duration::from_millis(50);

/// Length of the timeline's intervals.
const INTERVAL: Duration = Duration::from_millis(10);

/// How long a core gets to stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Updates (and requests without one) the update cost is measured over.
const UPDATES: usize = 100;
const QUICK_UPDATES: usize = 10;

/// One core under one strategy.
struct Case {
    core: String,
    strategy: &'static str,
}

impl Case {
    fn name(&self) -> String {
        if self.strategy.is_empty() {
            self.core.clone()
        } else {
            format!("{} ({})", self.core, self.strategy)
        }
    }
}

/// What one trial's timeline says.
#[derive(Debug, Default, Clone, Copy)]
struct Switch {
    lost: u64,
    misrouted: u64,
    /// Replies from the old pool completing past [`BOUND`].
    stale: u64,
    /// From the acknowledgement to the end of the last interval with a
    /// reply from the old pool, ms (0 when none came after it).
    switch_ms: f64,
    /// Worst interval p99 in the 100 ms after the update over the median
    /// interval p99 before it.
    blip: f64,
}

fn switch(trial: &Trial, acked_ms: f64) -> Switch {
    let old = |p: &pb_results::IntervalPoint| {
        p.origins
            .iter()
            .filter(|(id, _)| id.starts_with("old-"))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let mut stale = 0;
    let mut last_old_end: f64 = acked_ms;
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for p in &trial.intervals {
        let (start, end) = (p.start_s * 1e3, p.start_s * 1e3 + p.length_s * 1e3);
        let n = old(p);
        if n > 0 {
            last_old_end = last_old_end.max(end);
        }
        if start >= acked_ms + BOUND.as_secs_f64() * 1e3 {
            stale += n;
        }
        if p.requests > 0 {
            if end <= acked_ms {
                before.push(p.latency_us.p99);
            } else if start < acked_ms + 100.0 {
                after.push(p.latency_us.p99);
            }
        }
    }
    Switch {
        lost: trial.errors,
        misrouted: trial.errors_by_kind.get("misrouted").copied().unwrap_or(0),
        stale,
        switch_ms: last_old_end - acked_ms,
        blip: after.iter().copied().fold(0.0, f64::max) / median(&before),
    }
}

/// `PUT /config` on a core's admin endpoint; `Err` with its answer
/// unless it published.
fn publish(admin: SocketAddr, config: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(admin).map_err(|e| e.to_string())?;
    write!(
        stream,
        "PUT /config HTTP/1.1\r\nhost: admin\r\ncontent-length: {}\r\n\r\n{config}",
        config.len()
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(answer)
    }
}

/// Every path routed to one pool called `name` over `upstreams`.
fn config(name: &str, upstreams: &[SocketAddr]) -> String {
    let ups: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[pool]]\nname = \"{name}\"\nupstreams = [{}]\n[[route]]\npath_prefix = \"/\"\npool = \"{name}\"\n[headers]\nresponse_add = [[\"via\", \"1.1 proxybench\"]]\n",
        ups.join(", ")
    )
}

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let mut file = scenario(&EXPERIMENT, "reload", lab.request)?;
    if lab.request.quick {
        // Short, and light enough for a debug build: correctness does not
        // depend on either.
        file.run.duration_s = 0.4;
        file.run.warmup_s = 0.1;
        file.cells[0].params.rate = Some(1000.0);
    }
    let cell = &file.cells[0];
    let label = cell.label();
    let request = lab.request;
    let plan = pb_runner::plan::plan_for(
        file.run.cpu_plan,
        &request.allowed_cpus,
        file.run.core_threads,
        file.run.driver_threads,
        1,
    );
    let cpus = |ids: &[usize]| CpuSet::new(ids.to_vec()).expect("plans give every role a CPU");
    let (core_cpus, driver_cpus) = (cpus(&plan.core), cpus(&plan.driver));
    let origin_cpus = CpuSet::new(plan.origin.clone()).unwrap_or_else(|| driver_cpus.clone());

    let origins: Vec<CoreProcess> = ["old-1", "old-2", "new-1", "new-2"]
        .iter()
        .map(|id| CoreProcess::start_origin(&request.exe, id, &origin_cpus, pb_process::LOOPBACK))
        .collect::<Result<_, _>>()
        .map_err(|e| ClaimsError::Experiment(format!("reload: origins: {e}")))?;
    let addrs: Vec<SocketAddr> = origins.iter().map(CoreProcess::addr).collect();
    let (v1, v2) = (config("old", &addrs[..2]), config("new", &addrs[2..]));
    lab.results_dir_exists()?;
    let v1_path = lab.results_dir.join("reload-v1.toml");
    std::fs::write(&v1_path, &v1).map_err(|source| {
        ClaimsError::Results(pb_results::io::ResultsIoError::Io {
            path: v1_path.clone(),
            source,
        })
    })?;

    let mut cases = Vec::new();
    for core in cell.cores.iter().flatten() {
        let borrowing = request.cores.iter().any(|c| {
            &c.name == core
                && c.grid
                    .as_ref()
                    .is_some_and(|g| g.composition == "borrowing")
        });
        if borrowing {
            for strategy in pb_core_strategies() {
                cases.push(Case {
                    core: core.clone(),
                    strategy,
                });
            }
        } else {
            cases.push(Case {
                core: core.clone(),
                strategy: "",
            });
        }
    }

    let started = SystemTime::now();
    let updates = if request.quick {
        QUICK_UPDATES
    } else {
        UPDATES
    };
    let mut update_costs: Vec<Option<Result<f64, String>>> = cases.iter().map(|_| None).collect();
    let mut cells: Vec<(pb_results::Cell, Vec<f64>)> = cases
        .iter()
        .map(|case| {
            let mut c = cell.results_cell(&case.name(), &file.run);
            c.id = format!("{label}/{}", case.name());
            (c, Vec::new())
        })
        .collect();
    let workload = HttpWorkload {
        origins: ["old-1", "old-2", "new-1", "new-2"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..HttpWorkload::get(cell.params.message_bytes)
    };
    let mut sequence = 0;
    for trial in 0..file.run.trials {
        for ((case, (results_cell, acks)), cost) in cases
            .iter()
            .zip(cells.iter_mut())
            .zip(update_costs.iter_mut())
        {
            if results_cell.status != CellStatus::Ok {
                continue;
            }
            let entry = request.cores.iter().find(|c| c.name == case.core);
            if let Some(Err(reason)) = entry.map(|e| &e.availability) {
                results_cell.status = CellStatus::Unavailable;
                results_cell.reason = Some(reason.clone());
                continue;
            }
            let mut extra = request.proxy_args.clone();
            extra.extend(["--admin".into(), "127.0.0.1:0".into()]);
            if !case.strategy.is_empty() {
                extra.extend(["--reload-strategy".into(), case.strategy.into()]);
            }
            let cmd = CoreCommand {
                exe: &request.exe,
                core: &case.core,
                scenario: "http-forward",
                threads: file.run.core_threads,
                cpus: &core_cpus,
                spin_iters: 0,
                config: Some(&v1_path),
                program_config_out: None,
                extra_args: &extra,
                listen: pb_process::LOOPBACK,
            };
            let process = match CoreProcess::start(&cmd) {
                Ok(p) => p,
                Err(e) => {
                    results_cell.status = CellStatus::Failed;
                    results_cell.reason = Some(e.to_string());
                    continue;
                }
            };
            let admin = process.admin();
            let spec = LoadSpec {
                threads: file.run.driver_threads,
                cpus: Some(driver_cpus.clone()),
                workload: Workload::Http(workload.clone()),
                interval: INTERVAL,
                ..cell.load_spec(&file.run, process.addr(), None)
            };
            let half = spec.duration / 2;
            let mut updater = None;
            let measured = pb_runner::measure::measure_observed(
                &spec,
                Some(process.sampler()),
                trial,
                sequence,
                &mut |edge| {
                    if edge == WindowEdge::Start {
                        let (v2, start) = (v2.clone(), Instant::now());
                        updater = Some(std::thread::spawn(move || {
                            std::thread::sleep(half);
                            let published = match admin {
                                Some(admin) => publish(admin, &v2),
                                None => Err("the core announced no admin endpoint".into()),
                            };
                            published.map(|()| start.elapsed().as_secs_f64() * 1e3)
                        }));
                    }
                },
            );
            let acked = updater
                .map(|u| {
                    u.join()
                        .unwrap_or_else(|_| Err("the updater panicked".into()))
                })
                .unwrap_or_else(|| Err("the window never opened".into()));
            lab.progress.event(pb_progress::Event::Step {
                units: 0,
                what: &format!("[reload] {} trial {}", case.name(), trial + 1),
                line: &format!(
                    "[reload] {} trial {}/{}",
                    case.name(),
                    trial + 1,
                    file.run.trials
                ),
            });
            if trial + 1 == file.run.trials
                && let (Some(admin), Ok(_)) = (admin, &acked)
            {
                *cost = Some(update_cost(&process, admin, [&v1, &v2], updates));
            }
            results_cell.core_exit = Some(process.stop(STOP_GRACE));
            match (measured, acked) {
                (Ok(t), Ok(ms)) => {
                    results_cell.trials.push(t);
                    acks.push(ms);
                    sequence += 1;
                }
                (Err(why), _) | (_, Err(why)) => {
                    results_cell.status = CellStatus::Failed;
                    results_cell.reason = Some(why);
                }
            }
        }
    }
    for o in origins {
        o.stop(STOP_GRACE);
    }

    // The run's results file, like any other experiment's.
    let (mut result_cells, acks): (Vec<pb_results::Cell>, Vec<Vec<f64>>) =
        cells.into_iter().unzip();
    for c in &mut result_cells {
        c.summary = Summary::from_trials(&c.trials).map_err(pb_runner::RunnerError::Summary)?;
    }
    let results = Results {
        schema_version: pb_results::SCHEMA_VERSION,
        run_id: pb_runner::env::run_id(started),
        started_at: pb_runner::env::timestamp(started),
        finished_at: pb_runner::env::timestamp(SystemTime::now()),
        tool_version: request.build.tool_version.clone(),
        scenario: ScenarioRef {
            source: "scenarios/claims/reload.toml (built in)".into(),
            name: file.name.clone(),
        },
        environment: pb_runner::env::capture(
            &request.build,
            &request.io_uring,
            request.memlock_limit,
            plan.clone(),
        ),
        cores: pb_runner::matrix::core_statuses(&request.cores),
        cells: result_cells,
        merged_from: Vec::new(),
        conformance: None,
    };
    let ran = lab.publish(results, "reload")?;

    // The verdict.
    let mut figures = Vec::new();
    let mut problems = Vec::new();
    let (mut lost, mut misrouted, mut stale) = (0, 0, 0);
    let mut switches = Vec::new();
    for ((case, c), acks) in cases.iter().zip(&ran.results.cells).zip(&acks) {
        if c.status != CellStatus::Ok {
            problems.push(format!(
                "{}: {}",
                c.core,
                c.reason.as_deref().unwrap_or("did not run")
            ));
            continue;
        }
        // A case is named by core and strategy; conformance by its core.
        let failed = lab
            .conformance
            .as_ref()
            .map_or_else(Vec::new, |m| m.failures_of(&case.core));
        if !failed.is_empty() {
            problems.push(format!(
                "{} failed conformance ({}), so its numbers do not count",
                c.core,
                failed.join(", ")
            ));
            continue;
        }
        let seen: Vec<Switch> = c
            .trials
            .iter()
            .zip(acks)
            .map(|(t, &ms)| switch(t, ms))
            .collect();
        lost += seen.iter().map(|s| s.lost).sum::<u64>();
        misrouted += seen.iter().map(|s| s.misrouted).sum::<u64>();
        stale += seen.iter().map(|s| s.stale).sum::<u64>();
        let ms: Vec<f64> = seen.iter().map(|s| s.switch_ms).collect();
        let blips: Vec<f64> = seen
            .iter()
            .map(|s| s.blip)
            .filter(|b| b.is_finite())
            .collect();
        switches.push((c.core.clone(), median(&ms)));
        figures.push(ClaimFigure {
            label: format!(
                "time from the update to the last reply from the old pool, {} (median)",
                c.core
            ),
            value: median(&ms),
            unit: "ms".into(),
            interval: None,
            deciding: false,
        });
        if !blips.is_empty() {
            figures.push(ClaimFigure {
                label: format!("p99 blip, {}: worst 10 ms interval p99 in the 100 ms after the update / median before (median)", c.core),
                value: median(&blips),
                unit: "ratio".into(),
                interval: None,
                deciding: false,
            });
        }
    }
    let mut costs = Vec::new();
    for ((case, c), cost) in cases.iter().zip(&ran.results.cells).zip(&update_costs) {
        match cost {
            Some(Ok(us)) => {
                costs.push(*us);
                figures.push(ClaimFigure {
                    label: format!(
                        "core CPU per update, {}: the admin request, publishing, every thread taking it",
                        c.core
                    ),
                    value: *us,
                    unit: "µs".into(),
                    interval: None,
                    deciding: false,
                });
            }
            Some(Err(why)) => problems.push(format!("{}: update cost: {why}", case.name())),
            None => {}
        }
    }
    let failures = lost + misrouted + stale;
    figures.insert(
        0,
        ClaimFigure {
            label: format!(
                "requests lost, misrouted, or served by the old pool more than {} ms after the update, over {} cases",
                BOUND.as_millis(),
                cases.len()
            ),
            value: failures as f64,
            unit: "requests".into(),
            interval: None,
            deciding: true,
        },
    );
    let verdict = if !problems.is_empty() {
        ClaimVerdict::CannotTest
    } else if failures == 0 {
        ClaimVerdict::Holds
    } else {
        ClaimVerdict::DoesNotHold
    };
    let slowest = switches
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(String::new(), |(core, ms)| {
            format!("; the slowest switch: {core}, {ms:.0} ms")
        });
    let reason = match verdict {
        ClaimVerdict::CannotTest => format!("not every case could run: {}", problems.join("; ")),
        _ => format!(
            "{lost} lost, {misrouted} misrouted and {stale} served by the old pool past {} ms over {} cases x {} trials (every core; the borrowing ones by thread-local, push and rebuild){slowest}. Each core takes a publication at its next request, so the switch is over once the replies already routed have come back. An update cost the cores {} µs of CPU (median over cases; {updates} updates each, at rest)",
            BOUND.as_millis(),
            cases.len(),
            file.run.trials,
            if costs.is_empty() {
                "an unmeasured number of".to_owned()
            } else {
                format!("{:.0}", median(&costs))
            }
        ),
    };
    Ok(vec![Judged {
        claim: "5",
        verdict,
        reason,
        figures,
        flags: Vec::new(),
        results: vec![ran.file.clone()],
    }])
}

/// The core CPU one configuration update costs, µs: `updates` requests
/// on one keep-alive connection, then `updates` more each after a
/// publication (alternating `configs`, so every one changes the routes),
/// the process's CPU (schedstat, every thread and child) read around
/// each half; the difference per update.
fn update_cost(
    process: &CoreProcess,
    admin: SocketAddr,
    configs: [&str; 2],
    updates: usize,
) -> Result<f64, String> {
    let sampler = process.sampler();
    let cpu = || {
        sampler
            .cpu_time()
            .map_err(|e| format!("cannot read the core's CPU: {e}"))
    };
    let mut client = pb_conform::client::Client::connect(process.addr(), STOP_GRACE)
        .map_err(|e| format!("cannot connect: {e}"))?;
    let mut get = || match client.get("/?size=10").status {
        200 => Ok(()),
        status => Err(format!("a request was answered {status}")),
    };
    // Warm: the connection and both pools' upstream connections.
    for config in configs {
        publish(admin, config)?;
        for _ in 0..4 {
            get()?;
        }
    }
    let before = cpu()?;
    for _ in 0..updates {
        get()?;
    }
    let requests_only = cpu()? - before;
    let before = cpu()?;
    for i in 0..updates {
        publish(admin, configs[i % 2])?;
        get()?;
    }
    let with_updates = cpu()? - before;
    Ok((with_updates.as_secs_f64() - requests_only.as_secs_f64()) * 1e6 / updates as f64)
}

/// The reload strategies by name.
fn pb_core_strategies() -> impl Iterator<Item = &'static str> {
    pb_core::reload::Strategy::ALL.iter().map(|(n, _)| *n)
}
