//! Claims 1a and 1b: the mission cores on 100-byte echo, closed loop, at
//! one serving thread and at each doubling the machine can give CPUs of
//! their own (with as many driver threads), then one count beyond,
//! flagged, so the sweep always runs.
//!
//! 1a is decided at one thread by CPU per request (its inverse is the
//! one-core capacity, which holds whether or not the driver limited
//! throughput): monoio cheaper than tokio-tower, glommio dearer. The
//! one-thread cells run under both driver backends: the verdict is the
//! epoll driver's (the default client), the io_uring driver's figures
//! stand beside it, and a verdict that differs between them is flagged —
//! the claim's own client was io_uring, and a ranking that depends on the
//! client is not the cores' alone. 1b needs
//! 8 serving and 8 driver threads on CPUs of their own; below 16 CPUs it
//! cannot be decided, and the scaling efficiency of what ran is shown,
//! with how evenly each core's work spread over its serving threads
//! (`SO_REUSEPORT`'s balance on the thread-per-core cores). The same
//! sweep of HTTP forwarding (`scaling-http.toml`, a file of its own: its
//! origin needs a CPU) is shown beside 1b, figures only.

use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_stats::Metric;

use super::{Experiment, Judged, scenario};
use crate::ClaimsError;
use crate::judge::{Compared, Expect, all_of, compare};
use crate::lab::{Lab, Ran, balance, median};
use pb_scenario::Backend;

/// This experiment.
pub const EXPERIMENT: Experiment = Experiment {
    name: "scaling",
    about: "100-byte echo, and HTTP forwarding beside it, at 1 serving thread and each doubling the machine allows",
    scenarios: &[
        (
            "scaling",
            include_str!("../../../../scenarios/claims/scaling.toml"),
        ),
        (
            "scaling-http",
            include_str!("../../../../scenarios/claims/scaling-http.toml"),
        ),
    ],
    run: Some(run),
};

/// Serving threads the claim is about.
const CLAIM_THREADS: usize = 8;

const TOKIO: &str = "tokio-tower";
const MONOIO: &str = "monoio";
const GLOMMIO: &str = "glommio";

/// 1, then doublings with a CPU per serving and per driver thread, then
/// the next doubling (sharing CPUs) so more than one count always runs.
fn thread_counts(cpus: usize) -> Vec<usize> {
    let mut counts = vec![1];
    let mut n = 2;
    while 2 * n <= cpus && n <= CLAIM_THREADS {
        counts.push(n);
        n *= 2;
    }
    if n <= CLAIM_THREADS {
        counts.push(n);
    }
    counts
}

fn run(lab: &mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError> {
    let base = scenario(&EXPERIMENT, "scaling", lab.request)?;
    let http_base = scenario(&EXPERIMENT, "scaling-http", lab.request)?;
    let label = base.cells[0].label();
    let uring_label = {
        let mut cell = base.cells[0].clone();
        cell.params.driver = Backend::IoUring;
        cell.label()
    };
    let http_label = http_base.cells[0].label();
    let mut runs: Vec<(usize, Ran)> = Vec::new();
    let mut http_runs: Vec<(usize, Ran)> = Vec::new();
    for n in thread_counts(lab.cpus()) {
        for (file, slug, into) in [
            (&base, "scaling", &mut runs),
            (&http_base, "scaling-http", &mut http_runs),
        ] {
            let mut file = file.clone();
            file.run.core_threads = n;
            file.run.driver_threads = n;
            if n == 1 && slug == "scaling" {
                // The one-core claim under the other client too.
                let uring: Vec<_> = file
                    .cells
                    .iter()
                    .map(|cell| {
                        let mut cell = cell.clone();
                        cell.params.driver = Backend::IoUring;
                        cell
                    })
                    .collect();
                file.cells.extend(uring);
            }
            into.push((n, lab.run(file, &format!("{slug}-{n}t"))?));
        }
    }
    let files: Vec<String> = runs.iter().map(|(_, r)| r.file.clone()).collect();
    let http_files: Vec<String> = http_runs.iter().map(|(_, r)| r.file.clone()).collect();
    let one = &runs[0].1;
    let mut many = many_cores(&runs, &label, lab.cpus(), files.clone());
    // The HTTP sweep beside it: figures, not the verdict.
    let (http_figures, http_flags) = efficiency(&http_runs, &http_label, "http-forward");
    many.figures.extend(http_figures);
    many.flags.extend(http_flags);
    many.results.extend(http_files);
    Ok(vec![one_core(one, &label, &uring_label, files), many])
}

/// Scaling efficiency and thread balance of every core at each thread
/// count beyond one, with what limits them; `what` names the workload.
fn efficiency(runs: &[(usize, Ran)], label: &str, what: &str) -> (Vec<ClaimFigure>, Vec<String>) {
    let mut figures = Vec::new();
    let mut flags = Vec::new();
    let one = &runs[0].1;
    for (n, ran) in &runs[1..] {
        flags.extend(ran.flags(&format!("{what}, {n} threads")));
        for core in [TOKIO, MONOIO, GLOMMIO] {
            let (Ok(at_one), Ok(at_n)) = (
                one.values(label, core, |t| Some(t.qps)),
                ran.values(label, core, |t| Some(t.qps)),
            ) else {
                continue;
            };
            figures.push(ClaimFigure {
                label: format!(
                    "{what} scaling efficiency, {core}, {n} threads: QPS({n}) / ({n} x QPS(1))"
                ),
                value: median(&at_n) / (*n as f64 * median(&at_one)),
                unit: "ratio".into(),
                interval: None,
                deciding: false,
            });
            if let Ok(spread) = ran.values(label, core, |t| balance(t, *n))
                && !spread.is_empty()
            {
                figures.push(ClaimFigure {
                    label: format!(
                        "{what} thread balance, {core}, {n} threads: busiest thread's CPU / mean of the {n} busiest (1 = even)"
                    ),
                    value: median(&spread),
                    unit: "ratio".into(),
                    interval: None,
                    deciding: false,
                });
            }
        }
    }
    (figures, flags)
}

/// 1a: at one thread, by CPU per request.
/// The one-core comparisons in the cell `label`: monoio against
/// tokio-tower (expected cheaper) and glommio against it (expected
/// dearer).
fn one_core_comparisons(one: &Ran, label: &str) -> Result<(Compared, Compared), String> {
    let cpu = |core| one.values(label, core, |t| t.cpu_us_per_req);
    let (tokio, monoio, glommio) = (cpu(TOKIO)?, cpu(MONOIO)?, cpu(GLOMMIO)?);
    Ok((
        compare(Metric::CpuUsPerReq, Expect::Better, &tokio, &monoio),
        compare(Metric::CpuUsPerReq, Expect::Worse, &tokio, &glommio),
    ))
}

fn one_core(one: &Ran, label: &str, uring_label: &str, files: Vec<String>) -> Judged {
    let (cheaper, dearer) = match one_core_comparisons(one, label) {
        Ok(pair) => pair,
        Err(why) => return Judged::cannot("1a", why, files),
    };
    let verdict = all_of([cheaper.verdict, dearer.verdict]);
    let mut figures = vec![
        cheaper.figure("core CPU µs/req, monoio vs tokio-tower, 1 thread", true),
        dearer.figure("core CPU µs/req, glommio vs tokio-tower, 1 thread", true),
    ];
    let mut flags = one.flags("1 thread");
    // The same under the io_uring driver: figures, and a flag when the
    // verdict would differ.
    match one_core_comparisons(one, uring_label) {
        Ok((cheaper_u, dearer_u)) => {
            let verdict_u = all_of([cheaper_u.verdict, dearer_u.verdict]);
            figures.push(cheaper_u.figure(
                "core CPU µs/req, monoio vs tokio-tower, 1 thread, io_uring driver",
                false,
            ));
            figures.push(dearer_u.figure(
                "core CPU µs/req, glommio vs tokio-tower, 1 thread, io_uring driver",
                false,
            ));
            // Two conclusive verdicts that differ are a claim that
            // depends on the client; a difference within noise is said
            // as such, never as a dependence.
            let conclusive =
                |v: ClaimVerdict| matches!(v, ClaimVerdict::Holds | ClaimVerdict::DoesNotHold);
            if verdict_u != verdict {
                let what = if conclusive(verdict) && conclusive(verdict_u) {
                    "the verdict depends on the client's I/O model"
                } else {
                    "the verdict differs by driver, within noise"
                };
                flags.push(format!(
                    "{what}: under the io_uring driver it is \"{}\" ({}; {})",
                    verdict_u.as_str(),
                    cheaper_u.sentence(MONOIO, TOKIO),
                    dearer_u.sentence(GLOMMIO, TOKIO)
                ));
            }
        }
        Err(why) => flags.push(format!("not run under the io_uring driver: {why}")),
    }
    for core in [TOKIO, MONOIO, GLOMMIO] {
        if let Ok(qps) = one.values(label, core, |t| Some(t.qps)) {
            figures.push(ClaimFigure {
                label: format!("requests/s, {core}, 1 thread (median)"),
                value: median(&qps),
                unit: "req/s".into(),
                interval: None,
                deciding: false,
            });
        }
    }
    Judged {
        claim: "1a",
        verdict,
        reason: format!(
            "{}; {}. The claim's one-core order (monoio 233k > Tokio 206k > Glommio 164k req/s) is monoio cheapest per request and glommio dearest.",
            cheaper.sentence(MONOIO, TOKIO),
            dearer.sentence(GLOMMIO, TOKIO)
        ),
        figures,
        flags,
        results: files,
    }
}

/// 1b: at eight threads by throughput when the machine allows, else
/// not testable, with the scaling efficiency of what ran.
fn many_cores(runs: &[(usize, Ran)], label: &str, cpus: usize, files: Vec<String>) -> Judged {
    let (mut figures, flags) = efficiency(runs, label, "echo");
    let at_claim = runs
        .iter()
        .find(|(n, ran)| *n == CLAIM_THREADS && !ran.results.environment.cpu_plan.shared);
    let Some((_, ran)) = at_claim else {
        return Judged {
            claim: "1b",
            verdict: ClaimVerdict::CannotTest,
            reason: format!(
                "needs {} CPUs ({CLAIM_THREADS} serving threads and {CLAIM_THREADS} driver threads, each on a CPU of its own); this machine allows {cpus}. The thread counts that ran are shown as scaling efficiency, flagged where threads shared CPUs.",
                2 * CLAIM_THREADS
            ),
            figures,
            flags,
            results: files,
        };
    };
    let qps = |core| ran.values(label, core, |t| Some(t.qps));
    let (tokio, monoio, glommio) = match (qps(TOKIO), qps(MONOIO), qps(GLOMMIO)) {
        (Ok(t), Ok(m), Ok(g)) => (t, m, g),
        (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
            return Judged::cannot("1b", why, files);
        }
    };
    let compared: [Compared; 2] = [
        compare(Metric::Qps, Expect::Better, &tokio, &monoio),
        compare(Metric::Qps, Expect::Better, &tokio, &glommio),
    ];
    figures.insert(
        0,
        compared[0].figure("requests/s, monoio vs tokio-tower, 8 threads", true),
    );
    figures.insert(
        1,
        compared[1].figure("requests/s, glommio vs tokio-tower, 8 threads", true),
    );
    Judged {
        claim: "1b",
        verdict: all_of(compared.iter().map(|c| c.verdict)),
        reason: format!(
            "{}; {}.",
            compared[0].sentence(MONOIO, TOKIO),
            compared[1].sentence(GLOMMIO, TOKIO)
        ),
        figures,
        flags,
        results: files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_doubles_while_the_driver_keeps_cpus_of_its_own_then_once_more() {
        assert_eq!(thread_counts(1), [1, 2]);
        assert_eq!(thread_counts(2), [1, 2]);
        assert_eq!(thread_counts(4), [1, 2, 4]);
        assert_eq!(thread_counts(8), [1, 2, 4, 8]);
        assert_eq!(thread_counts(16), [1, 2, 4, 8]);
        assert_eq!(thread_counts(64), [1, 2, 4, 8]);
    }
}
