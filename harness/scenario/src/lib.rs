//! Scenario files: the data that says what `proxybench run` measures.
//!
//! A file (TOML) has a `[run]` table (trials, warm-up, duration, threads)
//! and one or more `[[cell]]` tables. A cell names a scenario, the cores to
//! run it on and its parameters; a parameter given as a list expands into
//! one cell per value. See `scenarios/default.toml` for the built-in matrix.
//!
//! Every error names the file and the field (`cell[1].message_bytes`), so a
//! typo never silently becomes a default.
//!
//! A cell runs on loopback unless it names a `network`: a profile the file
//! defines in a `[network.NAME]` table (`client` and `origin` links, each
//! with `delay_ms`, `jitter_ms`, `loss_pct`, `rate_mbit`) or a built-in one
//! ([`builtin_network`]: `lan`, `wan-origin`); `loopback` names the
//! default, so `network = ["loopback", "lan"]` compares the two.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pb_core::Scenario;
use pb_core::config::{DynamicEngine, Policy};
pub use pb_driver::Backend;
use pb_driver::http::{Heavy, HttpWorkload, Method};
use pb_driver::search::LatencyBound;
use pb_driver::{LoadSpec, Workload};
use pb_results::network::{LinkSpec, NetworkParams, NetworkSpec};
use pb_sys::CpuSet;
use serde::Deserialize;

/// The built-in default matrix, the same text as `scenarios/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../../scenarios/default.toml");

/// Name under which the built-in matrix is reported.
pub const DEFAULT_NAME: &str = "scenarios/default.toml (built in)";

/// The pseudo-core a forwarding cell may list to drive the origin with
/// no proxy (the baseline of added cost); defined with the results model,
/// re-exported here for scenario files and the runner.
pub use pb_results::DIRECT;

/// Largest message the echo scenario accepts, so a typo cannot ask the
/// driver for gigabytes per connection.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The request header a cell's heavy connections carry, with the spin
/// iterations they ask for; the runner configures every core to read it
/// (`[work] header`).
pub const WORK_HEADER: &str = "x-pb-work";

/// Most injected work a cell may ask for per request, spin iterations
/// (about a second): a typo cannot stall a core for minutes.
pub const MAX_WORK_ITERS: u64 = 1_000_000_000;

/// The header and value every request of a cell with a `filter` carries:
/// the token proxybench's gate filter lets through (its definition is in
/// `proxies/dynamic`; the driver sends it, it does not judge with it).
pub const FILTER_TOKEN: (&str, &str) = ("x-pb-token", "pb-open-sesame");

/// A scenario file that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or a field has the wrong type or name.
    #[error("{path}: field `{field}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Dotted path of the offending field (`.` for the whole file).
        field: String,
        /// What is wrong, with line and column where TOML gives them.
        message: String,
    },
    /// A field parsed but its value is out of range or unknown.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::Parse { field, .. } | ScenarioError::Invalid { field, .. } => {
                Some(field)
            }
        }
    }
}

/// Settings that apply to every cell of a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Measured trials per cell and core.
    #[serde(default = "defaults::trials")]
    pub trials: u32,
    /// Warm-up before each trial's measured window, seconds.
    #[serde(default = "defaults::warmup_s")]
    pub warmup_s: f64,
    /// Measured window per trial, seconds.
    #[serde(default = "defaults::duration_s")]
    pub duration_s: f64,
    /// Serving threads per core process.
    #[serde(default = "defaults::threads")]
    pub core_threads: usize,
    /// Driver threads.
    #[serde(default = "defaults::threads")]
    pub driver_threads: usize,
    /// Measured seconds per rate-search step.
    #[serde(default = "defaults::search_step_s")]
    pub search_step_s: f64,
    /// First rate a search tries, requests per second.
    #[serde(default = "defaults::search_start_rate")]
    pub search_start_rate: f64,
    /// Highest rate a search offers.
    #[serde(default = "defaults::search_max_rate")]
    pub search_max_rate: f64,
    /// Extra work per request in every core (gate calibration), spin
    /// iterations; 0 (the default) for none.
    #[serde(default)]
    pub core_spin_iters: u64,
    /// How CPUs are shared out when there are too few for every thread
    /// to have its own.
    #[serde(default)]
    pub cpu_plan: CpuPlanKind,
    /// Judge every trial as a soak (`pb_results::soak`): memory growth,
    /// descriptors and errors over the window's per-interval samples; a
    /// trial that fails the rules fails the run.
    #[serde(default)]
    pub soak: bool,
}

/// How a run shares CPUs between the core, the driver and the origins
/// when there are too few for one thread per CPU (with enough, every plan
/// is disjoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuPlanKind {
    /// The core keeps CPUs to itself (all but one at most); driver and
    /// origins share the rest. The default: the core is never disturbed.
    #[default]
    Split,
    /// The core gets a CPU per serving thread even if that is every CPU;
    /// driver and origins run on the last CPUs beside it. For experiments
    /// whose serving threads must run in parallel (work far heavier than
    /// the driver's).
    Overlap,
}

mod defaults {
    pub(crate) fn trials() -> u32 {
        3
    }
    pub(crate) fn warmup_s() -> f64 {
        1.0
    }
    pub(crate) fn duration_s() -> f64 {
        3.0
    }
    pub(crate) fn threads() -> usize {
        1
    }
    pub(crate) fn search_step_s() -> f64 {
        1.0
    }
    pub(crate) fn search_start_rate() -> f64 {
        1000.0
    }
    pub(crate) fn search_max_rate() -> f64 {
        2_000_000.0
    }
    pub(crate) fn connections() -> usize {
        50
    }
    pub(crate) fn in_flight() -> usize {
        1
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            trials: defaults::trials(),
            warmup_s: defaults::warmup_s(),
            duration_s: defaults::duration_s(),
            core_threads: defaults::threads(),
            driver_threads: defaults::threads(),
            search_step_s: defaults::search_step_s(),
            search_start_rate: defaults::search_start_rate(),
            search_max_rate: defaults::search_max_rate(),
            core_spin_iters: 0,
            cpu_plan: CpuPlanKind::Split,
            soak: false,
        }
    }
}

impl RunSettings {
    /// Warm-up as a duration.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_s)
    }

    /// Measured window as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_s)
    }
}

/// One value or a list of values; a list expands the cell.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    fn values(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(vs) => vs.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    run: RunSettings,
    /// Network profiles cells may name, besides the built-in ones.
    #[serde(default)]
    network: BTreeMap<String, NetworkSpec>,
    #[serde(rename = "cell")]
    cells: Vec<RawCell>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCell {
    scenario: String,
    #[serde(default)]
    cores: Option<Vec<String>>,
    #[serde(default)]
    message_bytes: Option<OneOrMany<usize>>,
    #[serde(default)]
    body_bytes: Option<OneOrMany<usize>>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    keep_alive: Option<bool>,
    #[serde(default)]
    origins: Option<usize>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default = "defaults::connections")]
    connections: usize,
    #[serde(default = "defaults::in_flight")]
    in_flight: usize,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    rate_search: Option<String>,
    #[serde(default)]
    driver: Option<OneOrMany<String>>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    work_call_iters: Option<u64>,
    #[serde(default)]
    heavy_every: Option<usize>,
    #[serde(default)]
    heavy_iters: Option<u64>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    network: Option<OneOrMany<String>>,
}

/// What an `http-forward` cell asks of the proxy and its origins.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpParams {
    /// `GET` (the origin sends the body) or `POST` (the client sends it,
    /// the origin echoes it).
    pub method: Method,
    /// Keep connections alive, or one connection per request.
    pub keep_alive: bool,
    /// Origin processes behind the proxy.
    pub origins: usize,
    /// How the proxy balances over them.
    pub policy: Policy,
    /// Work the proxies' middleware is told to do per request (the
    /// claims' experiments); `None` for a normal cell.
    pub work: Option<pb_results::WorkParams>,
    /// The dynamic filter the proxies run on every request head (the
    /// claims' experiments); `None` for a normal cell.
    pub filter: Option<pb_results::FilterParams>,
}

/// The load a cell puts on a core.
#[derive(Debug, Clone, PartialEq)]
pub struct CellParams {
    /// Bytes per echo message, or per HTTP body.
    pub message_bytes: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// Messages in flight per connection (1 = ping-pong); the most in
    /// flight in open loop.
    pub in_flight: usize,
    /// Open loop at this many requests per second in total; closed loop
    /// when absent.
    pub rate: Option<f64>,
    /// HTTP parameters (`http-forward` cells only).
    pub http: Option<HttpParams>,
    /// Upstreams of a `tcp-forward` cell (its origins echo).
    pub tcp: Option<TcpParams>,
    /// The driver's I/O model. A cell listing both (`driver = ["epoll",
    /// "io_uring"]`) runs each core under each, one cell per backend.
    pub driver: Backend,
    /// An external load client that drives the cell instead of
    /// proxybench's driver; `None` for proxybench's own.
    pub client: Option<ExternalClient>,
    /// The network path between driver, core and origins; `None` for
    /// loopback.
    pub network: Option<NetworkParams>,
}

/// The name of the network every cell runs on unless it names another.
pub const LOOPBACK: &str = "loopback";

/// The networks every scenario file may name without defining them:
/// `lan`, a data-centre LAN (0.1 ms each way on both links: 0.2 ms round
/// trips between neighbours), and `wan-origin`, a proxy near its clients
/// whose origins are far (the origin link 10 ms each way, a 20 ms round
/// trip, with 0.1 % loss).
pub fn builtin_network(name: &str) -> Option<NetworkSpec> {
    let lan = LinkSpec {
        delay_ms: 0.1,
        ..LinkSpec::default()
    };
    match name {
        "lan" => Some(NetworkSpec {
            client: lan,
            origin: lan,
        }),
        "wan-origin" => Some(NetworkSpec {
            client: lan,
            origin: LinkSpec {
                delay_ms: 10.0,
                loss_pct: 0.1,
                ..LinkSpec::default()
            },
        }),
        _ => None,
    }
}

/// The built-in networks' names, for messages.
pub const BUILTIN_NETWORKS: [&str; 2] = ["lan", "wan-origin"];

/// Each name of a list resolved, in order. An empty list, a name given
/// twice or one `resolve` refuses is an error; `default` names what
/// leaving the field out means.
fn resolve_all<T>(
    names: &[String],
    default: &str,
    resolve: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    if names.is_empty() {
        return Err(format!("list is empty; omit it for {default}"));
    }
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let resolved = resolve(name)?;
            if names[..j].contains(name) {
                return Err(format!("{name:?} is listed twice"));
            }
            Ok(resolved)
        })
        .collect()
}

/// The network `name` means given a file's own profiles: `None` for
/// loopback; an error listing every name it could have been.
fn resolve_network(
    own: &BTreeMap<String, NetworkSpec>,
    name: &str,
) -> Result<Option<NetworkParams>, String> {
    if name == LOOPBACK {
        return Ok(None);
    }
    match own.get(name).copied().or_else(|| builtin_network(name)) {
        Some(links) => Ok(Some(NetworkParams {
            name: name.to_owned(),
            links,
        })),
        None => {
            let mut known: Vec<&str> = vec![LOOPBACK];
            known.extend(BUILTIN_NETWORKS);
            known.extend(
                own.keys()
                    .map(String::as_str)
                    .filter(|n| !BUILTIN_NETWORKS.contains(n)),
            );
            Err(format!(
                "unknown network {name:?}; known: {}",
                known.join(", ")
            ))
        }
    }
}

/// A load client other than proxybench's driver, run as a program, whose
/// output a small parser reads. It checks status codes at most, never a
/// body: its cells are marked as having unverified responses. The core's
/// CPU, memory and counters are accounted by proxybench as for any cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalClient {
    /// wrk (HTTP/1.1, closed loop, one event loop per thread on epoll):
    /// the client most proxy benchmarks are published with.
    Wrk,
}

impl ExternalClient {
    /// Every external client, in a stable order.
    pub const ALL: [ExternalClient; 1] = [ExternalClient::Wrk];

    /// Its name in scenario files and results (`wrk`), which is also the
    /// program run.
    pub fn name(self) -> &'static str {
        match self {
            ExternalClient::Wrk => "wrk",
        }
    }

    /// The client called `name`.
    pub fn from_name(name: &str) -> Option<ExternalClient> {
        ExternalClient::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What a `tcp-forward` cell forwards to: echo origins, balanced per
/// connection.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpParams {
    /// Echo origin processes behind the proxy.
    pub origins: usize,
    /// How the proxy balances connections over them.
    pub policy: Policy,
}

/// One cell of the matrix: a scenario, its parameters and the cores to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// What the cores serve.
    pub scenario: Scenario,
    /// Cores to run; `None` means every registered core.
    pub cores: Option<Vec<String>>,
    /// Load parameters.
    pub params: CellParams,
    /// Search for the highest rate meeting this bound, after the trials.
    pub rate_search: Option<LatencyBound>,
    /// Where in the file the cell came from (`cell[2]`), for messages.
    pub origin: String,
}

impl Cell {
    /// Short stable label, e.g. `echo/100B/c50x1`.
    pub fn label(&self) -> String {
        let rate = self
            .params
            .rate
            .map_or(String::new(), |r| format!("@{r}rps"));
        let http = self
            .params
            .http
            .as_ref()
            .map_or(String::new(), |h| format!("{}/", h.method.name()));
        let close = match &self.params.http {
            Some(h) if !h.keep_alive => "/close",
            _ => "",
        };
        let work = match self.params.http.as_ref().and_then(|h| h.work.as_ref()) {
            Some(w) => {
                let call = if w.call_iters > 0 {
                    format!("/w{}", w.call_iters)
                } else {
                    String::new()
                };
                let heavy = if w.heavy_every > 0 {
                    format!("/h{}x{}", w.heavy_every, w.heavy_iters)
                } else {
                    String::new()
                };
                format!("{call}{heavy}")
            }
            None => String::new(),
        };
        let filter = match self.params.http.as_ref().and_then(|h| h.filter.as_ref()) {
            Some(f) => match &f.module {
                Some(module) => {
                    let stem = Path::new(module)
                        .file_stem()
                        .map_or(module.clone(), |s| s.to_string_lossy().into_owned());
                    format!("/f-{}-{stem}", f.engine)
                }
                None => format!("/f-{}", f.engine),
            },
            None => String::new(),
        };
        // epoll, the default, adds nothing: labels (and so cell ids,
        // which baselines are matched on) predate the second backend.
        let driver = match (self.params.client, self.params.driver) {
            (Some(client), _) => format!("/{}", client.name()),
            (None, Backend::Epoll) => String::new(),
            (None, other) => format!("/{other}"),
        };
        // Loopback, the default, adds nothing, for the same reason.
        let network = self
            .params
            .network
            .as_ref()
            .map_or(String::new(), |n| format!("/net-{}", n.name));
        format!(
            "{}/{http}{}B/c{}x{}{close}{work}{filter}{driver}{rate}{network}",
            self.scenario.name(),
            self.params.message_bytes,
            self.params.connections,
            self.params.in_flight
        )
    }

    /// The id of this cell's results for `core`: what merge, gate and
    /// report match cells on. Every producer of results (`run`, `load`)
    /// takes it from here.
    pub fn id(&self, core: &str) -> String {
        format!("{}/{core}", self.label())
    }

    /// The parameters recorded with this cell's results.
    pub fn results_params(&self, run: &RunSettings) -> pb_results::CellParams {
        let p = &self.params;
        pb_results::CellParams {
            mode: if p.rate.is_some() { "open" } else { "closed" }.into(),
            rate: p.rate,
            message_bytes: p.message_bytes,
            connections: p.connections,
            in_flight: p.in_flight,
            warmup_s: run.warmup_s,
            duration_s: run.duration_s,
            trials: run.trials,
            core_threads: run.core_threads,
            driver_threads: run.driver_threads,
            driver: p.driver.name().into(),
            client: p.client.map(|c| c.name().to_owned()),
            core_spin_iters: run.core_spin_iters,
            http: p.http.as_ref().map(|h| pb_results::HttpCellParams {
                method: h.method.name().into(),
                keep_alive: h.keep_alive,
                origins: h.origins,
                policy: h.policy.name().into(),
                work: h.work.clone(),
                filter: h.filter.clone(),
            }),
            tcp: p.tcp.as_ref().map(|t| pb_results::TcpCellParams {
                origins: t.origins,
                policy: t.policy.name().into(),
            }),
            network: p.network.clone(),
        }
    }

    /// This cell's results for `core` before anything ran: status ok, no
    /// trials.
    pub fn results_cell(&self, core: &str, run: &RunSettings) -> pb_results::Cell {
        pb_results::Cell {
            id: self.id(core),
            scenario: self.scenario.name().to_owned(),
            core: core.to_owned(),
            status: pb_results::CellStatus::Ok,
            reason: None,
            params: self.results_params(run),
            trials: Vec::new(),
            rate_search: None,
            core_exit: None,
            conformance_failures: Vec::new(),
            program_config: None,
            network: None,
            summary: None,
        }
    }

    /// What the driver runs for one trial of this cell against `target`.
    pub fn load_spec(
        &self,
        run: &RunSettings,
        target: SocketAddr,
        driver_cpus: Option<CpuSet>,
    ) -> LoadSpec {
        let p = &self.params;
        let base = match p.rate {
            Some(rate) => LoadSpec::open_echo(
                target,
                p.message_bytes,
                rate,
                p.connections,
                p.in_flight,
                run.warmup(),
                run.duration(),
            ),
            None => LoadSpec::closed_echo(
                target,
                p.message_bytes,
                p.connections,
                p.in_flight,
                run.warmup(),
                run.duration(),
            ),
        };
        let workload = match &p.http {
            Some(h) => Workload::Http(HttpWorkload {
                method: h.method,
                keep_alive: h.keep_alive,
                heavy: h
                    .work
                    .as_ref()
                    .filter(|w| w.heavy_every > 0)
                    .map(|w| Heavy {
                        every: w.heavy_every,
                        header: (WORK_HEADER.to_owned(), w.heavy_iters.to_string()),
                    }),
                headers: h
                    .filter
                    .iter()
                    .map(|_| (FILTER_TOKEN.0.to_owned(), FILTER_TOKEN.1.to_owned()))
                    .collect(),
                ..HttpWorkload::get(p.message_bytes)
            }),
            None => base.workload.clone(),
        };
        LoadSpec {
            threads: run.driver_threads,
            backend: p.driver,
            cpus: driver_cpus,
            workload,
            ..base
        }
    }
}

/// A loaded, checked scenario file with its cells expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFile {
    /// Where it came from (a path, or [`DEFAULT_NAME`]).
    pub source: String,
    /// The file's `name`.
    pub name: String,
    /// The file's `description`.
    pub description: String,
    /// Settings for every cell.
    pub run: RunSettings,
    /// The expanded matrix, in file order.
    pub cells: Vec<Cell>,
    /// The network profiles the file defines (`[network.NAME]`), besides
    /// the built-in ones.
    pub networks: BTreeMap<String, NetworkSpec>,
}

impl fmt::Display for ScenarioFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} cells, from {})",
            self.name,
            self.cells.len(),
            self.source
        )
    }
}

impl ScenarioFile {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        ScenarioFile::parse(&text, path)
    }

    /// The built-in default matrix.
    pub fn builtin_default() -> ScenarioFile {
        ScenarioFile::parse(DEFAULT_TOML, Path::new(DEFAULT_NAME))
            .expect("the built-in scenario file is checked by a test")
    }

    /// Parses and checks scenario text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let parse_error = |field: String, message: String| ScenarioError::Parse {
            path: path.to_owned(),
            field,
            message,
        };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| parse_error(".".into(), e.to_string()))?;
        let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            parse_error(field, e.into_inner().message().trim().to_owned())
        })?;
        let invalid = |field: String, message: String| ScenarioError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        check_run(&raw.run).map_err(|(field, message)| invalid(format!("run.{field}"), message))?;
        for (name, spec) in &raw.network {
            if name == LOOPBACK
                || name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(invalid(
                    format!("network.{name}"),
                    format!(
                        "{name:?} cannot name a network: use letters, digits and '-', and not {LOOPBACK:?} (no links at all)"
                    ),
                ));
            }
            spec.check()
                .map_err(|m| invalid(format!("network.{name}"), m))?;
        }
        if raw.cells.is_empty() {
            return Err(invalid(
                "cell".into(),
                "at least one [[cell]] is required".into(),
            ));
        }
        let mut cells = Vec::new();
        for (i, raw_cell) in raw.cells.iter().enumerate() {
            let at = |field: &str| format!("cell[{i}].{field}");
            let scenario = Scenario::from_name(&raw_cell.scenario).ok_or_else(|| {
                let known: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                invalid(
                    at("scenario"),
                    format!(
                        "unknown scenario {:?}; known: {}",
                        raw_cell.scenario,
                        known.join(", ")
                    ),
                )
            })?;
            if let Some(cores) = &raw_cell.cores
                && cores.is_empty()
            {
                return Err(invalid(
                    at("cores"),
                    "list is empty; omit it to run every core".into(),
                ));
            }
            check_range(raw_cell.connections, 1, 100_000)
                .map_err(|m| invalid(at("connections"), m))?;
            check_range(raw_cell.in_flight, 1, 4096).map_err(|m| invalid(at("in_flight"), m))?;
            if let Some(rate) = raw_cell.rate
                && !(rate.is_finite() && rate > 0.0 && rate <= 1e9)
            {
                return Err(invalid(
                    at("rate"),
                    format!("{rate} is not a rate in (0, 1e9] requests per second"),
                ));
            }
            let rate_search = match &raw_cell.rate_search {
                Some(text) => Some(
                    text.parse::<LatencyBound>()
                        .map_err(|m| invalid(at("rate_search"), m))?,
                ),
                None => None,
            };
            let echo_sizes = || -> Result<Vec<usize>, ScenarioError> {
                let sizes = raw_cell
                    .message_bytes
                    .as_ref()
                    .ok_or_else(|| {
                        invalid(
                            at("message_bytes"),
                            format!("{} cells need a message size", scenario.name()),
                        )
                    })?
                    .values();
                for &size in &sizes {
                    check_range(size, 1, MAX_MESSAGE_BYTES)
                        .map_err(|m| invalid(at("message_bytes"), m))?;
                }
                Ok(sizes)
            };
            let only_http = [
                ("body_bytes", raw_cell.body_bytes.is_some()),
                ("method", raw_cell.method.is_some()),
                ("keep_alive", raw_cell.keep_alive.is_some()),
                ("work_call_iters", raw_cell.work_call_iters.is_some()),
                ("heavy_every", raw_cell.heavy_every.is_some()),
                ("heavy_iters", raw_cell.heavy_iters.is_some()),
                ("filter", raw_cell.filter.is_some()),
            ];
            let refuse = |fields: &[(&'static str, bool)], which: &str| match fields
                .iter()
                .find(|(_, given)| *given)
            {
                Some((field, _)) => Err(invalid(at(field), format!("only {which} take this"))),
                None => Ok(()),
            };
            let (sizes, http, tcp) = match scenario {
                Scenario::Echo => {
                    refuse(&only_http, "http-forward cells")?;
                    refuse(
                        &[
                            ("origins", raw_cell.origins.is_some()),
                            ("policy", raw_cell.policy.is_some()),
                        ],
                        "forwarding cells",
                    )?;
                    (echo_sizes()?, None, None)
                }
                Scenario::TcpForward => {
                    refuse(&only_http, "http-forward cells")?;
                    let origins = raw_cell.origins.unwrap_or(1);
                    check_range(origins, 1, 64).map_err(|m| invalid(at("origins"), m))?;
                    let policy = cell_policy(raw_cell).map_err(|m| invalid(at("policy"), m))?;
                    (echo_sizes()?, None, Some(TcpParams { origins, policy }))
                }
                Scenario::HttpForward => {
                    if raw_cell.message_bytes.is_some() {
                        return Err(invalid(
                            at("message_bytes"),
                            "http-forward cells size bodies with body_bytes".into(),
                        ));
                    }
                    let sizes = raw_cell
                        .body_bytes
                        .as_ref()
                        .map_or(vec![0], OneOrMany::values);
                    for &size in &sizes {
                        check_range(size, 0, MAX_MESSAGE_BYTES)
                            .map_err(|m| invalid(at("body_bytes"), m))?;
                    }
                    let method = match raw_cell.method.as_deref().unwrap_or("GET") {
                        "GET" => Method::Get,
                        "POST" => Method::Post,
                        other => {
                            return Err(invalid(
                                at("method"),
                                format!("{other:?} is not GET or POST"),
                            ));
                        }
                    };
                    let origins = raw_cell.origins.unwrap_or(3);
                    check_range(origins, 1, 64).map_err(|m| invalid(at("origins"), m))?;
                    let policy = cell_policy(raw_cell).map_err(|m| invalid(at("policy"), m))?;
                    let work = cell_work(raw_cell).map_err(|(field, m)| invalid(at(field), m))?;
                    let filter = raw_cell
                        .filter
                        .as_deref()
                        .map(cell_filter)
                        .transpose()
                        .map_err(|m| invalid(at("filter"), m))?;
                    let http = HttpParams {
                        method,
                        keep_alive: raw_cell.keep_alive.unwrap_or(true),
                        origins,
                        policy,
                        work,
                        filter,
                    };
                    (sizes, Some(http), None)
                }
            };
            let drivers = match &raw_cell.driver {
                None => vec![Backend::Epoll],
                Some(names) => resolve_all(&names.values(), "epoll", |name| {
                    Backend::from_name(name).ok_or_else(|| {
                        let known: Vec<_> = Backend::ALL.iter().map(|b| b.name()).collect();
                        format!("unknown driver {name:?}; known: {}", known.join(", "))
                    })
                })
                .map_err(|m| invalid(at("driver"), m))?,
            };
            let client = match raw_cell.client.as_deref() {
                None => None,
                Some(name) => {
                    let client = ExternalClient::from_name(name).ok_or_else(|| {
                        let known: Vec<_> = ExternalClient::ALL.iter().map(|c| c.name()).collect();
                        invalid(
                            at("client"),
                            format!("unknown client {name:?}; known: {}", known.join(", ")),
                        )
                    })?;
                    if http.is_none() {
                        return Err(invalid(
                            at("client"),
                            format!("{name} speaks HTTP: only http-forward cells take a client"),
                        ));
                    }
                    if raw_cell.rate.is_some() || raw_cell.rate_search.is_some() {
                        return Err(invalid(
                            at("client"),
                            format!(
                                "{name} runs closed loop: a cell with a client takes no rate or rate_search"
                            ),
                        ));
                    }
                    if raw_cell.in_flight != 1 {
                        return Err(invalid(
                            at("client"),
                            format!(
                                "{name} sends one request at a time per connection: a cell with a client takes in_flight = 1"
                            ),
                        ));
                    }
                    if raw_cell.driver.is_some() {
                        return Err(invalid(
                            at("client"),
                            "a client replaces proxybench's driver: give driver or client, not both"
                                .into(),
                        ));
                    }
                    if http
                        .as_ref()
                        .is_some_and(|h| h.work.is_some() || h.filter.is_some())
                    {
                        return Err(invalid(
                            at("client"),
                            format!(
                                "{name} cannot send the work or filter headers those cells need"
                            ),
                        ));
                    }
                    Some(client)
                }
            };
            let networks = match &raw_cell.network {
                None => vec![None],
                Some(names) => resolve_all(&names.values(), LOOPBACK, |name| {
                    resolve_network(&raw.network, name)
                })
                .map_err(|m| invalid(at("network"), m))?,
            };
            if sizes.is_empty() {
                let field = if http.is_some() {
                    "body_bytes"
                } else {
                    "message_bytes"
                };
                return Err(invalid(at(field), "list is empty".into()));
            }
            for network in &networks {
                for &size in &sizes {
                    for &driver in &drivers {
                        cells.push(Cell {
                            scenario,
                            cores: raw_cell.cores.clone(),
                            params: CellParams {
                                message_bytes: size,
                                connections: raw_cell.connections,
                                in_flight: raw_cell.in_flight,
                                rate: raw_cell.rate,
                                http: http.clone(),
                                tcp: tcp.clone(),
                                driver,
                                client,
                                network: network.clone(),
                            },
                            rate_search,
                            origin: format!("cell[{i}]"),
                        });
                    }
                }
            }
        }
        Ok(ScenarioFile {
            source: path.display().to_string(),
            name: raw.name,
            description: raw.description,
            run: raw.run,
            cells,
            networks: raw.network,
        })
    }

    /// The network a cell naming `name` runs across in this file: `None`
    /// for loopback, the file's own profile or a built-in one; an error
    /// that lists the known names otherwise.
    pub fn network(&self, name: &str) -> Result<Option<NetworkParams>, String> {
        resolve_network(&self.networks, name)
    }

    /// Each of `names` as [`ScenarioFile::network`] resolves it; an empty
    /// list or a name given twice is an error too.
    pub fn networks(&self, names: &[String]) -> Result<Vec<Option<NetworkParams>>, String> {
        resolve_all(names, LOOPBACK, |name| self.network(name))
    }

    /// Checks that every core a cell names is one of `known`; the error
    /// names the field (`cell[0].cores[2]`).
    pub fn check_cores(&self, known: &[&str]) -> Result<(), ScenarioError> {
        for cell in &self.cells {
            for (j, core) in cell.cores.iter().flatten().enumerate() {
                // `direct` drives the origin with no proxy: a baseline, not a core.
                let direct = core == DIRECT && cell.scenario != Scenario::Echo;
                if !direct && !known.contains(&core.as_str()) {
                    return Err(ScenarioError::Invalid {
                        path: PathBuf::from(&self.source),
                        field: format!("{}.cores[{j}]", cell.origin),
                        message: format!("unknown core {core:?}; known: {}", known.join(", ")),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The injected work a cell asks for: none unless a work field is given;
/// a heavy share needs both its fields.
fn cell_work(cell: &RawCell) -> Result<Option<pb_results::WorkParams>, (&'static str, String)> {
    let call_iters = cell.work_call_iters.unwrap_or(0);
    if call_iters > MAX_WORK_ITERS {
        return Err((
            "work_call_iters",
            format!("{call_iters} is above the {MAX_WORK_ITERS} iterations a request may cost"),
        ));
    }
    let (heavy_every, heavy_iters) = match (cell.heavy_every, cell.heavy_iters) {
        (None, None) => (0, 0),
        (Some(every), Some(iters)) => {
            check_range(every, 2, 100_000).map_err(|m| ("heavy_every", m))?;
            if !(1..=MAX_WORK_ITERS).contains(&iters) {
                return Err((
                    "heavy_iters",
                    format!("{iters} is out of range 1..={MAX_WORK_ITERS}"),
                ));
            }
            (every, iters)
        }
        (Some(_), None) => {
            return Err(("heavy_iters", "heavy_every needs heavy_iters too".into()));
        }
        (None, Some(_)) => {
            return Err(("heavy_every", "heavy_iters needs heavy_every too".into()));
        }
    };
    let given = cell.work_call_iters.is_some() || heavy_every > 0;
    Ok(given.then_some(pb_results::WorkParams {
        call_iters,
        heavy_every,
        heavy_iters,
    }))
}

/// A forwarding cell's balancing policy (round-robin unless named).
fn cell_policy(cell: &RawCell) -> Result<Policy, String> {
    let name = cell.policy.as_deref().unwrap_or("round-robin");
    Policy::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Policy::ALL.iter().map(|(n, _)| *n).collect();
        format!("unknown policy {name:?}; known: {}", known.join(", "))
    })
}

/// A cell's `filter`: an engine's name, and for the engines that run a
/// module, optionally `:PATH` to a module of the user's (relative to the
/// directory proxybench runs in).
fn cell_filter(text: &str) -> Result<pb_results::FilterParams, String> {
    let (name, module) = match text.split_once(':') {
        Some((name, module)) => (name, Some(module)),
        None => (text, None),
    };
    let known = || {
        DynamicEngine::ALL
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let engine = DynamicEngine::from_name(name)
        .ok_or_else(|| format!("unknown filter engine {name:?}; known: {}", known()))?;
    match module {
        Some("") => Err(format!("{text:?} names an empty module path")),
        Some(_) if !engine.takes_module() => Err(format!(
            "the {name} filter runs no module; write {name:?} alone"
        )),
        _ => Ok(pb_results::FilterParams {
            engine: engine.name().to_owned(),
            module: module.map(str::to_owned),
        }),
    }
}

fn check_run(run: &RunSettings) -> Result<(), (&'static str, String)> {
    check_range(run.trials as usize, 1, 1000).map_err(|m| ("trials", m))?;
    check_seconds(run.warmup_s, 0.0).map_err(|m| ("warmup_s", m))?;
    check_seconds(run.duration_s, 0.05).map_err(|m| ("duration_s", m))?;
    check_range(run.core_threads, 1, 4096).map_err(|m| ("core_threads", m))?;
    check_range(run.driver_threads, 1, 4096).map_err(|m| ("driver_threads", m))?;
    check_seconds(run.search_step_s, 0.05).map_err(|m| ("search_step_s", m))?;
    for (name, rate) in [
        ("search_start_rate", run.search_start_rate),
        ("search_max_rate", run.search_max_rate),
    ] {
        if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
            return Err((
                name,
                format!("{rate} is not a rate in (0, 1e9] requests per second"),
            ));
        }
    }
    Ok(())
}

fn check_range(value: usize, min: usize, max: usize) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{value} is out of range {min}..={max}"))
    }
}

fn check_seconds(value: f64, min: f64) -> Result<(), String> {
    if value.is_finite() && (min..=3600.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{value} s is out of range {min}..=3600 s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        ScenarioFile::parse(text, Path::new("scenarios/x.toml"))
    }

    #[test]
    fn builtin_default_is_echo_at_two_sizes_and_a_fixed_rate_then_http_and_tcp_forwarding() {
        let file = ScenarioFile::builtin_default();
        let labels: Vec<_> = file.cells.iter().map(Cell::label).collect();
        assert_eq!(
            labels,
            [
                "echo/100B/c50x1",
                "echo/1024B/c50x1",
                "echo/100B/c50x1@20000rps",
                "http-forward/GET/100B/c50x1",
                "tcp-forward/100B/c50x1"
            ]
        );
        assert_eq!(file.cells[2].params.rate, Some(20_000.0));
        let mission = ["tokio-tower", "monoio", "glommio"];
        let isolating = ["tokio-tpc/tower-buffer", "tokio-tpc/borrowing"];
        for cell in &file.cells[..2] {
            assert_eq!(cell.scenario, Scenario::Echo);
            assert_eq!(cell.cores.as_deref().unwrap(), mission);
        }
        // The fixed-rate cell adds the grid cores that isolate the
        // headline factors.
        assert_eq!(
            file.cells[2].cores.as_deref().unwrap(),
            [&mission[..], &isolating[..]].concat()
        );
        let http = &file.cells[3];
        assert_eq!(
            http.cores.as_deref().unwrap(),
            [&mission[..], &isolating[..], &[DIRECT]].concat()
        );
        let params = http.params.http.as_ref().unwrap();
        assert_eq!(
            (params.origins, params.policy, params.keep_alive),
            (3, Policy::RoundRobin, true)
        );
        // The floor under the HTTP cost: the mission cores and `direct`.
        let tcp = &file.cells[4];
        assert_eq!(tcp.scenario, Scenario::TcpForward);
        assert_eq!(
            tcp.cores.as_deref().unwrap(),
            [&mission[..], &[DIRECT]].concat()
        );
    }

    #[test]
    fn list_values_expand_and_defaults_apply() {
        let file =
            parse("name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = [1, 2, 3]\n")
                .unwrap();
        assert_eq!(file.cells.len(), 3);
        assert_eq!(file.run, RunSettings::default());
        assert_eq!(file.cells[2].params.message_bytes, 3);
        assert_eq!(file.cells[0].params.connections, 50);
        assert_eq!(file.cells[0].label(), "echo/1B/c50x1");
    }

    #[test]
    fn every_committed_scenario_file_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let mut parsed = Vec::new();
        for dir in [root.clone(), root.join("claims")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                // The ledger lists claims; it is no scenario.
                if path.extension().is_some_and(|e| e == "toml")
                    && path.file_name().is_some_and(|n| n != "ledger.toml")
                {
                    let file = ScenarioFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                    assert!(!file.cells.is_empty(), "{}", path.display());
                    parsed.push(file.name);
                }
            }
        }
        assert!(parsed.iter().any(|n| n == "driver-io"), "{parsed:?}");
        assert!(parsed.len() >= 10, "{parsed:?}");
    }

    #[test]
    fn a_cell_listing_both_drivers_runs_each_and_says_which() {
        let file = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = [100, 1024]\nrate = 5000.0\ndriver = [\"epoll\", \"io_uring\"]\n",
        )
        .unwrap();
        let labels: Vec<_> = file.cells.iter().map(Cell::label).collect();
        // epoll keeps the label cells had before there was a choice.
        assert_eq!(
            labels,
            [
                "echo/100B/c50x1@5000rps",
                "echo/100B/c50x1/io_uring@5000rps",
                "echo/1024B/c50x1@5000rps",
                "echo/1024B/c50x1/io_uring@5000rps"
            ]
        );
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let uring = &file.cells[1];
        assert_eq!(
            uring.load_spec(&file.run, addr, None).backend,
            Backend::IoUring
        );
        assert_eq!(uring.results_params(&file.run).driver, "io_uring");
        assert_eq!(file.cells[0].results_params(&file.run).driver, "epoll");
        // Without the field: epoll.
        let plain =
            parse("name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\n").unwrap();
        assert_eq!(plain.cells[0].params.driver, Backend::Epoll);
    }

    #[test]
    fn a_client_cell_is_http_closed_loop_one_in_flight_and_labelled() {
        let http = "name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\nbody_bytes = 100\n";
        let file = parse(&format!("{http}client = \"wrk\"\n")).unwrap();
        let cell = &file.cells[0];
        assert_eq!(cell.label(), "http-forward/GET/100B/c50x1/wrk");
        assert_eq!(cell.params.client, Some(ExternalClient::Wrk));
        assert_eq!(
            cell.results_params(&file.run).client.as_deref(),
            Some("wrk")
        );
        for (extra, says) in [
            ("client = \"ab\"\n", "unknown client \"ab\"; known: wrk"),
            ("client = \"wrk\"\nrate = 100.0\n", "no rate"),
            ("client = \"wrk\"\nin_flight = 2\n", "in_flight = 1"),
            ("client = \"wrk\"\ndriver = \"io_uring\"\n", "not both"),
        ] {
            let err = parse(&format!("{http}{extra}")).unwrap_err().to_string();
            assert!(
                err.contains("cell[0].client") && err.contains(says),
                "{extra}: {err}"
            );
        }
        let echo =
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\nclient = \"wrk\"\n";
        assert!(
            parse(echo)
                .unwrap_err()
                .to_string()
                .contains("only http-forward cells")
        );
    }

    #[test]
    fn a_cell_names_networks_built_in_or_its_files_own_and_loopback_adds_nothing() {
        let file = parse(
            "name = \"t\"\n[network.metro]\norigin = { delay_ms = 2.0, rate_mbit = 1000.0 }\n[[cell]]\nscenario = \"http-forward\"\nbody_bytes = 100\nnetwork = [\"loopback\", \"lan\", \"wan-origin\", \"metro\"]\n",
        )
        .unwrap();
        let labels: Vec<_> = file.cells.iter().map(Cell::label).collect();
        assert_eq!(
            labels,
            [
                "http-forward/GET/100B/c50x1",
                "http-forward/GET/100B/c50x1/net-lan",
                "http-forward/GET/100B/c50x1/net-wan-origin",
                "http-forward/GET/100B/c50x1/net-metro"
            ]
        );
        assert_eq!(file.cells[0].params.network, None);
        assert_eq!(file.cells[0].results_params(&file.run).network, None);
        let wan = file.cells[2].results_params(&file.run).network.unwrap();
        assert_eq!(wan.name, "wan-origin");
        assert_eq!(
            (wan.links.origin.delay_ms, wan.links.origin.loss_pct),
            (10.0, 0.1)
        );
        assert_eq!(wan.links.client.delay_ms, 0.1);
        let metro = file.cells[3].params.network.as_ref().unwrap();
        assert_eq!(metro.links.origin.rate_mbit, Some(1000.0));
        assert!(metro.links.client.is_plain());
    }

    #[test]
    fn a_bad_network_names_the_field() {
        let cell = "[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\n";
        for (text, field, says) in [
            (
                format!("{cell}network = \"moon\"\n"),
                "cell[0].network",
                "unknown network \"moon\"; known: loopback, lan, wan-origin",
            ),
            (
                format!("{cell}network = [\"lan\", \"lan\"]\n"),
                "cell[0].network",
                "listed twice",
            ),
            (
                format!("{cell}network = []\n"),
                "cell[0].network",
                "list is empty",
            ),
            (
                format!("[network.far]\norigin = {{ loss_pct = 100.0 }}\n{cell}"),
                "network.far",
                "origin link: loss_pct",
            ),
            (
                format!("[network.loopback]\n{cell}"),
                "network.loopback",
                "cannot name a network",
            ),
            (
                format!("[network.x]\norigin = {{ delay = 1.0 }}\n{cell}"),
                "network.x.origin",
                "unknown field `delay`",
            ),
        ] {
            let err = parse(&format!("name = \"t\"\n{text}")).unwrap_err();
            let shown = err.to_string();
            // (serde may name the unknown key itself after the table.)
            assert!(
                err.field().is_some_and(|f| f.starts_with(field)),
                "{text}: {shown}"
            );
            assert!(shown.contains(says), "{text}: {shown}");
        }
    }

    #[test]
    fn an_unknown_or_repeated_driver_names_the_field() {
        for (value, says) in [
            (
                "\"kqueue\"",
                "unknown driver \"kqueue\"; known: epoll, io_uring",
            ),
            ("[\"io_uring\", \"io_uring\"]", "listed twice"),
            ("[]", "list is empty"),
        ] {
            let err = parse(&format!(
                "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\ndriver = {value}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("cell[0].driver") && err.contains(says),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn wrong_type_names_file_and_field() {
        let err = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 100\nconnections = \"many\"\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.field(), Some("cell[0].connections"), "{text}");
        assert!(
            text.starts_with("scenarios/x.toml: field `cell[0].connections`"),
            "{text}"
        );
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let err = parse(
            "name = \"t\"\n[run]\ntrails = 3\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("trails"), "{err}");
        assert!(err.field().unwrap().starts_with("run"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let cases = [
            ("[run]\ntrials = 0\n", "run.trials"),
            ("[run]\nduration_s = -1.0\n", "run.duration_s"),
        ];
        for (run, field) in cases {
            let text =
                format!("name = \"t\"\n{run}[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\n");
            assert_eq!(parse(&text).unwrap_err().field(), Some(field));
        }
        let err = parse("name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = [10, 0]\n")
            .unwrap_err();
        assert_eq!(err.field(), Some("cell[0].message_bytes"));
        let err =
            parse("name = \"t\"\n[[cell]]\nscenario = \"ftp\"\nmessage_bytes = 1\n").unwrap_err();
        assert_eq!(err.field(), Some("cell[0].scenario"));
        assert!(err.to_string().contains("known: echo"));
    }

    #[test]
    fn malformed_toml_is_a_parse_error_with_position() {
        let err = parse("name = \n").unwrap_err();
        assert!(matches!(err, ScenarioError::Parse { .. }));
        assert!(err.to_string().contains("scenarios/x.toml"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn open_loop_and_rate_search_cells() {
        let file = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 100\nrate = 5000.0\nrate_search = \"p99<=2ms\"\n",
        )
        .unwrap();
        let cell = &file.cells[0];
        assert_eq!(cell.params.rate, Some(5000.0));
        assert_eq!(cell.label(), "echo/100B/c50x1@5000rps");
        assert_eq!(cell.rate_search.unwrap().bound, Duration::from_millis(2));
        let err = parse("name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\nrate_search = \"p99\"\n")
            .unwrap_err();
        assert_eq!(err.field(), Some("cell[0].rate_search"));
        let err =
            parse("name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\nrate = -3.0\n")
                .unwrap_err();
        assert_eq!(err.field(), Some("cell[0].rate"));
    }

    #[test]
    fn tcp_forward_cells_size_messages_and_name_their_origins() {
        let file = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"tcp-forward\"\nmessage_bytes = [100, 4096]\norigins = 2\npolicy = \"p2c\"\ncores = [\"monoio\", \"direct\"]\n",
        )
        .unwrap();
        assert_eq!(file.cells.len(), 2);
        let cell = &file.cells[1];
        assert_eq!(cell.label(), "tcp-forward/4096B/c50x1");
        assert_eq!(
            cell.params.tcp,
            Some(TcpParams {
                origins: 2,
                policy: Policy::P2c
            })
        );
        assert!(cell.params.http.is_none());
        let results = cell.results_params(&file.run);
        let tcp = results.tcp.unwrap();
        assert_eq!((tcp.origins, tcp.policy.as_str()), (2, "p2c"));
        let spec = cell.load_spec(&file.run, "127.0.0.1:1".parse().unwrap(), None);
        assert!(
            matches!(spec.workload, Workload::Echo { .. }),
            "the driver sends echo messages through the tunnel: {:?}",
            spec.workload
        );
        file.check_cores(&["monoio"]).unwrap();
        let defaults =
            parse("name = \"t\"\n[[cell]]\nscenario = \"tcp-forward\"\nmessage_bytes = 1\n")
                .unwrap();
        assert_eq!(
            defaults.cells[0].params.tcp,
            Some(TcpParams {
                origins: 1,
                policy: Policy::RoundRobin
            })
        );
        for (fields, field) in [
            ("message_bytes = 1\nbody_bytes = 1\n", "cell[0].body_bytes"),
            ("message_bytes = 1\nfilter = \"native\"\n", "cell[0].filter"),
            ("message_bytes = 1\norigins = 0\n", "cell[0].origins"),
            (
                "message_bytes = 1\npolicy = \"fastest\"\n",
                "cell[0].policy",
            ),
            ("origins = 1\n", "cell[0].message_bytes"),
        ] {
            let text = format!("name = \"t\"\n[[cell]]\nscenario = \"tcp-forward\"\n{fields}");
            assert_eq!(parse(&text).unwrap_err().field(), Some(field), "{fields}");
        }
    }

    #[test]
    fn filter_cells_name_their_engine_and_carry_the_token() {
        let cell_with = |filter: &str| {
            format!("name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\nfilter = \"{filter}\"\n")
        };
        let file = parse(&cell_with("wasmtime:mods/gate.wat")).unwrap();
        let cell = &file.cells[0];
        assert_eq!(cell.label(), "http-forward/GET/0B/c50x1/f-wasmtime-gate");
        let filter = cell.params.http.as_ref().unwrap().filter.clone().unwrap();
        assert_eq!(filter.engine, "wasmtime");
        assert_eq!(filter.module.as_deref(), Some("mods/gate.wat"));
        assert_eq!(
            cell.results_params(&file.run).http.unwrap().filter,
            Some(filter)
        );
        let spec = cell.load_spec(&file.run, "127.0.0.1:1".parse().unwrap(), None);
        let Workload::Http(http) = spec.workload else {
            panic!("an http cell loads http")
        };
        assert_eq!(
            http.headers,
            [(FILTER_TOKEN.0.to_owned(), FILTER_TOKEN.1.to_owned())]
        );
        let ipc = parse(&cell_with("ipc")).unwrap();
        assert_eq!(ipc.cells[0].label(), "http-forward/GET/0B/c50x1/f-ipc");
        // Without a filter no token is sent.
        let plain = parse("name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\n").unwrap();
        let Workload::Http(http) = plain.cells[0]
            .load_spec(&plain.run, "127.0.0.1:1".parse().unwrap(), None)
            .workload
        else {
            panic!("an http cell loads http")
        };
        assert!(http.headers.is_empty());
        for (filter, says) in [
            (
                "lua",
                "unknown filter engine \"lua\"; known: native, wasmtime, wasmi, rhai, ipc",
            ),
            ("native:x.wat", "the native filter runs no module"),
            ("ipc:x", "the ipc filter runs no module"),
            ("rhai:", "names an empty module path"),
        ] {
            let error = parse(&cell_with(filter)).unwrap_err();
            assert_eq!(error.field(), Some("cell[0].filter"), "{filter}");
            assert!(error.to_string().contains(says), "{error}");
        }
        let echo =
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\nfilter = \"native\"\n";
        assert_eq!(parse(echo).unwrap_err().field(), Some("cell[0].filter"));
    }

    #[test]
    fn work_cells_label_configure_and_load_their_heavy_share() {
        let file = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\nwork_call_iters = 500\nheavy_every = 10\nheavy_iters = 20000\nrate = 1000.0\n",
        )
        .unwrap();
        let cell = &file.cells[0];
        assert_eq!(
            cell.label(),
            "http-forward/GET/0B/c50x1/w500/h10x20000@1000rps"
        );
        let work = cell.params.http.as_ref().unwrap().work.clone().unwrap();
        assert_eq!(
            (work.call_iters, work.heavy_every, work.heavy_iters),
            (500, 10, 20_000)
        );
        let spec = cell.load_spec(&file.run, "127.0.0.1:1".parse().unwrap(), None);
        let Workload::Http(http) = spec.workload else {
            panic!("an http cell loads http")
        };
        let heavy = http.heavy.unwrap();
        assert_eq!(heavy.every, 10);
        assert_eq!(heavy.header, (WORK_HEADER.to_owned(), "20000".to_owned()));
        assert_eq!(
            cell.results_params(&file.run).http.unwrap().work,
            Some(work)
        );
        let errors = [
            ("heavy_every = 10\n", "cell[0].heavy_iters"),
            ("heavy_iters = 10\n", "cell[0].heavy_every"),
            ("heavy_every = 1\nheavy_iters = 10\n", "cell[0].heavy_every"),
            ("work_call_iters = 2000000000\n", "cell[0].work_call_iters"),
        ];
        for (fields, field) in errors {
            let text = format!("name = \"t\"\n[[cell]]\nscenario = \"http-forward\"\n{fields}");
            assert_eq!(parse(&text).unwrap_err().field(), Some(field), "{fields}");
        }
        let echo =
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\nheavy_every = 3\n";
        assert_eq!(
            parse(echo).unwrap_err().field(),
            Some("cell[0].heavy_every")
        );
    }

    #[test]
    fn unknown_core_names_the_list_entry() {
        let file = parse(
            "name = \"t\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\ncores = [\"a\", \"zz\"]\n",
        )
        .unwrap();
        let err = file.check_cores(&["a", "b"]).unwrap_err();
        assert_eq!(err.field(), Some("cell[0].cores[1]"));
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.toml");
        let err = ScenarioFile::load(&path).unwrap_err();
        assert!(err.to_string().contains("nope.toml"));
    }
}
