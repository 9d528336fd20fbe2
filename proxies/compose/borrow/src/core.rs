//! A core made of a thread-per-core runtime and this composition: the
//! runtime crate supplies its adapter, its echo service and its
//! [`CoreInfo`]; how the stacks are built per thread and served is here,
//! once for every such runtime.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use pb_core::{CoreInfo, ProxyCore, Scenario, ServeError, ServeOpts};
use pb_engine::lifecycle::{ThreadPerCore, serve_thread_per_core};
use pb_engine::{Echo, Runtime};
use pb_sys::Shutdown;
use service_async::Service;

use crate::config::{EchoService, StackConfig};
use crate::http::{echo_stack, http_stack};

/// The stream a thread-per-core runtime's connections arrive on.
type StreamOf<T> = <<T as ThreadPerCore>::Rt as Runtime>::Stream;

/// Runtime `T` serving with borrowing stacks (its echo loop from
/// `pb_engine::Echo`).
pub struct BorrowingCore<T> {
    runtime: T,
    info: &'static CoreInfo,
}

impl<T> BorrowingCore<T> {
    /// The core `info` describes, on `runtime`.
    pub const fn new(runtime: T, info: &'static CoreInfo) -> Self {
        BorrowingCore { runtime, info }
    }
}

impl<T> fmt::Debug for BorrowingCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BorrowingCore")
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl<T> ProxyCore for BorrowingCore<T>
where
    T: ThreadPerCore<Rt: Echo>,
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
        let config = StackConfig::new(opts);
        let gauge = config.conn.gauge.clone();
        let rt = self.runtime;
        // Each thread builds its own stack once and shares it with its
        // connections through an `Rc`: the stack never leaves the thread.
        match config.scenario {
            Scenario::Echo => {
                serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |_| {
                    let svc = Rc::new(echo_stack::<StreamOf<T>, EchoService<T::Rt>>(
                        config.clone(),
                    ));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
            Scenario::HttpForward => {
                serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
                    let svc = Rc::new(http_stack::<T::Rt, _>(config.clone(), thread as u64));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
        }
    }
}

/// Serves one connection; errors end this connection only (the peer sees
/// the close).
async fn call<S: Service<St>, St>(svc: Rc<S>, stream: St) {
    let _ = svc.call(stream).await;
}
