//! Combining result files from several driver processes or hosts that
//! loaded the same target at the same time.
//!
//! The combination is exact: counts and histograms are added, never
//! percentiles averaged. Trials pair up by cell id and trial index.

use std::collections::BTreeMap;

use crate::hist::{self, HistogramDecodeError};
use crate::{Cell, IntervalPoint, Results, Summary, Trial};

/// Files that cannot be combined.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Fewer than two inputs.
    #[error("merge needs at least two result files")]
    TooFew,
    /// The inputs did not run the same cells.
    #[error("the files ran different cells: {0}")]
    Mismatch(String),
    /// A histogram is damaged.
    #[error(transparent)]
    Histogram(#[from] HistogramDecodeError),
}

/// Runs that cannot be concatenated.
#[derive(Debug, thiserror::Error)]
pub enum ConcatError {
    /// No runs.
    #[error("no results to concatenate")]
    Empty,
    /// A later run's cells differ from the first's.
    #[error("run {index} (counting from 0) ran other cells than the first: {detail}")]
    Cells {
        /// Position of the run in the input.
        index: usize,
        /// Both lists of cell ids.
        detail: String,
    },
    /// A summary could not be recomputed (a histogram did not decode).
    #[error(transparent)]
    Histogram(#[from] HistogramDecodeError),
}

/// Later runs of the same cells, one after the other, as one run with
/// every trial in the order they ran: trials appended per cell and
/// renumbered, summaries recomputed, `finished_at` the last run's. A
/// cell that failed in any run stays failed. (`merge` is for runs at the
/// same time; this is for runs in sequence, such as the batches of a
/// sequential gate.)
pub fn concat(runs: Vec<Results>) -> Result<Results, ConcatError> {
    let mut runs = runs.into_iter();
    let mut out = runs.next().ok_or(ConcatError::Empty)?;
    let ids = |r: &Results| r.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    for (index, next) in runs.enumerate() {
        if ids(&next) != ids(&out) {
            return Err(ConcatError::Cells {
                index: index + 1,
                detail: format!("{:?} vs {:?}", ids(&next), ids(&out)),
            });
        }
        for (cell, more) in out.cells.iter_mut().zip(next.cells) {
            if more.status != crate::CellStatus::Ok && cell.status == crate::CellStatus::Ok {
                cell.status = more.status;
                cell.reason = more.reason;
            }
            cell.trials.extend(more.trials);
        }
        out.finished_at = next.finished_at;
    }
    let mut sequence = 0;
    for cell in &mut out.cells {
        for (index, trial) in cell.trials.iter_mut().enumerate() {
            trial.index = index as u32;
            trial.sequence = sequence;
            sequence += 1;
        }
        cell.params.trials = cell.trials.len() as u32;
        cell.summary = Summary::from_trials(&cell.trials)?;
    }
    Ok(out)
}

/// Merges `inputs` into one result; the first input provides the
/// environment and identity, `merged_from` lists every input's run id.
pub fn merge(inputs: &[Results]) -> Result<Results, MergeError> {
    let (first, rest) = inputs.split_first().ok_or(MergeError::TooFew)?;
    if rest.is_empty() {
        return Err(MergeError::TooFew);
    }
    let mut out = first.clone();
    out.merged_from = inputs.iter().map(|r| r.run_id.clone()).collect();
    for other in rest {
        let ids = |r: &Results| r.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        if ids(other) != ids(&out) {
            return Err(MergeError::Mismatch(format!(
                "{} has [{}], {} has [{}]",
                out.run_id,
                ids(&out).join(", "),
                other.run_id,
                ids(other).join(", ")
            )));
        }
        for (cell, part) in out.cells.iter_mut().zip(&other.cells) {
            merge_cell(cell, part)?;
        }
        out.finished_at = out.finished_at.max(other.finished_at.clone());
    }
    for cell in &mut out.cells {
        for trial in &mut cell.trials {
            trial.driver_util /= inputs.len() as f64;
        }
        cell.summary = Summary::from_trials(&cell.trials)?;
    }
    Ok(out)
}

/// One trial from the trials of several drivers that ran the same window
/// against the same target at the same time: counts added, histograms
/// summed (percentiles recomputed), the first part's index and sequence.
pub fn merge_trials(parts: &[Trial]) -> Result<Trial, MergeError> {
    let (first, rest) = parts.split_first().ok_or(MergeError::TooFew)?;
    let mut out = first.clone();
    for part in rest {
        merge_trial(&mut out, part)?;
    }
    out.driver_util /= parts.len() as f64;
    Ok(out)
}

fn merge_cell(cell: &mut Cell, part: &Cell) -> Result<(), MergeError> {
    if cell.trials.len() != part.trials.len() {
        return Err(MergeError::Mismatch(format!(
            "cell {} has {} trials in one file and {} in another",
            cell.id,
            cell.trials.len(),
            part.trials.len()
        )));
    }
    if let (Some(a), Some(b)) = (cell.params.rate, part.params.rate) {
        cell.params.rate = Some(a + b);
    }
    cell.params.connections += part.params.connections;
    for (trial, other) in cell.trials.iter_mut().zip(&part.trials) {
        merge_trial(trial, other)?;
    }
    Ok(())
}

fn add_encoded(a: &str, b: &str) -> Result<String, HistogramDecodeError> {
    Ok(hist::encode(&hist::merge([a, b])?))
}

fn merge_trial(t: &mut Trial, o: &Trial) -> Result<(), MergeError> {
    // Both drivers ran the same window against the same target: counts
    // and rates add; the window is the longer of the two.
    t.requests += o.requests;
    t.qps += o.qps;
    t.window_s = t.window_s.max(o.window_s);
    t.errors += o.errors;
    let mut kinds: BTreeMap<String, u64> = std::mem::take(&mut t.errors_by_kind);
    for (k, n) in &o.errors_by_kind {
        *kinds.entry(k.clone()).or_default() += n;
    }
    t.errors_by_kind = kinds;
    t.histogram = add_encoded(&t.histogram, &o.histogram)?;
    t.latency_us = hist::percentiles(&hist::decode(&t.histogram)?);
    t.histogram_uncorrected = match (&t.histogram_uncorrected, &o.histogram_uncorrected) {
        (Some(a), Some(b)) => Some(add_encoded(a, b)?),
        _ => None,
    };
    t.latency_uncorrected_us = match &t.histogram_uncorrected {
        Some(h) => Some(hist::percentiles(&hist::decode(h)?)),
        None => None,
    };
    // Whoever could see the core process measured the same process over
    // the same window: keep the larger reading rather than double it.
    t.core_cpu_us = t.core_cpu_us.max(o.core_cpu_us);
    t.rss_max_bytes = t.rss_max_bytes.max(o.rss_max_bytes);
    t.driver_cpu_us += o.driver_cpu_us;
    let per_req = |cpu: f64| (t.requests > 0 && cpu > 0.0).then(|| cpu / t.requests as f64);
    t.cpu_us_per_req = per_req(t.core_cpu_us);
    t.driver_cpu_us_per_req = per_req(t.driver_cpu_us);
    // Summed here; the caller divides by the number of parts (a mean
    // taken pair by pair would weigh the last part as much as all others).
    t.driver_util += o.driver_util;
    t.driver_bound |= o.driver_bound;
    if t.driver_bound_reason.is_none() {
        t.driver_bound_reason.clone_from(&o.driver_bound_reason);
    }
    t.late_driver += o.late_driver;
    t.late_blocked += o.late_blocked;
    t.max_lag_us = t.max_lag_us.max(o.max_lag_us);
    t.start_late_ms = match (t.start_late_ms, o.start_late_ms) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    // The same process, measured by whoever could see it.
    if t.threads.is_empty() {
        t.threads.clone_from(&o.threads);
    }
    // Classes are matched by name; a class only one side saw is kept.
    for class in &o.classes {
        match t.classes.iter_mut().find(|c| c.name == class.name) {
            Some(mine) => {
                mine.requests += class.requests;
                mine.histogram = add_encoded(&mine.histogram, &class.histogram)?;
                mine.latency_us = hist::percentiles(&hist::decode(&mine.histogram)?);
            }
            None => t.classes.push(class.clone()),
        }
    }
    if t.intervals.len() == o.intervals.len() {
        for (a, b) in t.intervals.iter_mut().zip(&o.intervals) {
            merge_interval(a, b)?;
        }
    } else {
        // Different interval lengths cannot be added point by point.
        t.intervals.clear();
    }
    Ok(())
}

fn merge_interval(a: &mut IntervalPoint, b: &IntervalPoint) -> Result<(), MergeError> {
    for (origin, n) in &b.origins {
        *a.origins.entry(origin.clone()).or_default() += n;
    }
    a.requests += b.requests;
    a.qps += b.qps;
    a.histogram = add_encoded(&a.histogram, &b.histogram)?;
    a.latency_us = hist::percentiles(&hist::decode(&a.histogram)?);
    Ok(())
}
