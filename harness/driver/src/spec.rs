//! What a load run does.

use std::net::SocketAddr;
use std::time::Duration;

use pb_sys::CpuSet;

/// The protocol spoken on each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// Fixed-size messages echoed back byte for byte.
    Echo {
        /// Bytes per message.
        message_bytes: usize,
    },
    /// HTTP/1.1 requests, every response checked.
    Http(crate::http::HttpWorkload),
}

impl Workload {
    /// Latency classes kept apart (none for most workloads).
    pub fn classes(&self) -> &'static [&'static str] {
        match self {
            Workload::Echo { .. } => &[],
            Workload::Http(w) => w.classes(),
        }
    }

    /// Origins responses are counted by (none for most workloads).
    pub fn origins(&self) -> &[String] {
        match self {
            Workload::Echo { .. } => &[],
            Workload::Http(w) => &w.origins,
        }
    }
}

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WorkMode {
    /// Each connection keeps `in_flight` requests outstanding and sends the
    /// next as soon as one completes. Measures what a core sustains, but
    /// hides stalls: a slow reply also delays the requests behind it.
    Closed {
        /// Concurrent connections.
        connections: usize,
        /// Outstanding requests per connection (1 = ping-pong).
        in_flight: usize,
    },
    /// Requests are due at a fixed total rate, spread evenly over the
    /// connections. Latency is measured from each request's *intended*
    /// send time, so a stall is charged to every request it delayed
    /// (coordinated-omission correction); latency from the actual send time
    /// is kept too.
    Open {
        /// Requests per second, all connections together.
        rate: f64,
        /// Concurrent connections.
        connections: usize,
        /// Most outstanding requests per connection; a request due while
        /// the connection is full waits (and is counted late).
        max_in_flight: usize,
    },
}

impl WorkMode {
    /// Connections the mode opens.
    pub fn connections(&self) -> usize {
        match *self {
            WorkMode::Closed { connections, .. } | WorkMode::Open { connections, .. } => {
                connections
            }
        }
    }

    /// Most outstanding requests per connection.
    pub fn max_in_flight(&self) -> usize {
        match *self {
            WorkMode::Closed { in_flight, .. } => in_flight,
            WorkMode::Open { max_in_flight, .. } => max_in_flight,
        }
    }

    /// Stable name used in results (`closed`, `open`).
    pub fn name(&self) -> &'static str {
        match self {
            WorkMode::Closed { .. } => "closed",
            WorkMode::Open { .. } => "open",
        }
    }

    /// Time between two requests of one connection, for open loop.
    pub fn per_connection_interval(&self) -> Option<std::time::Duration> {
        match *self {
            WorkMode::Closed { .. } => None,
            WorkMode::Open {
                rate, connections, ..
            } => Some(std::time::Duration::from_secs_f64(
                connections as f64 / rate,
            )),
        }
    }
}

/// The I/O model the driver's threads use. Both send the same bytes on
/// the same schedule and verify every reply the same way
/// ([`crate::conn::Exchange`]); they differ in how many system calls a
/// request costs and in how replies reach the driver, which changes how
/// requests arrive at the target (how many per wake-up of the server), and
/// so what a core costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// A current-thread tokio runtime per driver thread: readiness through
    /// epoll, a `read`/`write` system call per operation.
    #[default]
    Epoll,
    /// A monoio runtime per driver thread on io_uring: every socket
    /// operation a submission, completions reaped in batches, a read
    /// always posted on each connection.
    IoUring,
}

impl Backend {
    /// Every backend, in a stable order.
    pub const ALL: [Backend; 2] = [Backend::Epoll, Backend::IoUring];

    /// Stable name used in scenario files, flags and results (`epoll`,
    /// `io_uring`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::IoUring => "io_uring",
        }
    }

    /// The backend called `name`.
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A complete load run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Where to connect.
    pub target: SocketAddr,
    /// What to send.
    pub workload: Workload,
    /// How to send it.
    pub mode: WorkMode,
    /// Load before the measured window; not recorded.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Driver threads (each a single-threaded runtime).
    pub threads: usize,
    /// The driver threads' I/O model.
    pub backend: Backend,
    /// CPUs for the driver threads (thread `i` on the `i`-th, wrapping).
    pub cpus: Option<CpuSet>,
    /// A request without a byte of progress for this long is a timeout.
    pub response_timeout: Duration,
    /// Limit on connection set-up.
    pub connect_timeout: Duration,
    /// After the window, outstanding requests get this long to finish.
    pub drain: Duration,
    /// Length of the per-interval histograms (the latency timeline).
    pub interval: Duration,
    /// An open-loop request the driver sends later than this after its
    /// intended time counts as late. The default, 2 ms, is far above the
    /// pacer's 100 µs steps ([`crate::pace::RESOLUTION`]) and a wake-up's
    /// scheduling delay: jitter below it is the driver's own and is neither
    /// counted nor charged to the target's latency.
    pub late_after: Duration,
    /// When the schedule starts (the warm-up's first request), by the
    /// wall clock: a driver fleet's shared instant, at which every host's
    /// warm-up, and so its window, must begin together. `None`: as soon as
    /// the threads are set up. An instant the set-up overran starts late,
    /// and the report says by how much ([`crate::LoadReport::start_late`]).
    pub start_at: Option<std::time::SystemTime>,
}

impl LoadSpec {
    /// A closed-loop echo run with default timeouts.
    pub fn closed_echo(
        target: SocketAddr,
        message_bytes: usize,
        connections: usize,
        in_flight: usize,
        warmup: Duration,
        duration: Duration,
    ) -> LoadSpec {
        LoadSpec {
            target,
            workload: Workload::Echo { message_bytes },
            mode: WorkMode::Closed {
                connections,
                in_flight,
            },
            warmup,
            duration,
            threads: 1,
            backend: Backend::Epoll,
            cpus: None,
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            drain: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            late_after: Duration::from_millis(2),
            start_at: None,
        }
    }

    /// An open-loop echo run at `rate` requests per second in total.
    pub fn open_echo(
        target: SocketAddr,
        message_bytes: usize,
        rate: f64,
        connections: usize,
        max_in_flight: usize,
        warmup: Duration,
        duration: Duration,
    ) -> LoadSpec {
        LoadSpec {
            mode: WorkMode::Open {
                rate,
                connections,
                max_in_flight,
            },
            ..LoadSpec::closed_echo(
                target,
                message_bytes,
                connections,
                max_in_flight,
                warmup,
                duration,
            )
        }
    }

    /// Rejects specs no run could honour.
    pub fn validate(&self) -> Result<(), String> {
        if let Workload::Echo { message_bytes: 0 } = self.workload {
            return Err("message size must be at least 1 byte".into());
        }
        if let Workload::Http(w) = &self.workload
            && let Some(heavy) = &w.heavy
            && heavy.every == 0
        {
            return Err("one heavy connection in every 0 is no share".into());
        }
        if self.mode.connections() == 0 || self.mode.max_in_flight() == 0 {
            return Err("connections and in-flight must be at least 1".into());
        }
        if let WorkMode::Open { rate, .. } = self.mode
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!(
                "rate must be a positive number of requests per second, not {rate}"
            ));
        }
        if self.interval.is_zero() {
            return Err("interval must be above zero".into());
        }
        if self.threads == 0 {
            return Err("driver threads must be at least 1".into());
        }
        if self.duration.is_zero() {
            return Err("measured duration must be above zero".into());
        }
        Ok(())
    }
}
