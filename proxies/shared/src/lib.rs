//! Runtime-free logic shared by every proxy core and by the harness.
//!
//! A core crate (`pb-core-*`) differs from the others only in its runtime and
//! in how it composes services; everything that decides *what* a core does
//! lives here, so the comparison measures runtimes, not re-implementations.
//!
//! | module | what it holds |
//! |---|---|
//! | [`http`] | sans-IO HTTP/1.1 for proxies: heads, limits, framing, smuggling defences, serialisation |
//! | [`opts`] | [`ServeOpts`]: what a core is told at start (address, threads, CPUs, buffer size, limits) |
//! | [`cpus`] | [`CpuSet`] parsing (`0-3,6`) and thread pinning |
//! | [`socket`] | socket settings every core uses ([`BACKLOG`], port reservation for `SO_REUSEPORT` groups) |
//! | [`proxy`] | HTTP forwarding written once: config, routing, balancing, middleware decisions, upstream pools, the exchange |
//! | [`ready`] | the readiness line a core prints and the runner parses |
//! | [`serve`] | the accept loop and drain, generic over the runtime's accept and timer |
//! | [`borrowing`] | the stack configuration and echo factory of the borrowing-service cores |
//! | [`shutdown`] | SIGTERM/SIGINT turned into a flag each runtime polls |
//! | [`calibrate`] | [`Spin`]: a known extra cost per request, to calibrate the regression gate |
//! | [`conn`] | [`ConnGauge`] and the [`ConnLimit`] borrowing-service layer |
//! | [`probe`] | whether io_uring and locked memory are usable here, behind a trait tests can fake |
//! | [`core`] | the [`ProxyCore`] trait each core crate implements |
//! | [`error`] | [`ServeError`], what a core reports when it cannot serve |

pub mod borrowing;
pub mod calibrate;
pub mod conn;
pub mod core;
pub mod cpus;
pub mod error;
pub mod http;
pub mod opts;
pub mod probe;
pub mod proxy;
pub mod ready;
pub mod serve;
pub mod shutdown;
pub mod socket;

pub use crate::calibrate::Spin;
pub use crate::conn::{
    ConnGauge, ConnGuard, ConnLimit, ConnLimitFactory, ConnLimitParams, ConnRefused,
};
pub use crate::core::{CoreInfo, ProxyCore, Requirement};
pub use crate::cpus::CpuSet;
pub use crate::error::ServeError;
pub use crate::opts::{Scenario, ServeOpts};
pub use crate::probe::{FixedProbe, Probe, SystemProbe};
pub use crate::ready::ReadyLine;
pub use crate::shutdown::Shutdown;
pub use crate::socket::BACKLOG;
