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

#[test]
fn the_ci_policy_parses() {
    let policy = Policy::load(&repo("ci/gate.toml")).unwrap();
    assert!(policy.instructions_threshold > 0.0);
    assert!(policy.min_trials >= pb_gate::policy::MIN_TRIALS_FLOOR);
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
