//! The load driver. It knows no core: it gets an address and a workload,
//! opens real connections, and measures.
//!
//! | module | role |
//! |---|---|
//! | [`spec`] | [`LoadSpec`]: target, workload, work mode ([`WorkMode`]), timing, threads |
//! | [`echo`] | the echo workload: message patterns and byte-exact verification |
//! | [`http`] | the HTTP workload: GET/POST requests, keep-alive or one per connection, every response checked |
//! | [`chaos`] | saboteur connections beside the measured ones: aborts mid-head, mid-body, mid-response, resets |
//! | [`conn`] | one connection's loop: closed (pipelined up to `in_flight`) or open (fixed schedule, corrected and uncorrected latency), its exchange kept apart from I/O |
//! | `epoll`, `uring` | the two driver backends ([`Backend`]): the same exchange over tokio (epoll) or monoio (io_uring) sockets |
//! | [`run`] | threads, the shared schedule, window edges, CPU accounting, self-check -> [`LoadReport`] |
//! | [`search`] | the highest rate at which a latency percentile stays within a bound |
//!
//! Latencies are recorded in [`pb_results::hist::new_histogram`]s, the
//! one histogram shape results store and merge.
//!
//! Every loop is bounded by the schedule: warm-up, measured window, then a
//! short drain; nothing outlives [`run::run`].

pub mod chaos;
pub mod conn;
pub mod echo;
mod epoll;
pub mod http;
pub mod pace;
pub mod run;
pub mod search;
pub mod spec;
mod uring;
mod wire;

pub use crate::run::{ClassReport, DriverError, LoadReport, THREAD_NAME_PREFIX, WindowEdge, run};
pub use crate::spec::{Backend, LoadSpec, WorkMode, Workload};
