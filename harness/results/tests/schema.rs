//! The committed schema accepts what the model writes and rejects what it
//! must not: a schema that accepted anything would make the CLI's
//! validation of real output meaningless.

use pb_results::*;

mod common;

/// A results file that uses every optional part of the model: a rate
/// search, a core exit, a memlock limit, a network path, a driver fleet.
fn sample() -> Results {
    let h = common::histogram([12_345]);
    let trial = Trial {
        late_blocked: 3,
        max_lag_us: 1500.0,
        classes: ["light", "heavy"]
            .iter()
            .map(|name| ClassLatency {
                name: (*name).to_owned(),
                requests: 1,
                latency_us: hist::percentiles(&h),
                histogram: hist::encode(&h),
            })
            .collect(),
        start_late_ms: Some(0.4),
        fleet: Some(fleet::FleetTrial {
            start_at_unix_ms: 1.8e12,
            hosts: vec![fleet::FleetHost {
                host: "root@load1".into(),
                connections: 2,
                rate: Some(200.0),
                clock_offset_ms: -0.8,
                clock_error_ms: 0.05,
                start_late_ms: 0.4,
                requests: 1,
                errors: 0,
                qps: 1.0,
                behind: None,
                file: Some("fleet/20261126T221530Z/echo-monoio-t0-load1.json".into()),
            }],
        }),
        ..common::trial(&h)
    };
    let mut results = common::results("20261126T221530Z", "monoio", trial);
    results.environment.memlock_limit_bytes = Some(8 << 20);
    let cell = &mut results.cells[0];
    cell.rate_search = Some(RateSearch {
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
    });
    cell.core_exit = Some("exit 0 after SIGTERM".into());
    cell.params.http = Some(HttpCellParams {
        method: "GET".into(),
        keep_alive: true,
        origins: 1,
        policy: "round-robin".into(),
        work: Some(WorkParams {
            call_iters: 1000,
            heavy_every: 10,
            heavy_iters: 200_000,
        }),
        filter: Some(FilterParams {
            engine: "wasmtime".into(),
            module: Some("mine.wat".into()),
        }),
    });
    let lan = network::LinkSpec {
        delay_ms: 0.1,
        ..Default::default()
    };
    let wan = network::LinkSpec {
        delay_ms: 10.0,
        jitter_ms: 1.0,
        loss_pct: 0.1,
        rate_mbit: Some(100.0),
    };
    cell.params.network = Some(network::NetworkParams {
        name: "wan-origin".into(),
        links: network::NetworkSpec {
            client: lan,
            origin: wan,
        },
    });
    cell.network = Some(network::NetworkRun {
        namespaces: true,
        note: Some("the kernel has no netem: links emulated in user space".into()),
        links: [("client", lan), ("origin", wan)]
            .map(|(link, spec)| network::LinkReport {
                link: link.into(),
                spec,
                emulation: network::Emulation::Userspace,
                delivered: 1000,
                lost: 1,
                overflowed: 0,
                cpu_s: 0.25,
            })
            .to_vec(),
    });
    results
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
            "a latency class the driver does not keep",
            Box::new(|v| v["cells"][0]["trials"][0]["classes"][0]["name"] = "medium".into()),
        ),
        (
            "a filter engine proxybench does not have",
            Box::new(|v| v["cells"][0]["params"]["http"]["filter"]["engine"] = "lua".into()),
        ),
        (
            "a link that loses every packet",
            Box::new(|v| {
                v["cells"][0]["params"]["network"]["links"]["origin"]["loss_pct"] = 100.0.into()
            }),
        ),
        (
            "a link carried by something proxybench does not use",
            Box::new(|v| v["cells"][0]["network"]["links"][0]["emulation"] = "dummynet".into()),
        ),
        (
            "a network run that does not say whether it used namespaces",
            Box::new(|v| {
                v["cells"][0]["network"]
                    .as_object_mut()
                    .unwrap()
                    .remove("namespaces");
            }),
        ),
        (
            "a fleet host that does not say whether it fell behind",
            Box::new(|v| {
                v["cells"][0]["trials"][0]["fleet"]["hosts"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("behind");
            }),
        ),
        (
            "a fleet with no hosts",
            Box::new(|v| v["cells"][0]["trials"][0]["fleet"]["hosts"] = serde_json::json!([])),
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
