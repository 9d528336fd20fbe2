//! What the binary's integration tests share: running `proxybench` as a
//! user would, and checking results files against the committed schema.
//! Each test file uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test.
pub(crate) const EXE: &str = env!("CARGO_BIN_EXE_proxybench");

/// Every core of ours (not a reference proxy) that serves `scenario` and
/// can run here: what the contract's tests walk.
pub(crate) fn our_cores(scenario: pb_core::Scenario) -> Vec<&'static str> {
    pb_cores::CORES
        .iter()
        .map(|c| c.info())
        .filter(|i| !i.is_reference())
        .filter(|i| i.scenarios.contains(&scenario))
        .filter(|i| i.availability(&pb_core::probe::SystemProbe).is_ok())
        .map(|i| i.name)
        .collect()
}

/// `proxybench proxy --core CORE --scenario http-forward --config FILE`
/// with `config` (TOML) written to a file in `dir`, started and ready.
pub(crate) fn start_http_proxy(core: &str, dir: &Path, config: &str) -> pb_process::CoreProcess {
    let path = dir.join(format!("{}.toml", core.replace('/', "_")));
    std::fs::write(&path, config).unwrap();
    let args: Vec<String> = [
        "proxy",
        "--core",
        core,
        "--scenario",
        "http-forward",
        "--config",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.display().to_string()])
    .collect();
    pb_process::CoreProcess::spawn(Path::new(EXE), core, &args)
        .unwrap_or_else(|e| panic!("{core}: {e}"))
}

/// Runs `proxybench args` in `dir`.
pub(crate) fn proxybench(args: &[&str], dir: &Path) -> Output {
    proxybench_env(args, dir, &[])
}

/// Runs `proxybench args` in `dir` with extra environment variables.
pub(crate) fn proxybench_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("proxybench runs")
}

/// Output bytes as text, for assertions and their messages.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where `json` departs from the committed results schema (empty when it
/// matches).
pub(crate) fn schema_errors(json: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(pb_results::SCHEMA_JSON).unwrap();
    let validator =
        jsonschema::validator_for(&schema).expect("the committed schema is valid JSON Schema");
    validator
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// A results file, read and checked against the committed schema.
pub(crate) fn checked_results(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors = schema_errors(&json);
    assert!(
        errors.is_empty(),
        "{} does not match the schema: {errors:?}",
        path.display()
    );
    json
}

/// `proxybench run SCENARIO --skip-conform --out results --reports
/// reports EXTRA...` in `dir`: a measured run without the conformance
/// suite, its files under `dir/results` and `dir/reports`.
pub(crate) fn run_scenario(dir: &Path, scenario: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        scenario.to_str().expect("a UTF-8 path"),
        "--skip-conform",
        "--out",
        "results",
        "--reports",
        "reports",
    ];
    args.extend_from_slice(extra);
    proxybench(&args, dir)
}
