//! The paired gate (`proxybench gate run`): trial pairs of a baseline and
//! a candidate build, taken side by side, judged as they arrive.
//!
//! The caller runs the trials (at the same time on the same CPUs or on
//! disjoint halves, or back to back in `A B B A` order) and hands each batch to [`Session::add`] as two results
//! files whose trial `k` was taken side by side; [`Session::next_batch`]
//! says how many pairs the next look needs, or that every figure is
//! decided. Each figure (a cell and a metric of `[paired] metrics`) is
//! judged by its [`pb_stats::Plan`]: regression when the interval of the
//! within-pair change lies wholly beyond the threshold, no regression
//! when wholly short of it, and inconclusive when the budget is spent
//! first. A figure keeps the verdict of the look that decided it.
//!
//! The overall verdict: any regression fails; otherwise any inconclusive
//! figure makes the run inconclusive (its own exit code); otherwise it
//! passes. Every figure's minimum detectable effect is printed, so a pass
//! also says what it could not have seen.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use pb_results::Results;
use pb_stats::fmt::{change, figure, interval};
use pb_stats::{Metric, PairedJudgement, PairedVerdict, Plan, median};

use crate::compare::matched_cells;
use crate::policy::Policy;

/// The version of the JSON form; bumped when a field changes meaning.
pub const PAIRED_VERSION: u32 = 1;

/// One figure's pairs, and its verdict once a look decided it.
#[derive(Debug, Clone)]
struct Figure {
    cell: String,
    metric: Metric,
    pairs: Vec<(f64, f64)>,
    decided: Option<PairedJudgement>,
}

/// The pairs so far, per cell and metric.
#[derive(Debug, Clone)]
pub struct Session {
    plans: BTreeMap<Metric, Plan>,
    looks: Vec<usize>,
    figures: Vec<Figure>,
    notes: Vec<String>,
    batches: usize,
}

/// The session's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every figure decided, none regressed.
    NoRegression,
    /// A figure regressed.
    Regression,
    /// No figure regressed, but at least one could not be decided within
    /// the budget at this noise.
    Inconclusive,
}

impl Overall {
    /// Words for the verdict line.
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::NoRegression => "passed",
            Overall::Regression => "FAILED",
            Overall::Inconclusive => "INCONCLUSIVE",
        }
    }
}

impl Session {
    /// An empty session under `policy`'s `[paired]` plans.
    pub fn new(policy: &Policy) -> Session {
        let plans: BTreeMap<Metric, Plan> = policy
            .paired
            .metrics
            .iter()
            .map(|&m| (m, policy.plan(m)))
            .collect();
        let looks = plans
            .values()
            .next()
            .map(|p| p.looks.clone())
            .expect("a policy names at least one paired metric");
        Session {
            plans,
            looks,
            figures: Vec::new(),
            notes: Vec::new(),
            batches: 0,
        }
    }

    /// Pairs per figure so far.
    pub fn pairs(&self) -> usize {
        self.figures
            .iter()
            .map(|f| f.pairs.len())
            .min()
            .unwrap_or(0)
    }

    /// The budget (the last look).
    pub fn budget(&self) -> usize {
        *self.looks.last().expect("plans have looks")
    }

    /// How many more pairs until the next look; `None` when every figure
    /// is decided or the budget is spent.
    pub fn next_batch(&self) -> Option<usize> {
        let have = self.pairs();
        if self.batches > 0 && self.figures.iter().all(|f| f.decided.is_some()) {
            return None;
        }
        self.looks.iter().find(|&&n| n > have).map(|n| n - have)
    }

    /// One batch: `baseline` and `candidate` results of the same cells,
    /// trial `k` of each taken side by side. Cells are matched by id
    /// (the first batch fixes them); `Err` lists every reason the batch
    /// cannot be paired. At a look, every open figure is judged.
    pub fn add(&mut self, baseline: &Results, candidate: &Results) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let matched = matched_cells(baseline, candidate, &mut problems, &mut notes);
        let mut batch: Vec<Figure> = Vec::new();
        for (b, c) in matched {
            if b.trials.len() != c.trials.len() {
                problems.push(format!(
                    "cell {}: {} baseline trial(s) against {} candidate trial(s); pairs need equal counts",
                    b.id,
                    b.trials.len(),
                    c.trials.len()
                ));
                continue;
            }
            for &metric in self.plans.keys() {
                let mut pairs = Vec::new();
                for (k, (tb, tc)) in b.trials.iter().zip(&c.trials).enumerate() {
                    match (tb.figure(metric), tc.figure(metric)) {
                        (Some(x), Some(y)) if x.is_finite() && y.is_finite() && x > 0.0 && y > 0.0 => {
                            pairs.push((x, y))
                        }
                        (x, y) => problems.push(format!(
                            "cell {} trial {}: {metric} is {} (baseline) and {} (candidate); a pair needs both above zero",
                            b.id,
                            k + 1,
                            shown(x),
                            shown(y)
                        )),
                    }
                }
                batch.push(Figure {
                    cell: b.id.clone(),
                    metric,
                    pairs,
                    decided: None,
                });
            }
        }
        if self.batches > 0 {
            for f in &self.figures {
                if !batch
                    .iter()
                    .any(|g| g.cell == f.cell && g.metric == f.metric)
                {
                    problems.push(format!(
                        "cell {} was in the earlier batches but not in this one",
                        f.cell
                    ));
                }
            }
            for g in &batch {
                if !self
                    .figures
                    .iter()
                    .any(|f| f.cell == g.cell && f.metric == g.metric)
                {
                    problems.push(format!("cell {} is new in this batch", g.cell));
                }
            }
        } else if batch.is_empty() && problems.is_empty() {
            problems.push("no cell could be paired (none measured on both sides)".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        for note in notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
        for g in batch {
            match self
                .figures
                .iter_mut()
                .find(|f| f.cell == g.cell && f.metric == g.metric)
            {
                Some(f) => f.pairs.extend(g.pairs),
                None => self.figures.push(g),
            }
        }
        self.batches += 1;
        for f in &mut self.figures {
            if f.decided.is_some() {
                continue;
            }
            let j = self.plans[&f.metric].judge(f.metric, &f.pairs);
            if !j.verdict.is_open() {
                f.decided = Some(j);
            }
        }
        Ok(())
    }

    /// Every figure's judgement now (decided ones as their look left them).
    pub fn report(&self) -> Report {
        let rows: Vec<Row> = self
            .figures
            .iter()
            .map(|f| {
                let judgement = f
                    .decided
                    .unwrap_or_else(|| self.plans[&f.metric].judge(f.metric, &f.pairs));
                let (b, c): (Vec<f64>, Vec<f64>) = f.pairs.iter().copied().unzip();
                Row {
                    cell: f.cell.clone(),
                    baseline_median: median(&b).unwrap_or(f64::NAN),
                    candidate_median: median(&c).unwrap_or(f64::NAN),
                    judgement,
                }
            })
            .collect();
        let overall = if rows
            .iter()
            .any(|r| r.judgement.verdict == PairedVerdict::Regression)
        {
            Overall::Regression
        } else if rows
            .iter()
            .all(|r| r.judgement.verdict == PairedVerdict::NoRegression)
        {
            Overall::NoRegression
        } else {
            Overall::Inconclusive
        };
        let plan = self.plans.values().next().expect("one plan at least");
        Report {
            rows,
            overall,
            pairs: self.pairs(),
            looks: self.looks.clone(),
            alpha: plan.alpha,
            alpha_per_look: plan.alpha_per_look(),
            power: plan.power,
            notes: self.notes.clone(),
        }
    }
}

fn shown(v: Option<f64>) -> String {
    v.map_or("missing".into(), |v| format!("{v}"))
}

/// One judged figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Cell id.
    pub cell: String,
    /// Median of the baseline's trials.
    pub baseline_median: f64,
    /// Median of the candidate's trials.
    pub candidate_median: f64,
    /// The plan's judgement.
    pub judgement: PairedJudgement,
}

/// What a paired gate run concluded, in every output form.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// One per cell and metric.
    pub rows: Vec<Row>,
    /// The verdict.
    pub overall: Overall,
    /// Pairs taken.
    pub pairs: usize,
    /// The planned looks.
    pub looks: Vec<usize>,
    /// Error rate per side over all looks.
    pub alpha: f64,
    /// Level of each look.
    pub alpha_per_look: f64,
    /// Power of the stated minimum detectable effects.
    pub power: f64,
    /// Remarks that did not stop the gate.
    pub notes: Vec<String>,
}

impl Report {
    /// The headline a reader needs first: the largest minimum detectable
    /// effect over the rows (the figure the gate sees least well).
    pub fn mde_line(&self) -> String {
        let worst = self
            .rows
            .iter()
            .filter_map(|r| Some((r, r.judgement.mde?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((r, mde)) => format!(
                "at this run's noise the gate detects ≥ {:.1} % worse with {:.0} % power within {} pairs \
                 (least sensitive figure: {} {}; within-pair noise {:.1} %)",
                mde * 100.0,
                self.power * 100.0,
                self.looks.last().copied().unwrap_or(0),
                r.cell,
                r.judgement.metric.key(),
                r.judgement.noise.unwrap_or(f64::NAN) * 100.0
            ),
            None => "too few pairs to measure the noise".into(),
        }
    }

    /// The terminal table, the minimum detectable effect and the verdict.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let w = self
            .rows
            .iter()
            .map(|r| r.cell.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let _ = writeln!(
            out,
            "{:<w$}  {:<15}  {:>10}  {:>10}  {:>9}  {:>19}  {:>9}  {:>6}  {:>6}  {:>5}  verdict",
            "cell",
            "metric",
            "baseline",
            "candidate",
            "change",
            "interval",
            "threshold",
            "noise",
            "MDE",
            "pairs"
        );
        for r in &self.rows {
            let j = &r.judgement;
            let _ = writeln!(
                out,
                "{:<w$}  {:<15}  {:>10}  {:>10}  {:>9}  {:>19}  {:>9}  {:>6}  {:>6}  {:>5}  {}",
                r.cell,
                j.metric.label(),
                figure(j.metric, r.baseline_median),
                figure(j.metric, r.candidate_median),
                change(j.estimate.unwrap_or(f64::NAN)),
                interval(j.interval),
                format!("{:.1} %", j.threshold * 100.0),
                percent(j.noise),
                percent(j.mde),
                j.pairs,
                j.verdict.as_str(),
            );
        }
        let _ = writeln!(
            out,
            "change = Hodges-Lehmann estimate of the within-pair ratio, \
             interval at {:.4} per side per look (looks at {} pairs: {:.0} % per side in all); \
             a regression needs the whole interval beyond the threshold, a pass the whole interval short of it",
            self.alpha_per_look,
            self.looks
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.alpha * 100.0
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out, "{}", self.mde_line());
        let _ = writeln!(out, "{}", self.verdict_line());
        out
    }

    /// `gate run: passed (…)`, `FAILED`, `INCONCLUSIVE`.
    pub fn verdict_line(&self) -> String {
        let count = |v: PairedVerdict| {
            self.rows
                .iter()
                .filter(|r| r.judgement.verdict == v)
                .count()
        };
        match self.overall {
            Overall::NoRegression => format!(
                "gate run: passed: {} figures, no regression, after {} pairs",
                self.rows.len(),
                self.pairs
            ),
            Overall::Regression => format!(
                "gate run: FAILED: {} of {} figures regressed, after {} pairs",
                count(PairedVerdict::Regression),
                self.rows.len(),
                self.pairs
            ),
            Overall::Inconclusive => format!(
                "gate run: INCONCLUSIVE: {} of {} figures undecided after the budget of {} pairs at this noise",
                count(PairedVerdict::Inconclusive),
                self.rows.len(),
                self.pairs
            ),
        }
    }

    /// A pull-request comment: the verdict, the minimum detectable
    /// effect, regressions first.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### proxybench gate run (paired, {} pairs): {}\n",
            self.pairs,
            match self.overall {
                Overall::NoRegression => "passed".to_owned(),
                Overall::Regression => "**FAILED**".to_owned(),
                Overall::Inconclusive => "**inconclusive** at this noise".to_owned(),
            }
        );
        let _ = writeln!(out, "{}\n", self.mde_line());
        let _ = writeln!(
            out,
            "| cell | metric | baseline → candidate | change [interval] | threshold | MDE | verdict |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let rank = |r: &&Row| match r.judgement.verdict {
            PairedVerdict::Regression => 0,
            PairedVerdict::Inconclusive | PairedVerdict::Pending => 1,
            PairedVerdict::NoRegression => 2,
        };
        let mut ordered: Vec<&Row> = self.rows.iter().collect();
        ordered.sort_by_key(rank);
        for r in ordered {
            let j = &r.judgement;
            let verdict = match j.verdict {
                PairedVerdict::NoRegression => j.verdict.as_str().to_owned(),
                _ => format!("**{}**", j.verdict.as_str()),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} → {} | {} [{}] | {:.1} % | {} | {} |",
                r.cell.replace('|', "\\|"),
                j.metric.label(),
                figure(j.metric, r.baseline_median),
                figure(j.metric, r.candidate_median),
                change(j.estimate.unwrap_or(f64::NAN)),
                interval(j.interval),
                j.threshold * 100.0,
                percent(j.mde),
                verdict
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {}", note.replace('|', "\\|"));
            }
        }
        out
    }

    /// Every figure, for bots.
    pub fn json(&self) -> Json {
        Json {
            version: PAIRED_VERSION,
            kind: "paired",
            verdict: self.overall,
            pairs: self.pairs,
            looks: self.looks.clone(),
            alpha: self.alpha,
            alpha_per_look: self.alpha_per_look,
            power: self.power,
            mde: self.mde_line(),
            rows: self
                .rows
                .iter()
                .map(|r| {
                    let j = &r.judgement;
                    JsonRow {
                        cell: r.cell.clone(),
                        metric: j.metric.key(),
                        baseline_median: r.baseline_median,
                        candidate_median: r.candidate_median,
                        change: j.estimate,
                        interval: j.interval.map(|i| [i.low, i.high]),
                        threshold: j.threshold,
                        noise: j.noise,
                        mde: j.mde,
                        pairs: j.pairs,
                        verdict: j.verdict.as_str(),
                    }
                })
                .collect(),
            notes: self.notes.clone(),
        }
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// [`Report::json`]'s shape.
#[derive(Debug, Clone, Serialize)]
pub struct Json {
    /// [`PAIRED_VERSION`].
    pub version: u32,
    /// Always `paired`.
    pub kind: &'static str,
    /// `no_regression`, `regression` or `inconclusive`.
    pub verdict: Overall,
    /// Pairs taken.
    pub pairs: usize,
    /// Planned looks.
    pub looks: Vec<usize>,
    /// Error rate per side over all looks.
    pub alpha: f64,
    /// Level of each look.
    pub alpha_per_look: f64,
    /// Power of the minimum detectable effects.
    pub power: f64,
    /// The minimum detectable effect sentence.
    pub mde: String,
    /// One per figure.
    pub rows: Vec<JsonRow>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// One figure in [`Json`].
#[derive(Debug, Clone, Serialize)]
pub struct JsonRow {
    /// Cell id.
    pub cell: String,
    /// Metric key.
    pub metric: &'static str,
    /// Baseline median.
    pub baseline_median: f64,
    /// Candidate median.
    pub candidate_median: f64,
    /// Estimated relative change (candidate / baseline − 1).
    pub change: Option<f64>,
    /// Its interval, relative.
    pub interval: Option<[f64; 2]>,
    /// Threshold, a fraction.
    pub threshold: f64,
    /// Within-pair noise (log scale, ≈ relative).
    pub noise: Option<f64>,
    /// Minimum detectable effect (a fraction, worse) at the budget.
    pub mde: Option<f64>,
    /// Pairs judged.
    pub pairs: usize,
    /// Verdict words.
    pub verdict: &'static str,
}
