//! `proxybench gate`: a current file against a baseline, through `pb-gate`.
//! Prints the table; exit 1 on a regression, 0 otherwise, 2 when the
//! inputs cannot be compared (different cells, too few trials: the error
//! says which). `gate run` ([`super::gate_run`]) runs the trials itself.

use std::path::PathBuf;

use pb_gate::Policy;

use crate::Outcome;

/// Options of `gate`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Baseline: a results file (`proxybench run`) or an instruction-count
    /// file (`pb-icount`), e.g. under results/baseline/.
    #[arg(long, required = true)]
    baseline: Option<PathBuf>,
    /// Current file of the same kind.
    #[arg(long, required = true)]
    current: Option<PathBuf>,
    /// Policy (TOML): significance level, minimum trials, thresholds.
    /// Built-in defaults when omitted: alpha 0.01, 5 trials, 10 % per
    /// metric, 2 % for instruction counts.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Judge two results files by their kernel and allocation counts per
    /// request (system calls, io_uring submissions, allocations) against
    /// the policy's absolute `[counters]` thresholds, instead of by timing.
    /// Deterministic on a fixed-rate one-connection scenario such as
    /// ci/gate-counters.toml.
    #[arg(long)]
    counters: bool,
    /// Output: `text` (the table, for terminals), `markdown` (a compact
    /// table for a pull-request comment or `$GITHUB_STEP_SUMMARY`,
    /// regressions first) or `json` (every judged figure, for bots). The
    /// exit code is the same in every format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `gate`'s other mode.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Run the builds yourself: baseline and candidate trials in pairs
    /// (by default each pair's two trials at once on the same CPUs), judged after each batch on the within-pair ratios, until
    /// every figure is a regression or not, or the budget is spent (then
    /// inconclusive, exit 3). Builds git revisions in release itself.
    Run(super::gate_run::Args),
}

/// How `gate` prints its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Markdown,
    Json,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let (baseline, current) = match (args.action, args.baseline, args.current) {
        (Some(Action::Run(run)), _, _) => return super::gate_run::main(run),
        (None, Some(baseline), Some(current)) => (baseline, current),
        _ => anyhow::bail!("gate needs --baseline and --current (or `gate run`)"),
    };
    let policy = Policy::load_or_default(args.policy.as_deref())?;
    // Every gate error names the file(s) and what is wrong with them.
    let mode = if args.counters {
        pb_gate::Mode::Counters
    } else {
        pb_gate::Mode::Timing
    };
    let report = pb_gate::gate(&baseline, &current, &policy, mode)?;
    let text = match args.format {
        Format::Text => {
            let verdict = if report.regressed() {
                format!(
                    "gate: FAILED: {} of {} compared figures regressed",
                    report.findings.regressions, report.findings.judged
                )
            } else {
                format!("gate: passed ({} figures compared)", report.findings.judged)
            };
            format!("{}{verdict}\n", report.table)
        }
        Format::Markdown => report.findings.markdown(),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&report.findings)?),
    };
    crate::print(&text)?;
    Ok(if report.regressed() {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}
