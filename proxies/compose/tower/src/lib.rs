//! The tower composition of the shared engine: tower `Layer` stacks,
//! shared by every connection through [`tower::buffer::Buffer`] — the way
//! most tokio proxies are built.
//!
//! Connection stack, outermost first: `Buffer` (one task owns the stack;
//! connections send it requests over an mpsc channel) ->
//! [`ConnLimitLayer`] (admission via the engine's [`ConnGauge`]) -> the
//! scenario's connection service: the runtime's echo service, or
//! [`http::HttpConnService`], the HTTP connection loop that sends each
//! request through a second buffered stack: auth ([`http::AuthLayer`]) ->
//! header rules and routing (tower's `map_request` over the engine's
//! decisions) -> forwarding ([`http::ForwardService`]).
//!
//! `Buffer` spawns its worker with `tokio::spawn`, so this composition
//! runs on tokio runtimes only; everything else is generic over the
//! engine's [`Runtime`] through [`SendRuntime`].
//!
//! | module | what it holds |
//! |---|---|
//! | [`conn`] | [`ConnLimitLayer`] |
//! | [`http`] | the auth layer, the forwarding service and the connection service |

pub mod conn;
pub mod http;

pub use conn::{ConnLimit, ConnLimitLayer};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use pb_core::{Scenario, ServeOpts};
use pb_engine::filter::HeaderRules;
use pb_engine::pool::SharedPool;
use pb_engine::route::Router;
use pb_engine::{Conn, ConnGauge, Done, Exchange, Forwarder, Runtime};
use pb_http::Limits;
use tower::ServiceBuilder;
use tower::buffer::{Buffer, BufferLayer};

/// Requests the `Buffer` queues before callers wait for room.
pub const BUFFER_CAPACITY: usize = 1024;

/// Boxed response future: what a tower service behind `Buffer` must return
/// (it crosses tasks, so it is `Send + 'static`).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'static>>;

/// The forwarder every worker shares: one set of balancers and one pool of
/// idle upstream connections behind a lock.
pub type SharedForwarder<R> = Forwarder<SharedPool<Conn<<R as Runtime>::Stream>>>;

/// The connection-level stack every accepted connection goes through.
pub type Stack<R> = Buffer<<R as Runtime>::Stream, BoxFuture<()>>;

/// The request-level stack of the HTTP scenario.
pub type RequestStack<R> =
    Buffer<Exchange<<R as Runtime>::Stream>, BoxFuture<Done<<R as Runtime>::Stream>>>;

/// A runtime whose engine futures are `Send`, which tower behind `Buffer`
/// needs (the stack's futures move between worker threads).
///
/// Whether the engine's futures are `Send` depends on the runtime's own
/// futures, which a generic signature cannot name on stable Rust (return
/// type notation is unstable); so each method boxes one engine entry point
/// for a concrete runtime, where the compiler checks it. Implement it with
/// [`send_runtime!`], never by hand.
pub trait SendRuntime: Runtime<Stream: Send + 'static> + Clone + Send + Sync + 'static {
    /// [`Exchange::respond`] with an empty body.
    fn respond(ex: Exchange<Self::Stream>, status: u16) -> BoxFuture<Done<Self::Stream>>;

    /// [`Forwarder::forward`] on the shared forwarder.
    fn forward(
        forwarder: Arc<SharedForwarder<Self>>,
        ex: Exchange<Self::Stream>,
    ) -> BoxFuture<Done<Self::Stream>>;

    /// [`pb_engine::serve_connection`], each request handed to `requests`.
    fn serve_connection(
        stream: Self::Stream,
        limits: Limits,
        header_deadline: Duration,
        requests: RequestFn<Self>,
    ) -> BoxFuture<()>;
}

/// How the HTTP connection loop reaches the request stack: a call on a
/// clone of the buffered stack, boxed once per request (the price of
/// keeping this crate generic over the runtime; one allocation beside
/// the `Buffer`'s own per-request channel message).
pub type RequestFn<R> = Arc<
    dyn Fn(Exchange<<R as Runtime>::Stream>) -> BoxFuture<Done<<R as Runtime>::Stream>>
        + Send
        + Sync,
>;

/// Implements [`SendRuntime`] for a concrete runtime marker type.
#[macro_export]
macro_rules! send_runtime {
    ($rt:ty) => {
        impl $crate::SendRuntime for $rt {
            fn respond(
                ex: $crate::__private::pb_engine::Exchange<Self::Stream>,
                status: u16,
            ) -> $crate::BoxFuture<$crate::__private::pb_engine::Done<Self::Stream>> {
                ::std::boxed::Box::pin(async move { ex.respond(status, &[]).await })
            }

            fn forward(
                forwarder: ::std::sync::Arc<$crate::SharedForwarder<$rt>>,
                ex: $crate::__private::pb_engine::Exchange<Self::Stream>,
            ) -> $crate::BoxFuture<$crate::__private::pb_engine::Done<Self::Stream>> {
                ::std::boxed::Box::pin(async move { forwarder.forward::<$rt>(ex).await })
            }

            fn serve_connection(
                stream: Self::Stream,
                limits: $crate::__private::pb_http::Limits,
                header_deadline: ::std::time::Duration,
                requests: $crate::RequestFn<Self>,
            ) -> $crate::BoxFuture<()> {
                ::std::boxed::Box::pin(async move {
                    $crate::__private::pb_engine::serve_connection::<$rt, _, _>(
                        stream,
                        limits,
                        header_deadline,
                        move |ex| requests(ex),
                    )
                    .await;
                    Ok(())
                })
            }
        }
    };
}

/// What [`send_runtime!`] expands to names, so that the crate using it
/// needs no dependency of its own on them.
#[doc(hidden)]
pub mod __private {
    pub use {pb_engine, pb_http};
}

/// Builds the connection stack for the scenario: `Buffer` -> connection
/// limit -> `echo`, or -> HTTP connection loop over the request stack
/// `Buffer` -> auth -> header rules -> routing -> forwarding. Must be
/// called inside a tokio runtime (the buffers spawn their workers).
pub fn connection_stack<R, E>(opts: &ServeOpts, gauge: &ConnGauge, echo: E) -> Stack<R>
where
    R: SendRuntime,
    E: tower::Service<R::Stream, Response = (), Error = io::Error, Future = BoxFuture<()>>
        + Send
        + 'static,
{
    let outer = ServiceBuilder::new()
        .layer(BufferLayer::new(BUFFER_CAPACITY))
        .layer(ConnLimitLayer::new(gauge.clone(), opts.max_conns));
    match (opts.scenario, &opts.http) {
        (Scenario::HttpForward, Some(config)) => {
            let forwarder = Forwarder::new(config, SharedPool::default(), 0);
            let rules = Arc::new(HeaderRules::new(&config.headers));
            let router = Arc::new(Router::new(config));
            // Header rules and routing only edit the exchange on its way
            // down: tower's own `map_request`, no layer types of ours.
            let requests: RequestStack<R> = ServiceBuilder::new()
                .layer(BufferLayer::new(BUFFER_CAPACITY))
                .layer(http::AuthLayer::<R>::new(config.auth.clone()))
                .map_request(move |mut ex: Exchange<R::Stream>| {
                    rules.apply(&mut ex);
                    ex
                })
                .map_request(move |mut ex: Exchange<R::Stream>| {
                    ex.route = router.route_head(&ex.head);
                    ex
                })
                .service(http::ForwardService::<R>::new(forwarder));
            outer.service(http::HttpConnService::<R, _>::new(requests, config))
        }
        _ => outer.service(echo),
    }
}
