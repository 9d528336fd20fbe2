//! Cases walking RFC 9112 and RFC 9110 section by section where the
//! hand-picked cases left gaps: the request line and target, field
//! syntax, message body length, connection management for HTTP/1.0 and
//! `close`, upgrades and CONNECT, interim responses, and an upstream that
//! breaks the response grammar. Each runs against a [`ScriptedOrigin`]
//! that records every byte, so "never forwarded" is checked, not assumed.

use crate::cases::first_line;
use crate::client::Response;
use crate::probe::{origin_with, plain_origin};
use crate::scripted::{ScriptedOrigin, header_in};
use crate::suite::Ctx;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// What the origin received, as text.
fn received(origin: &ScriptedOrigin) -> String {
    String::from_utf8_lossy(&origin.all_received()).into_owned()
}

/// `raw` through a fresh proxy in front of an origin answering
/// `ok:<target>`: the proxy must answer one of `statuses` and close, and
/// the origin must receive nothing.
fn refused(ctx: &Ctx<'_>, raw: &[u8], statuses: &[u16]) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(raw).map_err(|e| format!("send: {e}"))?;
    let r = c.response();
    ensure!(
        statuses.contains(&r.status),
        "{:?}: expected {statuses:?}, got {} ({:?})",
        String::from_utf8_lossy(raw),
        r.status,
        first_line(&r.head)
    );
    ensure!(c.closed(), "connection left open after {}", r.status);
    let seen = received(&origin);
    ensure!(
        seen.is_empty(),
        "{:?} was refused but the origin received {seen:?}",
        String::from_utf8_lossy(raw)
    );
    Ok(())
}

/// `raw` through a fresh proxy in front of `origin`; the `count` responses
/// it gets, read as answers to requests that are not HEADs.
fn exchange(
    ctx: &Ctx<'_>,
    origin: &ScriptedOrigin,
    raw: &[u8],
    count: usize,
) -> Result<(Vec<Response>, bool), String> {
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(raw).map_err(|e| format!("send: {e}"))?;
    let responses = (0..count).map(|_| c.response()).collect();
    let closed = c.closed();
    Ok((responses, closed))
}

/// The one response to `raw` from a fresh proxy in front of an origin
/// that answers every request with `answer`, and what the origin received.
fn answered_with(
    ctx: &Ctx<'_>,
    raw: &[u8],
    answer: impl Into<Vec<u8>>,
) -> Result<(Response, String), String> {
    let answer = answer.into();
    let origin = origin_with(move |conn, _| Some(conn.send(&answer)))?;
    let (mut responses, _) = exchange(ctx, &origin, raw, 1)?;
    Ok((responses.remove(0), received(&origin)))
}

// === RFC 9112 §2-3: message format, request line, request target ===

pub(crate) fn method_not_token(ctx: &Ctx<'_>) -> Result<(), String> {
    for raw in [
        &b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        refused(ctx, raw, &[400, 501])?;
    }
    Ok(())
}

pub(crate) fn request_line_whitespace(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §3 lets a recipient split on whitespace instead; a proxy
    // that does must still forward a well-formed request line.
    for raw in [
        &b"GET  /ws HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET /ws  HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET\t/ws HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let origin = plain_origin()?;
        let (r, _) = exchange(ctx, &origin, raw, 1)?;
        let seen = received(&origin);
        match r[0].status {
            400 => ensure!(seen.is_empty(), "refused, yet the origin got {seen:?}"),
            200 => ensure!(
                seen.starts_with("GET /ws HTTP/1.1\r\n"),
                "{:?} forwarded as {:?}",
                String::from_utf8_lossy(raw),
                first_line(&seen)
            ),
            other => {
                return Err(format!("{:?} got {other}", String::from_utf8_lossy(raw)));
            }
        }
    }
    Ok(())
}

pub(crate) fn version_not_1x(ctx: &Ctx<'_>) -> Result<(), String> {
    for raw in [
        &b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"[..],
        b"GET / HTTP/3.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/0.9\r\nHost: x\r\n\r\n",
    ] {
        refused(ctx, raw, &[400, 505])?;
    }
    Ok(())
}

pub(crate) fn version_case_sensitive(ctx: &Ctx<'_>) -> Result<(), String> {
    refused(ctx, b"GET / http/1.1\r\nHost: x\r\n\r\n", &[400, 505])?;
    refused(ctx, b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", &[400])
}

pub(crate) fn fragment_in_target(ctx: &Ctx<'_>) -> Result<(), String> {
    refused(ctx, b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", &[400])?;
    refused(ctx, b"GET http://x/#/b HTTP/1.1\r\nHost: x\r\n\r\n", &[400])
}

pub(crate) fn non_ascii_target(ctx: &Ctx<'_>) -> Result<(), String> {
    // Raw UTF-8, DEL and a C0 byte: none is part of any URI form, and a
    // recipient should refuse an invalid request line (RFC 9112 §3.2).
    // Found by the differential run: the cores forwarded `/é` raw, as
    // nginx does; HAProxy refuses it.
    refused(ctx, b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", &[400])?;
    refused(ctx, b"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", &[400])?;
    refused(ctx, b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", &[400])
}

pub(crate) fn userinfo_in_target(ctx: &Ctx<'_>) -> Result<(), String> {
    refused(
        ctx,
        b"GET http://user@x/a HTTP/1.1\r\nHost: x\r\n\r\n",
        &[400],
    )
}

pub(crate) fn asterisk_form(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let (r, _) = exchange(ctx, &origin, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 1)?;
    ensure!(r[0].status == 200, "OPTIONS * got {}", r[0].status);
    let seen = received(&origin);
    ensure!(
        first_line(&seen) == "OPTIONS * HTTP/1.1",
        "forwarded as {:?}",
        first_line(&seen)
    );
    Ok(())
}

pub(crate) fn connect_refused(ctx: &Ctx<'_>) -> Result<(), String> {
    // A reverse proxy is no tunnel: authority-form is CONNECT's alone
    // (RFC 9112 §3.2.3), and the origin must never see it.
    refused(
        ctx,
        b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
        &[400, 405, 501],
    )
}

// === RFC 9112 §2.2, §5; RFC 9110 §5: field syntax ===

pub(crate) fn field_name_not_token(ctx: &Ctx<'_>) -> Result<(), String> {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nX@A: 1\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX\"A: 1\r\n\r\n",
    ] {
        refused(ctx, raw, &[400])?;
    }
    Ok(())
}

pub(crate) fn field_without_colon(ctx: &Ctx<'_>) -> Result<(), String> {
    refused(
        ctx,
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        &[400],
    )
}

pub(crate) fn whitespace_before_first_field(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §2.2: reject, or ignore the whitespace-led line (and then
    // Host is missing): 400 either way.
    refused(ctx, b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", &[400])
}

pub(crate) fn request_obs_fold(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §5.2: a server rejects obs-fold with 400 or replaces each
    // fold with SP before going on; never passes it raw.
    let origin = plain_origin()?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"GET /fold HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
        1,
    )?;
    let seen = received(&origin);
    match r[0].status {
        400 => ensure!(seen.is_empty(), "refused, yet the origin got {seen:?}"),
        200 => ensure!(
            !seen.contains("\r\n b") && !seen.contains("\r\n\tb"),
            "obs-fold forwarded raw: {seen:?}"
        ),
        other => return Err(format!("obs-fold got {other}")),
    }
    Ok(())
}

// === RFC 9112 §6: message body length ===

pub(crate) fn request_without_framing(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §6.3 (7): neither Content-Length nor Transfer-Encoding
    // means no body, so the next bytes are the next request.
    let origin = plain_origin()?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"POST /nobody HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
        2,
    )?;
    ensure!(
        r[0].body == b"ok:/nobody" && r[1].body == b"ok:/next",
        "answers {:?} and {:?}",
        String::from_utf8_lossy(&r[0].body),
        String::from_utf8_lossy(&r[1].body)
    );
    let seen = received(&origin);
    let post = &seen[..seen.find("GET /next").unwrap_or(seen.len())];
    ensure!(
        header_in(post, "content-length").is_none_or(|v| v == "0")
            && header_in(post, "transfer-encoding").is_none(),
        "a bodiless POST forwarded as {post:?}"
    );
    Ok(())
}

pub(crate) fn content_length_leading_zeros(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9110 §8.6: Content-Length is 1*DIGIT; `005` is five.
    let origin = origin_with(|conn, req| {
        let body = format!(
            "{}|{}",
            req.target(),
            String::from_utf8_lossy(&req.body_wire)
        );
        Some(
            conn.send(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            ),
        )
    })?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"POST /zeros HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\n\r\nhelloGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
        2,
    )?;
    ensure!(
        r[0].status == 200 && r[0].body == b"/zeros|hello",
        "got {} {:?}",
        r[0].status,
        String::from_utf8_lossy(&r[0].body)
    );
    ensure!(
        r[1].body == b"/after|",
        "the request after it: {} {:?}",
        r[1].status,
        String::from_utf8_lossy(&r[1].body)
    );
    Ok(())
}

pub(crate) fn upstream_bytes_past_length(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §6.3: a response ends where its Content-Length says; what
    // follows is not this client's.
    let origin = origin_with(|conn, req| {
        (req.target() == "/long").then(|| {
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
        })
    })?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n",
        2,
    )?;
    ensure!(
        r[0].status == 200 && r[0].body == b"hello",
        "first: {} {:?}",
        r[0].status,
        String::from_utf8_lossy(&r[0].body)
    );
    ensure!(
        r[1].body != b"forged",
        "the bytes past the first response's length answered the second request"
    );
    Ok(())
}

// === RFC 9112 §9: connection management ===

pub(crate) fn http10_closes(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let (r, closed) = exchange(ctx, &origin, b"GET /old HTTP/1.0\r\n\r\n", 1)?;
    ensure!(
        r[0].status == 200 && r[0].body == b"ok:/old",
        "got {} {:?}",
        r[0].status,
        String::from_utf8_lossy(&r[0].body)
    );
    ensure!(
        closed,
        "an HTTP/1.0 request without keep-alive left the connection open"
    );
    Ok(())
}

pub(crate) fn http10_keep_alive(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §9.3 and Appendix C.2.2: a 1.0 client asking to keep the
    // connection is told so, or the connection is closed after the
    // response.
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    let ask = b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    c.send(ask).map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(r.status == 200, "got {}", r.status);
    let kept =
        header_in(&r.head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive"));
    if kept {
        c.send(ask).map_err(|e| e.to_string())?;
        let again = c.response();
        ensure!(
            again.status == 200 && again.body == b"ok:/ka",
            "said keep-alive, then the second request got {}",
            again.status
        );
    } else {
        ensure!(
            c.closed(),
            "neither `Connection: keep-alive` in the response nor a close"
        );
    }
    Ok(())
}

pub(crate) fn nothing_read_after_close(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §9.6: after a request with `close` the server reads no
    // more requests on that connection.
    let origin = plain_origin()?;
    let (r, closed) = exchange(
        ctx,
        &origin,
        b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    )?;
    ensure!(r[0].body == b"ok:/last", "got {}", r[0].status);
    ensure!(closed, "connection left open after `Connection: close`");
    let seen = received(&origin);
    ensure!(
        !seen.contains("/ignored"),
        "a request after `close` was forwarded: {seen:?}"
    );
    Ok(())
}

pub(crate) fn connection_options_removed(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9110 §7.6.1: the options named in Connection, and the
    // hop-by-hop fields, are removed before forwarding.
    let origin = plain_origin()?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"GET /hop HTTP/1.1\r\nHost: x\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-End: kept\r\n\r\n",
        1,
    )?;
    ensure!(r[0].status == 200, "got {}", r[0].status);
    let seen = received(&origin);
    for name in ["x-hop", "keep-alive", "proxy-connection", "te"] {
        ensure!(
            header_in(&seen, name).is_none(),
            "{name} forwarded: {seen:?}"
        );
    }
    ensure!(
        header_in(&seen, "x-end") == Some("kept"),
        "an end-to-end field was dropped: {seen:?}"
    );
    Ok(())
}

// === RFC 9110 §7.8, §15.2: upgrades and interim responses ===

pub(crate) fn upgrade_not_forwarded(ctx: &Ctx<'_>) -> Result<(), String> {
    // A proxy that does not tunnel an upgrade answers the request as a
    // plain one: Upgrade is hop-by-hop, so the origin never sees it.
    let origin = plain_origin()?;
    let (r, _) = exchange(
        ctx,
        &origin,
        b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        1,
    )?;
    ensure!(
        r[0].status == 200 && r[0].body == b"ok:/up",
        "got {} {:?}",
        r[0].status,
        first_line(&r[0].head)
    );
    let seen = received(&origin);
    ensure!(
        header_in(&seen, "upgrade").is_none(),
        "Upgrade forwarded: {seen:?}"
    );
    Ok(())
}

pub(crate) fn no_interim_to_http10(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9110 §15.2: a server must not send a 1xx response to an
    // HTTP/1.0 client.
    let origin = origin_with(|conn, _| {
        Some(conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /hints HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let r = c.response_with(false, true);
    ensure!(
        r.status == 200 && r.body == b"ok",
        "an HTTP/1.0 client got {:?} first",
        first_line(&r.head)
    );
    Ok(())
}

pub(crate) fn expect_ignored_on_http10(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request
    // is ignored, so no 100 Continue goes back (§15.2); the body is
    // forwarded as sent. Found by the differential run (nginx and HAProxy
    // ignore it; the cores answered 100).
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(
        b"PUT /e10 HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    )
    .map_err(|e| e.to_string())?;
    let r = c.response_with(false, true);
    ensure!(
        r.status == 200 && r.body == b"ok:/e10",
        "an HTTP/1.0 client that sent Expect got {:?} first",
        first_line(&r.head)
    );
    let seen = received(&origin);
    ensure!(seen.ends_with("hello"), "the origin received {seen:?}");
    Ok(())
}

// === RFC 9112 §4, §5: an upstream that breaks the grammar ===

pub(crate) fn upstream_bad_status(ctx: &Ctx<'_>) -> Result<(), String> {
    for answer in [
        &b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
        b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
    ] {
        let (r, _) = answered_with(ctx, b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n", answer)?;
        ensure!(
            r.status == 502,
            "upstream {:?} reached the client as {}",
            first_line(&String::from_utf8_lossy(answer)),
            r.status
        );
    }
    Ok(())
}

pub(crate) fn upstream_space_before_colon(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §5.1: a proxy removes such whitespace before forwarding a
    // response, or refuses the response.
    let (r, _) = answered_with(
        ctx,
        b"GET /sp HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A : v\r\nContent-Length: 2\r\n\r\nok",
    )?;
    match r.status {
        502 => Ok(()),
        200 => {
            ensure!(
                !r.head.contains("X-A :") && !r.head.contains("x-a :"),
                "forwarded with the space: {:?}",
                r.head
            );
            Ok(())
        }
        other => Err(format!("got {other}")),
    }
}

pub(crate) fn upstream_obs_fold(ctx: &Ctx<'_>) -> Result<(), String> {
    // RFC 9112 §5.2: a proxy replaces obs-fold in a response with SP or
    // refuses the response with 502.
    let (r, _) = answered_with(
        ctx,
        b"GET /fold HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    )?;
    match r.status {
        502 => Ok(()),
        200 => {
            ensure!(
                !r.head.contains("\r\n b") && r.body == b"ok",
                "obs-fold forwarded raw: {:?}",
                r.head
            );
            Ok(())
        }
        other => Err(format!("got {other}")),
    }
}

pub(crate) fn upstream_too_many_fields(ctx: &Ctx<'_>) -> Result<(), String> {
    let mut answer = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..300 {
        answer.push_str(&format!("X-F{i}: {i}\r\n"));
    }
    answer.push_str("Content-Length: 2\r\n\r\nok");
    let (r, _) = answered_with(ctx, b"GET /many HTTP/1.1\r\nHost: x\r\n\r\n", answer)?;
    // A limit is the proxy's to choose; what it must not do is pass on a
    // cut-down head.
    match r.status {
        502 => Ok(()),
        200 => {
            ensure!(
                r.body == b"ok" && (0..300).all(|i| r.head.contains(&format!("X-F{i}: {i}\r\n"))),
                "300 response fields forwarded, but not all of them"
            );
            Ok(())
        }
        other => Err(format!("300 response fields got {other}")),
    }
}
