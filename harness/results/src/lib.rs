//! The results file: what a run measured, in a form other tools (the
//! report, the gate, `jq`) can rely on.
//!
//! | module | role |
//! |---|---|
//! | [`model`] | the serde types; [`SCHEMA_VERSION`] and the committed schema ([`SCHEMA_JSON`]) describe them; the [`DIRECT`] pseudo-core's name; [`Trial::figure`] for each judged metric |
//! | [`hdr`] | the `.hgrm` percentile distribution and `.hlog` interval log HdrHistogram's tools read |
//! | [`hist`] | the one histogram shape ([`hist::new_histogram`]: bounds and precision), HdrHistogram encoding (compressed V2, base64: the standard `HISTF…` form) and percentiles |
//! | [`summary`] | per-cell summaries from trials: medians ([`pb_stats::median`]), spreads, merged latency |
//! | [`icount`] | the instruction-count file `pb-icount` writes and the gate reads |
//! | [`io`] | reading and writing result files, with the path in every error |
//! | [`merge`] | exact combination of files from several drivers (histograms added) |
//! | [`fleet`] | the record of a trial driven from several hosts at once: each host's share, clock offset, start and figures |
//! | [`export`] | one CSV row per trial and cell, for notebooks and dashboards |
//! | [`soak`] | the soak verdict: memory, descriptors and errors over a long fixed-rate trial |
//! | [`claims`] | the claims ledger `proxybench claims` writes, with its own schema ([`claims::LEDGER_SCHEMA_JSON`]) |
//!
//! Raw per-trial figures are always kept; summaries are derived and can be
//! recomputed, and histograms merge exactly across trials or driver hosts.

pub mod claims;
pub mod export;
pub mod fleet;
pub mod hdr;
pub mod hist;
pub mod icount;
pub mod io;
pub mod merge;
pub mod model;
pub mod network;
pub mod soak;
pub mod summary;

pub use crate::model::*;

/// Version of the results format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The committed JSON Schema for [`Results`], draft 2020-12.
pub const SCHEMA_JSON: &str = include_str!("../schema/results.schema.json");
