//! The `raw` composition: no service abstraction at all. The connection
//! loop calls the engine's middleware decisions and the forwarder as plain
//! functions, in the order every other composition's layers apply them
//! (connection limit, auth, header rules, routing, forwarding): the floor
//! every abstraction's cost is measured against.
//!
//! [`Raw`] is one thread's (or, shared behind an `Arc`, one process's)
//! connection handler; [`NoAbstraction`] is this composition for any
//! thread-per-core runtime (`pb_engine::lifecycle::TpcCore`).

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use pb_core::config::AuthConfig;
use pb_core::{ServeError, ServeOpts};
use pb_engine::filter::{self, HeaderRules};
use pb_engine::lifecycle::{Composition, ThreadPerCore, serve_thread_per_core};
use pb_engine::pool::{LocalPool, UpstreamPool};
use pb_engine::route::Router;
use pb_engine::{Conn, ConnGauge, Done, Echo, EchoParams, Exchange, Forwarder, Runtime};
use pb_http::Limits;
use pb_sys::Shutdown;

/// The composition as `proxybench cores` and results describe it.
pub const SERVICE: &str = "none: the connection loop calls the engine directly";

/// Everything one connection handler needs, built once (per thread, or
/// per process behind an `Arc`); `P` is the idle upstream pool.
#[derive(Debug)]
pub struct Raw<P> {
    limit: usize,
    gauge: ConnGauge,
    echo: EchoParams,
    http: Option<Http<P>>,
}

/// The forwarding half of [`Raw`].
#[derive(Debug)]
struct Http<P> {
    auth: Option<AuthConfig>,
    rules: HeaderRules,
    router: Router,
    forwarder: Forwarder<P>,
    limits: Limits,
    header_deadline: Duration,
}

impl<P> Raw<P> {
    /// A handler for `opts`, counting connections on `gauge`; `pool` holds
    /// idle upstream connections, `seed` varies random balancing.
    pub fn new(opts: &ServeOpts, gauge: &ConnGauge, pool: P, seed: u64) -> Raw<P> {
        Raw {
            limit: opts.max_conns,
            gauge: gauge.clone(),
            echo: EchoParams::new(opts),
            http: opts.http.as_ref().map(|config| Http {
                auth: config.auth.clone(),
                rules: HeaderRules::new(&config.headers),
                router: Router::new(config),
                forwarder: Forwarder::new(config, pool, seed),
                limits: config.head_limits(),
                header_deadline: config.timeouts.client_header(),
            }),
        }
    }

    /// Serves one connection of the scenario: echo, or the HTTP connection
    /// loop. A connection over the limit is closed at once; errors end the
    /// connection only (the peer sees the close).
    pub async fn serve<R>(&self, stream: R::Stream)
    where
        R: Echo,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        let Ok(_counted) = self.gauge.try_enter(self.limit) else {
            return;
        };
        match &self.http {
            None => {
                let _ = R::echo(stream, self.echo).await;
            }
            Some(http) => {
                pb_engine::serve_connection::<R, _, _>(
                    stream,
                    http.limits,
                    http.header_deadline,
                    |ex| http.exchange::<R>(ex),
                )
                .await
            }
        }
    }
}

impl<P> Http<P> {
    /// One request, through the decisions in layer order.
    async fn exchange<R>(&self, mut ex: Exchange<R::Stream>) -> io::Result<Done<R::Stream>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        if let Some(auth) = &self.auth
            && let Err(refusal) = filter::authorize(auth, &ex.head)
        {
            return ex.respond(refusal.status(), b"").await;
        }
        self.rules.apply(&mut ex);
        ex.route = self.router.route_head(&ex.head);
        self.forwarder.forward::<R>(ex).await
    }
}

/// The raw composition, for [`TpcCore`](pb_engine::lifecycle::TpcCore):
/// one [`Raw`] handler per thread, idle upstream connections kept per
/// thread.
#[derive(Debug, Clone, Copy)]
pub struct NoAbstraction;

impl<T> Composition<T> for NoAbstraction
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
        let gauge = ConnGauge::default();
        let (opts_for_threads, counted) = (opts.clone(), gauge.clone());
        serve_thread_per_core(rt, opts, &gauge, shutdown, on_ready, move |thread| {
            let raw = Rc::new(Raw::new(
                &opts_for_threads,
                &counted,
                LocalPool::default(),
                thread as u64,
            ));
            move |stream| {
                let raw = Rc::clone(&raw);
                async move { raw.serve::<T::Rt>(stream).await }
            }
        })
    }
}
