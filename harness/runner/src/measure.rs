//! One load run against one target, turned into a results [`Trial`]: the
//! driver runs, and the target's CPU is sampled exactly at the window's
//! edges when the target is a process on this host.

use std::time::Duration;

use pb_driver::search::{self, Probe, SearchSpec};
use pb_driver::{LoadReport, LoadSpec, WindowEdge};
use pb_results::{IntervalPoint, RatePoint, RateSearch, Trial, hist};

use pb_process::ProcSampler;
use pb_process::kernel::{Counts, KernelCounters, Kind, ProcCounts};
use pb_results::{DriverKernel, KernelWork};

/// Runs `spec` and returns the trial; `target` is sampled when given.
pub fn measure(
    spec: &LoadSpec,
    target: Option<ProcSampler>,
    index: u32,
    sequence: u32,
) -> Result<Trial, String> {
    measure_observed(spec, target, index, sequence, &mut |_| {})
}

/// [`measure`], with `observe` called at each edge of the window too,
/// after the target is sampled there (an experiment that acts on the
/// target during the window starts its clock at [`WindowEdge::Start`]).
pub fn measure_observed(
    spec: &LoadSpec,
    target: Option<ProcSampler>,
    index: u32,
    sequence: u32,
    observe: &mut dyn FnMut(WindowEdge),
) -> Result<Trial, String> {
    let load = |on_edge: &mut dyn FnMut(WindowEdge)| {
        pb_driver::run(spec, on_edge)
            .map(|report| trial_from_report(&report, None, 0, index, sequence))
            .map_err(|e| e.to_string())
    };
    measure_load(target, index, sequence, spec.interval, true, observe, load)
}

/// One trial of `cell` on `target` driven by an external `client`
/// ([`crate::external`]): the core accounted as in [`measure`], the
/// client's own percentiles recorded as the trial's.
#[allow(clippy::too_many_arguments)]
pub fn measure_external(
    client: pb_scenario::ExternalClient,
    cell: &pb_scenario::Cell,
    settings: &pb_scenario::RunSettings,
    target: std::net::SocketAddr,
    driver_cpus: Option<&pb_sys::CpuSet>,
    sampler: Option<ProcSampler>,
    index: u32,
    sequence: u32,
) -> Result<Trial, String> {
    let mut exact = None;
    let load = |on_edge: &mut dyn FnMut(WindowEdge)| {
        crate::external::run(
            client,
            cell,
            settings,
            target,
            driver_cpus,
            on_edge,
            &mut exact,
        )
        .map(|report| trial_from_report(&report, None, 0, index, sequence))
    };
    let mut trial = measure_load(
        sampler,
        index,
        sequence,
        Duration::from_secs(1),
        false,
        &mut |_| {},
        load,
    )?;
    if let Some(percentiles) = exact {
        trial.latency_uncorrected_us = Some(percentiles);
        trial.latency_us = percentiles;
    }
    Ok(trial)
}

/// One trial of any load that reports its window's edges as they pass
/// and returns the trial it measured (`load`: proxybench's driver, an
/// external client, [`crate::external`], or a driver fleet,
/// [`crate::fleet`]), with the target's side added: the target sampled at
/// the edges (CPU, /proc counts, perf counters, allocations, threads, and
/// its resources every `interval`), the driver's own threads counted when
/// `count_driver`.
pub(crate) fn measure_load(
    target: Option<ProcSampler>,
    index: u32,
    sequence: u32,
    interval: Duration,
    count_driver: bool,
    observe: &mut dyn FnMut(WindowEdge),
    load: impl FnOnce(&mut dyn FnMut(WindowEdge)) -> Result<Trial, String>,
) -> Result<Trial, String> {
    let mut cpu_at_start = None;
    let mut cpu_at_end = None;
    let mut sample_error = None;
    // The kernel's counters: opened (disabled) on every thread of the
    // target before the run, counting only between the window's edges.
    let mut counters = target.map(|t| KernelCounters::open(t.pid));
    let (mut proc_start, mut proc_end, mut perf) = (None, None, None);
    let (mut allocs_start, mut allocs_end) = (None, None);
    let (mut threads_start, mut threads_end) = (None, None);
    let mut timeline: Option<ResourceTimeline> = None;
    let mut resources = Vec::new();
    let mut sample_target = |edge: WindowEdge, target: ProcSampler| {
        match edge {
            WindowEdge::Start => {
                threads_start = Some(pb_process::thread_cpu(target.pid));
                proc_start = Some(ProcCounts::read(target.pid));
                allocs_start = Some(target.allocations());
                if let Some(Ok(c)) = counters.as_mut()
                    && let Err(e) = c.enable()
                {
                    counters = Some(Err(format!("perf counters could not start: {e}")));
                }
                timeline = Some(ResourceTimeline::start(target, interval));
            }
            WindowEdge::End => {
                perf = match counters.as_mut() {
                    Some(Ok(c)) => Some(
                        c.finish()
                            .map_err(|e| format!("perf counters could not be read: {e}")),
                    ),
                    Some(Err(reason)) => Some(Err(reason.clone())),
                    None => None,
                };
                proc_end = Some(ProcCounts::read(target.pid));
                allocs_end = Some(target.allocations());
                threads_end = Some(pb_process::thread_cpu(target.pid));
                if let Some(t) = timeline.take() {
                    resources = t.finish();
                }
            }
        }
        match (edge, target.cpu_time()) {
            (WindowEdge::Start, Ok(t)) => cpu_at_start = Some(t),
            (WindowEdge::End, Ok(t)) => cpu_at_end = Some(t),
            (_, Err(e)) => sample_error = Some(e.to_string()),
        }
    };
    // The driver's own threads' counters: opened when the window opens,
    // after the target's edge samples (which want to be nearest the edge).
    let mut driver_counters: Option<Result<KernelCounters, String>> = None;
    let mut driver_perf: Option<Result<Counts, String>> = None;
    let mut trial = load(&mut |edge| {
        if let Some(target) = target {
            sample_target(edge, target);
        }
        match edge {
            WindowEdge::Start if count_driver => driver_counters = Some(open_driver_counters()),
            WindowEdge::Start => {}
            WindowEdge::End => {
                driver_perf = driver_counters.take().map(|counters| {
                    counters.and_then(|mut c| {
                        c.finish()
                            .map_err(|e| format!("perf counters could not be read: {e}"))
                    })
                });
            }
        }
        observe(edge);
    })?;
    if let Some(e) = sample_error {
        return Err(format!("cannot read the target's CPU time: {e}"));
    }
    let core_cpu = match (target, cpu_at_start, cpu_at_end) {
        (None, _, _) => None,
        (Some(_), Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => return Err("the target's CPU time was not sampled".into()),
    };
    trial.index = index;
    trial.sequence = sequence;
    trial.rss_max_bytes = target.and_then(|t| t.rss_max().ok()).unwrap_or(0);
    if let Some(cpu) = core_cpu {
        trial.core_cpu_us = cpu.as_secs_f64() * 1e6;
        trial.cpu_us_per_req =
            (trial.requests > 0).then(|| trial.core_cpu_us / trial.requests as f64);
    }
    let requests = trial.requests;
    if let (Some(start), Some(end)) = (threads_start, threads_end) {
        trial.threads = window_threads(&start, &end);
    }
    for (point, sample) in trial.intervals.iter_mut().zip(resources) {
        point.resources = sample;
    }
    trial.driver_kernel = driver_perf.map(|perf| driver_kernel(requests, perf));
    if let (Some(start), Some(end), Some(perf)) = (proc_start, proc_end, perf) {
        let allocations = match (allocs_start, allocs_end) {
            (Some(Ok(a)), Some(Ok(b))) => Ok(b.since(a)),
            (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
            _ => Err("the allocation counters were not sampled".into()),
        };
        trial.kernel = Some(kernel_work(
            requests,
            core_cpu,
            end.since(start),
            perf,
            allocations,
        ));
    }
    Ok(trial)
}

/// The target's resources sampled in the middle of each interval of the
/// window (the driver's intervals, by completion time from the window's
/// start), on a thread of its own that sleeps between samples: a few /proc
/// reads a second, nothing the target would notice. The middle, not the
/// end: at the window's end the driver starts closing its connections.
struct ResourceTimeline {
    stop: std::sync::mpsc::Sender<()>,
    sampler: std::thread::JoinHandle<Vec<Option<pb_results::Resources>>>,
}

impl ResourceTimeline {
    fn start(target: ProcSampler, interval: Duration) -> ResourceTimeline {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let opened = std::time::Instant::now();
        let sampler = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                let due = opened + interval * samples.len() as u32 + interval / 2;
                let wait = due.saturating_duration_since(std::time::Instant::now());
                match stopped.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        samples.push(target.resources().ok());
                    }
                    // Stopped, or the window's owner is gone.
                    _ => return samples,
                }
            }
        });
        ResourceTimeline { stop, sampler }
    }

    /// Stops sampling at the window's end: one sample per interval whose
    /// middle the window reached.
    fn finish(self) -> Vec<Option<pb_results::Resources>> {
        let _ = self.stop.send(());
        self.sampler.join().unwrap_or_default()
    }
}

/// Each thread's CPU inside the window (threads that ran in it), busiest
/// first; a thread born inside the window counts from zero.
fn window_threads(
    start: &std::collections::BTreeMap<u32, (String, Duration)>,
    end: &std::collections::BTreeMap<u32, (String, Duration)>,
) -> Vec<pb_results::ThreadCpu> {
    let mut threads: Vec<pb_results::ThreadCpu> = end
        .iter()
        .map(|(tid, (name, cpu))| {
            let before = start.get(tid).map_or(Duration::ZERO, |(_, c)| *c);
            pb_results::ThreadCpu {
                name: name.clone(),
                cpu_us: cpu.saturating_sub(before).as_secs_f64() * 1e6,
            }
        })
        .filter(|t| t.cpu_us > 0.0)
        .collect();
    threads.sort_by(|a, b| b.cpu_us.total_cmp(&a.cpu_us));
    threads
}

/// The window's kernel counts per completed request.
fn kernel_work(
    requests: u64,
    core_cpu: Option<Duration>,
    proc: ProcCounts,
    perf: Result<Counts, String>,
    allocations: Result<pb_alloc::Counters, String>,
) -> KernelWork {
    let per_req = |n: u64| per_request(n, requests);
    // The precise CPU time, split as the kernel's tick accounting splits it.
    let ticks = proc.user_ticks + proc.system_ticks;
    let split = core_cpu.filter(|_| ticks > 0 && requests > 0).map(|cpu| {
        // Each side scaled from its own ticks: `us - sys` rounds to a tiny
        // negative when every tick was the kernel's.
        let us = cpu.as_secs_f64() * 1e6 / requests as f64;
        let share = |part: u64| us * part as f64 / ticks as f64;
        (share(proc.user_ticks), share(proc.system_ticks))
    });
    let (perf_per_req, perf_unavailable) = match perf {
        Ok(counts) => (
            counts
                .iter()
                .map(|(kind, &n)| (perf_name(*kind).to_owned(), per_req(n)))
                .collect(),
            None,
        ),
        Err(reason) => (Default::default(), Some(reason)),
    };
    KernelWork {
        user_cpu_us_per_req: split.map(|(user, _)| user),
        sys_cpu_us_per_req: split.map(|(_, sys)| sys),
        voluntary_switches_per_req: per_req(proc.voluntary_switches),
        involuntary_switches_per_req: per_req(proc.involuntary_switches),
        perf_per_req,
        perf_unavailable,
        allocations_per_req: allocations.as_ref().ok().map(|a| per_req(a.allocations)),
        alloc_bytes_per_req: allocations.as_ref().ok().map(|a| per_req(a.bytes)),
        allocations_unavailable: allocations.err(),
    }
}

/// Opens (and starts) counters on the driver's own threads.
fn open_driver_counters() -> Result<KernelCounters, String> {
    let threads = pb_process::own_threads_named(pb_driver::THREAD_NAME_PREFIX);
    let mut counters = KernelCounters::open_threads(&threads)?;
    counters
        .enable()
        .map_err(|e| format!("perf counters could not start: {e}"))?;
    Ok(counters)
}

/// The driver's counters per request.
fn driver_kernel(requests: u64, perf: Result<Counts, String>) -> DriverKernel {
    match perf {
        Ok(counts) => DriverKernel {
            perf_per_req: counts
                .iter()
                .map(|(kind, &n)| (perf_name(*kind).to_owned(), per_request(n, requests)))
                .collect(),
            perf_unavailable: None,
        },
        Err(reason) => DriverKernel {
            perf_per_req: Default::default(),
            perf_unavailable: Some(reason),
        },
    }
}

fn per_request(n: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        n as f64 / requests as f64
    }
}

/// A counter's name in results.
fn perf_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Syscalls => "syscalls",
        Kind::Reads => "reads",
        Kind::Writes => "writes",
        Kind::Waits => "waits",
        Kind::ContextSwitches => "context_switches",
        Kind::UringSubmits => "uring_submits",
        Kind::UringCompletions => "uring_completions",
        Kind::UringPollArms => "uring_poll_arms",
        Kind::UringAsyncPunts => "uring_async_punts",
    }
}

/// The results form of a driver report.
pub fn trial_from_report(
    report: &LoadReport,
    core_cpu: Option<Duration>,
    rss_max_bytes: u64,
    index: u32,
    sequence: u32,
) -> Trial {
    let per_req = |cpu: Duration| {
        (report.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / report.requests as f64)
    };
    let window = report.window.as_secs_f64();
    let step = report.interval.as_secs_f64();
    let intervals = report
        .intervals
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let start_s = i as f64 * step;
            let length_s = step.min(window - start_s).max(f64::MIN_POSITIVE);
            IntervalPoint {
                start_s,
                length_s,
                requests: h.len(),
                qps: h.len() as f64 / length_s,
                latency_us: hist::percentiles(h),
                histogram: hist::encode(h),
                origins: report
                    .origins
                    .1
                    .get(i)
                    .map(|counts| {
                        report
                            .origins
                            .0
                            .iter()
                            .cloned()
                            .zip(counts.iter().copied())
                            .collect()
                    })
                    .unwrap_or_default(),
                resources: None,
            }
        })
        .collect();
    Trial {
        index,
        sequence,
        window_s: window,
        requests: report.requests,
        qps: report.qps(),
        errors: report.error_count(),
        errors_by_kind: report.errors.clone(),
        latency_us: hist::percentiles(&report.histogram),
        histogram: hist::encode(&report.histogram),
        core_cpu_us: core_cpu.map_or(0.0, |c| c.as_secs_f64() * 1e6),
        cpu_us_per_req: core_cpu.and_then(per_req),
        driver_cpu_us: report.driver_cpu.as_secs_f64() * 1e6,
        driver_cpu_us_per_req: report.driver_cpu_us_per_req(),
        driver_util: report.driver_util(),
        rss_max_bytes,
        driver_bound: report.driver_bound.is_some(),
        driver_bound_reason: report.driver_bound.clone(),
        latency_uncorrected_us: Some(hist::percentiles(&report.uncorrected)),
        histogram_uncorrected: Some(hist::encode(&report.uncorrected)),
        late_driver: report.late_driver,
        late_blocked: report.late_blocked,
        max_lag_us: report.max_lag.as_secs_f64() * 1e6,
        intervals,
        kernel: None,
        driver_kernel: None,
        classes: report
            .classes
            .iter()
            .map(|class| pb_results::ClassLatency {
                name: class.name.to_owned(),
                requests: class.requests,
                latency_us: hist::percentiles(&class.histogram),
                histogram: hist::encode(&class.histogram),
            })
            .collect(),
        threads: Vec::new(),
        soak: None,
        start_late_ms: report.start_late.map(|late| late.as_secs_f64() * 1e3),
        fleet: None,
    }
}

/// Runs a rate search with open-loop probes built from `base` (its mode's
/// connections and in-flight are kept, the rate varies).
pub fn rate_search(
    base: &LoadSpec,
    spec: &SearchSpec,
    mut progress: impl FnMut(&RatePoint),
) -> Result<RateSearch, String> {
    let (connections, max_in_flight) = (base.mode.connections(), base.mode.max_in_flight());
    let quantile = spec.bound.percentile / 100.0;
    let outcome = search::search(spec, |rate| {
        let probe_spec = LoadSpec {
            mode: pb_driver::WorkMode::Open {
                rate,
                connections,
                max_in_flight,
            },
            ..base.clone()
        };
        let report = pb_driver::run(&probe_spec, &mut |_| {}).map_err(|e| e.to_string())?;
        let probe = Probe {
            offered: rate,
            achieved: report.qps(),
            latency: Duration::from_nanos(report.histogram.value_at_quantile(quantile)),
            errors: report.error_count(),
            driver_bound: report.driver_bound.is_some(),
        };
        let point = point(&probe, &report, spec.passes(&probe));
        progress(&point);
        Ok::<_, String>((probe, report))
    })?;
    Ok(RateSearch {
        percentile: spec.bound.percentile,
        bound_us: spec.bound.bound.as_secs_f64() * 1e6,
        found_rate: outcome.found,
        points: outcome
            .steps
            .iter()
            .map(|s| point(&s.probe, &s.extra, s.ok))
            .collect(),
    })
}

fn point(probe: &Probe, report: &LoadReport, ok: bool) -> RatePoint {
    RatePoint {
        offered: probe.offered,
        achieved: probe.achieved,
        latency_us: hist::percentiles(&report.histogram),
        errors: probe.errors,
        ok,
        driver_bound: probe.driver_bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(user_ticks: u64, system_ticks: u64) -> (f64, f64) {
        let proc = ProcCounts {
            user_ticks,
            system_ticks,
            ..ProcCounts::default()
        };
        // 0.3 s over 7 requests: a CPU time that is not exact in binary.
        let work = kernel_work(
            7,
            Some(Duration::from_millis(300)),
            proc,
            Err("off".into()),
            Err("off".into()),
        );
        (
            work.user_cpu_us_per_req.unwrap(),
            work.sys_cpu_us_per_req.unwrap(),
        )
    }

    #[test]
    fn cpu_split_is_never_negative_when_one_side_had_every_tick() {
        let (user, sys) = split(0, 31);
        assert_eq!(user, 0.0);
        assert!((sys - 300_000.0 / 7.0).abs() < 1e-9, "{sys}");
        let (user, sys) = split(31, 0);
        assert_eq!(sys, 0.0);
        assert!((user - 300_000.0 / 7.0).abs() < 1e-9, "{user}");
    }

    #[test]
    fn cpu_split_follows_the_tick_ratio() {
        let (user, sys) = split(3, 1);
        assert!((user / sys - 3.0).abs() < 1e-9, "{user} {sys}");
        assert!((user + sys - 300_000.0 / 7.0).abs() < 1e-9);
    }
}
