//! The HTTP middleware as `service-async` layers. Each layer is a thin
//! shell over a decision in the engine's [`filter`](pb_engine::filter) or
//! [`route`](pb_engine::route); `pb-tower` wraps the same decisions in
//! tower `Layer`s.
//!
//! Request stack, outermost first: [`Auth`] (refuse before anything else)
//! -> [`Spend`] (the injected work of `[work]`, when configured) ->
//! [`Rewrite`] (header rules) -> [`Route`] (pick the upstream) ->
//! [`Forward`] (the upstream exchange).
//!
//! A configuration published while the core serves reaches open
//! connections by the core's [`Strategy`], the design article's three:
//! [`Route`] reads the thread's routing from a thread-local, which its
//! first reader after a publication refreshes ([`Strategy::ThreadLocal`]);
//! the connection loop pushes the new routing into the thread's
//! [`Route`] ([`Strategy::Push`], [`HttpConn`]); or the connection loop
//! rebuilds the thread's request stack with `make_via_ref`, the new
//! [`Forward`] adopting the old one's idle upstream connections
//! ([`Strategy::Rebuild`], [`RebuildConn`]). Without a bus, [`Route`]
//! holds a routing that never changes, whatever the strategy.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;

use pb_core::reload::{ConfigBus, Strategy};
use pb_engine::route::{LocalRouting, Routing};

use service_async::layer::{FactoryLayer, layer_fn};
use service_async::{MakeService, Param, Service};

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_engine::filter::{self, HeaderRules, Work};
use pb_engine::pool::{Adopt, LocalPool, UpstreamPool};
use pb_engine::{Conn, Done, Exchange, Forwarder, Runtime, Stream};

use crate::config::{EchoFactory, StackConfig};
use crate::conn::{ConnLimitFactory, ConnLimitParams};
use pb_engine::{Echo, EchoParams};

/// The whole configuration, as every layer's factory reads it.
#[derive(Debug, Clone)]
pub struct HttpConfig(pub Arc<ProxyConfig>);

/// How one thread's stack takes published configurations: made on the
/// thread by [`http_stack`] or [`rebuild_stack`], read by [`RouteFactory`]
/// and the connection services through `Param`.
#[derive(Debug, Clone)]
pub struct Reloading {
    /// Where configurations are published, if anywhere.
    pub bus: Option<Arc<ConfigBus>>,
    /// The strategy (meaningful only with a bus).
    pub strategy: Strategy,
    /// The routing this thread's [`Route`] holds (push and rebuild), or
    /// the one its thread-local starts from (thread-local).
    pub routing: Rc<LocalRouting>,
    /// The version of the configuration `routing` was made from.
    pub version: u64,
    /// Varies random balancing per thread.
    pub seed: u64,
}

thread_local! {
    /// The thread's routing under [`Strategy::ThreadLocal`].
    static THREAD_ROUTING: RefCell<Option<Rc<LocalRouting>>> = const { RefCell::new(None) };
}

/// One thread's stack configuration: the serving options' and how it
/// reloads.
#[derive(Debug, Clone)]
pub struct ThreadConfig {
    /// What every thread shares.
    pub stack: StackConfig,
    /// This thread's reloading.
    pub reloading: Reloading,
}

impl ThreadConfig {
    /// The configuration of thread `seed`'s stack, on that thread. With
    /// a bus, the routing starts from the newest published configuration.
    pub fn new(stack: StackConfig, seed: u64) -> ThreadConfig {
        let http: HttpConfig = stack.param();
        let (bus, strategy) = (stack.reload.clone(), stack.strategy);
        // The routing a push or a rebuild replaces follows no bus itself;
        // a thread-local one refreshes from it.
        let follows = match strategy {
            Strategy::ThreadLocal => bus.clone(),
            Strategy::Push | Strategy::Rebuild => None,
        };
        let (version, start) = match &bus {
            Some(bus) => bus.current(),
            None => (0, http.0),
        };
        ThreadConfig {
            stack,
            reloading: Reloading {
                routing: Rc::new(LocalRouting::new(&start, follows, seed)),
                bus,
                strategy,
                version,
                seed,
            },
        }
    }

    /// The same thread's configuration for a newly published `config`
    /// (a rebuild).
    fn with(&self, version: u64, config: Arc<ProxyConfig>) -> ThreadConfig {
        let routing = LocalRouting::new(&config, None, self.reloading.seed);
        let mut stack = self.stack.clone();
        stack.http = Some(HttpConfig(config));
        ThreadConfig {
            stack,
            reloading: Reloading {
                routing: Rc::new(routing),
                version,
                ..self.reloading.clone()
            },
        }
    }
}

impl Param<HttpConfig> for ThreadConfig {
    fn param(&self) -> HttpConfig {
        self.stack.param()
    }
}

impl Param<ConnLimitParams> for ThreadConfig {
    fn param(&self) -> ConnLimitParams {
        self.stack.param()
    }
}

impl Param<Reloading> for ThreadConfig {
    fn param(&self) -> Reloading {
        self.reloading.clone()
    }
}

// === impl Auth ===

/// Refuses requests without the configured token (401/403); no upstream
/// is contacted for them.
#[derive(Debug)]
pub struct Auth<S> {
    inner: S,
    auth: Option<AuthConfig>,
}

impl<S, St> Service<Exchange<St>> for Auth<S>
where
    S: Service<Exchange<St>, Response = Done<St>, Error = io::Error>,
    St: Stream,
{
    type Response = Done<St>;
    type Error = io::Error;

    async fn call(&self, ex: Exchange<St>) -> io::Result<Done<St>> {
        if let Some(auth) = &self.auth
            && let Err(refusal) = filter::authorize(auth, &ex.head)
        {
            return ex.respond(refusal.status(), b"").await;
        }
        self.inner.call(ex).await
    }
}

/// Factory of [`Auth`].
#[derive(Debug)]
pub struct AuthFactory<F> {
    inner: F,
    auth: Option<AuthConfig>,
}

impl<F> AuthFactory<F> {
    /// The stack layer.
    pub fn layer<C: Param<HttpConfig>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| AuthFactory {
            inner,
            auth: c.param().0.auth.clone(),
        })
    }
}

impl<F: MakeService> MakeService for AuthFactory<F> {
    type Service = Auth<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(Auth {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            auth: self.auth.clone(),
        })
    }
}

// === impl Spend ===

/// The injected work of `[work]` (experiments only): its `call` part and
/// its per-request part both run here, in the connection's task. Without
/// a `[work]` section the layer holds `None` and costs a branch.
#[derive(Debug)]
pub struct Spend<S> {
    inner: S,
    work: Option<Work>,
}

impl<S, St> Service<Exchange<St>> for Spend<S>
where
    S: Service<Exchange<St>, Response = Done<St>, Error = io::Error>,
    St: Stream,
{
    type Response = Done<St>;
    type Error = io::Error;

    async fn call(&self, ex: Exchange<St>) -> io::Result<Done<St>> {
        if let Some(work) = &self.work
            && let Err(refused) = work.spend(&ex.head)
        {
            return ex.respond(refused.0, b"").await;
        }
        self.inner.call(ex).await
    }
}

/// Factory of [`Spend`].
#[derive(Debug)]
pub struct SpendFactory<F> {
    inner: F,
    work: Option<Work>,
}

impl<F> SpendFactory<F> {
    /// The stack layer.
    pub fn layer<C: Param<HttpConfig>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| SpendFactory {
            inner,
            work: Work::new(&c.param().0),
        })
    }
}

impl<F: MakeService> MakeService for SpendFactory<F> {
    type Service = Spend<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(Spend {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            work: self.work.clone(),
        })
    }
}

// === impl Rewrite ===

/// Applies the header rules: names to drop and headers to add.
#[derive(Debug)]
pub struct Rewrite<S> {
    inner: S,
    rules: Rc<HeaderRules>,
}

impl<S, St: pb_engine::Stream> Service<Exchange<St>> for Rewrite<S>
where
    S: Service<Exchange<St>, Response = Done<St>, Error = io::Error>,
{
    type Response = Done<St>;
    type Error = io::Error;

    async fn call(&self, mut ex: Exchange<St>) -> io::Result<Done<St>> {
        self.rules.apply(&mut ex);
        self.inner.call(ex).await
    }
}

/// Factory of [`Rewrite`].
#[derive(Debug)]
pub struct RewriteFactory<F> {
    inner: F,
    rules: HeaderRules,
}

impl<F> RewriteFactory<F> {
    /// The stack layer.
    pub fn layer<C: Param<HttpConfig>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| RewriteFactory {
            inner,
            rules: HeaderRules::new(&c.param().0.headers),
        })
    }
}

impl<F: MakeService> MakeService for RewriteFactory<F> {
    type Service = Rewrite<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(Rewrite {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            rules: Rc::new(self.rules.clone()),
        })
    }
}

// === impl Route ===

/// Chooses the upstream: the pool by host and path, then its balancer.
#[derive(Debug)]
pub struct Route<S> {
    inner: S,
    source: RouteSource,
}

/// Where [`Route`] reads the routing.
#[derive(Debug)]
enum RouteSource {
    /// The thread's, in a thread-local ([`Strategy::ThreadLocal`] with a
    /// bus).
    ThreadLocal,
    /// Its own: fixed, pushed into, or replaced with the stack.
    Held(Rc<LocalRouting>),
}

impl<S, St: pb_engine::Stream> Service<Exchange<St>> for Route<S>
where
    S: Service<Exchange<St>, Response = Done<St>, Error = io::Error>,
{
    type Response = Done<St>;
    type Error = io::Error;

    async fn call(&self, mut ex: Exchange<St>) -> io::Result<Done<St>> {
        ex.upstream = match &self.source {
            RouteSource::Held(routing) => routing.resolve(&ex.head),
            RouteSource::ThreadLocal => THREAD_ROUTING.with(|routing| {
                routing
                    .borrow()
                    .as_ref()
                    .and_then(|routing| routing.resolve(&ex.head))
            }),
        };
        self.inner.call(ex).await
    }
}

/// Factory of [`Route`].
#[derive(Debug)]
pub struct RouteFactory<F> {
    inner: F,
    reloading: Reloading,
}

impl<F> RouteFactory<F> {
    /// The stack layer.
    pub fn layer<C: Param<Reloading>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| RouteFactory {
            inner,
            reloading: c.param(),
        })
    }
}

impl<F: MakeService> MakeService for RouteFactory<F> {
    type Service = Route<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        let r = &self.reloading;
        let source = if r.bus.is_some() && r.strategy == Strategy::ThreadLocal {
            // Made on the thread it serves: the thread's routing.
            THREAD_ROUTING.with(|routing| {
                routing
                    .borrow_mut()
                    .get_or_insert_with(|| Rc::clone(&r.routing));
            });
            RouteSource::ThreadLocal
        } else {
            RouteSource::Held(Rc::clone(&r.routing))
        };
        Ok(Route {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            source,
        })
    }
}

// === impl Forward ===

/// The bottom of the stack: one thread's forwarder (balancers and idle
/// upstream connections are per thread).
#[derive(Debug)]
pub struct Forward<R: Runtime, P> {
    forwarder: Forwarder<P>,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R, P> Service<Exchange<R::Stream>> for Forward<R, P>
where
    R: Runtime,
    P: UpstreamPool<Conn<R::Stream>>,
{
    type Response = Done<R::Stream>;
    type Error = io::Error;

    async fn call(&self, ex: Exchange<R::Stream>) -> io::Result<Done<R::Stream>> {
        self.forwarder.forward::<R>(ex).await
    }
}

/// Factory of [`Forward`]: each service gets per-thread state.
#[derive(Debug)]
pub struct ForwardFactory<R, P> {
    config: Arc<ProxyConfig>,
    _marker: std::marker::PhantomData<fn() -> (R, P)>,
}

impl<R, P> ForwardFactory<R, P> {
    /// A factory for `config`.
    pub fn new(config: Arc<ProxyConfig>) -> Self {
        ForwardFactory {
            config,
            _marker: std::marker::PhantomData,
        }
    }
}

impl<R: Runtime, P: Default + Adopt> MakeService for ForwardFactory<R, P> {
    type Service = Forward<R, P>;
    type Error = std::convert::Infallible;

    /// A stack rebuilt for a new configuration (`make_via_ref(Some(old))`)
    /// inherits the old one's idle upstream connections: the upstreams
    /// both configurations share keep their warm connections.
    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        let pool = old.map_or_else(P::default, |old| old.forwarder.pool.adopt());
        Ok(Forward {
            forwarder: Forwarder::new(&self.config, pool),
            _runtime: std::marker::PhantomData,
        })
    }
}

// === impl HttpConn ===

/// Connection-level service: runs the HTTP/1.1 connection loop on one
/// client stream, calling the request stack for every request; under
/// [`Strategy::Push`] it first pushes a newly published routing into the
/// thread's [`Route`].
#[derive(Debug)]
pub struct HttpConn<R, S> {
    requests: S,
    pusher: Option<Pusher>,
    limits: pb_http::Limits,
    header_deadline: std::time::Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

/// What [`Strategy::Push`] pushes, and into what.
#[derive(Debug)]
struct Pusher {
    bus: Arc<ConfigBus>,
    /// The thread's [`Route`] holds the same routing.
    routing: Rc<LocalRouting>,
    seen: Cell<u64>,
    seed: u64,
}

impl Pusher {
    /// Pushes the newest routing into the thread's components, once per
    /// publication.
    fn push_if_newer(&self) {
        if self.bus.version() != self.seen.get() {
            let (version, config) = self.bus.current();
            self.routing
                .set(version, Rc::new(Routing::new(&config, self.seed)));
            self.seen.set(version);
        }
    }
}

impl<R, S> Service<R::Stream> for HttpConn<R, S>
where
    R: Runtime,
    S: Service<Exchange<R::Stream>, Response = Done<R::Stream>, Error = io::Error>,
{
    type Response = ();
    type Error = io::Error;

    async fn call(&self, stream: R::Stream) -> io::Result<()> {
        pb_engine::serve_connection::<R, _, _>(stream, self.limits, self.header_deadline, |ex| {
            if let Some(pusher) = &self.pusher {
                pusher.push_if_newer();
            }
            self.requests.call(ex)
        })
        .await;
        Ok(())
    }
}

/// Factory of [`HttpConn`] over a request-stack factory.
#[derive(Debug)]
pub struct HttpConnFactory<R, F> {
    inner: F,
    reloading: Reloading,
    limits: pb_http::Limits,
    header_deadline: std::time::Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R, F> HttpConnFactory<R, F> {
    /// The stack layer.
    pub fn layer<C>() -> impl FactoryLayer<C, F, Factory = Self>
    where
        C: Param<HttpConfig> + Param<Reloading>,
    {
        layer_fn(|c: &C, inner| {
            let config: HttpConfig = c.param();
            HttpConnFactory {
                inner,
                reloading: c.param(),
                limits: config.0.head_limits(),
                header_deadline: config.0.timeouts.client_header(),
                _runtime: std::marker::PhantomData,
            }
        })
    }
}

impl<R, F: MakeService> MakeService for HttpConnFactory<R, F> {
    type Service = HttpConn<R, F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        let r = &self.reloading;
        let pusher = match &r.bus {
            Some(bus) if r.strategy == Strategy::Push => Some(Pusher {
                bus: Arc::clone(bus),
                routing: Rc::clone(&r.routing),
                seen: Cell::new(r.version),
                seed: r.seed,
            }),
            _ => None,
        };
        Ok(HttpConn {
            requests: self.inner.make_via_ref(old.map(|o| &o.requests))?,
            pusher,
            limits: self.limits,
            header_deadline: self.header_deadline,
            _runtime: std::marker::PhantomData,
        })
    }
}

// === impl RebuildConn ===

/// Connection-level service under [`Strategy::Rebuild`]: the connection
/// loop takes the thread's current request stack for every request; the
/// first request after a publication rebuilds it from the new
/// configuration with `make_via_ref(Some(old))` (the new [`Forward`]
/// adopts the old one's idle upstream connections). A request already
/// in the old stack finishes there.
pub struct RebuildConn<R, F: MakeService, M> {
    make: M,
    config: ThreadConfig,
    bus: Arc<ConfigBus>,
    current: RefCell<(u64, Rc<F::Service>)>,
    limits: pb_http::Limits,
    header_deadline: std::time::Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R, F: MakeService, M> std::fmt::Debug for RebuildConn<R, F, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebuildConn")
            .field("version", &self.current.borrow().0)
            .finish_non_exhaustive()
    }
}

impl<R, F, M> RebuildConn<R, F, M>
where
    F: MakeService,
    M: Fn(ThreadConfig) -> F,
{
    /// The thread's request stack for the newest configuration, rebuilt
    /// first if a newer one was published. A stack that cannot be built
    /// leaves the old one serving.
    fn stack(&self) -> Rc<F::Service> {
        if self.bus.version() != self.current.borrow().0 {
            let (version, config) = self.bus.current();
            let factory = (self.make)(self.config.with(version, config));
            let old = Rc::clone(&self.current.borrow().1);
            if let Ok(new) = factory.make_via_ref(Some(&old)) {
                *self.current.borrow_mut() = (version, Rc::new(new));
            }
        }
        Rc::clone(&self.current.borrow().1)
    }
}

impl<R, F, M> Service<R::Stream> for RebuildConn<R, F, M>
where
    R: Runtime,
    F: MakeService<
        Service: Service<Exchange<R::Stream>, Response = Done<R::Stream>, Error = io::Error>,
    >,
    M: Fn(ThreadConfig) -> F,
{
    type Response = ();
    type Error = io::Error;

    async fn call(&self, stream: R::Stream) -> io::Result<()> {
        pb_engine::serve_connection::<R, _, _>(stream, self.limits, self.header_deadline, |ex| {
            let stack = self.stack();
            async move { stack.call(ex).await }
        })
        .await;
        Ok(())
    }
}

/// The request stack of one thread's configuration, as a factory:
/// auth -> injected work -> header rules -> routing -> forwarding.
fn request_factory<R: Runtime>(
    config: ThreadConfig,
) -> impl MakeService<
    Service: Service<Exchange<R::Stream>, Response = Done<R::Stream>, Error = io::Error>,
    Error = std::convert::Infallible,
> {
    let http: HttpConfig = config.param();
    let forward = ForwardFactory::<R, LocalPool<Conn<R::Stream>>>::new(http.0);
    service_async::stack::FactoryStack::new(config)
        .replace(forward)
        .push(RouteFactory::layer())
        .push(RewriteFactory::layer())
        .push(SpendFactory::layer())
        .push(AuthFactory::layer())
        .check_make_svc::<Exchange<R::Stream>>()
        .into_inner()
}

/// The whole HTTP stack a borrowing core serves each connection with:
/// connection limit -> HTTP connection loop -> auth -> injected work ->
/// header rules -> routing -> forwarding (idle upstream connections kept
/// per thread). Built once per thread, on it; `seed` varies random
/// balancing between threads. Under [`Strategy::Rebuild`] with a bus, use
/// [`rebuild_stack`].
pub fn http_stack<R: Runtime>(
    config: StackConfig,
    seed: u64,
) -> impl Service<R::Stream, Response = (), Error = io::Error> + use<R> {
    let config = ThreadConfig::new(config, seed);
    let requests = request_factory::<R>(config.clone());
    let stack = service_async::stack::FactoryStack::new(config)
        .replace(requests)
        .push(HttpConnFactory::<R, _>::layer())
        .push(ConnLimitFactory::layer())
        .check_make_svc::<R::Stream>();
    let Ok(svc) = stack.make();
    svc
}

/// The HTTP stack under [`Strategy::Rebuild`]: connection limit -> a
/// connection loop that takes the thread's current request stack per
/// request ([`RebuildConn`]). `bus` is where configurations are
/// published.
pub fn rebuild_stack<R: Runtime>(
    config: StackConfig,
    bus: Arc<ConfigBus>,
    seed: u64,
) -> impl Service<R::Stream, Response = (), Error = io::Error> + use<R> {
    let config = ThreadConfig::new(config, seed);
    let http: HttpConfig = config.param();
    let version = config.reloading.version;
    let Ok(first) = request_factory::<R>(config.clone()).make();
    let conn = RebuildConn {
        make: request_factory::<R>,
        config: config.clone(),
        bus,
        current: RefCell::new((version, Rc::new(first))),
        limits: http.0.head_limits(),
        header_deadline: http.0.timeouts.client_header(),
        _runtime: std::marker::PhantomData::<fn() -> R>,
    };
    crate::conn::ConnLimit::new(conn, config.param())
}

/// The tcp-forward stack a borrowing core serves each connection with:
/// connection limit -> [`TunnelService`]. Built once per thread; `seed`
/// varies random balancing per thread.
pub fn tunnel_stack<R: Echo>(
    config: &StackConfig,
    seed: u64,
) -> impl Service<R::Stream, Response = (), Error = io::Error> + use<R> {
    let forwarding = config
        .http
        .as_ref()
        .expect("tcp-forward is served with a configuration (checked at start)");
    let tunnel = TunnelService::<R> {
        tunnel: pb_engine::Tunnel::new(&forwarding.0, seed, config.echo.buf_size),
        _runtime: std::marker::PhantomData,
    };
    crate::conn::ConnLimit::new(tunnel, config.param())
}

/// The bottom of the tcp-forward stack: the engine's tunnel on runtime
/// `R`'s relay.
pub struct TunnelService<R> {
    tunnel: pb_engine::Tunnel,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for TunnelService<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelService")
            .field("tunnel", &self.tunnel)
            .finish()
    }
}

impl<R: Echo> Service<R::Stream> for TunnelService<R> {
    type Response = ();
    type Error = io::Error;

    async fn call(&self, stream: R::Stream) -> io::Result<()> {
        self.tunnel.serve::<R>(stream).await
    }
}

/// The echo stack a borrowing core serves each connection with:
/// connection limit -> the runtime's echo service `E`. Built once per
/// thread.
pub fn echo_stack<St, E>(config: StackConfig) -> impl Service<St, Response = (), Error = io::Error>
where
    E: Service<St, Response = (), Error = io::Error> + From<EchoParams>,
{
    let echo = EchoFactory::<E>::new(&config);
    let stack = service_async::stack::FactoryStack::new(config)
        .replace(echo)
        .push(ConnLimitFactory::layer())
        .check_make_svc::<St>();
    let Ok(svc) = stack.make();
    svc
}
