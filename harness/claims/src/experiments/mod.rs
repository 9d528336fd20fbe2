//! The experiments: what each runs (scenario files of
//! `scenarios/claims/`, built in) and how its figures decide the claims
//! that name it.
//!
//! | experiment | claims | runs |
//! |---|---|---|
//! | [`scaling`] | 1a, 1b | 100-byte echo, closed loop, at 1 serving thread and each doubling the machine allows; HTTP forwarding beside it (figures) |
//! | [`imbalance`] | 2 | HTTP forwarding with one connection in 8 heavy, 2 serving threads, work stealing vs thread-per-core |
//! | [`buffer`] | 3 | tower behind `Buffer` vs cloned: a light call at a fixed rate; a heavy call at 1 and 2 threads |
//! | [`borrow`] | 4 | the `cargo bench` stacks in this process (ns per call), and the Buffer experiment's tower-clone vs borrowing cores |
//! | [`reload`] | 5 | a route and pool change halfway through each trial, through the admin endpoint, on every core (borrowing ones by each strategy) |
//! | [`context`] | 6 | filter-chain vs filter-chain-ctx at a fixed rate |
//! | [`dynamic`] | 7 | one filter natively, as WASM (JIT, interpreter), as a script, over IPC: per decision in this process, and in a core beside no filter, round by round |

pub mod borrow;
pub mod buffer;
pub mod context;
pub mod dynamic;
pub mod imbalance;
pub mod reload;
pub mod scaling;

use std::path::Path;

use pb_results::claims::{ClaimFigure, ClaimVerdict};
use pb_scenario::ScenarioFile;

use crate::lab::Lab;
use crate::{ClaimsError, Request};

/// How an experiment runs: its scenario files through the lab, its
/// claims judged.
pub(crate) type RunFn = fn(&mut Lab<'_>) -> Result<Vec<Judged>, ClaimsError>;

/// An experiment of `proxybench claims`.
#[derive(Debug)]
pub struct Experiment {
    /// Its name (the ledger's `experiment`, `--only`).
    pub name: &'static str,
    /// What it does, in a line.
    pub about: &'static str,
    /// Its scenario files: name and built-in text.
    pub scenarios: &'static [(&'static str, &'static str)],
    /// Runs it and judges its claims; `None` for an experiment this build
    /// does not have yet (its claims are reported as not testable).
    pub(crate) run: Option<RunFn>,
}

/// Every experiment, in ledger order.
pub const ALL: &[Experiment] = &[
    scaling::EXPERIMENT,
    imbalance::EXPERIMENT,
    buffer::EXPERIMENT,
    borrow::EXPERIMENT,
    reload::EXPERIMENT,
    context::EXPERIMENT,
    dynamic::EXPERIMENT,
];

/// What an experiment concluded about one claim.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The claim's id.
    pub claim: &'static str,
    /// Its verdict here.
    pub verdict: ClaimVerdict,
    /// Why, with the deciding figure.
    pub reason: String,
    /// What was measured.
    pub figures: Vec<ClaimFigure>,
    /// What limits it.
    pub flags: Vec<String>,
    /// Results files, relative to the ledger.
    pub results: Vec<String>,
}

impl Judged {
    /// A claim whose figures could not be had (a core unavailable or not
    /// counting, too few trials): not testable here, and why.
    pub(crate) fn cannot(claim: &'static str, why: String, results: Vec<String>) -> Judged {
        Judged {
            claim,
            verdict: ClaimVerdict::CannotTest,
            reason: why,
            figures: Vec::new(),
            flags: Vec::new(),
            results,
        }
    }
}

/// The experiments `only` names (all when `None`), in ledger order.
pub fn select(only: Option<&[String]>) -> Result<Vec<&'static Experiment>, ClaimsError> {
    let Some(only) = only else {
        return Ok(ALL.iter().collect());
    };
    for name in only {
        if !ALL.iter().any(|e| e.name == name) {
            let known: Vec<&str> = ALL.iter().map(|e| e.name).collect();
            return Err(ClaimsError::UnknownExperiment(
                name.clone(),
                known.join(", "),
            ));
        }
    }
    Ok(ALL
        .iter()
        .filter(|e| only.iter().any(|n| n == e.name))
        .collect())
}

/// An experiment's built-in scenario file called `name`, checked against
/// the registered cores.
pub(crate) fn scenario(
    experiment: &Experiment,
    name: &str,
    request: &Request,
) -> Result<ScenarioFile, ClaimsError> {
    let (_, text) = experiment
        .scenarios
        .iter()
        .find(|(n, _)| *n == name)
        .expect("experiments name their own files");
    let path = format!("scenarios/claims/{name}.toml (built in)");
    let file = ScenarioFile::parse(text, Path::new(&path))?;
    let known: Vec<&str> = request.cores.iter().map(|c| c.name.as_str()).collect();
    file.check_cores(&known)?;
    Ok(file)
}

/// Every available core the `selected` experiments' scenario files
/// list, in first-listed order: what the conformance suite checks.
pub fn cores_used(selected: &[&Experiment], request: &Request) -> Result<Vec<String>, ClaimsError> {
    let mut used: Vec<String> = Vec::new();
    for experiment in selected.iter().filter(|e| e.run.is_some()) {
        for (name, _) in experiment.scenarios {
            let file = scenario(experiment, name, request)?;
            for core in file.cells.iter().flat_map(|c| c.cores.iter().flatten()) {
                let available = request
                    .cores
                    .iter()
                    .any(|c| &c.name == core && c.availability.is_ok());
                if available && !used.contains(core) {
                    used.push(core.clone());
                }
            }
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_file_parses_and_every_claim_has_an_experiment() {
        for experiment in ALL {
            for (name, text) in experiment.scenarios {
                ScenarioFile::parse(text, Path::new(name))
                    .unwrap_or_else(|e| panic!("{}: {e}", experiment.name));
            }
        }
        let names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        for claim in crate::ledger::builtin() {
            assert!(names.contains(&claim.experiment.as_str()), "{}", claim.id);
        }
    }

    #[test]
    fn only_selects_by_name_and_refuses_the_unknown() {
        let picked = select(Some(&["context".to_owned(), "scaling".to_owned()])).unwrap();
        let names: Vec<&str> = picked.iter().map(|e| e.name).collect();
        assert_eq!(names, ["scaling", "context"]);
        let error = select(Some(&["tarot".to_owned()])).unwrap_err().to_string();
        assert!(error.contains("unknown experiment \"tarot\""), "{error}");
        assert_eq!(select(None).unwrap().len(), ALL.len());
    }
}
