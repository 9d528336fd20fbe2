//! The contract every proxy core implements.
//!
//! Lifecycle, in order:
//! 1. The registry checks [`CoreInfo::availability`] against a [`Probe`];
//!    an unavailable core is reported with its reason and never started.
//! 2. [`ProxyCore::serve`] starts the runtime(s) on the CPUs in
//!    [`ServeOpts`], binds, and calls `on_ready` once *every* thread is
//!    accepting (the `proxy` command prints the [`crate::ReadyLine`] then).
//! 3. It serves until [`Shutdown`] is requested, then stops accepting,
//!    lets open connections finish for at most [`ServeOpts::drain`], and
//!    returns `Ok(())`.

use std::net::SocketAddr;

use crate::probe::Probe;
use pb_sys::Shutdown;

use crate::{Scenario, ServeError, ServeOpts};

/// Something a core needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A working io_uring.
    IoUring,
    /// At least this many bytes of lockable memory (registered buffers).
    LockedMemory(u64),
    /// An installed program (a reference proxy), and how to install it.
    Program {
        /// Executable name, looked up on `PATH` and the sbin directories.
        name: &'static str,
        /// What to run when it is missing.
        install: &'static str,
    },
    /// Code this binary was built without: a cargo feature whose
    /// dependencies need more than the Rust toolchain (Pingora's zlib-ng
    /// needs cmake). Never met by a binary that lists it; a binary built
    /// with the feature lists the core without it.
    Feature {
        /// The cargo feature of the `proxybench` package.
        name: &'static str,
        /// How to get a binary that has it.
        build: &'static str,
    },
}

/// Static description of a core, shown by `proxybench cores` and stored
/// with every result.
#[derive(Debug, Clone, Copy)]
pub struct CoreInfo {
    /// Registry name, used on the command line and in results.
    pub name: &'static str,
    /// Runtime and driver, e.g. `monoio 0.2 (io_uring), thread-per-core`.
    pub runtime: &'static str,
    /// Service composition, e.g. `tower Layer stack behind Buffer`.
    pub service: &'static str,
    /// Where the core sits in the runtime × composition grid: the runtime
    /// row (`tokio-mt`, `tokio-tpc`, `monoio`, ...) and the composition
    /// column (`tower-buffer`, `tower-clone`, `borrowing`, `raw`). `None`
    /// for a reference proxy (nginx, HAProxy): measured beside the grid,
    /// not part of it, and its conformance failures are data rather than
    /// a failed run.
    pub grid: Option<(&'static str, &'static str)>,
    /// What the machine must provide.
    pub requirements: &'static [Requirement],
    /// Scenarios this core serves.
    pub scenarios: &'static [Scenario],
}

/// The [`CoreInfo`] of a grid core, named by its grid cell: `grid_info!("tokio-tpc" / "raw", runtime: ..., service: ..., requirements: ..., scenarios: ...)`
/// is a `&'static CoreInfo` named `tokio-tpc/raw`. The mission cores,
/// which keep short names, write their `CoreInfo` out.
#[macro_export]
macro_rules! grid_info {
    ($row:literal / $column:literal,
     runtime: $runtime:expr,
     service: $service:expr,
     requirements: $requirements:expr,
     scenarios: $scenarios:expr $(,)?) => {
        &$crate::CoreInfo {
            name: concat!($row, "/", $column),
            runtime: $runtime,
            service: $service,
            grid: Some(($row, $column)),
            requirements: $requirements,
            scenarios: $scenarios,
        }
    };
}

impl CoreInfo {
    /// `runtime/composition`: the core's grid name, which names it on the
    /// command line as well as [`CoreInfo::name`] does; a reference has
    /// only its name.
    pub fn grid_name(&self) -> String {
        match self.grid {
            Some((runtime, composition)) => format!("{runtime}/{composition}"),
            None => self.name.to_owned(),
        }
    }

    /// Whether this is a reference proxy rather than one of our cores.
    pub fn is_reference(&self) -> bool {
        self.grid.is_none()
    }

    /// `Ok` if every requirement holds on this machine, else the first
    /// reason it cannot run, phrased for the user.
    pub fn availability(&self, probe: &dyn Probe) -> Result<(), String> {
        for requirement in self.requirements {
            match *requirement {
                Requirement::IoUring => probe.io_uring()?,
                Requirement::Program { name, install } => {
                    if probe.program(name).is_none() {
                        return Err(format!("{name} is not installed (run {install})"));
                    }
                }
                Requirement::Feature { name, build } => {
                    return Err(format!(
                        "this proxybench was built without the `{name}` feature ({build})"
                    ));
                }
                Requirement::LockedMemory(need) => {
                    if let Some(limit) = probe.memlock_limit()
                        && limit < need
                    {
                        return Err(format!(
                            "memlock limit {} KiB is below the {} KiB this core locks (raise `ulimit -l`)",
                            limit / 1024,
                            need / 1024
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A proxy core: one runtime plus one service composition.
pub trait ProxyCore: Sync {
    /// Static description.
    fn info(&self) -> &'static CoreInfo;

    /// Serves `opts.scenario` until `shutdown` is requested; see the module
    /// docs for the lifecycle. `on_ready` receives the bound address and the
    /// number of serving threads.
    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError>;

    /// Whether the serving is done by this process's own code (its
    /// allocations are the core's), rather than by a program it starts
    /// (nginx, HAProxy, a user's proxy), whose allocations it cannot see.
    fn serves_in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::FixedProbe;

    const URING: CoreInfo = CoreInfo {
        name: "u",
        runtime: "r",
        service: "s",
        grid: Some(("r", "s")),
        requirements: &[Requirement::IoUring, Requirement::LockedMemory(2 << 20)],
        scenarios: &[Scenario::Echo],
    };

    #[test]
    fn io_uring_failure_is_the_reason() {
        let probe = FixedProbe {
            io_uring: Err("io_uring_setup failed: Operation not permitted".into()),
            memlock_limit: None,
        };
        assert_eq!(
            URING.availability(&probe).unwrap_err(),
            "io_uring_setup failed: Operation not permitted"
        );
    }

    #[test]
    fn low_memlock_is_the_reason() {
        let probe = FixedProbe {
            io_uring: Ok(()),
            memlock_limit: Some(64 * 1024),
        };
        let reason = URING.availability(&probe).unwrap_err();
        assert!(reason.contains("memlock limit 64 KiB"), "{reason}");
        let roomy = FixedProbe {
            io_uring: Ok(()),
            memlock_limit: Some(8 << 20),
        };
        assert_eq!(URING.availability(&roomy), Ok(()));
    }
}
