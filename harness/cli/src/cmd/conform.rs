//! `proxybench conform`: the conformance and fault suite, case x core.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;
use crate::progress::{Display, Shown};

/// Options of `conform`. Reference proxies (nginx, HAProxy) run the
/// suite too; where they answer a case differently from our contract that
/// is shown as data, and only our own cores decide the exit code.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only these cores (comma-separated); default every core that can run here.
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<String>>,
    /// Only cases whose name contains this.
    #[arg(long)]
    case: Option<String>,
    /// Also write the matrix as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print each verdict as it comes.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    externals: super::Externals,
    #[command(flatten)]
    progress: crate::progress::Options,
}

/// Runs the suite over `cores` (every available core when `None`),
/// its progress on stderr (every verdict when `verbose`).
fn run_suite(
    args: &Args,
    known: &[&'static dyn pb_core::ProxyCore],
) -> anyhow::Result<pb_conform::Matrix> {
    let probe = super::probe();
    let cores: Vec<String> = match &args.cores {
        Some(list) => {
            for name in list {
                super::find(known, name)?;
            }
            list.to_vec()
        }
        None => known
            .iter()
            .filter(|c| c.info().availability(probe.as_ref()).is_ok())
            .map(|c| c.info().name.to_owned())
            .collect(),
    };
    let exe = std::env::current_exe().context("locating the proxybench executable")?;
    let serves = |core: &str, scenario: &str| {
        known.iter().any(|c| {
            c.info().name == core && c.info().scenarios.iter().any(|s| s.name() == scenario)
        })
    };
    let proxy_args = args.externals.proxy_args()?;
    let mut display = Display::choose(
        args.progress,
        Shown {
            conformance_steps: args.verbose,
        },
    );
    let matrix = pb_conform::run_matrix(
        &exe,
        &proxy_args,
        &cores,
        &serves,
        args.case.as_deref(),
        &mut display,
    )?;
    Ok(matrix)
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let known = args.externals.cores()?;
    let matrix = run_suite(&args, &known)?;
    let mut text = format!("{}\n", matrix.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&matrix)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let ours_passed = matrix.cores.iter().all(|core| {
        known
            .iter()
            .any(|c| c.info().name == core && c.info().is_reference())
            || matrix.failures_of(core).is_empty()
    });
    if !matrix.all_passed() && ours_passed {
        text.push_str(
            "(reference proxies' differences from the contract are data; our cores passed)\n",
        );
    }
    crate::print(&text)?;
    Ok(if ours_passed {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
