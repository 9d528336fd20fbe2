//! The `raw` composition: no service abstraction at all. The connection
//! loop calls the engine's middleware decisions and the forwarder as plain
//! functions, in the order every other composition's layers apply them
//! (connection limit, auth, injected work, header rules, routing,
//! forwarding): the floor every abstraction's cost is measured against.
//!
//! The connection loop is [`Handler`], generic over what it does with
//! each request (a [`Step`]): [`Direct`] is this composition's step; the
//! filter chains (`pb-filter`) are other steps on the same loop, so what
//! separates them from the floor is their step and nothing else.
//! [`PerThread`] serves a handler on any thread-per-core runtime
//! (`pb_engine::lifecycle::TpcCore`); [`NoAbstraction`] is the raw one.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_core::reload::ConfigBus;
use pb_core::{Scenario, ServeError, ServeOpts};
use pb_engine::filter::{self, HeaderRules, Work};
use pb_engine::lifecycle::{Composition, ThreadPerCore, serve_thread_per_core};
use pb_engine::pool::{LocalPool, UpstreamPool};
use pb_engine::route::{LocalRouting, Routes};
use pb_engine::{Conn, ConnGauge, Done, Echo, EchoParams, Exchange, Forwarder, Runtime, Tunnel};
use pb_http::Limits;
use pb_sys::Shutdown;

/// The composition as `proxybench cores` and results describe it.
pub const SERVICE: &str = "none: the connection loop calls the engine directly";

/// What a [`Handler`] does with one request between reading its head and
/// the next: the middleware decisions, then the forwarder. Built once per
/// handler from the configuration.
pub trait Step: Sized {
    /// The step for `config`, following `reload` (published
    /// configurations) when given; `seed` varies random balancing per
    /// thread.
    fn new(config: &ProxyConfig, reload: Option<Arc<ConfigBus>>, seed: u64) -> Self;

    /// Serves one request; `Err` only when the client connection failed.
    fn exchange<R, P>(
        &self,
        ex: Exchange<R::Stream>,
        forwarder: &Forwarder<P>,
    ) -> impl Future<Output = io::Result<Done<R::Stream>>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>;
}

/// A plain connection loop: everything one connection handler needs,
/// built once (per thread, or per process behind an `Arc`); `X` is what
/// it does per request, `P` the idle upstream pool.
#[derive(Debug)]
pub struct Handler<X, P> {
    limit: usize,
    gauge: ConnGauge,
    echo: EchoParams,
    http: Option<Http<X, P>>,
    tunnel: Option<Tunnel>,
}

/// The `raw` composition's handler.
pub type Raw<P> = Handler<Direct, P>;

/// The forwarding half of [`Handler`].
#[derive(Debug)]
struct Http<X, P> {
    step: X,
    forwarder: Forwarder<P>,
    limits: Limits,
    header_deadline: Duration,
}

impl<X: Step, P> Handler<X, P> {
    /// A handler for `opts`, counting connections on `gauge`; `pool` holds
    /// idle upstream connections, `seed` varies random balancing.
    pub fn new(opts: &ServeOpts, gauge: &ConnGauge, pool: P, seed: u64) -> Handler<X, P> {
        Handler {
            limit: opts.max_conns,
            gauge: gauge.clone(),
            echo: EchoParams::new(opts),
            http: opts
                .http
                .as_ref()
                .filter(|_| opts.scenario == Scenario::HttpForward)
                .map(|config| Http {
                    step: X::new(config, opts.reload.clone(), seed),
                    forwarder: Forwarder::new(config, pool),
                    limits: config.head_limits(),
                    header_deadline: config.timeouts.client_header(),
                }),
            tunnel: opts
                .http
                .as_ref()
                .filter(|_| opts.scenario == Scenario::TcpForward)
                .map(|config| Tunnel::new(config, seed, opts.buf_size)),
        }
    }

    /// Serves one connection of the scenario: echo, the HTTP connection
    /// loop, or a tcp-forward tunnel. A connection over the limit is
    /// closed at once; errors end the connection only (the peer sees the
    /// close).
    pub async fn serve<R>(&self, stream: R::Stream)
    where
        R: Echo,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        let Ok(_counted) = self.gauge.try_enter(self.limit) else {
            return;
        };
        match (&self.http, &self.tunnel) {
            (Some(http), _) => {
                pb_engine::serve_connection::<R, _, _>(
                    stream,
                    http.limits,
                    http.header_deadline,
                    |ex| http.step.exchange::<R, P>(ex, &http.forwarder),
                )
                .await
            }
            (None, Some(tunnel)) => {
                let _ = tunnel.serve::<R>(stream).await;
            }
            (None, None) => {
                let _ = R::echo(stream, self.echo).await;
            }
        }
    }
}

/// The raw step: the decisions as plain calls, in layer order. A
/// published configuration reaches it through its routing `Rt`, swapped
/// at the next request: one thread's own ([`LocalRouting`], the
/// default) or shared by work-stealing workers
/// ([`pb_engine::route::SharedRouting`]).
#[derive(Debug)]
pub struct Direct<Rt = LocalRouting> {
    auth: Option<AuthConfig>,
    work: Option<Work>,
    rules: HeaderRules,
    routing: Rt,
}

impl<Rt: Routes> Step for Direct<Rt> {
    fn new(config: &ProxyConfig, reload: Option<Arc<ConfigBus>>, seed: u64) -> Direct<Rt> {
        Direct {
            auth: config.auth.clone(),
            work: Work::new(config),
            rules: HeaderRules::new(&config.headers),
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
        if let Some(auth) = &self.auth
            && let Err(refusal) = filter::authorize(auth, &ex.head)
        {
            return ex.respond(refusal.status(), b"").await;
        }
        if let Some(work) = &self.work
            && let Err(refused) = work.spend(&ex.head)
        {
            return ex.respond(refused.0, b"").await;
        }
        self.rules.apply(&mut ex);
        ex.upstream = self.routing.resolve(&ex.head);
        forwarder.forward::<R>(ex).await
    }
}

/// A [`Handler`] with step `X` as a composition, for
/// [`TpcCore`](pb_engine::lifecycle::TpcCore): one handler per thread,
/// idle upstream connections kept per thread.
pub struct PerThread<X>(PhantomData<fn() -> X>);

impl<X> PerThread<X> {
    /// The composition.
    pub const NEW: PerThread<X> = PerThread(PhantomData);
}

impl<X> Clone for PerThread<X> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<X> Copy for PerThread<X> {}

impl<X> std::fmt::Debug for PerThread<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<Self>())
    }
}

/// The raw composition on a thread-per-core runtime.
pub type NoAbstraction = PerThread<Direct>;

impl<T, X> Composition<T> for PerThread<X>
where
    T: ThreadPerCore<Rt: Echo>,
    X: Step + 'static,
{
    fn serve(
        self,
        rt: T,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let gauge = ConnGauge::default();
        let (opts_for_threads, counted) = (opts.clone(), gauge.clone());
        serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
            let handler = Rc::new(Handler::<X, _>::new(
                &opts_for_threads,
                &counted,
                LocalPool::default(),
                thread as u64,
            ));
            move |stream| {
                let handler = Rc::clone(&handler);
                async move { handler.serve::<T::Rt>(stream).await }
            }
        })
    }
}
