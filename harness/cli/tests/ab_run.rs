//! An A/B run (`run --baseline-exe`): the baseline build's cores run
//! beside this build's, trial by trial in A B B A order, each side's
//! results in its own file, and `proxybench gate` on the two files finds
//! a change made to one side only. The baseline here is this very binary,
//! and the change is the calibration knob (`--core-spin-iters`), which
//! applies to the current build's cores alone.

use std::path::Path;

mod common;
use common::{EXE, proxybench, run_scenario, schema_errors, text};

/// About 40 µs of extra work per request: several times what a 100 B
/// echo costs, so a gate that compares the sides cannot miss it.
const SPIN: &str = "40000";

fn scenario(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ab.toml");
    std::fs::write(
        &path,
        r#"
name = "ab"
[run]
trials = 5
warmup_s = 0.1
duration_s = 0.2
[[cell]]
scenario = "echo"
cores = ["tokio-tower", "monoio-epoll"]
message_bytes = 100
connections = 4
rate = 2000.0
"#,
    )
    .unwrap();
    path
}

#[test]
fn both_builds_alternate_a_b_b_a_and_the_gate_sees_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let out = run_scenario(
        dir.path(),
        &scenario,
        &["--baseline-exe", EXE, "--core-spin-iters", SPIN],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("results/ab-baseline/latest.json"),
        "{stdout}"
    );

    let read = |path: &str| {
        let path = dir.path().join(path);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            schema_errors(&json),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        pb_results::io::read_results(&path).unwrap()
    };
    let current = read("results/latest.json");
    let baseline = read("results/ab-baseline/latest.json");
    let ids = |r: &pb_results::Results| r.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&current),
        ids(&baseline),
        "the same cells on both sides"
    );
    assert_eq!(current.cells.len(), 2);
    // The baseline's build facts come from its own `--version`.
    assert_eq!(
        baseline.environment.git_revision,
        current.environment.git_revision
    );
    assert_eq!(baseline.tool_version, current.tool_version);

    for (c, b) in current.cells.iter().zip(&baseline.cells) {
        assert_eq!(c.params.core_spin_iters, SPIN.parse::<u64>().unwrap());
        assert_eq!(
            b.params.core_spin_iters, 0,
            "the knob is the change under test"
        );
        assert_eq!((c.trials.len(), b.trials.len()), (5, 5), "{}", c.id);
        // A B on even trials, B A on odd ones; the pair is adjacent.
        for (tc, tb) in c.trials.iter().zip(&b.trials) {
            let (first, second) = if tc.index % 2 == 0 {
                (tb.sequence, tc.sequence)
            } else {
                (tc.sequence, tb.sequence)
            };
            assert_eq!(second, first + 1, "{} trial {}", c.id, tc.index);
        }
    }

    // The report compares against the baseline build.
    let report = std::fs::read_to_string(dir.path().join("reports/latest/index.html")).unwrap();
    assert!(
        report.contains("compared with baseline"),
        "no baseline section"
    );

    // The gate on the two files: both cores regressed, in Markdown.
    let gate = proxybench(
        &[
            "gate",
            "--format",
            "markdown",
            "--baseline",
            "results/ab-baseline/latest.json",
            "--current",
            "results/latest.json",
        ],
        dir.path(),
    );
    let table = text(&gate.stdout);
    assert_eq!(gate.status.code(), Some(1), "{table}{}", text(&gate.stderr));
    assert!(table.contains("**FAILED**"), "{table}");
    for cell in &current.cells {
        assert!(
            table.lines().any(|l| l.contains(&cell.id)
                && l.contains("cpu_us_per_req")
                && l.to_lowercase().contains("regress")),
            "{} regressed in CPU: {table}",
            cell.id
        );
    }
}

#[test]
fn a_baseline_that_is_not_proxybench_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let out = run_scenario(dir.path(), &scenario, &["--baseline-exe", "/bin/true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("/bin/true is not a proxybench executable"),
        "{err}"
    );
    assert!(!dir.path().join("results").exists(), "nothing was run");
}
