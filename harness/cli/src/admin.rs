//! `proxy --admin`: the control channel of a serving core. A plain HTTP
//! endpoint on its own thread (not the core's runtime, so a busy or
//! stuck core still takes configurations):
//!
//! | request | answer |
//! |---|---|
//! | `PUT /config` with a forwarding configuration (TOML) | `200` and `version N` once published on the core's [`ConfigBus`]; `400` with the reason for a configuration that does not parse or changes more than pools and routes |
//! | `GET /version` | `200` and the newest version published |
//!
//! Publication is all the endpoint does: each serving thread takes the
//! new configuration at its next request, as its composition's strategy
//! says (`pb_core::reload`). One connection at a time; every answer
//! closes its connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pb_core::ProxyConfig;
use pb_core::reload::ConfigBus;

/// Largest configuration taken, bytes.
const MAX_BODY: usize = 1 << 20;

/// How long a client gets to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Listens on `addr` and serves the endpoint on a thread of its own for
/// the life of the process; returns the bound address.
pub(crate) fn serve(addr: SocketAddr, bus: Arc<ConfigBus>) -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("admin endpoint: binding {addr}"))?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("pb-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // One client's trouble is its own; the endpoint goes on.
                let _ = answer(stream, &bus);
            }
        })
        .context("admin endpoint: starting its thread")?;
    Ok(bound)
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, bus: &ConfigBus) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let (status, body) = match read_request(&mut stream) {
        Ok((method, path, body)) => respond(&method, &path, &body, bus),
        Err(reason) => (400, reason),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn respond(method: &str, path: &str, body: &[u8], bus: &ConfigBus) -> (u16, String) {
    match (method, path) {
        ("PUT", "/config") => {
            let Ok(text) = std::str::from_utf8(body) else {
                return (400, "the configuration is not UTF-8\n".into());
            };
            let published = ProxyConfig::parse(text, "PUT /config")
                .map_err(|e| e.to_string())
                .and_then(|config| bus.publish(config).map_err(|e| e.to_string()));
            match published {
                Ok(version) => (200, format!("version {version}\n")),
                Err(reason) => (400, format!("{reason}\n")),
            }
        }
        ("GET", "/version") => (200, format!("version {}\n", bus.version())),
        (_, "/config" | "/version") => (405, format!("{method} is not allowed here\n")),
        _ => (404, "PUT /config or GET /version\n".into()),
    }
}

/// The method, path and body of one request (`Content-Length` framing).
fn read_request(stream: &mut TcpStream) -> Result<(String, String, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err("request head too large\n".into());
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("connection closed before a request\n".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    request
        .parse(&buf[..head_end])
        .map_err(|e| format!("malformed request: {e}\n"))?;
    let length = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| "bad content-length\n".to_owned())
        })
        .transpose()?
        .unwrap_or(0);
    if length > MAX_BODY {
        return Err(format!("configuration over {MAX_BODY} bytes\n"));
    }
    let (method, path) = (
        request.method.unwrap_or_default().to_owned(),
        request.path.unwrap_or_default().to_owned(),
    );
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("connection closed mid-body\n".into()),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Ok((method, path, body))
}
