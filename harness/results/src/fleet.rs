//! A trial driven from several hosts at once (`proxybench run --drivers`):
//! what each host was given, how far its clock was from the runner's, when
//! it really started, and what it measured. The trial itself holds the
//! exact merge of every host's ([`crate::merge::merge_trials`]); this
//! record says who contributed what, so a reader can check the sum and
//! see a host that fell behind.

use serde::{Deserialize, Serialize};

/// The first line `proxybench clock` writes: a runner probing a host's
/// clock knows it reached a proxybench (and not a shell's greeting).
pub const CLOCK_HEADER: &str = "proxybench-clock";

/// Every driver host of one trial, in the order they were given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetTrial {
    /// When the hosts were told to start (the runner's clock, Unix ms):
    /// each got this instant in its own clock.
    pub start_at_unix_ms: f64,
    /// One entry per host.
    pub hosts: Vec<FleetHost>,
}

/// One driver host's part of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetHost {
    /// As given to `--drivers` (an SSH destination).
    pub host: String,
    /// Connections it opened (its share of the cell's).
    pub connections: usize,
    /// Requests per second it was asked to send; absent in closed loop.
    pub rate: Option<f64>,
    /// Its clock minus the runner's, ms, from the probe with the shortest
    /// round trip before the cell.
    pub clock_offset_ms: f64,
    /// Half that probe's round trip, ms: the offset is known to ± this.
    pub clock_error_ms: f64,
    /// How long after the shared instant its load began, by its own clock.
    pub start_late_ms: f64,
    /// Verified requests it completed in the window.
    pub requests: u64,
    /// Its failures.
    pub errors: u64,
    /// Its `requests / window`.
    pub qps: f64,
    /// Why it counts as having fallen behind (a late start, or a driver
    /// that could not keep its schedule); absent when it kept up. A host
    /// that fell behind marks the trial driver-bound; one that began late
    /// also voids the trial's core CPU per request (its window and the
    /// core's sampled one differ).
    pub behind: Option<String>,
    /// Its own results file, kept beside the run's (mergeable with
    /// `proxybench merge`), relative to the results directory.
    pub file: Option<String>,
}
