//! Helpers for `scripts/gate-calibration.sh`: builds measured alternately,
//! one trial per `proxybench run`, so machine drift (someone else's build
//! starting) hits both alike, are stitched back into one results file per
//! build for `proxybench gate`; and the spin loop's cost is measured.
//!
//! [`concat_trials`] appends the trials of each later file to the same cell
//! of the first, renumbers them, and recomputes the summaries: the result
//! reads as one run with every trial, in the order they ran.

use std::path::PathBuf;
use std::time::Instant;

use pb_results::Results;
use pb_results::io::{ResultsIoError, read_results};
use pb_results::merge::concat;

/// Why results could not be stitched.
#[derive(Debug, thiserror::Error)]
pub enum ConcatError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] ResultsIoError),
    /// No input files.
    #[error("no results files given")]
    Empty,
    /// A later file's cells differ from the first file's.
    #[error("{path}: cells differ from {first}'s: {detail}")]
    Cells {
        /// The later file.
        path: PathBuf,
        /// The first file.
        first: PathBuf,
        /// Which cell ids differ.
        detail: String,
    },
    /// A summary could not be recomputed (a histogram did not decode).
    #[error("{path}: {message}")]
    Summary {
        /// The file whose trials were being summarised (the first).
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Reads `paths` (in the order they ran) and returns one results file with
/// every trial of every cell ([`pb_results::merge::concat`]).
pub fn concat_trials(paths: &[PathBuf]) -> Result<Results, ConcatError> {
    let first = paths.first().ok_or(ConcatError::Empty)?;
    let runs = paths
        .iter()
        .map(|p| read_results(p))
        .collect::<Result<Vec<_>, _>>()?;
    concat(runs).map_err(|e| match e {
        pb_results::merge::ConcatError::Empty => ConcatError::Empty,
        pb_results::merge::ConcatError::Cells { index, detail } => ConcatError::Cells {
            path: paths[index].clone(),
            first: first.clone(),
            detail,
        },
        pb_results::merge::ConcatError::Histogram(e) => ConcatError::Summary {
            path: first.clone(),
            message: e.to_string(),
        },
    })
}

/// Median over every trial of every cell of a metric (`cpu_us_per_req`,
/// `latency_p99_us` or `qps`); `None` if no trial has it.
pub fn median_of(results: &Results, metric: pb_stats::Metric) -> Option<f64> {
    let values: Vec<f64> = results
        .cells
        .iter()
        .flat_map(|c| c.trials.iter())
        .filter_map(|t| t.figure(metric))
        .collect();
    pb_stats::median(&values)
}

/// Nanoseconds per iteration of the cores' spin loop
/// ([`pb_core::Spin`]) on this machine: the best of several timed
/// bursts of `iters` iterations (the best, because interference only ever
/// adds time).
pub fn spin_ns_per_iter(iters: u64) -> f64 {
    let spin = pb_core::Spin::iters(iters.max(1));
    spin.burn(); // warm
    (0..7)
        .map(|_| {
            let start = Instant::now();
            spin.burn();
            start.elapsed().as_nanos() as f64 / iters.max(1) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// A background load of known duty cycle, the noise a shared CI runner
/// makes: each of `threads` threads spins for `duty` of every `period`
/// and sleeps the rest, for `seconds` in all (bounded: it stops by itself
/// even if whoever started it does not). Threads are not pinned and
/// start at staggered phases, so the scheduler moves the load about as
/// it would a neighbour's build. Returns the duty cycle achieved: CPU
/// time of the spinning over `threads` × the wall time.
pub fn noise(duty: f64, period: std::time::Duration, threads: usize, seconds: f64) -> f64 {
    use std::time::Duration;
    let duty = duty.clamp(0.0, 1.0);
    let threads = threads.max(1);
    let total = Duration::from_secs_f64(seconds.max(0.0));
    let started = Instant::now();
    let busy: u128 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                scope.spawn(move || {
                    // Stagger the phases across the period.
                    std::thread::sleep(period.mul_f64(k as f64 / threads as f64));
                    let (on, off) = (period.mul_f64(duty), period.mul_f64(1.0 - duty));
                    let mut spun = Duration::ZERO;
                    while started.elapsed() < total {
                        if !on.is_zero() {
                            let burst = Instant::now();
                            while burst.elapsed() < on {
                                std::hint::spin_loop();
                            }
                            spun += burst.elapsed();
                        }
                        if !off.is_zero() {
                            std::thread::sleep(off);
                        }
                    }
                    spun.as_nanos()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    busy as f64 / (threads as f64 * started.elapsed().as_nanos().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A results file with one cell and `cpus.len()` trials (empty
    /// histograms, which summarise as empty).
    fn file(dir: &Path, name: &str, id: &str, cpus: &[f64]) -> PathBuf {
        let hist = pb_results::hist::encode(&hdrhistogram::Histogram::<u64>::new(3).unwrap());
        let trials: Vec<serde_json::Value> = cpus
            .iter()
            .map(|c| {
                serde_json::json!({
                    "index": 0, "sequence": 0, "window_s": 1.0, "requests": 1000,
                    "qps": 1000.0, "errors": 0, "errors_by_kind": {},
                    "latency_us": {"p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0, "mean": 1.0},
                    "histogram": hist, "core_cpu_us": c * 1000.0, "cpu_us_per_req": c,
                    "driver_cpu_us": 0.0, "driver_cpu_us_per_req": null, "driver_util": 0.5,
                    "rss_max_bytes": 1, "driver_bound": false, "driver_bound_reason": null
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schema_version": pb_results::SCHEMA_VERSION, "run_id": name,
            "started_at": "s", "finished_at": name, "tool_version": "0",
            "scenario": {"source": "t", "name": "t"},
            "environment": {"kernel": "k", "cpu_model": "c", "cpu_count": 2, "rustc": "r",
                "git_revision": "g", "build_profile": "release",
                "io_uring": {"available": true, "detail": "ok"}, "memlock_limit_bytes": null,
                "cpu_plan": {"allowed": [0], "core": [0], "driver": [0], "origin": [],
                             "shared": true, "note": ""}},
            "cores": [],
            "cells": [{"id": id, "scenario": "echo", "core": "x", "status": "ok", "reason": null,
                "params": {"mode": "closed", "message_bytes": 100, "connections": 1,
                           "in_flight": 1, "warmup_s": 0.0, "duration_s": 1.0, "trials": 1,
                           "core_threads": 1, "driver_threads": 1},
                "trials": trials, "core_exit": null, "summary": null}]
        });
        let path = dir.join(name);
        std::fs::write(&path, doc.to_string()).unwrap();
        path
    }

    #[test]
    fn concatenates_trials_in_order_and_resummarises() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a", "echo/x", &[5.0]);
        let b = file(dir.path(), "b", "echo/x", &[6.0, 7.0]);
        let out = concat_trials(&[a, b]).unwrap();
        let cell = &out.cells[0];
        let cpus: Vec<_> = cell.trials.iter().map(|t| t.cpu_us_per_req).collect();
        assert_eq!(cpus, [Some(5.0), Some(6.0), Some(7.0)]);
        let idx: Vec<_> = cell.trials.iter().map(|t| t.index).collect();
        assert_eq!(idx, [0, 1, 2]);
        assert_eq!(cell.params.trials, 3);
        assert_eq!(cell.summary.as_ref().unwrap().trials, 3);
        assert_eq!(out.finished_at, "b");
        assert_eq!(median_of(&out, pb_stats::Metric::CpuUsPerReq), Some(6.0));
    }

    #[test]
    fn different_cells_name_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a", "echo/x", &[5.0]);
        let b = file(dir.path(), "b", "echo/y", &[6.0]);
        let e = concat_trials(&[a, b]).unwrap_err().to_string();
        assert!(
            e.contains("b: cells differ from") && e.contains("echo/y"),
            "{e}"
        );
    }

    #[test]
    fn noise_keeps_its_duty_cycle_and_stops_by_itself() {
        let started = Instant::now();
        let duty = noise(0.5, std::time::Duration::from_millis(20), 1, 0.3);
        let took = started.elapsed().as_secs_f64();
        assert!((0.3..5.0).contains(&took), "{took}");
        // Spinning only adds; sleeping can overshoot on a busy machine.
        assert!(duty > 0.2 && duty <= 0.75, "{duty}");
        assert_eq!(
            noise(0.0, std::time::Duration::from_millis(5), 2, 0.05),
            0.0
        );
    }

    #[test]
    fn the_spin_loop_costs_something() {
        assert!(spin_ns_per_iter(100_000) > 0.0);
    }
}
