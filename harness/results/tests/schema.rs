//! The committed schema accepts what the model writes and rejects what it
//! must not: a schema that accepted anything would make the CLI's
//! validation of real output meaningless.

use std::collections::BTreeMap;

use pb_results::*;

fn sample() -> Results {
    let mut h = pb_results::hist::new_histogram();
    h.record(12_345).unwrap();
    let trial = Trial {
        index: 0,
        sequence: 0,
        window_s: 1.0,
        requests: 1,
        qps: 1.0,
        errors: 0,
        errors_by_kind: BTreeMap::new(),
        latency_us: hist::percentiles(&h),
        histogram: hist::encode(&h),
        core_cpu_us: 10.0,
        cpu_us_per_req: Some(10.0),
        driver_cpu_us: 5.0,
        driver_cpu_us_per_req: Some(5.0),
        driver_util: 0.1,
        rss_max_bytes: 4096,
        driver_bound: false,
        driver_bound_reason: None,
        latency_uncorrected_us: Some(hist::percentiles(&h)),
        histogram_uncorrected: Some(hist::encode(&h)),
        late_driver: 0,
        late_blocked: 3,
        max_lag_us: 1500.0,
        intervals: vec![IntervalPoint {
            start_s: 0.0,
            length_s: 1.0,
            requests: 1,
            qps: 1.0,
            latency_us: hist::percentiles(&h),
            histogram: hist::encode(&h),
        }],
    };
    let summary = Summary::from_trials(std::slice::from_ref(&trial)).unwrap();
    Results {
        schema_version: SCHEMA_VERSION,
        run_id: "20261126T221530Z".into(),
        started_at: "2026-11-26T22:15:30Z".into(),
        finished_at: "2026-11-26T22:16:30Z".into(),
        tool_version: "0.1.0".into(),
        scenario: ScenarioRef {
            source: "scenarios/default.toml".into(),
            name: "default".into(),
        },
        environment: Environment {
            kernel: "Linux 6.1".into(),
            cpu_model: "x".into(),
            cpu_count: 2,
            rustc: "rustc 1.95.0".into(),
            git_revision: "abc".into(),
            build_profile: "release".into(),
            io_uring: IoUringStatus {
                available: true,
                detail: "ok".into(),
            },
            memlock_limit_bytes: Some(8 << 20),
            cpu_plan: CpuPlan {
                allowed: vec![0, 1],
                core: vec![0],
                driver: vec![1],
                origin: vec![],
                shared: false,
                note: "disjoint".into(),
            },
        },
        cores: vec![CoreStatus {
            name: "monoio".into(),
            runtime: "r".into(),
            service: "s".into(),
            available: true,
            reason: None,
        }],
        cells: vec![Cell {
            id: "echo/100B/c1x1/monoio".into(),
            scenario: "echo".into(),
            core: "monoio".into(),
            status: CellStatus::Ok,
            reason: None,
            params: CellParams {
                mode: "open".into(),
                rate: Some(1.0),
                message_bytes: 100,
                connections: 1,
                in_flight: 1,
                warmup_s: 0.0,
                duration_s: 1.0,
                trials: 1,
                core_threads: 1,
                driver_threads: 1,
                core_spin_iters: 0,
                http: None,
            },
            trials: vec![trial],
            rate_search: Some(RateSearch {
                percentile: 99.0,
                bound_us: 1000.0,
                found_rate: Some(1.0),
                points: vec![RatePoint {
                    offered: 1.0,
                    achieved: 1.0,
                    latency_us: hist::percentiles(&h),
                    errors: 0,
                    ok: true,
                    driver_bound: false,
                }],
            }),
            core_exit: Some("exit 0 after SIGTERM".into()),
            conformance_failures: Vec::new(),
            summary,
        }],
        merged_from: vec![],
        conformance: None,
    }
}

fn is_valid(value: &serde_json::Value) -> bool {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA_JSON).unwrap();
    jsonschema::validator_for(&schema).unwrap().is_valid(value)
}

#[test]
fn the_model_validates_and_round_trips() {
    let results = sample();
    let json = serde_json::to_value(&results).unwrap();
    assert!(is_valid(&json));
    let back: Results = serde_json::from_value(json).unwrap();
    assert_eq!(back, results);
}

/// A change that must make a valid results file invalid.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn the_schema_rejects_what_it_must() {
    let good = serde_json::to_value(sample()).unwrap();
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "other schema version",
            Box::new(|v| v["schema_version"] = 2.into()),
        ),
        (
            "summary without qps",
            Box::new(|v| {
                v["cells"][0]["summary"]
                    .as_object_mut()
                    .unwrap()
                    .remove("qps");
            }),
        ),
        (
            "unknown top-level field",
            Box::new(|v| v["extra"] = true.into()),
        ),
        (
            "ok cell without summary or rate search",
            Box::new(|v| {
                v["cells"][0]["summary"] = serde_json::Value::Null;
                v["cells"][0]["rate_search"] = serde_json::Value::Null;
            }),
        ),
        (
            "unavailable cell without reason",
            Box::new(|v| v["cells"][0]["status"] = "unavailable".into()),
        ),
        (
            "histogram not in HdrHistogram form",
            Box::new(|v| v["cells"][0]["trials"][0]["histogram"] = "xyz".into()),
        ),
        (
            "negative latency",
            Box::new(|v| v["cells"][0]["summary"]["latency_us"]["p99"] = (-1.0).into()),
        ),
        (
            "no CPU plan",
            Box::new(|v| {
                v["environment"].as_object_mut().unwrap().remove("cpu_plan");
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(!is_valid(&bad), "schema accepted: {what}");
    }
}

#[test]
fn read_refuses_another_version_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut json = serde_json::to_value(sample()).unwrap();
    json["schema_version"] = 99.into();
    let path = dir.path().join("r.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let err = io::read_results(&path).unwrap_err().to_string();
    assert!(
        err.contains("r.json") && err.contains("schema_version 99"),
        "{err}"
    );

    let (latest, _) = io::write_results(&sample(), dir.path()).unwrap();
    assert_eq!(io::read_results(&latest).unwrap(), sample());
}
