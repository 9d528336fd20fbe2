//! Chaos under load: every core serves well-behaved clients at a
//! fixed rate while saboteur connections give up mid-head, mid-body and
//! mid-response (FIN or reset), and its origins reset mid-body, stall and
//! close reused connections at random. The core must not send a
//! well-behaved client a wrong byte, must account for every request (each
//! one answered, or failed with a kind that says the origin broke it),
//! and must still be serving at the end.

use std::path::Path;
use std::time::Duration;

use pb_driver::chaos::{Act, Saboteurs};
use pb_driver::http::HttpWorkload;
use pb_driver::{LoadSpec, Workload};
use pb_process::CoreProcess;

mod common;

use common::EXE;

/// The failures a faulty origin can cause a well-behaved client, and
/// nothing else: a 502 for a reply that broke before it started, the
/// connection cut (FIN or reset) when it broke after the head was passed
/// on (seen as a close or a reset, or as a failed write when the cut
/// meets a request on its way). Everything else (a wrong status, a short
/// or wrong body, a timeout) is the core's fault.
const ORIGIN_CAUSED: [&str; 5] = [
    "status 502",
    "eof before reply",
    "reset",
    // The cut racing a request still being written.
    "broken pipe",
    "aborted",
];

fn origin(id: &str, seed: u64) -> CoreProcess {
    let args: Vec<String> = ["origin", "--id", id, "--chaos", "0.05", "--chaos-seed"]
        .iter()
        .map(|s| s.to_string())
        .chain([seed.to_string()])
        .collect();
    CoreProcess::spawn(Path::new(EXE), id, &args).unwrap()
}

fn core(name: &str, dir: &Path, origins: &[&CoreProcess]) -> CoreProcess {
    let ups: Vec<String> = origins
        .iter()
        .map(|o| format!("\"{}\"", o.addr()))
        .collect();
    let config = format!(
        "[[pool]]\nname = \"p\"\nupstreams = [{}]\n[[route]]\npool = \"p\"\n",
        ups.join(", ")
    );
    common::start_http_proxy(name, dir, &config)
}

#[test]
fn every_core_keeps_serving_through_client_aborts_and_origin_faults() {
    let dir = tempfile::tempdir().unwrap();
    let mut figures = Vec::new();
    for name in common::our_cores(pb_core::Scenario::HttpForward) {
        let (a, b) = (origin("a", 11), origin("b", 12));
        let mut proxy = core(name, dir.path(), &[&a, &b]);
        let saboteurs = Saboteurs::start(proxy.addr(), 4, 7);
        let spec = LoadSpec {
            workload: Workload::Http(HttpWorkload::get(1024)),
            ..LoadSpec::open_echo(
                proxy.addr(),
                1,
                1000.0,
                20,
                // Two in flight: a connection that breaks takes both with
                // it, and both must be on the books.
                2,
                Duration::from_millis(300),
                Duration::from_secs(2),
            )
        };
        let report = pb_driver::run(&spec, &mut |_| {}).unwrap();
        let sabotage = saboteurs.stop();
        let context = format!("{name}: {:?} / {sabotage:?}", report.errors);

        // Every request on the books: answered, or failed by a kind.
        assert_eq!(report.unaccounted(), 0, "{context}");
        assert_eq!(report.sent, report.answered + report.failed, "{context}");
        // No wrong byte, and only what the origin's faults explain.
        for kind in report.errors.keys() {
            assert!(ORIGIN_CAUSED.contains(&kind.as_str()), "{kind}: {context}");
        }
        assert!(sabotage.wrong.is_empty(), "{context}");
        // The saboteurs did every act, and the well-behaved kept being
        // served (5 % of requests meet a fault, a third of those break).
        for act in Act::ALL {
            assert!(
                sabotage.acts.get(act.name()).is_some_and(|&n| n > 0),
                "{act:?}: {context}"
            );
        }
        assert!(report.answered * 10 >= report.sent * 9, "{context}");
        // And the origins' faults did reach some (a third of them reset
        // mid-body, which no proxy can repair once the head is passed on).
        assert!(report.failed > 0, "no fault reached a client: {context}");
        assert_eq!(proxy.exited(), None, "{context}");
        figures.push(format!(
            "{name}: sent {} answered {} failed {} {:?}; saboteur acts {:?} ({} resets, cut short {:?})",
            report.sent,
            report.answered,
            report.failed,
            report.errors,
            sabotage.acts,
            sabotage.resets,
            sabotage.cut_short
        ));
        proxy.stop(Duration::from_secs(2));
        for o in [a, b] {
            o.stop(Duration::from_secs(2));
        }
    }
    // Shown with --nocapture: the figures per core.
    for line in figures {
        println!("{line}");
    }
}
