//! The claims ledger as a page: one row per claim of the design article
//! with its verdict, the deciding figure and why, then each claim in
//! full (its words, source, experiment, every figure, what limits the
//! measurement) with links to the experiments' own reports, which
//! `proxybench claims` renders beside the page, one directory per results
//! file.

use std::path::{Path, PathBuf};

use pb_results::claims::{ClaimFigure, ClaimVerdict, Ledger};
use serde::Serialize;

use crate::error::ReportError;
use crate::html::write_page;

/// Template name, for errors.
const PAGE: &str = "claims.html.j2";

#[derive(Serialize)]
struct Page<'a> {
    ledger: &'a Ledger,
    counts: Vec<(String, usize)>,
    rows: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    title: &'a str,
    claim: &'a str,
    source: &'a str,
    experiment: &'a str,
    decides: &'a str,
    verdict: &'static str,
    /// CSS class of the verdict's badge.
    class: &'static str,
    reason: &'a str,
    deciding: Vec<Figure>,
    figures: Vec<Figure>,
    flags: &'a [String],
    /// Each results file and its report's directory.
    reports: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Figure {
    label: String,
    value: String,
    interval: String,
}

fn figure(f: &ClaimFigure) -> Figure {
    let number = |v: f64| {
        if f.unit == "%" {
            format!("{v:+.1}")
        } else if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    let unit = if f.unit == "%" {
        " %".to_owned()
    } else {
        format!(" {}", f.unit)
    };
    Figure {
        label: f.label.clone(),
        value: format!("{}{unit}", number(f.value)),
        interval: f.interval.map_or(String::new(), |[a, b]| {
            format!("[{} … {}]{unit}", number(a), number(b))
        }),
    }
}

fn class(verdict: ClaimVerdict) -> &'static str {
    match verdict {
        ClaimVerdict::Holds => "win",
        ClaimVerdict::DoesNotHold => "err",
        ClaimVerdict::WithinNoise => "bound",
        ClaimVerdict::CannotTest => "ref",
    }
}

/// Writes the ledger's page to `dir/index.html`; returns its path.
pub fn write(ledger: &Ledger, dir: &Path) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let verdicts = [
        ClaimVerdict::Holds,
        ClaimVerdict::DoesNotHold,
        ClaimVerdict::WithinNoise,
        ClaimVerdict::CannotTest,
    ];
    let page = Page {
        ledger,
        counts: verdicts
            .iter()
            .map(|v| {
                let n = ledger.claims.iter().filter(|c| c.verdict == *v).count();
                (v.as_str().to_owned(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        rows: ledger
            .claims
            .iter()
            .map(|c| Row {
                id: &c.id,
                title: &c.title,
                claim: &c.claim,
                source: &c.source,
                experiment: &c.experiment,
                decides: &c.decides,
                verdict: c.verdict.as_str(),
                class: class(c.verdict),
                reason: &c.reason,
                deciding: c
                    .figures
                    .iter()
                    .filter(|f| f.deciding)
                    .map(figure)
                    .collect(),
                figures: c.figures.iter().map(figure).collect(),
                flags: &c.flags,
                reports: c
                    .results
                    .iter()
                    .map(|file| {
                        let slug = file.strip_suffix(".json").unwrap_or(file);
                        (file.clone(), format!("{slug}/{}", crate::INDEX))
                    })
                    .collect(),
            })
            .collect(),
    };
    let path = dir.join(crate::INDEX);
    write_page(
        &path,
        PAGE,
        include_str!("../templates/claims.html.j2"),
        &page,
    )?;
    Ok(path)
}
