//! The connection limit as a tower layer over the engine's shared
//! [`ConnGauge`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pb_engine::ConnGauge;
use tower::{Layer, Service};

/// Tower layer over the shared [`ConnGauge`]: admits a connection only
/// under the limit and keeps it counted until its future completes.
#[derive(Debug, Clone)]
pub struct ConnLimitLayer {
    gauge: ConnGauge,
    limit: usize,
}

impl ConnLimitLayer {
    /// Admits at most `limit` concurrent connections.
    pub fn new(gauge: ConnGauge, limit: usize) -> Self {
        ConnLimitLayer { gauge, limit }
    }
}

impl<S> Layer<S> for ConnLimitLayer {
    type Service = ConnLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnLimit {
            inner,
            gauge: self.gauge.clone(),
            limit: self.limit,
        }
    }
}

/// The service [`ConnLimitLayer`] produces.
#[derive(Debug, Clone)]
pub struct ConnLimit<S> {
    inner: S,
    gauge: ConnGauge,
    limit: usize,
}

impl<S, R> Service<R> for ConnLimit<S>
where
    S: Service<R, Error = io::Error>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<S::Response>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.gauge.try_enter(self.limit) {
            Ok(guard) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let out = fut.await;
                    drop(guard);
                    out
                })
            }
            Err(refused) => Box::pin(std::future::ready(Err(refused.into()))),
        }
    }
}
