//! Deterministic cost figures for the CI gate: instructions per call of
//! every micro-benchmark stack and per echo request through the cores
//! valgrind can run, as an [`IcountReport`]: the file format of
//! [`pb_results::icount`], which the gate reads.
//!
//! Every figure comes from two runs of the same workload with different
//! lengths, `(Ir(N2) − Ir(N1)) / (N2 − N1)`, so process start-up, runtime
//! construction and shutdown cancel out.
//!
//! | module | role |
//! |---|---|
//! | [`valgrind`] | the valgrind command line (under `timeout -s KILL`) and reading its count |
//! | [`core`] | one core process under valgrind, driven by an echo client, stopped by SIGTERM |
//!
//! The micro workloads run as `pb-icount calls --variant V --depth D
//! --calls N`, a process of their own, so each count holds that workload
//! and nothing else.

pub mod core;
pub mod valgrind;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pb_results::icount::{
    ICOUNT_KIND, ICOUNT_VERSION, IcountEntry, IcountEnvironment, IcountReport, IcountRun,
};

use crate::drive::{DEPTHS, Variant};
use crate::icount::core::{CoreRun, count_core};
use crate::icount::valgrind::Valgrind;

/// A count that could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum IcountError {
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A run exited unsuccessfully.
    #[error("{what}: exited with {status}; valgrind said:\n{stderr_tail}")]
    Failed {
        /// The run.
        what: String,
        /// Its exit status.
        status: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// A run ended without valgrind's summary.
    #[error("{what}: no instruction count in valgrind's output:\n{stderr_tail}")]
    NoCount {
        /// The run.
        what: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// A core did not announce readiness.
    #[error("{what}: {reason}\n{stderr_tail}")]
    NotReady {
        /// The run.
        what: String,
        /// What happened.
        reason: String,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The echo client failed (wrong bytes, reset, timeout).
    #[error("{what}: echo client: {source}\n{stderr_tail}")]
    Echo {
        /// The run.
        what: String,
        /// The client's error.
        #[source]
        source: std::io::Error,
        /// The end of the core's stderr.
        stderr_tail: String,
    },
    /// A run did not finish in time and was killed.
    #[error("{what}: timed out")]
    Timeout {
        /// The run.
        what: String,
    },
    /// The plan cannot be measured (an io_uring core, equal lengths).
    #[error("{0}")]
    Plan(String),
}

impl IcountError {
    /// Adds the process's stderr where the error has room for it.
    pub fn with_stderr(self, stderr: &str) -> IcountError {
        match self {
            IcountError::NotReady { what, reason, .. } => IcountError::NotReady {
                what,
                reason,
                stderr_tail: valgrind::tail(stderr),
            },
            other => other,
        }
    }
}

/// What to measure and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// This binary (`pb-icount`), run under valgrind for the micro stacks.
    pub pb_icount: PathBuf,
    /// The `proxybench` binary, for the cores; `None` skips them.
    pub proxybench: Option<PathBuf>,
    /// Calls in the short and long micro runs.
    pub calls: [u64; 2],
    /// Round trips in the short and long core runs.
    pub requests: [u64; 2],
    /// Run pairs per core (the median is kept; micro runs are exact
    /// enough with one).
    pub core_repeats: usize,
    /// Client pause between round trips.
    pub pause: Duration,
    /// Cores to measure.
    pub cores: Vec<String>,
    /// Valgrind settings.
    pub valgrind: Valgrind,
    /// Extra work per request in the cores (`--spin-iters`), to show the
    /// gate catching a known cost; 0 for real measurements.
    pub core_spin_iters: u64,
}

impl Plan {
    /// The plan CI uses: every variant at every depth, 2 000 and 12 000
    /// calls; tokio-tower and monoio-epoll, 1 000 and 4 000 round trips
    /// with 0.5 ms pauses, 3 pairs each.
    pub fn standard(pb_icount: PathBuf, proxybench: Option<PathBuf>) -> Plan {
        Plan {
            pb_icount,
            proxybench,
            calls: [2_000, 12_000],
            requests: [1_000, 4_000],
            core_repeats: 3,
            pause: Duration::from_micros(500),
            cores: core::VALGRIND_CORES.iter().map(|c| c.to_string()).collect(),
            valgrind: Valgrind::default(),
            core_spin_iters: 0,
        }
    }

    fn check(&self) -> Result<(), IcountError> {
        if self.calls[0] >= self.calls[1] || self.requests[0] >= self.requests[1] {
            return Err(IcountError::Plan(
                "the second run of a pair must be longer than the first".into(),
            ));
        }
        if self.core_repeats == 0 {
            return Err(IcountError::Plan("at least one run pair per core".into()));
        }
        for core in &self.cores {
            if !core::VALGRIND_CORES.contains(&core.as_str()) {
                return Err(IcountError::Plan(format!(
                    "core {core:?} cannot be counted: valgrind hangs on io_uring programs; \
                     countable cores: {}",
                    core::VALGRIND_CORES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Id of a micro entry: `micro/<variant>/<depth>`.
pub fn micro_id(variant: Variant, depth: u32) -> String {
    format!("micro/{}/{depth}", variant.name())
}

/// Id of a core entry: `core/<core>/echo-100B`.
pub fn core_id(core: &str) -> String {
    format!("core/{core}/echo-{}B", core::MESSAGE_BYTES)
}

/// Counts everything in the plan; `progress` gets one line per entry.
pub fn measure(plan: &Plan, progress: &mut dyn FnMut(&str)) -> Result<IcountReport, IcountError> {
    plan.check()?;
    let mut entries = Vec::new();
    for variant in Variant::ALL {
        for depth in DEPTHS {
            let id = micro_id(variant, depth);
            let mut instructions = [0u64; 2];
            for (slot, calls) in instructions.iter_mut().zip(plan.calls) {
                let args = [
                    "calls".to_owned(),
                    "--variant".to_owned(),
                    variant.name().to_owned(),
                    "--depth".to_owned(),
                    depth.to_string(),
                    "--calls".to_owned(),
                    calls.to_string(),
                ];
                *slot =
                    plan.valgrind
                        .count(&format!("{id} x{calls} calls"), &plan.pb_icount, &args)?;
            }
            let run = IcountRun::new(plan.calls, instructions);
            progress(&format!("{id}: {:.1} instructions/call", run.per_unit));
            entries.push(IcountEntry {
                id,
                unit: "call".into(),
                per_unit: run.per_unit,
                runs: vec![run],
            });
        }
    }
    if let Some(proxybench) = &plan.proxybench {
        for core in &plan.cores {
            let id = core_id(core);
            let mut runs = Vec::new();
            for _ in 0..plan.core_repeats {
                let mut instructions = [0u64; 2];
                for (slot, requests) in instructions.iter_mut().zip(plan.requests) {
                    *slot = count_core(
                        &plan.valgrind,
                        &CoreRun {
                            proxybench,
                            core,
                            requests,
                            pause: plan.pause,
                            startup_timeout: Duration::from_secs(120),
                            spin_iters: plan.core_spin_iters,
                        },
                    )?;
                }
                runs.push(IcountRun::new(plan.requests, instructions));
            }
            let per_unit = pb_stats::median(&runs.iter().map(|r| r.per_unit).collect::<Vec<_>>())
                .unwrap_or(f64::NAN);
            progress(&format!(
                "{id}: {per_unit:.1} instructions/request (runs: {})",
                runs.iter()
                    .map(|r| format!("{:.1}", r.per_unit))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            entries.push(IcountEntry {
                id,
                unit: "request".into(),
                per_unit,
                runs,
            });
        }
    }
    Ok(IcountReport {
        kind: ICOUNT_KIND.into(),
        version: ICOUNT_VERSION,
        created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        tool: plan.valgrind.describe()?,
        environment: environment(),
        entries,
    })
}

/// What the counts depend on besides the code.
pub fn environment() -> IcountEnvironment {
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    // The string results files record too, so the two kinds of file
    // name a machine alike.
    let cpu_model = pb_sys::machine::cpu_model();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    IcountEnvironment {
        cpu_model,
        kernel,
        rustc: run("rustc", &["--version"]),
        git_revision: run("git", &["describe", "--always", "--dirty", "--abbrev=12"]),
    }
}

/// Writes a report as pretty JSON (beside, then renamed: never half a file).
pub fn write_report(report: &IcountReport, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n")?;
    std::fs::rename(&tmp, path)
}
