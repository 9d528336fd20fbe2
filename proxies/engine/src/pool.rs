//! Idle upstream connections kept for reuse: per thread on the
//! thread-per-core cores ([`LocalPool`]), shared by all workers on tokio
//! ([`SharedPool`]). Both keep them the same way ([`Idle`]).
//!
//! An idle connection is checked before it is handed out: one the
//! upstream closed, or on which it sent bytes nobody asked for, is
//! dropped, never reused (RFC 9112 §9.2: a response with no request
//! outstanding is not a response). When a dead one turns up, or at the
//! first take after [`SWEEP_EVERY`] without a sweep, every idle
//! connection to that upstream is checked, so dead ones buried under live
//! ones in the LIFO do not linger. Nothing watches a pool between takes:
//! an upstream nobody asks for keeps its dead connections until the next
//! request to it.
//!
//! A burst (a stall upstream, a spike of load) opens more connections
//! than steady load needs; afterwards the LIFO keeps reusing the top ones
//! and the rest sit at the bottom, open, unused. Connections that stayed
//! at the bottom, untaken, for a whole [`IDLE_TIMEOUT`] are closed at the
//! next sweep (nginx closes idle upstream connections after 60 s by
//! default, `keepalive_timeout`), so a pool returns to what its load
//! needs. Which ones those are needs no clock per connection: each list
//! remembers how low it was taken down to since its last trim.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most idle connections kept per upstream.
pub const MAX_IDLE_PER_UPSTREAM: usize = 512;

/// How often at most every idle connection to an upstream is checked
/// without a dead one having been seen.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How long a connection may sit unused at the bottom of a pool before a
/// sweep closes it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where idle upstream connections wait.
pub trait UpstreamPool<S> {
    /// An idle connection to `addr` that `usable` accepts, most recently
    /// used first; the ones it refuses are dropped.
    fn take(&self, addr: SocketAddr, usable: impl Fn(&S) -> bool) -> Option<S>;
    /// Returns a connection that can carry another request.
    fn put(&self, addr: SocketAddr, stream: S);
}

/// A pool a rebuilt stack takes over from the stack it replaces
/// (`make_via_ref` under the rebuild reload strategy): the idle
/// connections move, so a reload does not cost warm upstream connections.
pub trait Adopt {
    /// A new pool holding every idle connection of this one, which is
    /// left empty.
    fn adopt(&self) -> Self;
}

/// Idle connections per upstream.
#[derive(Debug)]
pub struct Idle<S> {
    by_addr: HashMap<SocketAddr, List<S>>,
}

/// One upstream's idle connections, most recently used last.
#[derive(Debug)]
struct List<S> {
    conns: Vec<S>,
    /// When every connection was last checked.
    swept: Instant,
    /// When the unused bottom was last closed.
    trimmed: Instant,
    /// How many at the bottom no take has reached since `trimmed`.
    untouched: usize,
}

impl<S> List<S> {
    fn new(now: Instant) -> List<S> {
        List {
            conns: Vec::new(),
            swept: now,
            trimmed: now,
            untouched: 0,
        }
    }

    /// Drops what `usable` refuses, anywhere in the list (keeping count
    /// of the untouched bottom), then, once per [`IDLE_TIMEOUT`], closes
    /// the bottom no take reached in that time.
    fn sweep(&mut self, usable: impl Fn(&S) -> bool, now: Instant) {
        let (mut position, mut untouched) = (0, self.untouched);
        let bottom = self.untouched;
        self.conns.retain(|conn| {
            let keep = usable(conn);
            if !keep && position < bottom {
                untouched -= 1;
            }
            position += 1;
            keep
        });
        self.untouched = untouched;
        self.swept = now;
        if now.duration_since(self.trimmed) >= IDLE_TIMEOUT {
            self.conns.drain(..self.untouched);
            self.trimmed = now;
            self.untouched = self.conns.len();
        }
    }
}

impl<S> Default for Idle<S> {
    fn default() -> Self {
        Idle {
            by_addr: HashMap::new(),
        }
    }
}

impl<S> Idle<S> {
    /// See [`UpstreamPool::take`].
    pub fn take(&mut self, addr: SocketAddr, usable: impl Fn(&S) -> bool) -> Option<S> {
        let list = self.by_addr.get_mut(&addr)?;
        let mut dead = false;
        let found = loop {
            match list.conns.pop() {
                None => break None,
                Some(conn) if usable(&conn) => break Some(conn),
                Some(_) => dead = true,
            }
        };
        list.untouched = list.untouched.min(list.conns.len());
        let now = Instant::now();
        if dead || now.duration_since(list.swept) >= SWEEP_EVERY {
            list.sweep(usable, now);
        }
        found
    }

    /// See [`UpstreamPool::put`].
    pub fn put(&mut self, addr: SocketAddr, conn: S) {
        let list = self
            .by_addr
            .entry(addr)
            .or_insert_with(|| List::new(Instant::now()));
        if list.conns.len() < MAX_IDLE_PER_UPSTREAM {
            list.conns.push(conn);
        }
    }
}

/// One thread's pool.
#[derive(Debug)]
pub struct LocalPool<S> {
    idle: RefCell<Idle<S>>,
}

impl<S> Default for LocalPool<S> {
    fn default() -> Self {
        LocalPool {
            idle: RefCell::new(Idle::default()),
        }
    }
}

impl<S> UpstreamPool<S> for LocalPool<S> {
    fn take(&self, addr: SocketAddr, usable: impl Fn(&S) -> bool) -> Option<S> {
        self.idle.borrow_mut().take(addr, usable)
    }

    fn put(&self, addr: SocketAddr, stream: S) {
        self.idle.borrow_mut().put(addr, stream);
    }
}

impl<S> Adopt for LocalPool<S> {
    fn adopt(&self) -> Self {
        LocalPool {
            idle: RefCell::new(std::mem::take(&mut *self.idle.borrow_mut())),
        }
    }
}

/// A pool shared between threads.
#[derive(Debug)]
pub struct SharedPool<S> {
    idle: Mutex<Idle<S>>,
}

impl<S> Default for SharedPool<S> {
    fn default() -> Self {
        SharedPool {
            idle: Mutex::new(Idle::default()),
        }
    }
}

impl<S> UpstreamPool<S> for SharedPool<S> {
    fn take(&self, addr: SocketAddr, usable: impl Fn(&S) -> bool) -> Option<S> {
        self.idle.lock().ok()?.take(addr, usable)
    }

    fn put(&self, addr: SocketAddr, stream: S) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.put(addr, stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adopting_pool_takes_every_idle_connection() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let old = LocalPool::default();
        old.put(addr, 7);
        let new = old.adopt();
        assert_eq!(old.take(addr, |_| true), None);
        assert_eq!(new.take(addr, |_| true), Some(7));
    }

    #[test]
    fn dead_connections_are_dropped_and_swept() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut idle = Idle::default();
        // (id, alive): the top of the LIFO is dead, one below it too.
        for conn in [(1, true), (2, false), (3, true), (4, false)] {
            idle.put(addr, conn);
        }
        let usable = |c: &(i32, bool)| c.1;
        assert_eq!(idle.take(addr, usable), Some((3, true)));
        // Finding 4 dead swept the list: 2 is gone too, only 1 is left.
        assert_eq!(idle.by_addr[&addr].conns, [(1, true)]);
        assert_eq!(idle.take(addr, usable), Some((1, true)));
        assert_eq!(idle.take(addr, usable), None);
    }

    #[test]
    fn connections_no_take_reached_for_the_idle_timeout_are_closed() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut idle = Idle::default();
        // A burst left 10 connections; steady load then uses the top 2.
        for id in 0..10 {
            idle.put(addr, id);
        }
        // As a trim leaves it: every connection counts as untouched.
        let start = idle.by_addr[&addr].trimmed;
        let list = idle.by_addr.get_mut(&addr).unwrap();
        list.untouched = list.conns.len();
        let steady = |idle: &mut Idle<i32>| {
            let a = idle.take(addr, |_| true).unwrap();
            let b = idle.take(addr, |_| true).unwrap();
            idle.put(addr, b);
            idle.put(addr, a);
        };
        steady(&mut idle);
        // Before the timeout, a sweep closes nothing.
        idle.by_addr
            .get_mut(&addr)
            .unwrap()
            .sweep(|_| true, start + IDLE_TIMEOUT / 2);
        assert_eq!(idle.by_addr[&addr].conns.len(), 10);
        // After it, the 8 no take reached are closed; the 2 in use stay.
        steady(&mut idle);
        let list = idle.by_addr.get_mut(&addr).unwrap();
        list.sweep(|_| true, start + IDLE_TIMEOUT);
        assert_eq!(list.conns, [8, 9]);
        assert_eq!(list.untouched, 2);
        // A dead one below the mark is not counted twice.
        list.untouched = 2;
        list.sweep(|c| *c != 8, start + IDLE_TIMEOUT);
        assert_eq!((list.conns.len(), list.untouched), (1, 1));
    }
}
