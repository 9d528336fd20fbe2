//! `proxybench claims`: the design article's claims as experiments, each
//! with a verdict on this machine (`pb-claims`), printed as a table and
//! written as a ledger (JSON) and a page.

use std::path::PathBuf;

use anyhow::Context as _;
use pb_results::claims::{ClaimVerdict, Ledger};
use pb_sys::CpuSet;

use crate::Outcome;
use crate::progress::{Display, Shown};

/// Options of `claims`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only these experiments (comma-separated): scaling, imbalance,
    /// buffer, borrow, reload, context, dynamic.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Short trials (0.3 s): every figure is measured, none is to be
    /// trusted. For trying the command out, and for tests.
    #[arg(long)]
    quick: bool,
    /// Skip the conformance suite that otherwise runs first on every
    /// core the experiments use.
    #[arg(long)]
    skip_conform: bool,
    /// Directory for the ledger and the experiments' results
    /// (`<run-id>/`, and the newest ledger as `latest.json`).
    #[arg(long, default_value = "results/claims")]
    out: PathBuf,
    /// Directory for the pages (`<run-id>/index.html` and one report per
    /// experiment run beside it).
    #[arg(long, default_value = "reports/claims")]
    reports: PathBuf,
    /// CPUs the experiments may use (default: all this process may run on).
    #[arg(long)]
    cpus: Option<CpuSet>,
    #[command(flatten)]
    externals: super::Externals,
    #[command(flatten)]
    progress: crate::progress::Options,
}

/// The allocation counter the in-process stacks are measured with.
fn allocations() -> u64 {
    crate::ALLOC.totals().allocations
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let probe = super::probe();
    let build = super::build_info();
    if build.profile != "release" {
        eprintln!(
            "note: this is a {} build; figures are only comparable from --release builds",
            build.profile
        );
    }
    // The in-process stacks' allocations are counted by this binary's
    // allocator, switched on for the whole run (one atomic add each).
    crate::ALLOC.switch_on();
    let request = pb_claims::Request {
        exe: std::env::current_exe().context("locating the proxybench executable")?,
        proxy_args: args.externals.proxy_args()?,
        cores: super::core_entries(&args.externals, probe.as_ref())?,
        allowed_cpus: super::allowed_cpus(args.cpus)?,
        io_uring: probe.io_uring(),
        memlock_limit: probe.memlock_limit(),
        build,
        results_dir: args.out,
        reports_dir: args.reports,
        only: args.only,
        quick: args.quick,
        conform: !args.skip_conform,
        allocations: Some(allocations),
    };
    let mut display = Display::choose(
        args.progress,
        Shown {
            conformance_steps: false,
        },
    );
    let done = pb_claims::run(&request, &mut display)?;
    drop(display);
    crate::print(&format!(
        "{}\nledger: {} (also {})\nreport: {}\n",
        table(&done.ledger),
        done.ledger_path.display(),
        done.latest_path.display(),
        done.report.display()
    ))?;
    Ok(Outcome::Ok)
}

/// The ledger as a terminal reads it: a line per claim with its verdict
/// and deciding figures, then why.
fn table(ledger: &Ledger) -> String {
    let mut out = format!(
        "claims of the design article, on {} CPU(s) ({})\n",
        ledger.machine.cpus, ledger.machine.cpu_model
    );
    for claim in &ledger.claims {
        let deciding: Vec<String> = claim
            .figures
            .iter()
            .filter(|f| f.deciding)
            .map(|f| match f.interval {
                Some([a, b]) if f.unit == "%" => {
                    format!("{:+.1} % [{a:+.1} … {b:+.1}] {}", f.value, f.label)
                }
                _ if f.value.fract() == 0.0 => format!("{}: {:.0} {}", f.label, f.value, f.unit),
                _ => format!("{}: {:.3} {}", f.label, f.value, f.unit),
            })
            .collect();
        let mark = match claim.verdict {
            ClaimVerdict::Holds => "HOLDS",
            ClaimVerdict::DoesNotHold => "DOES NOT HOLD",
            ClaimVerdict::WithinNoise => "within noise",
            ClaimVerdict::CannotTest => "cannot be tested here",
        };
        out.push_str(&format!(
            "\n{:>3}  {:<22} {}\n",
            claim.id, mark, claim.title
        ));
        for line in deciding {
            out.push_str(&format!("     {line}\n"));
        }
        out.push_str(&format!("     {}\n", claim.reason));
        for flag in &claim.flags {
            out.push_str(&format!("     ! {flag}\n"));
        }
    }
    out
}
