//! `proxybench completions SHELL` and `proxybench man`: shell completion
//! scripts and man pages generated from the command-line definition
//! itself (clap_complete, clap_mangen), so they never drift from the
//! options the binary accepts.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::Outcome;

/// Options of `completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionArgs {
    /// The shell, e.g. `bash` (then `proxybench completions bash >
    /// ~/.local/share/bash-completion/completions/proxybench`).
    shell: clap_complete::Shell,
}

/// Options of `man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Directory for `proxybench.1` and one page per command
    /// (`proxybench-run.1`, ...); without it, the main page goes to
    /// standard output (`proxybench man | man -l -`).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn completions(args: CompletionArgs) -> anyhow::Result<Outcome> {
    let mut command = crate::Cli::command();
    // Into memory first: clap_complete panics on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "proxybench", &mut script);
    crate::print_bytes(&script)?;
    Ok(Outcome::Ok)
}

pub(crate) fn man(args: ManArgs) -> anyhow::Result<Outcome> {
    let command = crate::Cli::command();
    match args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the man page")?;
            crate::print_bytes(&page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
    }
    Ok(Outcome::Ok)
}
