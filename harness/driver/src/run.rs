//! Threads, the shared schedule, window edges and the driver's own CPU.
//!
//! Each driver thread runs a single-threaded runtime of its backend
//! ([`Backend`]: tokio on epoll, or monoio on io_uring) pinned to its CPU
//! and owns a share of the connections; nothing is shared between
//! threads while load runs. All threads follow one [`Schedule`], so the
//! measured window is the same instant everywhere, and the caller's
//! `on_edge` fires at those instants (the runner samples the core's CPU
//! there).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;

use crate::conn::{Net, Schedule, ThreadStats, connection_loop};
use crate::pace::Pacer;
use crate::spec::{Backend, LoadSpec, WorkMode};

/// Share of the driver's CPU above which a cell is marked driver-bound.
pub const DRIVER_BOUND_UTIL: f64 = 0.90;

/// What every driver thread's name starts with (`pb-driver-0`, ...): how
/// a caller finds them, to count their kernel work apart.
pub const THREAD_NAME_PREFIX: &str = "pb-driver-";

/// Time the threads get to start their runtimes before load begins.
const START_MARGIN: Duration = Duration::from_millis(50);

/// A run that could not take place. Failures *during* load are data in
/// [`LoadReport::errors`], never this.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The spec is unusable.
    #[error("invalid load spec: {0}")]
    Spec(String),
    /// The target did not accept a first connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The target.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A driver thread or its runtime could not start.
    #[error("driver thread {thread} could not start: {source}")]
    Thread {
        /// Index of the thread.
        thread: usize,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The edges of the measured window, reported to the caller as they pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEdge {
    /// The measured window opens.
    Start,
    /// The measured window closes.
    End,
}

/// Share of due requests that may go out late (or never) before a run is
/// marked driver-bound. A few late sends are the operating system's
/// scheduling noise on a busy machine; one in twenty is a driver that
/// cannot keep its schedule.
pub const DRIVER_LATE_SHARE: f64 = 0.05;

/// What a load run measured. Requests count when they were due inside the
/// measured window.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Work mode name (`closed`, `open`).
    pub mode: &'static str,
    /// The driver's I/O model.
    pub backend: Backend,
    /// Offered rate, requests per second (open loop only).
    pub offered_rate: Option<f64>,
    /// Intact replies to requests due inside the window.
    pub requests: u64,
    /// Length of the measured window.
    pub window: Duration,
    /// Latency from the due time, ns, merged over threads (corrected for
    /// coordinated omission; equal to the send time in closed loop).
    pub histogram: Histogram<u64>,
    /// Latency from the actual send time, ns.
    pub uncorrected: Histogram<u64>,
    /// Corrected latency per `interval` of the window, by completion time.
    pub intervals: Vec<Histogram<u64>>,
    /// Length of one interval.
    pub interval: Duration,
    /// Requests sent late while the connection was free (driver lag).
    pub late_driver: u64,
    /// Requests sent late because the connection was full (target push-back).
    pub late_blocked: u64,
    /// Largest send lag inside the window.
    pub max_lag: Duration,
    /// Failures by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// CPU time (user + sys) the driver threads spent inside the window.
    pub driver_cpu: Duration,
    /// Driver threads.
    pub driver_threads: usize,
    /// Set when the driver, not the target, may have limited throughput.
    pub driver_bound: Option<String>,
    /// Corrected latency per latency class of the workload, in
    /// [`crate::spec::Workload::classes`] order; empty when it has none.
    pub classes: Vec<ClassReport>,
    /// The expected origins' ids, and replies per interval from each (in
    /// that order); empty when origins are not checked.
    pub origins: (Vec<String>, Vec<Vec<u64>>),
    /// Requests put on the wire over the whole run (warm-up and drain
    /// included).
    pub sent: u64,
    /// Of them, answered intact.
    pub answered: u64,
    /// Of them, failed and counted in `errors` (which also counts what
    /// was no request's: refused connections, slots not sent, a reset or
    /// stray bytes on a connection with nothing in flight).
    pub failed: u64,
    /// With [`LoadSpec::start_at`]: how much later than that instant the
    /// schedule began (zero when on time).
    pub start_late: Option<Duration>,
}

/// The requests of one latency class (light or heavy connections).
#[derive(Debug, Clone)]
pub struct ClassReport {
    /// The class's name.
    pub name: &'static str,
    /// Its intact replies to requests due inside the window.
    pub requests: u64,
    /// Their latency from the due time, ns.
    pub histogram: Histogram<u64>,
}

impl LoadReport {
    /// Completed requests per second of window.
    pub fn qps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// All failures, any kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests sent less those answered or counted as failed: zero, or
    /// the driver lost track of some (above zero) or counted some twice
    /// (below): a defect in the driver either way.
    pub fn unaccounted(&self) -> i64 {
        self.sent as i64 - (self.answered + self.failed) as i64
    }

    /// Share of the driver's CPUs it kept busy in the window (0..=1 per thread).
    pub fn driver_util(&self) -> f64 {
        self.driver_cpu.as_secs_f64() / (self.window.as_secs_f64() * self.driver_threads as f64)
    }

    /// Driver CPU per completed request, µs.
    pub fn driver_cpu_us_per_req(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.driver_cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }
}

impl LoadReport {
    /// Decides whether the driver, not the target, may have limited the
    /// run: its CPU was saturated, or it could not keep its schedule.
    fn judge_driver(&mut self) {
        let mut reasons = Vec::new();
        let util = self.driver_util();
        if util >= DRIVER_BOUND_UTIL {
            reasons.push(format!(
                "driver CPU {:.0}% busy over {} thread(s)",
                util * 100.0,
                self.driver_threads
            ));
        }
        let due = (self.requests + self.error_count()).max(1);
        let not_sent = self.errors.get("not sent").copied().unwrap_or(0);
        let late = self.late_driver + self.late_blocked + not_sent;
        if late as f64 / due as f64 > DRIVER_LATE_SHARE {
            let cause = if self.late_driver >= self.late_blocked + not_sent {
                "the driver fell behind with connections free"
            } else {
                "its connections were full (more connections or in-flight needed, or the target is saturated)"
            };
            reasons.push(format!(
                "{late} of {due} requests due went out late or never (late by up to {:.1} ms): {cause}",
                self.max_lag.as_secs_f64() * 1e3
            ));
        }
        self.driver_bound = (!reasons.is_empty()).then(|| {
            format!(
                "{}; throughput is a lower bound for the target",
                reasons.join("; ")
            )
        });
    }
}

/// What a driver thread hands back.
pub(crate) struct ThreadOutcome {
    pub(crate) stats: ThreadStats,
    pub(crate) cpu: Duration,
}

/// When the schedule begins: `START_MARGIN` from now (the threads wait
/// for it), or at `start_at` when that is later; with `start_at`, also
/// how late that is.
fn schedule_start(start_at: Option<std::time::SystemTime>) -> (Instant, Option<Duration>) {
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let ready = now + START_MARGIN;
    let Some(at) = start_at else {
        return (ready, None);
    };
    // The instant on this process's monotonic clock, or how long ago it was.
    let (at, ago) = match at.duration_since(wall) {
        Ok(ahead) => (now + ahead, Duration::ZERO),
        Err(past) => (now, past.duration()),
    };
    if at >= ready {
        (at, Some(Duration::ZERO))
    } else {
        (ready, Some(ready - at + ago))
    }
}

/// Runs `spec` to completion. `on_edge` is called from the calling thread
/// as the measured window opens and closes.
pub fn run(
    spec: &LoadSpec,
    on_edge: &mut dyn FnMut(WindowEdge),
) -> Result<LoadReport, DriverError> {
    spec.validate().map_err(DriverError::Spec)?;
    // One synchronous connection first: a wrong address is a set-up error
    // with the OS's reason, not a run full of connect failures.
    std::net::TcpStream::connect_timeout(&spec.target, spec.connect_timeout).map_err(|source| {
        DriverError::Connect {
            addr: spec.target,
            source,
        }
    })?;

    // Each thread sets up (pins, builds its runtime), then waits for the
    // schedule; if a spawn fails, dropping the senders releases the others.
    let mut handles = Vec::with_capacity(spec.threads);
    let mut senders = Vec::with_capacity(spec.threads);
    for thread in 0..spec.threads {
        let (tx, rx) = mpsc::channel::<Schedule>();
        let thread_spec = spec.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{THREAD_NAME_PREFIX}{thread}"))
            .spawn(move || driver_thread(thread, &thread_spec, rx));
        match spawned {
            Ok(handle) => {
                handles.push(handle);
                senders.push(tx);
            }
            Err(source) => {
                drop(senders);
                for handle in handles {
                    let _ = handle.join();
                }
                return Err(DriverError::Thread { thread, source });
            }
        }
    }

    let (start, start_late) = schedule_start(spec.start_at);
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;
    let schedule = Schedule {
        start,
        window_start,
        window_end,
        hard_stop: window_end + spec.drain,
    };
    for tx in senders {
        // A thread that failed set-up has hung up; its error comes from join.
        let _ = tx.send(schedule);
    }

    std::thread::sleep(window_start.saturating_duration_since(Instant::now()));
    on_edge(WindowEdge::Start);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    on_edge(WindowEdge::End);

    let intervals = interval_count(spec);
    let classes = spec.workload.classes();
    let origins = spec.workload.origins();
    let mut total = ThreadStats::new(intervals, classes.len(), origins.len());
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut driver_cpu = Duration::ZERO;
    for (thread, handle) in handles.into_iter().enumerate() {
        let outcome = handle
            .join()
            .map_err(|_| DriverError::Thread {
                thread,
                source: io::Error::other("driver thread panicked"),
            })?
            .map_err(|source| DriverError::Thread { thread, source })?;
        let stats = outcome.stats;
        total
            .histogram
            .add(&stats.histogram)
            .expect("histograms share bounds");
        total
            .uncorrected
            .add(&stats.uncorrected)
            .expect("histograms share bounds");
        for (sum, part) in total.intervals.iter_mut().zip(&stats.intervals) {
            sum.add(part).expect("histograms share bounds");
        }
        total.requests += stats.requests;
        total.sent += stats.sent;
        total.answered += stats.answered;
        total.failed += stats.failed;
        for (sum, part) in total.origins.iter_mut().zip(&stats.origins) {
            for (a, b) in sum.iter_mut().zip(part) {
                *a += b;
            }
        }
        for (sum, part) in total.classes.iter_mut().zip(&stats.classes) {
            sum.0.add(&part.0).expect("histograms share bounds");
            sum.1 += part.1;
        }
        total.late_driver += stats.late_driver;
        total.late_blocked += stats.late_blocked;
        total.max_lag = total.max_lag.max(stats.max_lag);
        for (kind, n) in stats.errors {
            *errors.entry(kind.to_owned()).or_default() += n;
        }
        driver_cpu += outcome.cpu;
    }
    let mut report = LoadReport {
        mode: spec.mode.name(),
        backend: spec.backend,
        offered_rate: match spec.mode {
            WorkMode::Open { rate, .. } => Some(rate),
            WorkMode::Closed { .. } => None,
        },
        requests: total.requests,
        window: spec.duration,
        histogram: total.histogram,
        uncorrected: total.uncorrected,
        intervals: total.intervals,
        interval: spec.interval,
        late_driver: total.late_driver,
        late_blocked: total.late_blocked,
        max_lag: total.max_lag,
        errors,
        driver_cpu,
        driver_threads: spec.threads,
        driver_bound: None,
        classes: classes
            .iter()
            .zip(total.classes)
            .map(|(&name, (histogram, requests))| ClassReport {
                name,
                requests,
                histogram,
            })
            .collect(),
        origins: (origins.to_vec(), total.origins),
        sent: total.sent,
        answered: total.answered,
        failed: total.failed,
        start_late,
    };
    report.judge_driver();
    Ok(report)
}

fn driver_thread(
    thread: usize,
    spec: &LoadSpec,
    schedule: mpsc::Receiver<Schedule>,
) -> io::Result<ThreadOutcome> {
    if let Some(cpus) = &spec.cpus {
        pb_sys::CpuSet::new(vec![cpus.nth_wrapping(thread)])
            .expect("one CPU")
            .pin_current_thread()?;
    }
    match spec.backend {
        Backend::Epoll => crate::epoll::run_thread(thread, spec, schedule),
        Backend::IoUring => crate::uring::run_thread(thread, spec, schedule),
    }
}

/// Waits for the run's schedule (after the backend has built its runtime,
/// so set-up never eats into the start margin) and makes the thread's
/// empty statistics.
pub(crate) fn await_schedule(
    spec: &LoadSpec,
    schedule: mpsc::Receiver<Schedule>,
) -> io::Result<(Schedule, RefCell<ThreadStats>)> {
    let schedule = schedule
        .recv()
        .map_err(|_| io::Error::other("run aborted before it started"))?;
    let stats = RefCell::new(ThreadStats::new(
        interval_count(spec),
        spec.workload.classes().len(),
        spec.workload.origins().len(),
    ));
    Ok((schedule, stats))
}

/// One driver thread's work, whatever its backend: its share of the
/// connections driven to the end, the pacer run beside them (`run_pacer`,
/// the backend's way of reading `pacer`'s timer) and stopped after them;
/// returns the thread's CPU time inside the measured window.
pub(crate) async fn drive_thread<N: Net>(
    thread: usize,
    spec: &LoadSpec,
    schedule: &Schedule,
    stats: &RefCell<ThreadStats>,
    net: &N,
    pacer: &Pacer,
    run_pacer: impl Future<Output = io::Result<()>>,
) -> io::Result<Duration> {
    let mut connections: FuturesUnordered<_> = (0..spec.mode.connections())
        .filter(|id| id % spec.threads == thread)
        .map(|id| connection_loop(id as u64, spec, schedule, stats, net))
        .collect();
    let sampler = async {
        net.sleep_until(schedule.window_start).await;
        let before = thread_cpu();
        net.sleep_until(schedule.window_end).await;
        thread_cpu().saturating_sub(before)
    };
    let drive_all = async {
        let all = pin!(async { while connections.next().await.is_some() {} });
        match select(all, pin!(run_pacer)).await {
            Either::Left(((), running)) => {
                // Stopped rather than dropped, so a backend whose timer
                // read sits in the kernel sees it complete.
                pacer.stop()?;
                running.await
            }
            Either::Right((failed, _)) => {
                failed.and(Err(io::Error::other("the pacer stopped on its own")))
            }
        }
    };
    let (cpu, driven) = futures_util::future::join(sampler, drive_all).await;
    driven.map(|()| cpu)
}

/// Intervals the window is cut into (the last may be shorter).
fn interval_count(spec: &LoadSpec) -> usize {
    (spec.duration.as_secs_f64() / spec.interval.as_secs_f64())
        .ceil()
        .max(1.0) as usize
}

/// User + system CPU time of the calling thread.
fn thread_cpu() -> Duration {
    pb_sys::cpus::thread_cpu_time()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn a_start_instant_is_kept_when_ahead_and_its_lateness_counted_when_past() {
        let (start, late) = schedule_start(None);
        assert_eq!(late, None);
        assert!(start > Instant::now());

        let (start, late) = schedule_start(Some(SystemTime::now() + Duration::from_secs(10)));
        assert_eq!(late, Some(Duration::ZERO));
        let ahead = start - Instant::now();
        assert!(
            ahead > Duration::from_secs(9) && ahead <= Duration::from_secs(10),
            "{ahead:?}"
        );

        // Past by a second: the schedule starts once the threads can, and
        // the lateness counts both.
        let (start, late) = schedule_start(Some(SystemTime::now() - Duration::from_secs(1)));
        let late = late.unwrap();
        assert!(late >= Duration::from_secs(1) + START_MARGIN, "{late:?}");
        assert!(late < Duration::from_secs(2), "{late:?}");
        assert!(start <= Instant::now() + START_MARGIN);
    }
}
