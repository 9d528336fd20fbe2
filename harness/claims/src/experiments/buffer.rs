//! Claim 3: what sharing a tower stack through `Buffer` costs. Two
//! cells of one scenario file:
//!
//! - a light call at a fixed rate, one serving thread: the CPU per
//!   request of tokio-tower (the request stack behind `Buffer`) against
//!   tokio-mt/tower-clone (cloned per connection). The claim — Buffer
//!   costs nothing when making the future is light — holds when Buffer's
//!   extra cost is within the threshold. (This cell also carries claim
//!   4's end-to-end pair, read by [`super::borrow`].)
//! - a call that itself costs 1M spin iterations, closed loop, at 1 and
//!   2 serving threads: behind `Buffer` every call runs on one worker
//!   task, so throughput cannot grow with threads; cloned, it can. Shown
//!   beside the verdict: the condition in the claim is what matters.

use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_scenario::ScenarioFile;
use pb_stats::Metric;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::judge::{Expect, compare};
use crate::lab::{Lab, Ran, median};

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "buffer",
    about: "tower behind Buffer vs cloned: light call at a fixed rate; a call costing 1M iterations at 1 and 2 threads",
    scenarios: &[(
        "buffer",
        include_str!("../../../../scenarios/claims/buffer.toml"),
    )],
    run: Some(run),
};

/// tower behind `Buffer`.
pub(crate) const BUFFERED: &str = "tokio-tower";
/// tower cloned per connection, on the same runtime.
pub(crate) const CLONED: &str = "tokio-mt/tower-clone";

/// The file's light cell (index 0) and heavy cell (index 1).
const LIGHT: usize = 0;
const HEAVY: usize = 1;

/// The run at one serving thread (both cells), made once for this
/// experiment and claim 4's: the file and its run.
pub(crate) fn one_thread(lab: &mut Lab<'_>) -> Result<(ScenarioFile, Ran), ClaimsError> {
    let file = scenario(&EXPERIMENT, "buffer", lab.request)?;
    let ran = lab.run(file.clone(), "buffer-1t")?;
    Ok((file, ran))
}

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let (file, one) = one_thread(lab)?;
    let (light, heavy) = (file.cells[LIGHT].label(), file.cells[HEAVY].label());
    // Two threads: the heavy cell only.
    let mut two_threads = file.clone();
    two_threads.run.core_threads = 2;
    two_threads.cells.retain(|c| c.label() == heavy);
    let two = lab.run(two_threads, "buffer-2t")?;
    let files = vec![one.file.clone(), two.file.clone()];

    let cpu = |core| one.values(&light, core, |t| t.cpu_us_per_req);
    let (cloned, buffered) = match (cpu(CLONED), cpu(BUFFERED)) {
        (Ok(c), Ok(b)) => (c, b),
        (Err(why), _) | (_, Err(why)) => return Ok(vec![Judged::cannot("3", why, files)]),
    };
    let light_cost = compare(Metric::CpuUsPerReq, Expect::NoWorse, &cloned, &buffered);
    let mut figures = vec![light_cost.figure(
        "core CPU µs/req with a light call, tokio-tower (Buffer) vs tokio-mt/tower-clone, 1 thread",
        true,
    )];
    let mut sentences = vec![light_cost.sentence(BUFFERED, CLONED)];
    // The heavy call: how throughput scales from 1 to 2 threads.
    for core in [BUFFERED, CLONED] {
        let qps = |ran: &Ran| ran.values(&heavy, core, |t| Some(t.qps));
        if let (Ok(at_one), Ok(at_two)) = (qps(&one), qps(&two)) {
            let ratio = median(&at_two) / median(&at_one);
            figures.push(ClaimFigure {
                label: format!(
                    "requests/s with call costing 1M iterations, {core}: 2 threads / 1 thread"
                ),
                value: ratio,
                unit: "ratio".into(),
                interval: None,
                deciding: false,
            });
        }
    }
    let qps_two = |core| two.values(&heavy, core, |t| Some(t.qps));
    if let (Ok(cloned), Ok(buffered)) = (qps_two(CLONED), qps_two(BUFFERED)) {
        let serialised = compare(Metric::Qps, Expect::Worse, &cloned, &buffered);
        figures.push(serialised.figure(
            "requests/s with call costing 1M iterations, tokio-tower (Buffer) vs tokio-mt/tower-clone, 2 threads",
            false,
        ));
        sentences.push(format!(
            "with a heavy call at 2 threads, {} ({} that Buffer serialises calls)",
            serialised.sentence(BUFFERED, CLONED),
            match serialised.verdict {
                ClaimVerdict::Holds => "showing",
                ClaimVerdict::DoesNotHold => "not showing",
                _ => "too noisy to show",
            }
        ));
    }
    let mut flags = one.flags("1 thread");
    flags.extend(two.flags("2 threads"));
    Ok(vec![Judged {
        claim: "3",
        verdict: light_cost.verdict,
        reason: format!(
            "{}. The verdict rests on the light call: Buffer's extra cost per request must stay within the 5 % threshold.",
            sentences.join("; ")
        ),
        figures,
        flags,
        results: files,
    }])
}
