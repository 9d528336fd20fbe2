//! A core made of a thread-per-core runtime whose futures are `Send` and
//! this composition: every thread builds its own stacks (its own
//! `Buffer` worker, forwarder and idle upstream connections) and serves
//! its connections with them.

use std::fmt;
use std::net::SocketAddr;

use pb_core::{CoreInfo, ProxyCore, ServeError, ServeOpts};
use pb_engine::ConnGauge;
use pb_engine::lifecycle::{ThreadPerCore, serve_thread_per_core};
use pb_sys::Shutdown;

use crate::{SendRuntime, Sharing, connection_stack, serve_connection};

/// Runtime `T` serving with tower stacks shared as `sharing` says, per
/// thread.
pub struct TowerCore<T> {
    runtime: T,
    sharing: Sharing,
    info: &'static CoreInfo,
}

impl<T> TowerCore<T> {
    /// The core `info` describes, on `runtime`.
    pub const fn new(runtime: T, sharing: Sharing, info: &'static CoreInfo) -> Self {
        TowerCore {
            runtime,
            sharing,
            info,
        }
    }
}

impl<T> fmt::Debug for TowerCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TowerCore")
            .field("name", &self.info.name)
            .field("sharing", &self.sharing)
            .finish_non_exhaustive()
    }
}

impl<T> ProxyCore for TowerCore<T>
where
    T: ThreadPerCore<Rt: SendRuntime>,
{
    fn info(&self) -> &'static CoreInfo {
        self.info
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let gauge = ConnGauge::default();
        let (sharing, opts_for_threads, counted) = (self.sharing, opts.clone(), gauge.clone());
        serve_thread_per_core(self.runtime, opts, &gauge, shutdown, on_ready, move |_| {
            // Made on the thread's runtime: a `Buffer` spawns its worker
            // there, so each thread has its own.
            let stack = connection_stack::<T::Rt>(&opts_for_threads, &counted, sharing);
            move |stream| serve_connection::<T::Rt>(stack.clone(), stream)
        })
    }
}
