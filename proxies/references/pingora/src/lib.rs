//! The `pingora` reference core: Cloudflare's proxy framework, what a
//! Rust engineer adopts instead of writing a proxy on a runtime of their
//! own. `pingora-proxy`'s [`ProxyHttp`](pingora_proxy::ProxyHttp) on
//! `pingora-core`'s server (tokio, work stealing, one runtime of
//! `threads` workers, plain TCP: no TLS feature), written the way
//! Pingora's own load-balancer example writes one: the request filter
//! answers what the proxy answers itself, `upstream_peer` picks the
//! upstream, the header filters apply the rules.
//!
//! As for `hyper`, only the *decisions* are shared with the grid (which
//! pool a request routes to, which upstream the pool's policy picks,
//! which headers the rules add and remove), so that one configuration
//! means the same thing everywhere; parsing, framing, hop-by-hop
//! handling, the upstream pool and its retries are Pingora's.
//!
//! What does not map, and so is Pingora's own default in every cell:
//! the head limits (Pingora's are fixed in the framework), the first
//! request's header deadline (60 s; the cell's deadline applies to the
//! keep-alive wait between requests, in whole seconds), and the
//! connection limit.
//!
//! Built only with the `pingora` feature: the framework's zlib-ng needs
//! cmake, which a machine with only the Rust toolchain lacks. Without it
//! the core is listed, unavailable, with the way to build it.

#[cfg(feature = "pingora")]
mod proxy;

use std::net::SocketAddr;

use pb_core::{CoreInfo, ProxyCore, Requirement, Scenario, ServeError, ServeOpts};
use pb_sys::Shutdown;

/// The `pingora` core.
pub static PINGORA: Pingora = Pingora;

/// The `pingora` reference core.
#[derive(Debug)]
pub struct Pingora;

/// How to get a binary with Pingora in it.
const BUILD: &str = "run scripts/install-references.sh, which installs the cmake it needs, then build with `--features pingora`";

static INFO: CoreInfo = CoreInfo {
    name: "pingora",
    runtime: "tokio 1 multi-thread (work stealing), epoll, pingora-core's server",
    service: "reference framework: pingora-proxy 0.9 ProxyHttp (request filter, upstream_peer, header filters)",
    grid: None,
    requirements: if cfg!(feature = "pingora") {
        &[]
    } else {
        &[Requirement::Feature {
            name: "pingora",
            build: BUILD,
        }]
    },
    scenarios: &[Scenario::HttpForward],
};

impl ProxyCore for Pingora {
    fn info(&self) -> &'static CoreInfo {
        &INFO
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = opts.reference_config(INFO.name)?;
        #[cfg(feature = "pingora")]
        {
            proxy::serve(opts, config, shutdown, on_ready)
        }
        #[cfg(not(feature = "pingora"))]
        {
            let _ = (config, shutdown, on_ready);
            Err(ServeError::Unavailable {
                reason: format!(
                    "this proxybench was built without the `pingora` feature ({BUILD})"
                ),
            })
        }
    }
}
