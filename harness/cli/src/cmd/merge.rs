//! `proxybench merge`: combine result files from driver processes or hosts
//! that loaded the same target at the same time.

use std::path::PathBuf;

use crate::Outcome;

/// Options of `merge`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Result files to combine (at least two), e.g. from `proxybench load --out`.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Where to write the merged file.
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let inputs = args
        .inputs
        .iter()
        .map(|path| pb_results::io::read_results(path))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = pb_results::merge::merge(&inputs)?;
    pb_results::io::write_results_file(&merged, &args.out)?;
    crate::print(&format!(
        "{}\nmerged {} files into {}\n",
        pb_runner::table::render(&merged),
        inputs.len(),
        args.out.display()
    ))?;
    Ok(Outcome::Ok)
}
