//! Injected work per request (`[work]`, the claims' experiments) through
//! every service composition, as real processes: the cores spend what the
//! cell asks for, in `call` and in heavy requests, and the driver keeps
//! the light and heavy connections' latency apart.

use std::path::Path;

mod common;

use common::{run_scenario, schema_errors, text};

/// One core of every composition (on the runtime that has it) and both
/// shapes of runtime: tower behind `Buffer` and cloned, service-async,
/// both filter chains, raw; work stealing and thread-per-core.
const CORES: [&str; 7] = [
    "tokio-tower",
    "tokio-mt/tower-clone",
    "tokio-tpc/borrowing",
    "tokio-mt/filter-chain",
    "tokio-tpc/filter-chain-ctx",
    "tokio-mt/raw",
    "monoio/raw",
];

/// Spin iterations in every request's `call`, and in each heavy request:
/// far more than a request costs otherwise, even in a debug build.
const CALL_ITERS: u64 = 2_000_000;
const HEAVY_ITERS: u64 = 4_000_000;

/// The fewest nanoseconds one spin iteration can take: each is a
/// dependent multiply-add (several cycles), so even a 5 GHz core needs
/// more than 0.6 ns. A lower bound for "the work was done", not a speed.
const MIN_NS_PER_ITER: f64 = 0.3;

#[test]
fn every_composition_spends_the_work_and_the_driver_splits_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let cores: Vec<String> = CORES.iter().map(|c| format!("{c:?}")).collect();
    // The same cell without and with work: what the work adds to each
    // core's CPU per request is what it spent.
    let cell = format!(
        "[[cell]]\nscenario = \"http-forward\"\ncores = [{}]\nbody_bytes = 100\norigins = 1\n\
         connections = 4\nrate = 20.0\n",
        cores.join(", ")
    );
    let scenario = format!(
        "name = \"work\"\n[run]\ntrials = 1\nwarmup_s = 0.2\nduration_s = 1.0\n\
         {cell}{cell}work_call_iters = {CALL_ITERS}\nheavy_every = 2\nheavy_iters = {HEAVY_ITERS}\n"
    );
    let path = dir.path().join("work.toml");
    std::fs::write(&path, scenario).unwrap();
    let out = run_scenario(dir.path(), &path, &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results/latest.json")).unwrap())
            .unwrap();
    assert_eq!(schema_errors(&json), Vec::<String>::new());
    let results: pb_results::Results = serde_json::from_value(json).unwrap();
    assert_eq!(results.cells.len(), 2 * CORES.len());
    let (plain, worked) = results.cells.split_at(CORES.len());
    for (cell, base) in worked.iter().zip(plain) {
        assert_eq!(cell.core, base.core);
        assert!(base.params.http.as_ref().unwrap().work.is_none());
        assert!(base.trials[0].classes.is_empty(), "{}", base.core);
        let work = cell.params.http.as_ref().unwrap().work.as_ref().unwrap();
        assert_eq!(
            (work.call_iters, work.heavy_iters),
            (CALL_ITERS, HEAVY_ITERS)
        );
        let trial = &cell.trials[0];
        assert_eq!(trial.errors, 0, "{}: {:?}", cell.core, trial.errors_by_kind);
        let names: Vec<&str> = trial.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["light", "heavy"], "{}", cell.core);
        let (light, heavy) = (&trial.classes[0], &trial.classes[1]);
        assert_eq!(
            light.requests + heavy.requests,
            trial.requests,
            "{}",
            cell.core
        );
        // Two of the four connections are heavy, at one shared rate.
        assert!(
            heavy.requests > trial.requests / 4 && light.requests > trial.requests / 4,
            "{}: {} light, {} heavy",
            cell.core,
            light.requests,
            heavy.requests
        );
        let asked_ns = (trial.requests as f64 * CALL_ITERS as f64
            + heavy.requests as f64 * HEAVY_ITERS as f64)
            * MIN_NS_PER_ITER
            / trial.requests as f64;
        // The core's threads account for its CPU (same window, per thread).
        let threads: f64 = trial.threads.iter().map(|t| t.cpu_us).sum();
        assert!(
            (threads - trial.core_cpu_us).abs() <= 0.2 * trial.core_cpu_us,
            "{}: threads {threads:.0} µs vs process {:.0} µs ({:?})",
            cell.core,
            trial.core_cpu_us,
            trial.threads
        );
        let per_req = |c: &pb_results::Cell| c.trials[0].cpu_us_per_req.unwrap() * 1e3;
        let added_ns = per_req(cell) - per_req(base);
        assert!(
            added_ns >= asked_ns,
            "{}: the work added {:.0} µs of CPU per request, less than the {:.0} µs asked for",
            cell.core,
            added_ns / 1e3,
            asked_ns / 1e3
        );
    }
    assert!(Path::new(&dir.path().join("reports/latest/index.html")).exists());
}
