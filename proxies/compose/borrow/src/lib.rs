//! The borrowing-service composition of the shared engine: `service-async`
//! services (`call(&self)`, futures that borrow the service, no
//! `poll_ready`) composed with `FactoryStack`, built once per thread and
//! shared by that thread's connections through an `Rc` — no `Arc`, no
//! `Buffer`. Runtime-free: monoio and glommio use it alike.
//!
//! Connection stack, outermost first: [`ConnLimit`] -> the runtime's echo
//! service ([`echo_stack`]) or the HTTP connection loop over the request
//! stack auth -> header rules -> routing -> forwarding ([`http_stack`]).
//!
//! | module | what it holds |
//! |---|---|
//! | [`core`] | [`Borrowing`]: this composition for `pb_engine::lifecycle::TpcCore`, on any thread-per-core runtime |
//! | [`config`] | [`StackConfig`], the one configuration every layer reads through `Param`; the echo factory |
//! | [`conn`] | [`ConnLimit`] over the engine's connection gauge |
//! | [`http`] | the request layers, the connection service, and the two stacks |

/// The composition as `proxybench cores` and results describe it.
pub const SERVICE: &str = "service-async borrowing Service, FactoryStack";

pub mod config;
pub mod conn;
pub mod core;
pub mod http;

pub use crate::core::Borrowing;
pub use config::{EchoFactory, EchoService, StackConfig};
pub use conn::{ConnLimit, ConnLimitFactory, ConnLimitParams};
pub use http::{TunnelService, echo_stack, http_stack, rebuild_stack, tunnel_stack};
