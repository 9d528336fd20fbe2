//! The forwarding configuration every core reads at start: pools of
//! upstreams with a balancing policy, routes, limits, timeouts and the
//! middleware (auth, header rewriting). TOML; unknown fields are errors.
//!
//! ```toml
//! [[pool]]
//! name = "web"
//! policy = "round-robin"          # or "random", "p2c"
//! upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"]
//!
//! [[route]]
//! host = "api.example"            # optional; absent matches any host
//! path_prefix = "/"
//! pool = "web"
//!
//! [auth]                          # optional
//! header = "authorization"
//! token = "Bearer s3cret"
//!
//! [headers]
//! request_add = [["x-forwarded-by", "proxybench"]]
//! request_remove = ["x-internal"]
//! response_add = [["via", "1.1 proxybench"]]
//!
//! [timeouts]
//! connect_ms = 1000
//! response_ms = 5000
//! client_header_ms = 10000
//! client_body_ms = 10000          # between reads of a request body
//! upstream_body_ms = 10000        # between reads of a response body
//! send_ms = 10000                 # a write waiting for its peer to read
//!
//! [work]                          # optional: a known CPU cost per request
//! call_iters = 0                  # in the request stack's call, before its future exists
//! header = "x-pb-work"            # a request carrying it spins its value's iterations
//! max_iters = 100000000           # more than this is refused with 400
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use pb_http::Limits;

/// A balancing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Each upstream in turn.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// Two at random, the one with fewer requests in flight.
    P2c,
}

/// A named set of upstreams.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Name routes refer to.
    pub name: String,
    /// How to pick among the upstreams.
    #[serde(default = "default_policy")]
    pub policy: Policy,
    /// Upstream addresses.
    pub upstreams: Vec<SocketAddr>,
}

impl Policy {
    /// Every policy, by configuration name.
    pub const ALL: &'static [(&'static str, Policy)] = &[
        ("round-robin", Policy::RoundRobin),
        ("random", Policy::Random),
        ("p2c", Policy::P2c),
    ];

    /// The policy called `name` in configuration files.
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }

    /// Its configuration name.
    pub fn name(self) -> &'static str {
        Policy::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(n, _)| n)
    }
}

fn default_policy() -> Policy {
    Policy::RoundRobin
}

/// Host and path prefix to pool.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Host to match (case-insensitive, port ignored); any host if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Path prefix to match.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Pool name.
    pub pool: String,
}

fn default_prefix() -> String {
    "/".into()
}

/// Token check before any upstream is contacted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Header carrying the token.
    pub header: String,
    /// The value required; a missing header gets 401, a wrong one 403.
    pub token: String,
}

/// Header rewriting.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeadersConfig {
    /// Added to every forwarded request.
    #[serde(default)]
    pub request_add: Vec<(String, String)>,
    /// Removed from every forwarded request (case-insensitive).
    #[serde(default)]
    pub request_remove: Vec<String>,
    /// Added to every response the client gets from an upstream.
    #[serde(default)]
    pub response_add: Vec<(String, String)>,
}

/// Timeouts, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Connecting to an upstream; beyond it, 502.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// From the request sent to the response head; beyond it, 504.
    #[serde(default = "default_response_ms")]
    pub response_ms: u64,
    /// A client's request head must arrive within this; beyond it, 408.
    #[serde(default = "default_client_header_ms")]
    pub client_header_ms: u64,
    /// Longest wait for the next bytes of a request body; beyond it, 408
    /// and both connections closed (nginx `client_body_timeout`).
    #[serde(default = "default_body_ms")]
    pub client_body_ms: u64,
    /// Longest wait for the next bytes of a response body; beyond it the
    /// body is cut, visibly short, and both connections closed (nginx
    /// `proxy_read_timeout`).
    #[serde(default = "default_body_ms")]
    pub upstream_body_ms: u64,
    /// Longest a write to either side may wait for its peer to read;
    /// beyond it both connections are closed (nginx `send_timeout`).
    #[serde(default = "default_body_ms")]
    pub send_ms: u64,
}

fn default_connect_ms() -> u64 {
    1000
}
fn default_response_ms() -> u64 {
    5000
}
fn default_client_header_ms() -> u64 {
    10_000
}
fn default_body_ms() -> u64 {
    10_000
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            connect_ms: default_connect_ms(),
            response_ms: default_response_ms(),
            client_header_ms: default_client_header_ms(),
            client_body_ms: default_body_ms(),
            upstream_body_ms: default_body_ms(),
            send_ms: default_body_ms(),
        }
    }
}

impl TimeoutsConfig {
    /// Connect timeout.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }
    /// Response-head timeout.
    pub fn response(&self) -> Duration {
        Duration::from_millis(self.response_ms)
    }
    /// Client header timeout.
    pub fn client_header(&self) -> Duration {
        Duration::from_millis(self.client_header_ms)
    }
    /// Request body idle timeout.
    pub fn client_body(&self) -> Duration {
        Duration::from_millis(self.client_body_ms)
    }
    /// Response body idle timeout.
    pub fn upstream_body(&self) -> Duration {
        Duration::from_millis(self.upstream_body_ms)
    }
    /// Send timeout, either side.
    pub fn send(&self) -> Duration {
        Duration::from_millis(self.send_ms)
    }
}

/// Head limits as configured.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Request line plus headers, bytes.
    #[serde(default = "default_head_bytes")]
    pub max_head_bytes: usize,
    /// Header fields.
    #[serde(default = "default_headers")]
    pub max_headers: usize,
}

fn default_head_bytes() -> usize {
    Limits::default().max_head_bytes
}
fn default_headers() -> usize {
    Limits::default().max_headers
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_head_bytes: default_head_bytes(),
            max_headers: default_headers(),
        }
    }
}

/// A known CPU cost per request in the request stack, for the design
/// article's experiments (`proxybench claims`): where a composition runs
/// its middleware's work decides who waits for it.
///
/// `call_iters` is spent in the request stack's `call` itself, before the
/// request's future exists: behind tower's `Buffer` that part runs on the
/// one worker task every connection shares, on the other compositions in
/// the connection's own task. A request carrying `header` spends its
/// value's iterations inside its future instead (the way a well-written
/// tower service does heavy work), so a few heavy requests can be mixed
/// with light ones. Both are [`crate::Spin`] iterations (about 1 ns
/// each).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkConfig {
    /// Spin iterations in every request's `call`.
    #[serde(default)]
    pub call_iters: u64,
    /// Request header whose decimal value is spin iterations for that
    /// request, spent in its future; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Largest value `header` may carry; a larger or unreadable one is
    /// answered 400 without contacting an upstream.
    #[serde(default = "default_max_work")]
    pub max_iters: u64,
}

fn default_max_work() -> u64 {
    100_000_000
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Upstream pools.
    #[serde(rename = "pool")]
    pub pools: Vec<PoolConfig>,
    /// Routes, matched by host then longest path prefix.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// Auth filter, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Header rewriting.
    #[serde(default)]
    pub headers: HeadersConfig,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Head limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Injected work per request (experiments only), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkConfig>,
    /// A filter run by an embedded or external engine on every request
    /// head (the claims' dynamic-logic experiment), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<DynamicConfig>,
}

/// What runs a `[dynamic]` filter: the same decision as Rust compiled
/// into the core, as WebAssembly under a JIT or an interpreter, as an
/// embedded script, or in another process over a Unix socket. Which one
/// is the experiment's only variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DynamicEngine {
    /// Rust compiled into the core: the baseline every other engine adds
    /// to.
    Native,
    /// A WebAssembly module compiled by wasmtime's Cranelift JIT.
    Wasmtime,
    /// The same module run by wasmi's interpreter.
    Wasmi,
    /// A Rhai script (a tree-walking interpreter embedded in the core).
    Rhai,
    /// A filter process the core starts, asked over a Unix socket once
    /// per request.
    Ipc,
}

impl DynamicEngine {
    /// Every engine, in the order reports list them.
    pub const ALL: [DynamicEngine; 5] = [
        DynamicEngine::Native,
        DynamicEngine::Wasmtime,
        DynamicEngine::Wasmi,
        DynamicEngine::Rhai,
        DynamicEngine::Ipc,
    ];

    /// The name configurations and scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            DynamicEngine::Native => "native",
            DynamicEngine::Wasmtime => "wasmtime",
            DynamicEngine::Wasmi => "wasmi",
            DynamicEngine::Rhai => "rhai",
            DynamicEngine::Ipc => "ipc",
        }
    }

    /// The engine called `name`.
    pub fn from_name(name: &str) -> Option<DynamicEngine> {
        DynamicEngine::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the engine runs a module file (WebAssembly or script).
    pub fn takes_module(self) -> bool {
        matches!(
            self,
            DynamicEngine::Wasmtime | DynamicEngine::Wasmi | DynamicEngine::Rhai
        )
    }
}

/// The `[dynamic]` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicConfig {
    /// What runs the filter.
    pub engine: DynamicEngine,
    /// The module (WebAssembly text or binary for wasmtime and wasmi, a
    /// script for rhai); proxybench's own gate filter when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<std::path::PathBuf>,
    /// The program an `ipc` filter runs as (its arguments included; the
    /// socket's path is appended as `--socket PATH`); this program's own
    /// `filter-serve` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read proxy config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, or a field is wrong.
    #[error("proxy config {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ProxyConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<ProxyConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        ProxyConfig::parse(&text, &path.display().to_string())
    }

    /// Parses and checks config text; `name` labels errors.
    pub fn parse(text: &str, name: &str) -> Result<ProxyConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: name.to_owned(),
            message,
        };
        let config: ProxyConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        for pool in &config.pools {
            if pool.upstreams.is_empty() {
                return Err(invalid(format!("pool {:?} has no upstreams", pool.name)));
            }
        }
        for (i, route) in config.routes.iter().enumerate() {
            if !config.pools.iter().any(|p| p.name == route.pool) {
                return Err(invalid(format!(
                    "route[{i}] names unknown pool {:?}",
                    route.pool
                )));
            }
            if !route.path_prefix.starts_with('/') {
                return Err(invalid(format!(
                    "route[{i}].path_prefix must start with '/'"
                )));
            }
        }
        if config.limits.max_headers == 0 || config.limits.max_head_bytes < 64 {
            return Err(invalid("limits are too small to carry any request".into()));
        }
        if let Some(work) = &config.work
            && let Some(header) = &work.header
            && (header.is_empty()
                || !header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(invalid(format!(
                "work.header {header:?} is not a header name"
            )));
        }
        if let Some(dynamic) = &config.dynamic {
            if dynamic.module.is_some() && !dynamic.engine.takes_module() {
                return Err(invalid(format!(
                    "dynamic.module: the {} engine runs no module",
                    dynamic.engine.name()
                )));
            }
            if dynamic.command.is_some() && dynamic.engine != DynamicEngine::Ipc {
                return Err(invalid("dynamic.command is for the ipc engine only".into()));
            }
            if dynamic.command.as_ref().is_some_and(Vec::is_empty) {
                return Err(invalid("dynamic.command is empty".into()));
            }
        }
        if config.limits.max_headers > pb_http::head::MAX_HEADERS {
            return Err(invalid(format!(
                "limits.max_headers is above the {} this build supports",
                pb_http::head::MAX_HEADERS
            )));
        }
        Ok(config)
    }

    /// The head limits to parse with.
    pub fn head_limits(&self) -> Limits {
        Limits {
            max_head_bytes: self.limits.max_head_bytes,
            max_headers: self.limits.max_headers,
        }
    }
}
