//! The machine, as recorded in every results file.

use pb_results::{CpuPlan, Environment, IoUringStatus};

/// Facts fixed when proxybench was built (the binary supplies them).
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// proxybench version.
    pub tool_version: String,
    /// `rustc --version` at build time.
    pub rustc: String,
    /// `git describe --always --dirty` at build time.
    pub git_revision: String,
    /// `release` or `debug`.
    pub profile: String,
}

/// `20261126T221530Z`: a run id from a time.
pub fn run_id(at: std::time::SystemTime) -> String {
    timestamp(at).replace(['-', ':'], "")
}

/// RFC 3339 UTC, seconds.
pub fn timestamp(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Reads the machine facts and combines them with the build and the plan.
pub fn capture(
    build: &BuildInfo,
    io_uring: &Result<(), String>,
    memlock_limit: Option<u64>,
    cpu_plan: CpuPlan,
) -> Environment {
    let kernel = nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy()
            )
        })
        .unwrap_or_else(|_| "unknown".into());
    let cpu_model = pb_sys::machine::cpu_model();
    let cpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());
    Environment {
        kernel,
        cpu_model,
        cpu_count,
        rustc: build.rustc.clone(),
        git_revision: build.git_revision.clone(),
        build_profile: build.profile.clone(),
        io_uring: IoUringStatus {
            available: io_uring.is_ok(),
            detail: match io_uring {
                Ok(()) => "ok".into(),
                Err(reason) => reason.clone(),
            },
        },
        memlock_limit_bytes: memlock_limit,
        cpu_plan,
    }
}
