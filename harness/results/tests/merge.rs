//! Merging files from two drivers that each carried half of the load is
//! exact: the merged histogram is the histogram of the whole.

use std::collections::BTreeMap;

use pb_results::merge::{self, MergeError, merge};
use pb_results::*;

mod common;

use common::histogram;

/// A one-cell results file whose single trial recorded `values` (ns),
/// with one timeout and two blocked sends, as one driver of two reports.
fn half(run_id: &str, values: Vec<u64>) -> Results {
    let h = histogram(values);
    let trial = Trial {
        errors: 1,
        errors_by_kind: BTreeMap::from([("timeout".to_string(), 1)]),
        late_blocked: 2,
        ..common::trial(&h)
    };
    common::results(run_id, "external", trial)
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

#[test]
fn three_drivers_merge_as_one_sum_and_one_mean_whichever_way() {
    let parts: Vec<Results> = [
        (0.3, vec![1_000u64; 10]),
        (0.6, vec![2_000; 20]),
        (0.9, vec![3_000; 30]),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (util, values))| {
        let mut r = half(&format!("D{i}"), values);
        r.cells[0].trials[0].driver_util = util;
        r
    })
    .collect();
    let trials: Vec<Trial> = parts.iter().map(|r| r.cells[0].trials[0].clone()).collect();
    let files = merge(&parts).unwrap().cells[0].trials[0].clone();
    let fleet = merge::merge_trials(&trials).unwrap();
    for merged in [&files, &fleet] {
        assert_eq!(merged.requests, 60);
        assert_eq!(merged.errors, 3);
        assert_eq!(hist::decode(&merged.histogram).unwrap().len(), 60);
        // Each driver's share of its CPUs, averaged over the three (a mean
        // taken pair by pair would give 0.675).
        assert!(
            (merged.driver_util - 0.6).abs() < 1e-12,
            "{}",
            merged.driver_util
        );
    }
    assert!(matches!(merge::merge_trials(&[]), Err(MergeError::TooFew)));
}
