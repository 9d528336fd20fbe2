//! The HTTP middleware as tower layers, over the decisions in
//! `pb_shared::proxy` (the borrowing cores wrap the same decisions in
//! `service-async` layers). Every future is boxed and `Send + 'static`:
//! that is what sharing a stack through `Buffer` across work-stealing
//! workers costs, and what this core measures.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pb_shared::http::Limits;
use pb_shared::proxy::config::{AuthConfig, ProxyConfig};
use pb_shared::proxy::filter::{self, HeaderRules};
use pb_shared::proxy::io::{Runtime, Stream};
use pb_shared::proxy::pool::SharedPool;
use pb_shared::proxy::route::Router;
use pb_shared::proxy::{Conn, Done, Exchange, Forwarder, serve_connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::{Layer, Service, ServiceExt};

use crate::BoxFuture;

// === impl TokioRt ===

/// tokio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct TokioStream(pub TcpStream);

impl std::os::fd::AsRawFd for TokioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for TokioStream {
    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        // read_buf fills the spare capacity without zeroing it first.
        let result = self.0.read_buf(&mut buf).await;
        (result, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.0.write_all(&buf).await;
        (result, buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// Marker type: tokio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug)]
pub struct TokioRt;

impl Runtime for TokioRt {
    type Stream = TokioStream;

    async fn connect(addr: SocketAddr) -> io::Result<TokioStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }

    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }
}

type Ex = Exchange<TokioStream>;
type Out = Done<TokioStream>;

// === impl AuthLayer ===

/// Refuses requests without the configured token (401/403).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Option<Arc<AuthConfig>>,
}

impl AuthLayer {
    /// Checks `auth` when given; passes everything otherwise.
    pub fn new(auth: Option<AuthConfig>) -> Self {
        AuthLayer {
            auth: auth.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    auth: Option<Arc<AuthConfig>>,
}

impl<S> Service<Ex> for Auth<S>
where
    S: Service<Ex, Response = Out, Error = io::Error, Future = BoxFuture<Out>>,
{
    type Response = Out;
    type Error = io::Error;
    type Future = BoxFuture<Out>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, ex: Ex) -> Self::Future {
        if let Some(auth) = &self.auth
            && let Err(refusal) = filter::authorize(auth, &ex.head)
        {
            return Box::pin(ex.respond(refusal.status(), b""));
        }
        self.inner.call(ex)
    }
}

// === impl RewriteLayer ===

/// Applies the header rules.
#[derive(Debug, Clone)]
pub struct RewriteLayer {
    rules: Arc<HeaderRules>,
}

impl RewriteLayer {
    /// Applies `rules` to every exchange.
    pub fn new(rules: HeaderRules) -> Self {
        RewriteLayer {
            rules: Arc::new(rules),
        }
    }
}

impl<S> Layer<S> for RewriteLayer {
    type Service = Rewrite<S>;
    fn layer(&self, inner: S) -> Rewrite<S> {
        Rewrite {
            inner,
            rules: Arc::clone(&self.rules),
        }
    }
}

/// The service [`RewriteLayer`] makes.
#[derive(Debug, Clone)]
pub struct Rewrite<S> {
    inner: S,
    rules: Arc<HeaderRules>,
}

impl<S> Service<Ex> for Rewrite<S>
where
    S: Service<Ex, Response = Out, Error = io::Error, Future = BoxFuture<Out>>,
{
    type Response = Out;
    type Error = io::Error;
    type Future = BoxFuture<Out>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut ex: Ex) -> Self::Future {
        ex.request_remove
            .extend(self.rules.request_remove.iter().cloned());
        ex.request_add
            .extend(self.rules.request_add.iter().cloned());
        ex.response_add
            .extend(self.rules.response_add.iter().cloned());
        self.inner.call(ex)
    }
}

// === impl RouteLayer ===

/// Chooses the pool by host and path.
#[derive(Debug, Clone)]
pub struct RouteLayer {
    router: Arc<Router>,
}

impl RouteLayer {
    /// Routes with `router`.
    pub fn new(router: Router) -> Self {
        RouteLayer {
            router: Arc::new(router),
        }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Route<S>;
    fn layer(&self, inner: S) -> Route<S> {
        Route {
            inner,
            router: Arc::clone(&self.router),
        }
    }
}

/// The service [`RouteLayer`] makes.
#[derive(Debug, Clone)]
pub struct Route<S> {
    inner: S,
    router: Arc<Router>,
}

impl<S> Service<Ex> for Route<S>
where
    S: Service<Ex, Response = Out, Error = io::Error, Future = BoxFuture<Out>>,
{
    type Response = Out;
    type Error = io::Error;
    type Future = BoxFuture<Out>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut ex: Ex) -> Self::Future {
        ex.route = self.router.route(ex.head.host().as_deref(), ex.head.path());
        self.inner.call(ex)
    }
}

// === impl ForwardService ===

/// The bottom of the request stack: one forwarder (balancers, idle
/// upstream connections) shared by every worker.
#[derive(Debug, Clone)]
pub struct ForwardService {
    forwarder: Arc<Forwarder<SharedPool<Conn<TokioStream>>>>,
}

impl ForwardService {
    /// Forwards with `forwarder`.
    pub fn new(forwarder: Forwarder<SharedPool<Conn<TokioStream>>>) -> Self {
        ForwardService {
            forwarder: Arc::new(forwarder),
        }
    }
}

impl Service<Ex> for ForwardService {
    type Response = Out;
    type Error = io::Error;
    type Future = BoxFuture<Out>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, ex: Ex) -> Self::Future {
        let forwarder = Arc::clone(&self.forwarder);
        Box::pin(async move { forwarder.forward::<TokioRt>(ex).await })
    }
}

// === impl HttpConnService ===

/// Connection-level service: the HTTP/1.1 connection loop, sending each
/// request through the buffered request stack.
#[derive(Debug, Clone)]
pub struct HttpConnService<S> {
    requests: S,
    limits: Limits,
    header_deadline: Duration,
}

impl<S> HttpConnService<S> {
    /// Serves connections with `requests` under `config`'s limits.
    pub fn new(requests: S, config: &ProxyConfig) -> Self {
        HttpConnService {
            requests,
            limits: config.head_limits(),
            header_deadline: config.timeouts.client_header(),
        }
    }
}

impl<S> Service<TokioStream> for HttpConnService<S>
where
    S: Service<Ex, Response = Out> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send,
{
    type Response = ();
    type Error = io::Error;
    type Future = BoxFuture<()>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: TokioStream) -> Self::Future {
        let requests = self.requests.clone();
        let (limits, deadline) = (self.limits, self.header_deadline);
        Box::pin(async move {
            serve_connection::<TokioRt, _, _>(stream, limits, deadline, move |ex| {
                let svc = requests.clone();
                async move {
                    svc.oneshot(ex)
                        .await
                        .map_err(|e| io::Error::other(e.into()))
                }
            })
            .await;
            Ok(())
        })
    }
}
