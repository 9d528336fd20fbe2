//! Errors a core reports when it cannot start or keep serving.

use std::io;
use std::net::SocketAddr;

/// Why a core could not serve. Each variant names the step that failed so
/// the runner can show it without guessing.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The core cannot run on this machine at all (io_uring missing,
    /// memlock too low). The runner reports the core as unavailable.
    #[error("core unavailable: {reason}")]
    Unavailable {
        /// Human-readable reason, e.g. `io_uring_setup: Operation not permitted`.
        reason: String,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Pinning a thread to its CPU failed.
    #[error("cannot pin thread to CPU {cpu}: {source}")]
    Affinity {
        /// The CPU asked for.
        cpu: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Building the runtime (or one of its threads) failed.
    #[error("cannot start the {runtime} runtime: {source}")]
    Runtime {
        /// Which runtime.
        runtime: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Installing the signal handlers failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
    /// The options asked for something the core cannot do.
    #[error("invalid options: {0}")]
    Options(String),
    /// A serving thread panicked or ended with an error.
    #[error("serving thread {thread} failed: {message}")]
    Thread {
        /// Index of the thread.
        thread: usize,
        /// What it reported.
        message: String,
    },
}

impl ServeError {
    /// Exit code the `proxy` subcommand uses: 2 for environment problems
    /// (unavailable, bind, options), 1 for failures while serving.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::Thread { .. } => 1,
            _ => 2,
        }
    }
}
