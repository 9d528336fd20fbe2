//! The HTTP middleware as `service-async` layers. Each layer is a thin
//! shell over a decision in the engine's [`filter`](pb_engine::filter) or
//! [`route`](pb_engine::route); `pb-tower` wraps the same decisions in
//! tower `Layer`s.
//!
//! Request stack, outermost first: [`Auth`] (refuse before anything else)
//! -> [`Rewrite`] (header rules) -> [`Route`] (pick the pool) ->
//! [`Forward`] (the upstream exchange).

use std::io;
use std::rc::Rc;
use std::sync::Arc;

use service_async::layer::{FactoryLayer, layer_fn};
use service_async::{MakeService, Param, Service};

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_engine::filter::{self, HeaderRules};
use pb_engine::pool::{LocalPool, UpstreamPool};
use pb_engine::route::Router;
use pb_engine::{Conn, Done, Exchange, Forwarder, Runtime, Stream};

use crate::config::{EchoFactory, StackConfig};
use crate::conn::{ConnLimitFactory, ConnLimitParams};
use pb_engine::EchoParams;

/// The whole configuration, as every layer's factory reads it.
#[derive(Debug, Clone)]
pub struct HttpConfig(pub Arc<ProxyConfig>);

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

// === impl Rewrite ===

/// Applies the header rules: names to drop and headers to add.
#[derive(Debug)]
pub struct Rewrite<S> {
    inner: S,
    rules: Rc<HeaderRules>,
}

impl<S, St> Service<Exchange<St>> for Rewrite<S>
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

/// Chooses the pool by host and path.
#[derive(Debug)]
pub struct Route<S> {
    inner: S,
    router: Router,
}

impl<S, St> Service<Exchange<St>> for Route<S>
where
    S: Service<Exchange<St>, Response = Done<St>, Error = io::Error>,
{
    type Response = Done<St>;
    type Error = io::Error;

    async fn call(&self, mut ex: Exchange<St>) -> io::Result<Done<St>> {
        ex.route = self.router.route_head(&ex.head);
        self.inner.call(ex).await
    }
}

/// Factory of [`Route`].
#[derive(Debug)]
pub struct RouteFactory<F> {
    inner: F,
    router: Router,
}

impl<F> RouteFactory<F> {
    /// The stack layer.
    pub fn layer<C: Param<HttpConfig>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| RouteFactory {
            inner,
            router: Router::new(&c.param().0),
        })
    }
}

impl<F: MakeService> MakeService for RouteFactory<F> {
    type Service = Route<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(Route {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            router: self.router.clone(),
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

/// Factory of [`Forward`]: each service gets fresh per-thread state.
#[derive(Debug)]
pub struct ForwardFactory<R, P> {
    config: Arc<ProxyConfig>,
    seed: u64,
    _marker: std::marker::PhantomData<fn() -> (R, P)>,
}

impl<R, P> ForwardFactory<R, P> {
    /// A factory for `config`; `seed` varies random balancing per thread.
    pub fn new(config: Arc<ProxyConfig>, seed: u64) -> Self {
        ForwardFactory {
            config,
            seed,
            _marker: std::marker::PhantomData,
        }
    }
}

impl<R: Runtime, P: Default> MakeService for ForwardFactory<R, P> {
    type Service = Forward<R, P>;
    type Error = std::convert::Infallible;

    fn make_via_ref(&self, _old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(Forward {
            forwarder: Forwarder::new(&self.config, P::default(), self.seed),
            _runtime: std::marker::PhantomData,
        })
    }
}

// === impl HttpConn ===

/// Connection-level service: runs the HTTP/1.1 connection loop on one
/// client stream, calling the request stack for every request.
#[derive(Debug)]
pub struct HttpConn<R, S> {
    requests: S,
    limits: pb_http::Limits,
    header_deadline: std::time::Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
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
    limits: pb_http::Limits,
    header_deadline: std::time::Duration,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R, F> HttpConnFactory<R, F> {
    /// The stack layer.
    pub fn layer<C: Param<HttpConfig>>() -> impl FactoryLayer<C, F, Factory = Self> {
        layer_fn(|c: &C, inner| {
            let config = c.param().0;
            HttpConnFactory {
                inner,
                limits: config.head_limits(),
                header_deadline: config.timeouts.client_header(),
                _runtime: std::marker::PhantomData,
            }
        })
    }
}

impl<R, F: MakeService> MakeService for HttpConnFactory<R, F> {
    type Service = HttpConn<R, F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(HttpConn {
            requests: self.inner.make_via_ref(old.map(|o| &o.requests))?,
            limits: self.limits,
            header_deadline: self.header_deadline,
            _runtime: std::marker::PhantomData,
        })
    }
}

/// The whole HTTP stack a borrowing core serves each connection with:
/// connection limit -> HTTP connection loop -> auth -> header rules ->
/// routing -> forwarding (idle upstream connections kept per thread).
/// Built once per thread; `seed` varies random balancing between threads.
pub fn http_stack<R, C>(
    config: C,
    seed: u64,
) -> impl Service<R::Stream, Response = (), Error = io::Error>
where
    R: Runtime,
    C: Param<HttpConfig> + Param<ConnLimitParams>,
{
    let http: HttpConfig = config.param();
    let forward = ForwardFactory::<R, LocalPool<Conn<R::Stream>>>::new(http.0, seed);
    let stack = service_async::stack::FactoryStack::new(config)
        .replace(forward)
        .push(RouteFactory::layer())
        .push(RewriteFactory::layer())
        .push(AuthFactory::layer())
        .check_make_svc::<Exchange<R::Stream>>()
        .push(HttpConnFactory::<R, _>::layer())
        .push(ConnLimitFactory::layer())
        .check_make_svc::<R::Stream>();
    let Ok(svc) = stack.make();
    svc
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
