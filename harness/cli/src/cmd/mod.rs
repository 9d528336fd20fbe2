//! One module per subcommand; each parses nothing itself beyond its clap
//! `Args` and hands the work to a library.

pub(crate) mod conform;
pub(crate) mod cores;
pub(crate) mod gate;
pub(crate) mod load;
pub(crate) mod merge;
pub(crate) mod origin;
pub(crate) mod proxy;
pub(crate) mod report;
pub(crate) mod run;

use pb_core::probe::{FixedProbe, Probe, SystemProbe};

/// Environment variable that makes the io_uring probe fail with the given
/// reason: rehearses an io_uring-less machine (and tests that path).
pub(crate) const FAKE_NO_IO_URING: &str = "PROXYBENCH_FAKE_NO_IO_URING";

/// The probe every command uses.
pub(crate) fn probe() -> Box<dyn Probe> {
    match std::env::var(FAKE_NO_IO_URING) {
        Ok(reason) if !reason.is_empty() => Box::new(FixedProbe {
            io_uring: Err(format!("io_uring disabled by {FAKE_NO_IO_URING}: {reason}")),
            memlock_limit: SystemProbe.memlock_limit(),
        }),
        _ => Box::new(SystemProbe),
    }
}

/// What this binary was built from, recorded in every results file.
pub(crate) fn build_info() -> pb_runner::env::BuildInfo {
    pb_runner::env::BuildInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        rustc: env!("PB_RUSTC_VERSION").to_owned(),
        git_revision: env!("PB_GIT_REVISION").to_owned(),
        profile: env!("PB_PROFILE").to_owned(),
    }
}

pub(crate) use pb_runner::env::{run_id, timestamp};
