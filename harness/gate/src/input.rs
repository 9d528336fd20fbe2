//! Reading the two files the gate compares. A file is either a results
//! file (`proxybench run`) or an instruction-count file (`pb-icount`);
//! the kind is read from the file, and both sides must be the same kind.

use std::path::{Path, PathBuf};

use pb_results::Results;
use pb_results::io::{ResultsIoError, read_results};

use pb_results::icount::{ICOUNT_KIND, ICOUNT_VERSION, IcountReport};

/// A gate input that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// File system error (the OS error is the source).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or not a kind of file the gate reads.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A results file proxybench cannot read.
    #[error(transparent)]
    Results(#[from] ResultsIoError),
}

/// A file the gate can compare.
#[derive(Debug, Clone)]
pub enum Input {
    /// Trials of a scenario matrix: the statistical gate.
    Results(Box<Results>),
    /// Instruction counts: the deterministic gate.
    Icount(IcountReport),
}

impl Input {
    /// `results` or `instruction counts`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Results(_) => "a results file",
            Input::Icount(_) => "an instruction-count file",
        }
    }
}

/// Reads a gate input, telling the kinds apart by the `kind` field.
pub fn load(path: &Path) -> Result<Input, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let format = |message: String| InputError::Format {
        path: path.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(format!("not JSON: {e}")))?;
    match value.get("kind").and_then(|k| k.as_str()) {
        Some(ICOUNT_KIND) => {
            match value.get("version").and_then(|v| v.as_u64()) {
                Some(v) if v == u64::from(ICOUNT_VERSION) => {}
                other => {
                    return Err(format(format!(
                        "instruction-count file version {other:?}, this proxybench reads {ICOUNT_VERSION}"
                    )));
                }
            }
            let report: IcountReport = serde_json::from_value(value)
                .map_err(|e| format(format!("not a valid instruction-count file: {e}")))?;
            Ok(Input::Icount(report))
        }
        Some(other) => Err(format(format!(
            "unknown file kind {other:?} (expected a results file or {ICOUNT_KIND:?})"
        ))),
        None => Ok(Input::Results(Box::new(read_results(path)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_and_bad_json_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, r#"{"kind": "something"}"#).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("something"), "{e}");
        std::fs::write(&path, "not json").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("not JSON"), "{e}");
        std::fs::write(&path, r#"{"schema_version": 99}"#).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("x.json") && e.contains("99"), "{e}");
    }
}
