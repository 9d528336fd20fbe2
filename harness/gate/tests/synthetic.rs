//! The gate on synthetic results with known shifts: a real shift beyond
//! the threshold is caught, no shift passes, a significant but small shift
//! and a large but noisy one do not fail, and unusable inputs are refused
//! with every problem named.

use std::path::{Path, PathBuf};

use pb_gate::{GateError, Metric, Mode, Policy, Verdict, compare, gate};
use pb_results::Results;

mod common;
use common::{Noise, cell, results, trial};

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
