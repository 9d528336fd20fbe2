//! The driver's HTTP mode against a real origin: every size and mode is
//! verified clean, and wrong answers are counted by kind, never as
//! successes.

use std::path::Path;
use std::time::Duration;

use pb_driver::http::{HttpWorkload, Method};
use pb_driver::{LoadSpec, Workload};
use pb_runner::process::CoreProcess;

const EXE: &str = env!("CARGO_BIN_EXE_proxybench");

fn origin() -> CoreProcess {
    let args: Vec<String> = vec!["origin".into(), "--id".into(), "o".into()];
    CoreProcess::spawn(Path::new(EXE), "o", &args).unwrap()
}

fn load(target: std::net::SocketAddr, workload: HttpWorkload) -> pb_driver::LoadReport {
    let spec = LoadSpec {
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
    for method in [Method::Get, Method::Post] {
        for size in [0, 1024, 64 * 1024, 1 << 20] {
            for keep_alive in [true, false] {
                let w = HttpWorkload {
                    method,
                    keep_alive,
                    ..HttpWorkload::get(size)
                };
                let report = load(o.addr(), w);
                assert!(
                    report.requests > 0,
                    "{method:?} {size} keep_alive={keep_alive}: no requests"
                );
                assert_eq!(
                    report.error_count(),
                    0,
                    "{method:?} {size} keep_alive={keep_alive}: {:?}",
                    report.errors
                );
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
