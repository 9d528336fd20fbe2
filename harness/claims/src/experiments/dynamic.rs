//! Claim 7: dynamic logic. The gate filter (a header rule and a token
//! check, `proxies/dynamic`) run five ways — native Rust, WebAssembly
//! under wasmtime's JIT and wasmi's interpreter, a Rhai script, a filter
//! process over a Unix socket — measured twice:
//!
//! - **per decision, in this process** (deciding): the same request head
//!   decided by each engine's gate, in interleaved samples of many
//!   decisions, wall-clock nanoseconds per decision (for `ipc` the round
//!   trip to the filter process, both processes' work included);
//! - **as a core** (beside it): monoio forwarding HTTP with each engine
//!   in its middleware and with no filter, closed loop (the scenario file
//!   says why), round by round; core CPU per request (the filter
//!   process's CPU counted as the core's: it is its child) and p99 added
//!   over no filter. Every request carries the token, so every engine
//!   forwards everything and the driver verifies every response; that
//!   the engines decide alike is the integration tests' part
//!   (harness/cli/tests/dynamic.rs).
//!
//! Deciding: out of process costs more than the JIT per decision beyond
//! the 5 % threshold (the rule's test on the samples), and the JIT is
//! "not too bad": what it adds over native Rust per decision is under
//! 5 % of a whole request's CPU as the no-filter core spends it. That
//! second figure is the rule's Hodges-Lehmann shift of the samples with
//! its interval, over the request's median CPU: holds when the whole
//! interval is under 5 %, does not hold when it is all above, within
//! noise otherwise.

use pb_core::config::{DynamicConfig, DynamicEngine};
use pb_dynamic::Gate;
use pb_http::{Limits, RequestHead};
use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_stats::Metric;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::judge::{Expect, all_of, compare};
use crate::lab::{Lab, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "dynamic",
    about: "the same filter as native Rust, WASM (JIT, interpreter), a script and an out-of-process call: per decision in process, and in a core",
    scenarios: &[(
        "dynamic",
        include_str!("../../../../scenarios/claims/dynamic.toml"),
    )],
    run: Some(run),
};

/// The core every variant runs on.
const CORE: &str = "monoio";

/// Samples per engine (interleaved), and decisions per sample.
const SAMPLES: usize = 9;
const DECISIONS: u32 = 20_000;
const QUICK_DECISIONS: u32 = 500;

/// The share of a request's CPU the JIT may add and still be "not too
/// bad": the rule's CPU threshold.
const NOT_TOO_BAD: f64 = 0.05;

/// A request as a client sends it through a proxy: a handful of headers
/// and the token, so every engine forwards it.
const HEAD: &[u8] = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: proxybench\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\nX-Request-Id: 7f3a9c\r\nX-PB-Token: pb-open-sesame\r\nConnection: keep-alive\r\n\r\n";

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let decisions = if lab.request.quick {
        QUICK_DECISIONS
    } else {
        DECISIONS
    };
    let per_decision = match time_decisions(decisions) {
        Ok(ns) => ns,
        Err(why) => return Ok(vec![Judged::cannot("7", why, Vec::new())]),
    };
    let ns = |engine: DynamicEngine| {
        &per_decision
            .iter()
            .find(|(e, _)| *e == engine)
            .expect("every engine was timed")
            .1
    };
    let out_of_process = compare(
        Metric::CpuUsPerReq,
        Expect::Worse,
        ns(DynamicEngine::Wasmtime),
        ns(DynamicEngine::Ipc),
    );
    let mut figures = vec![out_of_process.figure("ns per decision, ipc vs wasmtime", true)];
    for (engine, samples) in &per_decision {
        figures.push(ClaimFigure {
            label: format!("ns per decision, {} (median)", engine.name()),
            value: median(samples),
            unit: "ns".into(),
            interval: None,
            deciding: false,
        });
    }
    let mut sentences = vec![format!(
        "in this process, {SAMPLES} interleaved samples of {decisions} decisions: {} (ns per decision, medians: {})",
        out_of_process
            .sentence("ipc", "wasmtime")
            .replace("core CPU µs/req ", ""),
        per_decision
            .iter()
            .map(|(e, s)| format!("{} {:.0}", e.name(), median(s)))
            .collect::<Vec<_>>()
            .join(", ")
    )];

    // The same engines in a core.
    let file = scenario(&EXPERIMENT, "dynamic", lab.request)?;
    let cells: Vec<(String, String)> = file
        .cells
        .iter()
        .map(|cell| {
            let engine = cell
                .params
                .http
                .as_ref()
                .and_then(|h| h.filter.as_ref())
                .map_or("none".to_owned(), |f| f.engine.clone());
            (engine, cell.label())
        })
        .collect();
    let ran = lab.run_rounds(file, "dynamic")?;
    let figure = |engine: &str, metric: Metric| {
        let label = &cells
            .iter()
            .find(|(e, _)| e == engine)
            .expect("a cell per engine")
            .1;
        ran.values(label, CORE, |t| t.figure(metric))
    };
    let not_too_bad = match figure("none", Metric::CpuUsPerReq) {
        Ok(request) if !request.is_empty() => {
            let request_ns = median(&request) * 1000.0;
            let (jit, native) = (ns(DynamicEngine::Wasmtime), ns(DynamicEngine::Native));
            let shift = pb_stats::hodges_lehmann(native, jit).unwrap_or(f64::NAN);
            // The rule's interval for the shift (each end at its alpha);
            // none with too few samples, and then nothing is bounded.
            let (low, high) = pb_stats::shift_interval(native, jit, crate::judge::rule().alpha)
                .map_or((f64::NEG_INFINITY, f64::INFINITY), |i| (i.low, i.high));
            let (low, high) = (low / request_ns, high / request_ns);
            let added = shift / request_ns;
            figures.push(ClaimFigure {
                label: "wasmtime's cost per decision over native, share of a request's core CPU"
                    .into(),
                value: added * 100.0,
                unit: "%".into(),
                interval: Some([low * 100.0, high * 100.0]),
                deciding: true,
            });
            sentences.push(format!(
                "wasmtime adds {shift:.0} ns per decision over native, {:.2} % [{:.2} … {:.2}] of the {:.2} µs a request costs the core without a filter",
                added * 100.0,
                low * 100.0,
                high * 100.0,
                request_ns / 1000.0
            ));
            if high < NOT_TOO_BAD {
                ClaimVerdict::Holds
            } else if low > NOT_TOO_BAD {
                ClaimVerdict::DoesNotHold
            } else {
                ClaimVerdict::WithinNoise
            }
        }
        Ok(_) => ClaimVerdict::CannotTest,
        Err(why) => {
            sentences.push(format!("no request cost to compare with: {why}"));
            ClaimVerdict::CannotTest
        }
    };
    // What each engine adds in the core, over no filter.
    let mut added = Vec::new();
    for (engine, _) in cells.iter().filter(|(e, _)| e != "none") {
        for (metric, what, unit) in [
            (Metric::CpuUsPerReq, "core CPU", "µs/req"),
            (Metric::LatencyP99Us, "p99", "µs"),
        ] {
            if let (Ok(with), Ok(without)) = (figure(engine, metric), figure("none", metric)) {
                let value = median(&with) - median(&without);
                figures.push(ClaimFigure {
                    label: format!("{what} added in the core by the {engine} filter (medians)"),
                    value,
                    unit: unit.into(),
                    interval: None,
                    deciding: false,
                });
                if metric == Metric::CpuUsPerReq {
                    added.push(format!("{engine} {value:+.2} µs"));
                }
            }
        }
    }
    if !added.is_empty() {
        sentences.push(format!(
            "in the core ({CORE}, closed loop), CPU added per request over no filter: {}",
            added.join(", ")
        ));
    }
    let mut flags = ran.flags("dynamic");
    if lab.request.build.profile != "release" {
        flags.push(format!(
            "a {} build: the in-process timings are not comparable",
            lab.request.build.profile
        ));
    }
    Ok(vec![Judged {
        claim: "7",
        verdict: all_of([out_of_process.verdict, not_too_bad]),
        reason: format!(
            "{}. The claim holds when the out-of-process filter costs more than the JIT by over 5 % per decision and the JIT adds under 5 % of a request's CPU over native Rust.",
            sentences.join("; ")
        ),
        figures,
        flags,
        results: vec![ran.file],
    }])
}

/// Nanoseconds per decision of every engine's gate on [`HEAD`], in
/// interleaved samples (after a warm-up of each: a lazily made instance
/// is not a per-decision cost). The `ipc` gate starts this program's
/// `filter-serve`, as a core does.
fn time_decisions(decisions: u32) -> Result<Vec<(DynamicEngine, Vec<f64>)>, String> {
    let head = RequestHead::parse(HEAD, &Limits::default())
        .ok()
        .flatten()
        .ok_or("the experiment's request head does not parse")?
        .0;
    let gates = DynamicEngine::ALL
        .into_iter()
        .map(|engine| {
            let config = DynamicConfig {
                engine,
                module: None,
                command: None,
            };
            Gate::build(&config)
                .map(|gate| (engine, gate))
                .map_err(|e| format!("the {} gate: {e}", engine.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (engine, gate) in &gates {
        for _ in 0..decisions / 10 + 1 {
            if gate.decide(&head) != pb_dynamic::Decision::Forward {
                return Err(format!(
                    "the {} gate refused the experiment's request",
                    engine.name()
                ));
            }
        }
    }
    let mut ns: Vec<(DynamicEngine, Vec<f64>)> =
        gates.iter().map(|(e, _)| (*e, Vec::new())).collect();
    for _ in 0..SAMPLES {
        for (i, (_, gate)) in gates.iter().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..decisions {
                std::hint::black_box(gate.decide(std::hint::black_box(&head)));
            }
            ns[i]
                .1
                .push(start.elapsed().as_nanos() as f64 / f64::from(decisions));
        }
    }
    Ok(ns)
}
