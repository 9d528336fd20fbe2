//! `proxybench differential` with hand-written cases through two cores
//! and the reference proxies: where the cores now read a request as one
//! of nginx and HAProxy does (the findings of the differential run, fixed:
//! an HTTP/1.0 client's Expect ignored, a raw UTF-8 target refused as
//! HAProxy does, another major version answered 505 as nginx does) the
//! run agrees; where the cores are stricter than both (a control byte in
//! a field value) it lists the disagreement and fails until it is
//! triaged. Skipped, saying so, where the references are not installed
//! (scripts/install-references.sh).

use std::path::Path;

mod common;

use common::{proxybench, text};

fn references_here() -> bool {
    let probe = pb_core::probe::SystemProbe;
    ["nginx", "haproxy"]
        .iter()
        .all(|name| pb_cores::find(name).is_some_and(|c| c.info().availability(&probe).is_ok()))
}

fn differential(dir: &Path, raw: &[&str]) -> (bool, serde_json::Value) {
    let mut args = vec![
        "differential",
        "--cores",
        "tokio-tower,monoio",
        "--references",
        "nginx,haproxy",
        // Generous: the test suite keeps the machine busy.
        "--silence-ms",
        "1000",
        "--json",
        "report.json",
    ];
    for case in raw {
        args.extend(["--raw", case]);
    }
    let out = proxybench(&args, dir);
    let report = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|_| panic!("no report: {}", text(&out.stderr)));
    (out.status.success(), serde_json::from_str(&report).unwrap())
}

#[test]
fn fixed_findings_agree_and_a_stricter_reading_is_listed() {
    if !references_here() {
        eprintln!("nginx or HAProxy is not installed here: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (passed, report) = differential(
        dir.path(),
        &[
            r"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: h\r\n\r\n",
            r"PUT /a HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
            r"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
            r"GET /a HTTP/2.0\r\nHost: h\r\n\r\n",
        ],
    );
    assert!(passed, "{report:#}");
    assert_eq!(report["cases"], 4);
    assert_eq!(
        report["disagreements"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );

    let (passed, report) = differential(
        dir.path(),
        &[r"POST /a HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\nContent-Length: 5\r\n\r\nhello"],
    );
    assert!(!passed, "an untriaged disagreement must fail the run");
    let found = report["disagreements"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(
        found[0]["cores"],
        serde_json::json!(["tokio-tower", "monoio"])
    );
    assert_eq!(found[0]["seen"]["client"], serde_json::json!(["4xx"]));
    assert!(found[0]["triage"].is_null());
}
