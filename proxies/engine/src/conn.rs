//! Connection accounting: the one piece of "governance" the echo scenario
//! carries, so every core runs a real layer in front of its handler.
//!
//! [`ConnGauge`] counts active, accepted and refused connections and decides
//! whether a new one fits under the limit; each service composition wraps
//! that decision in its own layer (`pb_borrow::ConnLimit`,
//! `pb_tower::ConnLimitLayer`), and the lifecycle drains on it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
