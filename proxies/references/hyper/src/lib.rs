//! The `hyper` reference core: what a Rust engineer gets by writing a
//! proxy straight on hyper instead of adopting a framework or our
//! engine. tokio's multi-thread runtime (the same accept loop, pinning
//! and drain as `tokio-tower`, from `pb-rt-tokio`), hyper 1's HTTP/1
//! server per connection, hyper-util's pooled legacy `Client` to the
//! upstreams, and one `service_fn` that does what hyper's proxy examples
//! do: check, rewrite, send, relay.
//!
//! Only the decisions are shared with the grid — which pool a request
//! routes to (`pb_engine::route::Router`), which upstream the pool's
//! policy picks (`pb_engine::balance::Balancer`), which headers the
//! rules add and remove — so that the same configuration means the same
//! thing; the token check (401 without it, 403 when wrong) is written on
//! hyper's header map. Parsing, framing,
//! connection reuse and everything on the wire are hyper's: where hyper
//! answers a conformance case differently from proxybench's contract,
//! that is what this core is here to show.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pb_core::{CoreInfo, ProxyConfig, ProxyCore, Scenario, ServeError, ServeOpts};
use pb_engine::decide::Decisions;
use pb_sys::Shutdown;

/// The `hyper` core.
pub static HYPER: Hyper = Hyper;

/// The `hyper` reference core.
#[derive(Debug)]
pub struct Hyper;

static INFO: CoreInfo = CoreInfo {
    name: "hyper",
    runtime: "tokio 1 multi-thread (work stealing), epoll, one listener",
    service: "reference stack: hyper 1 http1 server, hyper-util pooled client, one service_fn",
    grid: None,
    requirements: &[],
    scenarios: &[Scenario::HttpForward],
};

/// Headers that belong to one connection (RFC 9110 §7.6.1), removed in
/// both directions as a proxy must; hyper does not do it for a proxy.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

type Body = BoxBody<Bytes, hyper::Error>;

impl ProxyCore for Hyper {
    fn info(&self) -> &'static CoreInfo {
        &INFO
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = opts.reference_config(INFO.name)?;
        let limit = opts.max_conns;
        pb_rt_tokio::serve_multi_thread(opts, shutdown, on_ready, |gauge| {
            let proxy = Arc::new(Proxy::new(&config));
            let gauge = gauge.clone();
            move |stream: pb_rt_tokio::TokioStream| {
                let proxy = Arc::clone(&proxy);
                let gauge = gauge.clone();
                async move {
                    let Ok(_counted) = gauge.try_enter(limit) else {
                        return;
                    };
                    let header_timeout = proxy.decisions.timeouts.client_header();
                    let (head_bytes, max_headers) = proxy.head_limits;
                    let service = hyper::service::service_fn(move |req| {
                        let proxy = Arc::clone(&proxy);
                        async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        // hyper's floor for its read buffer is 8 KiB.
                        .max_buf_size(head_bytes.max(8192))
                        .max_headers(max_headers)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream.0), service)
                        .await;
                }
            }
        })
    }
}

/// What every request needs, built once.
struct Proxy {
    client: Client<HttpConnector, Body>,
    decisions: Decisions,
    /// The configured head limits: bytes, header fields.
    head_limits: (usize, usize),
}

impl Proxy {
    fn new(config: &ProxyConfig) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeouts.connect()));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Proxy {
            client,
            decisions: Decisions::new(config),
            head_limits: (config.limits.max_head_bytes, config.limits.max_headers),
        }
    }

    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let d = &self.decisions;
        let token = d
            .auth
            .as_ref()
            .and_then(|auth| req.headers().get(auth.header.as_str()))
            .map(HeaderValue::as_bytes);
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let route = match d.admit(token, host, req.uri().path()) {
            Ok(route) => route,
            Err(code) => {
                return status(StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN));
            }
        };
        let pick = d.balancers[route].pick();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let Ok(uri) = format!("http://{}{path}", pick.addr).parse() else {
            return status(StatusCode::BAD_REQUEST);
        };
        // An absolute-form target names the authority; Host follows it.
        let authority = req.uri().authority().map(|a| a.as_str().to_owned());
        *req.uri_mut() = uri;
        // The proxy speaks HTTP/1.1 to upstreams whatever the client spoke.
        *req.version_mut() = hyper::Version::HTTP_11;
        let headers = req.headers_mut();
        if let Some(authority) = authority
            && let Ok(value) = HeaderValue::from_str(&authority)
        {
            headers.insert(hyper::header::HOST, value);
        }
        strip_hop_by_hop(headers);
        for name in &self.decisions.rules.request_remove {
            headers.remove(&**name);
        }
        append(headers, &self.decisions.rules.request_add);
        let req = req.map(|body| body.boxed());
        let response =
            tokio::time::timeout(self.decisions.timeouts.response(), self.client.request(req));
        let mut response = match response.await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => return status(StatusCode::BAD_GATEWAY),
            Err(_) => return status(StatusCode::GATEWAY_TIMEOUT),
        };
        drop(pick);
        let headers = response.headers_mut();
        strip_hop_by_hop(headers);
        append(headers, &self.decisions.rules.response_add);
        response.map(|body| body.boxed())
    }
}

/// Removes the hop-by-hop headers, including those `Connection` names.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        // A client cannot make the proxy drop the target's Host.
        .filter(|n| !n.is_empty() && n != "host")
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// Appends the rule's headers (names and values the config checked).
fn append(headers: &mut hyper::HeaderMap, add: &[pb_http::Header]) {
    for header in add {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(&header.value),
        ) {
            headers.append(name, value);
        }
    }
}

/// A response from the proxy itself.
fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = code;
    response
}
