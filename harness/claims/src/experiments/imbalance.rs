//! Claim 2: light requests beside heavy ones, on two serving threads.
//! One connection in 8 asks the middleware for 2M spin iterations per
//! request; the light connections' p99 (the driver keeps the two classes
//! apart) on thread-per-core runtimes, where a light connection hashed to
//! the heavy one's thread waits behind it, against work stealing, where
//! the other worker takes it. The composition (raw) is the same on all.
//!
//! Deciding: light p99 of tokio-tpc/raw against tokio-mt/raw (one runtime
//! family, so only the scheduling differs); monoio/raw beside it. Two
//! serving threads, a driver and an origin need 4 CPUs to run apart;
//! with fewer, the threads share CPUs and the verdict cannot be decided
//! here, though the figures are measured and shown.

use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_results::{ClassLatency, Trial};
use pb_stats::Metric;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::judge::{Expect, compare};
use crate::lab::{Lab, balance, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "imbalance",
    about: "one connection in 8 heavy: light-request p99 under work stealing vs thread-per-core, 2 serving threads",
    scenarios: &[(
        "imbalance",
        include_str!("../../../../scenarios/claims/imbalance.toml"),
    )],
    run: Some(run),
};

const STEALING: &str = "tokio-mt/raw";
const PER_CORE: [&str; 2] = ["tokio-tpc/raw", "monoio/raw"];

fn class<'t>(trial: &'t Trial, name: &str) -> Option<&'t ClassLatency> {
    trial.classes.iter().find(|c| c.name == name)
}

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let file = scenario(&EXPERIMENT, "imbalance", lab.request)?;
    let label = file.cells[0].label();
    let threads = file.run.core_threads;
    let ran = lab.run(file, "imbalance")?;
    let files = vec![ran.file.clone()];
    let light = |core| {
        ran.values(&label, core, |t| {
            class(t, "light").map(|c| c.latency_us.p99)
        })
    };
    let stealing = match light(STEALING) {
        Ok(v) => v,
        Err(why) => return Ok(vec![Judged::cannot("2", why, files)]),
    };
    let mut figures = Vec::new();
    let mut sentences = Vec::new();
    let mut deciding = None;
    for (i, core) in PER_CORE.iter().enumerate() {
        let per_core = match light(core) {
            Ok(v) => v,
            Err(why) if i == 0 => return Ok(vec![Judged::cannot("2", why, files)]),
            Err(why) => {
                sentences.push(why);
                continue;
            }
        };
        let compared = compare(Metric::LatencyP99Us, Expect::Worse, &stealing, &per_core);
        figures.push(compared.figure(
            format!("light-request p99, {core} vs {STEALING}, {threads} threads"),
            i == 0,
        ));
        sentences.push(compared.sentence(core, STEALING));
        if i == 0 {
            deciding = Some(compared.verdict);
        }
    }
    for core in [STEALING, PER_CORE[0], PER_CORE[1]] {
        for name in ["light", "heavy"] {
            if let Ok(p99) = ran.values(&label, core, |t| class(t, name).map(|c| c.latency_us.p99))
            {
                figures.push(ClaimFigure {
                    label: format!("{name}-request p99, {core} (median)"),
                    value: median(&p99),
                    unit: "µs".into(),
                    interval: None,
                    deciding: false,
                });
            }
        }
    }
    for core in [STEALING, PER_CORE[0], PER_CORE[1]] {
        if let Ok(spread) = ran.values(&label, core, |t| balance(t, threads))
            && !spread.is_empty()
        {
            figures.push(ClaimFigure {
                label: format!(
                    "thread balance, {core}: busiest serving thread's CPU / mean of the {threads} busiest (1 = even)"
                ),
                value: median(&spread),
                unit: "ratio".into(),
                interval: None,
                deciding: false,
            });
        }
    }
    let measured = deciding.unwrap_or(ClaimVerdict::CannotTest);
    let plan = &ran.results.environment.cpu_plan;
    let (verdict, reason) = if plan.shared {
        (
            ClaimVerdict::CannotTest,
            format!(
                "needs {threads} serving threads on CPUs of their own beside the driver and the origin ({} CPUs); this machine allows {}, so the threads shared CPUs and the comparison cannot decide here. Measured anyway ({}): {}.",
                threads + 2,
                lab.cpus(),
                measured.as_str(),
                sentences.join("; ")
            ),
        )
    } else {
        (
            measured,
            format!(
                "{}. The claim's converse: with imbalanced load, thread-per-core leaves light requests behind heavy ones on their thread, work stealing does not.",
                sentences.join("; ")
            ),
        )
    };
    Ok(vec![Judged {
        claim: "2",
        verdict,
        reason,
        figures,
        flags: ran.flags("imbalance"),
        results: files,
    }])
}
