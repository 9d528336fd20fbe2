//! Load balancing over a pool's upstreams. One [`Balancer`] per pool; the
//! thread-per-core cores keep one per thread (no sharing, no contention),
//! tokio shares one. Counters are atomics either way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pb_core::config::{Policy, PoolConfig};

/// Picks upstreams for one pool.
#[derive(Debug)]
pub struct Balancer {
    upstreams: Vec<SocketAddr>,
    policy: Policy,
    next: AtomicUsize,
    rng: AtomicU64,
    in_flight: Arc<Vec<AtomicUsize>>,
}

/// An upstream chosen for one request; counts as in flight until dropped.
#[derive(Debug)]
pub struct Pick {
    /// Index in the pool.
    pub index: usize,
    /// Its address.
    pub addr: SocketAddr,
    in_flight: Arc<Vec<AtomicUsize>>,
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.in_flight[self.index].fetch_sub(1, Ordering::AcqRel);
    }
}

impl Balancer {
    /// A balancer for `pool`; `seed` varies the random policies per thread.
    pub fn new(pool: &PoolConfig, seed: u64) -> Balancer {
        Balancer {
            upstreams: pool.upstreams.clone(),
            policy: pool.policy,
            next: AtomicUsize::new(0),
            rng: AtomicU64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            in_flight: Arc::new(pool.upstreams.iter().map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    fn random(&self, below: usize) -> usize {
        // xorshift64; a lost update under contention only repeats a value.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        (x % below as u64) as usize
    }

    /// Chooses an upstream for one request.
    pub fn pick(&self) -> Pick {
        let n = self.upstreams.len();
        let index = match self.policy {
            Policy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Policy::Random => self.random(n),
            Policy::P2c if n == 1 => 0,
            Policy::P2c => {
                let a = self.random(n);
                let b = (a + 1 + self.random(n - 1)) % n;
                let load = |i: usize| self.in_flight[i].load(Ordering::Acquire);
                if load(b) < load(a) { b } else { a }
            }
        };
        self.in_flight[index].fetch_add(1, Ordering::AcqRel);
        Pick {
            index,
            addr: self.upstreams[index],
            in_flight: Arc::clone(&self.in_flight),
        }
    }

    /// Requests in flight per upstream (for tests and diagnostics).
    pub fn in_flight(&self) -> Vec<usize> {
        self.in_flight
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(policy: Policy, n: u16) -> PoolConfig {
        PoolConfig {
            name: "p".into(),
            policy,
            upstreams: (1..=n)
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect(),
        }
    }

    #[test]
    fn round_robin_is_exact() {
        let b = Balancer::new(&pool(Policy::RoundRobin, 3), 1);
        let picks: Vec<_> = (0..9).map(|_| b.pick().index).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn random_covers_every_upstream() {
        let b = Balancer::new(&pool(Policy::Random, 3), 7);
        let mut seen = [0; 3];
        for _ in 0..3000 {
            seen[b.pick().index] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }

    #[test]
    fn p2c_avoids_the_busy_upstream() {
        let b = Balancer::new(&pool(Policy::P2c, 3), 3);
        // Upstream 0 is stuck with many requests in flight.
        let stuck: Vec<_> = std::iter::repeat_with(|| b.pick())
            .take(60)
            .filter(|p| p.index == 0)
            .collect();
        assert!(!stuck.is_empty());
        let mut to_zero = 0;
        for _ in 0..300 {
            if b.pick().index == 0 {
                to_zero += 1;
            }
        }
        assert_eq!(to_zero, 0, "p2c sent requests to the busiest upstream");
        drop(stuck);
        assert_eq!(b.in_flight(), [0, 0, 0]);
    }
}
