//! Connection accounting: the one piece of "governance" the echo scenario
//! carries, so every core runs a real layer in front of its handler.
//!
//! [`ConnGauge`] counts active, accepted and refused connections and decides
//! whether a new one fits under the limit. [`ConnLimit`] is that decision as
//! a `service-async` layer (borrowing services: monoio, glommio); the tower
//! core wraps the same gauge in a tower `Layer`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use service_async::layer::{FactoryLayer, layer_fn};
use service_async::{MakeService, Param, Service};

/// Counters shared by every thread of one core process.
#[derive(Debug, Clone, Default)]
pub struct ConnGauge {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    active: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A connection was refused because the core is at its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection refused: {limit} connections already active")]
pub struct ConnRefused {
    /// The limit in force.
    pub limit: usize,
}

impl From<ConnRefused> for std::io::Error {
    fn from(refused: ConnRefused) -> Self {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, refused)
    }
}

impl ConnGauge {
    /// Admits a connection if fewer than `limit` are active. The guard
    /// keeps it counted until dropped.
    pub fn try_enter(&self, limit: usize) -> Result<ConnGuard, ConnRefused> {
        let admitted = self
            .inner
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.inner.accepted.fetch_add(1, Ordering::Relaxed);
            Ok(ConnGuard {
                gauge: self.clone(),
            })
        } else {
            self.inner.refused.fetch_add(1, Ordering::Relaxed);
            Err(ConnRefused { limit })
        }
    }

    /// Connections open right now.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Connections admitted since start.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

/// Keeps one connection counted as active.
pub struct ConnGuard {
    gauge: ConnGauge,
}

impl fmt::Debug for ConnGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnGuard").finish_non_exhaustive()
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.gauge.inner.active.fetch_sub(1, Ordering::AcqRel);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_admits_up_to_the_limit_and_releases_on_drop() {
        let gauge = ConnGauge::default();
        let a = gauge.try_enter(2).unwrap();
        let _b = gauge.try_enter(2).unwrap();
        assert_eq!(gauge.try_enter(2).unwrap_err(), ConnRefused { limit: 2 });
        assert_eq!(
            (gauge.active(), gauge.accepted(), gauge.refused()),
            (2, 2, 1)
        );
        drop(a);
        assert_eq!(gauge.active(), 1);
        let _c = gauge.try_enter(2).unwrap();
        assert_eq!(gauge.accepted(), 3);
    }
}
