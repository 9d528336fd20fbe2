//! `filter-chain`: per-request filter instances, Envoy's model. Each
//! configured filter has a factory, built once per handler; for every
//! request the framework asks each factory for a fresh instance, drives
//! the instances through the phases, and drops them with the request.
//! Whatever a filter learns in one phase it keeps in its own fields for
//! the next. The last filter is always the router, as in Envoy: a
//! concrete type rather than a boxed one, whose per-request state is the
//! route it picked, which the framework forwards on.
//!
//! What the pattern costs here, per request: a `Vec` of boxed instances
//! (one allocation for the list, one per instance that holds anything;
//! ours hold a reference to their configuration), and a virtual call per
//! filter per phase. Filters borrow their configuration from the factory
//! instead of sharing it by `Arc`, as Envoy's `shared_ptr` does: in Rust
//! the borrow costs nothing and is what a Rust framework would do.

use std::io;

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_core::reload::ConfigBus;
use pb_engine::balance::Pick;
use pb_engine::filter::{self, HeaderRules, Work};
use pb_engine::pool::UpstreamPool;
use pb_engine::route::{LocalRouting, Routes, Routing};
use pb_engine::{Conn, Done, Exchange, Forwarder, Phases, Runtime};
use pb_http::{Header, ResponseHead};
use std::sync::Arc;

use crate::{Configured, Request, Verdict, configured, split};

/// A filter instance, made for one request and dropped with it.
pub trait HttpFilter: Send {
    /// The request head arrived.
    fn on_request_head(&mut self, req: &mut Request<'_>) -> Verdict;
    /// Request body bytes are being forwarded.
    fn on_request_body(&mut self, _bytes: &[u8]) {}
    /// The upstream's response head arrived; push headers onto `add` to
    /// add them to it.
    fn on_response_head(&mut self, _head: &ResponseHead, _add: &mut Vec<Header>) {}
}

/// Makes one filter's instances; built once per handler from the
/// configuration.
pub trait FilterFactory: Send + Sync {
    /// A fresh instance for one request.
    fn create(&self) -> Box<dyn HttpFilter + '_>;
}

/// The filter chain as a [`pb_raw::Step`], its router reading routing
/// `Rt` (one thread's, or shared by work-stealing workers).
pub struct Chain<Rt = LocalRouting> {
    /// The configured filters before the router, in order.
    factories: Vec<Box<dyn FilterFactory>>,
    routing: Rt,
}

impl<Rt> std::fmt::Debug for Chain<Rt> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("filters", &self.factories.len())
            .finish_non_exhaustive()
    }
}

impl<Rt: Routes> pb_raw::Step for Chain<Rt> {
    /// The configured filters ([`crate::configured`]), then the router.
    fn new(config: &ProxyConfig, reload: Option<Arc<ConfigBus>>, seed: u64) -> Chain<Rt> {
        let factories = configured(config)
            .map(|filter| -> Box<dyn FilterFactory> {
                match filter {
                    Configured::Auth(auth) => Box::new(AuthFactory(auth)),
                    Configured::Work(work) => Box::new(WorkFactory(work)),
                    Configured::Headers(rules) => Box::new(HeadersFactory(rules)),
                }
            })
            .collect();
        Chain {
            factories,
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
        let mut filters: Vec<Box<dyn HttpFilter + '_>> =
            self.factories.iter().map(|f| f.create()).collect();
        let verdict = {
            // The routing is read for this request's head phase only.
            let routing = self.routing.current();
            let mut router = RouterFilter {
                routing: &routing,
                upstream: None,
            };
            let (mut req, upstream) = split(&mut ex);
            let verdict = request_head(&mut filters, &mut router, &mut req);
            *upstream = router.upstream;
            verdict
        };
        if let Verdict::Respond(status) = verdict {
            return ex.respond(status, b"").await;
        }
        forwarder
            .forward_with::<R>(ex, &mut Instances(&mut filters))
            .await
    }
}

/// The request-head phase: each filter in order until one answers, then
/// the router (`terminal`).
fn request_head(
    filters: &mut [Box<dyn HttpFilter + '_>],
    terminal: &mut dyn HttpFilter,
    req: &mut Request<'_>,
) -> Verdict {
    filters
        .iter_mut()
        .map(|f| f.on_request_head(req))
        .find(|v| *v != Verdict::Continue)
        .unwrap_or_else(|| terminal.on_request_head(req))
}

/// The instances of one request as the forwarder's phase callbacks:
/// request phases in chain order, the response phase in reverse (the
/// filter nearest the upstream sees the response first), as Envoy
/// encodes.
struct Instances<'f, 'a>(&'f mut [Box<dyn HttpFilter + 'a>]);

impl Phases for Instances<'_, '_> {
    fn request_body(&mut self, bytes: &[u8]) {
        for f in self.0.iter_mut() {
            f.on_request_body(bytes);
        }
    }

    fn response_head(&mut self, head: &ResponseHead, add: &mut Vec<Header>) {
        for f in self.0.iter_mut().rev() {
            f.on_response_head(head, add);
        }
    }
}

// === the filters ===

struct AuthFactory(AuthConfig);

/// Refuses requests without the configured token (401/403).
struct AuthFilter<'a>(&'a AuthConfig);

impl FilterFactory for AuthFactory {
    fn create(&self) -> Box<dyn HttpFilter + '_> {
        Box::new(AuthFilter(&self.0))
    }
}

impl HttpFilter for AuthFilter<'_> {
    fn on_request_head(&mut self, req: &mut Request<'_>) -> Verdict {
        match filter::authorize(self.0, req.head) {
            Ok(()) => Verdict::Continue,
            Err(refusal) => Verdict::Respond(refusal.status()),
        }
    }
}

struct WorkFactory(Work);

/// Spends the injected work at the request head.
struct WorkFilter<'a>(&'a Work);

impl FilterFactory for WorkFactory {
    fn create(&self) -> Box<dyn HttpFilter + '_> {
        Box::new(WorkFilter(&self.0))
    }
}

impl HttpFilter for WorkFilter<'_> {
    fn on_request_head(&mut self, req: &mut Request<'_>) -> Verdict {
        crate::spend(self.0, req.head)
    }
}

struct HeadersFactory(HeaderRules);

/// Header rules: request edits at the request head, additions at the
/// response head.
struct HeadersFilter<'a>(&'a HeaderRules);

impl FilterFactory for HeadersFactory {
    fn create(&self) -> Box<dyn HttpFilter + '_> {
        Box::new(HeadersFilter(&self.0))
    }
}

impl HttpFilter for HeadersFilter<'_> {
    fn on_request_head(&mut self, req: &mut Request<'_>) -> Verdict {
        self.0.edit_request(req.remove, req.add);
        Verdict::Continue
    }

    fn on_response_head(&mut self, _head: &ResponseHead, add: &mut Vec<Header>) {
        self.0.edit_response(add);
    }
}

/// The terminal filter: picks the upstream; it is its per-request state.
struct RouterFilter<'a> {
    routing: &'a Routing,
    upstream: Option<Pick>,
}

impl HttpFilter for RouterFilter<'_> {
    fn on_request_head(&mut self, req: &mut Request<'_>) -> Verdict {
        self.upstream = self.routing.resolve(req.head);
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_http::Limits;
    use std::sync::{Arc, Mutex};

    /// Records every callback as `name:phase` and answers the head phase
    /// with `verdict`.
    struct Probe {
        name: &'static str,
        verdict: Verdict,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl HttpFilter for Probe {
        fn on_request_head(&mut self, _req: &mut Request<'_>) -> Verdict {
            self.log.lock().unwrap().push(format!("{}:head", self.name));
            self.verdict
        }
        fn on_request_body(&mut self, bytes: &[u8]) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:body{}", self.name, bytes.len()));
        }
        fn on_response_head(&mut self, head: &ResponseHead, add: &mut Vec<Header>) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:response{}", self.name, head.status));
            add.push(Header::new("x-seen-by", self.name));
        }
    }

    fn probes(log: &Arc<Mutex<Vec<String>>>, verdicts: &[Verdict]) -> Vec<Box<dyn HttpFilter>> {
        ["a", "b", "c"]
            .iter()
            .zip(verdicts)
            .map(|(name, verdict)| {
                Box::new(Probe {
                    name,
                    verdict: *verdict,
                    log: Arc::clone(log),
                }) as Box<dyn HttpFilter>
            })
            .collect()
    }

    fn with_request<T>(f: impl FnOnce(&mut Request<'_>) -> T) -> T {
        let head =
            pb_http::RequestHead::parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &Limits::default())
                .unwrap()
                .unwrap()
                .0;
        let (mut remove, mut add) = (Vec::new(), Vec::new());
        f(&mut Request {
            head: &head,
            remove: &mut remove,
            add: &mut add,
        })
    }

    #[test]
    fn the_head_phase_runs_in_order_and_a_reply_stops_it_before_the_router() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut filters = probes(
            &log,
            &[Verdict::Continue, Verdict::Respond(403), Verdict::Continue],
        );
        let mut router = probes(&log, &[Verdict::Continue]).remove(0);
        let verdict = with_request(|req| request_head(&mut filters, router.as_mut(), req));
        assert_eq!(verdict, Verdict::Respond(403));
        assert_eq!(*log.lock().unwrap(), ["a:head", "b:head"]);

        log.lock().unwrap().clear();
        let mut filters = probes(&log, &[Verdict::Continue, Verdict::Continue]);
        let verdict = with_request(|req| request_head(&mut filters, router.as_mut(), req));
        assert_eq!(verdict, Verdict::Continue);
        assert_eq!(*log.lock().unwrap(), ["a:head", "b:head", "a:head"]);
    }

    #[test]
    fn body_phases_run_in_order_and_the_response_phase_in_reverse() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut filters = probes(&log, &[Verdict::Continue; 3]);
        let mut phases = Instances(&mut filters);
        phases.request_body(b"12345");
        let response = ResponseHead::parse(
            b"HTTP/1.1 204 No Content\r\n\r\n",
            &Limits::default(),
            false,
        )
        .unwrap()
        .unwrap()
        .0;
        let mut add = Vec::new();
        phases.response_head(&response, &mut add);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "a:body5",
                "b:body5",
                "c:body5",
                "c:response204",
                "b:response204",
                "a:response204"
            ]
        );
        let seen: Vec<_> = add.iter().map(|h| &*h.value).collect();
        assert_eq!(seen, [b"c", b"b", b"a"]);
    }
}
