//! The `proxybench` binary as a user runs it: `run` writes a results file
//! that validates against the committed schema, unavailable cores are
//! reported with their reason, bad input is a clear error with exit 2.

use std::process::Output;

mod common;

use common::{proxybench_env as proxybench, schema_errors, text};

/// A small matrix: every headline core, two sizes, short trials.
const TINY: &str = r#"
name = "tiny"
[run]
trials = 2
warmup_s = 0.1
duration_s = 0.3
[[cell]]
scenario = "echo"
cores = ["tokio-tower", "monoio", "glommio"]
message_bytes = [100, 1024]
connections = 8
in_flight = 1
"#;

fn assert_valid(json: &serde_json::Value) {
    let errors = schema_errors(json);
    assert!(
        errors.is_empty(),
        "results do not match the schema:\n{}",
        errors.join("\n")
    );
}

fn run_tiny(env: &[(&str, &str)]) -> (Output, serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), TINY).unwrap();
    let out = proxybench(
        &["run", "tiny.toml", "--out", "out", "--skip-conform"],
        dir.path(),
        env,
    );
    let latest = dir.path().join("out/latest.json");
    let json = std::fs::read_to_string(&latest)
        .unwrap_or_else(|e| panic!("{}: {e}\nstderr:\n{}", latest.display(), text(&out.stderr)));
    (out, serde_json::from_str(&json).unwrap(), dir)
}

#[test]
fn run_writes_results_that_match_the_schema_and_prints_the_table() {
    let (out, json, dir) = run_tiny(&[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert_valid(&json);

    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6, "two sizes x three cores");
    for cell in cells {
        assert_eq!(cell["status"], "ok", "{cell}");
        assert_eq!(cell["summary"]["errors"], 0, "{cell}");
        assert!(cell["summary"]["qps"].as_f64().unwrap() > 0.0);
        assert_eq!(cell["trials"].as_array().unwrap().len(), 2);
        assert!(
            cell["core_exit"].as_str().unwrap().starts_with("exit 0"),
            "{cell}"
        );
        // The merged histogram is the sum of the trials'.
        let merged: u64 = cell["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                pb_results::hist::decode(t["histogram"].as_str().unwrap())
                    .unwrap()
                    .len()
            })
            .sum();
        let requests: u64 = cell["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(merged, requests);
    }
    // Trials interleave across cores: A B C A B C within each cell.
    let first_cell: Vec<_> = cells[..3]
        .iter()
        .map(|c| {
            c["trials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["sequence"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(first_cell, [vec![0, 3], vec![1, 4], vec![2, 5]]);

    for core in ["tokio-tower", "monoio", "glommio"] {
        assert!(stdout.contains(core), "table lacks {core}:\n{stdout}");
    }
    assert!(
        stdout.contains("echo/100B/c8x1") && stdout.contains("echo/1024B/c8x1"),
        "{stdout}"
    );
    // A timestamped copy sits beside latest.json, and HdrHistogram files
    // for every cell under hdr/<run-id>/.
    let jsons = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(jsons, 2);
    let run_id = json["run_id"].as_str().unwrap();
    let hdr = std::fs::read_dir(dir.path().join("out/hdr").join(run_id))
        .unwrap()
        .count();
    assert_eq!(
        hdr,
        6 * 3,
        "per cell: .hgrm, .uncorrected.hgrm and the .hlog interval log"
    );

    // Off a terminal, progress is plain lines on stderr: the stage, then
    // each trial stamped with the share done, elapsed time and ETA.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("trials: tiny: 2 cells, 2 trials each, about 5 s of load"),
        "{stderr}"
    );
    let trial_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("] trial ")).collect();
    assert_eq!(trial_lines.len(), 12, "{stderr}");
    assert!(
        trial_lines
            .iter()
            .all(|l| l.starts_with('[') && l.contains("%") && l.contains(", ETA ")),
        "{stderr}"
    );
    assert!(
        trial_lines.last().unwrap().starts_with("[100% "),
        "{stderr}"
    );
    // The index of runs lists this one.
    let index = std::fs::read_to_string(dir.path().join("reports/index.html")).unwrap();
    assert!(
        index.contains(&format!("href=\"{run_id}/index.html\"")),
        "{index}"
    );
}

#[test]
fn quiet_runs_print_stages_and_problems_but_no_trial_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), TINY).unwrap();
    let out = proxybench(
        &[
            "run",
            "tiny.toml",
            "--out",
            "out",
            "--skip-conform",
            "--cores",
            "tokio-tower",
            "--trials",
            "1",
            "--quiet",
        ],
        dir.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("trials: tiny"), "{stderr}");
    assert!(stderr.contains("CPU plan"), "{stderr}");
    assert!(!stderr.contains("] trial "), "{stderr}");
    assert!(
        text(&out.stdout).contains("tokio-tower"),
        "the table is still printed"
    );
}

#[test]
fn without_io_uring_the_uring_cores_are_unavailable_with_the_reason() {
    let env = [("PROXYBENCH_FAKE_NO_IO_URING", "kernel.io_uring_disabled=2")];
    let (out, json, _dir) = run_tiny(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_valid(&json);
    assert_eq!(json["environment"]["io_uring"]["available"], false);
    for cell in json["cells"].as_array().unwrap() {
        match cell["core"].as_str().unwrap() {
            "tokio-tower" => assert_eq!(cell["status"], "ok"),
            _ => {
                assert_eq!(cell["status"], "unavailable", "{cell}");
                assert!(
                    cell["reason"]
                        .as_str()
                        .unwrap()
                        .contains("kernel.io_uring_disabled=2"),
                    "{cell}"
                );
            }
        }
    }
    assert!(text(&out.stdout).contains("unavailable: io_uring disabled"));
}

#[test]
fn an_injected_cost_is_recorded_with_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.toml"), TINY).unwrap();
    let out = proxybench(
        &[
            "run",
            "tiny.toml",
            "--out",
            "out",
            "--cores",
            "tokio-tower",
            "--trials",
            "1",
            "--core-spin-iters",
            "500",
        ],
        dir.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/latest.json")).unwrap())
            .unwrap();
    assert_valid(&json);
    for cell in json["cells"].as_array().unwrap() {
        assert_eq!(cell["params"]["core_spin_iters"], 500, "{cell}");
        assert_eq!(
            cell["conformance_failures"],
            serde_json::json!([]),
            "{cell}"
        );
    }
    // Conformance ran first, for the core in the run, and is stored.
    let cases = json["conformance"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), pb_conform::CASES.len());
    for case in cases {
        let outcomes = case["outcomes"].as_array().unwrap();
        assert_eq!(outcomes.len(), 1, "{case}");
        assert_eq!(outcomes[0]["core"], "tokio-tower");
        assert_eq!(outcomes[0]["passed"], true, "{case}");
    }
}

#[test]
fn cores_lists_unavailable_cores_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(
        &["cores", "--json"],
        dir.path(),
        &[("PROXYBENCH_FAKE_NO_IO_URING", "seccomp")],
    );
    assert_eq!(out.status.code(), Some(0));
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cores = listing["cores"].as_array().unwrap();
    let by_name = |name: &str| cores.iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(by_name("tokio-tower")["available"], true);
    assert_eq!(
        by_name("tokio-tower")["grid"]["composition"],
        "tower-buffer"
    );
    assert_eq!(by_name("monoio-epoll")["available"], true);
    assert_eq!(by_name("tokio-tpc/borrowing")["available"], true);
    // Every grid cell is a core or a combination said to be impossible.
    let impossible = listing["impossible"].as_array().unwrap();
    assert!(
        impossible
            .iter()
            .any(|c| c["runtime"] == "glommio" && c["composition"] == "tower-buffer"),
        "{impossible:?}"
    );
    assert!(cores.len() >= 13, "{} cores", cores.len());
    for name in ["monoio", "glommio", "monoio/raw", "glommio/raw"] {
        let core = by_name(name);
        assert_eq!(core["available"], false);
        assert!(
            core["reason"].as_str().unwrap().contains("seccomp"),
            "{core}"
        );
    }
}

#[test]
fn a_proxy_that_cannot_run_exits_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(
        &["proxy", "--core", "monoio"],
        dir.path(),
        &[("PROXYBENCH_FAKE_NO_IO_URING", "test")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("core unavailable: io_uring disabled"));
}

#[test]
fn a_malformed_scenario_names_the_file_and_the_field_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"bad\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 100\nin_flight = \"two\"\n",
    )
    .unwrap();
    let out = proxybench(&["run", "bad.toml", "--out", "out"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("cell[0].in_flight"), "{stderr}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for bad input"
    );
}

#[test]
fn an_unknown_core_in_a_scenario_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"s\"\n[[cell]]\nscenario = \"echo\"\nmessage_bytes = 1\ncores = [\"tokio-tower\", \"envoy\"]\n",
    )
    .unwrap();
    let out = proxybench(&["run", "s.toml"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cell[0].cores[1]") && stderr.contains("envoy"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["proxy", "--core", "nope"][..],
        &["proxy", "--core", "tokio-tower", "--cpus", "3-1"],
        &["load", "--target", "not-an-address"],
        &["run", "--trials", "0"],
    ] {
        let out = proxybench(args, dir.path(), &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} printed no reason");
    }
}
