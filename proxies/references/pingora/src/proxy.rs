//! Pingora's server and the [`ProxyHttp`] the cell's configuration
//! becomes.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pb_core::{ProxyConfig, ServeError, ServeOpts};
use pb_engine::balance::Pick;
use pb_engine::decide::Decisions;
use pb_sys::Shutdown;
use pb_sys::shutdown::POLL_INTERVAL;
use pingora_core::listeners::TcpSocketOptions;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{ProxyHttp, Session};

/// How long the server may take to accept its first connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts Pingora's server on the cell's address and serves until
/// `shutdown`; the server runs on a thread of its own (it owns its
/// runtimes and blocks) while this one waits for it to accept.
pub(crate) fn serve(
    opts: &ServeOpts,
    config: Arc<ProxyConfig>,
    shutdown: &Shutdown,
    on_ready: &mut dyn FnMut(SocketAddr, usize),
) -> Result<(), ServeError> {
    // Pingora binds by address string, so port 0 is resolved here: a
    // free port held (SO_REUSEPORT, never listening) until Pingora's own
    // SO_REUSEPORT listener holds it too.
    let reservation = opts.reserve_port()?;
    let addr = reservation.addr();
    // Pingora's runtime threads inherit the spawning thread's CPU set.
    opts.pin_current_thread()?;
    let conf = ServerConf {
        threads: opts.threads,
        // Stop at once when asked, then let open connections finish for
        // the drain time, as every core does.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(opts.drain.as_secs().max(1)),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    let mut service = pingora_proxy::http_proxy_service(&server.configuration, Proxy::new(&config));
    let mut socket = TcpSocketOptions::default();
    socket.so_reuseport = Some(true);
    service.add_tcp_with_settings(&addr.to_string(), socket);
    server.add_service(service);
    let watch = Box::new(StopWatch(shutdown.clone()));
    let running = std::thread::Builder::new()
        .name("pingora-server".into())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: watch,
            })
        })
        .map_err(|source| ServeError::Runtime {
            runtime: "pingora",
            source,
        })?;
    let ready = wait_ready(addr, &running);
    reservation.release();
    if let Err(e) = ready {
        // The server thread cannot be left running without us.
        shutdown.trigger();
        let _ = running.join();
        return Err(e);
    }
    on_ready(addr, opts.threads);
    running.join().map_err(|_| ServeError::Runtime {
        runtime: "pingora",
        source: std::io::Error::other("pingora's server thread panicked; its message is above"),
    })
}

/// Waits until `addr` accepts a connection, or the server thread ended.
fn wait_ready(addr: SocketAddr, running: &std::thread::JoinHandle<()>) -> Result<(), ServeError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let failed = |what: String| ServeError::Runtime {
        runtime: "pingora",
        source: std::io::Error::other(what),
    };
    loop {
        if running.is_finished() {
            return Err(failed("pingora's server stopped before it accepted".into()));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "pingora did not accept on {addr} within {READY_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pingora's shutdown watch on proxybench's stop flag (in place of its
/// own SIGTERM/SIGQUIT handling, so that `Shutdown` stays the one
/// source of stop requests).
struct StopWatch(Shutdown);

#[async_trait]
impl ShutdownSignalWatch for StopWatch {
    async fn recv(&self) -> ShutdownSignal {
        while !self.0.requested() {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        ShutdownSignal::GracefulTerminate
    }
}

/// The cell's configuration as Pingora's filters use it.
struct Proxy(Decisions);

impl Proxy {
    fn new(config: &ProxyConfig) -> Proxy {
        Proxy(Decisions::new(config))
    }

    /// The pool the request goes to, or the status the proxy answers
    /// it with itself.
    fn admit(&self, request: &RequestHeader) -> Result<usize, u16> {
        let token = self
            .0
            .auth
            .as_ref()
            .and_then(|auth| request.headers.get(auth.header.as_str()))
            .map(http::HeaderValue::as_bytes);
        let host = request
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri.authority().map(|a| a.as_str()));
        self.0.admit(token, host, request.uri.path())
    }
}

/// Per request: the pool routed to and the upstream picked (held until
/// the request ends, so least-connections counts it in flight).
#[derive(Default)]
struct Ctx {
    pool: usize,
    pick: Option<Pick>,
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> pingora_core::Result<bool> {
        // The keep-alive wait for the next request's head (Pingora's first
        // request waits its own fixed 60 s).
        session.set_keepalive(Some(self.0.timeouts.client_header().as_secs().max(1)));
        match self.admit(session.req_header()) {
            Ok(pool) => {
                ctx.pool = pool;
                Ok(false)
            }
            Err(status) => {
                session.respond_error(status).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Ctx,
    ) -> pingora_core::Result<Box<HttpPeer>> {
        let pick = self.0.balancers[ctx.pool].pick();
        let mut peer = HttpPeer::new(pick.addr, false, String::new());
        peer.options.connection_timeout = Some(self.0.timeouts.connect());
        peer.options.read_timeout = Some(self.0.timeouts.response());
        peer.options.write_timeout = Some(self.0.timeouts.send());
        ctx.pick = Some(pick);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut Ctx,
    ) -> pingora_core::Result<()> {
        for name in &self.0.rules.request_remove {
            upstream_request.remove_header(&**name);
        }
        for header in &self.0.rules.request_add {
            upstream_request.append_header(header.name.to_string(), &*header.value)?;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> pingora_core::Result<()> {
        for header in &self.0.rules.response_add {
            upstream_response.append_header(header.name.to_string(), &*header.value)?;
        }
        Ok(())
    }

    async fn logging(
        &self,
        _session: &mut Session,
        _error: Option<&pingora_core::Error>,
        ctx: &mut Ctx,
    ) {
        // The request is over: its upstream is no longer in flight.
        ctx.pick = None;
    }
}
