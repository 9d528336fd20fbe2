//! The claims as data: `scenarios/claims/ledger.toml`, built in. Each
//! claim's words, source, experiment and deciding figure live there, so
//! that rewording a claim or pointing it at another experiment is an
//! edit of data; what the experiment measures and how its figures become
//! a verdict is code ([`crate::experiments`]).

use serde::Deserialize;

/// The ledger's text, as committed.
pub const LEDGER_TOML: &str = include_str!("../../../scenarios/claims/ledger.toml");

/// Where [`LEDGER_TOML`] comes from, for messages.
pub const LEDGER_SOURCE: &str = "scenarios/claims/ledger.toml";

/// One claim, as the ledger states it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Stable id (`1a`, `2`, ...).
    pub id: String,
    /// A few words.
    pub title: String,
    /// The claim, paraphrased.
    pub claim: String,
    /// Where it was made.
    pub source: String,
    /// The experiment that tests it ([`crate::experiments::ALL`]).
    pub experiment: String,
    /// The figure that decides it, in words.
    pub decides: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    claim: Vec<Claim>,
}

/// A ledger that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{LEDGER_SOURCE}: {0}")]
pub struct LedgerError(String);

/// The claims of `text`, checked: ids unique, every experiment known.
pub fn parse(text: &str) -> Result<Vec<Claim>, LedgerError> {
    let file: File = toml::from_str(text).map_err(|e| LedgerError(e.to_string()))?;
    let known: Vec<&str> = crate::experiments::ALL.iter().map(|e| e.name).collect();
    for (i, claim) in file.claim.iter().enumerate() {
        if file.claim[..i].iter().any(|c| c.id == claim.id) {
            return Err(LedgerError(format!(
                "claim id {:?} appears twice",
                claim.id
            )));
        }
        if !known.contains(&claim.experiment.as_str()) {
            return Err(LedgerError(format!(
                "claim {}: unknown experiment {:?}; known: {}",
                claim.id,
                claim.experiment,
                known.join(", ")
            )));
        }
    }
    Ok(file.claim)
}

/// The built-in ledger.
pub fn builtin() -> Vec<Claim> {
    parse(LEDGER_TOML).expect("the built-in ledger is checked by a test")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_ledger_names_every_claim_of_the_article_once() {
        let claims = builtin();
        let ids: Vec<&str> = claims.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1a", "1b", "2", "3", "4", "5", "6", "7"]);
        assert!(claims.iter().all(|c| !c.decides.is_empty()));
    }

    #[test]
    fn an_unknown_experiment_or_a_repeated_id_is_refused_by_name() {
        let claim = |id: &str, experiment: &str| {
            format!(
                "[[claim]]\nid = \"{id}\"\ntitle = \"t\"\nclaim = \"c\"\nsource = \"s\"\nexperiment = \"{experiment}\"\ndecides = \"d\"\n"
            )
        };
        let error = parse(&claim("9", "astrology")).unwrap_err().to_string();
        assert!(
            error.contains("unknown experiment \"astrology\""),
            "{error}"
        );
        let twice = format!("{}{}", claim("9", "scaling"), claim("9", "buffer"));
        let error = parse(&twice).unwrap_err().to_string();
        assert!(error.contains("\"9\" appears twice"), "{error}");
        let error = parse("[[claim]]\nid = \"1\"\n").unwrap_err().to_string();
        assert!(error.starts_with(LEDGER_SOURCE), "{error}");
    }
}
