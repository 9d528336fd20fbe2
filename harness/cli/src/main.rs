//! `proxybench`: a thin command line over the harness libraries.
//!
//! | command | library |
//! |---|---|
//! | `cores` | `pb-cores` registry + `pb-core` probe |
//! | `proxy` | one core from the registry, as its own process |
//! | `origin` | `pb-origin`: the HTTP origin, as its own process |
//! | `load` | `pb-driver` alone against an address (`--start-at`, `--out -`: one host of a driver fleet) |
//! | `run` | `pb-runner` over a scenario file -> `pb-results` + table + `pb-report` (`--drivers`: the load from several hosts over SSH) |
//! | `clock` (hidden) | this host's clock for a fleet's offset probes |
//! | `report` | `pb-report`: results (and a baseline) -> HTML with PNG charts |
//! | `conform` | `pb-conform`: the case x core conformance matrix |
//! | `claims` | `pb-claims`: the design article's claims as experiments, with verdicts |
//! | `export` | `pb-results` export: one row per trial and cell, CSV or Parquet |
//! | `completions`, `man` | shell completions and man pages from this command line (clap_complete, clap_mangen) |
//! | `merge` | `pb-results` merge: exact combination of several drivers' files |
//! | `gate` | `pb-gate`: baseline vs current (results or instruction counts), exit 1 on regression |
//! | `gate run` | `pb-runner` A/B trials in pairs + `pb-gate::paired`: builds revisions, judges sequentially, exit 3 when inconclusive |
//!
//! Exit codes: 0 ok, 1 a failed check (errors in a run, a failed cell, a
//! regression), 2 usage or environment error, 3 a check that could not
//! decide (`gate run`: inconclusive at this noise).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod cmd;
mod progress;

/// Every allocation of the binary goes through it; it counts only once a
/// core is started with `proxy --count-allocations`.
#[global_allocator]
static ALLOC: pb_alloc::CountingAlloc = pb_alloc::CountingAlloc::off();

/// Benchmark and conformance harness for Rust proxy cores.
#[derive(Debug, Parser)]
#[command(name = "proxybench", version, long_version = cmd::LONG_VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every core and whether it can run on this machine.
    Cores(cmd::cores::Args),
    /// Start one proxy core (the runner spawns these; useful by hand too).
    Proxy(cmd::proxy::Args),
    /// Start the HTTP origin server (forwarding scenarios spawn these).
    Origin(cmd::origin::Args),
    /// Run the load driver alone against an address.
    Load(cmd::load::Args),
    /// Run a scenario matrix: results JSON plus a table.
    Run(cmd::run::Args),
    /// Run the conformance and fault suite against every core.
    Conform(cmd::conform::Args),
    /// Send generated requests through our cores and the reference proxies; list where a core differs from all of them.
    Differential(cmd::differential::Args),
    /// Test the design article's claims on this machine: experiments, a verdict for each, a ledger and a page.
    Claims(cmd::claims::Args),
    /// Render a results file (optionally against a baseline) as HTML with PNG charts.
    Report(cmd::report::Args),
    /// Combine result files from several driver processes or hosts.
    Merge(cmd::merge::Args),
    /// Write a results file as CSV or Parquet, one row per trial and cell, for notebooks and dashboards.
    Export(cmd::export::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::docs::CompletionArgs),
    /// Print the man page, or write one per command with --out.
    Man(cmd::docs::ManArgs),
    /// Compare a current results (or instruction-count) file with a baseline; exit 1 on regression.
    Gate(cmd::gate::Args),
    /// Serve proxybench's gate filter on a Unix socket: the process a core
    /// with an `ipc` dynamic filter starts (not run by hand).
    #[command(hide = true)]
    FilterServe(cmd::filter::Args),
    /// Answer clock readings on standard input and output: what a driver
    /// fleet's runner starts on each host over SSH (not run by hand).
    #[command(hide = true)]
    Clock(cmd::clock::Args),
}

/// How a command ended, beyond success.
pub(crate) enum Outcome {
    /// Everything passed.
    Ok,
    /// A check failed (exit 1).
    Failed,
    /// A check could not decide (exit 3): `gate run` at a noise its
    /// budget cannot see through.
    Inconclusive,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cores(args) => cmd::cores::main(args),
        Command::Proxy(args) => cmd::proxy::main(args),
        Command::Origin(args) => cmd::origin::main(args),
        Command::Load(args) => cmd::load::main(args),
        Command::Run(args) => cmd::run::main(args),
        Command::Conform(args) => cmd::conform::main(args),
        Command::Differential(args) => cmd::differential::main(args),
        Command::Claims(args) => cmd::claims::main(args),
        Command::Report(args) => cmd::report::main(args),
        Command::Merge(args) => cmd::merge::main(args),
        Command::Export(args) => cmd::export::main(args),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man(args) => cmd::docs::man(args),
        Command::Gate(args) => cmd::gate::main(args),
        Command::FilterServe(args) => cmd::filter::main(args),
        Command::Clock(args) => cmd::clock::main(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Inconclusive) => ExitCode::from(3),
        Err(e) => {
            eprintln!(
                "proxybench: error: {}",
                pb_core::error::one_line(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}

/// Writes `text` to standard output and flushes it. A reader that went
/// away (`proxybench cores | head`) has all it wanted: that is no error,
/// and the command still ends with its own verdict. (Rust ignores
/// SIGPIPE, and `println!` would panic instead.)
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    print_bytes(text.as_bytes())
}

/// [`print`] for bytes.
pub(crate) fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to standard output"))
        }
        _ => Ok(()),
    }
}
