//! Cases from an independent adversarial probe of the shared engine:
//! response poisoning through pooled upstream connections, retried
//! non-idempotent requests, Unicode whitespace in framing headers,
//! unrequested upgrades, raw chunk framing, missing body and send
//! timeouts, and smaller RFC 9110/9112 violations. Each runs against a
//! [`ScriptedOrigin`], which misbehaves exactly as the case says and
//! records every byte it received.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cases::{expect_status_and_close, first_line};
use crate::client::Client;
use crate::scripted::{
    OriginConn, RawRequest, ScriptedOrigin, chunk_size_lines, close_wait_to, header_in,
};
use crate::suite::Ctx;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Bytes an origin sends on an idle connection, as if answering a request
/// nobody made.
const POISON: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npoisoned!";

/// An origin answering every request with `ok:<target>`, except where
/// `special` handles the request itself (returning `false` to end the
/// connection).
pub(crate) fn origin_with(
    special: impl Fn(&mut OriginConn, &RawRequest) -> Option<bool> + Send + Sync + 'static,
) -> Result<ScriptedOrigin, String> {
    ScriptedOrigin::start(move |conn| {
        while let Some(req) = conn.read_request() {
            let go_on = match special(conn, &req) {
                Some(go_on) => go_on,
                None => conn.send_ok_for(&req),
            };
            if !go_on {
                break;
            }
        }
    })
}

/// An origin answering `ok:<target>` to everything.
pub(crate) fn plain_origin() -> Result<ScriptedOrigin, String> {
    origin_with(|_, _| None)
}

/// The requests the origin parsed out of everything it received.
fn requests_received(origin: &ScriptedOrigin) -> Vec<String> {
    origin
        .records()
        .iter()
        .flat_map(|r| {
            String::from_utf8_lossy(&r.received)
                .split("\r\n")
                .filter(|l| l.ends_with(" HTTP/1.1") || l.ends_with(" HTTP/1.0"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Reads a response's raw bytes until the connection closes or the
/// chunked terminator arrives; returns (head, body wire).
fn raw_response(c: &mut Client, until_close: bool) -> (String, Vec<u8>) {
    let ended = |b: &[u8]| {
        !until_close
            && b.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_some_and(|h| {
                    b[h + 4..].ends_with(b"0\r\n\r\n") || b[h + 4..].ends_with(b"\r\n\r\n")
                })
    };
    c.fill_until(ended);
    let all = c.take(usize::MAX);
    match all.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(h) => (
            String::from_utf8_lossy(&all[..h + 4]).into_owned(),
            all[h + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&all).into_owned(), Vec::new()),
    }
}

// === item 1: pooled upstream connections ===

/// Polls `cond` every 5 ms for at most `limit`; whether it came true.
fn wait_until(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

pub(crate) fn stray_bytes_on_idle(ctx: &Ctx<'_>) -> Result<(), String> {
    let poisoned = Arc::new(AtomicUsize::new(0));
    let sent = Arc::clone(&poisoned);
    let origin = origin_with(move |conn, req| {
        let answer: &[u8] = match req.target() {
            "/v-200" => b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\nabcdefghijklmnopqrstuvwxyz!",
            "/v-204" => b"HTTP/1.1 204 No Content\r\n\r\n",
            "/v-304" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            "/v-head" => b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            _ => return None,
        };
        // The answer, then, once the proxy has pooled the connection, a
        // second "response" to a request nobody made.
        let ok = conn.send(answer);
        std::thread::sleep(Duration::from_millis(150));
        let ok = ok && conn.send(POISON);
        sent.fetch_add(1, Ordering::SeqCst);
        Some(ok)
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    for (round, (method, target, status)) in [
        ("GET", "/v-200", 200),
        ("GET", "/v-204", 204),
        ("GET", "/v-304", 304),
        ("HEAD", "/v-head", 200),
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = ctx.client(&p)?;
        a.send(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = a.response_with(method == "HEAD", false);
        ensure!(r.status == status, "{target}: got {}", r.status);
        // The next request goes out only once the stray bytes are on the
        // wire, however slow the machine.
        ensure!(
            wait_until(Duration::from_secs(3), || poisoned.load(Ordering::SeqCst)
                > round),
            "setup: the origin never sent its stray bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
        let next = format!("/next{target}");
        let r = ctx.client(&p)?.get(&next);
        ensure!(
            r.status == 200 && r.body == format!("ok:{next}").as_bytes(),
            "after {method} {target}, another client got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let again = format!("/again{target}");
        let r = a.get(&again);
        ensure!(
            r.status == 200 && r.body == format!("ok:{again}").as_bytes(),
            "after {method} {target}, the same client got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}

pub(crate) fn closed_idle_dropped(ctx: &Ctx<'_>) -> Result<(), String> {
    // Keeps each connection idle at most 250 ms, like an origin's
    // keep-alive timeout; answers /slow after 100 ms so that concurrent
    // requests need one upstream connection each.
    let closed = Arc::new(AtomicUsize::new(0));
    let closes = Arc::clone(&closed);
    let origin = ScriptedOrigin::start(move |conn| {
        while let Some(req) = conn.read_request_within(Duration::from_millis(250)) {
            if req.target() == "/slow" {
                std::thread::sleep(Duration::from_millis(100));
            }
            let ok = if req.method() == "POST" {
                conn.send(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        req.body_wire.len()
                    )
                    .as_bytes(),
                ) && conn.send(&req.body_wire)
            } else {
                conn.send_ok_for(&req)
            };
            if !ok {
                return;
            }
        }
        conn.close();
        closes.fetch_add(1, Ordering::SeqCst);
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    const PARALLEL: usize = 8;
    let mut clients = (0..PARALLEL)
        .map(|_| ctx.client(&p))
        .collect::<Result<Vec<_>, _>>()?;
    for c in &mut clients {
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .map_err(|e| e.to_string())?;
    }
    for c in &mut clients {
        ensure!(c.response().status == 200, "a parallel GET failed");
    }
    ensure!(
        origin.wait_for(Duration::from_secs(3), |r| r.len() >= PARALLEL),
        "setup: the origin did not see {PARALLEL} connections"
    );
    // Every pooled connection closed by the origin, however slow the machine.
    let accepted = origin.records().len();
    ensure!(
        wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
            >= accepted),
        "setup: the origin did not close its idle connections"
    );
    std::thread::sleep(Duration::from_millis(100));
    let dead_before = close_wait_to(origin.addr())?;
    let mut c = ctx.client(&p)?;
    c.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(
        r.status == 200 && r.body == b"hello",
        "a POST after the origin closed idle connections got {} {:?}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    std::thread::sleep(Duration::from_millis(100));
    let dead_after = close_wait_to(origin.addr())?;
    ensure!(
        dead_after == 0,
        "{dead_after} dead upstream connections still held after the next request ({dead_before} before it)"
    );
    ctx.note(format!(
        "{dead_before} dead pooled connections before the next request, {dead_after} after"
    ));
    Ok(())
}

// === item 2: retries ===

pub(crate) fn no_unsafe_retry(ctx: &Ctx<'_>) -> Result<(), String> {
    let flaky = Arc::new(AtomicUsize::new(0));
    let origin = {
        let flaky = Arc::clone(&flaky);
        origin_with(move |conn, req| {
            let t = req.target();
            if t.starts_with("/pay") {
                // Read, then close without a word: did the request run?
                conn.close();
                return Some(false);
            }
            if t == "/flaky" && flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                conn.close();
                return Some(false);
            }
            None
        })?
    };
    let p = ctx.http_to(origin.addr(), "", "")?;
    for method in ["POST", "PATCH"] {
        let mut c = ctx.client(&p)?;
        ensure!(c.get("/first").status == 200, "{method}: setup GET failed");
        c.send(format!("{method} /pay-{method} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = c.response();
        ensure!(r.status == 502, "{method} after a reset got {}", r.status);
        std::thread::sleep(Duration::from_millis(50));
        let sent = requests_received(&origin)
            .iter()
            .filter(|l| l.starts_with(&format!("{method} /pay-{method} ")))
            .count();
        ensure!(sent == 1, "the origin received {method} /pay {sent} times");
    }
    // An idempotent request is still retried once on a fresh connection.
    let mut c = ctx.client(&p)?;
    ensure!(c.get("/first").status == 200, "GET /first failed");
    let r = c.get("/flaky");
    ensure!(
        r.status == 200 && r.body == b"ok:/flaky",
        "an idempotent GET on a connection the origin closed was not retried ({})",
        r.status
    );
    Ok(())
}

// === item 3: whitespace ===

pub(crate) fn unicode_te(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    for te in [
        &b"chunked\xC2\xA0"[..],
        b"\xE3\x80\x80chunked",
        b"chunked\xC2\x85",
    ] {
        let mut raw = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ".to_vec();
        raw.extend_from_slice(te);
        raw.extend_from_slice(b"\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        expect_status_and_close(ctx, &p, &raw, 400)
            .map_err(|e| format!("TE {:?}: {e}", String::from_utf8_lossy(te)))?;
    }
    std::thread::sleep(Duration::from_millis(50));
    ensure!(
        !requests_received(&origin)
            .iter()
            .any(|l| l.contains("/smuggled")),
        "the origin received the smuggled request"
    );
    Ok(())
}

pub(crate) fn unicode_host_connection(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    expect_status_and_close(ctx, &p, b"GET /h HTTP/1.1\r\nHost: x\xC2\xA0\r\n\r\n", 400)
        .map_err(|e| format!("Host with NBSP: {e}"))?;
    expect_status_and_close(
        ctx,
        &p,
        b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: x-secret\xC2\xA0\r\nX-Secret: 1\r\n\r\n",
        400,
    )
    .map_err(|e| format!("Connection token with NBSP: {e}"))?;
    ensure!(
        requests_received(&origin).is_empty(),
        "the origin received {:?}",
        requests_received(&origin)
    );
    Ok(())
}

// === item 4: upgrades ===

pub(crate) fn unrequested_101(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        if req.target() != "/upgrade" {
            return None;
        }
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        // Whatever comes now would be written into the "tunnel".
        conn.drain_until_closed(Duration::from_millis(800));
        Some(false)
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut a = ctx.client(&p)?;
    a.send(
        b"GET /upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .map_err(|e| e.to_string())?;
    let r = a.response_with(false, true);
    ensure!(
        r.status == 502,
        "an unrequested 101 was answered {}",
        r.status
    );
    for target in ["/after-1", "/after-2"] {
        let r = ctx.client(&p)?.get(target);
        ensure!(
            r.status == 200 && r.body == format!("ok:{target}").as_bytes(),
            "a request after the 101 got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let tunnel = origin
        .records()
        .into_iter()
        .find(|r| String::from_utf8_lossy(&r.received).contains("/upgrade"));
    let tunnel = tunnel.ok_or("the origin never saw /upgrade")?;
    ensure!(
        !String::from_utf8_lossy(&tunnel.received).contains("/after"),
        "a later request was written into the upgraded connection"
    );
    Ok(())
}

// === item 5: chunk framing ===

pub(crate) fn chunked_reframed(ctx: &Ctx<'_>) -> Result<(), String> {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let origin = {
        let bodies = Arc::clone(&bodies);
        origin_with(move |conn, req| {
            if req.target() == "/res" {
                return Some(conn.send(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0005;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
                ));
            }
            if let Ok(mut b) = bodies.lock() {
                b.push(req.body_wire.clone());
            }
            None
        })?
    };
    let p = ctx.http_to(origin.addr(), "", "")?;
    // Leading zeros, an extension and a trailer: the origin gets canonical framing.
    let mut c = ctx.client(&p)?;
    c.send(b"POST /rf HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0005;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    ensure!(c.response().status == 200, "a chunked POST failed");
    let got = bodies.lock().map(|b| b.last().cloned()).ok().flatten();
    ensure!(
        got.as_deref() == Some(&b"5\r\nhello\r\n0\r\n\r\n"[..]),
        "the origin received the chunked body as {:?}",
        got.map(|g| String::from_utf8_lossy(&g).into_owned())
    );
    // The same framing on the way back.
    let mut c = ctx.client(&p)?;
    c.send(b"GET /res HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let (head, body) = raw_response(&mut c, false);
    ensure!(
        body == b"5\r\nhello\r\n0\r\n\r\n",
        "the client received {:?} after {:?}",
        String::from_utf8_lossy(&body),
        first_line(&head)
    );
    // A request line in the trailer section is refused, never forwarded.
    expect_status_and_close(ctx, &p,
        b"POST /tr HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        400,
    )
    .map_err(|e| format!("request line as trailer: {e}"))?;
    std::thread::sleep(Duration::from_millis(50));
    ensure!(
        !String::from_utf8_lossy(&origin.all_received()).contains("/smuggled"),
        "the trailer section reached the origin raw"
    );
    // A 2^32 chunk size never reaches the origin as sent.
    let mut c = ctx.client(&p)?;
    c.send(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n")
        .map_err(|e| e.to_string())?;
    c.send(&[b'z'; 1000]).map_err(|e| e.to_string())?;
    let arrived = origin.wait_for(Duration::from_secs(3), |r| {
        r.iter().any(|c| {
            let text = String::from_utf8_lossy(&c.received);
            text.contains("POST /big ") && c.received.iter().filter(|&&b| b == b'z').count() >= 1000
        })
    });
    ensure!(
        arrived,
        "the first 1000 bytes of a large chunk never reached the origin"
    );
    let record = origin.all_received();
    let text = String::from_utf8_lossy(&record);
    let at = text.find("POST /big ").ok_or("no /big request")?;
    let head_end = text[at..].find("\r\n\r\n").ok_or("no head end")? + at + 4;
    let lines = chunk_size_lines(&record[head_end..]);
    for line in &lines {
        let size =
            u64::from_str_radix(line, 16).map_err(|_| format!("chunk size line {line:?}"))?;
        ensure!(
            size <= 1000,
            "a chunk size line {line:?} reached the origin for a chunk of which 1000 bytes were sent"
        );
    }
    drop(c);
    Ok(())
}

// === item 6: timeouts ===

pub(crate) fn stalled_request_bodies(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "client_body_ms = 500", "")?;
    const CLIENTS: usize = 50;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = ctx.client(&p)?;
        c.set_read_timeout(Duration::from_secs(4))
            .map_err(|e| e.to_string())?;
        c.send(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .map_err(|e| e.to_string())?;
        clients.push(c);
    }
    let sent = Instant::now();
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.response();
        ensure!(
            r.status == 408 || r.status == 0,
            "client {i} with a stalled body got {}",
            r.status
        );
        ensure!(c.closed(), "client {i} was left open with a stalled body");
    }
    let took = sent.elapsed();
    ensure!(
        took < Duration::from_millis(3000),
        "stalled bodies held for {took:?} with a 500 ms body timeout"
    );
    let upstreams_closed = origin.wait_for(Duration::from_secs(3), |r| {
        !r.is_empty() && r.iter().all(|c| c.closed_by_peer)
    });
    ensure!(
        upstreams_closed,
        "{} of {} upstream connections still open",
        origin
            .records()
            .iter()
            .filter(|c| !c.closed_by_peer)
            .count(),
        origin.records().len()
    );
    ctx.note(format!(
        "{CLIENTS} stalled bodies closed within {} ms ({} upstream connections closed)",
        took.as_millis(),
        origin.records().len()
    ));
    Ok(())
}

pub(crate) fn stalled_upstream_body(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        if req.target() != "/stall" {
            return None;
        }
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        conn.wait_for_close();
        Some(false)
    })?;
    let p = ctx.http_to(origin.addr(), "upstream_body_ms = 1500", "")?;
    let mut c = ctx.client(&p)?;
    // The ten bytes must arrive while the upstream is stalled, well before
    // the body timeout: a proxy holding them back would be read as silent.
    c.set_read_timeout(Duration::from_millis(1000))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    c.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let flushed = c.fill_until(|b| b.ends_with(b"0123456789"));
    ensure!(
        flushed,
        "the head and 10 body bytes were held back ({:?} received)",
        String::from_utf8_lossy(c.pending())
    );
    c.set_read_timeout(Duration::from_secs(4))
        .map_err(|e| e.to_string())?;
    // Then the connection ends: the body is cut, visibly short.
    c.fill_until(|_| false);
    let took = started.elapsed();
    ensure!(
        took < Duration::from_millis(1500 + 2500),
        "a stalled upstream body held the client for {took:?} with a 1500 ms body timeout"
    );
    let (_, body) = raw_response(&mut c, true);
    ensure!(
        body == b"0123456789",
        "the client got {:?} of a body the upstream never finished",
        String::from_utf8_lossy(&body)
    );
    let closed = origin.wait_for(Duration::from_secs(2), |r| {
        r.iter().all(|c| c.closed_by_peer)
    });
    ensure!(closed, "the stalled upstream connection was left open");
    ctx.note(format!(
        "stalled upstream body cut after {} ms",
        took.as_millis()
    ));
    Ok(())
}

pub(crate) fn client_stops_reading(ctx: &Ctx<'_>) -> Result<(), String> {
    const SIZE: usize = 64 << 20;
    let origin = origin_with(|conn, req| {
        if req.target() != "/huge" {
            return None;
        }
        if !conn.send(format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes()) {
            return Some(false);
        }
        let piece = vec![b'h'; 64 << 10];
        for _ in 0..SIZE / piece.len() {
            if !conn.send(&piece) {
                break;
            }
        }
        Some(false)
    })?;
    let p = ctx.http_to(origin.addr(), "send_ms = 500", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    // Read nothing: the proxy's writes to this client block.
    let started = Instant::now();
    let dropped = origin.wait_for(Duration::from_millis(4000), |r| {
        r.iter().any(|c| c.closed_by_peer)
    });
    ensure!(
        dropped,
        "a client that stopped reading was held for {:?} with a 500 ms send timeout",
        started.elapsed()
    );
    ctx.note(format!(
        "a client that stopped reading was dropped after {} ms",
        started.elapsed().as_millis()
    ));
    Ok(())
}

// === item 7: smaller RFC violations ===

/// The head of the request the origin received whose line contains `marker`.
fn origin_head(origin: &ScriptedOrigin, marker: &str) -> Option<String> {
    let all = String::from_utf8_lossy(&origin.all_received()).into_owned();
    let at = all.find(marker)?;
    let start = all[..at].rfind("\r\n\r\n").map_or(0, |i| i + 4);
    let end = all[at..].find("\r\n\r\n").map_or(all.len(), |i| at + i + 4);
    Some(all[start..end].to_owned())
}

pub(crate) fn host_kept(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /conn-host HTTP/1.1\r\nHost: x\r\nConnection: host\r\n\r\n")
        .map_err(|e| e.to_string())?;
    ensure!(
        c.response().status == 200,
        "Connection: host was not served"
    );
    let head = origin_head(&origin, "/conn-host").ok_or("the origin never saw /conn-host")?;
    ensure!(
        header_in(&head, "host") == Some("x"),
        "Connection: host removed Host: {head:?}"
    );
    let mut c = ctx.client(&p)?;
    c.send(b"GET /h10 HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    ensure!(
        c.response().status == 200,
        "an HTTP/1.0 request without Host failed"
    );
    let head = origin_head(&origin, "/h10").ok_or("the origin never saw /h10")?;
    ensure!(
        first_line(&head).ends_with("HTTP/1.1")
            && header_in(&head, "host").is_some_and(|h| !h.is_empty()),
        "an HTTP/1.0 request was forwarded as HTTP/1.1 without Host: {head:?}"
    );
    Ok(())
}

pub(crate) fn invalid_status(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        (req.target() == "/s099")
            .then(|| conn.send(b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"))
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /s099 HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let (head, _) = raw_response(&mut c, false);
    ensure!(
        first_line(&head).starts_with("HTTP/1.1 502 "),
        "status 099 was relayed as {:?}",
        first_line(&head)
    );
    Ok(())
}

pub(crate) fn no_chunked_to_http10(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        (req.target() == "/chunked").then(|| {
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        })
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /chunked HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let (head, body) = raw_response(&mut c, true);
    ensure!(
        first_line(&head).contains(" 200 "),
        "got {:?}",
        first_line(&head)
    );
    ensure!(
        header_in(&head, "transfer-encoding").is_none() && body == b"hello world",
        "an HTTP/1.0 client got {head:?} with body {:?}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

pub(crate) fn no_length_on_204(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        (req.target() == "/n204")
            .then(|| conn.send(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n"))
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    let r = c.get("/n204");
    ensure!(r.status == 204, "got {}", r.status);
    ensure!(
        r.header("content-length").is_none(),
        "a 204 was sent with Content-Length: {:?}",
        r.head
    );
    ensure!(
        c.get("/after").status == 200,
        "the connection broke after 204"
    );
    Ok(())
}

pub(crate) fn interim_forwarded(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        (req.target() == "/hints").then(|| {
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
                && conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        })
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /hints HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let first = c.response_with(false, true);
    ensure!(
        first.status == 103 && first.header("link").as_deref() == Some("</s.css>; rel=preload"),
        "the 103 was not forwarded (first response {} {:?})",
        first.status,
        first.head
    );
    let r = c.response();
    ensure!(
        r.status == 200 && r.body == b"ok",
        "final response {}",
        r.status
    );
    Ok(())
}

pub(crate) fn absolute_form(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    let r = {
        c.send(b"GET http://x/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .map_err(|e| e.to_string())?;
        c.response()
    };
    ensure!(
        r.status == 200 && r.body == b"ok:/abs?q=1",
        "absolute-form got {} {:?}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    c.send(b"GET HTTP://Other.Example:8080/abs2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(
        r.status == 200,
        "absolute-form with another authority got {}",
        r.status
    );
    let head = origin_head(&origin, "/abs2").ok_or("the origin never saw /abs2")?;
    ensure!(
        first_line(&head) == "GET /abs2 HTTP/1.1"
            && header_in(&head, "host")
                .is_some_and(|h| h.eq_ignore_ascii_case("other.example:8080")),
        "forwarded as {head:?}: the target must be origin-form and Host the target's authority"
    );
    Ok(())
}

pub(crate) fn http_1_2(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = plain_origin()?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    let mut c = ctx.client(&p)?;
    c.send(b"GET /v12 HTTP/1.2\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let r = c.response();
    ensure!(
        r.status == 200 && r.body == b"ok:/v12",
        "HTTP/1.2 got {}",
        r.status
    );
    Ok(())
}

pub(crate) fn te_empty_elements(ctx: &Ctx<'_>) -> Result<(), String> {
    let origin = origin_with(|conn, req| {
        req.target().starts_with("/te-").then(|| {
            let body = format!(
                "{}|{}",
                req.target(),
                String::from_utf8_lossy(&req.body_wire)
            );
            conn.send(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        })
    })?;
    let p = ctx.http_to(origin.addr(), "", "")?;
    for (tag, te) in [
        ("trailing", "chunked,"),
        ("leading", ", chunked"),
        ("inner", " ,chunked ,"),
    ] {
        let mut c = ctx.client(&p)?;
        c.send(
            format!(
                "POST /te-{tag} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            )
            .as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let r = c.response();
        ensure!(
            r.status == 200 && String::from_utf8_lossy(&r.body).contains("hello"),
            "Transfer-Encoding {te:?} got {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}
