//! The cases. Each names its source: an RFC 9110/9112 section, or the
//! test suite (nginx-tests, HAProxy, hyper) whose case it follows.
//! A case returns `Err(reason)` on the first thing that is wrong.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::probe;
use crate::rfc;
use crate::suite::{Ctx, Proxy};

/// What a case exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The core as a TCP echo server.
    Echo,
    /// The core as an HTTP/1.1 reverse proxy.
    Http,
}

/// One conformance case.
#[derive(Debug)]
pub struct Case {
    /// Stable name.
    pub name: &'static str,
    /// Where the expectation comes from.
    pub source: &'static str,
    /// Scenario it runs.
    pub kind: Kind,
    /// The check.
    pub run: fn(&Ctx<'_>) -> Result<(), String>,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Every case, in the order the matrix lists them.
pub static CASES: &[Case] = &[
    Case {
        name: "echo: byte-exact at many sizes",
        source: "proxybench echo contract",
        kind: Kind::Echo,
        run: echo_sizes,
    },
    Case {
        name: "echo: half-close delivers all, then FIN",
        source: "RFC 9293 §3.6 (half-close)",
        kind: Kind::Echo,
        run: echo_half_close,
    },
    Case {
        name: "echo: client aborts free the core",
        source: "nginx-tests stream_proxy",
        kind: Kind::Echo,
        run: echo_aborts,
    },
    Case {
        name: "echo: flood past the limit is refused",
        source: "HAProxy maxconn",
        kind: Kind::Echo,
        run: echo_flood,
    },
    Case {
        name: "framing: CL with TE is 400, no smuggling",
        source: "RFC 9112 §6.1, §6.3",
        kind: Kind::Http,
        run: cl_te,
    },
    Case {
        name: "framing: duplicate Content-Length is 400",
        source: "RFC 9112 §6.3",
        kind: Kind::Http,
        run: dup_cl,
    },
    Case {
        name: "framing: invalid Content-Length is 400",
        source: "RFC 9110 §8.6",
        kind: Kind::Http,
        run: bad_cl,
    },
    Case {
        name: "framing: TE not ending in chunked is 400",
        source: "RFC 9112 §6.3",
        kind: Kind::Http,
        run: te_not_chunked,
    },
    Case {
        name: "framing: TE on HTTP/1.0 is 400",
        source: "RFC 9112 §6.1",
        kind: Kind::Http,
        run: te_http10,
    },
    Case {
        name: "framing: bad chunk size is 400",
        source: "RFC 9112 §7.1; hyper tests",
        kind: Kind::Http,
        run: bad_chunk,
    },
    Case {
        name: "framing: bare CR or NUL in a value is 400",
        source: "RFC 9110 §5.5",
        kind: Kind::Http,
        run: bad_value,
    },
    Case {
        name: "framing: space before colon is 400",
        source: "RFC 9112 §5.1",
        kind: Kind::Http,
        run: space_colon,
    },
    Case {
        name: "framing: missing or duplicate Host is 400",
        source: "RFC 9112 §3.2",
        kind: Kind::Http,
        run: host_rules,
    },
    Case {
        name: "limits: over-long request line is 414",
        source: "RFC 9112 §3; nginx large_client_header_buffers",
        kind: Kind::Http,
        run: long_line,
    },
    Case {
        name: "limits: oversized header section is 431",
        source: "RFC 6585 §5",
        kind: Kind::Http,
        run: big_headers,
    },
    Case {
        name: "limits: too many headers is 431",
        source: "RFC 6585 §5; HAProxy tune.http.maxhdr",
        kind: Kind::Http,
        run: many_headers,
    },
    Case {
        name: "limits: just under the limits passes",
        source: "proxybench limits",
        kind: Kind::Http,
        run: under_limits,
    },
    Case {
        name: "semantics: pipelined requests answered in order",
        source: "RFC 9112 §9.3.2",
        kind: Kind::Http,
        run: pipelined,
    },
    Case {
        name: "semantics: Expect 100-continue",
        source: "RFC 9110 §10.1.1",
        kind: Kind::Http,
        run: expect_continue,
    },
    Case {
        name: "semantics: HEAD, 204 and 304 carry no body",
        source: "RFC 9110 §9.3.2, §15.3.5, §15.4.5",
        kind: Kind::Http,
        run: no_body,
    },
    Case {
        name: "semantics: upstream CL with TE is 502",
        source: "RFC 9112 §6.3 (response)",
        kind: Kind::Http,
        run: upstream_cl_te,
    },
    Case {
        name: "semantics: upstream duplicate CL is 502",
        source: "RFC 9112 §6.3 (response)",
        kind: Kind::Http,
        run: upstream_dup_cl,
    },
    Case {
        name: "semantics: close-delimited body delivered whole",
        source: "RFC 9112 §6.3 item 8",
        kind: Kind::Http,
        run: close_delimited,
    },
    Case {
        name: "semantics: upstream dying mid-body never looks complete",
        source: "RFC 9112 §8; nginx proxy tests",
        kind: Kind::Http,
        run: dies_mid_body,
    },
    Case {
        name: "semantics: upstream refused is 502",
        source: "RFC 9110 §15.6.3",
        kind: Kind::Http,
        run: refused,
    },
    Case {
        name: "semantics: upstream silent is 504",
        source: "RFC 9110 §15.6.5",
        kind: Kind::Http,
        run: silent,
    },
    Case {
        name: "semantics: Connection close answered, then FIN",
        source: "RFC 9112 §9.6",
        kind: Kind::Http,
        run: conn_close,
    },
    Case {
        name: "abuse: client gone mid-request closes upstream",
        source: "nginx proxy_ignore_client_abort off",
        kind: Kind::Http,
        run: client_abort,
    },
    Case {
        name: "abuse: slowloris ends at the header deadline",
        source: "nginx client_header_timeout",
        kind: Kind::Http,
        run: slowloris,
    },
    Case {
        name: "abuse: flood past the limit refused, others served",
        source: "HAProxy maxconn",
        kind: Kind::Http,
        run: http_flood,
    },
    Case {
        name: "abuse: slow reader keeps core memory bounded",
        source: "nginx proxy_buffering; Envoy flow control",
        kind: Kind::Http,
        run: slow_reader,
    },
    Case {
        name: "pool: stray upstream bytes never reach a client",
        source: "RFC 9112 §9.2, §6.3; nginx upstream keepalive",
        kind: Kind::Http,
        run: probe::stray_bytes_on_idle,
    },
    Case {
        name: "pool: idle connections the origin closed are dropped",
        source: "RFC 9112 §9.6; hyper-util pool is_closed",
        kind: Kind::Http,
        run: probe::closed_idle_dropped,
    },
    Case {
        name: "retry: a non-idempotent request is never sent twice",
        source: "RFC 9110 §9.2.2",
        kind: Kind::Http,
        run: probe::no_unsafe_retry,
    },
    Case {
        name: "framing: Unicode whitespace in TE is 400",
        source: "RFC 9110 §5.6.3; RFC 9112 §6.3",
        kind: Kind::Http,
        run: probe::unicode_te,
    },
    Case {
        name: "framing: Unicode whitespace in Host or Connection is 400",
        source: "RFC 9110 §5.6.2, §5.6.3; RFC 9112 §3.2",
        kind: Kind::Http,
        run: probe::unicode_host_connection,
    },
    Case {
        name: "framing: chunked bodies re-framed, trailers never raw",
        source: "RFC 9112 §7.1, §7.1.2; HAProxy h1 parser",
        kind: Kind::Http,
        run: probe::chunked_reframed,
    },
    Case {
        name: "framing: empty list elements in TE are ignored",
        source: "RFC 9110 §5.6.1",
        kind: Kind::Http,
        run: probe::te_empty_elements,
    },
    Case {
        name: "semantics: unrequested 101 is 502, never pooled",
        source: "RFC 9110 §7.8, §15.2.2",
        kind: Kind::Http,
        run: probe::unrequested_101,
    },
    Case {
        name: "semantics: Connection cannot strip Host; 1.0 gets one",
        source: "RFC 9112 §3.2; RFC 9110 §7.6.1",
        kind: Kind::Http,
        run: probe::host_kept,
    },
    Case {
        name: "semantics: upstream status 099 is 502",
        source: "RFC 9110 §15",
        kind: Kind::Http,
        run: probe::invalid_status,
    },
    Case {
        name: "semantics: an HTTP/1.0 client never gets chunked",
        source: "RFC 9112 §6.1, §7",
        kind: Kind::Http,
        run: probe::no_chunked_to_http10,
    },
    Case {
        name: "semantics: no Content-Length on 204",
        source: "RFC 9110 §8.6",
        kind: Kind::Http,
        run: probe::no_length_on_204,
    },
    Case {
        name: "semantics: interim 1xx responses are forwarded",
        source: "RFC 9110 §15.2",
        kind: Kind::Http,
        run: probe::interim_forwarded,
    },
    Case {
        name: "semantics: absolute-form targets are accepted",
        source: "RFC 9112 §3.2.2",
        kind: Kind::Http,
        run: probe::absolute_form,
    },
    Case {
        name: "semantics: HTTP/1.2 is served as HTTP/1.1",
        source: "RFC 9110 §2.5",
        kind: Kind::Http,
        run: probe::http_1_2,
    },
    Case {
        name: "request line: a method that is not a token is refused",
        source: "RFC 9112 §3.1; RFC 9110 §9.1",
        kind: Kind::Http,
        run: rfc::method_not_token,
    },
    Case {
        name: "request line: extra whitespace is refused or normalised",
        source: "RFC 9112 §3",
        kind: Kind::Http,
        run: rfc::request_line_whitespace,
    },
    Case {
        name: "request line: a version other than HTTP/1.x is 505 or 400",
        source: "RFC 9112 §2.3; RFC 9110 §15.6.6",
        kind: Kind::Http,
        run: rfc::version_not_1x,
    },
    Case {
        name: "request line: the HTTP name is case-sensitive",
        source: "RFC 9112 §2.3",
        kind: Kind::Http,
        run: rfc::version_case_sensitive,
    },
    Case {
        name: "request target: a fragment is 400, never forwarded",
        source: "RFC 9112 §3.2",
        kind: Kind::Http,
        run: rfc::fragment_in_target,
    },
    Case {
        name: "request target: a byte outside visible ASCII is 400",
        source: "RFC 9112 §3.2; RFC 3986 §2",
        kind: Kind::Http,
        run: rfc::non_ascii_target,
    },
    Case {
        name: "request target: userinfo in absolute form is 400",
        source: "RFC 9110 §4.2.4; RFC 9112 §3.2.2",
        kind: Kind::Http,
        run: rfc::userinfo_in_target,
    },
    Case {
        name: "request target: OPTIONS * forwarded in asterisk form",
        source: "RFC 9112 §3.2.4",
        kind: Kind::Http,
        run: rfc::asterisk_form,
    },
    Case {
        name: "request target: CONNECT is refused, never forwarded",
        source: "RFC 9112 §3.2.3; RFC 9110 §9.3.6",
        kind: Kind::Http,
        run: rfc::connect_refused,
    },
    Case {
        name: "field syntax: a field name that is not a token is 400",
        source: "RFC 9110 §5.1; RFC 9112 §5",
        kind: Kind::Http,
        run: rfc::field_name_not_token,
    },
    Case {
        name: "field syntax: a field line without a colon is 400",
        source: "RFC 9112 §5",
        kind: Kind::Http,
        run: rfc::field_without_colon,
    },
    Case {
        name: "field syntax: whitespace before the first field is 400",
        source: "RFC 9112 §2.2",
        kind: Kind::Http,
        run: rfc::whitespace_before_first_field,
    },
    Case {
        name: "field syntax: obs-fold is refused or unfolded",
        source: "RFC 9112 §5.2",
        kind: Kind::Http,
        run: rfc::request_obs_fold,
    },
    Case {
        name: "body length: no framing means no body",
        source: "RFC 9112 §6.3",
        kind: Kind::Http,
        run: rfc::request_without_framing,
    },
    Case {
        name: "body length: Content-Length with leading zeros",
        source: "RFC 9110 §8.6",
        kind: Kind::Http,
        run: rfc::content_length_leading_zeros,
    },
    Case {
        name: "body length: upstream bytes past Content-Length are not a response",
        source: "RFC 9112 §6.3",
        kind: Kind::Http,
        run: rfc::upstream_bytes_past_length,
    },
    Case {
        name: "connection: HTTP/1.0 without keep-alive closes",
        source: "RFC 9112 §9.3",
        kind: Kind::Http,
        run: rfc::http10_closes,
    },
    Case {
        name: "connection: HTTP/1.0 keep-alive is said or closed",
        source: "RFC 9112 §9.3, Appendix C.2.2",
        kind: Kind::Http,
        run: rfc::http10_keep_alive,
    },
    Case {
        name: "connection: nothing is read after close",
        source: "RFC 9112 §9.6",
        kind: Kind::Http,
        run: rfc::nothing_read_after_close,
    },
    Case {
        name: "connection: Connection options and hop-by-hop fields removed",
        source: "RFC 9110 §7.6.1",
        kind: Kind::Http,
        run: rfc::connection_options_removed,
    },
    Case {
        name: "upgrade: an Upgrade the proxy does not tunnel is not forwarded",
        source: "RFC 9110 §7.8",
        kind: Kind::Http,
        run: rfc::upgrade_not_forwarded,
    },
    Case {
        name: "status: no 1xx to an HTTP/1.0 client",
        source: "RFC 9110 §15.2",
        kind: Kind::Http,
        run: rfc::no_interim_to_http10,
    },
    Case {
        name: "expect: 100-continue from an HTTP/1.0 client is ignored",
        source: "RFC 9110 §10.1.1, §15.2",
        kind: Kind::Http,
        run: rfc::expect_ignored_on_http10,
    },
    Case {
        name: "upstream: a malformed status line is 502",
        source: "RFC 9112 §4",
        kind: Kind::Http,
        run: rfc::upstream_bad_status,
    },
    Case {
        name: "upstream: whitespace before a colon is 502 or removed",
        source: "RFC 9112 §5.1",
        kind: Kind::Http,
        run: rfc::upstream_space_before_colon,
    },
    Case {
        name: "upstream: obs-fold is 502 or unfolded",
        source: "RFC 9112 §5.2",
        kind: Kind::Http,
        run: rfc::upstream_obs_fold,
    },
    Case {
        name: "upstream: an oversized header section is 502 or whole",
        source: "RFC 9112 §5; RFC 9110 §5.4",
        kind: Kind::Http,
        run: rfc::upstream_too_many_fields,
    },
    Case {
        name: "timeout: stalled request bodies end at the deadline",
        source: "nginx client_body_timeout; RFC 9110 §15.5.9",
        kind: Kind::Http,
        run: probe::stalled_request_bodies,
    },
    Case {
        name: "timeout: stalled upstream body flushed, then cut",
        source: "nginx proxy_read_timeout; RFC 9112 §8",
        kind: Kind::Http,
        run: probe::stalled_upstream_body,
    },
    Case {
        name: "timeout: a client that stops reading is dropped",
        source: "nginx send_timeout",
        kind: Kind::Http,
        run: probe::client_stops_reading,
    },
    Case {
        name: "fault: origin killed and restarted under load",
        source: "proxybench fault contract (DESIGN: faults under load)",
        kind: Kind::Http,
        run: origin_restart,
    },
    Case {
        name: "fault: RSS bounded after a soak at fixed load",
        source: "proxybench fault contract (README: 64 MiB)",
        kind: Kind::Http,
        run: soak,
    },
];

/// The RSS bound a core must stay under after the soak (stated in the README).
pub const SOAK_RSS_BOUND: u64 = 64 << 20;

fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64).map(pb_wire::pattern::body_byte).collect()
}

/// Sends raw bytes and expects `status`, then a close.
pub(crate) fn expect_status_and_close(
    ctx: &Ctx<'_>,
    proxy: &Proxy,
    raw: &[u8],
    status: u16,
) -> Result<(), String> {
    let mut c = ctx.client(proxy)?;
    c.send(raw).map_err(|e| format!("send: {e}"))?;
    let r = c.response();
    ensure!(
        r.status == status,
        "expected {status}, got {} ({:?})",
        r.status,
        first_line(&r.head)
    );
    ensure!(c.closed(), "connection left open after {status}");
    Ok(())
}

/// The first line of a head (the status or request line).
pub(crate) fn first_line(head: &str) -> &str {
    head.lines().next().unwrap_or("")
}

/// A fresh HTTP core answers `GET target` with `status`.
fn expect_get_status(ctx: &Ctx<'_>, target: &str, status: u16) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let r = ctx.client(&p)?.get(target);
    ensure!(r.status == status, "expected {status}, got {}", r.status);
    Ok(())
}

/// Echoes `data` on `c`, writing from another thread.
fn echo_roundtrip(c: &mut Client, data: &[u8]) -> Result<Vec<u8>, String> {
    c.send(data).map_err(|e| format!("send: {e}"))?;
    while c.pending().len() < data.len() {
        if c.fill() == 0 {
            return Err(format!(
                "closed after {} of {} bytes",
                c.pending().len(),
                data.len()
            ));
        }
    }
    Ok(c.take(data.len()))
}

// === echo ===

fn echo_sizes(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.echo(&["--threads", "2"])?;
    let mut c = ctx.client(&p)?;
    for size in [1, 100, 1000, 16_385, 100_000] {
        let data = pattern(size);
        let back = echo_roundtrip(&mut c, &data)?;
        ensure!(back == data, "{size} B came back altered");
    }
    Ok(())
}

fn echo_half_close(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.echo(&[])?;
    let mut c = ctx.client(&p)?;
    let data = pattern(50_000);
    c.send(&data).map_err(|e| e.to_string())?;
    c.shutdown_write().map_err(|e| e.to_string())?;
    while c.fill() > 0 {}
    ensure!(
        c.pending() == data.as_slice(),
        "{} of {} bytes before EOF",
        c.pending().len(),
        data.len()
    );
    Ok(())
}

fn echo_aborts(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.echo(&["--max-conns", "20"])?;
    // More aborted connections than the limit: if they were not freed,
    // the next connection would be refused.
    for _ in 0..40 {
        let mut c = ctx.client(&p)?;
        c.send(&pattern(10_000)).map_err(|e| e.to_string())?;
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut c = ctx.client(&p)?;
    ensure!(
        echo_roundtrip(&mut c, b"still here")? == b"still here",
        "echo broken after aborts"
    );
    Ok(())
}

fn echo_flood(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.echo(&["--max-conns", "8"])?;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = ctx.client(&p)?;
        ensure!(
            echo_roundtrip(&mut c, b"x")? == b"x",
            "an allowed connection failed"
        );
        held.push(c);
    }
    let started = Instant::now();
    let mut extra = ctx.client(&p)?;
    let _ = extra.send(b"y");
    ensure!(extra.closed(), "the connection over the limit was served");
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "refusal took {:?}",
        started.elapsed()
    );
    for c in &mut held {
        ensure!(
            echo_roundtrip(c, b"z")? == b"z",
            "an established connection stopped working"
        );
    }
    Ok(())
}

// === framing ===

fn cl_te(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let marker = format!("/smuggled-{}", ctx.core);
    let raw = format!(
        "POST /cl-te-{core} HTTP/1.1\r\nHost: x\r\nContent-Length: 49\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {marker} HTTP/1.1\r\nHost: x\r\n\r\n",
        core = ctx.core
    );
    expect_status_and_close(ctx, &p, raw.as_bytes(), 400)?;
    std::thread::sleep(Duration::from_millis(100));
    ensure!(
        ctx.requests_with(&marker).is_empty(),
        "the origin saw the smuggled request"
    );
    ensure!(
        ctx.requests_with(&format!("/cl-te-{}", ctx.core))
            .is_empty(),
        "the origin saw the ambiguous request"
    );
    Ok(())
}

fn dup_cl(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    expect_status_and_close(
        ctx,
        &p,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        400,
    )
}

fn bad_cl(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    for value in ["+5", "-1", "5 5", "foo", "0x5", ""] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\nhello");
        expect_status_and_close(ctx, &p, raw.as_bytes(), 400)
            .map_err(|e| format!("Content-Length {value:?}: {e}"))?;
    }
    Ok(())
}

fn te_not_chunked(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    for te in ["gzip", "chunked, gzip", "identity"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        expect_status_and_close(ctx, &p, raw.as_bytes(), 400)
            .map_err(|e| format!("TE {te:?}: {e}"))?;
    }
    Ok(())
}

fn te_http10(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    expect_status_and_close(
        ctx,
        &p,
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    )
}

fn bad_chunk(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    for (tag, size) in [("overflow", "fffffffffffffffff"), ("nonhex", "zz")] {
        let marker = format!("/bad-chunk-{tag}-{}", ctx.core);
        let raw = format!(
            "POST {marker} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
        );
        expect_status_and_close(ctx, &p, raw.as_bytes(), 400).map_err(|e| format!("{tag}: {e}"))?;
        std::thread::sleep(Duration::from_millis(50));
        ensure!(
            ctx.requests_with(&marker).is_empty(),
            "{tag}: the origin saw a complete request"
        );
    }
    Ok(())
}

fn bad_value(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    expect_status_and_close(
        ctx,
        &p,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        400,
    )
    .map_err(|e| format!("bare CR: {e}"))?;
    expect_status_and_close(
        ctx,
        &p,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
        400,
    )
    .map_err(|e| format!("NUL: {e}"))
}

fn space_colon(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    expect_status_and_close(
        ctx,
        &p,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n",
        400,
    )
}

fn host_rules(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    expect_status_and_close(ctx, &p, b"GET / HTTP/1.1\r\n\r\n", 400)
        .map_err(|e| format!("missing: {e}"))?;
    expect_status_and_close(
        ctx,
        &p,
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    )
    .map_err(|e| format!("duplicate: {e}"))
}

// === limits ===

const HEAD_LIMIT: usize = 16 * 1024;

fn long_line(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let raw = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(HEAD_LIMIT + 10)
    );
    expect_status_and_close(ctx, &p, raw.as_bytes(), 414)
}

fn big_headers(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(HEAD_LIMIT)
    );
    expect_status_and_close(ctx, &p, raw.as_bytes(), 431)
}

fn many_headers(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let headers: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    expect_status_and_close(ctx, &p, raw.as_bytes(), 431)
}

fn under_limits(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let headers: String = (0..90).map(|i| format!("X-{i}: v\r\n")).collect();
    let fixed = format!("GET /u HTTP/1.1\r\nHost: x\r\n{headers}X-Pad: \r\n\r\n").len();
    let raw = format!(
        "GET /u HTTP/1.1\r\nHost: x\r\n{headers}X-Pad: {}\r\n\r\n",
        "p".repeat(HEAD_LIMIT - fixed)
    );
    ensure!(raw.len() == HEAD_LIMIT, "test built {} bytes", raw.len());
    c.send(raw.as_bytes()).map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(
        r.status == 200,
        "a head of exactly {HEAD_LIMIT} bytes with 92 headers got {}",
        r.status
    );
    Ok(())
}

// === semantics ===

fn pipelined(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let sizes = [3usize, 3000, 30];
    let raw: String = sizes
        .iter()
        .map(|s| format!("GET /?size={s} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    c.send(raw.as_bytes()).map_err(|e| e.to_string())?;
    for s in sizes {
        let r = c.response();
        ensure!(
            r.status == 200 && r.body == pattern(s),
            "response for size={s} out of order or wrong ({} B)",
            r.body.len()
        );
    }
    Ok(())
}

fn expect_continue(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let interim = c.response_with(false, true);
    ensure!(
        interim.status == 100,
        "expected 100 Continue before the body, got {}",
        interim.status
    );
    c.send(b"hello").map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(
        r.status == 200 && r.body == b"hello",
        "final response {} {:?}",
        r.status,
        r.body
    );
    Ok(())
}

fn no_body(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    c.send(b"HEAD /?size=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let r = c.response_with(true, false);
    ensure!(
        r.status == 200 && r.body.is_empty(),
        "HEAD: {} with {} body bytes",
        r.status,
        r.body.len()
    );
    for status in [204, 304] {
        let r = c.get(&format!("/?status={status}&size=40"));
        ensure!(
            r.status == status && r.body.is_empty(),
            "{status}: got {} with {} body bytes",
            r.status,
            r.body.len()
        );
    }
    let r = c.get("/?size=9");
    ensure!(
        r.status == 200 && r.body == pattern(9),
        "the connection desynchronised after bodiless responses"
    );
    Ok(())
}

fn upstream_cl_te(ctx: &Ctx<'_>) -> Result<(), String> {
    expect_get_status(ctx, "/?bad=clte", 502)
}

fn upstream_dup_cl(ctx: &Ctx<'_>) -> Result<(), String> {
    expect_get_status(ctx, "/?bad=dupcl", 502)
}

fn close_delimited(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let r = c.get("/?close=1&size=70000");
    ensure!(
        r.status == 200 && r.complete && r.body == pattern(70_000),
        "got {} with {} B",
        r.status,
        r.body.len()
    );
    ensure!(c.closed(), "the client connection should end with the body");
    Ok(())
}

fn dies_mid_body(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let r = c.get("/?bad=die_mid_body");
    ensure!(
        !(r.status == 200 && r.complete),
        "a truncated body reached the client as complete"
    );
    Ok(())
}

fn refused(ctx: &Ctx<'_>) -> Result<(), String> {
    expect_get_status(ctx, "/dead", 502)
}

fn silent(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let started = Instant::now();
    let r = c.get("/?delay_ms=3000");
    ensure!(r.status == 504, "got {}", r.status);
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "504 took {:?} for a 500 ms timeout",
        started.elapsed()
    );
    Ok(())
}

fn conn_close(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /?size=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(r.status == 200 && r.body == pattern(5), "got {}", r.status);
    ensure!(c.closed(), "no FIN after answering Connection: close");
    Ok(())
}

// === abuse ===

fn closes(ctx: &Ctx<'_>) -> usize {
    ctx.records()
        .iter()
        .filter(|r| r.get("closed").is_some())
        .count()
}

fn client_abort(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    std::thread::sleep(Duration::from_millis(200));
    let before = closes(ctx);
    let mut c = ctx.client(&p)?;
    c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(200));
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(3);
    while closes(ctx) == before {
        ensure!(
            Instant::now() < deadline,
            "the upstream connection stayed open after the client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn slowloris(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    for b in head.iter() {
        if c.send(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    // The deadline is 700 ms; the dribble would take ~6 s.
    let r = c.response();
    ensure!(
        r.status == 408 || r.status == 0,
        "a dribbled head was served ({})",
        r.status
    );
    ensure!(
        started.elapsed() < Duration::from_secs(4),
        "the connection outlived the header deadline"
    );
    Ok(())
}

fn http_flood(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &["--max-conns", "8"])?;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = ctx.client(&p)?;
        ensure!(
            c.get("/?size=1").status == 200,
            "an allowed connection failed"
        );
        held.push(c);
    }
    let started = Instant::now();
    let mut extra = ctx.client(&p)?;
    let r = extra.get("/?size=1");
    ensure!(
        r.status == 0,
        "the connection over the limit was served ({})",
        r.status
    );
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "refusal took {:?}",
        started.elapsed()
    );
    for c in &mut held {
        ensure!(
            c.get("/?size=1").status == 200,
            "an established connection stopped working"
        );
    }
    Ok(())
}

fn slow_reader(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let mut c = ctx.client(&p)?;
    const SIZE: usize = 64 << 20;
    c.send(format!("GET /?size={SIZE} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    // Read nothing while the origin pushes 64 MiB at the core.
    std::thread::sleep(Duration::from_millis(1500));
    let rss = p.process().sampler().rss_max().map_err(|e| e.to_string())?;
    const BOUND: u64 = 48 << 20;
    ensure!(
        rss < BOUND,
        "core RSS reached {} MiB holding a response for a slow reader",
        rss >> 20
    );
    Ok(())
}

// === faults under load ===

/// Open-loop HTTP load against `addr` for `duration`, run on its own thread.
fn load_in_background(
    addr: std::net::SocketAddr,
    rate: f64,
    duration: Duration,
) -> std::thread::JoinHandle<Result<pb_driver::LoadReport, String>> {
    std::thread::spawn(move || {
        let spec = pb_driver::LoadSpec {
            workload: pb_driver::Workload::Http(pb_driver::http::HttpWorkload::get(100)),
            interval: Duration::from_millis(250),
            ..pb_driver::LoadSpec::open_echo(
                addr,
                100,
                rate,
                16,
                4,
                Duration::from_millis(200),
                duration,
            )
        };
        pb_driver::run(&spec, &mut |_| {}).map_err(|e| e.to_string())
    })
}

fn origin_restart(ctx: &Ctx<'_>) -> Result<(), String> {
    let (a, a_record) = ctx.own_origin("fa", None)?;
    let (b, b_record) = ctx.own_origin("fb", None)?;
    let b_addr = b.addr();
    let extra = "";
    let p = ctx.http_over(&[a.addr(), b_addr], extra, &[])?;
    let load = load_in_background(p.addr(), 1000.0, Duration::from_millis(2500));
    // Kill origin b a third of the way in, bring it back half a second later.
    std::thread::sleep(Duration::from_millis(900));
    let pid = nix::unistd::Pid::from_raw(b.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).map_err(|e| e.to_string())?;
    drop(b);
    std::thread::sleep(Duration::from_millis(500));
    let restarted_at = Instant::now();
    let (b2, b2_record) = ctx.own_origin("fb2", Some(b_addr))?;
    let mut recovered = None;
    while restarted_at.elapsed() < Duration::from_secs(2) {
        if std::fs::read_to_string(&b2_record)
            .unwrap_or_default()
            .contains("\"method\"")
        {
            recovered = Some(restarted_at.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = load
        .join()
        .map_err(|_| "load thread panicked".to_string())??;
    ensure!(p.process().sampler().alive(), "the core died");
    ensure!(
        report.requests > 500,
        "only {} requests completed",
        report.requests
    );
    // A request caught by the kill may fail, as a 502 or as a closed
    // connection: a reset, an EOF before the reply, or (when the core
    // closed the connection while the driver was still writing to it) a
    // broken pipe. Anything else is a wrong answer.
    let wrong: Vec<_> = report
        .errors
        .iter()
        .filter(|(kind, _)| {
            !matches!(
                kind.as_str(),
                "status 502" | "reset" | "eof before reply" | "broken pipe"
            )
        })
        .collect();
    ensure!(
        wrong.is_empty(),
        "wrong answers while an origin was down: {wrong:?}"
    );
    let recovery = recovered.ok_or("requests never reached the restarted origin")?;
    drop((a, a_record, b_record, b2));
    ctx.note(format!(
        "{} requests ok, {} answered 502 while the origin was down, back {} ms after its restart",
        report.requests,
        report.errors.get("status 502").copied().unwrap_or(0),
        recovery.as_millis()
    ));
    Ok(())
}

fn soak(ctx: &Ctx<'_>) -> Result<(), String> {
    let p = ctx.http("", &[])?;
    let load = load_in_background(p.addr(), 2000.0, Duration::from_millis(2500));
    let report = load
        .join()
        .map_err(|_| "load thread panicked".to_string())??;
    ensure!(
        report.error_count() == 0,
        "errors during the soak: {:?}",
        report.errors
    );
    let rss = p.process().sampler().rss_max().map_err(|e| e.to_string())?;
    ensure!(
        rss < SOAK_RSS_BOUND,
        "peak RSS {} MiB after the soak",
        rss >> 20
    );
    ctx.note(format!(
        "{} requests, peak RSS {} MiB",
        report.requests,
        rss >> 20
    ));
    Ok(())
}
