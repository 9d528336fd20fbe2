//! What a load run does.

use std::net::SocketAddr;
use std::time::Duration;

use pb_shared::CpuSet;

/// The protocol spoken on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Fixed-size messages echoed back byte for byte.
    Echo {
        /// Bytes per message.
        message_bytes: usize,
    },
}

/// How requests are issued. Open loop (fixed arrival rate) slots in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkMode {
    /// Each connection keeps `in_flight` requests outstanding and sends the
    /// next as soon as one completes.
    Closed {
        /// Concurrent connections.
        connections: usize,
        /// Outstanding requests per connection (1 = ping-pong).
        in_flight: usize,
    },
}

impl WorkMode {
    /// Connections the mode opens.
    pub fn connections(&self) -> usize {
        match *self {
            WorkMode::Closed { connections, .. } => connections,
        }
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
    /// CPUs for the driver threads (thread `i` on the `i`-th, wrapping).
    pub cpus: Option<CpuSet>,
    /// A request without a byte of progress for this long is a timeout.
    pub response_timeout: Duration,
    /// Limit on connection set-up.
    pub connect_timeout: Duration,
    /// After the window, outstanding requests get this long to finish.
    pub drain: Duration,
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
            cpus: None,
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            drain: Duration::from_secs(1),
        }
    }

    /// Rejects specs no run could honour.
    pub fn validate(&self) -> Result<(), String> {
        let Workload::Echo { message_bytes } = self.workload;
        if message_bytes == 0 {
            return Err("message size must be at least 1 byte".into());
        }
        let WorkMode::Closed {
            connections,
            in_flight,
        } = self.mode;
        if connections == 0 || in_flight == 0 {
            return Err("connections and in-flight must be at least 1".into());
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
