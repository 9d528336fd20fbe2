//! What can go wrong while making a report. Every variant names the file it
//! failed on, because a report reads up to two results files and writes
//! many: "invalid histogram" alone would leave the user guessing which.

use std::path::PathBuf;

use pb_results::hist::HistogramDecodeError;
use pb_results::io::ResultsIoError;

/// A report that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A results file could not be read or is not one this version reads
    /// (its message already names the file).
    #[error(transparent)]
    Read(#[from] ResultsIoError),
    /// A trial's latency histogram could not be decoded or merged.
    #[error("{path}: cell {cell}: {source}")]
    Histogram {
        /// The results file.
        path: PathBuf,
        /// The cell whose histogram is bad.
        cell: String,
        /// What went wrong.
        #[source]
        source: HistogramError,
    },
    /// `--reference` named a core that has no cell in the results.
    #[error("{path}: no cell of core {core:?} to use as the reference; cores here: {known}")]
    UnknownReference {
        /// The results file.
        path: PathBuf,
        /// The core asked for.
        core: String,
        /// The cores that do appear, comma-separated.
        known: String,
    },
    /// A directory of reports could not be listed, or a file in it read
    /// (the index of runs).
    #[error("{path}: {source}")]
    List {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory of the report could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// plotters could not draw a chart, or the PNG could not be encoded.
    #[error("{path}: drawing the chart failed: {message}")]
    Chart {
        /// The PNG being drawn.
        path: PathBuf,
        /// What plotters or the encoder said.
        message: String,
    },
    /// The HTML template could not be rendered.
    #[error("{path}: rendering template {template}: {source}")]
    Template {
        /// The HTML file being written.
        path: PathBuf,
        /// The template (under `harness/report/templates/`).
        template: String,
        /// What minijinja said, with the template line.
        #[source]
        source: minijinja::Error,
    },
    /// The font compiled into this binary was rejected by the rasteriser.
    #[error("the embedded font {name} could not be loaded")]
    Font {
        /// File name of the embedded font.
        name: &'static str,
    },
}

/// Why a cell's trial histograms gave no merged histogram.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// A trial's histogram is not valid `HISTF…` text.
    #[error(transparent)]
    Decode(#[from] HistogramDecodeError),
    /// Two trials' histograms cannot be added (incompatible ranges).
    #[error("trial histograms do not add up: {0}")]
    Add(String),
    /// The cell has no trials to merge.
    #[error("no trials to merge")]
    NoTrials,
}
