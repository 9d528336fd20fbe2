//! The driver's HTTP mode against a real origin: every size and mode is
//! verified clean under each driver backend, and wrong answers are
//! counted by kind, never as successes.

use std::path::Path;
use std::time::Duration;

use pb_driver::http::{HttpWorkload, Method};
use pb_driver::{Backend, LoadSpec, Workload};
use pb_process::CoreProcess;

mod common;

use common::EXE;

fn origin() -> CoreProcess {
    let args: Vec<String> = vec!["origin".into(), "--id".into(), "o".into()];
    CoreProcess::spawn(Path::new(EXE), "o", &args).unwrap()
}

fn load(target: std::net::SocketAddr, workload: HttpWorkload) -> pb_driver::LoadReport {
    load_on(Backend::Epoll, target, workload)
}

fn load_on(
    backend: Backend,
    target: std::net::SocketAddr,
    workload: HttpWorkload,
) -> pb_driver::LoadReport {
    let spec = LoadSpec {
        backend,
        workload: Workload::Http(workload),
        ..LoadSpec::closed_echo(
            target,
            1,
            4,
            1,
            Duration::from_millis(50),
            Duration::from_millis(300),
        )
    };
    pb_driver::run(&spec, &mut |_| {}).unwrap()
}

#[test]
fn get_and_post_at_every_size_keep_alive_and_per_request_are_clean() {
    let o = origin();
    for backend in Backend::ALL {
        for method in [Method::Get, Method::Post] {
            for size in [0, 1024, 64 * 1024, 1 << 20] {
                for keep_alive in [true, false] {
                    let w = HttpWorkload {
                        method,
                        keep_alive,
                        ..HttpWorkload::get(size)
                    };
                    let report = load_on(backend, o.addr(), w);
                    let what = format!("{backend} {method:?} {size} keep_alive={keep_alive}");
                    assert!(report.requests > 0, "{what}: no requests");
                    assert_eq!(report.error_count(), 0, "{what}: {:?}", report.errors);
                    assert_eq!(report.unaccounted(), 0, "{what}");
                }
            }
        }
    }
}

#[test]
fn wrong_status_and_wrong_length_are_errors() {
    let o = origin();
    let failing = HttpWorkload {
        path: "/x?status=503".into(),
        ..HttpWorkload::get(10)
    };
    let report = load(o.addr(), failing);
    assert_eq!(report.requests, 0, "a 503 counted as a success");
    assert!(
        report.errors.get("status 5xx").copied().unwrap_or(0) > 0,
        "{:?}",
        report.errors
    );

    // The origin answers `size=10` but the driver was told to expect 0.
    let short = HttpWorkload {
        path: "/x?size=10".into(),
        ..HttpWorkload::get(0)
    };
    let report = load(o.addr(), short);
    assert_eq!(report.requests, 0);
    assert!(
        report.errors.contains_key("wrong body length")
            || report.errors.contains_key("unexpected bytes"),
        "{:?}",
        report.errors
    );
}

/// `proxybench load` names its cell as `proxybench run` names a cell with
/// the same parameters: merge, gate and report match cells by id.
#[test]
fn load_names_its_cell_as_a_run_would() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("load.json");
    let status = std::process::Command::new(EXE)
        .args(["load", "--target", &origin.addr().to_string()])
        .args(["--http", "get", "--connection-per-request", "--rate", "200"])
        .args(["--connections", "2", "--duration", "0.3", "--warmup", "0"])
        .args(["--core-name", "direct", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let scenario = pb_scenario::ScenarioFile::parse(
        "name = \"x\"\n[[cell]]\nscenario = \"http-forward\"\nbody_bytes = 100\n\
         connections = 2\nkeep_alive = false\nrate = 200.0\n",
        Path::new("x.toml"),
    )
    .unwrap();
    let label = scenario.cells[0].label();
    assert_eq!(json["cells"][0]["id"], format!("{label}/direct"));
    assert!(label.contains("/close"), "{label}");
}
