//! This composition on any thread-per-core runtime: the runtime crate
//! supplies its adapter and its echo loop; how the stacks are built per
//! thread and served is here, once for every such runtime.

use std::net::SocketAddr;
use std::rc::Rc;

use pb_core::{Scenario, ServeError, ServeOpts};
use pb_engine::lifecycle::{Composition, ThreadPerCore, serve_thread_per_core};
use pb_engine::{Echo, Runtime};
use pb_sys::Shutdown;
use service_async::Service;

use crate::config::{EchoService, StackConfig};
use crate::http::{echo_stack, http_stack, rebuild_stack, tunnel_stack};
use pb_core::reload::Strategy;
use std::sync::Arc;

/// The stream a thread-per-core runtime's connections arrive on.
type StreamOf<T> = <<T as ThreadPerCore>::Rt as Runtime>::Stream;

/// The borrowing composition, for [`TpcCore`](pb_engine::lifecycle::TpcCore):
/// each thread builds its stack once and shares it with its connections
/// through an `Rc` (the stack never leaves the thread).
#[derive(Debug, Clone, Copy)]
pub struct Borrowing;

impl<T> Composition<T> for Borrowing
where
    T: ThreadPerCore<Rt: Echo>,
{
    fn serve(
        self,
        rt: T,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = StackConfig::new(opts);
        let gauge = config.conn.gauge.clone();
        match config.scenario {
            Scenario::Echo => {
                serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |_| {
                    let svc = Rc::new(echo_stack::<StreamOf<T>, EchoService<T::Rt>>(
                        config.clone(),
                    ));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
            Scenario::TcpForward => {
                serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
                    let svc = Rc::new(tunnel_stack::<T::Rt>(&config, thread as u64));
                    move |stream| call(Rc::clone(&svc), stream)
                })
            }
            Scenario::HttpForward => match (config.reload.clone(), config.strategy) {
                (Some(bus), Strategy::Rebuild) => {
                    serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
                        let svc = Rc::new(rebuild_stack::<T::Rt>(
                            config.clone(),
                            Arc::clone(&bus),
                            thread as u64,
                        ));
                        move |stream| call(Rc::clone(&svc), stream)
                    })
                }
                _ => serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
                    let svc = Rc::new(http_stack::<T::Rt>(config.clone(), thread as u64));
                    move |stream| call(Rc::clone(&svc), stream)
                }),
            },
        }
    }
}

/// Serves one connection; errors end this connection only (the peer sees
/// the close).
async fn call<S: Service<St>, St>(svc: Rc<S>, stream: St) {
    let _ = svc.call(stream).await;
}
