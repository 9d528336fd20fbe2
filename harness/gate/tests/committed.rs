//! The committed policy and baselines stay readable by the gate: a typo in
//! `ci/gate.toml` or a stale baseline format fails here, not in CI's gate
//! step.

use std::path::PathBuf;

use pb_gate::{Input, Policy};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The cell ids a committed scenario file runs, in order: a baseline made
/// with it has exactly these.
fn cell_ids(scenario: &str) -> Vec<String> {
    let file = pb_scenario::ScenarioFile::load(&repo(scenario)).unwrap();
    file.cells
        .iter()
        .flat_map(|cell| {
            let label = cell.label();
            cell.cores
                .clone()
                .unwrap_or_else(|| panic!("{scenario} names its cores"))
                .into_iter()
                .map(move |core| format!("{label}/{core}"))
        })
        .collect()
}

/// The trials per cell of a committed scenario file.
fn scenario_trials(scenario: &str) -> usize {
    let file = pb_scenario::ScenarioFile::load(&repo(scenario)).unwrap();
    file.run.trials as usize
}

#[test]
fn the_ci_policy_parses() {
    let policy = Policy::load(&repo("ci/gate.toml")).unwrap();
    assert!(policy.instructions_threshold > 0.0);
    assert!(policy.rule.min_trials >= pb_stats::MIN_TRIALS_FLOOR);
    // The paired gate's plan, as ci/gate.toml's comments describe it.
    let plan = policy.plan(pb_stats::Metric::CpuUsPerReq);
    assert_eq!(plan.looks, [8, 12, 18, 27, 41, 60]);
    assert!((plan.threshold - 0.05).abs() < 1e-12);
    assert_eq!(policy.paired.metrics, [pb_stats::Metric::CpuUsPerReq]);
}

#[test]
fn the_instruction_count_baseline_compares_with_itself() {
    let path = repo("results/baseline/icount.json");
    let Input::Icount(report) = pb_gate::input::load(&path).unwrap() else {
        panic!("{} is not an instruction-count file", path.display());
    };
    assert!(!report.entries.is_empty());
    let cmp = pb_gate::compare_icount(&report, &report, &Policy::default()).unwrap();
    assert!(!cmp.regressed());
}

#[test]
fn the_statistical_baseline_is_usable_under_the_ci_policy() {
    let policy = Policy::load(&repo("ci/gate.toml")).unwrap();
    let path = repo("results/baseline/gate-echo.json");
    let Input::Results(results) = pb_gate::input::load(&path).unwrap() else {
        panic!("{} is not a results file", path.display());
    };
    // Against itself: enough trials everywhere, nothing regressed.
    let cmp = pb_gate::compare(&results, &results, &policy).unwrap();
    assert!(!cmp.rows.is_empty());
    assert!(!cmp.regressed());
}

#[test]
fn the_statistical_baseline_was_measured_with_the_committed_scenario() {
    // Refreshing ci/gate-echo.toml without refreshing the baseline would
    // make every comparison against it exit 2 ("cells differ").
    let mut expected = cell_ids("ci/gate-echo.toml");
    let path = repo("results/baseline/gate-echo.json");
    let Input::Results(results) = pb_gate::input::load(&path).unwrap() else {
        panic!("{} is not a results file", path.display());
    };
    let mut ids: Vec<String> = results.cells.iter().map(|c| c.id.clone()).collect();
    expected.sort();
    ids.sort();
    assert_eq!(ids, expected, "results/baseline/gate-echo.json is stale");
    assert!(
        results
            .cells
            .iter()
            .all(|c| c.trials.len() == scenario_trials("ci/gate-echo.toml")),
        "every cell of the baseline should hold the scenario's trials"
    );
}

#[test]
fn the_counter_baseline_compares_with_itself_and_matches_its_scenario() {
    let policy = Policy::load(&repo("ci/gate.toml")).unwrap();
    let path = repo("results/baseline/counters.json");
    let Input::Results(results) = pb_gate::input::load(&path).unwrap() else {
        panic!("{} is not a results file", path.display());
    };
    let cmp = pb_gate::compare_counters(&results, &results, &policy).unwrap();
    // Every cell, every counter: the baseline counted them all.
    assert_eq!(
        cmp.rows.len(),
        results.cells.len() * pb_gate::counters::COUNTERS.len()
    );
    assert!(!cmp.regressed());
    let expected = cell_ids("ci/gate-counters.toml");
    let ids: Vec<String> = results.cells.iter().map(|c| c.id.clone()).collect();
    assert_eq!(
        ids, expected,
        "refresh results/baseline/counters.json (ci/README.md)"
    );
}
