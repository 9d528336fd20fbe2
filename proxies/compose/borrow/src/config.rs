//! What a borrowing core's `FactoryStack` is built from: one
//! configuration every layer reads its part of through `Param`, and the
//! echo service (the runtime's own echo loop, `pb_engine::Echo`, as a
//! borrowing service) with its factory.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::time::Duration;

use std::io;

use service_async::{MakeService, Param, Service};

use pb_core::{Scenario, ServeOpts};
use pb_engine::{ConnGauge, Echo, EchoParams};

use crate::conn::ConnLimitParams;
use crate::http::HttpConfig;

/// Configuration of a borrowing core's stack, made once from the serve
/// options and cloned to every thread (the connection gauge inside is
/// shared, so the limit holds across threads).
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// What the core serves.
    pub scenario: Scenario,
    /// The forwarding configuration (`http-forward` only).
    pub http: Option<HttpConfig>,
    /// Echo settings.
    pub echo: EchoParams,
    /// Connection limit and its shared counters.
    pub conn: ConnLimitParams,
    /// How long open connections get to finish after shutdown.
    pub drain: Duration,
    /// Where new configurations are published, if anywhere.
    pub reload: Option<std::sync::Arc<pb_core::reload::ConfigBus>>,
    /// How open connections take them.
    pub strategy: pb_core::reload::Strategy,
}

impl StackConfig {
    /// The stack's configuration for `opts`.
    pub fn new(opts: &ServeOpts) -> StackConfig {
        StackConfig {
            scenario: opts.scenario,
            http: opts.http.clone().map(HttpConfig),
            echo: EchoParams::new(opts),
            conn: ConnLimitParams {
                gauge: ConnGauge::default(),
                limit: opts.max_conns,
            },
            drain: opts.drain,
            reload: opts.reload.clone(),
            strategy: opts.reload_strategy,
        }
    }
}

impl Param<ConnLimitParams> for StackConfig {
    fn param(&self) -> ConnLimitParams {
        self.conn.clone()
    }
}

impl Param<HttpConfig> for StackConfig {
    fn param(&self) -> HttpConfig {
        self.http
            .clone()
            .expect("the http stack is built only with a forwarding config")
    }
}

impl Param<EchoParams> for StackConfig {
    fn param(&self) -> EchoParams {
        self.echo
    }
}

/// The echo service of runtime `R`: its [`Echo::echo`] as a borrowing
/// service.
pub struct EchoService<R> {
    params: EchoParams,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for EchoService<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoService")
            .field("params", &self.params)
            .finish()
    }
}

impl<R> From<EchoParams> for EchoService<R> {
    fn from(params: EchoParams) -> Self {
        EchoService {
            params,
            runtime: PhantomData,
        }
    }
}

impl<R: Echo> Service<R::Stream> for EchoService<R> {
    type Response = ();
    type Error = io::Error;

    async fn call(&self, stream: R::Stream) -> io::Result<()> {
        R::echo(stream, self.params).await
    }
}

/// Makes a core's echo service `S` from [`EchoParams`].
pub struct EchoFactory<S> {
    params: EchoParams,
    service: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for EchoFactory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoFactory")
            .field("params", &self.params)
            .finish()
    }
}

impl<S> EchoFactory<S> {
    /// A factory for the stack configured by `config`.
    pub fn new(config: &impl Param<EchoParams>) -> EchoFactory<S> {
        EchoFactory {
            params: config.param(),
            service: PhantomData,
        }
    }
}

impl<S: From<EchoParams>> MakeService for EchoFactory<S> {
    type Service = S;
    type Error = Infallible;

    fn make_via_ref(&self, _old: Option<&S>) -> Result<S, Infallible> {
        Ok(S::from(self.params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_core::Spin;

    #[derive(Debug, PartialEq)]
    struct Svc(EchoParams);

    impl From<EchoParams> for Svc {
        fn from(p: EchoParams) -> Svc {
            Svc(p)
        }
    }

    #[test]
    fn the_config_carries_the_serve_options_to_every_layer() {
        let mut opts = ServeOpts::new(Scenario::Echo, "127.0.0.1:0".parse().unwrap());
        opts.buf_size = 4096;
        opts.spin = Spin::iters(7);
        opts.max_conns = 3;
        let config = StackConfig::new(&opts);
        let Ok(svc) = EchoFactory::<Svc>::new(&config).make_via_ref(None);
        assert_eq!(
            svc,
            Svc(EchoParams {
                buf_size: 4096,
                spin: Spin::iters(7)
            })
        );
        let conn: ConnLimitParams = config.param();
        assert_eq!(conn.limit, 3);
        // Threads share one gauge: what one clone admits, another counts.
        let other: ConnLimitParams = config.clone().param();
        let _guard = conn.gauge.try_enter(conn.limit).unwrap();
        assert_eq!(other.gauge.active(), 1);
    }
}
