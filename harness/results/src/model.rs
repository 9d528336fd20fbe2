//! The serde model of a results file. Field names are the contract in
//! DESIGN.md; `schema/results.schema.json` must accept what these produce.

use std::collections::BTreeMap;

use pb_stats::Metric;
use serde::{Deserialize, Serialize};

/// The pseudo-core of forwarding scenarios with no proxy in the path: the
/// driver talks straight to an origin. Its cells are the baseline other
/// cores' added cost is measured against, it is never a winner nor the
/// default reference, and its "core" CPU figure is its origin's. The one
/// spelling of the name: the scenario model, the runner and the report
/// all compare against this constant.
pub const DIRECT: &str = "direct";

/// A whole results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Format version ([`crate::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Unique id of the run (UTC timestamp, `20261126T221530Z`).
    pub run_id: String,
    /// When the run began, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 UTC.
    pub finished_at: String,
    /// proxybench's own version.
    pub tool_version: String,
    /// The scenario file (path or built-in name) and its `name`.
    pub scenario: ScenarioRef,
    /// The machine and how it was used.
    pub environment: Environment,
    /// Every registered core and whether it could run.
    pub cores: Vec<CoreStatus>,
    /// One entry per (scenario cell, core).
    pub cells: Vec<Cell>,
    /// Run ids this file was merged from (`proxybench merge`); empty for a
    /// single run.
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// The conformance matrix the cores were checked against before their
    /// numbers were taken; absent when the run skipped it.
    #[serde(default)]
    pub conformance: Option<Conformance>,
}

/// The conformance matrix: every case, every core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformance {
    /// Cases, in order.
    pub cases: Vec<ConformanceCase>,
}

/// One conformance case across cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformanceCase {
    /// Case name.
    pub name: String,
    /// Where its expectation comes from (RFC section, test suite).
    pub source: String,
    /// Verdict per core.
    pub outcomes: Vec<ConformanceOutcome>,
}

/// One case's verdict on one core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformanceOutcome {
    /// Core name.
    pub core: String,
    /// Passed?
    pub passed: bool,
    /// Why not.
    pub reason: Option<String>,
    /// What a passing case measured (a recovery time, a peak RSS).
    #[serde(default)]
    pub detail: Option<String>,
}

/// Which scenario file produced a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRef {
    /// Path, or the built-in default's name.
    pub source: String,
    /// The file's `name`.
    pub name: String,
}

/// Facts about the machine that change what the numbers mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `uname -sr`.
    pub kernel: String,
    /// CPU model from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs online.
    pub cpu_count: usize,
    /// `rustc --version` of the build.
    pub rustc: String,
    /// `git describe` of the build (`-dirty` if it had local changes).
    pub git_revision: String,
    /// Build profile (`release` figures only are comparable).
    pub build_profile: String,
    /// Whether io_uring works here.
    pub io_uring: IoUringStatus,
    /// `RLIMIT_MEMLOCK` in bytes; absent when unlimited.
    pub memlock_limit_bytes: Option<u64>,
    /// Which CPUs did what.
    pub cpu_plan: CpuPlan,
}

/// io_uring availability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IoUringStatus {
    /// Could a ring be created?
    pub available: bool,
    /// `ok`, or the reason it could not.
    pub detail: String,
}

/// How CPUs were split between the core under test, the driver and the
/// origin. Overlaps are allowed on small machines but always recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuPlan {
    /// CPUs proxybench was allowed to use.
    pub allowed: Vec<usize>,
    /// CPUs of the core under test.
    pub core: Vec<usize>,
    /// CPUs of the load driver.
    pub driver: Vec<usize>,
    /// CPUs of the origin server (empty when the scenario has none).
    pub origin: Vec<usize>,
    /// True when any two roles share a CPU, or when another run shared
    /// these CPUs at the same time (the paired gate's `--pairing
    /// together`; the note says so).
    pub shared: bool,
    /// One line a reader can act on.
    pub note: String,
}

/// A registered core and whether it could run here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreStatus {
    /// Registry name.
    pub name: String,
    /// Runtime and driver.
    pub runtime: String,
    /// Service composition.
    pub service: String,
    /// Could it run here?
    pub available: bool,
    /// Why not, when it could not.
    pub reason: Option<String>,
    /// Its cell in the runtime × composition grid; absent for cores
    /// proxybench does not know (driven by address) and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridCell>,
    /// A reference proxy (nginx, HAProxy) measured beside our cores: its
    /// cells and conformance failures are shown, never what fails a run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference: bool,
}

/// A core's place in the runtime × composition grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridCell {
    /// The runtime row (`tokio-mt`, `tokio-tpc`, `monoio`, ...).
    pub runtime: String,
    /// The composition column (`tower-buffer`, `tower-clone`, `borrowing`,
    /// `raw`).
    pub composition: String,
}

/// Outcome of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Measured.
    Ok,
    /// The core cannot run on this machine; `reason` says why.
    Unavailable,
    /// The core or the driver failed; `reason` says how.
    Failed,
}

/// Parameters of a cell, as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellParams {
    /// Work mode: `closed` or `open`.
    pub mode: String,
    /// Offered rate in requests per second (open loop only).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Bytes per echo message, or per HTTP body (`http-forward`).
    pub message_bytes: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Warm-up per trial, seconds.
    pub warmup_s: f64,
    /// Measured window per trial, seconds.
    pub duration_s: f64,
    /// Trials asked for.
    pub trials: u32,
    /// Serving threads of the core.
    pub core_threads: usize,
    /// Driver threads.
    pub driver_threads: usize,
    /// The driver's I/O model (`epoll` or `io_uring`); results written
    /// before the io_uring backend were all driven on epoll.
    #[serde(default = "epoll")]
    pub driver: String,
    /// The external load client that drove the cell instead of
    /// proxybench's driver (`wrk`): its responses were not verified by
    /// proxybench (status codes at most), and the report says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Extra work per request the cores were told to do (gate
    /// calibration), spin iterations; 0 for a normal run.
    #[serde(default)]
    pub core_spin_iters: u64,
    /// HTTP parameters, for `http-forward` cells.
    #[serde(default)]
    pub http: Option<HttpCellParams>,
    /// Upstreams of a `tcp-forward` cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCellParams>,
    /// The network path the scenario asked for; absent on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::network::NetworkParams>,
}

fn epoll() -> String {
    "epoll".into()
}

/// What a `tcp-forward` cell forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCellParams {
    /// Echo origin processes behind the proxy.
    pub origins: usize,
    /// How the proxy balanced connections over them.
    pub policy: String,
}

/// What an `http-forward` cell sent and to how many origins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpCellParams {
    /// `GET` or `POST`.
    pub method: String,
    /// Keep-alive, or one connection per request.
    pub keep_alive: bool,
    /// Origin processes behind the proxy.
    pub origins: usize,
    /// Balancing policy of the proxy; `-` when proxybench did not
    /// configure it (`proxybench load` against an address).
    pub policy: String,
    /// Injected work per request in the proxies' middleware
    /// (experiments only); absent for a normal cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkParams>,
    /// The dynamic filter the proxies ran on every request head
    /// (experiments only); absent for a normal cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterParams>,
}

/// The dynamic filter an experiment cell runs in the proxies (`[dynamic]`
/// of the proxy configuration): what runs it, and which module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterParams {
    /// `native`, `wasmtime`, `wasmi`, `rhai` or `ipc`.
    pub engine: String,
    /// The module or script, when not proxybench's own gate filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// The work an experiment cell asks the proxies' middleware to do per
/// request (`[work]` of the proxy configuration), in spin iterations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkParams {
    /// Spent in the request stack's `call` of every request.
    pub call_iters: u64,
    /// One connection in this many sends heavy requests (0: none).
    pub heavy_every: usize,
    /// Spent inside each heavy request's future.
    pub heavy_iters: u64,
}

/// One (scenario cell, core) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Stable id: `<label>/<core>`, e.g. `echo/100B/c50x1/monoio`.
    pub id: String,
    /// Scenario name.
    pub scenario: String,
    /// Core name.
    pub core: String,
    /// Outcome.
    pub status: CellStatus,
    /// Why a cell is unavailable or failed.
    pub reason: Option<String>,
    /// Load parameters.
    pub params: CellParams,
    /// Raw figures, one per trial, in the order they ran.
    pub trials: Vec<Trial>,
    /// The latency-vs-rate search, when the cell asked for one.
    #[serde(default)]
    pub rate_search: Option<RateSearch>,
    /// How the core process ended (`exit 0 after SIGTERM`, ...).
    pub core_exit: Option<String>,
    /// Conformance cases this core failed: its numbers here are not a
    /// correct proxy's.
    #[serde(default)]
    pub conformance_failures: Vec<String>,
    /// The configuration file a reference proxy's program ran with in
    /// this cell (nginx.conf, haproxy.cfg), as rendered from the cell's
    /// pools, routes and rules: what was measured, for anyone to audit.
    /// Absent for compiled cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_config: Option<String>,
    /// What the cell's network path ran across (namespaces and links, or
    /// the loopback it fell back to); absent for a loopback cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::network::NetworkRun>,
    /// Derived from `trials`; absent when no trial ran.
    pub summary: Option<Summary>,
}

impl Cell {
    /// The cell id without its `/<core>` suffix: what the cells of one
    /// scenario cell share across cores (core names may hold a `/`
    /// themselves, `tokio-tpc/borrowing`). The whole id if it has no such
    /// suffix (a hand-edited file should still group).
    pub fn label(&self) -> &str {
        self.id
            .strip_suffix(self.core.as_str())
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or(&self.id)
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest recorded.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One measured trial of one core. [`Trial::figure`] reads the figures the
/// report and the gate judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Trial number within the cell, from 0.
    pub index: u32,
    /// Position in the whole run's order (shows the interleaving).
    pub sequence: u32,
    /// Measured window, seconds.
    pub window_s: f64,
    /// Verified requests completed in the window.
    pub requests: u64,
    /// `requests / window_s`.
    pub qps: f64,
    /// Failures of any kind (warm-up included).
    pub errors: u64,
    /// Failures by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Latency percentiles of this trial.
    pub latency_us: Percentiles,
    /// The latency histogram (ns), compressed V2 HdrHistogram, base64.
    pub histogram: String,
    /// User+sys CPU of the core process inside the window, µs.
    pub core_cpu_us: f64,
    /// `core_cpu_us / requests`.
    pub cpu_us_per_req: Option<f64>,
    /// User+sys CPU of the driver threads inside the window, µs.
    pub driver_cpu_us: f64,
    /// `driver_cpu_us / requests`.
    pub driver_cpu_us_per_req: Option<f64>,
    /// Driver CPU as a share of its CPUs over the window (0..=1).
    pub driver_util: f64,
    /// Peak RSS of the core process so far, bytes.
    pub rss_max_bytes: u64,
    /// Set when the driver may have limited throughput.
    pub driver_bound: bool,
    /// Why, when it did.
    pub driver_bound_reason: Option<String>,
    /// Latency percentiles from the actual send time (open loop: not
    /// corrected for coordinated omission; closed loop: same as `latency_us`).
    #[serde(default)]
    pub latency_uncorrected_us: Option<Percentiles>,
    /// Histogram of uncorrected latency, same encoding as `histogram`.
    #[serde(default)]
    pub histogram_uncorrected: Option<String>,
    /// Requests sent more than 1 ms after they were due while their
    /// connection was free: the driver fell behind.
    #[serde(default)]
    pub late_driver: u64,
    /// Requests sent late because their connection was full.
    #[serde(default)]
    pub late_blocked: u64,
    /// Largest send lag in the window, µs.
    #[serde(default)]
    pub max_lag_us: f64,
    /// Latency and throughput per interval of the window.
    #[serde(default)]
    pub intervals: Vec<IntervalPoint>,
    /// The kernel's work for the core's process tree in the window, per
    /// request; absent for a target proxybench did not start and in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelWork>,
    /// The kernel's work for the driver's own threads in the window, per
    /// request: what the client's I/O model cost on its side. Absent
    /// where the driver was not counted and in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_kernel: Option<DriverKernel>,
    /// Latency per class of connection, when the workload has classes
    /// (light and heavy connections of a mixed cell); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassLatency>,
    /// CPU of each thread of the core's process tree that ran inside the
    /// window, busiest first: how the work spread over its serving
    /// threads (`SO_REUSEPORT`'s balance on a thread-per-core core).
    /// Empty for a target proxybench did not start and in older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadCpu>,
    /// The soak verdict on this trial's timeline, in a run whose scenario
    /// asks for it (`[run] soak = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<crate::soak::SoakVerdict>,
    /// How long after its shared start instant this driver began, ms, by
    /// its own clock (`proxybench load --start-at`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_late_ms: Option<f64>,
    /// The driver hosts of a trial driven from several at once (`run
    /// --drivers`); absent for one driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<crate::fleet::FleetTrial>,
}

/// One thread's CPU time inside a trial's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadCpu {
    /// The thread's name (`monoio-0`, `tokio-runtime-w`, ...).
    pub name: String,
    /// CPU µs it spent in the window.
    pub cpu_us: f64,
}

/// The requests of one class of connections within a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassLatency {
    /// `light` or `heavy`.
    pub name: String,
    /// Intact replies to the class's requests due inside the window.
    pub requests: u64,
    /// Their corrected latency percentiles.
    pub latency_us: Percentiles,
    /// Their histogram, same encoding as [`Trial::histogram`].
    pub histogram: String,
}

/// The kernel's work per completed request, inside the measured window,
/// over the core's whole process tree: what explains its CPU per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelWork {
    /// User CPU µs per request (the core's CPU split by the kernel's
    /// user/system tick accounting).
    pub user_cpu_us_per_req: Option<f64>,
    /// System CPU µs per request.
    pub sys_cpu_us_per_req: Option<f64>,
    /// Voluntary context switches per request (a thread blocked).
    pub voluntary_switches_per_req: f64,
    /// Involuntary ones (the scheduler took the CPU away).
    pub involuntary_switches_per_req: f64,
    /// perf's counters per request, by name: `syscalls`, `reads`,
    /// `writes`, `waits` (epoll_wait / io_uring_enter), `context_switches`,
    /// `uring_submits`, `uring_completions`, `uring_poll_arms`,
    /// `uring_async_punts`. Empty when perf could not count, and then
    /// `perf_unavailable` says why: never zeros in its place.
    #[serde(default)]
    pub perf_per_req: BTreeMap<String, f64>,
    /// Why perf counted nothing here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf_unavailable: Option<String>,
    /// Heap allocations per request (all the core's threads; reallocations
    /// count), when the core counts them: cores serving inside the
    /// proxybench binary do, reference programs cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocations_per_req: Option<f64>,
    /// Bytes those allocations asked for, per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc_bytes_per_req: Option<f64>,
    /// Why allocations were not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocations_unavailable: Option<String>,
}

/// The kernel's work for the driver's threads, per request: the client
/// side of [`KernelWork`]'s counters, so a run shows what each driver
/// backend spends beside what the core spends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverKernel {
    /// perf's counters per request, by the names [`KernelWork`] uses;
    /// empty when perf could not count, and then `perf_unavailable` says
    /// why.
    #[serde(default)]
    pub perf_per_req: BTreeMap<String, f64>,
    /// Why perf counted nothing here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf_unavailable: Option<String>,
}

impl DriverKernel {
    /// A counter per request, when perf counted.
    pub fn perf(&self, name: &str) -> Option<f64> {
        self.perf_per_req.get(name).copied()
    }
}

impl KernelWork {
    /// A perf counter per request, when perf counted.
    pub fn perf(&self, name: &str) -> Option<f64> {
        self.perf_per_req.get(name).copied()
    }

    /// Context switches per request: perf's count where it counted, else
    /// /proc's voluntary + involuntary (the two agree within a few %).
    pub fn context_switches(&self) -> f64 {
        self.perf("context_switches")
            .unwrap_or(self.voluntary_switches_per_req + self.involuntary_switches_per_req)
    }

    /// System CPU as a share of the core's CPU (0..=1).
    pub fn sys_share(&self) -> Option<f64> {
        let (user, sys) = (self.user_cpu_us_per_req?, self.sys_cpu_us_per_req?);
        (user + sys > 0.0).then(|| sys / (user + sys))
    }

    /// The median of each figure over `trials` (those that have one).
    pub fn median(trials: &[&KernelWork]) -> Option<KernelWork> {
        let first = trials.first()?;
        let median_of = |f: &dyn Fn(&KernelWork) -> Option<f64>| {
            let values: Vec<f64> = trials.iter().filter_map(|k| f(k)).collect();
            pb_stats::median(&values)
        };
        let mut perf_per_req = BTreeMap::new();
        for name in first.perf_per_req.keys() {
            if let Some(m) = median_of(&|k| k.perf(name)) {
                perf_per_req.insert(name.clone(), m);
            }
        }
        Some(KernelWork {
            user_cpu_us_per_req: median_of(&|k| k.user_cpu_us_per_req),
            sys_cpu_us_per_req: median_of(&|k| k.sys_cpu_us_per_req),
            voluntary_switches_per_req: median_of(&|k| Some(k.voluntary_switches_per_req))
                .unwrap_or(0.0),
            involuntary_switches_per_req: median_of(&|k| Some(k.involuntary_switches_per_req))
                .unwrap_or(0.0),
            perf_unavailable: perf_per_req
                .is_empty()
                .then(|| trials.iter().find_map(|k| k.perf_unavailable.clone()))
                .flatten(),
            perf_per_req,
            allocations_per_req: median_of(&|k| k.allocations_per_req),
            alloc_bytes_per_req: median_of(&|k| k.alloc_bytes_per_req),
            allocations_unavailable: trials
                .iter()
                .all(|k| k.allocations_per_req.is_none())
                .then(|| {
                    trials
                        .iter()
                        .find_map(|k| k.allocations_unavailable.clone())
                })
                .flatten(),
        })
    }
}

impl Trial {
    /// The trial's figure for `metric`; `None` when it has none (no
    /// completed requests, so no CPU per request).
    pub fn figure(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::CpuUsPerReq => self.cpu_us_per_req,
            Metric::LatencyP99Us => Some(self.latency_us.p99),
            Metric::Qps => Some(self.qps),
        }
    }
}

/// One interval of a trial's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalPoint {
    /// Start, seconds after the window opened.
    pub start_s: f64,
    /// Length in seconds (the last interval may be shorter).
    pub length_s: f64,
    /// Requests completed in the interval.
    pub requests: u64,
    /// `requests / length_s`.
    pub qps: f64,
    /// Corrected latency percentiles of the interval.
    pub latency_us: Percentiles,
    /// The interval's histogram, same encoding as [`Trial::histogram`].
    pub histogram: String,
    /// Replies per origin (`x-origin` id) completed in the interval, when
    /// the cell checks which origin answers (a reload's timeline).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub origins: BTreeMap<String, u64>,
    /// The core's processes' resources, sampled in the middle of the
    /// interval; absent for a target proxybench did not start and in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// A process's resources at one instant, from /proc: what a leak shows in
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Resident set size, bytes, summed over the process tree.
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Of them, sockets: listeners plus client and upstream connections.
    pub sockets: u64,
}

/// A search for the highest rate at which a latency percentile stays
/// within a bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSearch {
    /// The percentile watched, e.g. 99.0.
    pub percentile: f64,
    /// Its bound, µs.
    pub bound_us: f64,
    /// Highest offered rate that met the bound; absent if none did.
    pub found_rate: Option<f64>,
    /// Every rate tried, ascending.
    pub points: Vec<RatePoint>,
}

/// One step of a rate search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatePoint {
    /// Offered rate, requests per second.
    pub offered: f64,
    /// Completed rate.
    pub achieved: f64,
    /// Corrected latency at this rate.
    pub latency_us: Percentiles,
    /// Failures of any kind.
    pub errors: u64,
    /// Whether this step met the bound (and kept up without errors).
    pub ok: bool,
    /// Whether the driver may have been the limit.
    pub driver_bound: bool,
}

/// A cell's figures over its trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Median QPS over trials.
    pub qps: f64,
    /// Lowest trial QPS.
    pub qps_min: f64,
    /// Highest trial QPS.
    pub qps_max: f64,
    /// Percentiles of all trials' histograms merged (never averaged).
    pub latency_us: Percentiles,
    /// The same for uncorrected latency, when the trials kept it.
    #[serde(default)]
    pub latency_uncorrected_us: Option<Percentiles>,
    /// Median core CPU µs per request over trials.
    pub cpu_us_per_req: Option<f64>,
    /// Median driver CPU µs per request over trials.
    pub driver_cpu_us_per_req: Option<f64>,
    /// Peak RSS of the core process, bytes.
    pub rss_max_bytes: u64,
    /// Failures over all trials.
    pub errors: u64,
    /// Failures by kind over all trials.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// True if any trial was driver-bound.
    pub driver_bound: bool,
    /// The first reason given.
    pub driver_bound_reason: Option<String>,
    /// Trials summarised.
    pub trials: u32,
    /// Median kernel work per request over the trials that counted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelWork>,
}
