//! Reading and writing result files. Every error names the file.

use std::path::{Path, PathBuf};

use crate::{Results, SCHEMA_VERSION};

/// A result file that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsIoError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not a results file proxybench can read.
    #[error("{path}: not a valid results file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes `results` as `<dir>/latest.json` and `<dir>/<run_id>.json`;
/// returns both paths.
pub fn write_results(results: &Results, dir: &Path) -> Result<(PathBuf, PathBuf), ResultsIoError> {
    std::fs::create_dir_all(dir).map_err(|source| ResultsIoError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let json = to_json(results);
    let stamped = dir.join(format!("{}.json", results.run_id));
    let latest = dir.join("latest.json");
    for path in [&stamped, &latest] {
        write_json(&json, path)?;
    }
    Ok((latest, stamped))
}

/// Writes `results` to `path` (a file the caller named: `merge --out`,
/// `load --out`, a stitched calibration file).
pub fn write_results_file(results: &Results, path: &Path) -> Result<(), ResultsIoError> {
    write_json(&to_json(results), path)
}

fn to_json(results: &Results) -> String {
    serde_json::to_string_pretty(results).expect("results serialise")
}

/// Writes beside, then renames: a reader never sees half a file.
fn write_json(json: &str, path: &Path) -> Result<(), ResultsIoError> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| ResultsIoError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Writes a claims ledger to `path`.
pub fn write_ledger(ledger: &crate::claims::Ledger, path: &Path) -> Result<(), ResultsIoError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ResultsIoError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    write_json(
        &serde_json::to_string_pretty(ledger).expect("a ledger serialises"),
        path,
    )
}

/// Reads a claims ledger, refusing another kind or version by name.
pub fn read_ledger(path: &Path) -> Result<crate::claims::Ledger, ResultsIoError> {
    use crate::claims::{LEDGER_KIND, LEDGER_VERSION};
    let value = read_value(path)?;
    let kind = value.get("kind").and_then(|v| v.as_str());
    let version = value.get("version").and_then(|v| v.as_u64());
    if kind != Some(LEDGER_KIND) || version != Some(u64::from(LEDGER_VERSION)) {
        return Err(format_error(
            path,
            format!(
                "not a {LEDGER_KIND} version {LEDGER_VERSION} file (kind {kind:?}, version {version:?})"
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| format_error(path, e.to_string()))
}

/// A JSON file as a value, before its kind and version are checked.
fn read_value(path: &Path) -> Result<serde_json::Value, ResultsIoError> {
    let text = std::fs::read_to_string(path).map_err(|source| ResultsIoError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| format_error(path, e.to_string()))
}

/// `path` is not a file this proxybench reads, because of `message`.
fn format_error(path: &Path, message: String) -> ResultsIoError {
    ResultsIoError::Format {
        path: path.to_owned(),
        message,
    }
}

/// Reads a results file, refusing other schema versions by name.
pub fn read_results(path: &Path) -> Result<Results, ResultsIoError> {
    let value = read_value(path)?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format_error(
                path,
                format!("schema_version {v}, this proxybench reads {SCHEMA_VERSION}"),
            ));
        }
        None => return Err(format_error(path, "no schema_version".into())),
    }
    serde_json::from_value(value).map_err(|e| format_error(path, e.to_string()))
}
