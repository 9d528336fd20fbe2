//! The conformance and fault suite. A core's numbers count only if it
//! behaves as a correct proxy; otherwise it could win by cutting corners.
//!
//! | module | role |
//! |---|---|
//! | [`client`] | a raw-socket HTTP client that sends exactly what a case says |
//! | [`differential`] | generated requests through every core and the reference proxies, compared; disagreements against the committed triage |
//! | [`suite`] | the fixture: an origin with a record of what it received, a fresh core per case |
//! | [`cases`] | the cases, each naming its source (RFC section or the suite it comes from) |
//! | [`probe`] | the cases an independent adversarial probe found failing: pool poisoning, unsafe retries, Unicode whitespace, upgrades, chunk re-framing, body and send timeouts |
//! | [`scripted`] | an in-process origin that misbehaves exactly as a case scripts it and records every byte |
//!
//! [`run_matrix`] runs every case against every core and returns the
//! case x core matrix; `proxybench conform` prints it, `proxybench run`
//! stores it in the results and marks failing cores.

pub mod cases;
pub mod client;
pub mod differential;
pub mod probe;
pub mod rfc;
pub mod scripted;
pub mod suite;

use std::path::Path;

use pb_progress::{Event, Progress, Stage, Units};
use serde::Serialize;

pub use crate::cases::{CASES, Case, Kind};
pub use crate::suite::{Ctx, Suite, SuiteError};

/// One case's verdict on one core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Core name.
    pub core: String,
    /// Passed?
    pub passed: bool,
    /// Why not.
    pub reason: Option<String>,
    /// What a passing case measured (recovery time, peak RSS).
    pub detail: Option<String>,
}

/// One case across cores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Where the case comes from.
    pub source: String,
    /// Verdict per core.
    pub outcomes: Vec<Outcome>,
}

/// The case x core matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    /// Cores, in order.
    pub cores: Vec<String>,
    /// Cases, in order.
    pub cases: Vec<CaseResult>,
}

impl Matrix {
    /// Whether every core passed every case.
    pub fn all_passed(&self) -> bool {
        self.cases
            .iter()
            .all(|c| c.outcomes.iter().all(|o| o.passed))
    }

    /// Names of the cases `core` failed.
    pub fn failures_of(&self, core: &str) -> Vec<String> {
        self.cases
            .iter()
            .filter(|c| c.outcomes.iter().any(|o| o.core == core && !o.passed))
            .map(|c| c.name.clone())
            .collect()
    }

    /// The matrix as the results file records it.
    pub fn to_results(&self) -> pb_results::Conformance {
        pb_results::Conformance {
            cases: self
                .cases
                .iter()
                .map(|c| pb_results::ConformanceCase {
                    name: c.name.clone(),
                    source: c.source.clone(),
                    outcomes: c
                        .outcomes
                        .iter()
                        .map(|o| pb_results::ConformanceOutcome {
                            core: o.core.clone(),
                            passed: o.passed,
                            reason: o.reason.clone(),
                            detail: o.detail.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The matrix as a text table, with the reason under each failure.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let width = self
            .cases
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = write!(out, "{:<width$}", "case");
        for core in &self.cores {
            let _ = write!(out, "  {core:>12}");
        }
        out.push('\n');
        for case in &self.cases {
            let _ = write!(out, "{:<width$}", case.name);
            for core in &self.cores {
                let mark = match case.outcomes.iter().find(|o| &o.core == core) {
                    Some(o) if o.passed => "pass",
                    Some(_) => "FAIL",
                    None => "-",
                };
                let _ = write!(out, "  {mark:>12}");
            }
            out.push('\n');
            for o in &case.outcomes {
                let line = if o.passed {
                    o.detail.as_deref()
                } else {
                    Some(o.reason.as_deref().unwrap_or("failed"))
                };
                if let Some(line) = line {
                    let _ = writeln!(out, "    {}: {line}", o.core);
                }
            }
        }
        let failed: usize = self
            .cases
            .iter()
            .map(|c| c.outcomes.iter().filter(|o| !o.passed).count())
            .sum();
        let total: usize = self.cases.iter().map(|c| c.outcomes.len()).sum();
        let _ = writeln!(out, "\n{} passed, {failed} failed", total - failed);
        out
    }
}

impl Kind {
    /// The scenario a case of this kind runs the core as
    /// (`pb_core::Scenario::name`).
    pub fn scenario(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Http => "http-forward",
        }
    }
}

/// Runs every case whose name contains `filter` against `cores`, each
/// core with the cases of the scenarios `serves(core, scenario)` says it
/// serves (the matrix shows `-` for the rest: a reference proxy is no
/// echo server). `progress` sees the [`Stage::Conformance`] stage, one
/// step per check and a note per failure.
pub fn run_matrix(
    exe: &Path,
    proxy_args: &[String],
    cores: &[String],
    serves: &dyn Fn(&str, &str) -> bool,
    filter: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<Matrix, SuiteError> {
    let selected: Vec<&Case> = CASES
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect();
    let cores_of = |case: &Case| -> Vec<&String> {
        cores
            .iter()
            .filter(|core| serves(core, case.kind.scenario()))
            .collect()
    };
    let checks: usize = selected.iter().map(|case| cores_of(case).len()).sum();
    progress.event(Event::Stage {
        stage: Stage::Conformance,
        planned: checks as Units,
        title: &format!(
            "{} cases x {} cores, {checks} checks",
            selected.len(),
            cores.len()
        ),
    });
    let suite = Suite::start(exe, proxy_args)?;
    let mut cases = Vec::new();
    for case in selected {
        let mut outcomes = Vec::new();
        for core in cores_of(case) {
            let ctx = Ctx::new(&suite, core);
            let verdict = (case.run)(&ctx);
            let line = format!(
                "{:<44} {core:<12} {}",
                case.name,
                match &verdict {
                    Ok(()) => "pass".to_owned(),
                    Err(e) => format!("FAIL: {e}"),
                }
            );
            progress.event(Event::Step {
                units: 1,
                what: &format!("{core}: {}", case.name),
                line: &line,
            });
            if verdict.is_err() {
                progress.event(Event::Note(&format!("conformance {line}")));
            }
            outcomes.push(Outcome {
                core: core.clone(),
                passed: verdict.is_ok(),
                reason: verdict.err(),
                detail: ctx.notes(),
            });
        }
        cases.push(CaseResult {
            name: case.name.to_owned(),
            source: case.source.to_owned(),
            outcomes,
        });
    }
    Ok(Matrix {
        cores: cores.to_vec(),
        cases,
    })
}
