//! Allocations per forwarded request, counted by the core's own counting
//! allocator over a measured window (`proxy --count-allocations`, read by
//! the runner from outside): in steady state the borrowing and raw
//! compositions forward an HTTP request without touching the heap — the
//! head is parsed into storage the connection reuses, header edits are
//! shared references, the response head reuses its storage too. tower's
//! compositions pay what tower asks (a boxed future, Buffer's channel
//! message and its oneshot); glommio pays its runtime's per-operation
//! allocations. Both are reported, not asserted to be zero.

use pb_core::Scenario;
use pb_core::probe::SystemProbe;

mod common;

/// Our cores that serve HTTP forwarding here, by runtime and composition.
fn cores(pick: impl Fn(&str, &str) -> bool) -> Vec<&'static str> {
    pb_cores::CORES
        .iter()
        .map(|c| c.info())
        .filter(|info| {
            info.grid
                .is_some_and(|(runtime, composition)| pick(runtime, composition))
                && info.scenarios.contains(&Scenario::HttpForward)
                && info.availability(&SystemProbe).is_ok()
        })
        .map(|info| info.name)
        .collect()
}

#[test]
fn borrowing_and_raw_compositions_forward_without_allocating() {
    let ours = |composition: &str| ["borrowing", "raw"].contains(&composition);
    // glommio's rows (glommio, glommio-spin) allocate inside the runtime:
    // per I/O operation, and while spinning, per poll of its rings.
    let zero = cores(|runtime, composition| !runtime.starts_with("glommio") && ours(composition));
    let reported = cores(|runtime, composition| {
        (runtime == "glommio" && composition == "borrowing") || composition == "tower-buffer"
    });
    assert!(!zero.is_empty());
    let quoted = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("allocations.toml");
    // Two connections at a fixed rate, each request an exchange of its
    // own: what a kept-alive connection costs once its buffers are sized
    // (the warm-up takes the first requests' growth).
    std::fs::write(
        &scenario,
        format!(
            r#"name = "allocations"
description = "allocations per forwarded request"
[run]
trials = 1
warmup_s = 0.3
duration_s = 0.6
core_threads = 1
driver_threads = 1
[[cell]]
scenario = "http-forward"
cores = [{}, {}]
method = "GET"
body_bytes = 100
keep_alive = true
origins = 1
policy = "round-robin"
connections = 2
in_flight = 1
rate = 1000.0
"#,
            quoted(&zero),
            quoted(&reported)
        ),
    )
    .unwrap();
    let out = common::run_scenario(dir.path(), &scenario, &[]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results/latest.json")).unwrap())
            .unwrap();
    let mut seen = Vec::new();
    for cell in results["cells"].as_array().unwrap() {
        let core = cell["core"].as_str().unwrap();
        let trial = &cell["trials"][0];
        assert_eq!(trial["errors"], 0, "{core}: {trial}");
        assert!(trial["requests"].as_u64().unwrap() > 300, "{core}: {trial}");
        let per_req = trial["kernel"]["allocations_per_req"]
            .as_f64()
            .unwrap_or_else(|| panic!("{core} counted no allocations: {trial}"));
        eprintln!("{core}: {per_req:.3} allocations per request");
        if zero.contains(&core) {
            // A buffer that grows now and then stays well under one
            // allocation per 20 requests.
            assert!(per_req < 0.05, "{core}: {per_req} allocations per request");
        }
        seen.push(core.to_owned());
    }
    assert_eq!(seen.len(), zero.len() + reported.len(), "{seen:?}");
}
