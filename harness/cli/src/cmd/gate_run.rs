//! `proxybench gate run`: the paired, sequential A/B gate in one command.
//! Builds the baseline (and, if asked, the candidate) from git revisions,
//! runs the scenario's trials of both builds in pairs (`--pairing`: by
//! default a pair's two trials at the same time on the same CPUs, or on
//! disjoint halves, or `A B B A` through the runner's A/B mode), hands
//! each batch to [`pb_gate::paired::Session`] and stops at the first look
//! that decides every figure. Exit 0: no regression; 1: a regression; 2:
//! an error; 3: inconclusive at this noise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use pb_gate::Policy;
use pb_gate::paired::{Overall, Session};
use pb_progress::{Event, Progress as _};
use pb_runner::pipeline::{self, Overrides, Request};
use pb_runner::rendezvous::Rendezvous;
use pb_scenario::ScenarioFile;
use pb_sys::CpuSet;

use crate::Outcome;
use crate::progress::{Display, Shown};

/// Options of `gate run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario file whose cells are judged (the default: one connection,
    /// so a busy machine does not change the work per request).
    #[arg(default_value = "ci/gate-paired.toml")]
    scenario: PathBuf,
    /// The baseline as a git revision of the repository (`--repo`), built
    /// in release with `cargo build --release --locked -p proxybench` in a
    /// worktree of its own (target/gate-run/; kept for the next run).
    #[arg(long, value_name = "REV", required_unless_present = "baseline_exe")]
    baseline_rev: Option<String>,
    /// The baseline as a proxybench executable already built.
    #[arg(long, value_name = "PROXYBENCH", conflicts_with = "baseline_rev")]
    baseline_exe: Option<PathBuf>,
    /// The candidate as a git revision, built like the baseline. Default:
    /// this proxybench (build it with `cargo build --release -p
    /// proxybench`, which is what a revision's build runs too).
    #[arg(long, value_name = "REV")]
    candidate_rev: Option<String>,
    /// The candidate as a proxybench executable already built.
    #[arg(long, value_name = "PROXYBENCH", conflicts_with = "candidate_rev")]
    candidate_exe: Option<PathBuf>,
    /// The git repository revisions are taken from.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Policy (TOML): the `[paired]` section and the thresholds of
    /// `[metrics.*]`; built-in defaults when omitted.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Only these cores (comma-separated), intersected with each cell's list.
    #[arg(long, value_delimiter = ',')]
    cores: Option<Vec<String>>,
    /// Pairs at the first look (overrides the policy's `min_pairs`).
    #[arg(long)]
    min_pairs: Option<usize>,
    /// The budget in pairs (overrides the policy's `max_pairs`).
    #[arg(long)]
    max_pairs: Option<usize>,
    /// Directory for both builds' results (every trial, stitched) and the
    /// verdict as JSON and Markdown.
    #[arg(long, default_value = "results/gate-run")]
    out: PathBuf,
    /// CPUs the trials may use (default: all this process may run on).
    #[arg(long)]
    cpus: Option<CpuSet>,
    /// Extra work per request in the candidate's cores, in spin
    /// iterations: a known injected regression, for calibrating the gate.
    #[arg(long)]
    core_spin_iters: Option<u64>,
    /// How the two trials of a pair share the machine. `together` (the
    /// default): at the same time on the same CPUs, each build's core on
    /// the core's CPUs and each build's driver on the driver's, so
    /// whatever slows the machine for a second slows both alike (duet
    /// benchmarking, Bulej et al. 2020). `split`: at the same time, each
    /// build on its own half of the CPUs (at least 4). `alternate`: one
    /// after the other, A B B A, each trial with the machine to itself.
    #[arg(long, value_enum, default_value_t = Pairing::Together)]
    pairing: Pairing,
    /// Let a split pairing run on fewer than 4 CPUs (each side then
    /// shares one CPU between its core and its driver): for tests only.
    #[arg(long, hide = true)]
    duet_any_cpus: bool,
    /// Accept builds of any profile (tests run debug builds); figures of
    /// anything but release builds mean little.
    #[arg(long, hide = true)]
    any_profile: bool,
    /// What to print: the table (`text`), a pull-request comment
    /// (`markdown`) or every figure (`json`). The exit code is the same.
    #[arg(long, value_enum, default_value_t = super::gate::Format::Text)]
    format: super::gate::Format,
    #[command(flatten)]
    externals: super::Externals,
    #[command(flatten)]
    progress: crate::progress::Options,
}

pub(crate) fn main(args: Args) -> anyhow::Result<Outcome> {
    let policy = Policy::load_or_default(args.policy.as_deref())?
        .with_pairs(args.min_pairs, args.max_pairs)
        .context("--min-pairs / --max-pairs")?;
    let scenario = ScenarioFile::load(&args.scenario)?;
    let store = args.repo.join("target/gate-run");
    let baseline = match (&args.baseline_rev, &args.baseline_exe) {
        (Some(rev), _) => build_revision(&args.repo, rev, &store)?,
        (None, Some(exe)) => private_copy(exe, &store.join("bin/baseline-exe"))?,
        (None, None) => bail!("name the baseline: --baseline-rev REV or --baseline-exe PATH"),
    };
    let candidate = match (&args.candidate_rev, &args.candidate_exe) {
        (Some(rev), _) => build_revision(&args.repo, rev, &store)?,
        (None, Some(exe)) => private_copy(exe, &store.join("bin/candidate-exe"))?,
        (None, None) => {
            let me = std::env::current_exe().context("locating the proxybench executable")?;
            private_copy(&me, &store.join("bin/candidate-this"))?
        }
    };
    let candidate_build = super::build_info_of(&candidate)?;
    let baseline_build = super::build_info_of(&baseline)?;
    for (side, build) in [
        ("candidate", &candidate_build),
        ("baseline", &baseline_build),
    ] {
        if build.profile != "release" && !args.any_profile {
            bail!(
                "the {side} is a {} build; gate run compares release builds only \
                 (cargo build --release -p proxybench)",
                build.profile
            );
        }
    }
    if super::build_info().profile != "release" {
        eprintln!(
            "note: this proxybench (the driver of both builds' trials) is a {} build; \
             its driver may be the bottleneck (cargo build --release -p proxybench)",
            super::build_info().profile
        );
    }
    eprintln!(
        "gate run: baseline {} ({}), candidate {} ({})",
        baseline_build.git_revision,
        baseline.display(),
        candidate_build.git_revision,
        candidate.display()
    );

    let probe = super::probe();
    let request = Request {
        scenario,
        overrides: Overrides {
            cores: args.cores,
            core_spin_iters: args.core_spin_iters,
            ..Overrides::default()
        },
        conform: false,
        results_dir: args.out.clone(),
        reports_dir: args.out.join("reports"),
        exe: candidate.clone(),
        proxy_args: args.externals.proxy_args()?,
        cores: super::core_entries(&args.externals, probe.as_ref())?,
        allowed_cpus: super::allowed_cpus(args.cpus)?,
        io_uring: probe.io_uring(),
        memlock_limit: probe.memlock_limit(),
        build: candidate_build,
        baseline: Some(pb_runner::Baseline {
            exe: baseline,
            build: baseline_build,
        }),
        fleet: None,
    };
    let cfg = pipeline::plan(&request)?;
    if args.duet_any_cpus && args.pairing != Pairing::Split {
        bail!("--duet-any-cpus goes with --pairing split");
    }
    let duet = match args.pairing {
        Pairing::Together => Some(Duet::together(&cfg)?),
        Pairing::Split => Some(Duet::split(&cfg, args.duet_any_cpus)?),
        Pairing::Alternate => None,
    };

    let mut session = Session::new(&policy);
    let (mut baseline_runs, mut candidate_runs) = (Vec::new(), Vec::new());
    // Trials a duet ran without their partner beside them.
    let mut alone = 0;
    let mut display = Display::choose(
        args.progress,
        Shown {
            conformance_steps: false,
        },
    );
    while let Some(pairs) = session.next_batch() {
        let trials = u32::try_from(pairs).context("too many pairs")?;
        let (base, cand) = match &duet {
            Some(duet) => {
                let (base, cand, apart) = duet.run(trials, &mut display)?;
                alone += apart;
                (base, cand)
            }
            None => {
                let mut batch = cfg.clone();
                batch.scenario.run.trials = trials;
                let ran = pb_runner::matrix::run(&batch, &mut display)?;
                let base = ran
                    .baseline
                    .context("the runner returned no baseline results for an A/B run")?;
                (base, ran.results)
            }
        };
        if let Err(problems) = session.add(&base, &cand) {
            bail!(
                "the trials cannot be paired:\n  - {}",
                problems.join("\n  - ")
            );
        }
        let report = session.report();
        let open = report
            .rows
            .iter()
            .filter(|r| r.judgement.verdict.is_open())
            .count();
        display.event(Event::Note(&format!(
            "gate run: {} pairs, {} of {} figures decided",
            session.pairs(),
            report.rows.len() - open,
            report.rows.len()
        )));
        baseline_runs.push(base);
        candidate_runs.push(cand);
    }
    drop(display);
    let mut report = session.report();
    report.notes.push(args.pairing.describe().into());
    if alone > 0 {
        report.notes.push(format!(
            "{alone} of the {} trials ran without the other build's trial beside them (a side came late, ended or skipped a cell): those pairs were not taken at the same moment",
            2 * session.pairs()
        ));
    }

    // Every trial of each side, stitched, for `proxybench report` and a
    // second look with `proxybench gate`.
    let baseline_all = pb_results::merge::concat(baseline_runs)?;
    let candidate_all = pb_results::merge::concat(candidate_runs)?;
    let (candidate_file, _) = pb_results::io::write_results(&candidate_all, &args.out)?;
    let (baseline_file, _) =
        pb_results::io::write_results(&baseline_all, &args.out.join("baseline"))?;
    let json = serde_json::to_string_pretty(&report.json())?;
    write(&args.out.join("gate.json"), &format!("{json}\n"))?;
    write(&args.out.join("gate.md"), &report.markdown())?;

    let text = match args.format {
        super::gate::Format::Text => format!(
            "{}results: {} (baseline: {}); verdict: {}, {}\n",
            report.text(),
            candidate_file.display(),
            baseline_file.display(),
            args.out.join("gate.json").display(),
            args.out.join("gate.md").display()
        ),
        super::gate::Format::Markdown => report.markdown(),
        super::gate::Format::Json => format!("{json}\n"),
    };
    crate::print(&text)?;
    Ok(match report.overall {
        Overall::NoRegression => Outcome::Ok,
        Overall::Regression => Outcome::Failed,
        Overall::Inconclusive => Outcome::Inconclusive,
    })
}

/// How the two trials of a pair share the machine (`--pairing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Pairing {
    /// At the same time, on the same CPUs.
    Together,
    /// At the same time, each build on its own half of the CPUs.
    Split,
    /// One after the other (A B B A).
    Alternate,
}

impl Pairing {
    /// The verdict's note on how the pairs were taken.
    fn describe(self) -> &'static str {
        match self {
            Pairing::Together => {
                "pairing together: the two trials of each pair ran at the same time on the same CPUs"
            }
            Pairing::Split => {
                "pairing split: the two trials of each pair ran at the same time, each build on its own half of the CPUs"
            }
            Pairing::Alternate => {
                "pairing alternate: the two trials of each pair ran one after the other, A B B A"
            }
        }
    }
}

/// A duet: one single-build run per side, started together for every
/// batch, on the same CPUs or on disjoint halves.
struct Duet {
    baseline: pb_runner::RunConfig,
    candidate: pb_runner::RunConfig,
}

/// What each side's CPU plan says when both builds ran on the same CPUs:
/// a result must say that another run shared its CPUs.
const SHARED_NOTE: &str =
    "pairing together: the other build's trial of each pair ran at the same time on these CPUs";

impl Duet {
    /// `cfg`'s CPUs split in two halves, the candidate's cores on the
    /// first and the baseline's on the second, each side measured alone.
    fn split(cfg: &pb_runner::RunConfig, any_cpus: bool) -> anyhow::Result<Duet> {
        let ids = cfg.allowed_cpus.ids();
        if ids.len() < 4 && !any_cpus {
            bail!(
                "--pairing split needs at least 4 CPUs (each build's core and driver apart), \
                 and this run may use {} ({:?}); --pairing together runs both builds on the same CPUs",
                ids.len(),
                ids
            );
        }
        anyhow::ensure!(ids.len() >= 2, "--pairing split needs at least 2 CPUs");
        let half = ids.len() / 2;
        let set = |ids: &[usize]| CpuSet::new(ids.to_vec()).context("an empty CPU set");
        let mut duet = Duet::together(cfg)?;
        duet.candidate.allowed_cpus = set(&ids[..half])?;
        duet.baseline.allowed_cpus = set(&ids[half..])?;
        Ok(duet)
    }

    /// Both sides on all of `cfg`'s CPUs: each build's core where the
    /// plan puts the core, each build's driver where it puts the driver.
    /// A second, a slower CPU or a neighbour's burst then falls on both
    /// builds' trials of a pair, not on one of them; on a 2-vCPU VM this
    /// took the minimum detectable effect the gate printed from 11–17 %
    /// (A B B A) to 6–9 % (ci/README.md, "The paired gate").
    fn together(cfg: &pb_runner::RunConfig) -> anyhow::Result<Duet> {
        let side = cfg
            .baseline
            .as_ref()
            .context("a gate run always has a baseline build")?;
        let mut candidate = cfg.clone();
        candidate.baseline = None;
        let mut baseline = cfg.clone();
        baseline.baseline = None;
        baseline.exe = side.exe.clone();
        baseline.build = side.build.clone();
        // The injected cost is the candidate's alone, as in A B B A.
        baseline.scenario.run.core_spin_iters = 0;
        Ok(Duet {
            baseline,
            candidate,
        })
    }

    /// `trials` trials of each side at the same time: (baseline,
    /// candidate). The candidate's run reports to `progress` (its trials,
    /// its CPU plan, a core that could not start); the baseline's, kept
    /// in step with it, would say the same again.
    fn run(
        &self,
        trials: u32,
        progress: &mut (dyn pb_progress::Progress + Send),
    ) -> anyhow::Result<(pb_results::Results, pb_results::Results, u64)> {
        // Trial k of each side at the same moment: both meet before every
        // trial. A side that is slow to come is waited for a trial's
        // length and ten seconds more, once; a side whose run ends
        // leaves; either ends the pairing for the batch, and the trials
        // run apart are counted. Each batch meets afresh.
        let run = &self.candidate.scenario.run;
        let patience = Duration::from_secs_f64(run.warmup_s + run.duration_s + 10.0);
        let meet = Rendezvous::new(2, patience);
        let batch = |cfg: &pb_runner::RunConfig| {
            let mut cfg = cfg.clone();
            cfg.scenario.run.trials = trials;
            cfg.in_step_with = Some(meet.clone());
            cfg
        };
        let (baseline, candidate) = (batch(&self.baseline), batch(&self.candidate));
        let (base, cand) = std::thread::scope(|scope| {
            let base = scope.spawn(|| pb_runner::matrix::run(&baseline, &mut pb_progress::ignore));
            let cand = scope.spawn(|| pb_runner::matrix::run(&candidate, progress));
            (base.join(), cand.join())
        });
        let base = base.map_err(|_| anyhow::anyhow!("the baseline side's runner panicked"))??;
        let cand = cand.map_err(|_| anyhow::anyhow!("the candidate side's runner panicked"))??;
        let (mut base, mut cand) = (base.results, cand.results);
        let alone = meet.alone();
        // Shared exactly when both sides were given the same CPUs.
        let shared = self.baseline.allowed_cpus == self.candidate.allowed_cpus;
        for results in [&mut base, &mut cand] {
            let plan = &mut results.environment.cpu_plan;
            if shared {
                plan.shared = true;
                plan.note = format!("{}; {SHARED_NOTE}", plan.note);
            }
            if alone > 0 {
                plan.note = format!(
                    "{}; {alone} trial(s) of the two builds' runs ran without the other build's trial beside them",
                    plan.note
                );
            }
        }
        Ok((base, cand, alone))
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A copy of `exe` at `dir/proxybench`: the trials run from a file no
/// rebuild can replace halfway through.
fn private_copy(exe: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let to = dir.join("proxybench");
    let _ = std::fs::remove_file(&to);
    std::fs::copy(exe, &to)
        .with_context(|| format!("copying {} to {}", exe.display(), to.display()))?;
    Ok(to)
}

/// Runs `cmd`, failing with what it printed.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The release proxybench of git revision `rev`, built once per commit:
/// a detached worktree under `store/src`, `cargo build --release --locked
/// -p proxybench` into `store/build` (shared by every revision, so only
/// what changed is rebuilt), the binary kept as `store/bin/<commit>`.
fn build_revision(repo: &Path, rev: &str, store: &Path) -> anyhow::Result<PathBuf> {
    let commit = run(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["rev-parse", "--verify", "--end-of-options"])
            .arg(format!("{rev}^{{commit}}")),
        &format!("resolving revision {rev:?}"),
    )?;
    let bin = store.join("bin").join(&commit).join("proxybench");
    if bin.is_file() {
        eprintln!(
            "gate run: {rev} ({commit}) already built: {}",
            bin.display()
        );
        return Ok(bin);
    }
    let store = std::path::absolute(store).context("locating target/gate-run")?;
    let src = store.join("src").join(&commit);
    if src.exists() {
        remove_worktree(repo, &src);
        let _ = std::fs::remove_dir_all(&src);
    }
    run(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "add", "--detach", "--force"])
            .arg(&src)
            .arg(&commit),
        &format!("checking out {rev} ({commit})"),
    )?;
    eprintln!(
        "gate run: building {rev} ({commit}) in release (cargo's output follows; the first build takes a while)"
    );
    let built = Command::new("cargo")
        .args(["build", "--release", "--locked", "-p", "proxybench"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", store.join("build"))
        .status()
        .context("starting cargo")?;
    let result = if built.success() {
        private_copy(
            &store.join("build/release/proxybench"),
            bin.parent().expect("bin has a parent"),
        )
    } else {
        Err(anyhow::anyhow!(
            "building {rev} ({commit}) failed ({built})"
        ))
    };
    remove_worktree(repo, &src);
    result
}

/// Removes a worktree this command added; a failure leaves a directory
/// the next run removes, so it is not an error.
fn remove_worktree(repo: &Path, src: &Path) {
    let _ = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["worktree", "remove", "--force"])
        .arg(src)
        .output();
}
