//! `proxybench claims` as a user runs it: experiments through the real
//! runner, a ledger that matches its schema, a row for every claim of the
//! ledger with a verdict or the reason there is none, the experiments'
//! results files and the page.

mod common;

use common::{proxybench, schema_errors, text};

fn ledger_errors(json: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(pb_results::claims::LEDGER_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator.iter_errors(json).map(|e| e.to_string()).collect()
}

#[test]
fn quick_claims_judge_what_ran_and_say_why_the_rest_did_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(
        &[
            "claims",
            "--quick",
            "--skip-conform",
            "--only",
            "context,borrow,reload,dynamic",
            "--out",
            "claims-results",
            "--reports",
            "claims-reports",
        ],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let latest = dir.path().join("claims-results/latest.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    assert_eq!(ledger_errors(&json), Vec::<String>::new());
    let ledger = pb_results::io::read_ledger(&latest).unwrap();
    let ids: Vec<&str> = ledger.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["1a", "1b", "2", "3", "4", "5", "6", "7"]);
    let run_dir = dir.path().join("claims-results").join(&ledger.run_id);
    for claim in &ledger.claims {
        // Every row is printed, with its reason.
        assert!(stdout.contains(&claim.reason), "{} not printed", claim.id);
        match claim.id.as_str() {
            "4" | "6" => {
                assert!(
                    claim.figures.iter().any(|f| f.deciding),
                    "{}: {:?}",
                    claim.id,
                    claim.figures
                );
                assert!(!claim.results.is_empty(), "{}", claim.id);
                for file in &claim.results {
                    let results: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(run_dir.join(file)).unwrap())
                            .unwrap();
                    assert_eq!(schema_errors(&results), Vec::<String>::new(), "{file}");
                }
            }
            "5" => {
                // Correctness does not depend on the trials' length.
                assert_eq!(
                    claim.verdict,
                    pb_results::claims::ClaimVerdict::Holds,
                    "{}",
                    claim.reason
                );
                assert_eq!(claim.results, ["reload.json"]);
                // What an update costs, on every case.
                let costs = claim
                    .figures
                    .iter()
                    .filter(|f| f.label.starts_with("core CPU per update"))
                    .count();
                assert!(costs >= 10, "{:?}", claim.figures);
                let results: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(run_dir.join("reload.json")).unwrap())
                        .unwrap();
                assert_eq!(schema_errors(&results), Vec::<String>::new());
                let results: pb_results::Results = serde_json::from_value(results).unwrap();
                // Every core, the borrowing ones once per strategy.
                assert!(results.cells.len() >= 10, "{}", results.cells.len());
                for cell in &results.cells {
                    let origins: std::collections::BTreeSet<&str> = cell
                        .trials
                        .iter()
                        .flat_map(|t| &t.intervals)
                        .flat_map(|i| i.origins.keys().map(String::as_str))
                        .collect();
                    assert_eq!(
                        origins.into_iter().collect::<Vec<_>>(),
                        ["new-1", "new-2", "old-1", "old-2"],
                        "{}: both pools answered, nothing else did",
                        cell.core
                    );
                }
            }
            "7" => {
                assert!(claim.figures.iter().filter(|f| f.deciding).count() == 2);
                assert_eq!(claim.results, ["dynamic.json"]);
                let results: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(run_dir.join("dynamic.json")).unwrap())
                        .unwrap();
                assert_eq!(schema_errors(&results), Vec::<String>::new());
                let results: pb_results::Results = serde_json::from_value(results).unwrap();
                // No filter and each engine, every round kept.
                let engines: Vec<Option<&str>> = results
                    .cells
                    .iter()
                    .map(|c| {
                        let http = c.params.http.as_ref().unwrap();
                        http.filter.as_ref().map(|f| f.engine.as_str())
                    })
                    .collect();
                assert_eq!(
                    engines,
                    [
                        None,
                        Some("native"),
                        Some("wasmtime"),
                        Some("wasmi"),
                        Some("rhai"),
                        Some("ipc")
                    ]
                );
                // As many rounds as the file asks trials, every one kept.
                let rounds = results.cells[0].params.trials;
                assert!(rounds >= 5, "{rounds}");
                for cell in &results.cells {
                    assert_eq!(cell.trials.len(), rounds as usize, "{}", cell.id);
                    assert_eq!(cell.params.trials, rounds, "{}", cell.id);
                    assert!(cell.summary.is_some(), "{}", cell.id);
                    let indices: Vec<u32> = cell.trials.iter().map(|t| t.index).collect();
                    assert_eq!(indices, (0..rounds).collect::<Vec<_>>(), "{}", cell.id);
                    // Every request carried the token and was forwarded.
                    assert!(
                        cell.trials.iter().all(|t| t.errors == 0 && t.requests > 0),
                        "{}",
                        cell.id
                    );
                }
            }
            _ => {
                assert_eq!(claim.verdict, pb_results::claims::ClaimVerdict::CannotTest);
                assert!(claim.reason.contains("--only left out"), "{}", claim.reason);
            }
        }
    }
    // Claim 4 reads the Buffer experiment's cores, run once for it.
    let four = &ledger.claims[4];
    assert_eq!(four.results, ["buffer-1t.json"]);
    assert!(
        four.figures.iter().any(|f| f
            .label
            .contains("tokio-tpc/tower-clone vs tokio-tpc/borrowing")),
        "{:?}",
        four.figures
    );
    assert!(
        four.figures
            .iter()
            .any(|f| f.label.starts_with("allocations per call")),
        "{:?}",
        four.figures
    );
    let page = std::fs::read_to_string(
        dir.path()
            .join("claims-reports")
            .join(&ledger.run_id)
            .join("index.html"),
    )
    .unwrap();
    for claim in &ledger.claims {
        assert!(
            page.contains(&format!("id=\"claim-{}\"", claim.id)),
            "{}",
            claim.id
        );
    }
    assert!(
        dir.path()
            .join("claims-reports")
            .join(&ledger.run_id)
            .join("context/index.html")
            .exists()
    );
}

#[test]
fn an_unknown_experiment_is_a_usage_error_that_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(&["claims", "--only", "horoscope"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown experiment \"horoscope\""),
        "{stderr}"
    );
    assert!(stderr.contains("scaling, imbalance, buffer"), "{stderr}");
}
