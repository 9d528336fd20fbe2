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
//! injected work ([`http::SpendLayer`], experiments only) -> header rules
//! and routing (tower's `map_request` over the engine's decisions) ->
//! forwarding ([`http::ForwardService`]).
//!
//! `Buffer` spawns its worker with `tokio::spawn`, so this composition
//! runs on tokio runtimes only; everything else is generic over the
//! engine's [`Runtime`] through [`SendRuntime`].
//!
//! | module | what it holds |
//! |---|---|
//! | [`conn`] | [`ConnLimitLayer`] |
//! | [`core`] | [`Tower`]: this composition for `pb_engine::lifecycle::TpcCore`, one set of stacks per thread |
//! | [`http`] | the auth layer, the forwarding service and the connection service |

pub mod conn;
pub mod core;
pub mod http;

pub use crate::core::Tower;
pub use conn::{ConnLimit, ConnLimitLayer};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use pb_core::{ProxyConfig, Scenario, ServeOpts};
use pb_engine::filter::HeaderRules;
use pb_engine::pool::SharedPool;
use pb_engine::route::SharedRouting;
use pb_engine::{Conn, ConnGauge, Done, Echo, EchoParams, Exchange, Forwarder, Runtime, Tunnel};
use pb_http::Limits;
use tower::buffer::BufferLayer;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

/// Requests the `Buffer` queues before callers wait for room.
pub const BUFFER_CAPACITY: usize = 1024;

/// Boxed response future: what a tower service behind `Buffer` must return
/// (it crosses tasks, so it is `Send + 'static`).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'static>>;

/// The forwarder every worker shares: one set of balancers and one pool of
/// idle upstream connections behind a lock.
pub type SharedForwarder<R> = Forwarder<SharedPool<Conn<<R as Runtime>::Stream>>>;

/// A runtime whose engine futures are `Send`, which tower behind `Buffer`
/// needs (the stack's futures move between worker threads).
///
/// Whether the engine's futures are `Send` depends on the runtime's own
/// futures, which a generic signature cannot name on stable Rust (return
/// type notation is unstable); so each method boxes one engine entry point
/// for a concrete runtime, where the compiler checks it. Implement it with
/// [`send_runtime!`], never by hand.
pub trait SendRuntime:
    Echo
    + Runtime<Stream: Send + 'static + pb_engine::Stream<Timer: Send>>
    + Clone
    + Send
    + Sync
    + 'static
{
    /// [`Echo::echo`], boxed.
    fn boxed_echo(stream: Self::Stream, params: EchoParams) -> BoxFuture<()>;

    /// [`Tunnel::serve`] on the shared tunnel.
    fn boxed_tunnel(tunnel: Arc<Tunnel>, stream: Self::Stream) -> BoxFuture<()>;

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
pub type RequestFn<R> = Box<
    dyn FnMut(Exchange<<R as Runtime>::Stream>) -> BoxFuture<Done<<R as Runtime>::Stream>> + Send,
>;

/// Implements [`SendRuntime`] for a concrete runtime marker type.
#[macro_export]
macro_rules! send_runtime {
    ($rt:ty) => {
        impl $crate::SendRuntime for $rt {
            fn boxed_echo(
                stream: Self::Stream,
                params: $crate::__private::pb_engine::EchoParams,
            ) -> $crate::BoxFuture<()> {
                ::std::boxed::Box::pin(<$rt as $crate::__private::pb_engine::Echo>::echo(
                    stream, params,
                ))
            }

            fn boxed_tunnel(
                tunnel: ::std::sync::Arc<$crate::__private::pb_engine::Tunnel>,
                stream: Self::Stream,
            ) -> $crate::BoxFuture<()> {
                ::std::boxed::Box::pin(async move { tunnel.serve::<$rt>(stream).await })
            }

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
                mut requests: $crate::RequestFn<Self>,
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

/// How a core shares its tower stack between connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One request stack behind `tower::buffer::Buffer`, shared by every
    /// connection (of the process, or of the thread on thread-per-core
    /// runtimes): each request is a message to the task that owns the
    /// stack. For echo, where the connection is the only request, the
    /// connection stack is the one behind the `Buffer`.
    Buffer,
    /// The stack cloned for every connection and driven with
    /// `ready().await` then `call()`, as hyper and axum drive theirs.
    Clone,
}

impl Sharing {
    /// The composition as `proxybench cores` and results describe it.
    pub const fn describe(self) -> &'static str {
        match self {
            Sharing::Buffer => "tower Layer stack, the request stack shared through Buffer",
            Sharing::Clone => "tower Layer stack cloned per connection, ready().await then call()",
        }
    }
}

/// The connection service every accepted connection is served by, boxed
/// so that every scenario and sharing has one type (one allocation per
/// connection, not per request).
pub type ConnStack<R> = BoxCloneService<<R as Runtime>::Stream, (), io::Error>;

/// The connection stack for `opts.scenario`: connection limit -> echo, or
/// -> the HTTP connection loop over the request stack auth -> header
/// rules -> routing -> forwarding; shared as `sharing` says. Must be
/// called inside a tokio runtime when `sharing` is [`Sharing::Buffer`]
/// (the buffer spawns its worker there).
pub fn connection_stack<R: SendRuntime>(
    opts: &ServeOpts,
    gauge: &ConnGauge,
    sharing: Sharing,
) -> ConnStack<R> {
    let limit = ConnLimitLayer::new(gauge.clone(), opts.max_conns);
    if let (Some(config), Scenario::TcpForward) = (&opts.http, opts.scenario) {
        // A tunnel has no requests: the connection service is the whole
        // stack, behind the `Buffer` as echo's is when shared.
        let tunnel = TunnelService::<R>::new(Tunnel::new(config, 0, opts.buf_size));
        return match sharing {
            Sharing::Buffer => BoxCloneService::new(
                ServiceBuilder::new()
                    .layer(BufferLayer::new(BUFFER_CAPACITY))
                    .layer(limit)
                    .service(tunnel)
                    .map_err(io::Error::other),
            ),
            Sharing::Clone => BoxCloneService::new(limit.layer(tunnel)),
        };
    }
    match (&opts.http, sharing) {
        (Some(config), Sharing::Buffer) if opts.scenario == Scenario::HttpForward => {
            let requests =
                BufferLayer::new(BUFFER_CAPACITY).layer(request_stack::<R>(config, opts));
            BoxCloneService::new(limit.layer(http::HttpConnService::<R, _>::new(requests, config)))
        }
        (Some(config), Sharing::Clone) if opts.scenario == Scenario::HttpForward => {
            let requests = request_stack::<R>(config, opts);
            BoxCloneService::new(limit.layer(http::HttpConnService::<R, _>::new(requests, config)))
        }
        (_, Sharing::Buffer) => BoxCloneService::new(
            ServiceBuilder::new()
                .layer(BufferLayer::new(BUFFER_CAPACITY))
                .layer(limit)
                .service(EchoService::<R>::new(opts))
                .map_err(io::Error::other),
        ),
        (_, Sharing::Clone) => BoxCloneService::new(limit.layer(EchoService::<R>::new(opts))),
    }
}

/// The request stack, unshared: auth ([`http::AuthLayer`]) -> injected
/// work ([`http::SpendLayer`], experiments only) -> header rules and
/// routing (tower's own `map_request` over the engine's decisions: they
/// only edit the exchange on its way down) -> forwarding. A published
/// configuration reaches it as shared configuration: the routing behind
/// an atomically swapped pointer (`SharedRouting`), taken by the next
/// request whichever worker runs it.
fn request_stack<R: SendRuntime>(
    config: &ProxyConfig,
    opts: &ServeOpts,
) -> impl tower::Service<
    Exchange<R::Stream>,
    Response = Done<R::Stream>,
    Error = io::Error,
    Future = BoxFuture<Done<R::Stream>>,
> + Clone
+ Send
+ 'static {
    let forwarder = Forwarder::new(config, SharedPool::default());
    let rules = Arc::new(HeaderRules::new(&config.headers));
    let routing = Arc::new(SharedRouting::new(config, opts.reload.clone(), 0));
    ServiceBuilder::new()
        .layer(http::AuthLayer::<R>::new(config.auth.clone()))
        .layer(http::SpendLayer::<R>::new(config))
        .map_request(move |mut ex: Exchange<R::Stream>| {
            rules.apply(&mut ex);
            ex
        })
        .map_request(move |mut ex: Exchange<R::Stream>| {
            ex.upstream = routing.resolve(&ex.head);
            ex
        })
        .service(http::ForwardService::<R>::new(forwarder))
}

/// Serves one connection with `svc`, the connection's own clone of the
/// stack: waits until it is ready, then drives its response future.
/// Errors end this connection only (the peer sees the close).
pub async fn serve_connection<R: SendRuntime>(mut svc: ConnStack<R>, stream: R::Stream) {
    if let Ok(svc) = svc.ready().await {
        let _ = svc.call(stream).await;
    }
}

// === impl EchoService ===

/// The runtime's echo loop ([`Echo::echo`]) as a tower service.
#[derive(Debug)]
pub struct EchoService<R> {
    params: EchoParams,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R> Clone for EchoService<R> {
    fn clone(&self) -> Self {
        EchoService {
            params: self.params,
            _runtime: std::marker::PhantomData,
        }
    }
}

/// The tcp-forward connection service: the engine's tunnel, shared by
/// every connection.
pub struct TunnelService<R> {
    tunnel: Arc<Tunnel>,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R> TunnelService<R> {
    /// Serves connections through `tunnel`.
    pub fn new(tunnel: Tunnel) -> Self {
        TunnelService {
            tunnel: Arc::new(tunnel),
            _runtime: std::marker::PhantomData,
        }
    }
}

impl<R> Clone for TunnelService<R> {
    fn clone(&self) -> Self {
        TunnelService {
            tunnel: Arc::clone(&self.tunnel),
            _runtime: std::marker::PhantomData,
        }
    }
}

impl<R: SendRuntime> tower::Service<R::Stream> for TunnelService<R> {
    type Response = ();
    type Error = io::Error;
    type Future = BoxFuture<()>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: R::Stream) -> BoxFuture<()> {
        R::boxed_tunnel(Arc::clone(&self.tunnel), stream)
    }
}

impl<R> EchoService<R> {
    /// Echoes with the settings of `opts`.
    pub fn new(opts: &ServeOpts) -> Self {
        EchoService {
            params: EchoParams::new(opts),
            _runtime: std::marker::PhantomData,
        }
    }
}

impl<R: SendRuntime> tower::Service<R::Stream> for EchoService<R> {
    type Response = ();
    type Error = io::Error;
    type Future = BoxFuture<()>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: R::Stream) -> BoxFuture<()> {
        R::boxed_echo(stream, self.params)
    }
}
