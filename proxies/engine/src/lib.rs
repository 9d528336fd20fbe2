//! The forwarding engine: HTTP/1.1 forwarding and the serving lifecycle,
//! written once over what a runtime supplies (a stream with owned-buffer
//! reads and writes, `connect`, a timer).
//!
//! Nothing here names a runtime or a service abstraction. A runtime
//! adapter implements [`io::Runtime`] (and, if thread-per-core,
//! [`lifecycle::ThreadPerCore`]); a service composition (`pb-tower`,
//! `pb-borrow`) wraps the decisions below in its own layers. The bytes
//! and the decisions are therefore the same on every core.
//!
//! | module | role |
//! |---|---|
//! | [`io`] | the runtime interface: owned-buffer streams, connect, sleep, timeout |
//! | [`route`] | host + longest path prefix -> pool |
//! | [`balance`] | round-robin, random, power-of-two-choices on in-flight requests |
//! | [`filter`] | auth decision (401/403), header rules, and what the claims' experiments inject ([`filter::Work`]: spin work and the `[dynamic]` filter) |
//! | [`decide`] | those decisions bundled for the reference stacks (hyper, Pingora), which share them and nothing else |
//! | [`exchange`] | client connections, head deadlines (408), the per-connection loop |
//! | [`pool`] | idle upstream connections: per thread or shared |
//! | [`forward`] | the upstream exchange: 502/504, body streaming, connection reuse |
//! | [`echo`] | the echo and relay loops each runtime writes in its own I/O style ([`Echo`]) |
//! | [`tunnel`] | tcp-forward: an upstream from the default pool, then the runtime's relay |
//! | [`conn`] | [`ConnGauge`]: connections active, admitted and refused, shared by every thread |
//! | [`lifecycle`] | drain, and the whole life of a thread-per-core core |

pub mod balance;
pub mod conn;
pub mod decide;
pub mod echo;
pub mod exchange;
pub mod filter;
pub mod forward;
pub mod io;
pub mod lifecycle;
pub mod pool;
pub mod route;
pub mod tunnel;

pub use conn::{ConnGauge, ConnGuard, ConnRefused};
pub use echo::{Echo, EchoParams};
pub use exchange::{Conn, Done, Exchange, Spare, serve_connection};
pub use forward::{Forwarder, Phases};
pub use io::{Deadline, Due, Runtime, Stream, Timer};
pub use tunnel::Tunnel;
