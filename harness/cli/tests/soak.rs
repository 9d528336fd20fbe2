//! The soak's verdict catches what it is for: a core that leaks a
//! descriptor every 10 requests, or 4 KiB per request, fails its rules
//! over a few seconds of load, and the same core without the leak holds.
//! The resource timeline behind it is the one `proxybench run` records:
//! the core's process sampled in the middle of every interval.

use std::time::Duration;

use pb_process::CoreProcess;
use pb_results::soak::{self, SoakVerdict};

/// One closed-loop echo trial (one connection, ping-pong) with quarter-
/// second intervals against a fresh tokio-tower started with `leak`
/// (extra `proxy` flags), judged as a soak.
fn soak(leak: &[&str]) -> SoakVerdict {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_proxybench"));
    let args: Vec<String> = ["proxy", "--core", "tokio-tower", "--listen", "127.0.0.1:0"]
        .iter()
        .chain(leak)
        .map(|s| s.to_string())
        .collect();
    let core = CoreProcess::spawn(exe, "tokio-tower", &args).unwrap();
    let spec = pb_driver::LoadSpec {
        interval: Duration::from_millis(250),
        ..pb_driver::LoadSpec::closed_echo(
            core.addr(),
            100,
            1,
            1,
            Duration::from_millis(500),
            Duration::from_secs(3),
        )
    };
    let trial = pb_runner::measure::measure(&spec, Some(core.sampler()), 0, 0).unwrap();
    assert!(trial.requests > 1000, "{} requests", trial.requests);
    // Every interval (3 s in quarters: 12) was sampled in its middle.
    assert_eq!(trial.intervals.len(), 12);
    let sampled: Vec<_> = trial.intervals.iter().map(|p| p.resources).collect();
    assert!(sampled.iter().all(Option::is_some), "{sampled:?}");
    // The listener and the driver's connection, at least.
    assert!(
        sampled
            .iter()
            .flatten()
            .all(|r| r.sockets >= 2 && r.fds > r.sockets)
    );
    core.stop(Duration::from_secs(2));
    soak::judge(&trial).unwrap()
}

#[test]
fn a_core_without_leaks_holds() {
    let verdict = soak(&[]);
    assert!(verdict.passed, "{verdict:?}");
    assert_eq!(verdict.samples, 12);
}

#[test]
fn a_descriptor_leak_fails_the_descriptor_rule_only() {
    // Over 1000 requests in 3 s, so well over 10 descriptors between the
    // first quarter's peak and the last quarter's floor.
    let verdict = soak(&["--leak-fd-every", "10"]);
    assert!(!verdict.passed, "{verdict:?}");
    assert!(
        verdict.fds_last_quarter > verdict.fds_first_quarter + 10,
        "{verdict:?}"
    );
    assert_eq!(verdict.reasons.len(), 1, "{verdict:?}");
    assert!(verdict.reasons[0].contains("descriptors"), "{verdict:?}");
}

#[test]
fn a_memory_leak_fails_the_memory_rule() {
    let verdict = soak(&["--leak-bytes", "4096"]);
    assert!(!verdict.passed, "{verdict:?}");
    assert!(verdict.rss_growth > soak::RSS_GROWTH_LIMIT, "{verdict:?}");
    assert!(
        verdict.reasons.iter().any(|r| r.starts_with("RSS grew")),
        "{verdict:?}"
    );
}
