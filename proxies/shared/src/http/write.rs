//! Serialising heads for the next hop. End-to-end headers are copied
//! byte for byte in their original order; hop-by-hop ones are dropped and
//! the framing header is written from the decided [`Framing`].

use std::io::Write as _;

use crate::http::body::Framing;
use crate::http::error::reason_phrase;
use crate::http::head::{Header, RequestHead, ResponseHead};

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
/// reusable connection, minus headers named in `remove`, plus `add`.
pub fn request_head(out: &mut Vec<u8>, req: &RequestHead, remove: &[String], add: &[Header]) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.end_to_end() {
        if !remove.iter().any(|r| h.is(r)) {
            header(out, &h.name, &h.value);
        }
    }
    for h in add {
        header(out, &h.name, &h.value);
    }
    framing_header(out, req.framing);
    out.extend_from_slice(b"\r\n");
}

/// Writes the head of `res` for the client, plus `add`. A close-delimited
/// body, or a client that will not be kept, gets `connection: close`.
pub fn response_head(
    out: &mut Vec<u8>,
    res: &ResponseHead,
    add: &[Header],
    client_keep_alive: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let _ = write!(out, "{} ", res.status);
    out.extend_from_slice(res.reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in res.end_to_end() {
        header(out, &h.name, &h.value);
    }
    for h in add {
        header(out, &h.name, &h.value);
    }
    match res.framing {
        // HEAD and 304 responses announce the length of a body they do not
        // carry; that announcement is end-to-end and passes unchanged.
        Framing::Empty => {
            if let Some(h) = res.headers.iter().find(|h| h.is("content-length")) {
                header(out, &h.name, &h.value);
            }
        }
        framing => framing_header(out, framing),
    }
    if !client_keep_alive || res.framing == Framing::UntilClose {
        out.extend_from_slice(b"connection: close\r\n");
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
    let body = format!("{reason}\n");
    response(
        status,
        &[Header::new("content-type", "text/plain")],
        body.as_bytes(),
        false,
    )
}
