//! The paired gate's session on synthetic batches: it stops at the first
//! look that decides every figure, runs to the budget and says
//! "inconclusive" when a change sits at the threshold, prints the
//! minimum detectable effect from the noise, and refuses batches that
//! cannot be paired.

use pb_gate::Policy;
use pb_gate::paired::{Overall, Report, Session};
use pb_results::Results;

mod common;
use common::{cell, results, trial};

/// One cell `echo/x` whose trials have these CPU figures.
fn batch(cpu: &[f64]) -> Results {
    cells(&["echo/x"], cpu)
}

fn cells(ids: &[&str], cpu: &[f64]) -> Results {
    let cells = ids
        .iter()
        .map(|id| {
            let trials = cpu
                .iter()
                .enumerate()
                .map(|(i, v)| trial(i, *v, 500.0, 100_000.0))
                .collect();
            cell(id, trials)
        })
        .collect();
    serde_json::from_value(results(cells)).unwrap()
}

/// The default policy with ci/gate.toml's 5 % threshold for CPU.
fn policy() -> Policy {
    Policy::parse(
        "[metrics.cpu_us_per_req]\nthreshold_pct = 5\n",
        std::path::Path::new("test.toml"),
    )
    .unwrap()
}

/// Feeds the batches the session asks for: the candidate costs `effect`
/// times the baseline, times a within-pair noise `exp(spread * s_k)`
/// with `s_k` a fixed sequence symmetric about zero (±1, ±0.5, ±0.25,
/// 0, ...), and a drift of 2 % per pair that both halves share.
fn run_with(effect: f64, spread: f64) -> Report {
    const S: [f64; 8] = [1.0, -1.0, 0.5, -0.5, 0.25, -0.25, 0.0, 0.75];
    let mut s = Session::new(&policy());
    let mut k = 0usize;
    while let Some(n) = s.next_batch() {
        let (mut b, mut c) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let drift = 10.0 * (1.0 + 0.02 * k as f64);
            b.push(drift);
            c.push(drift * effect * (spread * S[k % S.len()]).exp());
            k += 1;
        }
        s.add(&batch(&b), &batch(&c)).unwrap();
    }
    s.report()
}

fn run(effect: f64) -> Report {
    run_with(effect, 0.02)
}

#[test]
fn a_session_stops_as_soon_as_every_figure_is_decided() {
    let same = run(1.0);
    assert_eq!(same.overall, Overall::NoRegression);
    assert_eq!(same.pairs, 8, "decided at the first look");
    assert!(same.verdict_line().starts_with("gate run: passed"));
    let worse = run(1.12);
    assert_eq!(worse.overall, Overall::Regression);
    assert!(worse.text().contains("REGRESSION"));
    assert!(worse.verdict_line().starts_with("gate run: FAILED"));
    let e = worse.rows[0].judgement.estimate.unwrap();
    assert!((e - 0.12).abs() < 0.02, "{e}");
    let i = worse.rows[0].judgement.interval.unwrap();
    assert!(i.low > 0.05, "{i:?}");
}

#[test]
fn a_change_at_the_threshold_runs_to_the_budget_and_is_inconclusive() {
    // The noise is as large as the distance to either answer.
    let at = run_with(1.05, 0.2);
    assert_eq!(at.overall, Overall::Inconclusive);
    assert_eq!(at.pairs, policy().paired.max_pairs);
    assert!(at.verdict_line().contains("INCONCLUSIVE"));
    let md = at.markdown();
    assert!(md.contains("**inconclusive** at this noise"), "{md}");
    assert!(md.contains("| MDE |"), "{md}");
    let json = serde_json::to_value(at.json()).unwrap();
    assert_eq!(json["verdict"], "inconclusive");
    assert_eq!(json["rows"][0]["pairs"], 40);
    assert!(json["rows"][0]["mde"].as_f64().unwrap() > 0.05);
}

#[test]
fn the_minimum_detectable_effect_comes_from_the_noise() {
    let r = run(1.0);
    let line = r.mde_line();
    assert!(
        line.starts_with("at this run's noise the gate detects ≥ "),
        "{line}"
    );
    assert!(line.contains("90 % power within 40 pairs"), "{line}");
    let quiet = r.rows[0].judgement.mde.unwrap();
    assert!(quiet > 0.05 && quiet < 0.08, "{quiet}");
    // Ten times the noise: only a larger effect can be seen.
    let noisy = run_with(1.0, 0.2).rows[0].judgement.mde.unwrap();
    assert!(noisy > 2.0 * quiet, "{noisy} vs {quiet}");
}

#[test]
fn every_cell_is_a_figure_and_one_regression_fails_the_run() {
    let mut s = Session::new(&policy());
    let ids = ["echo/a", "echo/b"];
    let b = cells(&ids, &[10.0; 8]);
    let mut c = cells(&ids, &[10.0; 8]);
    for (k, t) in c.cells[1].trials.iter_mut().enumerate() {
        t.cpu_us_per_req = Some(12.0 + 0.01 * k as f64);
    }
    s.add(&b, &c).unwrap();
    assert_eq!(s.next_batch(), None);
    let r = s.report();
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.overall, Overall::Regression);
    assert!(
        r.markdown().lines().nth(6).unwrap().contains("echo/b"),
        "regressions first"
    );
}

#[test]
fn batches_that_cannot_be_paired_are_refused_with_reasons() {
    let mut s = Session::new(&policy());
    let e = s.add(&batch(&[1.0, 2.0]), &batch(&[1.0])).unwrap_err();
    assert!(e[0].contains("pairs need equal counts"), "{e:?}");
    let mut missing = batch(&[1.0]);
    missing.cells[0].trials[0].cpu_us_per_req = None;
    let e = s.add(&batch(&[1.0]), &missing).unwrap_err();
    assert!(e[0].contains("a pair needs both above zero"), "{e:?}");
    // Refused batches left nothing behind.
    assert_eq!(s.pairs(), 0);
    s.add(&batch(&[1.0; 4]), &batch(&[1.0; 4])).unwrap();
    assert_eq!(s.next_batch(), Some(4), "the first look is at 8 pairs");
    let other = cells(&["echo/y"], &[1.0]);
    let e = s.add(&other, &other).unwrap_err();
    assert!(
        e.iter().any(|p| p.contains("echo/x was in the earlier")),
        "{e:?}"
    );
    assert!(e.iter().any(|p| p.contains("echo/y is new")), "{e:?}");
}
