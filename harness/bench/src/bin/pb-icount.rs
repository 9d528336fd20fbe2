//! `pb-icount`: instruction counts for the deterministic CI gate.
//!
//! - `pb-icount calls --variant V --depth D --calls N`: N calls through one
//!   micro-benchmark stack, nothing else (what valgrind runs).
//! - `pb-icount measure --proxybench target/release/proxybench --out F`:
//!   every micro stack and every valgrind-countable core under valgrind,
//!   written as an instruction-count file `proxybench gate` compares.
//!
//! Exit codes: 0 ok, 2 when a count could not be taken.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pb_bench::drive::{DEPTHS, Driver, Variant, no_probe};
use pb_bench::icount::{self, Plan};

/// Instruction counts of the micro stacks and the cores, under valgrind.
#[derive(Debug, Parser)]
#[command(name = "pb-icount", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a fixed number of calls through one stack (valgrind runs this).
    Calls {
        /// tower-clone, tower-buffer, service-async or plain-fn.
        #[arg(long)]
        variant: Variant,
        /// Layers: 1, 4 or 16.
        #[arg(long)]
        depth: u32,
        /// Calls to make.
        #[arg(long)]
        calls: u64,
    },
    /// Count every micro stack and core under valgrind; write the file.
    Measure {
        /// The proxybench binary (release build) whose cores are counted.
        #[arg(long)]
        proxybench: Option<PathBuf>,
        /// Skip the cores (micro stacks only).
        #[arg(long)]
        no_cores: bool,
        /// Where to write the counts (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Cores to count (valgrind cannot run io_uring cores).
        #[arg(long, value_delimiter = ',')]
        cores: Option<Vec<String>>,
        /// Calls in the short and long micro runs, e.g. `2000,12000`.
        #[arg(long, value_delimiter = ',')]
        calls: Option<Vec<u64>>,
        /// Round trips in the short and long core runs, e.g. `1000,4000`.
        #[arg(long, value_delimiter = ',')]
        requests: Option<Vec<u64>>,
        /// Run pairs per core; the median is kept.
        #[arg(long)]
        repeats: Option<usize>,
        /// Client pause between round trips, µs.
        #[arg(long)]
        pause_us: Option<u64>,
        /// Hard limit per valgrind run, seconds (timeout -s KILL).
        #[arg(long, default_value_t = 300)]
        timeout_s: u64,
        /// Extra work per request in the cores (`proxy --spin-iters`): a
        /// known injected cost, to check the gate catches it. Never in a baseline.
        #[arg(long, default_value_t = 0)]
        core_spin_iters: u64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pb-icount: error: {}", pb_core::error::one_line(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

/// A short and a long run length.
fn pair(option: &str, values: &[u64]) -> anyhow::Result<[u64; 2]> {
    match values {
        [short, long] => Ok([*short, *long]),
        _ => anyhow::bail!("{option} takes two lengths, short and long (e.g. 1000,4000)"),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Calls {
            variant,
            depth,
            calls,
        } => {
            anyhow::ensure!(DEPTHS.contains(&depth), "depth must be one of {DEPTHS:?}");
            let driver = Driver::new().context("building the tokio runtime")?;
            let sample = driver.run(variant, depth, calls, no_probe);
            println!(
                "{} x{depth}: {calls} calls, checksum {}",
                variant.name(),
                sample.checksum
            );
            Ok(())
        }
        Command::Measure {
            proxybench,
            no_cores,
            out,
            cores,
            calls,
            requests,
            repeats,
            pause_us,
            timeout_s,
            core_spin_iters,
        } => {
            let me = std::env::current_exe().context("locating pb-icount")?;
            anyhow::ensure!(
                no_cores || proxybench.is_some(),
                "--proxybench PATH is required unless --no-cores is given"
            );
            let mut plan = Plan::standard(me, if no_cores { None } else { proxybench });
            if let Some(c) = cores {
                plan.cores = c;
            }
            if let Some(c) = calls {
                plan.calls = pair("--calls", &c)?;
            }
            if let Some(r) = requests {
                plan.requests = pair("--requests", &r)?;
            }
            if let Some(r) = repeats {
                plan.core_repeats = r;
            }
            if let Some(p) = pause_us {
                plan.pause = Duration::from_micros(p);
            }
            plan.valgrind.timeout = Duration::from_secs(timeout_s);
            plan.core_spin_iters = core_spin_iters;
            let report = icount::measure(&plan, &mut |line| eprintln!("{line}"))?;
            icount::write_report(&report, &out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("instruction counts: {}", out.display());
            Ok(())
        }
    }
}
