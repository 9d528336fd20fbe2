//! The HTTP middleware as tower layers over the engine's decisions
//! (`pb-borrow` wraps the same decisions in `service-async` layers). Every
//! future is boxed and `Send + 'static`: that is what sharing a stack
//! through `Buffer` across work-stealing workers costs, and what the tower
//! composition measures.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pb_core::config::{AuthConfig, ProxyConfig};
use pb_engine::filter::{self, Work};
use pb_engine::{Done, Exchange};
use pb_http::Limits;
use tower::{Layer, Service, ServiceExt};

use crate::{BoxFuture, RequestFn, SendRuntime, SharedForwarder};

type Ex<R> = Exchange<<R as pb_engine::Runtime>::Stream>;
type Out<R> = Done<<R as pb_engine::Runtime>::Stream>;

// === impl AuthLayer ===

/// Refuses requests without the configured token (401/403), answering
/// on runtime `R`.
#[derive(Debug, Clone)]
pub struct AuthLayer<R> {
    auth: Option<Arc<AuthConfig>>,
    _runtime: PhantomData<R>,
}

impl<R> AuthLayer<R> {
    /// Checks `auth` when given; passes everything otherwise.
    pub fn new(auth: Option<AuthConfig>) -> Self {
        AuthLayer {
            auth: auth.map(Arc::new),
            _runtime: PhantomData,
        }
    }
}

impl<S, R: Clone> Layer<S> for AuthLayer<R> {
    type Service = Auth<R, S>;
    fn layer(&self, inner: S) -> Auth<R, S> {
        Auth {
            inner,
            auth: self.auth.clone(),
            _runtime: PhantomData,
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct Auth<R, S> {
    inner: S,
    auth: Option<Arc<AuthConfig>>,
    _runtime: PhantomData<R>,
}

impl<S, R: SendRuntime> Service<Ex<R>> for Auth<R, S>
where
    S: Service<Ex<R>, Response = Out<R>, Error = io::Error, Future = BoxFuture<Out<R>>>,
{
    type Response = Out<R>;
    type Error = io::Error;
    type Future = BoxFuture<Out<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, ex: Ex<R>) -> Self::Future {
        if let Some(auth) = &self.auth
            && let Err(refusal) = filter::authorize(auth, &ex.head)
        {
            return R::respond(ex, refusal.status());
        }
        self.inner.call(ex)
    }
}

// === impl SpendLayer ===

/// The injected work of `[work]` (experiments only). Its `call` part is
/// spent in `call` itself, before the future exists, which is what
/// `Buffer` serialises: behind it, on the one worker task every
/// connection shares. A request's header-selected part is spent inside
/// the future, as a well-written tower service does heavy work.
#[derive(Debug, Clone)]
pub struct SpendLayer<R> {
    work: Option<Arc<Work>>,
    _runtime: PhantomData<R>,
}

impl<R> SpendLayer<R> {
    /// The work `config` asks for (none without a `[work]` section).
    pub fn new(config: &ProxyConfig) -> Self {
        SpendLayer {
            work: Work::new(config).map(Arc::new),
            _runtime: PhantomData,
        }
    }
}

impl<S, R: Clone> Layer<S> for SpendLayer<R> {
    type Service = Spend<R, S>;
    fn layer(&self, inner: S) -> Spend<R, S> {
        Spend {
            inner,
            work: self.work.clone(),
            _runtime: PhantomData,
        }
    }
}

/// The service [`SpendLayer`] makes.
#[derive(Debug, Clone)]
pub struct Spend<R, S> {
    inner: S,
    work: Option<Arc<Work>>,
    _runtime: PhantomData<R>,
}

impl<S, R: SendRuntime> Service<Ex<R>> for Spend<R, S>
where
    S: Service<Ex<R>, Response = Out<R>, Error = io::Error, Future = BoxFuture<Out<R>>>,
{
    type Response = Out<R>;
    type Error = io::Error;
    type Future = BoxFuture<Out<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, ex: Ex<R>) -> Self::Future {
        let Some(work) = &self.work else {
            return self.inner.call(ex);
        };
        work.in_call();
        match work.requested(&ex.head) {
            Err(refused) => R::respond(ex, refused.0),
            Ok(0) => self.inner.call(ex),
            Ok(iters) => {
                let future = self.inner.call(ex);
                Box::pin(async move {
                    Work::in_future(iters);
                    future.await
                })
            }
        }
    }
}

// === impl ForwardService ===

/// The bottom of the request stack: one forwarder (balancers, idle
/// upstream connections) shared by every worker.
pub struct ForwardService<R: SendRuntime> {
    forwarder: Arc<SharedForwarder<R>>,
}

impl<R: SendRuntime> std::fmt::Debug for ForwardService<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardService").finish_non_exhaustive()
    }
}

impl<R: SendRuntime> Clone for ForwardService<R> {
    fn clone(&self) -> Self {
        ForwardService {
            forwarder: Arc::clone(&self.forwarder),
        }
    }
}

impl<R: SendRuntime> ForwardService<R> {
    /// Forwards with `forwarder`.
    pub fn new(forwarder: SharedForwarder<R>) -> Self {
        ForwardService {
            forwarder: Arc::new(forwarder),
        }
    }
}

impl<R: SendRuntime> Service<Ex<R>> for ForwardService<R> {
    type Response = Out<R>;
    type Error = io::Error;
    type Future = BoxFuture<Out<R>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, ex: Ex<R>) -> Self::Future {
        R::forward(Arc::clone(&self.forwarder), ex)
    }
}

// === impl HttpConnService ===

/// Connection-level service: the HTTP/1.1 connection loop, sending each
/// request through the buffered request stack.
#[derive(Debug, Clone)]
pub struct HttpConnService<R, S> {
    requests: S,
    limits: Limits,
    header_deadline: Duration,
    _runtime: PhantomData<R>,
}

impl<R, S> HttpConnService<R, S> {
    /// Serves connections with `requests` under `config`'s limits.
    pub fn new(requests: S, config: &ProxyConfig) -> Self {
        HttpConnService {
            requests,
            limits: config.head_limits(),
            header_deadline: config.timeouts.client_header(),
            _runtime: PhantomData,
        }
    }
}

impl<R, S> Service<R::Stream> for HttpConnService<R, S>
where
    R: SendRuntime,
    S: Service<Ex<R>, Response = Out<R>> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send,
{
    type Response = ();
    type Error = io::Error;
    type Future = BoxFuture<()>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: R::Stream) -> Self::Future {
        let requests = self.requests.clone();
        let call: RequestFn<R> = Box::new(move |ex| {
            let svc = requests.clone();
            Box::pin(async move {
                svc.oneshot(ex)
                    .await
                    .map_err(|e| io::Error::other(e.into()))
            })
        });
        R::serve_connection(stream, self.limits, self.header_deadline, call)
    }
}
