//! `proxybench report`: a results file (optionally against a baseline) ->
//! an HTML page with PNG charts, by `pb-report`.

use std::path::PathBuf;

use crate::Outcome;

/// Options of `report`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Results file to report on (e.g. results/latest.json).
    #[arg(long = "in", value_name = "RESULTS")]
    input: PathBuf,
    /// Results file to compare with: per-cell deltas, significant or within noise.
    #[arg(long, value_name = "RESULTS")]
    baseline: Option<PathBuf>,
    /// Core the ratios are taken to (default: tokio-tower when it ran, else the first core).
    #[arg(long, value_name = "CORE")]
    reference: Option<String>,
    /// Directory for index.html and the charts (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let options = pb_report::Options {
        reference: args.reference,
    };
    let report =
        pb_report::render_files(&args.input, args.baseline.as_deref(), &options, &args.out)?;
    println!("report: {}", report.html.display());
    Ok(Outcome::Ok)
}
