//! The runner behind `proxybench run`: it turns a scenario file into a
//! results file, in this order:
//!
//! | module | step |
//! |---|---|
//! | [`plan`] | split the allowed CPUs between core, driver and origin ([`CpuPlan`](pb_results::CpuPlan)) |
//! | [`process`] | start a core as its own pinned process, wait for its readiness line, sample it in /proc, stop it |
//! | [`measure`] | one driver run (or a rate search) against a target -> a results trial, with the target's CPU sampled at the window edges |
//! | [`matrix`] | for each cell, start every core, run trials interleaved across cores (A B C A B C ...) |
//! | [`env`] | record the machine: kernel, CPU, rustc, git revision, io_uring, memlock |
//! | [`table`] | the readable table printed at the end |
//!
//! The runner never links a core: it knows them by name and talks to them
//! through the `proxybench proxy` process interface.

pub mod env;
pub mod matrix;
pub mod measure;
pub mod plan;
pub mod process;
pub mod table;

pub use crate::matrix::{CoreEntry, RunConfig, RunnerError, run};
