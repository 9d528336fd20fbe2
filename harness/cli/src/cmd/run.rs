//! `proxybench run`: options parsed into a [`Request`] for the runner's
//! pipeline, and its table, files and verdict printed.

use std::path::PathBuf;

use anyhow::Context as _;
use pb_runner::pipeline::{self, Overrides, Request, Verdict};
use pb_scenario::ScenarioFile;
use pb_sys::CpuSet;

use crate::Outcome;
use crate::progress::{Display, Shown};

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario file; the built-in default matrix (scenarios/default.toml) when omitted.
    scenario: Option<PathBuf>,
    /// Directory for results (`latest.json` and a timestamped copy).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Directory for HTML reports (`<run-id>/` and a copy in `latest/`).
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Only these cores (comma-separated), intersected with each cell's list.
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<String>>,
    /// Override the file's trials per cell.
    #[arg(long)]
    trials: Option<u32>,
    /// Override the file's measured seconds per trial.
    #[arg(long)]
    duration: Option<f64>,
    /// Override the file's warm-up seconds per trial.
    #[arg(long)]
    warmup: Option<f64>,
    /// Run every cell under each of these driver backends (comma-separated:
    /// epoll, io_uring), one cell per backend, whatever the file says.
    #[arg(long, value_delimiter = ',', value_parser = super::load::parse_driver)]
    driver: Option<Vec<pb_driver::Backend>>,
    /// Run every cell across each of these networks (comma-separated:
    /// loopback, lan, wan-origin, or a `[network.NAME]` of the file), one
    /// cell per network, whatever the file says. Driver, core and origins
    /// then run in network namespaces of their own joined by links with
    /// the network's delay and loss; needs root (elsewhere the cells run
    /// on loopback and their results say why).
    #[arg(long, value_delimiter = ',', value_name = "NETWORK")]
    network: Option<Vec<String>>,
    /// Drive every trial from these hosts at once (comma-separated SSH
    /// destinations) instead of from this process: each runs `proxybench
    /// load` with its share of the cell's connections and rate, all
    /// started at one instant (their clock offsets measured and
    /// recorded); their results are kept under `<out>/fleet/` and merged
    /// exactly. A host that fails fails the cell; one that falls behind
    /// marks it driver-bound. Needs --core-address.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "HOST",
        requires = "core_address"
    )]
    drivers: Option<Vec<String>>,
    /// With --drivers: this host's address as the driver hosts reach it;
    /// the core and the origins listen on it.
    #[arg(long, value_name = "ADDRESS", requires = "drivers")]
    core_address: Option<std::net::IpAddr>,
    /// With --drivers: the SSH configuration file (`ssh -F`) that says how
    /// to reach the hosts (user, key, port); the usual one otherwise.
    /// Sessions run with BatchMode: a host must accept a key.
    #[arg(long, value_name = "FILE", requires = "drivers")]
    ssh_config: Option<PathBuf>,
    /// With --drivers: the proxybench executable on the driver hosts
    /// (default: `proxybench` on their PATH). Use the same version as
    /// this one.
    #[arg(long, value_name = "PATH", requires = "drivers")]
    driver_exe: Option<String>,
    /// Skip the conformance suite that otherwise runs first (its results
    /// mark any core that fails a case).
    #[arg(long)]
    skip_conform: bool,
    /// CPUs the run may use (default: all this process may run on).
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Extra work per request in every core, in spin iterations (about 1 ns
    /// each): a known injected cost for calibrating the regression gate.
    #[arg(long)]
    core_spin_iters: Option<u64>,
    /// Extra system calls per request in every core (`proxy
    /// --extra-syscalls`): a known kernel cost, for testing the counter
    /// gate. Not recorded in the results; for tests only.
    #[arg(long, default_value_t = 0, hide = true)]
    core_extra_syscalls: u32,
    /// A second proxybench build (e.g. the pull request's base) whose
    /// cores run beside this build's, trial by trial in A B B A order.
    /// Its results go to `<out>/ab-baseline/latest.json`; the report
    /// compares against them, and `proxybench gate --baseline
    /// <out>/ab-baseline/latest.json --current <out>/latest.json` judges.
    /// `--core-spin-iters` applies to this build only.
    #[arg(long, value_name = "PROXYBENCH")]
    baseline_exe: Option<PathBuf>,
    #[command(flatten)]
    externals: super::Externals,
    #[command(flatten)]
    progress: crate::progress::Options,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let scenario = match &args.scenario {
        Some(path) => ScenarioFile::load(path)?,
        None => ScenarioFile::builtin_default(),
    };
    let probe = super::probe();
    let cores = super::core_entries(&args.externals, probe.as_ref())?;
    let allowed_cpus = super::allowed_cpus(args.cpus)?;
    let fleet = match (args.drivers, args.core_address) {
        (Some(hosts), Some(core_address)) => Some(pb_runner::fleet::FleetConfig {
            hosts,
            core_address,
            ssh_config: args.ssh_config,
            driver_exe: args.driver_exe.unwrap_or_else(|| "proxybench".into()),
            results_dir: args.out.clone(),
        }),
        _ => None,
    };
    let request = Request {
        scenario,
        overrides: Overrides {
            cores: args.cores,
            trials: args.trials,
            duration_s: args.duration,
            warmup_s: args.warmup,
            core_spin_iters: args.core_spin_iters,
            drivers: args.driver,
            networks: args.network,
        },
        conform: !args.skip_conform,
        results_dir: args.out,
        reports_dir: args.reports,
        exe: std::env::current_exe().context("locating the proxybench executable")?,
        proxy_args: {
            let mut proxy_args = args.externals.proxy_args()?;
            if args.core_extra_syscalls > 0 {
                eprintln!(
                    "note: every core makes {} extra system call(s) per request (--core-extra-syscalls, a test knob)",
                    args.core_extra_syscalls
                );
                proxy_args.push(format!("--extra-syscalls={}", args.core_extra_syscalls));
            }
            proxy_args
        },
        cores,
        allowed_cpus,
        io_uring: probe.io_uring(),
        memlock_limit: probe.memlock_limit(),
        build: super::build_info(),
        baseline: match &args.baseline_exe {
            Some(exe) => Some(pb_runner::Baseline {
                exe: exe.clone(),
                build: super::build_info_of(exe)?,
            }),
            None => None,
        },
        fleet,
    };
    if request.build.profile != "release" {
        eprintln!(
            "note: this is a {} build; figures are only comparable from --release builds",
            request.build.profile
        );
    }
    let mut display = Display::choose(
        args.progress,
        Shown {
            conformance_steps: false,
        },
    );
    let done = pipeline::run(&request, &mut display)?;
    drop(display);
    let mut text = format!(
        "{}\nresults: {} (also {})\n",
        pb_runner::table::render(&done.results),
        done.written.latest.display(),
        done.written.stamped.display(),
    );
    if let Some((latest, stamped)) = &done.written.baseline {
        text.push_str(&format!(
            "baseline build's results: {} (also {})\n",
            latest.display(),
            stamped.display()
        ));
    }
    text.push_str(&format!(
        "report: {} (also {}; every run: {})\n",
        done.report.display(),
        done.latest_report.display(),
        done.runs_index.display()
    ));
    crate::print(&text)?;
    Ok(match done.verdict {
        Verdict::Passed => Outcome::Ok,
        Verdict::Failed => Outcome::Failed,
    })
}
