//! Serialising heads for the next hop. End-to-end headers are copied
//! byte for byte in their original order; hop-by-hop ones are dropped and
//! the framing header is written from the decided [`Framing`].

use std::io::Write as _;

use crate::body::{Emit, Framing};
use crate::error::reason_phrase;
use crate::head::{Header, Name, RequestHead, ResponseHead, Version};

/// The interim response a proxy sends for `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn framing_header(out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::Length(n) => {
            let _ = write!(out, "content-length: {n}\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Empty | Framing::UntilClose => {}
    }
}

/// Writes the head of `req` for the upstream: always HTTP/1.1 on a
/// reusable connection, minus headers named in `remove`, plus `add`. An
/// HTTP/1.0 request may come without Host; HTTP/1.1 requires one (RFC
/// 9112 §3.2), so it gets `fallback_host`, the upstream's address.
pub fn request_head(
    out: &mut Vec<u8>,
    req: &RequestHead,
    remove: &[Name],
    add: &[Header],
    fallback_host: std::net::SocketAddr,
) {
    out.extend_from_slice(req.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.end_to_end() {
        if !remove.iter().any(|r| h.is(r)) {
            header(out, h.name, h.value);
        }
    }
    if req.header("host").is_none() {
        let _ = write!(out, "host: {fallback_host}\r\n");
    }
    for h in add {
        header(out, &h.name, &h.value);
    }
    framing_header(out, req.framing);
    out.extend_from_slice(b"\r\n");
}

/// How a response reaches the client: decided once from the request and
/// the upstream's response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePlan {
    /// How the body is written.
    pub emit: Emit,
    /// Whether the client connection can carry another request afterwards.
    pub keep_alive: bool,
    /// The client is HTTP/1.0, so a kept connection must say so.
    pub http10: bool,
}

impl ResponsePlan {
    /// A chunked or close-delimited body goes to an HTTP/1.1 client
    /// chunked (so a cut-short body is visibly short), and to an HTTP/1.0
    /// client as plain bytes until close: it cannot read chunked (RFC 9112
    /// §6.1). A close-delimited upstream body still ends the client
    /// connection.
    pub fn new(req: &RequestHead, res: &ResponseHead) -> ResponsePlan {
        let http10 = req.version == Version::Http10;
        let emit = match res.framing {
            Framing::Chunked | Framing::UntilClose if !http10 => Emit::Chunked,
            _ => Emit::Payload,
        };
        let delimited_by_close =
            res.framing == Framing::UntilClose || (http10 && res.framing == Framing::Chunked);
        ResponsePlan {
            emit,
            keep_alive: req.keep_alive && !delimited_by_close,
            http10,
        }
    }
}

fn status_line(out: &mut Vec<u8>, res: &ResponseHead) {
    let _ = write!(out, "HTTP/1.1 {:03} ", res.status);
    out.extend_from_slice(res.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the head of `res` for the client, plus `add`, framed as `plan`
/// says. A client that will not be kept gets `connection: close`; an
/// HTTP/1.0 client that will be, `connection: keep-alive`.
pub fn response_head(out: &mut Vec<u8>, res: &ResponseHead, add: &[Header], plan: ResponsePlan) {
    status_line(out, res);
    for h in res.end_to_end() {
        header(out, h.name, h.value);
    }
    for h in add {
        header(out, &h.name, &h.value);
    }
    match (res.framing, plan.emit) {
        // HEAD and 304 responses announce the length of a body they do not
        // carry; that announcement is end-to-end and passes unchanged.
        (Framing::Empty, _) => {
            if res.announces_length()
                && let Some(h) = res.headers().find(|h| h.is("content-length"))
            {
                header(out, h.name, h.value);
            }
        }
        (Framing::Length(n), _) => framing_header(out, Framing::Length(n)),
        (_, Emit::Chunked) => framing_header(out, Framing::Chunked),
        (_, Emit::Payload) => {}
    }
    if !plan.keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if plan.http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes an interim (1xx) response for the client: status line and
/// end-to-end headers, never a length (RFC 9110 §15.2, §8.6).
pub fn interim_head(out: &mut Vec<u8>, res: &ResponseHead) {
    status_line(out, res);
    for h in res.end_to_end() {
        header(out, h.name, h.value);
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete response the proxy makes itself (auth refusals, errors).
pub fn response(status: u16, headers: &[Header], body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for h in headers {
        header(&mut out, &h.name, &h.value);
    }
    let _ = write!(out, "content-length: {}\r\n", body.len());
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A closing error response with the reason as a one-line text body.
pub fn error_response(status: u16, reason: &str) -> Vec<u8> {
    error_response_for(status, reason, false)
}

/// [`error_response`], answering a HEAD when `head_request`: the same
/// head, without the body (RFC 9110 §9.3.2). A client reads no body after
/// a HEAD's response whatever its length says, so body bytes sent anyway
/// would be read as the start of the next response.
pub fn error_response_for(status: u16, reason: &str, head_request: bool) -> Vec<u8> {
    let body = format!("{reason}\n");
    let mut out = response(
        status,
        &[Header::new("content-type", "text/plain")],
        body.as_bytes(),
        false,
    );
    if head_request {
        out.truncate(out.len() - body.len());
    }
    out
}
