//! `proxybench filter-serve`: the out-of-process filter a core with
//! `[dynamic] engine = "ipc"` starts (pb_dynamic::ipc). It says `ready`
//! on stdout once it listens and exits when its stdin closes, which
//! happens when the core that started it exits, however it exits.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// Options of `filter-serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Unix socket to listen on (must not exist).
    #[arg(long)]
    socket: PathBuf,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let listener = pb_dynamic::ipc::bind(&args.socket)
        .with_context(|| format!("cannot listen on {}", args.socket.display()))?;
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        std::process::exit(0);
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
    }
    pb_dynamic::ipc::serve(listener).context("accepting filter connections")?;
    Ok(Outcome::Ok)
}
