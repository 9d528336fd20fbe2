//! `proxybench origin`: the HTTP origin server in its own process.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use pb_core::ReadyLine;
use pb_origin::OriginOpts;
use pb_sys::{CpuSet, Shutdown};

use crate::Outcome;

/// Options of `origin`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the readiness line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs to run on.
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Identity sent in every response's `x-origin` header.
    #[arg(long, default_value = "origin")]
    id: String,
    /// Append one JSON line per request received to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Delay every response by this many milliseconds (a slow origin).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Speak no HTTP: echo every connection's bytes and answer its FIN
    /// (the upstream of tcp-forward).
    #[arg(long)]
    echo: bool,
    /// Stop (as on SIGTERM) when the process that started this one ends:
    /// what the harness asks of every process it starts, so none outlives
    /// a harness that was killed.
    #[arg(long, hide = true)]
    exit_with_parent: bool,
    /// Misbehave on this share (0..=1) of requests, at random: reset
    /// mid-body, stall, or close after answering (a chaos test's origin).
    #[arg(long, value_parser = share)]
    chaos: Option<f64>,
    /// Seed of the chaos draws.
    #[arg(long, default_value_t = 1)]
    chaos_seed: u64,
    /// How long a chaos stall lasts, milliseconds.
    #[arg(long, default_value_t = 200)]
    chaos_stall_ms: u64,
}

/// A share: a number from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("a share is a number from 0 to 1, not {text:?}")),
    }
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let opts = OriginOpts {
        listen: args.listen,
        threads: args.threads,
        cpus: args.cpus,
        id: args.id.clone(),
        record: args.record,
        delay: std::time::Duration::from_millis(args.delay_ms),
        echo: args.echo,
        chaos: args.chaos.map(|share| pb_origin::Chaos {
            share,
            seed: args.chaos_seed,
            stall: std::time::Duration::from_millis(args.chaos_stall_ms),
        }),
    };
    let shutdown = Shutdown::on_signals().context("installing signal handlers")?;
    if args.exit_with_parent {
        shutdown
            .exit_with_parent()
            .context("asking to stop with the parent process")?;
    }
    pb_origin::run(&opts, &shutdown, &mut |addr| {
        let line = ReadyLine {
            core: format!("origin:{}", args.id),
            addr,
            threads: args.threads,
            pid: std::process::id(),
            alloc_table: None,
            admin: None,
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    Ok(Outcome::Ok)
}
