//! Merging files from two drivers that each carried half of the load is
//! exact: the merged histogram is the histogram of the whole.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use pb_results::merge::{MergeError, merge};
use pb_results::*;

fn histogram(values: impl Iterator<Item = u64>) -> Histogram<u64> {
    let mut h = pb_results::hist::new_histogram();
    for v in values {
        h.record(v).unwrap();
    }
    h
}

/// A one-cell results file whose single trial recorded `values` (ns).
fn half(run_id: &str, values: Vec<u64>) -> Results {
    let h = histogram(values.iter().copied());
    let trial = Trial {
        index: 0,
        sequence: 0,
        window_s: 1.0,
        requests: h.len(),
        qps: h.len() as f64,
        errors: 1,
        errors_by_kind: BTreeMap::from([("timeout".to_string(), 1)]),
        latency_us: hist::percentiles(&h),
        histogram: hist::encode(&h),
        core_cpu_us: 0.0,
        cpu_us_per_req: None,
        driver_cpu_us: 1000.0,
        driver_cpu_us_per_req: Some(1000.0 / h.len() as f64),
        driver_util: 0.5,
        rss_max_bytes: 0,
        driver_bound: false,
        driver_bound_reason: None,
        latency_uncorrected_us: Some(hist::percentiles(&h)),
        histogram_uncorrected: Some(hist::encode(&h)),
        late_driver: 0,
        late_blocked: 2,
        max_lag_us: 10.0,
        intervals: vec![IntervalPoint {
            start_s: 0.0,
            length_s: 1.0,
            requests: h.len(),
            qps: h.len() as f64,
            latency_us: hist::percentiles(&h),
            histogram: hist::encode(&h),
        }],
    };
    let summary = Summary::from_trials(std::slice::from_ref(&trial)).unwrap();
    Results {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.into(),
        started_at: "2026-11-26T22:15:30Z".into(),
        finished_at: "2026-11-26T22:15:31Z".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioRef {
            source: "proxybench load".into(),
            name: "load".into(),
        },
        environment: Environment {
            kernel: "Linux".into(),
            cpu_model: "x".into(),
            cpu_count: 2,
            rustc: "rustc".into(),
            git_revision: "abc".into(),
            build_profile: "release".into(),
            io_uring: IoUringStatus {
                available: true,
                detail: "ok".into(),
            },
            memlock_limit_bytes: None,
            cpu_plan: CpuPlan {
                allowed: vec![0],
                core: vec![0],
                driver: vec![0],
                origin: vec![],
                shared: true,
                note: "driver only".into(),
            },
        },
        cores: vec![CoreStatus {
            name: "external".into(),
            runtime: "-".into(),
            service: "-".into(),
            available: true,
            reason: None,
        }],
        cells: vec![Cell {
            id: "echo/100B/c10x1@1000rps/external".into(),
            scenario: "echo".into(),
            core: "external".into(),
            status: CellStatus::Ok,
            reason: None,
            params: CellParams {
                mode: "open".into(),
                rate: Some(1000.0),
                message_bytes: 100,
                connections: 10,
                in_flight: 1,
                warmup_s: 0.0,
                duration_s: 1.0,
                trials: 1,
                core_threads: 1,
                driver_threads: 1,
                core_spin_iters: 0,
                http: None,
            },
            trials: vec![trial],
            rate_search: None,
            core_exit: None,
            conformance_failures: Vec::new(),
            summary,
        }],
        merged_from: vec![],
        conformance: None,
    }
}

#[test]
fn two_halves_merge_into_exactly_the_whole() {
    // A skewed distribution, split unevenly between two drivers.
    let all: Vec<u64> = (1..=20_000u64)
        .map(|i| 1_000 + (i * i) % 5_000_000)
        .collect();
    let (a, b) = all.split_at(7_000);
    let merged = merge(&[half("A", a.to_vec()), half("B", b.to_vec())]).unwrap();
    let whole = histogram(all.iter().copied());

    let trial = &merged.cells[0].trials[0];
    let got = hist::decode(&trial.histogram).unwrap();
    assert_eq!(got, whole, "merged histogram differs from the whole");
    assert_eq!(got.len(), 20_000);
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            got.value_at_quantile(q),
            whole.value_at_quantile(q),
            "q={q}"
        );
    }
    assert_eq!(trial.latency_us, hist::percentiles(&whole));
    assert_eq!(
        hist::decode(trial.histogram_uncorrected.as_deref().unwrap()).unwrap(),
        whole
    );
    assert_eq!(hist::decode(&trial.intervals[0].histogram).unwrap(), whole);
    // Counts and rates add; the summary is recomputed from the merge.
    assert_eq!(trial.requests, 20_000);
    assert_eq!(trial.errors, 2);
    assert_eq!(trial.errors_by_kind["timeout"], 2);
    assert_eq!(trial.late_blocked, 4);
    let cell = &merged.cells[0];
    assert_eq!(cell.params.rate, Some(2000.0));
    assert_eq!(cell.params.connections, 20);
    let summary = cell.summary.as_ref().unwrap();
    assert_eq!(summary.latency_us, hist::percentiles(&whole));
    assert_eq!(merged.merged_from, ["A", "B"]);
}

#[test]
fn files_of_different_cells_are_refused() {
    let a = half("A", vec![1000]);
    let mut b = half("B", vec![2000]);
    b.cells[0].id = "echo/1024B/c10x1/external".into();
    assert!(matches!(
        merge(&[a.clone(), b]),
        Err(MergeError::Mismatch(_))
    ));
    assert!(matches!(merge(&[a]), Err(MergeError::TooFew)));
}
