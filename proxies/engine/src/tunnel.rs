//! The tcp-forward scenario: no protocol at all. A client connection is
//! given an upstream of the configuration's default pool (the route for
//! `/` without a host; the first pool when no route matches it) by the
//! pool's policy, connected within the connect timeout, and handed with
//! the client to the runtime's relay ([`Echo::relay`]). The upstream
//! counts as in flight for the connection's life, so power-of-two-choices
//! balances connections. Routes change nothing on open tunnels; a
//! configuration update is not taken (a tunnel has no requests to take
//! it at).

use std::io;

use pb_core::ProxyConfig;

use crate::echo::Echo;
use crate::io::{Stream, timeout};
use crate::route::Routing;

/// What every tcp-forward connection of one thread (or of a work-stealing
/// runtime's workers) is served by.
#[derive(Debug)]
pub struct Tunnel {
    routing: Routing,
    pool: usize,
    connect: std::time::Duration,
    buf_size: usize,
}

impl Tunnel {
    /// The tunnel of `config`; `seed` varies random balancing per
    /// thread, `buf_size` is the relay's read size.
    pub fn new(config: &ProxyConfig, seed: u64, buf_size: usize) -> Tunnel {
        let routing = Routing::new(config, seed);
        Tunnel {
            pool: crate::route::Router::new(config)
                .route(None, "/")
                .unwrap_or(0),
            routing,
            connect: config.timeouts.connect(),
            buf_size,
        }
    }

    /// Serves one client connection to its end. A connect that fails or
    /// times out closes the client at once (reset, not FIN: it was never
    /// forwarded anywhere).
    pub async fn serve<R: Echo>(&self, client: R::Stream) -> io::Result<()> {
        let pick = self.routing.pick(self.pool);
        let upstream = match timeout::<R, _>(self.connect, R::connect(pick.addr)).await {
            Some(Ok(upstream)) => upstream,
            Some(Err(e)) => {
                client.abort();
                return Err(e);
            }
            None => {
                client.abort();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {} timed out", pick.addr),
                ));
            }
        };
        let relayed = R::relay(client, upstream, self.buf_size).await;
        drop(pick);
        relayed
    }
}
