//! Claim 4: cloning `Arc`s into `'static` futures against borrowing
//! ones. Decided by the `cargo bench` stacks (`pb_bench::drive`), run in
//! this process: 16 identical layers, a tower stack cloned per call
//! against a service-async borrowing stack, in interleaved samples of
//! many calls each, nanoseconds per call. Beside it: allocations per
//! call of each (when the binary counts them), and the same pair as real
//! cores on one runtime (tokio-tpc/tower-clone vs tokio-tpc/borrowing)
//! from the Buffer experiment's light cell.

use pb_bench::drive::{Driver, Variant, no_probe};
use pb_results::claims::ClaimFigure;
use pb_stats::Metric;

use super::{Experiment, Judged};
use crate::ClaimsError;
use crate::judge::{Expect, compare};
use crate::lab::{Lab, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "borrow",
    about: "the cargo bench stacks in this process (tower cloned vs service-async, 16 layers), and the same pair as cores",
    scenarios: &[],
    run: Some(run),
};

/// Layers per stack: the deepest `cargo bench` measures, where a cost
/// per layer shows most.
const DEPTH: u32 = 16;

/// Samples per variant (interleaved), and calls per sample.
const SAMPLES: usize = 9;
const CALLS: u64 = 200_000;
const QUICK_CALLS: u64 = 5_000;

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let calls = if lab.request.quick {
        QUICK_CALLS
    } else {
        CALLS
    };
    let driver = Driver::new().map_err(ClaimsError::Bench)?;
    let variants = [Variant::TowerClone, Variant::Borrowing];
    // Warm both before timing either: lazily built runtime state is not
    // a per-call cost.
    for variant in variants {
        driver.run(variant, DEPTH, calls / 10 + 1, no_probe);
    }
    let mut ns = [Vec::new(), Vec::new()];
    for _ in 0..SAMPLES {
        for (i, variant) in variants.into_iter().enumerate() {
            let sample = driver.run(variant, DEPTH, calls, no_probe);
            ns[i].push(sample.elapsed.as_nanos() as f64 / calls as f64);
        }
    }
    let micro = compare(Metric::CpuUsPerReq, Expect::Worse, &ns[1], &ns[0]);
    let mut figures = vec![micro.figure(
        format!("ns per call, {DEPTH} layers: tower cloned per call vs service-async borrowing"),
        true,
    )];
    for (i, variant) in variants.into_iter().enumerate() {
        figures.push(ClaimFigure {
            label: format!("ns per call, {DEPTH} layers, {} (median)", variant.name()),
            value: median(&ns[i]),
            unit: "ns".into(),
            interval: None,
            deciding: false,
        });
        if let Some(probe) = lab.request.allocations {
            let sample = driver.run(variant, DEPTH, calls, probe);
            figures.push(ClaimFigure {
                label: format!("allocations per call, {DEPTH} layers, {}", variant.name()),
                value: sample.probed as f64 / calls as f64,
                unit: "allocations".into(),
                interval: None,
                deciding: false,
            });
        }
    }
    let mut sentences = vec![format!(
        "in-process stacks of {DEPTH} layers, {SAMPLES} interleaved samples of {calls} calls: {}",
        micro
            .sentence("tower cloned", "service-async")
            .replace("core CPU µs/req", "time per call")
    )];
    // The same pair as cores, from the Buffer experiment's light cell.
    let (file, one) = super::buffer::one_thread(lab)?;
    let light = file.cells[0].label();
    let cpu = |core| one.values(&light, core, |t| t.cpu_us_per_req);
    if let (Ok(borrowing), Ok(cloned)) = (cpu("tokio-tpc/borrowing"), cpu("tokio-tpc/tower-clone"))
    {
        let cores = compare(Metric::CpuUsPerReq, Expect::Worse, &borrowing, &cloned);
        figures.push(cores.figure(
            "core CPU µs/req, tokio-tpc/tower-clone vs tokio-tpc/borrowing, 1 thread",
            false,
        ));
        sentences.push(format!(
            "as cores on one runtime, {}",
            cores.sentence("tokio-tpc/tower-clone", "tokio-tpc/borrowing")
        ));
    }
    let mut flags = one.flags("cores");
    if lab.request.build.profile != "release" {
        flags.push(format!(
            "a {} build: the in-process timings are not comparable",
            lab.request.build.profile
        ));
    }
    Ok(vec![Judged {
        claim: "4",
        verdict: micro.verdict,
        reason: format!(
            "{}. The verdict rests on the per-call cost: the claim holds when cloning is dearer by more than the 5 % threshold.",
            sentences.join("; ")
        ),
        figures,
        flags,
        results: vec![one.file],
    }])
}
