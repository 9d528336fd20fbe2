//! The claims ledger as `proxybench claims` writes it: every claim of the
//! design article with what was measured here and its verdict. Versioned
//! on its own ([`LEDGER_KIND`], [`LEDGER_VERSION`]) and described by the
//! committed [`LEDGER_SCHEMA_JSON`]; the experiments' own measurements are
//! ordinary results files, which the ledger names.

use serde::{Deserialize, Serialize};

/// What a ledger file says it is.
pub const LEDGER_KIND: &str = "proxybench-claims";

/// Its format version.
pub const LEDGER_VERSION: u32 = 1;

/// The committed JSON schema of a ledger file.
pub const LEDGER_SCHEMA_JSON: &str = include_str!("../schema/claims.schema.json");

/// The ledger of one `proxybench claims` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// [`LEDGER_KIND`].
    pub kind: String,
    /// [`LEDGER_VERSION`].
    pub version: u32,
    /// Unique id of the run (UTC timestamp).
    pub run_id: String,
    /// When the run began, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// proxybench's version and revision.
    pub tool_version: String,
    /// The machine the verdicts hold for.
    pub machine: LedgerMachine,
    /// Every claim, in the ledger's order.
    pub claims: Vec<ClaimOutcome>,
}

/// What about the machine decides which experiments it can settle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerMachine {
    /// CPUs the run could use.
    pub cpus: usize,
    /// CPU model.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Source revision of proxybench.
    pub git_revision: String,
    /// `None` when io_uring works, else why not.
    pub io_uring_unavailable: Option<String>,
}

/// A claim's verdict here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimVerdict {
    /// The deciding figure shows what the claim says, beyond the
    /// practical threshold and significantly.
    Holds,
    /// It shows the opposite, or a difference too small to be the one
    /// claimed, significantly.
    DoesNotHold,
    /// The figures cannot tell: the interval spans both readings.
    WithinNoise,
    /// This machine (or this build) cannot run the deciding experiment;
    /// the reason says why and what it would need.
    CannotTest,
}

impl ClaimVerdict {
    /// The words a table prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::DoesNotHold => "does not hold",
            ClaimVerdict::WithinNoise => "within noise",
            ClaimVerdict::CannotTest => "cannot be tested here",
        }
    }
}

/// One claim: its words (paraphrased), where it was made, how it was
/// tested here, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimOutcome {
    /// Stable id (`1a`, `2`, ...).
    pub id: String,
    /// A few words.
    pub title: String,
    /// What the claim says, paraphrased.
    pub claim: String,
    /// Where it was made.
    pub source: String,
    /// The experiment that tests it (a name in `proxybench claims --help`).
    pub experiment: String,
    /// The figure that decides it, in words.
    pub decides: String,
    /// The verdict.
    pub verdict: ClaimVerdict,
    /// Why, in one or two sentences with the deciding figure.
    pub reason: String,
    /// What was measured for it.
    pub figures: Vec<ClaimFigure>,
    /// What limits the measurement here (threads sharing CPUs, a
    /// driver-bound cell, a core that failed conformance).
    pub flags: Vec<String>,
    /// The results files the figures come from, relative to the ledger.
    pub results: Vec<String>,
}

/// One measured figure of a claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimFigure {
    /// What it is (`CPU µs/request, monoio vs tokio-tower, 1 thread`).
    pub label: String,
    /// Its value in `unit`.
    pub value: f64,
    /// `%` for a relative change, or the figure's own unit.
    pub unit: String,
    /// Its interval, when it has one (a Hodges-Lehmann shift's).
    pub interval: Option<[f64; 2]>,
    /// Whether this is the figure the verdict rests on.
    pub deciding: bool,
}
