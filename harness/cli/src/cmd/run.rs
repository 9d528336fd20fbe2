//! `proxybench run`: a scenario matrix, results JSON and the table.

use std::path::PathBuf;

use anyhow::Context as _;
use pb_results::CellStatus;
use pb_runner::{CoreEntry, RunConfig};
use pb_scenario::ScenarioFile;
use pb_shared::CpuSet;

use crate::Outcome;

/// Options of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario file; the built-in default matrix (scenarios/default.toml) when omitted.
    scenario: Option<PathBuf>,
    /// Directory for results (`latest.json` and a timestamped copy).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Directory for HTML reports (`<run-id>/` and a copy in `latest/`).
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Only these cores (comma-separated), intersected with each cell's list.
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<String>>,
    /// Override the file's trials per cell.
    #[arg(long)]
    trials: Option<u32>,
    /// Override the file's measured seconds per trial.
    #[arg(long)]
    duration: Option<f64>,
    /// Override the file's warm-up seconds per trial.
    #[arg(long)]
    warmup: Option<f64>,
    /// Skip the conformance suite that otherwise runs first (its results
    /// mark any core that fails a case).
    #[arg(long)]
    skip_conform: bool,
    /// CPUs the run may use (default: all this process may run on).
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Extra work per request in every core, in spin iterations (about 1 ns
    /// each): a known injected cost for calibrating the regression gate.
    #[arg(long)]
    core_spin_iters: Option<u64>,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let mut scenario = match &args.scenario {
        Some(path) => ScenarioFile::load(path)?,
        None => ScenarioFile::builtin_default(),
    };
    if let Some(trials) = args.trials {
        anyhow::ensure!(trials >= 1, "--trials must be at least 1");
        scenario.run.trials = trials;
    }
    if let Some(d) = args.duration {
        anyhow::ensure!(
            d.is_finite() && d >= 0.05,
            "--duration must be at least 0.05 s"
        );
        scenario.run.duration_s = d;
    }
    if let Some(w) = args.warmup {
        anyhow::ensure!(
            w.is_finite() && w >= 0.0,
            "--warmup must be a non-negative number of seconds"
        );
        scenario.run.warmup_s = w;
    }
    if let Some(n) = args.core_spin_iters {
        scenario.run.core_spin_iters = n;
    }
    let names = pb_cores::names();
    if let Some(only) = &args.cores {
        for name in only {
            anyhow::ensure!(
                names.contains(&name.as_str()),
                "unknown core {name:?}; known: {}",
                names.join(", ")
            );
        }
        for cell in &mut scenario.cells {
            let list = cell
                .cores
                .take()
                .unwrap_or_else(|| names.iter().map(|s| s.to_string()).collect());
            cell.cores = Some(list.into_iter().filter(|c| only.contains(c)).collect());
        }
    }

    let probe = super::probe();
    let cores = pb_cores::CORES
        .iter()
        .map(|core| CoreEntry {
            name: core.info().name.to_owned(),
            runtime: core.info().runtime.to_owned(),
            service: core.info().service.to_owned(),
            availability: core.info().availability(probe.as_ref()),
        })
        .collect();
    let allowed_cpus = match args.cpus {
        Some(set) => set,
        None => CpuSet::allowed().context("reading this process's CPU affinity")?,
    };
    let cfg = RunConfig {
        exe: std::env::current_exe().context("locating the proxybench executable")?,
        scenario,
        cores,
        allowed_cpus,
        io_uring: probe.io_uring(),
        memlock_limit: probe.memlock_limit(),
        build: super::build_info(),
    };
    if cfg.build.profile != "release" {
        eprintln!(
            "note: this is a {} build; figures are only comparable from --release builds",
            cfg.build.profile
        );
    }
    // Conformance first: a core's numbers count only if it behaves.
    let conformance = if args.skip_conform {
        None
    } else {
        let mut used: Vec<String> = Vec::new();
        for cell in &cfg.scenario.cells {
            let names: Vec<String> = match &cell.cores {
                Some(list) => list.clone(),
                None => cfg.cores.iter().map(|c| c.name.clone()).collect(),
            };
            for name in names {
                let available = cfg
                    .cores
                    .iter()
                    .any(|c| c.name == name && c.availability.is_ok());
                if available && !used.contains(&name) {
                    used.push(name);
                }
            }
        }
        eprintln!(
            "conformance: {} cases x {} cores",
            pb_conform::CASES.len(),
            used.len()
        );
        let matrix = super::conform::run_suite(Some(&used), None, false)?;
        for case in &matrix.cases {
            for o in case.outcomes.iter().filter(|o| !o.passed) {
                eprintln!(
                    "conformance FAIL {}: {}: {}",
                    o.core,
                    case.name,
                    o.reason.as_deref().unwrap_or("")
                );
            }
        }
        Some(matrix)
    };
    eprintln!("running {}", cfg.scenario);
    let mut results = pb_runner::run(&cfg, &mut |line| eprintln!("{line}"))?;
    if let Some(matrix) = &conformance {
        results.conformance = Some(super::conform::to_results(matrix));
        for cell in &mut results.cells {
            cell.conformance_failures = matrix.failures_of(&cell.core);
        }
    }
    let (latest, stamped) = pb_results::io::write_results(&results, &args.out)?;
    let hdr_dir = args.out.join("hdr").join(&results.run_id);
    pb_results::hdr::write_hdr_files(&results, &hdr_dir)?;
    println!("{}", pb_runner::table::render(&results));
    println!("results: {} (also {})", latest.display(), stamped.display());
    let (report, latest_report) = pb_report::publish_run(&stamped, &results, &args.reports)?;
    println!(
        "report: {} (also {})",
        report.html.display(),
        latest_report.display()
    );

    let failed = results.cells.iter().any(|c| {
        c.status == CellStatus::Failed
            || c.summary.as_ref().is_some_and(|s| s.errors > 0)
            || !c.conformance_failures.is_empty()
    });
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}
