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
    /// Results file to compare with: per-cell changes judged as `gate` judges them.
    #[arg(long, value_name = "RESULTS")]
    baseline: Option<PathBuf>,
    /// Core the ratios are taken to (default: the first core in the file that is not `direct`).
    #[arg(long, value_name = "CORE")]
    reference: Option<String>,
    /// Gate policy (TOML) whose significance level, minimum trials and
    /// thresholds the report judges by; `gate`'s built-in defaults when omitted.
    #[arg(long, value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Directory for index.html and the charts (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let policy = pb_gate::Policy::load_or_default(args.policy.as_deref())?;
    let options = pb_report::Options {
        reference: args.reference,
        rule: policy.rule,
    };
    let report =
        pb_report::render_files(&args.input, args.baseline.as_deref(), &options, &args.out)?;
    crate::print(&format!("report: {}\n", report.html.display()))?;
    Ok(Outcome::Ok)
}
