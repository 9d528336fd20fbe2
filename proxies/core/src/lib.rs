//! The core contract: what a proxy core is and what it is told.
//!
//! Every core, whatever its runtime and service composition, implements
//! [`ProxyCore`], starts from the same [`ServeOpts`] (and, for forwarding,
//! the same [`ProxyConfig`]), announces itself with the same
//! [`ReadyLine`] and fails with the same [`ServeError`]. The harness
//! writes the configuration and reads the readiness line through this crate
//! alone; it never links the engine it measures.
//!
//! | module | what it holds |
//! |---|---|
//! | [`core`] | the [`ProxyCore`] trait, [`CoreInfo`] and the [`Requirement`]s a core has of the machine |
//! | [`opts`] | [`ServeOpts`] and [`Scenario`]: address, threads, CPUs, buffer size, limits |
//! | [`config`] | [`ProxyConfig`]: pools, routes, auth, header rules, timeouts, limits (TOML) |
//! | [`ready`] | the readiness line a core prints and the runner parses |
//! | [`probe`] | whether io_uring and locked memory are usable here, behind a trait tests can fake |
//! | [`calibrate`] | [`Spin`]: a known extra cost per request, to calibrate the regression gate |
//! | [`reload`] | [`reload::ConfigBus`]: new configurations published while a core serves, and the [`reload::Strategy`] a borrowing core takes them by |
//! | [`error`] | [`ServeError`], what a core reports when it cannot serve, and [`error::one_line`] |

pub mod calibrate;
pub mod config;
pub mod core;
pub mod error;
pub mod opts;
pub mod probe;
pub mod ready;
pub mod reload;

pub use crate::calibrate::Spin;
pub use crate::config::ProxyConfig;
pub use crate::core::{CoreInfo, ProxyCore, Requirement};
pub use crate::error::ServeError;
pub use crate::opts::{Scenario, ServeOpts};
pub use crate::probe::{FixedProbe, Probe, SystemProbe};
pub use crate::ready::ReadyLine;
