//! `pb-calibrate`: small steps of `scripts/gate-calibration.sh`.
//!
//! - `pb-calibrate concat --out F a.json b.json ...`: one results file
//!   with every trial of the inputs (runs of one build made alternately
//!   with another's, one trial each).
//! - `pb-calibrate median --metric cpu_us_per_req F`: a metric's median
//!   over every trial of `F`, printed as a bare number.
//! - `pb-calibrate spin-ns`: nanoseconds per iteration of the cores'
//!   `--spin-iters` loop on this machine, printed as a bare number.
//! - `pb-calibrate noise --duty 0.5 --seconds 600`: a background load of
//!   known duty cycle (the calibration's busy machine), for at most the
//!   seconds given; prints the duty cycle achieved when it ends.
//!
//! Exit codes: 0 ok, 2 on any error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pb_stats::Metric;

/// Steps of the gate calibration script.
#[derive(Debug, Parser)]
#[command(name = "pb-calibrate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stitch single-trial results files of one build into one file.
    Concat {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Inputs, in the order they ran.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Print a metric's median over every trial of a results file.
    Median {
        /// cpu_us_per_req, latency_p99_us or qps.
        #[arg(long)]
        metric: String,
        /// The results file.
        file: PathBuf,
    },
    /// Print nanoseconds per spin iteration measured here.
    SpinNs {
        /// Iterations per timed burst.
        #[arg(long, default_value_t = 20_000_000)]
        iters: u64,
    },
    /// Keep CPUs busy for a known share of the time, then stop.
    Noise {
        /// Share of each period spent spinning, 0 to 1.
        #[arg(long)]
        duty: f64,
        /// The period, milliseconds.
        #[arg(long, default_value_t = 20)]
        period_ms: u64,
        /// Spinning threads (unpinned).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Stop after this many seconds whatever happens.
        #[arg(long)]
        seconds: f64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "pb-calibrate: error: {}",
                pb_core::error::one_line(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Concat { out, inputs } => {
            let results = pb_bench::calibrate::concat_trials(&inputs)?;
            pb_results::io::write_results_file(&results, &out)?;
        }
        Command::Median { metric, file } => {
            let metric = Metric::ALL
                .into_iter()
                .find(|m| m.key() == metric)
                .with_context(|| format!("unknown metric {metric:?}"))?;
            let results = pb_results::io::read_results(&file)?;
            let median = pb_bench::calibrate::median_of(&results, metric)
                .with_context(|| format!("{}: no trial has {metric}", file.display()))?;
            println!("{median}");
        }
        Command::SpinNs { iters } => {
            println!("{}", pb_bench::calibrate::spin_ns_per_iter(iters));
        }
        Command::Noise {
            duty,
            period_ms,
            threads,
            seconds,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&duty),
                "--duty is a share of the time, 0 to 1; got {duty}"
            );
            anyhow::ensure!(
                seconds.is_finite() && seconds >= 0.0 && period_ms > 0,
                "--seconds must be a number of seconds and --period-ms above zero"
            );
            let achieved = pb_bench::calibrate::noise(
                duty,
                std::time::Duration::from_millis(period_ms),
                threads,
                seconds,
            );
            println!("{achieved:.3}");
        }
    }
    Ok(())
}
