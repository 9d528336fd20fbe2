//! Claim 6: per-request state on filter instances (`filter-chain`, made
//! per request as Envoy does) against state in a type-erased context map
//! (`filter-chain-ctx`), both on the raw composition's connection loop,
//! at a fixed rate. Decided by CPU per request on monoio (the article's
//! runtime); tokio-tpc beside it, and each core's allocations per
//! request (the map on one side, the instances on the other).

use pb_results::claims::ClaimFigure;
use pb_stats::Metric;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::judge::{Expect, compare};
use crate::lab::{Lab, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "context",
    about: "filter-chain vs filter-chain-ctx at a fixed rate on monoio and tokio-tpc",
    scenarios: &[(
        "context",
        include_str!("../../../../scenarios/claims/context.toml"),
    )],
    run: Some(run),
};

/// The runtimes compared on, the deciding one first.
const RUNTIMES: [&str; 2] = ["monoio", "tokio-tpc"];

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let file = scenario(&EXPERIMENT, "context", lab.request)?;
    let label = file.cells[0].label();
    let ran = lab.run(file, "context")?;
    let files = vec![ran.file.clone()];
    let mut figures = Vec::new();
    let mut sentences = Vec::new();
    let mut verdict = None;
    for (i, runtime) in RUNTIMES.iter().enumerate() {
        let (chain, ctx) = (
            format!("{runtime}/filter-chain"),
            format!("{runtime}/filter-chain-ctx"),
        );
        let cpu = |core: &str| ran.values(&label, core, |t| t.cpu_us_per_req);
        let (on_filter, in_context) = match (cpu(&chain), cpu(&ctx)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(why), _) | (_, Err(why)) if i == 0 => {
                return Ok(vec![Judged::cannot("6", why, files)]);
            }
            (Err(why), _) | (_, Err(why)) => {
                sentences.push(why);
                continue;
            }
        };
        let compared = compare(Metric::CpuUsPerReq, Expect::Worse, &on_filter, &in_context);
        figures.push(compared.figure(format!("core CPU µs/req, {ctx} vs {chain}"), i == 0));
        sentences.push(compared.sentence(&ctx, &chain));
        if i == 0 {
            verdict = Some(compared.verdict);
        }
        for core in [&chain, &ctx] {
            let allocations = ran.values(&label, core, |t| {
                t.kernel.as_ref().and_then(|k| k.allocations_per_req)
            });
            if let Ok(a) = allocations.as_deref()
                && !a.is_empty()
            {
                figures.push(ClaimFigure {
                    label: format!("allocations per request, {core} (median)"),
                    value: median(a),
                    unit: "allocations".into(),
                    interval: None,
                    deciding: false,
                });
            }
        }
    }
    Ok(vec![Judged {
        claim: "6",
        verdict: verdict.expect("the deciding runtime either judged or returned"),
        reason: format!(
            "{}. The verdict rests on monoio: the claim holds when state in the context costs more than 5 % over state on the filter.",
            sentences.join("; ")
        ),
        figures,
        flags: ran.flags("context"),
        results: files,
    }])
}
