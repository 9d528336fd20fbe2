//! `proxybench gate` as CI runs it: exit 0 when nothing regressed, 1 on a
//! regression, 2 on unusable input (too few trials, different cells, a bad
//! policy), each with a message naming what is wrong.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

mod common;

use common::{proxybench, text};

/// A results file with one echo cell whose trials have these CPU µs per
/// request (p99 and QPS fixed, so only CPU can move).
fn results_file(dir: &Path, name: &str, cpu_per_trial: &[f64]) -> PathBuf {
    let trials: Vec<Value> = cpu_per_trial
        .iter()
        .enumerate()
        .map(|(i, cpu)| {
            json!({
                "index": i, "sequence": i, "window_s": 1.0, "requests": 100000,
                "qps": 100000.0 + i as f64, "errors": 0, "errors_by_kind": {},
                "latency_us": {"p50": 300.0, "p90": 400.0, "p99": 500.0 + i as f64,
                               "p999": 900.0, "max": 1000.0, "mean": 310.0},
                "histogram": "", "core_cpu_us": cpu * 100000.0, "cpu_us_per_req": cpu,
                "driver_cpu_us": 0.0, "driver_cpu_us_per_req": null, "driver_util": 0.5,
                "rss_max_bytes": 1, "driver_bound": false, "driver_bound_reason": null
            })
        })
        .collect();
    let doc = json!({
        "schema_version": pb_results::SCHEMA_VERSION, "run_id": "20260101T000000Z",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "tool_version": "0.1.0", "scenario": {"source": "test", "name": "test"},
        "environment": {
            "kernel": "Linux", "cpu_model": "test", "cpu_count": 2, "rustc": "rustc",
            "git_revision": "x", "build_profile": "release",
            "io_uring": {"available": true, "detail": "ok"}, "memlock_limit_bytes": null,
            "cpu_plan": {"allowed": [0, 1], "core": [0], "driver": [1], "origin": [],
                         "shared": false, "note": ""}
        },
        "cores": [],
        "cells": [{
            "id": "echo/100B/c50x1/tokio-tower", "scenario": "echo", "core": "tokio-tower",
            "status": "ok", "reason": null,
            "params": {"mode": "closed", "message_bytes": 100, "connections": 50,
                       "in_flight": 1, "warmup_s": 0.5, "duration_s": 1.0,
                       "trials": cpu_per_trial.len(), "core_threads": 1, "driver_threads": 1},
            "trials": trials, "core_exit": "exit 0 after SIGTERM", "summary": null
        }]
    });
    let path = dir.join(name);
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

const BASE: [f64; 5] = [6.8, 6.9, 6.7, 7.0, 6.85];

fn gate(dir: &Path, baseline: &Path, current: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "gate",
        "--baseline",
        baseline.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    proxybench(&args, dir)
}

#[test]
fn too_few_trials_exit_2_naming_the_cell_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let b = results_file(dir.path(), "base.json", &BASE);
    let c = results_file(dir.path(), "cur.json", &[6.8, 6.9, 6.7]);
    let out = gate(dir.path(), &b, &c, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("unusable input"), "{stderr}");
    assert!(stderr.contains("echo/100B/c50x1/tokio-tower"), "{stderr}");
    assert!(
        stderr.contains("3 trial(s)") && stderr.contains("at least 5"),
        "{stderr}"
    );
}

#[test]
fn different_cells_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let b = results_file(dir.path(), "base.json", &BASE);
    let c = results_file(dir.path(), "cur.json", &BASE);
    let renamed = std::fs::read_to_string(&c)
        .unwrap()
        .replace("c50x1/tokio-tower", "c50x1/monoio");
    std::fs::write(&c, renamed).unwrap();
    let out = gate(dir.path(), &b, &c, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("echo/100B/c50x1/tokio-tower is in the baseline"),
        "{stderr}"
    );
    assert!(
        stderr.contains("echo/100B/c50x1/monoio is in the current"),
        "{stderr}"
    );
}

#[test]
fn the_same_figures_pass_with_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let b = results_file(dir.path(), "base.json", &BASE);
    let c = results_file(dir.path(), "cur.json", &[6.85, 6.75, 7.0, 6.9, 6.8]);
    let out = gate(dir.path(), &b, &c, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("core CPU µs/req") && stdout.contains("p(worse)"),
        "{stdout}"
    );
    assert!(stdout.contains("gate: passed"), "{stdout}");
}

#[test]
fn a_cpu_regression_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let b = results_file(dir.path(), "base.json", &BASE);
    let worse: Vec<f64> = BASE.iter().map(|v| v * 1.2).collect();
    let c = results_file(dir.path(), "cur.json", &worse);
    let out = gate(dir.path(), &b, &c, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("REGRESSION"), "{stdout}");
    assert!(stdout.contains("gate: FAILED: 1 of 3"), "{stdout}");

    // The same verdict for a pull request, and for a bot; same exit code.
    let out = gate(dir.path(), &b, &c, &["--format", "markdown"]);
    let md = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{md}");
    let mut lines = md.lines();
    assert_eq!(
        lines.next(),
        Some(
            "### proxybench gate (CPU per request, p99 and QPS): **FAILED**, 1 of 3 figures regressed"
        )
    );
    let first_row = md.lines().find(|l| l.starts_with("| `")).unwrap();
    assert!(
        first_row.starts_with("| `echo/100B/c50x1/tokio-tower` | cpu_us_per_req |")
            && first_row.ends_with("| **REGRESSION** |"),
        "{md}"
    );
    let out = gate(dir.path(), &b, &c, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "timing");
    assert_eq!(json["passed"], false);
    assert_eq!(json["regressions"], 1);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let cpu = rows
        .iter()
        .find(|r| r["measure"] == "cpu_us_per_req")
        .unwrap();
    assert_eq!(cpu["regression"], true);
    assert!(cpu["p_worse"].as_f64().unwrap() < 0.05, "{cpu}");
    assert!(
        (cpu["current"].as_f64().unwrap() / cpu["baseline"].as_f64().unwrap() - 1.2).abs() < 0.01
    );
}

#[test]
fn the_policy_threshold_decides_and_bad_policies_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let b = results_file(dir.path(), "base.json", &BASE);
    let worse: Vec<f64> = BASE.iter().map(|v| v * 1.2).collect();
    let c = results_file(dir.path(), "cur.json", &worse);
    std::fs::write(
        dir.path().join("lenient.toml"),
        "[metrics.cpu_us_per_req]\nthreshold_pct = 30\n",
    )
    .unwrap();
    let out = gate(dir.path(), &b, &c, &["--policy", "lenient.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    std::fs::write(
        dir.path().join("bad.toml"),
        "[metrics.cpu_us_per_req]\nthreshold_pct = \"ten\"\n",
    )
    .unwrap();
    let out = gate(dir.path(), &b, &c, &["--policy", "bad.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml") && stderr.contains("metrics.cpu_us_per_req.threshold_pct"),
        "{stderr}"
    );
}

#[test]
fn instruction_counts_use_the_tight_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let counts = |name: &str, per_call: f64| {
        let doc = json!({
            "kind": "proxybench-icount", "version": 1, "created_at": "2026-01-01T00:00:00Z",
            "tool": "valgrind-3.19.0 cachegrind",
            "environment": {"cpu_model": "test", "kernel": "k", "rustc": "r", "git_revision": "g"},
            "entries": [{"id": "core/tokio-tower/echo-100B", "unit": "request",
                         "per_unit": per_call,
                         "runs": [{"units": [1000, 4000], "instructions": [1, 2], "per_unit": per_call}]}]
        });
        let path = dir.path().join(name);
        std::fs::write(&path, doc.to_string()).unwrap();
        path
    };
    let b = counts("base.json", 3000.0);
    let same = counts("same.json", 3030.0); // +1 %
    let worse = counts("worse.json", 3090.0); // +3 %
    let out = gate(dir.path(), &b, &same, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = gate(dir.path(), &b, &worse, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("core/tokio-tower/echo-100B") && stdout.contains("REGRESSION"));
    // A results file against a count file is unusable input.
    let r = results_file(dir.path(), "results.json", &BASE);
    let out = gate(dir.path(), &b, &r, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot compare"));
}

/// A one-cell run of the counter gate's workload (one connection at a
/// fixed rate, so every request takes the same path) through tokio-tower,
/// with `extra` system calls per request injected; its results file.
fn counted_run(dir: &Path, name: &str, extra: u32) -> PathBuf {
    std::fs::write(
        dir.join("counters.toml"),
        "name = \"counters\"\n[run]\ntrials = 1\nwarmup_s = 0.1\nduration_s = 0.4\n\
         [[cell]]\nscenario = \"echo\"\ncores = [\"tokio-tower\"]\nmessage_bytes = 100\n\
         connections = 1\nrate = 2000.0\n",
    )
    .unwrap();
    let out = proxybench(
        &[
            "run",
            "counters.toml",
            "--skip-conform",
            "--out",
            name,
            "--reports",
            "reports",
            &format!("--core-extra-syscalls={extra}"),
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir.join(name).join("latest.json")
}

#[test]
fn the_counter_gate_passes_a_rerun_and_fails_one_extra_syscall_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let base = counted_run(dir.path(), "a", 0);
    let results: pb_results::Results = pb_results::io::read_results(&base).unwrap();
    let kernel = results.cells[0]
        .summary
        .as_ref()
        .unwrap()
        .kernel
        .clone()
        .unwrap();
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ci/gate.toml");
    let policy = policy.to_str().unwrap();
    let again = counted_run(dir.path(), "b", 0);
    let counter_gate = |current: &Path| {
        gate(
            dir.path(),
            &base,
            current,
            &["--counters", "--policy", policy],
        )
    };
    if kernel.perf("syscalls").is_none() {
        // Without perf on either side only the allocations are judged,
        // and the table says the system calls were not.
        let out = counter_gate(&again);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("syscalls not counted on either side"),
            "{stdout}"
        );
        return;
    }
    // The same build again: every count within the threshold.
    let out = counter_gate(&again);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("syscalls") && stdout.contains("allocations"),
        "{stdout}"
    );
    // One system call more per request: far below what timing could
    // show at this rate, and the gate fails on it, naming the count.
    let worse = counted_run(dir.path(), "c", 1);
    let out = counter_gate(&worse);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("REGRESSION"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("echo/100B/c1x1@2000rps/tokio-tower") && line.contains("syscalls"),
        "{line}"
    );
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("allocations") && l.contains("REGRESSION")),
        "{stdout}"
    );
    // --counters judges results files only.
    let icount =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../results/baseline/icount.json");
    let out = gate(dir.path(), &icount, &icount, &["--counters"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--counters judges results files"),
        "{}",
        text(&out.stderr)
    );
}
