//! `proxybench gate run`: the paired, sequential gate running its own
//! trials. The builds are this very binary on both sides (the build path
//! is `git worktree` + cargo, too slow for a test); a known cost injected
//! into the candidate's cores (`--core-spin-iters`) is found at the first
//! look under every pairing, the same build against itself passes, a
//! budget too small for the noise ends inconclusive with exit 3, and bad
//! input exits 2 with the reason. Every outcome writes both sides'
//! results and the verdict, which say how the pairs were taken.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{EXE, proxybench, schema_errors, text};

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("gate.toml");
    std::fs::write(
        &path,
        r#"
name = "gate-run-test"
[run]
trials = 1
warmup_s = 0.1
duration_s = 0.25
core_threads = 1
driver_threads = 1
[[cell]]
scenario = "echo"
cores = ["tokio-tower"]
message_bytes = 100
connections = 4
rate = 2000.0
"#,
    )
    .unwrap();
    path
}

/// A policy judging CPU per request with `threshold` percent, looks
/// from `first` pairs to `budget`, `alpha` per side in all.
fn policy(dir: &Path, threshold: f64, first: usize, budget: usize, alpha: f64) -> PathBuf {
    let path = dir.join(format!("policy-{threshold}-{budget}.toml"));
    std::fs::write(
        &path,
        format!(
            "[metrics.cpu_us_per_req]\nthreshold_pct = {threshold}\n\
             [paired]\nalpha = {alpha}\nmin_pairs = {first}\nmax_pairs = {budget}\n\
             metrics = [\"cpu_us_per_req\"]\n"
        ),
    )
    .unwrap();
    path
}

fn gate_run(dir: &Path, policy: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let scenario = scenario(dir);
    let mut args = vec![
        "gate",
        "run",
        scenario.to_str().unwrap(),
        "--baseline-exe",
        EXE,
        "--candidate-exe",
        EXE,
        "--any-profile",
        "--policy",
        policy.to_str().unwrap(),
        "--out",
        "out",
        "-q",
    ];
    args.extend_from_slice(extra);
    let out = proxybench(&args, dir);
    let json = std::fs::read_to_string(dir.join("out/gate.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// The run's stdout, once its exit code is `code` (else both outputs).
fn exited(out: &Output, code: i32) -> String {
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    stdout
}

fn results(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

/// The verdict's notes on how its pairs were taken.
fn pairing_notes(json: &serde_json::Value) -> Vec<String> {
    json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with("pairing "))
        .map(str::to_owned)
        .collect()
}

/// Both sides' stitched results are schema-valid and hold every pair.
fn check_results(dir: &Path, pairs: u64) {
    for file in ["out/latest.json", "out/baseline/latest.json"] {
        let json = results(dir, file);
        assert_eq!(schema_errors(&json), Vec::<String>::new(), "{file}");
        assert_eq!(
            json["cells"][0]["trials"].as_array().unwrap().len() as u64,
            pairs,
            "{file}"
        );
    }
}

#[test]
fn an_injected_cost_is_a_regression_at_the_first_look() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), 5.0, 8, 16, 0.05);
    // ~40 µs more per request: several times what the echo costs.
    let (out, json) = gate_run(dir.path(), &policy, &["--core-spin-iters", "40000"]);
    let stdout = exited(&out, 1);
    assert!(
        stdout.contains("gate run: FAILED: 1 of 1 figures regressed, after 8 pairs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("at this run's noise the gate detects ≥ "),
        "{stdout}"
    );
    assert_eq!(json["verdict"], "regression");
    assert_eq!(json["pairs"], 8);
    assert_eq!(
        pairing_notes(&json),
        ["pairing together: the two trials of each pair ran at the same time on the same CPUs"]
    );
    // Both builds' cores on the same CPUs, both drivers on the same CPUs,
    // and each side's results say that the other shared them.
    let plan = |file: &str| results(dir.path(), file)["environment"]["cpu_plan"].clone();
    let (candidate, baseline) = (plan("out/latest.json"), plan("out/baseline/latest.json"));
    for role in ["allowed", "core", "driver"] {
        assert_eq!(candidate[role], baseline[role], "{role}");
    }
    for plan in [candidate, baseline] {
        assert_eq!(plan["shared"], true, "{plan}");
        assert!(
            plan["note"].as_str().unwrap().contains(
                "the other build's trial of each pair ran at the same time on these CPUs"
            ),
            "{plan}"
        );
    }
    let row = &json["rows"][0];
    assert_eq!(row["cell"], "echo/100B/c4x1@2000rps/tokio-tower");
    assert!(row["change"].as_f64().unwrap() > 0.5, "{row}");
    assert!(row["interval"][0].as_f64().unwrap() > 0.05, "{row}");
    check_results(dir.path(), 8);
    let md = std::fs::read_to_string(dir.path().join("out/gate.md")).unwrap();
    assert!(
        md.contains("**FAILED**") && md.contains("**REGRESSION**"),
        "{md}"
    );
}

#[test]
fn the_same_build_passes_and_a_budget_too_small_for_the_threshold_is_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    // A wide threshold: the same build is decided at the first look.
    let wide = policy(dir.path(), 50.0, 8, 8, 0.05);
    let (out, json) = gate_run(dir.path(), &wide, &[]);
    let stdout = exited(&out, 0);
    assert!(stdout.contains("gate run: passed"), "{stdout}");
    assert_eq!(json["verdict"], "no_regression");
    check_results(dir.path(), 8);

    // A zero threshold: the interval of "no change" straddles it unless
    // 12 pairs of one build land lopsided beyond a 0.1 % chance, so at
    // the budget the answer is "cannot tell", exit 3.
    let zero = policy(dir.path(), 0.0, 12, 12, 0.001);
    let (out, json) = gate_run(dir.path(), &zero, &["--format", "markdown"]);
    let stdout = exited(&out, 3);
    assert!(
        stdout.contains("**inconclusive** at this noise"),
        "{stdout}"
    );
    assert_eq!(json["verdict"], "inconclusive");
    assert_eq!(json["rows"][0]["verdict"], "INCONCLUSIVE");
}

#[test]
fn bad_input_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), 5.0, 8, 8, 0.05);
    let (out, _) = gate_run(dir.path(), &policy, &["--min-pairs", "3"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--min-pairs") && stderr.contains("pairs"),
        "{stderr}"
    );

    let out = proxybench(
        &[
            "gate",
            "run",
            scenario(dir.path()).to_str().unwrap(),
            "--baseline-rev",
            "no-such-revision-anywhere",
            "--repo",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no-such-revision-anywhere"), "{stderr}");

    let out = proxybench(&["gate", "run"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--baseline-rev"),
        "{}",
        text(&out.stderr)
    );
    // The file gate still needs both files.
    let out = proxybench(&["gate", "--baseline", "x.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--current"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn split_and_alternate_pairings_see_the_injected_cost_too() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(dir.path(), 5.0, 8, 8, 0.05);
    // Two CPUs are too few for a real split: refused, saying why.
    let (out, _) = gate_run(
        dir.path(),
        &policy,
        &["--pairing", "split", "--cpus", "0,1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--pairing split needs at least 4 CPUs"),
        "{stderr}"
    );
    // Allowed here for the test: each side on one CPU, at the same time.
    let (out, json) = gate_run(
        dir.path(),
        &policy,
        &[
            "--pairing",
            "split",
            "--duet-any-cpus",
            "--cpus",
            "0,1",
            "--core-spin-iters",
            "40000",
        ],
    );
    exited(&out, 1);
    assert_eq!(json["verdict"], "regression");
    assert_eq!(
        pairing_notes(&json),
        [
            "pairing split: the two trials of each pair ran at the same time, each build on its own half of the CPUs"
        ]
    );
    check_results(dir.path(), 8);
    // Each side ran on its own half.
    let plan = |file: &str| results(dir.path(), file)["environment"]["cpu_plan"]["allowed"].clone();
    assert_eq!(plan("out/latest.json"), serde_json::json!([0]));
    assert_eq!(plan("out/baseline/latest.json"), serde_json::json!([1]));

    // One after the other, through the runner's A/B mode.
    let (out, json) = gate_run(
        dir.path(),
        &policy,
        &["--pairing", "alternate", "--core-spin-iters", "40000"],
    );
    exited(&out, 1);
    assert_eq!(json["verdict"], "regression");
    assert_eq!(
        pairing_notes(&json),
        ["pairing alternate: the two trials of each pair ran one after the other, A B B A"]
    );
    check_results(dir.path(), 8);
    let note = &results(dir.path(), "out/latest.json")["environment"]["cpu_plan"]["note"];
    assert!(
        !note.as_str().unwrap().contains("pairing together"),
        "{note}"
    );
}
