//! What a core is told when it starts.

use std::net::SocketAddr;
use std::time::Duration;

use pb_sys::CpuSet;

/// The workload a core serves. Adding a scenario adds a variant here and a
/// handler in each core; the harness names scenarios by [`Scenario::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Ping-pong TCP echo: whatever arrives is written back; on the
    /// client's FIN the core flushes what remains and closes.
    Echo,
    /// HTTP/1.1 reverse proxy: routing, balancing and middleware from the
    /// [`ProxyConfig`](crate::config::ProxyConfig) in [`ServeOpts::http`].
    HttpForward,
    /// TCP (layer 4) forwarding: each client connection relayed byte for
    /// byte to an upstream of the configuration's default pool (the route
    /// for `/` without a host), each side's FIN passed on to the other —
    /// the floor under the HTTP forwarding's cost.
    TcpForward,
}

impl Scenario {
    /// Every scenario a core can serve.
    pub const ALL: &'static [Scenario] =
        &[Scenario::Echo, Scenario::HttpForward, Scenario::TcpForward];

    /// Stable name used on the command line, in scenario files and results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::HttpForward => "http-forward",
            Scenario::TcpForward => "tcp-forward",
        }
    }

    /// Inverse of [`Scenario::name`].
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// Default read buffer per connection. One value for every core so that no
/// core wins by reading bigger chunks.
pub const DEFAULT_BUF_SIZE: usize = 16 * 1024;

/// Default cap on concurrently open client connections per core process.
pub const DEFAULT_MAX_CONNS: usize = 65_536;

/// How long a core waits for open connections to finish after a stop signal.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Start-up options, identical in meaning for every core.
#[derive(Debug, Clone)]
pub struct ServeOpts {
    /// Scenario to serve.
    pub scenario: Scenario,
    /// Address to listen on; port 0 picks a free port (shared by all threads).
    pub listen: SocketAddr,
    /// Number of serving threads (tokio: workers; thread-per-core: runtimes).
    pub threads: usize,
    /// CPUs the core may run on. Thread-per-core runtimes pin thread `i` to
    /// the `i`-th CPU of the set (wrapping); tokio pins the process to the set.
    pub cpus: Option<CpuSet>,
    /// Read buffer per connection, in bytes.
    pub buf_size: usize,
    /// Connections above this many are closed on accept.
    pub max_conns: usize,
    /// How long to wait for open connections after a stop signal.
    pub drain: Duration,
    /// Extra work per request (gate calibration); none by default.
    pub spin: crate::Spin,
    /// Forwarding configuration, required by [`Scenario::HttpForward`].
    pub http: Option<std::sync::Arc<crate::config::ProxyConfig>>,
    /// Where a core that runs a program of its own (a reference proxy)
    /// writes the configuration it rendered for that program, so a run
    /// can store what was measured beside its figures.
    pub program_config_out: Option<std::path::PathBuf>,
    /// Where new forwarding configurations are published while the core
    /// serves (`proxy --admin`); `None`: the configuration never changes.
    pub reload: Option<std::sync::Arc<crate::reload::ConfigBus>>,
    /// How a borrowing core brings a new configuration to open
    /// connections; the other compositions have one way each.
    pub reload_strategy: crate::reload::Strategy,
}

impl ServeOpts {
    /// Options for `scenario` on `listen` with one thread and defaults elsewhere.
    pub fn new(scenario: Scenario, listen: SocketAddr) -> Self {
        ServeOpts {
            scenario,
            listen,
            threads: 1,
            cpus: None,
            buf_size: DEFAULT_BUF_SIZE,
            max_conns: DEFAULT_MAX_CONNS,
            drain: DEFAULT_DRAIN,
            spin: crate::Spin::default(),
            http: None,
            program_config_out: None,
            reload: None,
            reload_strategy: crate::reload::Strategy::default(),
        }
    }

    /// What a reference proxy (nginx, HAProxy, hyper, Pingora, a user's)
    /// needs from the options: valid ones, a forwarding configuration (it
    /// serves http-forward only) and no injected work per request (it
    /// cannot add any). `name` is the core's, for the errors.
    pub fn reference_config(
        &self,
        name: &str,
    ) -> Result<std::sync::Arc<crate::config::ProxyConfig>, crate::ServeError> {
        self.validate()?;
        let config = self.http.clone().ok_or_else(|| {
            crate::ServeError::Options(format!("{name} serves http-forward only"))
        })?;
        if self.spin != crate::Spin::default() {
            return Err(crate::ServeError::Options(format!(
                "{name} cannot add injected work per request (--spin-iters)"
            )));
        }
        if self.reload.is_some() {
            return Err(crate::ServeError::Options(format!(
                "{name} cannot take configuration updates while serving (--admin)"
            )));
        }
        if config.work.is_some() {
            return Err(crate::ServeError::Options(format!(
                "{name} cannot add injected work per request (the configuration's [work])"
            )));
        }
        if config.dynamic.is_some() {
            return Err(crate::ServeError::Options(format!(
                "{name} cannot run a dynamic filter (the configuration's [dynamic])"
            )));
        }
        Ok(config)
    }

    /// Pins the calling thread to the whole CPU set, when one was given:
    /// what a core does before it starts threads (a tokio runtime's
    /// workers, a reference proxy's process) that must inherit the set.
    pub fn pin_current_thread(&self) -> Result<(), crate::ServeError> {
        match &self.cpus {
            Some(cpus) => cpus
                .pin_current_thread()
                .map_err(|source| crate::ServeError::Affinity {
                    cpu: cpus.ids()[0],
                    source,
                }),
            None => Ok(()),
        }
    }

    /// Holds the listen port (port 0 resolved) until the core's own
    /// `SO_REUSEPORT` listeners hold it too.
    pub fn reserve_port(&self) -> Result<pb_sys::socket::PortReservation, crate::ServeError> {
        pb_sys::socket::PortReservation::new(self.listen).map_err(|source| {
            crate::ServeError::Bind {
                addr: self.listen,
                source,
            }
        })
    }

    /// The CPU thread `index` should be pinned to, when a CPU set was given.
    pub fn cpu_for_thread(&self, index: usize) -> Option<usize> {
        self.cpus.as_ref().map(|set| set.nth_wrapping(index))
    }

    /// Checks the options any core would reject, before a runtime starts.
    pub fn validate(&self) -> Result<(), crate::ServeError> {
        if self.threads == 0 {
            return Err(crate::ServeError::Options(
                "threads must be at least 1".into(),
            ));
        }
        if self.buf_size == 0 {
            return Err(crate::ServeError::Options(
                "buffer size must be at least 1 byte".into(),
            ));
        }
        if self.scenario != Scenario::Echo && self.http.is_none() {
            return Err(crate::ServeError::Options(format!(
                "{} needs a proxy configuration (--config)",
                self.scenario.name()
            )));
        }
        if self.scenario == Scenario::TcpForward
            && self.http.as_ref().is_some_and(|c| c.pools.is_empty())
        {
            return Err(crate::ServeError::Options(
                "tcp-forward needs a pool to forward to".into(),
            ));
        }
        if self.max_conns == 0 {
            return Err(crate::ServeError::Options(
                "max connections must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
