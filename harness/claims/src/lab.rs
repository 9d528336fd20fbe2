//! Where experiments run: a scenario file through the runner (plan ->
//! interleaved trials), its results written beside the ledger and
//! rendered as an ordinary report, and the questions every experiment
//! asks of them (a cell's trial figures, whether its numbers count).

use std::collections::BTreeMap;
use std::path::PathBuf;

use pb_progress::Progress;
use pb_results::{Cell, CellStatus, Results, Trial};
use pb_runner::pipeline;
use pb_scenario::ScenarioFile;

use crate::{ClaimsError, Request};

/// Trials of a quick run are this long (`--quick`: tests, a first look):
/// enough requests for every figure to exist, too few to trust.
const QUICK_DURATION_S: f64 = 0.3;
const QUICK_WARMUP_S: f64 = 0.1;

/// One scenario file as an experiment ran it.
#[derive(Debug, Clone)]
pub(crate) struct Ran {
    /// What it measured.
    pub results: Results,
    /// Its results file, relative to the ledger.
    pub file: String,
}

/// The experiments' workplace for one `proxybench claims` run.
pub(crate) struct Lab<'a> {
    pub(crate) request: &'a Request,
    /// `results/claims/<run-id>`: the ledger and every experiment's results.
    pub(crate) results_dir: PathBuf,
    /// `reports/claims/<run-id>`: the ledger's page and every experiment's report.
    pub(crate) reports_dir: PathBuf,
    /// Conformance of every core the experiments use, when it ran.
    pub(crate) conformance: Option<pb_conform::Matrix>,
    pub(crate) progress: &'a mut dyn Progress,
    /// Scenario runs by name: an experiment that needs another's run
    /// (claim 4 reads the Buffer experiment's) gets it once.
    ran: BTreeMap<String, Ran>,
}

impl<'a> Lab<'a> {
    pub(crate) fn new(
        request: &'a Request,
        results_dir: PathBuf,
        reports_dir: PathBuf,
        conformance: Option<pb_conform::Matrix>,
        progress: &'a mut dyn Progress,
    ) -> Lab<'a> {
        Lab {
            request,
            results_dir,
            reports_dir,
            conformance,
            progress,
            ran: BTreeMap::new(),
        }
    }

    /// CPUs the experiments may use.
    pub(crate) fn cpus(&self) -> usize {
        self.request.allowed_cpus.len()
    }

    /// Runs `file` under the name `slug` (its results file, its report's
    /// directory), or returns the run already made under that name.
    pub(crate) fn run(&mut self, file: ScenarioFile, slug: &str) -> Result<Ran, ClaimsError> {
        if let Some(ran) = self.ran.get(slug) {
            return Ok(ran.clone());
        }
        let results = self.execute(file)?;
        self.publish(results, slug)
    }

    /// [`run`](Self::run), round by round: `file.run.trials` rounds, each
    /// running every cell once with one trial, kept as one results file.
    /// The runner interleaves the cores of a cell; cells that differ in
    /// how the proxies are configured (a filter engine each) are compared
    /// this way instead, so that drift over the run falls on all of them
    /// alike.
    pub(crate) fn run_rounds(
        &mut self,
        mut file: ScenarioFile,
        slug: &str,
    ) -> Result<Ran, ClaimsError> {
        if let Some(ran) = self.ran.get(slug) {
            return Ok(ran.clone());
        }
        let rounds = file.run.trials;
        file.run.trials = 1;
        let mut merged: Option<Results> = None;
        for _ in 0..rounds {
            let round = self.execute(file.clone())?;
            match &mut merged {
                None => merged = Some(round),
                Some(merged) => add_round(merged, round),
            }
        }
        let mut results = merged.expect("a scenario file has at least one trial");
        for cell in &mut results.cells {
            cell.params.trials = rounds;
            cell.summary = pb_results::Summary::from_trials(&cell.trials)
                .ok()
                .flatten();
        }
        self.publish(results, slug)
    }

    /// Plans and runs `file` (shortened by `--quick`).
    fn execute(&mut self, mut file: ScenarioFile) -> Result<Results, ClaimsError> {
        if self.request.quick {
            file.run.duration_s = QUICK_DURATION_S;
            file.run.warmup_s = QUICK_WARMUP_S;
        }
        let r = self.request;
        let cfg = pipeline::plan(&pipeline::Request {
            scenario: file,
            overrides: pipeline::Overrides::default(),
            conform: false,
            results_dir: self.results_dir.clone(),
            reports_dir: self.reports_dir.clone(),
            exe: r.exe.clone(),
            proxy_args: r.proxy_args.clone(),
            cores: r.cores.clone(),
            allowed_cpus: r.allowed_cpus.clone(),
            io_uring: r.io_uring.clone(),
            memlock_limit: r.memlock_limit,
            build: r.build.clone(),
            baseline: None,
            fleet: None,
        })?;
        Ok(pb_runner::matrix::run(&cfg, self.progress)?.results)
    }

    /// Keeps an experiment's results under `slug`: the conformance of
    /// its cores attached (a core that failed a case does not count),
    /// `<slug>.json` beside the ledger, its report in `<slug>/`. Every
    /// experiment's results go through here, whether the runner made them
    /// ([`Lab::run`]) or the experiment itself (reload).
    pub(crate) fn publish(&mut self, mut results: Results, slug: &str) -> Result<Ran, ClaimsError> {
        if let Some(matrix) = &self.conformance {
            pipeline::attach_conformance(&mut results, matrix);
        }
        let name = format!("{slug}.json");
        let path = self.results_dir.join(&name);
        self.results_dir_exists()?;
        pb_results::io::write_results_file(&results, &path)?;
        pb_report::render(
            &path,
            &results,
            None,
            &pb_report::Options::default(),
            &self.reports_dir.join(slug),
        )?;
        let ran = Ran {
            results,
            file: name,
        };
        self.ran.insert(slug.to_owned(), ran.clone());
        Ok(ran)
    }

    /// Makes `results/claims/<run-id>/`, where experiments write.
    pub(crate) fn results_dir_exists(&self) -> Result<(), ClaimsError> {
        std::fs::create_dir_all(&self.results_dir).map_err(|source| {
            ClaimsError::Results(pb_results::io::ResultsIoError::Io {
                path: self.results_dir.clone(),
                source,
            })
        })
    }
}

impl Ran {
    /// The cell of `core` for the scenario cell labelled `label`, when
    /// its figures count: it ran to the end, without errors, on a core
    /// that passed conformance. Otherwise why not, in words.
    pub(crate) fn cell(&self, label: &str, core: &str) -> Result<&Cell, String> {
        let id = format!("{label}/{core}");
        let cell = self
            .results
            .cells
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| format!("{core} did not run {label}"))?;
        match cell.status {
            CellStatus::Ok => {}
            _ => {
                return Err(format!(
                    "{core} {}: {}",
                    if cell.status == CellStatus::Unavailable {
                        "is unavailable here"
                    } else {
                        "failed"
                    },
                    cell.reason.as_deref().unwrap_or("no reason given")
                ));
            }
        }
        if !cell.conformance_failures.is_empty() {
            return Err(format!(
                "{core} failed conformance ({}), so its numbers do not count",
                cell.conformance_failures.join(", ")
            ));
        }
        let errors: u64 = cell.trials.iter().map(|t| t.errors).sum();
        if errors > 0 {
            return Err(format!(
                "{core} answered {errors} request(s) wrongly in {label}, so its numbers do not count"
            ));
        }
        Ok(cell)
    }

    /// One figure of every trial of a cell.
    pub(crate) fn values(
        &self,
        label: &str,
        core: &str,
        figure: impl Fn(&Trial) -> Option<f64>,
    ) -> Result<Vec<f64>, String> {
        Ok(self
            .cell(label, core)?
            .trials
            .iter()
            .filter_map(figure)
            .collect())
    }

    /// What limits this run's figures: CPUs shared between roles, and
    /// cells whose throughput the driver may have bounded.
    pub(crate) fn flags(&self, what: &str) -> Vec<String> {
        let mut flags = Vec::new();
        let plan = &self.results.environment.cpu_plan;
        if plan.shared {
            flags.push(format!("{what}: threads share CPUs ({})", plan.note));
        }
        for cell in &self.results.cells {
            let bound = cell.trials.iter().filter(|t| t.driver_bound).count();
            if bound > 0 {
                flags.push(format!(
                    "{what}: {} driver-bound in {bound} of {} trials (its throughput is a lower bound)",
                    cell.id,
                    cell.trials.len()
                ));
            }
        }
        flags
    }
}

/// Appends one round's trials to the cells of the rounds before it (the
/// same cell ids, numbered on); a cell that failed or was unavailable in
/// any round keeps that status and its reason.
fn add_round(merged: &mut Results, round: Results) {
    for cell in round.cells {
        let Some(into) = merged.cells.iter_mut().find(|c| c.id == cell.id) else {
            merged.cells.push(cell);
            continue;
        };
        for mut trial in cell.trials {
            trial.index = into.trials.len() as u32;
            into.trials.push(trial);
        }
        if into.status == CellStatus::Ok && cell.status != CellStatus::Ok {
            into.status = cell.status;
            into.reason = cell.reason;
        }
    }
}

/// How evenly a trial's work spread over `n` serving threads: the
/// busiest of its `n` busiest threads over their mean CPU (1.0: even;
/// `n`: one thread did everything). `None` without `n` threads recorded.
pub(crate) fn balance(trial: &Trial, n: usize) -> Option<f64> {
    let busiest: Vec<f64> = trial.threads.iter().take(n).map(|t| t.cpu_us).collect();
    let mean = busiest.iter().sum::<f64>() / n as f64;
    (n >= 2 && busiest.len() == n && mean > 0.0).then(|| busiest[0] / mean)
}

/// The median of `values`, for figures shown beside a verdict.
pub(crate) fn median(values: &[f64]) -> f64 {
    pb_stats::median(values).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_is_the_busiest_over_the_mean_of_the_busiest_n() {
        let mut trial: Trial = serde_json::from_value(serde_json::json!({
            "index": 0, "sequence": 0, "window_s": 1.0, "requests": 1, "qps": 1.0,
            "errors": 0, "errors_by_kind": {},
            "latency_us": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0, "mean": 1.0},
            "histogram": "HISTF", "core_cpu_us": 1.0, "cpu_us_per_req": 1.0,
            "driver_cpu_us": 1.0, "driver_cpu_us_per_req": 1.0, "driver_util": 0.1,
            "rss_max_bytes": 1, "driver_bound": false, "driver_bound_reason": null
        }))
        .unwrap();
        let thread = |name: &str, cpu_us| pb_results::ThreadCpu {
            name: name.into(),
            cpu_us,
        };
        trial.threads = vec![thread("a", 300.0), thread("b", 100.0), thread("c", 5.0)];
        assert_eq!(balance(&trial, 2), Some(1.5));
        assert_eq!(balance(&trial, 1), None);
        assert_eq!(balance(&trial, 4), None);
    }
}
