//! `filter-chain-ctx`: shared filters, per-request state in a context.
//! The filters are built once per handler and called through `&self` for
//! every request; what a filter must remember between phases, or hand to
//! a later filter, goes into the request's context, a type-erased map
//! keyed by type ([`http::Extensions`], where the Rust HTTP ecosystem
//! keeps per-request state that no type declares in advance). This is
//! the design article's other option: nothing is allocated per filter,
//! but the state is unstructured, and every access is a hash lookup and a
//! downcast.
//!
//! Here the router filter leaves its [`RouteChoice`] in the context and
//! the framework reads it to forward; the map itself is allocated on the
//! first insert, so every request that reaches the router pays it.

use std::io;

use http::Extensions;
use pb_core::config::{AuthConfig, ProxyConfig};
use pb_core::reload::ConfigBus;
use pb_engine::filter::{self, HeaderRules, Work};
use pb_engine::pool::UpstreamPool;
use pb_engine::route::{LocalRouting, Routes, Routing};
use pb_engine::{Conn, Done, Exchange, Forwarder, Phases, Runtime};
use pb_http::{Header, ResponseHead};
use std::sync::Arc;

use crate::{Configured, Request, Verdict, configured, split};

/// A filter shared by every request; per-request state goes in `ctx`.
pub trait ContextFilter: Send + Sync {
    /// The request head arrived.
    fn on_request_head(&self, req: &mut Request<'_>, ctx: &mut Extensions) -> Verdict;
    /// Request body bytes are being forwarded.
    fn on_request_body(&self, _bytes: &[u8], _ctx: &mut Extensions) {}
    /// The upstream's response head arrived; push headers onto `add` to
    /// add them to it.
    fn on_response_head(&self, _head: &ResponseHead, _add: &mut Vec<Header>, _ctx: &Extensions) {}
}

/// The pool the router filter picked, as it leaves it in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteChoice(pub Option<usize>);

/// The context chain as a [`pb_raw::Step`], its router reading routing
/// `Rt` (one thread's, or shared by work-stealing workers).
pub struct ContextChain<Rt = LocalRouting> {
    /// The configured filters, before the router.
    filters: Vec<Box<dyn ContextFilter>>,
    routing: Rt,
}

impl<Rt> std::fmt::Debug for ContextChain<Rt> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextChain")
            .field("filters", &self.filters.len())
            .finish()
    }
}

impl<Rt: Routes> pb_raw::Step for ContextChain<Rt> {
    /// The configured filters ([`crate::configured`]), then the router.
    fn new(config: &ProxyConfig, reload: Option<Arc<ConfigBus>>, seed: u64) -> ContextChain<Rt> {
        let filters: Vec<Box<dyn ContextFilter>> = configured(config)
            .map(|filter| -> Box<dyn ContextFilter> {
                match filter {
                    Configured::Auth(auth) => Box::new(Auth(auth)),
                    Configured::Work(work) => Box::new(Spend(work)),
                    Configured::Headers(rules) => Box::new(Headers(rules)),
                }
            })
            .collect();
        ContextChain {
            filters,
            routing: Rt::new(config, reload, seed),
        }
    }

    async fn exchange<R, P>(
        &self,
        mut ex: Exchange<R::Stream>,
        forwarder: &Forwarder<P>,
    ) -> io::Result<Done<R::Stream>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        let mut ctx = Extensions::new();
        let verdict = {
            // The routing is read for this request's head phase only: the
            // router leaves its pool in the context, the framework picks
            // the upstream from the same routing.
            let routing = self.routing.current();
            let (mut req, upstream) = split(&mut ex);
            let verdict = request_head(&self.filters, &RouteFilter(&routing), &mut req, &mut ctx);
            *upstream = ctx
                .get::<RouteChoice>()
                .and_then(|choice| choice.0)
                .map(|pool| routing.pick(pool));
            verdict
        };
        if let Verdict::Respond(status) = verdict {
            return ex.respond(status, b"").await;
        }
        let mut phases = Shared {
            filters: &self.filters,
            ctx,
        };
        forwarder.forward_with::<R>(ex, &mut phases).await
    }
}

/// The request-head phase: each filter in order until one answers, then
/// the router.
fn request_head(
    filters: &[Box<dyn ContextFilter>],
    router: &RouteFilter<'_>,
    req: &mut Request<'_>,
    ctx: &mut Extensions,
) -> Verdict {
    filters
        .iter()
        .map(|f| f.on_request_head(req, ctx))
        .find(|v| *v != Verdict::Continue)
        .unwrap_or_else(|| router.on_request_head(req, ctx))
}

/// The shared filters and one request's context as the forwarder's
/// phase callbacks (response phase in reverse, as in [`crate::chain`]).
struct Shared<'f> {
    filters: &'f [Box<dyn ContextFilter>],
    ctx: Extensions,
}

impl Phases for Shared<'_> {
    fn request_body(&mut self, bytes: &[u8]) {
        for f in self.filters {
            f.on_request_body(bytes, &mut self.ctx);
        }
    }

    fn response_head(&mut self, head: &ResponseHead, add: &mut Vec<Header>) {
        for f in self.filters.iter().rev() {
            f.on_response_head(head, add, &self.ctx);
        }
    }
}

// === the filters ===

/// Refuses requests without the configured token (401/403).
struct Auth(AuthConfig);

impl ContextFilter for Auth {
    fn on_request_head(&self, req: &mut Request<'_>, _ctx: &mut Extensions) -> Verdict {
        match filter::authorize(&self.0, req.head) {
            Ok(()) => Verdict::Continue,
            Err(refusal) => Verdict::Respond(refusal.status()),
        }
    }
}

/// Spends the injected work at the request head.
struct Spend(Work);

impl ContextFilter for Spend {
    fn on_request_head(&self, req: &mut Request<'_>, _ctx: &mut Extensions) -> Verdict {
        crate::spend(&self.0, req.head)
    }
}

/// Header rules: request edits at the request head, additions at the
/// response head.
struct Headers(HeaderRules);

impl ContextFilter for Headers {
    fn on_request_head(&self, req: &mut Request<'_>, _ctx: &mut Extensions) -> Verdict {
        self.0.edit_request(req.remove, req.add);
        Verdict::Continue
    }

    fn on_response_head(&self, _head: &ResponseHead, add: &mut Vec<Header>, _ctx: &Extensions) {
        self.0.edit_response(add);
    }
}

/// Picks the pool and leaves it in the context; made per request over
/// the routing that request reads.
struct RouteFilter<'a>(&'a Routing);

impl ContextFilter for RouteFilter<'_> {
    fn on_request_head(&self, req: &mut Request<'_>, ctx: &mut Extensions) -> Verdict {
        ctx.insert(RouteChoice(self.0.route(req.head)));
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_core::ProxyConfig;
    use pb_http::Limits;
    use pb_raw::Step;

    fn config(extra: &str) -> ProxyConfig {
        let text = format!(
            r#"
            [[pool]]
            name = "api"
            upstreams = ["127.0.0.1:1"]
            [[pool]]
            name = "web"
            upstreams = ["127.0.0.1:2"]
            [[route]]
            path_prefix = "/api"
            pool = "api"
            [[route]]
            path_prefix = "/"
            pool = "web"
            {extra}
            "#
        );
        ProxyConfig::parse(&text, "test").unwrap()
    }

    /// Runs the chain's head phase on `request`: the verdict, the route
    /// left in the context, and the request's edits.
    fn head_phase(
        chain: &ContextChain<LocalRouting>,
        request: &str,
    ) -> (Verdict, Option<RouteChoice>, Vec<pb_http::Name>) {
        let head = pb_http::RequestHead::parse(request.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0;
        let (mut remove, mut add) = (Vec::new(), Vec::new());
        let mut ctx = Extensions::new();
        let routing = chain.routing.current();
        let verdict = request_head(
            &chain.filters,
            &RouteFilter(&routing),
            &mut Request {
                head: &head,
                remove: &mut remove,
                add: &mut add,
            },
            &mut ctx,
        );
        (verdict, ctx.get::<RouteChoice>().copied(), remove)
    }

    #[test]
    fn the_router_leaves_its_choice_in_the_context() {
        let chain = ContextChain::<LocalRouting>::new(&config(""), None, 0);
        assert_eq!(
            chain.filters.len(),
            0,
            "no auth, no header rules: the router alone"
        );
        let (verdict, route, _) = head_phase(&chain, "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (verdict, route),
            (Verdict::Continue, Some(RouteChoice(Some(0))))
        );
        let (_, route, _) = head_phase(&chain, "GET /index HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(route, Some(RouteChoice(Some(1))));
    }

    #[test]
    fn a_refusal_stops_the_chain_before_the_router_and_the_rules() {
        let chain = ContextChain::<LocalRouting>::new(
            &config(
                r#"
            [auth]
            header = "x-token"
            token = "s3cret"
            [headers]
            request_remove = ["X-Debug"]
            "#,
            ),
            None,
            0,
        );
        assert_eq!(
            chain.filters.len(),
            2,
            "auth and header rules, then the router"
        );
        let (verdict, route, remove) = head_phase(&chain, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (verdict, route, remove.len()),
            (Verdict::Respond(401), None, 0)
        );
        let (verdict, route, remove) = head_phase(
            &chain,
            "GET / HTTP/1.1\r\nHost: a\r\nX-Token: s3cret\r\n\r\n",
        );
        assert_eq!(verdict, Verdict::Continue);
        assert_eq!(route, Some(RouteChoice(Some(1))));
        assert_eq!(remove, [pb_http::Name::from("x-debug")]);
    }
}
