//! A forwarding configuration in a reference proxy's own language.
//!
//! The templates (`templates/*.j2`) say how each directive is spelled;
//! this module decides everything that is logic — route order (the
//! engine's: host-specific routes first, longest prefix first), which
//! routes each nginx `server` block holds, names every program accepts,
//! quoting — so the templates stay flat and auditable.

use std::net::SocketAddr;
use std::path::Path;

use pb_core::ProxyConfig;
use pb_core::config::Policy;
use serde::Serialize;

use crate::Program;

/// A built-in program's template.
pub(crate) fn template(program: Program) -> &'static str {
    match program {
        Program::Nginx => NGINX,
        Program::Haproxy => HAPROXY,
    }
}

const NGINX: &str = include_str!("../templates/nginx.conf.j2");
const HAPROXY: &str = include_str!("../templates/haproxy.cfg.j2");

/// Connections per worker (nginx) or process (HAProxy), client and
/// upstream sides together: far beyond what a cell opens, and within the
/// descriptor limit of a default shell (HAProxy needs two descriptors per
/// connection and refuses to start when it cannot raise its limit).
const WORKER_CONNECTIONS: usize = 8_192;

#[derive(Debug, Serialize)]
struct Context<'a> {
    listen: String,
    /// The listen address's IP and port, for languages that split them.
    listen_host: String,
    listen_port: u16,
    threads: usize,
    dir: String,
    worker_connections: usize,
    /// nginx: the buffer a whole request head must fit (rounded to KiB).
    large_header_buffer: String,
    /// HAProxy: its buffer, the head plus room for rewrites.
    bufsize: usize,
    max_headers: usize,
    t: &'a pb_core::config::TimeoutsConfig,
    pools: Vec<PoolView>,
    routes: Vec<RouteView>,
    servers: Vec<ServerView>,
    auth: Option<AuthView>,
    headers: HeadersView,
}

#[derive(Debug, Serialize)]
struct PoolView {
    /// `pool0`, `pool1`, ...: the configuration's names are free text.
    name: String,
    policy: &'static str,
    upstreams: Vec<String>,
    /// The upstreams split into IP and port.
    endpoints: Vec<EndpointView>,
}

#[derive(Debug, Serialize)]
struct EndpointView {
    host: String,
    port: u16,
}

#[derive(Debug, Clone, Serialize)]
struct RouteView {
    host: Option<String>,
    prefix: String,
    pool: String,
}

/// One nginx `server` block: a host's routes (or the default's), each
/// host also holding the host-less routes it does not shadow.
#[derive(Debug, Serialize)]
struct ServerView {
    name: String,
    routes: Vec<RouteView>,
    has_root: bool,
}

#[derive(Debug, Serialize)]
struct AuthView {
    header: String,
    /// nginx's variable for the header: `$http_` + lower case, `-` → `_`.
    variable: String,
    token: String,
}

#[derive(Debug, Serialize)]
struct HeadersView {
    request_add: Vec<(String, String)>,
    request_remove: Vec<String>,
    response_add: Vec<(String, String)>,
}

/// The configuration `template` (of the core `name`) renders, listening
/// on `addr` with `threads` workers, scratch files under `dir`. `Err`
/// names what cannot be expressed safely (a value holding a quote or a
/// line break) or what the template got wrong.
pub fn render(
    template: &str,
    name: &str,
    config: &ProxyConfig,
    addr: SocketAddr,
    threads: usize,
    dir: &Path,
) -> Result<String, String> {
    let pool_name = |name: &str| {
        config
            .pools
            .iter()
            .position(|p| p.name == name)
            .map(|i| format!("pool{i}"))
            .ok_or_else(|| format!("route to unknown pool {name:?}"))
    };
    let mut routes = config
        .routes
        .iter()
        .map(|r| {
            Ok(RouteView {
                host: r.host.as_ref().map(|h| h.to_ascii_lowercase()),
                prefix: quoted("path prefix", &r.path_prefix)?,
                pool: pool_name(&r.pool)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    // The engine's order: host-specific first, longest prefix first.
    routes.sort_by(|a, b| {
        b.host
            .is_some()
            .cmp(&a.host.is_some())
            .then(b.prefix.len().cmp(&a.prefix.len()))
    });
    let headers = &config.headers;
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(n, val)| Ok((token("header name", n)?, quoted("header value", val)?)))
            .collect::<Result<Vec<_>, String>>()
    };
    let context = Context {
        listen: addr.to_string(),
        listen_host: addr.ip().to_string(),
        listen_port: addr.port(),
        threads,
        dir: quoted("directory", &dir.display().to_string())?,
        worker_connections: WORKER_CONNECTIONS,
        large_header_buffer: format!("{}k", config.limits.max_head_bytes.div_ceil(1024)),
        bufsize: (config.limits.max_head_bytes + 2048).max(16_384),
        max_headers: config.limits.max_headers,
        t: &config.timeouts,
        pools: config
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| PoolView {
                name: format!("pool{i}"),
                policy: match p.policy {
                    Policy::RoundRobin => "round-robin",
                    Policy::Random => "random",
                    Policy::P2c => "p2c",
                },
                upstreams: p.upstreams.iter().map(SocketAddr::to_string).collect(),
                endpoints: p
                    .upstreams
                    .iter()
                    .map(|u| EndpointView {
                        host: u.ip().to_string(),
                        port: u.port(),
                    })
                    .collect(),
            })
            .collect(),
        servers: servers(&routes),
        routes,
        auth: config
            .auth
            .as_ref()
            .map(|a| {
                Ok::<_, String>(AuthView {
                    header: token("auth header", &a.header)?,
                    variable: a.header.to_ascii_lowercase().replace('-', "_"),
                    token: quoted("auth token", &a.token)?,
                })
            })
            .transpose()?,
        headers: HeadersView {
            request_add: pairs(&headers.request_add)?,
            request_remove: headers
                .request_remove
                .iter()
                .map(|n| token("header name", n))
                .collect::<Result<_, _>>()?,
            response_add: pairs(&headers.response_add)?,
        },
    };
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(template, minijinja::value::Serde(&context))
        .map_err(|e| format!("cannot render the {name} configuration: {e}"))
}

/// nginx `server` blocks: the default (host-less routes) first, then one
/// per host with its routes and the host-less ones it does not shadow.
fn servers(routes: &[RouteView]) -> Vec<ServerView> {
    let any: Vec<RouteView> = routes
        .iter()
        .filter(|r| r.host.is_none())
        .cloned()
        .collect();
    let mut hosts: Vec<&str> = Vec::new();
    for host in routes.iter().filter_map(|r| r.host.as_deref()) {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let server = |name: String, routes: Vec<RouteView>| ServerView {
        has_root: routes.iter().any(|r| r.prefix == "/"),
        name,
        routes,
    };
    let mut out = vec![server("_".into(), any.clone())];
    for host in hosts {
        let mut own: Vec<RouteView> = routes
            .iter()
            .filter(|r| r.host.as_deref() == Some(host))
            .cloned()
            .collect();
        own.extend(
            any.iter()
                .filter(|r| !own.iter().any(|o| o.prefix == r.prefix))
                .cloned()
                .collect::<Vec<_>>(),
        );
        out.push(server(host.to_owned(), own));
    }
    out
}

/// A value placed inside double quotes (or bare where it cannot hold
/// spaces): no quote, backslash or control character may break out.
fn quoted(what: &str, value: &str) -> Result<String, String> {
    if value
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "{what} {value:?} holds a quote, a backslash or a control character"
        ));
    }
    Ok(value.to_owned())
}

/// An HTTP token (a header name): RFC 9110 `tchar`s only.
fn token(what: &str, value: &str) -> Result<String, String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if value.is_empty() || !value.chars().all(tchar) {
        return Err(format!("{what} {value:?} is not an HTTP token"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProxyConfig {
        ProxyConfig::parse(
            r#"
            [[pool]]
            name = "web servers"
            policy = "p2c"
            upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"]
            [[pool]]
            name = "api"
            upstreams = ["127.0.0.1:9003"]
            [[route]]
            path_prefix = "/"
            pool = "web servers"
            [[route]]
            host = "API.example"
            path_prefix = "/v1"
            pool = "api"
            [auth]
            header = "X-Token"
            token = "s3cret"
            [headers]
            request_remove = ["x-internal"]
            request_add = [["x-forwarded-by", "proxybench"]]
            response_add = [["via", "1.1 proxybench"]]
            [timeouts]
            response_ms = 1500
            "#,
            "test",
        )
        .unwrap()
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn nginx_gets_every_part_of_the_cell_configuration() {
        let text = render(
            template(Program::Nginx),
            "nginx",
            &config(),
            addr(),
            2,
            Path::new("/tmp/x"),
        )
        .unwrap();
        for expected in [
            "worker_processes 2;",
            "upstream pool0 {\n        random two least_conn;\n        server 127.0.0.1:9001 max_fails=0;",
            "keepalive 256;",
            "map $http_x_token $pb_auth {",
            "\"s3cret\"   0;",
            "listen 127.0.0.1:8080 reuseport backlog=1024 default_server;",
            "server_name api.example;",
            "location /v1 {\n            proxy_pass http://pool1;",
            "proxy_read_timeout 1500ms;",
            "proxy_set_header x-internal \"\";",
            "proxy_set_header x-forwarded-by \"proxybench\";",
            "add_header via \"1.1 proxybench\" always;",
            "access_log off;",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // The host's server also serves the host-less "/" route.
        let host_server = &text[text.find("server_name api.example;").unwrap()..];
        assert!(host_server.contains("location / {\n            proxy_pass http://pool0;"));
    }

    #[test]
    fn haproxy_routes_in_the_engines_order_and_balances_as_configured() {
        let text = render(
            template(Program::Haproxy),
            "haproxy",
            &config(),
            addr(),
            1,
            Path::new("/tmp/x"),
        )
        .unwrap();
        let host_route = text
            .find(
                "use_backend pool1 if { req.hdr(host),field(1,:) -i api.example } { path_beg /v1 }",
            )
            .expect(&text);
        let any_route = text
            .find("use_backend pool0 if { path_beg / }")
            .expect(&text);
        assert!(host_route < any_route, "{text}");
        for expected in [
            "nbthread 1",
            "http-request return status 401 if !{ req.hdr(X-Token) -m found }",
            "http-request del-header x-internal",
            "http-response add-header via \"1.1 proxybench\"",
            "backend pool0\n    balance random(2)",
            "backend pool1\n    balance roundrobin",
            "timeout server 1500ms",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn a_value_that_would_break_out_of_its_quotes_is_refused() {
        let mut bad = config();
        bad.headers.response_add = vec![("via".into(), "x\"; evil".into())];
        let err = render(
            template(Program::Nginx),
            "nginx",
            &bad,
            addr(),
            1,
            Path::new("/tmp/x"),
        )
        .unwrap_err();
        assert!(err.contains("header value"), "{err}");
        let mut bad = config();
        bad.headers.request_remove = vec!["bad name".into()];
        let err = render(
            template(Program::Haproxy),
            "haproxy",
            &bad,
            addr(),
            1,
            Path::new("/tmp/x"),
        )
        .unwrap_err();
        assert!(err.contains("not an HTTP token"), "{err}");
    }
}
