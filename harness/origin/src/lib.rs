//! The origin behind every forwarding scenario: one process per origin,
//! several origins form a pool. It answers by query parameters so a
//! driver or a test says what it wants in the request itself:
//!
//! | parameter | effect |
//! |---|---|
//! | `size=N` | a body of N bytes of [`body_byte`] pattern |
//! | `chunked=1` | send the body chunked (8 KiB chunks) instead of with a length |
//! | `close=1` | delimit the body by closing the connection |
//! | `status=N` | answer with status N (204 and 304 carry no body) |
//! | `delay_ms=N` | wait N ms before answering |
//! | `echo_head=1` | the body is the request head exactly as received |
//! | `bad=clte`, `bad=dupcl`, `bad=die_mid_body` | a broken response (both framings, two lengths, a body cut short) |
//! | `resp_hop=1` | add hop-by-hop response headers (and one end-to-end) a proxy must strip (keep) |
//! | (a request body) | echoed back, framed as the request framed it |
//!
//! With [`OriginOpts::chaos`] it misbehaves on its own, at random, on a
//! share of requests ([`Fault`]): resets mid-body, stalls, or closes the
//! connection after answering as if it would keep it; what a proxy must
//! survive without a wrong byte to its clients.
//!
//! With [`OriginOpts::echo`] it speaks no HTTP: each connection's bytes
//! are written back as they arrive and its FIN answered with one, the
//! upstream of the tcp-forward scenario.
//!
//! Every response carries `x-origin: <id>`; every request can be appended
//! to a record file (one line per request: method, target, head bytes,
//! body length and digest) so conformance tests see what crossed the proxy.
//! Requests are read with the judge's own parser (`pb-wire`), not the
//! cores' codec, so a framing bug in the cores cannot hide behind the same
//! bug here.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pb_sys::{CpuSet, Shutdown, accept, socket};
use pb_wire::{BodyLen, BodyReader, Request, field, parse_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use pb_wire::pattern::{DIGEST_SEED, body_byte, digest};

/// What the origin answers a request it cannot read, then it closes.
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// The longest request head the origin waits for.
const MAX_HEAD: usize = 64 * 1024;

/// How to run an origin.
#[derive(Debug, Clone)]
pub struct OriginOpts {
    /// Address to listen on (port 0 allowed).
    pub listen: SocketAddr,
    /// Worker threads.
    pub threads: usize,
    /// CPUs to run on.
    pub cpus: Option<CpuSet>,
    /// Identity sent in `x-origin`.
    pub id: String,
    /// Append a line per request here.
    pub record: Option<PathBuf>,
    /// Delay every response by this much (a deliberately slow origin).
    pub delay: Duration,
    /// Echo bytes instead of answering HTTP (tcp-forward's upstream).
    pub echo: bool,
    /// Misbehave at random on a share of requests.
    pub chaos: Option<Chaos>,
}

/// Random misbehaviour: each request, with probability `share`, meets one
/// of the [`Fault`]s, chosen evenly. Seeded per connection (`seed` and the
/// connection's number), so a run's faults are the same run to run for
/// the same arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chaos {
    /// Share of requests that meet a fault, 0..=1.
    pub share: f64,
    /// Seed of the choices.
    pub seed: u64,
    /// How long a stall lasts.
    pub stall: Duration,
}

/// What a faulty origin does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Sends the head and half the body, then resets the connection.
    ResetMidBody,
    /// Waits [`Chaos::stall`] before answering, then answers well.
    Stall,
    /// Answers well, then closes the connection although the response
    /// announced nothing: the proxy finds out when it reuses it.
    CloseAfter,
}

impl Fault {
    /// Every fault, in the order a draw picks them.
    pub const ALL: [Fault; 3] = [Fault::ResetMidBody, Fault::Stall, Fault::CloseAfter];
}

/// An origin that could not start.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The runtime or the record file could not be set up.
    #[error("cannot start the origin: {0}")]
    Setup(#[source] std::io::Error),
}

struct Origin {
    id: String,
    record: Option<Mutex<std::fs::File>>,
    delay: Duration,
    echo: bool,
    chaos: Option<Chaos>,
    connections: std::sync::atomic::AtomicU64,
}

/// Serves until `shutdown`; `on_ready` gets the bound address.
pub fn run(
    opts: &OriginOpts,
    shutdown: &Shutdown,
    on_ready: &mut dyn FnMut(SocketAddr),
) -> Result<(), OriginError> {
    if let Some(cpus) = &opts.cpus {
        cpus.pin_current_thread().map_err(OriginError::Setup)?;
    }
    let record = match &opts.record {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(OriginError::Setup)?,
        )),
        None => None,
    };
    let origin = Arc::new(Origin {
        id: opts.id.clone(),
        record,
        delay: opts.delay,
        echo: opts.echo,
        chaos: opts.chaos,
        connections: std::sync::atomic::AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()
        .map_err(OriginError::Setup)?;
    let std_listener = socket::listener(opts.listen).map_err(|source| OriginError::Bind {
        addr: opts.listen,
        source,
    })?;
    runtime.block_on(async {
        let listener = TcpListener::from_std(std_listener).map_err(OriginError::Setup)?;
        on_ready(listener.local_addr().map_err(OriginError::Setup)?);
        accept::accept_until_shutdown(
            || listener.accept(),
            tokio::time::sleep,
            shutdown,
            |accepted| {
                if let Ok((stream, _)) = accepted {
                    let origin = Arc::clone(&origin);
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let _ = origin.serve(stream).await;
                    });
                }
            },
        )
        .await;
        Ok(())
    })
}

/// Writes back whatever arrives; on the peer's FIN, shuts the write side.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Query parameter `name` of `target`.
fn param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn param_u64(target: &str, name: &str) -> Option<u64> {
    param(target, name).and_then(|v| v.parse().ok())
}

impl Origin {
    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let conn = self
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = if self.echo {
            echo(stream).await
        } else {
            self.serve_conn(conn, stream).await
        };
        // Conformance cases check that a proxy closes its upstream side
        // when its client goes away.
        self.write_record(&format!(
            "{{\"origin\":{:?},\"conn\":{conn},\"closed\":true}}\n",
            self.id
        ));
        result
    }

    async fn serve_conn(&self, conn: u64, mut stream: TcpStream) -> std::io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut draws = self
            .chaos
            .map(|c| fastrand::Rng::with_seed(c.seed ^ conn.wrapping_mul(0xA24B_AED4_963E_E407)));
        loop {
            // The head.
            let (head, head_len) = loop {
                match parse_request(&buf) {
                    Ok(Some(parsed)) => break parsed,
                    Ok(None) if buf.len() <= MAX_HEAD => {}
                    Ok(None) | Err(_) => {
                        stream.write_all(BAD_REQUEST).await?;
                        return Ok(());
                    }
                }
                if stream.read_buf(&mut buf).await? == 0 {
                    return Ok(());
                }
            };
            let raw_head = buf[..head_len].to_vec();
            buf.drain(..head_len);
            if field(&head.fields, "expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
            {
                stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            }
            // The body: read whole (origin bodies are test-sized), digest it.
            let mut body = Vec::new();
            let mut payload = Vec::new();
            let mut reader = BodyReader::new(head.body);
            let mut payload_digest = DIGEST_SEED;
            while !reader.is_done() {
                let Ok(used) = reader.read(&buf, |p| payload.extend_from_slice(p)) else {
                    stream.write_all(BAD_REQUEST).await?;
                    return Ok(());
                };
                body.extend_from_slice(&buf[..used]);
                buf.drain(..used);
                if reader.is_done() {
                    break;
                }
                if stream.read_buf(&mut buf).await? == 0 {
                    return Ok(());
                }
            }
            payload_digest = digest(&payload, payload_digest);
            self.record(conn, &head, &raw_head, payload.len(), payload_digest);

            let fault = match (&mut draws, self.chaos) {
                (Some(draws), Some(chaos)) => {
                    (draws.f64() < chaos.share).then(|| Fault::ALL[draws.usize(..Fault::ALL.len())])
                }
                _ => None,
            };
            let mut delay =
                param_u64(&head.target, "delay_ms").map_or(self.delay, Duration::from_millis);
            if let (Some(Fault::Stall), Some(chaos)) = (fault, self.chaos) {
                delay += chaos.stall;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let keep_alive = self.respond(&head, &raw_head, &body, &payload, &mut out);
            if fault == Some(Fault::ResetMidBody) {
                // The head and half of what follows it, then a reset
                // (linger zero: RST, not FIN).
                let head_end = out
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map_or(0, |p| p + 4);
                let cut = head_end + (out.len() - head_end) / 2;
                stream.write_all(&out[..cut]).await?;
                let _ = socket::reset_on_close(&stream);
                return Ok(());
            }
            stream.write_all(&out).await?;
            out.clear();
            if fault == Some(Fault::CloseAfter) {
                return Ok(());
            }
            if !keep_alive {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }

    fn record(&self, conn: u64, head: &Request, raw: &[u8], body_len: usize, body_digest: u64) {
        if self.record.is_none() {
            return;
        }
        self.write_record(&format!(
            "{{\"origin\":{:?},\"conn\":{conn},\"method\":{:?},\"target\":{:?},\"head\":{:?},\"body_len\":{},\"body_digest\":\"{:016x}\"}}\n",
            self.id,
            head.method,
            head.target,
            String::from_utf8_lossy(raw),
            body_len,
            body_digest
        ));
    }

    fn write_record(&self, line: &str) {
        if let Some(file) = &self.record
            && let Ok(mut f) = file.lock()
        {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Builds the response into `out`; returns whether to keep the
    /// connection.
    fn respond(
        &self,
        head: &Request,
        raw_head: &[u8],
        body: &[u8],
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let target = head.target.as_str();
        let status = param_u64(target, "status").unwrap_or(200) as u16;
        match param(target, "bad") {
            Some("clte") => {
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
                return false;
            }
            Some("dupcl") => {
                out.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello",
                );
                return false;
            }
            Some("die_mid_body") => {
                // Promise 1000 bytes, deliver 500, then close.
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
                out.extend((0..500).map(body_byte));
                return false;
            }
            _ => {}
        }
        let close = param(target, "close").is_some() || !head.keep_alive;
        // A request body is echoed, framed as the request framed it.
        let echo_chunked = head.body == BodyLen::Chunked;
        let bytes: Vec<u8> = if param(target, "echo_head").is_some() {
            raw_head.to_vec()
        } else if echo_chunked {
            body.to_vec()
        } else if head.body != BodyLen::None {
            payload.to_vec()
        } else {
            let size = param_u64(target, "size").unwrap_or(0);
            (0..size).map(body_byte).collect()
        };
        let no_body = head.method == "HEAD" || status == 204 || status == 304;
        let chunked = echo_chunked || param(target, "chunked").is_some();
        let _ = write!(
            out,
            "HTTP/1.1 {status} {}\r\nx-origin: {}\r\n",
            reason_phrase(status),
            self.id
        );
        if param(target, "resp_hop").is_some() {
            out.extend_from_slice(
                b"Connection: X-Resp-Hop\r\nX-Resp-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Resp-Custom: Va  l\tue\r\n",
            );
        }
        if param(target, "close").is_some() {
            out.extend_from_slice(b"connection: close\r\n\r\n");
            if !no_body {
                out.extend_from_slice(&bytes);
            }
            return false;
        }
        if status == 204 {
            out.extend_from_slice(b"\r\n");
        } else if chunked {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            }
            out.extend_from_slice(b"\r\n");
            if !no_body {
                if echo_chunked {
                    out.extend_from_slice(&bytes);
                } else {
                    for chunk in bytes.chunks(8192) {
                        let _ = write!(out, "{:x}\r\n", chunk.len());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                }
            }
        } else {
            let _ = write!(out, "content-length: {}\r\n", bytes.len());
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            }
            out.extend_from_slice(b"\r\n");
            if !no_body {
                out.extend_from_slice(&bytes);
            }
        }
        !close
    }
}

/// The reason phrase of the statuses tests ask the origin for.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(param_u64("/x?size=10&chunked=1", "size"), Some(10));
        assert_eq!(param("/x?size=10&chunked", "chunked"), Some(""));
        assert_eq!(param("/x", "size"), None);
    }
}
