//! This composition on a thread-per-core runtime whose futures are
//! `Send`: every thread builds its own stacks (its own `Buffer` worker,
//! forwarder and idle upstream connections) and serves its connections
//! with them.

use std::net::SocketAddr;

use pb_core::{ServeError, ServeOpts};
use pb_engine::ConnGauge;
use pb_engine::lifecycle::{Composition, ThreadPerCore, serve_thread_per_core};
use pb_sys::Shutdown;

use crate::{SendRuntime, Sharing, connection_stack, serve_connection};

/// The tower composition, shared as the [`Sharing`] says, for
/// [`TpcCore`](pb_engine::lifecycle::TpcCore) on a thread-per-core runtime
/// whose futures are `Send`: every thread builds its own stacks.
#[derive(Debug, Clone, Copy)]
pub struct Tower(pub Sharing);

impl<T> Composition<T> for Tower
where
    T: ThreadPerCore<Rt: SendRuntime>,
{
    fn serve(
        self,
        rt: T,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let gauge = ConnGauge::default();
        let (sharing, opts_for_threads, counted) = (self.0, opts.clone(), gauge.clone());
        serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |_| {
            // Made on the thread's runtime: a `Buffer` spawns its worker
            // there, so each thread has its own.
            let stack = connection_stack::<T::Rt>(&opts_for_threads, &counted, sharing);
            move |stream| serve_connection::<T::Rt>(stack.clone(), stream)
        })
    }
}
