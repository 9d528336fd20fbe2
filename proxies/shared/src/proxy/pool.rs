//! Idle upstream connections kept for reuse: per thread on the
//! thread-per-core cores ([`LocalPool`]), shared by all workers on tokio
//! ([`SharedPool`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Most idle connections kept per upstream.
pub const MAX_IDLE_PER_UPSTREAM: usize = 512;

/// Where idle upstream connections wait.
pub trait UpstreamPool<S> {
    /// An idle connection to `addr`, most recently used first.
    fn take(&self, addr: SocketAddr) -> Option<S>;
    /// Returns a connection that can carry another request.
    fn put(&self, addr: SocketAddr, stream: S);
}

/// One thread's pool.
#[derive(Debug)]
pub struct LocalPool<S> {
    idle: RefCell<HashMap<SocketAddr, Vec<S>>>,
}

impl<S> Default for LocalPool<S> {
    fn default() -> Self {
        LocalPool {
            idle: RefCell::new(HashMap::new()),
        }
    }
}

impl<S> UpstreamPool<S> for LocalPool<S> {
    fn take(&self, addr: SocketAddr) -> Option<S> {
        self.idle.borrow_mut().get_mut(&addr)?.pop()
    }

    fn put(&self, addr: SocketAddr, stream: S) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(stream);
        }
    }
}

/// A pool shared between threads.
#[derive(Debug)]
pub struct SharedPool<S> {
    idle: Mutex<HashMap<SocketAddr, Vec<S>>>,
}

impl<S> Default for SharedPool<S> {
    fn default() -> Self {
        SharedPool {
            idle: Mutex::new(HashMap::new()),
        }
    }
}

impl<S> UpstreamPool<S> for SharedPool<S> {
    fn take(&self, addr: SocketAddr) -> Option<S> {
        self.idle.lock().ok()?.get_mut(&addr)?.pop()
    }

    fn put(&self, addr: SocketAddr, stream: S) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(addr).or_default();
            if list.len() < MAX_IDLE_PER_UPSTREAM {
                list.push(stream);
            }
        }
    }
}
