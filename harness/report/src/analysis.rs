//! Figures the report derives from one run: per scenario cell, each core's
//! row with ratios to the reference core, the winners (a lead is clear by
//! the gate's rule, [`pb_stats::Rule`]), the latency percentile curves of
//! the merged histograms, and the cost a proxy adds over the
//! [`DIRECT`] path when the run has one.
//!
//! Sections built from optional data (interval timelines, rate searches)
//! come out empty when a file has none (older files, closed-loop cells,
//! windows of one interval); the charts and the page then omit them.

use hdrhistogram::Histogram;
use pb_results::{Cell, CellParams, CellStatus, DIRECT, IntervalPoint, Percentiles, Summary, hist};
use pb_stats::{Judgement, Metric, Polarity, Rule};

use crate::error::{HistogramError, ReportError};
use crate::model::{Group, Run};

/// Highest percentile axis position (x = log10(1/(1-p))) a latency chart
/// reaches at least: 4 = 99.99 %.
const MIN_LATENCY_X: f64 = 4.0;
/// ... and at most: 6 = 99.9999 %.
const MAX_LATENCY_X: f64 = 6.0;
/// Curve resolution on that axis.
const LATENCY_X_STEP: f64 = 0.02;

/// Everything derived from one run.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The core ratios are taken to.
    pub reference: String,
    /// The significance rule leads and baseline changes are judged by.
    pub rule: Rule,
    /// One per scenario cell, in file order.
    pub groups: Vec<GroupAnalysis>,
}

/// One scenario cell, analysed.
#[derive(Debug, Clone)]
pub struct GroupAnalysis {
    /// Cell id without the core.
    pub label: String,
    /// Scenario name.
    pub scenario: String,
    /// Load parameters.
    pub params: CellParams,
    /// One row per core, in file order.
    pub rows: Vec<CoreRow>,
    /// Best core by each metric.
    pub winners: Winners,
    /// Latency by percentile, one curve per measured core.
    pub latency: Vec<LatencyCurve>,
    /// Rightmost x of the latency chart (log10(1/(1-p))).
    pub latency_x_max: f64,
    /// Cost over [`DIRECT`]; empty when the group has no such core.
    pub added_over_direct: Vec<AddedCost>,
    /// Throughput and latency over time, one per core whose trials
    /// recorded at least two intervals; empty otherwise.
    pub timelines: Vec<Timeline>,
    /// Latency against offered rate, one per core whose rate was searched;
    /// empty otherwise.
    pub rate_curves: Vec<RateCurve>,
    /// Where each core's CPU goes (user vs kernel, the counts beside it);
    /// `None` when no core recorded kernel figures.
    pub kernel: Option<crate::kernel::WhereCpuGoes>,
}

/// One core within a scenario cell.
#[derive(Debug, Clone)]
pub struct CoreRow {
    /// Full cell id.
    pub id: String,
    /// Core name.
    pub core: String,
    /// Outcome of the cell.
    pub status: CellStatus,
    /// Why it is unavailable or failed.
    pub reason: Option<String>,
    /// Present when measured.
    pub summary: Option<Summary>,
    /// Each trial's QPS.
    pub trial_qps: Vec<f64>,
    /// Each trial's own p99, µs.
    pub trial_p99: Vec<f64>,
    /// Each trial's core CPU µs per request.
    pub trial_cpu: Vec<f64>,
    /// Each trial's driver CPU µs per request.
    pub trial_driver_cpu: Vec<f64>,
    /// Ratios to the reference core's row; `None` for rows that are not
    /// measured or when the reference has no figures in this group.
    pub vs_reference: Option<Ratios>,
    /// This row is the reference.
    pub is_reference: bool,
    /// Conformance cases the core failed before the run.
    pub conformance_failures: Vec<String>,
    /// A reference proxy (nginx, HAProxy, ...): drawn as dashed lines
    /// beside our cores' bars and curves.
    pub reference_proxy: bool,
    /// Core CPU per request over the group's first measured reference
    /// proxy's (its name, the ratio): "how far is this from nginx?".
    pub vs_proxy: Option<(String, f64)>,
    /// The configuration a reference proxy's program ran with here.
    pub program_config: Option<String>,
    /// The soak verdicts of its trials, in a soak run; empty otherwise.
    pub soak: Vec<pb_results::soak::SoakVerdict>,
}

/// This row's figure divided by the reference's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratios {
    /// QPS ratio (above 1: more throughput).
    pub qps: Option<f64>,
    /// p99 ratio (below 1: lower tail latency).
    pub p99: Option<f64>,
    /// Core CPU per request ratio (below 1: cheaper).
    pub cpu: Option<f64>,
}

/// Best cores of a scenario cell.
#[derive(Debug, Clone, Default)]
pub struct Winners {
    /// Lowest core CPU µs per request: the headline, since it stays fair
    /// when the driver is the bottleneck.
    pub cpu: Option<Winner>,
    /// Highest median QPS.
    pub qps: Option<Winner>,
    /// Lowest merged p99.
    pub p99: Option<Winner>,
}

/// The best core by one metric and how far ahead it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Winner {
    /// Core name.
    pub core: String,
    /// Its figure.
    pub value: f64,
    /// The second best, when there is one.
    pub runner_up: Option<(String, f64)>,
    /// The rule's judgement of runner-up (baseline) -> winner (current)
    /// trials: the lead is clear when it is an improvement, exactly as
    /// the gate would judge the winner's trials against the runner-up's.
    /// `None` without a runner-up.
    pub margin: Option<Judgement>,
}

impl Winner {
    /// Whether the lead is clear: significant and beyond the threshold.
    pub fn clear(&self) -> bool {
        self.margin.as_ref().and_then(Judgement::improved) == Some(true)
    }
}

/// Latency by percentile from the trials' histograms added together.
#[derive(Debug, Clone)]
pub struct LatencyCurve {
    /// Core name.
    pub core: String,
    /// Requests in the merged histogram.
    pub requests: u64,
    /// `(log10(1/(1-p)), latency µs)`, x ascending from 0.
    pub points: Vec<(f64, f64)>,
}

/// What a proxy adds over the [`DIRECT`] path of the same cell.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedCost {
    /// Core name.
    pub core: String,
    /// Added median latency, µs.
    pub p50_us: f64,
    /// Added p99 latency, µs.
    pub p99_us: f64,
    /// The proxy process's CPU per request, µs: all of it is added, as
    /// the direct path has no proxy process. (The direct cell's own CPU
    /// figure is its origin's, which both paths pay, so it is not
    /// subtracted.)
    pub cpu_us_per_req: Option<f64>,
    /// The proxy's median req/s as a share of the direct path's.
    pub qps_ratio: Option<f64>,
}

/// Throughput and latency per interval of one core's measured window,
/// trials combined.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Core name.
    pub core: String,
    /// Per interval: `(middle of the interval in seconds from the window's
    /// start, requests per second over all trials, p99 µs of the trials'
    /// interval histograms added together)`.
    pub points: Vec<(f64, f64, f64)>,
    /// Per interval the core's processes were sampled in (every core
    /// proxybench starts; what a soak judges):
    /// `(middle of the interval, RSS MiB, open descriptors)`, the largest
    /// over trials; empty when it was not.
    pub resources: Vec<(f64, f64, f64)>,
}

/// Latency at each offered rate of a rate search.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    /// Core name.
    pub core: String,
    /// The percentile plotted (the one the search watched when it is one
    /// the results record: 50, 90, 99, 99.9; else 99).
    pub percentile: f64,
    /// The percentile the search watched.
    pub searched: f64,
    /// The search's bound on the watched percentile, µs.
    pub bound_us: f64,
    /// Highest offered rate that met the bound.
    pub found_rate: Option<f64>,
    /// `(offered req/s, latency µs at the percentile)`, rate ascending.
    pub points: Vec<(f64, f64)>,
}

// === impl Analysis ===

impl Analysis {
    /// Analyses `run` with ratios to `reference` (default: see
    /// [`reference_core`]) under the built-in [`Rule::default`].
    pub fn new(run: &Run, reference: Option<&str>) -> Result<Analysis, ReportError> {
        Analysis::with_rule(run, reference, Rule::default())
    }

    /// [`Analysis::new`] judging leads by `rule` (the gate's policy).
    pub fn with_rule(
        run: &Run,
        reference: Option<&str>,
        rule: Rule,
    ) -> Result<Analysis, ReportError> {
        let reference = reference_core(run, reference)?;
        let groups = run
            .groups
            .iter()
            .map(|g| GroupAnalysis::new(run, g, &reference, &rule))
            .collect::<Result<_, _>>()?;
        Ok(Analysis {
            reference,
            rule,
            groups,
        })
    }
}

/// The core ratios are taken to: `asked` if it has a cell, else the first
/// core in the file's order that is not [`DIRECT`] (a proxy, not the
/// no-proxy baseline), else the first core. The default comes from the
/// results, never from a core name written here: the report knows no
/// cores.
pub fn reference_core(run: &Run, asked: Option<&str>) -> Result<String, ReportError> {
    let cores = run.cores();
    match asked {
        Some(core) if cores.iter().any(|c| c == core) => Ok(core.to_owned()),
        Some(core) => Err(ReportError::UnknownReference {
            path: run.path.clone(),
            core: core.to_owned(),
            known: cores.join(", "),
        }),
        None => Ok(cores
            .iter()
            .find(|c| *c != DIRECT)
            .or(cores.first())
            .cloned()
            .unwrap_or_default()),
    }
}

// === impl GroupAnalysis ===

impl GroupAnalysis {
    fn new(
        run: &Run,
        group: &Group,
        reference: &str,
        rule: &Rule,
    ) -> Result<GroupAnalysis, ReportError> {
        let mut rows: Vec<CoreRow> = group.cells.iter().map(CoreRow::new).collect();
        let proxies = run.reference_proxies();
        for row in &mut rows {
            row.reference_proxy = proxies.contains(&row.core.as_str());
        }
        let yardstick = rows
            .iter()
            .filter(|r| r.reference_proxy)
            .find_map(|r| Some((r.core.clone(), r.headline(Metric::CpuUsPerReq)?)));
        let reference_row = rows
            .iter()
            .find(|r| r.core == reference && r.measured().is_some())
            .cloned();
        for row in &mut rows {
            row.is_reference = row.core == reference;
            // The no-proxy baseline is compared through `added_over_direct`.
            row.vs_reference = reference_row
                .as_ref()
                .filter(|_| row.core != DIRECT)
                .and_then(|reference| row.ratios_to(reference));
            row.vs_proxy = yardstick
                .as_ref()
                .filter(|(name, cpu)| row.core != DIRECT && *name != row.core && *cpu > 0.0)
                .and_then(|(name, cpu)| {
                    Some((name.clone(), row.headline(Metric::CpuUsPerReq)? / cpu))
                });
        }

        let mut latency = Vec::new();
        for cell in &group.cells {
            if cell.status != CellStatus::Ok || cell.trials.is_empty() {
                continue;
            }
            let merged = merged_histogram(cell).map_err(|source| ReportError::Histogram {
                path: run.path.clone(),
                cell: cell.id.clone(),
                source,
            })?;
            latency.push(merged);
        }
        let most = latency.iter().map(Histogram::len).max().unwrap_or(0);
        let latency_x_max = latency_x_max(most);
        let latency = group
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Ok && !c.trials.is_empty())
            .zip(&latency)
            .map(|(cell, h)| LatencyCurve::new(&cell.core, h, latency_x_max))
            .collect();

        Ok(GroupAnalysis {
            label: group.label.clone(),
            scenario: group.scenario.clone(),
            params: group.params.clone(),
            winners: Winners::of(&rows, &group.params, rule),
            added_over_direct: added_over_direct(&rows),
            timelines: timelines(run, group)?,
            rate_curves: group.cells.iter().filter_map(rate_curve).collect(),
            kernel: crate::kernel::WhereCpuGoes::new(&group.scenario, &rows),
            rows,
            latency,
            latency_x_max,
        })
    }

    /// Rows that were measured (status ok, with a summary).
    pub fn measured(&self) -> impl Iterator<Item = (&CoreRow, &Summary)> {
        self.rows
            .iter()
            .filter_map(|r| r.measured().map(|s| (r, s)))
    }
}

/// All trials' histograms of `cell` added together: the only correct way
/// to get a percentile over several trials.
pub fn merged_histogram(cell: &Cell) -> Result<Histogram<u64>, HistogramError> {
    let mut merged: Option<Histogram<u64>> = None;
    for trial in &cell.trials {
        let h = hist::decode(&trial.histogram)?;
        match &mut merged {
            None => merged = Some(h),
            Some(m) => m
                .add(&h)
                .map_err(|e| HistogramError::Add(format!("{e:?}")))?,
        }
    }
    merged.ok_or(HistogramError::NoTrials)
}

/// How far right the latency chart goes: the resolution the data has
/// (log10 of the request count), within 99.99 %..99.9999 %.
fn latency_x_max(requests: u64) -> f64 {
    let resolution = if requests > 0 {
        (requests as f64).log10().floor()
    } else {
        0.0
    };
    resolution.clamp(MIN_LATENCY_X, MAX_LATENCY_X)
}

/// Position of percentile `p` (0..1) on the latency chart's x axis.
pub fn percentile_x(p: f64) -> f64 {
    -(1.0 - p).log10()
}

fn timelines(run: &Run, group: &Group) -> Result<Vec<Timeline>, ReportError> {
    let mut out = Vec::new();
    for cell in &group.cells {
        let line = timeline(cell).map_err(|source| ReportError::Histogram {
            path: run.path.clone(),
            cell: cell.id.clone(),
            source,
        })?;
        out.extend(line);
    }
    Ok(out)
}

/// The cell's timeline: interval `i` of every trial taken together (a
/// rate from their requests and lengths, a p99 from their histograms
/// added). `None` for cells not measured or with fewer than two intervals:
/// one point is not a line.
fn timeline(cell: &Cell) -> Result<Option<Timeline>, HistogramError> {
    let longest = cell.trials.iter().map(|t| t.intervals.len()).max();
    let longest = longest.unwrap_or(0);
    if cell.status != CellStatus::Ok || longest < 2 {
        return Ok(None);
    }
    let mut points = Vec::with_capacity(longest);
    let mut resources = Vec::new();
    for i in 0..longest {
        let slice: Vec<&IntervalPoint> = cell
            .trials
            .iter()
            .filter_map(|t| t.intervals.get(i))
            .collect();
        let requests: u64 = slice.iter().map(|p| p.requests).sum();
        let seconds: f64 = slice.iter().map(|p| p.length_s).sum();
        let middle = slice
            .iter()
            .map(|p| p.start_s + p.length_s / 2.0)
            .sum::<f64>()
            / slice.len() as f64;
        let mut merged: Option<Histogram<u64>> = None;
        for p in &slice {
            let h = hist::decode(&p.histogram)?;
            match &mut merged {
                None => merged = Some(h),
                Some(m) => m
                    .add(&h)
                    .map_err(|e| HistogramError::Add(format!("{e:?}")))?,
            }
        }
        let p99 = merged
            .filter(|m| !m.is_empty())
            .map_or(0.0, |m| m.value_at_quantile(0.99) as f64 / 1000.0);
        let rate = if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        };
        points.push((middle, rate, p99));
        let sampled = slice.iter().filter_map(|p| p.resources);
        if let Some((rss, fds)) = sampled
            .map(|r| (r.rss_bytes, r.fds))
            .reduce(|a, b| (a.0.max(b.0), a.1.max(b.1)))
        {
            resources.push((middle, rss as f64 / (1 << 20) as f64, fds as f64));
        }
    }
    Ok(Some(Timeline {
        core: cell.core.clone(),
        points,
        resources,
    }))
}

/// The cell's rate search as a curve of the watched percentile against
/// offered rate.
fn rate_curve(cell: &Cell) -> Option<RateCurve> {
    let search = cell.rate_search.as_ref().filter(|s| !s.points.is_empty())?;
    let (percentile, pick): (f64, fn(&Percentiles) -> f64) = match search.percentile {
        p if (p - 50.0).abs() < 1e-9 => (50.0, |l| l.p50),
        p if (p - 90.0).abs() < 1e-9 => (90.0, |l| l.p90),
        p if (p - 99.9).abs() < 1e-9 => (99.9, |l| l.p999),
        _ => (99.0, |l| l.p99),
    };
    let mut points: Vec<(f64, f64)> = search
        .points
        .iter()
        .map(|p| (p.offered, pick(&p.latency_us)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(RateCurve {
        core: cell.core.clone(),
        percentile,
        searched: search.percentile,
        bound_us: search.bound_us,
        found_rate: search.found_rate,
        points,
    })
}

fn added_over_direct(rows: &[CoreRow]) -> Vec<AddedCost> {
    let Some(direct) = rows
        .iter()
        .find(|r| r.core == DIRECT)
        .and_then(CoreRow::measured)
    else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.core != DIRECT)
        .filter_map(|r| r.measured().map(|s| (r, s)))
        .map(|(row, s)| AddedCost {
            core: row.core.clone(),
            p50_us: s.latency_us.p50 - direct.latency_us.p50,
            p99_us: s.latency_us.p99 - direct.latency_us.p99,
            cpu_us_per_req: s.cpu_us_per_req,
            qps_ratio: (direct.qps > 0.0).then(|| s.qps / direct.qps),
        })
        .collect()
}

// === impl LatencyCurve ===

impl LatencyCurve {
    fn new(core: &str, merged: &Histogram<u64>, x_max: f64) -> LatencyCurve {
        let steps = (x_max / LATENCY_X_STEP).round() as usize;
        let points = (0..=steps)
            .map(|i| {
                let x = i as f64 * LATENCY_X_STEP;
                let p = 1.0 - 10f64.powf(-x);
                let ns = merged.value_at_quantile(p);
                (x, ns as f64 / 1000.0)
            })
            .collect();
        LatencyCurve {
            core: core.to_owned(),
            requests: merged.len(),
            points,
        }
    }
}

// === impl CoreRow ===

impl CoreRow {
    fn new(cell: &Cell) -> CoreRow {
        CoreRow {
            id: cell.id.clone(),
            core: cell.core.clone(),
            status: cell.status,
            reason: cell.reason.clone(),
            summary: cell.summary.clone(),
            trial_qps: figures(cell, Metric::Qps),
            trial_p99: figures(cell, Metric::LatencyP99Us),
            trial_cpu: figures(cell, Metric::CpuUsPerReq),
            trial_driver_cpu: cell
                .trials
                .iter()
                .filter_map(|t| t.driver_cpu_us_per_req)
                .collect(),
            vs_reference: None,
            is_reference: false,
            conformance_failures: cell.conformance_failures.clone(),
            reference_proxy: false,
            vs_proxy: None,
            program_config: cell.program_config.clone(),
            soak: cell.trials.iter().filter_map(|t| t.soak.clone()).collect(),
        }
    }

    /// The summary, when the cell was measured.
    pub fn measured(&self) -> Option<&Summary> {
        match self.status {
            CellStatus::Ok => self.summary.as_ref(),
            CellStatus::Unavailable | CellStatus::Failed => None,
        }
    }

    /// The figure the page shows for `metric` when the cell was measured:
    /// the median over trials for QPS and CPU per request, the
    /// merged-histogram p99 for latency (never an average of
    /// percentiles).
    pub fn headline(&self, metric: Metric) -> Option<f64> {
        let s = self.measured()?;
        match metric {
            Metric::Qps => Some(s.qps),
            Metric::LatencyP99Us => Some(s.latency_us.p99),
            Metric::CpuUsPerReq => s.cpu_us_per_req,
        }
    }

    /// Each trial's own figure for `metric`: what the rule judges.
    pub fn trials(&self, metric: Metric) -> &[f64] {
        match metric {
            Metric::Qps => &self.trial_qps,
            Metric::LatencyP99Us => &self.trial_p99,
            Metric::CpuUsPerReq => &self.trial_cpu,
        }
    }

    fn ratios_to(&self, reference: &CoreRow) -> Option<Ratios> {
        self.measured()?;
        let ratio = |metric| {
            let ratio = self.headline(metric)? / reference.headline(metric)?;
            ratio.is_finite().then_some(ratio)
        };
        Some(Ratios {
            qps: ratio(Metric::Qps),
            p99: ratio(Metric::LatencyP99Us),
            cpu: ratio(Metric::CpuUsPerReq),
        })
    }
}

/// `metric` of every trial of `cell` that has it.
fn figures(cell: &Cell, metric: Metric) -> Vec<f64> {
    cell.trials
        .iter()
        .filter_map(|t| t.figure(metric))
        .collect()
}

// === impl Winners ===

impl Winners {
    /// Best rows by each metric. A row with errors, or whose core failed
    /// conformance, never wins: wrong behaviour is not a success, however
    /// fast; nor does [`DIRECT`], which is
    /// a baseline, not a contender. In open loop the offered rate fixes
    /// req/s, so there is no throughput winner.
    fn of(rows: &[CoreRow], params: &CellParams, rule: &Rule) -> Winners {
        Winners {
            cpu: Winner::by(rows, Metric::CpuUsPerReq, rule),
            qps: (params.mode != "open")
                .then(|| Winner::by(rows, Metric::Qps, rule))
                .flatten(),
            p99: Winner::by(rows, Metric::LatencyP99Us, rule),
        }
    }

    /// The winner by `metric`.
    pub fn get(&self, metric: Metric) -> Option<&Winner> {
        match metric {
            Metric::Qps => self.qps.as_ref(),
            Metric::LatencyP99Us => self.p99.as_ref(),
            Metric::CpuUsPerReq => self.cpu.as_ref(),
        }
    }
}

impl Winner {
    fn by(rows: &[CoreRow], metric: Metric, rule: &Rule) -> Option<Winner> {
        let mut ranked: Vec<(&CoreRow, f64)> = rows
            .iter()
            .filter(|r| r.core != DIRECT && r.conformance_failures.is_empty())
            .filter(|r| r.measured().is_some_and(|s| s.errors == 0))
            .filter_map(|r| r.headline(metric).map(|v| (r, v)))
            .collect();
        // Best first, by the metric's polarity.
        ranked.sort_by(|(_, a), (_, b)| match metric.polarity() {
            Polarity::LowerIsBetter => a.total_cmp(b),
            Polarity::HigherIsBetter => b.total_cmp(a),
        });
        let &(best, value) = ranked.first()?;
        let runner_up = ranked.get(1);
        Some(Winner {
            core: best.core.clone(),
            value,
            runner_up: runner_up.map(|(r, v)| (r.core.clone(), *v)),
            margin: runner_up
                .map(|(r, _)| rule.judge(metric, r.trials(metric), best.trials(metric))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_stats::Verdict;

    #[test]
    fn percentile_axis_positions() {
        assert!((percentile_x(0.5) - 2f64.log10()).abs() < 1e-12);
        assert!((percentile_x(0.9) - 1.0).abs() < 1e-9);
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(latency_x_max(0), 4.0);
        assert_eq!(latency_x_max(90_000), 4.0);
        assert_eq!(latency_x_max(150_000), 5.0);
        assert_eq!(latency_x_max(u64::MAX), 6.0);
    }

    fn row(core: &str, qps: &[f64], cpu: &[f64], errors: u64) -> CoreRow {
        let mut summary: Summary = serde_json::from_value(serde_json::json!({
            "qps": 0.0, "qps_min": 0.0, "qps_max": 0.0,
            "latency_us": {"p50": 1.0, "p90": 1.0, "p99": 10.0, "p999": 1.0, "max": 1.0, "mean": 1.0},
            "cpu_us_per_req": null, "driver_cpu_us_per_req": null, "rss_max_bytes": 0,
            "errors": errors, "errors_by_kind": {}, "driver_bound": false,
            "driver_bound_reason": null, "trials": 1
        }))
        .unwrap();
        summary.qps = pb_stats::median(qps).unwrap();
        summary.cpu_us_per_req = pb_stats::median(cpu);
        CoreRow {
            id: format!("echo/x/{core}"),
            core: core.into(),
            status: CellStatus::Ok,
            reason: None,
            summary: Some(summary),
            trial_qps: qps.to_vec(),
            trial_p99: vec![10.0; qps.len()],
            trial_cpu: cpu.to_vec(),
            trial_driver_cpu: vec![],
            vs_reference: None,
            is_reference: false,
            conformance_failures: vec![],
            program_config: None,
            soak: vec![],
            reference_proxy: false,
            vs_proxy: None,
        }
    }

    #[test]
    fn winners_skip_rows_with_errors_and_judge_the_margin() {
        let five = |v: f64| [v, v * 1.01, v * 0.99, v * 1.02, v * 0.98];
        let rows = [
            row("a", &five(100.0), &five(5.0), 0),
            row("b", &five(200.0), &five(9.2), 0),
            row("c", &five(900.0), &five(1.0), 3),
            row(DIRECT, &five(990.0), &five(0.5), 0),
            CoreRow {
                conformance_failures: vec!["cl-te-smuggling".into()],
                ..row("d", &five(980.0), &five(0.4), 0)
            },
        ];
        let closed: CellParams = serde_json::from_value(serde_json::json!({
            "mode": "closed", "message_bytes": 1, "connections": 1, "in_flight": 1,
            "warmup_s": 0.0, "duration_s": 1.0, "trials": 1, "core_threads": 1,
            "driver_threads": 1
        }))
        .unwrap();
        let rule = Rule::default();
        let w = Winners::of(&rows, &closed, &rule);
        let cpu = w.cpu.unwrap();
        assert_eq!(cpu.core, "a");
        assert_eq!(cpu.runner_up, Some(("b".into(), 9.2)));
        // b -> a is what the gate would call an improvement: a clear lead.
        assert_eq!(cpu.margin.as_ref().unwrap().verdict, Verdict::Improvement);
        assert!(cpu.clear());
        assert_eq!(
            w.qps.unwrap().core,
            "b",
            "c has errors, direct is no proxy, d fails conformance"
        );
        // Every p99 is equal: a winner, but not a clear one.
        let p99 = w.p99.unwrap();
        assert_eq!(p99.margin.as_ref().unwrap().verdict, Verdict::Unchanged);
        assert!(!p99.clear());
        // Two trials a side are too few for the rule, however far apart.
        let few = [
            row("a", &[100.0, 101.0], &[5.0, 5.1], 0),
            row("b", &[200.0, 201.0], &[9.0, 9.1], 0),
        ];
        let cpu = Winners::of(&few, &closed, &rule).cpu.unwrap();
        assert_eq!(cpu.margin.as_ref().unwrap().verdict, Verdict::TooFewTrials);
        assert!(!cpu.clear());
        let open = CellParams {
            mode: "open".into(),
            ..closed
        };
        assert!(
            Winners::of(&rows, &open, &rule).qps.is_none(),
            "the rate is fixed"
        );
    }

    #[test]
    fn added_cost_needs_a_measured_direct_row() {
        let rows = [row("a", &[1.0], &[5.0], 0), row("b", &[1.0], &[7.0], 0)];
        assert!(added_over_direct(&rows).is_empty());
        let rows = [row(DIRECT, &[1.0], &[1.5], 0), row("b", &[1.0], &[7.0], 0)];
        let added = added_over_direct(&rows);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].core, "b");
        assert_eq!(added[0].cpu_us_per_req, Some(7.0), "the proxy's own CPU");
        assert_eq!(added[0].qps_ratio, Some(1.0));
        assert_eq!(added[0].p99_us, 0.0);
    }

    #[test]
    fn ratios_are_to_the_reference_row() {
        let a = row("a", &[100.0], &[4.0], 0);
        let b = row("b", &[150.0], &[2.0], 0);
        let r = b.ratios_to(&a).unwrap();
        assert_eq!(r.qps, Some(1.5));
        assert_eq!(r.cpu, Some(0.5));
        assert_eq!(r.p99, Some(1.0));
    }
}
