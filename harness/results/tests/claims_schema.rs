//! The claims ledger against its committed schema: a ledger written by
//! the model validates and reads back; what the schema exists to refuse,
//! it refuses.

use pb_results::claims::*;

fn sample() -> Ledger {
    let figure = |deciding| ClaimFigure {
        label: "core CPU µs/req, a vs b".into(),
        value: -12.5,
        unit: "%".into(),
        interval: Some([-15.0, -10.0]),
        deciding,
    };
    let claim = |id: &str, verdict, figures| ClaimOutcome {
        id: id.into(),
        title: "t".into(),
        claim: "c".into(),
        source: "s".into(),
        experiment: "scaling".into(),
        decides: "d".into(),
        verdict,
        reason: "why".into(),
        figures,
        flags: vec!["threads share CPUs".into()],
        results: vec!["scaling-1t.json".into()],
    };
    Ledger {
        kind: LEDGER_KIND.into(),
        version: LEDGER_VERSION,
        run_id: "20261205T120000Z".into(),
        started_at: "2026-12-05T12:00:00Z".into(),
        finished_at: "2026-12-05T12:05:00Z".into(),
        tool_version: "0.1.0 (abc)".into(),
        machine: LedgerMachine {
            cpus: 2,
            cpu_model: "x".into(),
            kernel: "Linux 6".into(),
            git_revision: "abc".into(),
            io_uring_unavailable: None,
        },
        claims: vec![
            claim("1a", ClaimVerdict::Holds, vec![figure(true), figure(false)]),
            claim("1b", ClaimVerdict::CannotTest, Vec::new()),
        ],
    }
}

fn errors(value: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(LEDGER_SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_ledger_validates_writes_and_reads_back() {
    let ledger = sample();
    assert_eq!(
        errors(&serde_json::to_value(&ledger).unwrap()),
        Vec::<String>::new()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/ledger.json");
    pb_results::io::write_ledger(&ledger, &path).unwrap();
    assert_eq!(pb_results::io::read_ledger(&path).unwrap(), ledger);
}

#[test]
fn the_schema_refuses_a_verdict_without_its_figure_and_unknown_words() {
    let good = serde_json::to_value(sample()).unwrap();
    let mut no_deciding = good.clone();
    no_deciding["claims"][0]["figures"][0]["deciding"] = false.into();
    assert!(
        !errors(&no_deciding).is_empty(),
        "a holding claim needs a deciding figure"
    );
    let mut unknown = good.clone();
    unknown["claims"][1]["verdict"] = "plausible".into();
    assert!(!errors(&unknown).is_empty());
    let mut other_kind = good;
    other_kind["kind"] = "proxybench-results".into();
    assert!(!errors(&other_kind).is_empty());
}

#[test]
fn reading_another_kind_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.json");
    std::fs::write(&path, r#"{"kind":"proxybench-icount","version":1}"#).unwrap();
    let error = pb_results::io::read_ledger(&path).unwrap_err().to_string();
    assert!(
        error.contains("not a proxybench-claims version 1 file"),
        "{error}"
    );
    assert!(error.contains("x.json"), "{error}");
}
