//! The gate on synthetic results with known shifts: a real shift beyond
//! the threshold is caught, no shift passes, a significant but small shift
//! and a large but noisy one do not fail, and unusable inputs are refused
//! with every problem named.

use std::path::{Path, PathBuf};

use pb_gate::{GateError, Metric, Mode, Policy, Verdict, compare, gate};
use pb_results::Results;
use serde_json::{Value, json};

/// Deterministic noise in [-1, 1): a 64-bit LCG, so tests never depend on
/// a random seed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// One trial: CPU µs/req, p99 µs and QPS.
fn trial(index: usize, cpu: f64, p99: f64, qps: f64) -> Value {
    let lat = json!({"p50": p99 / 2.0, "p90": p99 * 0.8, "p99": p99, "p999": p99 * 1.5, "max": p99 * 2.0, "mean": p99 / 2.0});
    json!({
        "index": index, "sequence": index, "window_s": 1.0,
        "requests": qps as u64, "qps": qps, "errors": 0, "errors_by_kind": {},
        "latency_us": lat, "histogram": "",
        "core_cpu_us": cpu * qps, "cpu_us_per_req": cpu,
        "driver_cpu_us": 0.0, "driver_cpu_us_per_req": null, "driver_util": 0.5,
        "rss_max_bytes": 1, "driver_bound": false, "driver_bound_reason": null
    })
}

fn cell(id: &str, trials: Vec<Value>) -> Value {
    json!({
        "id": id, "scenario": "echo", "core": id.rsplit('/').next().unwrap(),
        "status": "ok", "reason": null,
        "params": {"mode": "closed", "message_bytes": 100, "connections": 50, "in_flight": 1,
                    "warmup_s": 0.5, "duration_s": 1.0, "trials": trials.len(),
                    "core_threads": 1, "driver_threads": 1},
        "trials": trials, "core_exit": "exit 0 after SIGTERM", "summary": null
    })
}

fn results(cells: Vec<Value>) -> Value {
    json!({
        "schema_version": pb_results::SCHEMA_VERSION, "run_id": "20260101T000000Z",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "tool_version": "0.1.0",
        "scenario": {"source": "synthetic", "name": "synthetic"},
        "environment": {
            "kernel": "Linux", "cpu_model": "synthetic", "cpu_count": 2, "rustc": "rustc",
            "git_revision": "x", "build_profile": "release",
            "io_uring": {"available": true, "detail": "ok"}, "memlock_limit_bytes": null,
            "cpu_plan": {"allowed": [0, 1], "core": [0], "driver": [1], "origin": [],
                         "shared": false, "note": ""}
        },
        "cores": [], "cells": cells
    })
}

/// A one-cell results file: `n` trials around (10 µs, 500 µs, 100k/s),
/// each figure scaled by `1 + shift` (QPS by `1 − shift`) and by
/// ±`noise` relative noise.
fn one_cell(n: usize, shift: f64, noise: f64, seed: u64) -> Results {
    let mut rng = Noise(seed);
    let trials = (0..n)
        .map(|i| {
            let mut jitter = || 1.0 + noise * rng.next();
            trial(
                i,
                10.0 * (1.0 + shift) * jitter(),
                500.0 * (1.0 + shift) * jitter(),
                100_000.0 * (1.0 - shift) * jitter(),
            )
        })
        .collect();
    serde_json::from_value(results(vec![cell("echo/100B/c50x1/tokio-tower", trials)])).unwrap()
}

fn verdicts(baseline: &Results, current: &Results, policy: &Policy) -> Vec<(Metric, Verdict)> {
    compare(baseline, current, policy)
        .unwrap()
        .rows
        .iter()
        .map(|r| (r.judgement.metric, r.judgement.verdict))
        .collect()
}

#[test]
fn a_known_shift_beyond_the_threshold_is_caught_every_time() {
    let policy = Policy::default();
    for seed in 0..50 {
        let base = one_cell(5, 0.0, 0.03, seed);
        let cur = one_cell(5, 0.25, 0.03, seed + 1000);
        for (metric, verdict) in verdicts(&base, &cur, &policy) {
            assert_eq!(verdict, Verdict::Regression, "seed {seed}: {metric}");
        }
    }
}

#[test]
fn no_shift_never_fails() {
    let policy = Policy::default();
    for seed in 0..200 {
        let base = one_cell(5, 0.0, 0.03, seed);
        let cur = one_cell(5, 0.0, 0.03, seed + 1000);
        let cmp = compare(&base, &cur, &policy).unwrap();
        assert!(!cmp.regressed(), "seed {seed}: {:?}", cmp.rows);
    }
}

#[test]
fn a_significant_shift_below_the_threshold_passes() {
    let policy = Policy::default();
    let base = one_cell(8, 0.0, 0.005, 1);
    let cur = one_cell(8, 0.05, 0.005, 2);
    for (metric, verdict) in verdicts(&base, &cur, &policy) {
        assert_eq!(verdict, Verdict::WorseWithinThreshold, "{metric}");
    }
}

#[test]
fn a_large_change_lost_in_noise_is_not_significant() {
    // Two trials of five far out: the medians move, the ranks barely do.
    let policy = Policy::default();
    let mk = |cpus: &[f64]| -> Results {
        let trials = cpus
            .iter()
            .enumerate()
            .map(|(i, &c)| trial(i, c, 500.0, 100_000.0))
            .collect();
        serde_json::from_value(results(vec![cell("echo/100B/c50x1/monoio", trials)])).unwrap()
    };
    let base = mk(&[10.0, 14.0, 9.0, 13.0, 10.5]);
    let cur = mk(&[9.5, 13.5, 12.0, 14.5, 12.5]);
    let cmp = compare(&base, &cur, &policy).unwrap();
    let cpu = &cmp
        .rows
        .iter()
        .find(|r| r.judgement.metric == Metric::CpuUsPerReq)
        .unwrap()
        .judgement;
    assert!(cpu.change > policy.rule.cpu_us_per_req.threshold, "{cpu:?}");
    assert_eq!(cpu.verdict, Verdict::NotSignificant, "{cpu:?}");
    assert!(!cmp.regressed());
}

#[test]
fn improvements_are_reported_and_pass() {
    let policy = Policy::default();
    let base = one_cell(6, 0.0, 0.02, 3);
    let cur = one_cell(6, -0.3, 0.02, 4);
    for (metric, verdict) in verdicts(&base, &cur, &policy) {
        assert_eq!(verdict, Verdict::Improvement, "{metric}");
    }
}

#[test]
fn disabled_metrics_are_not_judged() {
    let policy = Policy::parse(
        "[metrics.latency_p99_us]\nenabled = false\n[metrics.qps]\nenabled = false\n",
        Path::new("p.toml"),
    )
    .unwrap();
    let base = one_cell(5, 0.0, 0.03, 5);
    let cur = one_cell(5, 0.25, 0.03, 6);
    let v = verdicts(&base, &cur, &policy);
    assert_eq!(v, [(Metric::CpuUsPerReq, Verdict::Regression)]);
}

fn write(dir: &Path, name: &str, r: &Results) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(r).unwrap()).unwrap();
    path
}

#[test]
fn too_few_trials_are_refused_naming_cell_and_side() {
    let dir = tempfile::tempdir().unwrap();
    let b = write(dir.path(), "b.json", &one_cell(5, 0.0, 0.03, 1));
    let c = write(dir.path(), "c.json", &one_cell(3, 0.5, 0.03, 2));
    match gate(&b, &c, &Policy::default(), Mode::Timing).unwrap_err() {
        GateError::Unusable { problems, .. } => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains("echo/100B/c50x1/tokio-tower")
                    && problems[0].contains("current")
                    && problems[0].contains("3 trial(s)")
                    && problems[0].contains("at least 5"),
                "{problems:?}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn different_cells_are_refused_naming_each() {
    let dir = tempfile::tempdir().unwrap();
    let base = one_cell(5, 0.0, 0.03, 1);
    let mut cur = one_cell(5, 0.0, 0.03, 2);
    cur.cells[0].id = "echo/1024B/c50x1/tokio-tower".into();
    let b = write(dir.path(), "b.json", &base);
    let c = write(dir.path(), "c.json", &cur);
    let e = gate(&b, &c, &Policy::default(), Mode::Timing)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("echo/100B/c50x1/tokio-tower is in the baseline but not"),
        "{e}"
    );
    assert!(
        e.contains("echo/1024B/c50x1/tokio-tower is in the current"),
        "{e}"
    );
}

#[test]
fn a_failed_cell_is_unusable_input() {
    let base = one_cell(5, 0.0, 0.03, 1);
    let mut cur = one_cell(5, 0.0, 0.03, 2);
    cur.cells[0].status = pb_results::CellStatus::Failed;
    cur.cells[0].reason = Some("core exited".into());
    let problems = compare(&base, &cur, &Policy::default()).unwrap_err();
    assert!(problems[0].contains("failed (core exited)"), "{problems:?}");
}

#[test]
fn the_report_flags_regressions_for_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let b = write(dir.path(), "b.json", &one_cell(5, 0.0, 0.02, 1));
    let same = write(dir.path(), "same.json", &one_cell(5, 0.0, 0.02, 2));
    let worse = write(dir.path(), "worse.json", &one_cell(5, 0.3, 0.02, 3));
    let ok = gate(&b, &same, &Policy::default(), Mode::Timing).unwrap();
    assert!(!ok.regressed());
    assert_eq!(ok.findings.judged, 3);
    let bad = gate(&b, &worse, &Policy::default(), Mode::Timing).unwrap();
    assert!(bad.regressed());
    assert_eq!(bad.findings.regressions, 3);
    assert!(bad.table.contains("REGRESSION"), "{}", bad.table);
}
