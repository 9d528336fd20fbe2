//! The runner behind `proxybench run`: a scenario file in, results, HdrHistogram
//! files, a report and a verdict out. The binary parses options and calls
//! [`pipeline::run`]; `proxybench load` goes through the same cell ->
//! load spec -> id -> results cell path (`pb_scenario::Cell`).
//!
//! The pipeline's stages, in order ([`pipeline`]):
//!
//! | stage | where |
//! |---|---|
//! | plan: overrides applied and checked, cores chosen | [`pipeline::plan`] |
//! | conform: the conformance suite on every core the plan runs | [`pipeline::conform`] |
//! | trials, then the rate search, cell by cell, interleaved across cores | [`matrix::run`] |
//! | results: conformance merged, results JSON and `.hgrm`/`.hlog` written | [`pipeline::write_results`] |
//! | report: HTML and PNG | `pb_report::publish_run` |
//! | verdict: failed cells, errors or conformance failures fail the run | [`pipeline::verdict`] |
//!
//! | module | what it holds |
//! |---|---|
//! | [`pipeline`] | the stages above, and [`pipeline::run`] that chains them |
//! | [`plan`] | splitting the allowed CPUs between core, driver and origin ([`CpuPlan`](pb_results::CpuPlan)) |
//! | [`matrix`] | for each cell, start every core, run trials interleaved across cores (A B C A B C ...); in an A/B run each core of a baseline build beside this build's, A B B A |
//! | [`measure`] | one driver run (or a rate search) against a target -> a results trial, with the target's CPU sampled at the window edges |
//! | `network` | a cell's network path (`network = "lan"`): the namespaces and links made for it ([`pb_netpath`]), who is started in which, what the results record; loopback when none can be made, with the reason |
//! | [`fleet`] | a driver fleet (`--drivers`): each host's clock probed over SSH, its share of the load started at a shared instant, the hosts' results merged exactly |
//! | `external` | a cell driven by an external client (`client = "wrk"`): wrk run, its output parsed into the same trial, its responses marked unverified |
//! | [`rendezvous`] | two runs kept in step trial by trial (the paired gate's duets) |
//! | [`env`] | the machine: kernel, CPU, rustc, git revision, io_uring, memlock |
//! | [`table`] | the readable table printed at the end |
//!
//! The runner never links a core: it knows them by name and starts them
//! through the `proxybench proxy` process interface (`pb-process`).

pub mod env;
mod external;
pub mod fleet;
pub mod matrix;
pub mod measure;
mod network;
pub mod pipeline;
pub mod plan;
pub mod rendezvous;
pub mod table;

pub use crate::matrix::{Baseline, CoreEntry, RunConfig, RunnerError};
