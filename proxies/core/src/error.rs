//! Errors a core reports when it cannot start or keep serving, and how
//! every proxybench binary prints an error chain.

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

/// An error and its causes on one line, for a binary's last word. Many of
/// proxybench's errors already name their cause in their own message
/// (`cannot read X: <os error>`) and also return it as `source()`; a cause
/// is appended only when the text so far does not say it yet, where
/// anyhow's `{:#}` would print such an OS error twice.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message may or may not repeat its source.
    #[derive(Debug)]
    struct Named {
        what: &'static str,
        says_source: bool,
        source: io::Error,
    }

    impl std::fmt::Display for Named {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.says_source {
                write!(f, "{}: {}", self.what, self.source)
            } else {
                f.write_str(self.what)
            }
        }
    }

    impl std::error::Error for Named {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    fn named(what: &'static str, says_source: bool) -> Named {
        Named {
            what,
            says_source,
            source: io::Error::new(io::ErrorKind::NotFound, "no such file"),
        }
    }

    #[test]
    fn a_cause_is_said_once() {
        assert_eq!(
            one_line(&named("cannot read a.toml", true)),
            "cannot read a.toml: no such file"
        );
        // A message that does not repeat its cause still gets it.
        assert_eq!(
            one_line(&named("loading the scenario", false)),
            "loading the scenario: no such file"
        );
    }
}
