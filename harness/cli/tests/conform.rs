//! `proxybench conform`: every available core passes every case, the
//! matrix is printed and written as JSON, and the exit code says so.

use std::process::Command;

mod common;

use common::EXE;

#[test]
fn every_available_core_passes_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("conform.json");
    let out = Command::new(EXE)
        .arg("conform")
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let matrix: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = matrix["cases"].as_array().unwrap();
    assert_eq!(cases.len(), pb_conform::CASES.len());
    let cores = matrix["cores"].as_array().unwrap();
    assert!(cores.iter().any(|c| c == "tokio-tower"), "{cores:?}");
    // Our cores pass every case; a reference proxy installed here
    // (nginx, HAProxy) runs the suite too, and its differences from the
    // contract are data, not failures of the run.
    let reference = |core: &str| pb_cores::find(core).is_some_and(|c| c.info().is_reference());
    for case in cases {
        assert!(!case["source"].as_str().unwrap().is_empty(), "{case}");
        for outcome in case["outcomes"].as_array().unwrap() {
            if !reference(outcome["core"].as_str().unwrap()) {
                assert_eq!(outcome["passed"], true, "{}: {outcome}", case["name"]);
            }
        }
    }
    // The printed matrix names every case and ends with the tally.
    for case in pb_conform::CASES {
        assert!(stdout.contains(case.name), "missing {}", case.name);
    }
    let ours = cores
        .iter()
        .filter(|c| !reference(c.as_str().unwrap()))
        .count();
    let passed: usize = stdout
        .lines()
        .find_map(|l| {
            l.strip_suffix(" failed")?
                .split_once(" passed, ")?
                .0
                .parse()
                .ok()
        })
        .expect(&stdout);
    assert!(passed >= pb_conform::CASES.len() * ours, "{stdout}");
}

#[test]
fn a_case_filter_and_an_unknown_core_are_handled() {
    let out = Command::new(EXE)
        .args([
            "conform",
            "--cores",
            "tokio-tower",
            "--case",
            "duplicate Content-Length",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    let out = Command::new(EXE)
        .args(["conform", "--cores", "envoy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown core \"envoy\""));
}
