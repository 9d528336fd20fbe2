//! The connection limit as a borrowing-service layer over the engine's
//! shared [`ConnGauge`].

use pb_engine::conn::{ConnGauge, ConnRefused};
use service_async::layer::{FactoryLayer, layer_fn};
use service_async::{MakeService, Param, Service};

/// What [`ConnLimit`] needs from a stack's configuration.
#[derive(Debug, Clone)]
pub struct ConnLimitParams {
    /// Shared counters.
    pub gauge: ConnGauge,
    /// Most connections served at once.
    pub limit: usize,
}

// === impl ConnLimit ===

/// Borrowing-service layer that admits a connection only under the limit
/// and keeps it counted while the inner service handles it.
#[derive(Debug)]
pub struct ConnLimit<S> {
    inner: S,
    params: ConnLimitParams,
}

impl<S, R> Service<R> for ConnLimit<S>
where
    S: Service<R>,
    S::Error: From<ConnRefused>,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(&self, req: R) -> Result<Self::Response, Self::Error> {
        let _guard = self.params.gauge.try_enter(self.params.limit)?;
        self.inner.call(req).await
    }
}

impl<S> ConnLimit<S> {
    /// `inner` behind the limit `params` sets (a stack put together
    /// without a factory).
    pub fn new(inner: S, params: ConnLimitParams) -> ConnLimit<S> {
        ConnLimit { inner, params }
    }
}

/// Factory for [`ConnLimit`]; what [`ConnLimitFactory::layer`] pushes on a stack.
#[derive(Debug)]
pub struct ConnLimitFactory<F> {
    inner: F,
    params: ConnLimitParams,
}

impl<F> ConnLimitFactory<F> {
    /// A `FactoryStack` layer; the stack's config supplies the parameters.
    pub fn layer<C>() -> impl FactoryLayer<C, F, Factory = Self>
    where
        C: Param<ConnLimitParams>,
    {
        layer_fn(|config: &C, inner| ConnLimitFactory {
            inner,
            params: config.param(),
        })
    }
}

impl<F: MakeService> MakeService for ConnLimitFactory<F> {
    type Service = ConnLimit<F::Service>;
    type Error = F::Error;

    fn make_via_ref(&self, old: Option<&Self::Service>) -> Result<Self::Service, Self::Error> {
        Ok(ConnLimit {
            inner: self.inner.make_via_ref(old.map(|o| &o.inner))?,
            params: self.params.clone(),
        })
    }
}
