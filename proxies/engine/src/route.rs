//! Routing: a request's host and path to a pool.

use pb_core::config::ProxyConfig;

/// Routes compiled from the configuration.
#[derive(Debug, Clone)]
pub struct Router {
    /// (host, prefix, pool index), host-specific routes first, longest
    /// prefixes first within each group.
    routes: Vec<(Option<String>, String, usize)>,
}

impl Router {
    /// Compiles the routes of `config`.
    pub fn new(config: &ProxyConfig) -> Router {
        let mut routes: Vec<_> = config
            .routes
            .iter()
            .map(|r| {
                let pool = config
                    .pools
                    .iter()
                    .position(|p| p.name == r.pool)
                    .expect("validated config");
                (
                    r.host.as_ref().map(|h| h.to_ascii_lowercase()),
                    r.path_prefix.clone(),
                    pool,
                )
            })
            .collect();
        routes.sort_by(|a, b| {
            b.0.is_some()
                .cmp(&a.0.is_some())
                .then(b.1.len().cmp(&a.1.len()))
        });
        Router { routes }
    }

    /// The pool for a request: by its Host (or absolute-form authority)
    /// and its path.
    pub fn route_head(&self, head: &pb_http::RequestHead) -> Option<usize> {
        self.route(head.host().as_deref(), head.path())
    }

    /// The pool for `host` (lower-case, no port) and `path`; a route for
    /// the exact host beats a host-less one, then the longest prefix wins.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .find(|(h, prefix, _)| {
                h.as_deref().is_none_or(|h| Some(h) == host) && path.starts_with(prefix.as_str())
            })
            .map(|(_, _, pool)| *pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_routes_win_then_longest_prefix() {
        let config = ProxyConfig::parse(
            r#"
            [[pool]]
            name = "a"
            upstreams = ["127.0.0.1:1"]
            [[pool]]
            name = "b"
            upstreams = ["127.0.0.1:2"]
            [[pool]]
            name = "c"
            upstreams = ["127.0.0.1:3"]
            [[route]]
            path_prefix = "/"
            pool = "a"
            [[route]]
            path_prefix = "/api/"
            pool = "b"
            [[route]]
            host = "Static.Example"
            pool = "c"
            "#,
            "t",
        )
        .unwrap();
        let router = Router::new(&config);
        assert_eq!(router.route(Some("x"), "/"), Some(0));
        assert_eq!(router.route(Some("x"), "/api/v1"), Some(1));
        assert_eq!(router.route(Some("static.example"), "/api/v1"), Some(2));
        assert_eq!(router.route(None, "/api"), Some(0));
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let no_pool =
            "[[pool]]\nname = \"a\"\nupstreams = [\"127.0.0.1:1\"]\n[[route]]\npool = \"zz\"\n";
        let err = ProxyConfig::parse(no_pool, "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.toml") && err.contains("\"zz\""), "{err}");
        let empty = "[[pool]]\nname = \"a\"\nupstreams = []\n[[route]]\npool = \"a\"\n";
        assert!(ProxyConfig::parse(empty, "f").is_err());
        let typo = "[[pool]]\nname = \"a\"\nupstream = []\n[[route]]\npool = \"a\"\n";
        assert!(
            ProxyConfig::parse(typo, "f")
                .unwrap_err()
                .to_string()
                .contains("upstream")
        );
    }
}
