//! Forwarding HTTP/1.1, written once for every runtime.
//!
//! A core supplies a [`Runtime`](io::Runtime) (its stream, connect and
//! timer) and composes the middleware in its own service abstraction; the
//! decisions and the byte-moving live here:
//!
//! | module | role |
//! |---|---|
//! | [`config`] | [`ProxyConfig`]: pools, routes, auth, header rules, timeouts, limits (TOML) |
//! | [`route`] | host + longest path prefix -> pool |
//! | [`balance`] | round-robin, random, power-of-two-choices on in-flight requests |
//! | [`filter`] | auth decision (401/403) and header rules |
//! | [`io`] | the runtime interface: owned-buffer streams, connect, sleep, timeout |
//! | [`exchange`] | client connections, head deadlines (408), the per-connection loop |
//! | [`pool`] | idle upstream connections: per thread or shared |
//! | [`stack`] | the middleware as `service-async` layers (monoio, glommio) |
//! | [`forward`] | the upstream exchange: 502/504, body streaming, connection reuse |

pub mod balance;
pub mod config;
pub mod exchange;
pub mod filter;
pub mod forward;
pub mod io;
pub mod pool;
pub mod route;
pub mod stack;

pub use config::ProxyConfig;
pub use exchange::{Conn, Done, Exchange, serve_connection};
pub use forward::Forwarder;
