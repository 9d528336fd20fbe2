//! The filter-chain compositions: the pattern Envoy and Mosn are built on,
//! which the design article contrasts with tower's and service-async's
//! onion of nested services. There is no nesting: the framework holds a
//! fixed sequence of filter objects and calls each one at each phase of a
//! request — request head, request body, response head — in order; a
//! filter answers a phase by letting the request continue or by replying
//! itself ([`Verdict`]). Between phases a filter keeps what it learned
//! somewhere; the two compositions differ in where:
//!
//! | composition | per-request state | costs per request |
//! |---|---|---|
//! | [`chain`] (`filter-chain`) | on filter instances the framework makes per request from factories, as Envoy does | the instances (one allocation each, and the list that holds them), a virtual call per filter per phase |
//! | [`ctx`] (`filter-chain-ctx`) | filters shared by every request; state in a per-request type-erased map ([`http::Extensions`]), the article's "unstructured storage" | the map (allocated on first insert), hashing and a downcast per access, a virtual call per filter per phase |
//!
//! Both are [`pb_raw::Step`]s on the raw composition's connection loop,
//! so the loop, the engine and the bytes are the raw floor's: what a
//! filter chain costs over `raw` is the chain and nothing else. The
//! filters themselves are thin shells over the engine's decisions
//! ([`pb_engine::filter`], [`pb_engine::route`]), as every composition's
//! layers are.

pub mod chain;
pub mod ctx;

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_engine::filter::{HeaderRules, Work};
use pb_http::{Header, RequestHead};

/// `filter-chain` as `proxybench cores` and results describe it.
pub const SERVICE_CHAIN: &str =
    "filter chain (Envoy/Mosn pattern): filter instances made per request, driven per phase";

/// `filter-chain-ctx` as `proxybench cores` and results describe it.
pub const SERVICE_CTX: &str =
    "filter chain with shared filters, per-request state in a type-erased context map";

/// The `filter-chain` composition on a thread-per-core runtime.
pub type FilterChain = pb_raw::PerThread<chain::Chain>;

/// The `filter-chain-ctx` composition on a thread-per-core runtime.
pub type FilterChainCtx = pb_raw::PerThread<ctx::ContextChain>;

/// The routing of both chains: one thread's own on thread-per-core
/// runtimes, shared on a work-stealing one.
pub use pb_engine::route::{LocalRouting, Routes, SharedRouting};

/// How a filter answers a request phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On to the next filter (after the last, to the upstream).
    Continue,
    /// Stop here and answer the client with this status; no later filter
    /// runs and no upstream is contacted.
    Respond(u16),
}

/// What a filter sees and may change of a request at its head phase: the
/// head, and the edits the forwarder applies when it writes the request.
#[derive(Debug)]
pub struct Request<'a> {
    /// The request head as the client sent it.
    pub head: &'a RequestHead,
    /// Header names to drop when forwarding (lower-case).
    pub remove: &'a mut Vec<pb_http::Name>,
    /// Headers to add when forwarding.
    pub add: &'a mut Vec<Header>,
}

/// The head-phase view of an exchange, and its upstream, borrowed apart.
fn split<S: pb_engine::Stream>(
    ex: &mut pb_engine::Exchange<S>,
) -> (Request<'_>, &mut Option<pb_engine::balance::Pick>) {
    (
        Request {
            head: &ex.head,
            remove: &mut ex.request_remove,
            add: &mut ex.request_add,
        },
        &mut ex.upstream,
    )
}

/// A filter the configuration asks for, before the router (which every
/// chain ends with).
enum Configured {
    /// A token is required.
    Auth(AuthConfig),
    /// Injected work (`[work]`, experiments only).
    Work(Work),
    /// There are header rules.
    Headers(HeaderRules),
}

/// The filters an operator would configure for `config`, in chain order:
/// auth when a token is required, the injected work when `[work]` asks
/// for it, header rewriting when there are rules.
fn configured(config: &ProxyConfig) -> impl Iterator<Item = Configured> {
    let rules = HeaderRules::new(&config.headers);
    let auth = config.auth.clone().map(Configured::Auth);
    let work = Work::new(config).map(Configured::Work);
    auth.into_iter()
        .chain(work)
        .chain((!rules.is_empty()).then_some(Configured::Headers(rules)))
}

/// The work filter's answer, in both chains.
fn spend(work: &Work, head: &RequestHead) -> Verdict {
    match work.spend(head) {
        Ok(()) => Verdict::Continue,
        Err(refused) => Verdict::Respond(refused.0),
    }
}
