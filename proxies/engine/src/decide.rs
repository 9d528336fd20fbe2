//! The decisions a reference stack (hyper, Pingora) shares with the grid,
//! so that one cell configuration means the same thing on every core:
//! whether a request is admitted (token, route), which upstream serves
//! it, which headers the rules add and remove, which deadlines apply.
//! Parsing, framing and everything on the wire stay the stack's own.

use pb_core::ProxyConfig;
use pb_core::config::{AuthConfig, TimeoutsConfig};

use crate::balance::Balancer;
use crate::filter::{HeaderRules, check_token};
use crate::route::Router;

/// A cell's configuration, compiled once per core.
#[derive(Debug)]
pub struct Decisions {
    /// Host and path prefix to pool.
    pub router: Router,
    /// One per pool, in configuration order.
    pub balancers: Vec<Balancer>,
    /// The token check, when configured.
    pub auth: Option<AuthConfig>,
    /// Header rewriting.
    pub rules: HeaderRules,
    /// The cell's deadlines.
    pub timeouts: TimeoutsConfig,
}

impl Decisions {
    /// Compiles `config`.
    pub fn new(config: &ProxyConfig) -> Decisions {
        Decisions {
            router: Router::new(config),
            balancers: config
                .pools
                .iter()
                .enumerate()
                .map(|(i, p)| Balancer::new(p, i as u64))
                .collect(),
            auth: config.auth.clone(),
            rules: HeaderRules::new(&config.headers),
            timeouts: config.timeouts,
        }
    }

    /// The pool a request goes to, or the status the proxy answers it with
    /// itself: 401 without the token, 403 with a wrong one, 404 when no
    /// route matches. `token` is the auth header's value, `host` the Host
    /// header's (or the absolute-form authority), as received.
    pub fn admit(
        &self,
        token: Option<&[u8]>,
        host: Option<&str>,
        path: &str,
    ) -> Result<usize, u16> {
        if let Some(auth) = &self.auth {
            check_token(auth, token).map_err(|refusal| refusal.status())?;
        }
        let host = host.map(|h| pb_http::host_name(h.trim()));
        self.router.route(host.as_deref(), path).ok_or(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_by_token_then_route() {
        let config = ProxyConfig::parse(
            "[[pool]]\nname = \"a\"\nupstreams = [\"127.0.0.1:1\"]\n\
             [[pool]]\nname = \"b\"\nupstreams = [\"127.0.0.1:2\"]\n\
             [[route]]\nhost = \"api.test\"\npath_prefix = \"/\"\npool = \"b\"\n\
             [[route]]\npath_prefix = \"/x\"\npool = \"a\"\n\
             [auth]\nheader = \"x-token\"\ntoken = \"t\"\n",
            "test",
        )
        .unwrap();
        let d = Decisions::new(&config);
        assert_eq!(d.admit(None, None, "/x"), Err(401));
        assert_eq!(d.admit(Some(b"nope"), None, "/x"), Err(403));
        assert_eq!(d.admit(Some(b"t"), None, "/x/1"), Ok(0));
        assert_eq!(d.admit(Some(b"t"), Some(" API.test:8080 "), "/y"), Ok(1));
        assert_eq!(d.admit(Some(b"t"), Some("other"), "/y"), Err(404));
    }
}
