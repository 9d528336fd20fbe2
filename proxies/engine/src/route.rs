//! Routing: a request's host and path to a pool, then the pool's
//! balancer to an upstream ([`Routing`]), and that routing kept current
//! while configurations are published ([`LocalRouting`] for one thread,
//! [`SharedRouting`] for workers that share one stack).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pb_core::config::ProxyConfig;
use pb_core::reload::ConfigBus;

use crate::balance::{Balancer, Pick};

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
    /// and its path. `OPTIONS *` asks about the server as a whole (RFC 9112
    /// §3.2.4), so it goes where the host's root would.
    pub fn route_head(&self, head: &pb_http::RequestHead) -> Option<usize> {
        let path = match head.target() {
            "*" => "/",
            _ => head.path(),
        };
        self.route(head.host(), path)
    }

    /// The pool for `host` (without its port, any case) and `path`; a
    /// route for the exact host beats a host-less one, then the longest
    /// prefix wins.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .find(|(h, prefix, _)| {
                h.as_deref()
                    .is_none_or(|h| host.is_some_and(|host| host.eq_ignore_ascii_case(h)))
                    && path.starts_with(prefix.as_str())
            })
            .map(|(_, _, pool)| *pool)
    }
}

/// What a configuration's pools and routes compile to: the routes, and
/// a balancer per pool. A request is resolved in one step — its pool by
/// host and path, then an upstream by the pool's policy — from one
/// routing, so a reload between the two cannot mix configurations.
#[derive(Debug)]
pub struct Routing {
    router: Router,
    balancers: Vec<Balancer>,
}

impl Routing {
    /// Compiles `config`; `seed` varies random balancing per thread.
    pub fn new(config: &ProxyConfig, seed: u64) -> Routing {
        Routing {
            router: Router::new(config),
            balancers: config
                .pools
                .iter()
                .enumerate()
                .map(|(i, p)| Balancer::new(p, seed.wrapping_add(i as u64)))
                .collect(),
        }
    }

    /// The upstream for a request, or `None` when no route matches it.
    pub fn resolve(&self, head: &pb_http::RequestHead) -> Option<Pick> {
        Some(self.pick(self.route(head)?))
    }

    /// The pool for a request, by its host and path.
    pub fn route(&self, head: &pb_http::RequestHead) -> Option<usize> {
        self.router.route_head(head)
    }

    /// An upstream of pool `pool` (what [`route`](Self::route) gave), by
    /// its policy.
    pub fn pick(&self, pool: usize) -> Pick {
        self.balancers[pool].pick()
    }
}

/// Routing kept current with a [`ConfigBus`], in the form a
/// composition's threading needs: [`LocalRouting`] where one thread owns
/// it, [`SharedRouting`] where work-stealing workers share it.
pub trait Routes: Sized {
    /// A request's view of the routing: every decision about one request
    /// is taken from one of these, so a reload cannot split them.
    type Current: std::ops::Deref<Target = Routing>;
    /// Routing for `config`, following `bus` when given; `seed` varies
    /// random balancing per thread.
    fn new(config: &ProxyConfig, bus: Option<Arc<ConfigBus>>, seed: u64) -> Self;
    /// The routing of the newest published configuration.
    fn current(&self) -> Self::Current;
    /// The upstream for a request by the newest published configuration.
    fn resolve(&self, head: &pb_http::RequestHead) -> Option<Pick> {
        self.current().resolve(head)
    }
}

impl Routes for LocalRouting {
    type Current = Rc<Routing>;
    fn new(config: &ProxyConfig, bus: Option<Arc<ConfigBus>>, seed: u64) -> Self {
        LocalRouting::new(config, bus, seed)
    }
    fn current(&self) -> Rc<Routing> {
        LocalRouting::current(self)
    }
}

impl Routes for SharedRouting {
    type Current = SharedCurrent;
    fn new(config: &ProxyConfig, bus: Option<Arc<ConfigBus>>, seed: u64) -> Self {
        SharedRouting::new(config, bus, seed)
    }
    fn current(&self) -> SharedCurrent {
        SharedRouting::current(self)
    }
}

/// One thread's routing (the thread-per-core compositions), kept current
/// with a [`ConfigBus`] when the core has one: each request checks the
/// bus's version (one atomic load) and the first after a publication
/// rebuilds the routing. Without a bus it never changes.
#[derive(Debug)]
pub struct LocalRouting {
    bus: Option<Arc<ConfigBus>>,
    seed: u64,
    current: RefCell<(u64, Rc<Routing>)>,
}

impl LocalRouting {
    /// Routing for `config`, following `bus` when given.
    pub fn new(config: &ProxyConfig, bus: Option<Arc<ConfigBus>>, seed: u64) -> LocalRouting {
        // Start from the bus's newest configuration: a thread that starts
        // (or a stack rebuilt) after a reload must not serve an old one.
        let (version, routing) = match &bus {
            Some(bus) => {
                let (version, config) = bus.current();
                (version, Routing::new(&config, seed))
            }
            None => (0, Routing::new(config, seed)),
        };
        LocalRouting {
            bus,
            seed,
            current: RefCell::new((version, Rc::new(routing))),
        }
    }

    /// The newest routing (refreshed first).
    pub fn current(&self) -> Rc<Routing> {
        self.refresh();
        Rc::clone(&self.current.borrow().1)
    }

    /// The upstream for a request by the newest routing.
    pub fn resolve(&self, head: &pb_http::RequestHead) -> Option<Pick> {
        self.current().resolve(head)
    }

    /// Rebuilds the routing if the bus has a newer configuration.
    pub fn refresh(&self) {
        let Some(bus) = &self.bus else { return };
        if bus.version() != self.current.borrow().0 {
            let (version, config) = bus.current();
            self.set(version, Rc::new(Routing::new(&config, self.seed)));
        }
    }

    /// Replaces the routing (a configuration pushed from outside).
    pub fn set(&self, version: u64, routing: Rc<Routing>) {
        *self.current.borrow_mut() = (version, routing);
    }

    /// The version of the configuration in use.
    pub fn version(&self) -> u64 {
        self.current.borrow().0
    }
}

/// The routing of a stack that work-stealing workers share (tower on
/// tokio), kept current with a [`ConfigBus`]: the routing sits behind an
/// atomically swapped pointer (`arc-swap`), so a request reads it without
/// a lock or a shared reference count; the first request after a
/// publication swaps in the new one.
#[derive(Debug)]
pub struct SharedRouting {
    bus: Option<Arc<ConfigBus>>,
    seed: u64,
    current: ArcSwap<(u64, Routing)>,
}

impl SharedRouting {
    /// Routing for `config`, following `bus` when given.
    pub fn new(config: &ProxyConfig, bus: Option<Arc<ConfigBus>>, seed: u64) -> SharedRouting {
        let (version, routing) = match &bus {
            Some(bus) => {
                let (version, config) = bus.current();
                (version, Routing::new(&config, seed))
            }
            None => (0, Routing::new(config, seed)),
        };
        SharedRouting {
            bus,
            seed,
            current: ArcSwap::from_pointee((version, routing)),
        }
    }

    /// The newest routing (swapped in first when the bus has a newer
    /// configuration), read without a lock.
    pub fn current(&self) -> SharedCurrent {
        if let Some(bus) = &self.bus
            && bus.version() != self.current.load().0
        {
            // Two workers may both rebuild; they build the same version.
            let (version, config) = bus.current();
            self.current
                .store(Arc::new((version, Routing::new(&config, self.seed))));
        }
        SharedCurrent(self.current.load())
    }

    /// The upstream for a request by the newest routing.
    pub fn resolve(&self, head: &pb_http::RequestHead) -> Option<Pick> {
        self.current().resolve(head)
    }
}

/// A request's view of a [`SharedRouting`]: the routing it read, held
/// without touching a shared reference count.
pub struct SharedCurrent(arc_swap::Guard<Arc<(u64, Routing)>>);

impl std::ops::Deref for SharedCurrent {
    type Target = Routing;
    fn deref(&self) -> &Routing {
        &self.0.1
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
        let head = |text: &str| {
            pb_http::RequestHead::parse(text.as_bytes(), &pb_http::Limits::default())
                .unwrap()
                .unwrap()
                .0
        };
        // `OPTIONS *` goes where the host's root goes.
        let star = head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(router.route_head(&star), Some(0));
        let star = head("OPTIONS * HTTP/1.1\r\nHost: static.example\r\n\r\n");
        assert_eq!(router.route_head(&star), Some(2));
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

    fn head(path: &str) -> pb_http::RequestHead {
        let text = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        pb_http::RequestHead::parse(text.as_bytes(), &pb_http::Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    fn one_pool(port: u16) -> ProxyConfig {
        ProxyConfig::parse(
            &format!(
                "[[pool]]\nname = \"p\"\nupstreams = [\"127.0.0.1:{port}\"]\n[[route]]\npool = \"p\"\n"
            ),
            "t",
        )
        .unwrap()
    }

    #[test]
    fn local_and_shared_routing_follow_the_bus_at_the_next_request() {
        let bus = Arc::new(ConfigBus::new(Arc::new(one_pool(1))));
        let local = LocalRouting::new(&one_pool(1), Some(Arc::clone(&bus)), 0);
        let shared = SharedRouting::new(&one_pool(1), Some(Arc::clone(&bus)), 0);
        let port = |pick: Option<Pick>| pick.unwrap().addr.port();
        assert_eq!(port(local.resolve(&head("/"))), 1);
        assert_eq!(port(shared.resolve(&head("/"))), 1);
        bus.publish(one_pool(2)).unwrap();
        assert_eq!(port(local.resolve(&head("/"))), 2);
        assert_eq!(port(shared.resolve(&head("/"))), 2);
        assert_eq!(local.version(), 1);
        // A routing made after a publication starts from it.
        let late = LocalRouting::new(&one_pool(1), Some(bus), 0);
        assert_eq!(port(late.resolve(&head("/"))), 2);
        // Without a bus, nothing changes.
        let fixed = LocalRouting::new(&one_pool(3), None, 0);
        fixed.refresh();
        assert_eq!(port(fixed.resolve(&head("/x"))), 3);
    }
}
