//! The bottom of every core's stack: send the request to an upstream from
//! the chosen pool and stream the response back.
//!
//! In order: with the upstream routing picked ([`Exchange::upstream`];
//! 404 when no route matched), take an idle connection
//! that is still quiet (the pool drops closed ones and ones holding stray
//! bytes) or connect (502 if refused or too slow), answer `Expect:
//! 100-continue`, send the head and stream the body (408 if the client
//! stalls past `client_body_ms`), wait for the response head (504 past the
//! response timeout, 502 if the upstream fails, answers garbage or
//! switches protocols unasked), forwarding interim 1xx responses, stream
//! the response body (flushed as it arrives, cut if the upstream stalls
//! past `upstream_body_ms` or the client stops reading past `send_ms`),
//! and keep the upstream connection if it can carry another request.
//!
//! A reused connection that fails before any response byte is retried
//! once on a fresh one only when that cannot run a request twice: the
//! method is idempotent (RFC 9110 §9.2.2) and there was no body to lose.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::exchange::{Conn, Done, Exchange};
use crate::io::{Due, Runtime, Stream, timeout};
use crate::pool::UpstreamPool;
use pb_core::config::{ProxyConfig, TimeoutsConfig};
use pb_http::{BodyDecoder, Framing, Header, HttpError, Limits, ResponseHead, Version, write};

/// Callbacks at the phases of an exchange that happen inside the
/// forwarder, for a composition that drives filters phase by phase (the
/// filter chain); the onion compositions pass `()`, whose empty callbacks
/// compile to nothing.
pub trait Phases {
    /// Request body bytes as they are forwarded (chunk framing included
    /// when the body is chunked), once per piece.
    fn request_body(&mut self, _bytes: &[u8]) {}
    /// The upstream's final response head, before it is written to the
    /// client; headers pushed onto `add` are added to it.
    fn response_head(&mut self, _head: &ResponseHead, _add: &mut Vec<Header>) {}
}

impl Phases for () {}

/// Idle upstream connections and the limits that bound the exchange
/// (the upstream itself is routing's choice, [`Exchange::upstream`]).
#[derive(Debug)]
pub struct Forwarder<P> {
    /// Idle upstream connections.
    pub pool: P,
    /// Connect and response timeouts.
    pub timeouts: TimeoutsConfig,
    /// Limits on response heads.
    pub limits: Limits,
}

impl<P> Forwarder<P> {
    /// A forwarder for `config`'s timeouts and limits, keeping idle
    /// upstream connections in `pool`.
    pub fn new(config: &ProxyConfig, pool: P) -> Forwarder<P> {
        Forwarder {
            pool,
            timeouts: config.timeouts,
            limits: config.head_limits(),
        }
    }
}

/// How an attempt to get a response head failed.
enum Failure {
    /// The upstream cannot be reached or broke: 502.
    BadGateway(&'static str),
    /// No response head in time: 504.
    Timeout,
    /// Like `BadGateway`, on a reused connection before any byte came
    /// back: safe to retry when the request is idempotent and had no body.
    Stale,
    /// The client's body is malformed (bad chunking): 400, and the upstream
    /// connection, holding half a request, is dropped.
    BadRequest(HttpError),
    /// The client stopped sending its body: 408.
    ClientStalled,
    /// The client went away while its body was being forwarded.
    Client(io::Error),
}

impl<P> Forwarder<P> {
    /// Forwards one exchange; `Err` only when the client connection failed.
    pub async fn forward<R>(&self, ex: Exchange<R::Stream>) -> io::Result<Done<R::Stream>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        self.forward_with::<R>(ex, &mut ()).await
    }

    /// [`forward`](Self::forward), calling `phases` at the request body
    /// and the response head.
    pub async fn forward_with<R>(
        &self,
        mut ex: Exchange<R::Stream>,
        phases: &mut impl Phases,
    ) -> io::Result<Done<R::Stream>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        let Some(pick) = ex.upstream.take() else {
            return ex.respond(404, b"no route for this host and path\n").await;
        };
        let continued = ex.head.expect_continue && ex.head.framing != Framing::Empty;
        if continued {
            ex.client.send(write::CONTINUE).await?;
        }
        let mut head = std::mem::take(&mut ex.client.out);
        head.clear();
        write::request_head(
            &mut head,
            &ex.head,
            &ex.request_remove,
            &ex.request_add,
            pick.addr,
        );

        let retryable = ex.head.framing == Framing::Empty && ex.head.is_idempotent();
        let mut reused = self.pool.take(pick.addr, Conn::is_reusable);
        let mut response = std::mem::take(&mut ex.response);
        let mut upstream = loop {
            let fresh = reused.is_none();
            let attempt = self
                .exchange_head::<R>(
                    &mut ex,
                    reused.take(),
                    pick.addr,
                    &head,
                    continued,
                    &mut response,
                    phases,
                )
                .await;
            match attempt {
                Ok(ok) => break ok,
                Err(Failure::Stale) if retryable && !fresh => continue,
                Err(Failure::Stale) => {
                    return self
                        .fail(ex, head, 502, "upstream closed the connection")
                        .await;
                }
                Err(Failure::BadGateway(why)) => return self.fail(ex, head, 502, why).await,
                Err(Failure::Timeout) => {
                    return self
                        .fail(ex, head, 504, "upstream response timed out")
                        .await;
                }
                Err(Failure::BadRequest(e)) => {
                    return self.fail(ex, head, e.status, e.reason).await;
                }
                Err(Failure::ClientStalled) => {
                    let done = self
                        .fail(ex, head, 408, "request body not received in time")
                        .await?;
                    // The client read given up on may still be in flight.
                    done.client.abort();
                    return Ok(done);
                }
                Err(Failure::Client(e)) => return Err(e),
            }
        };
        ex.client.out = head;

        // The response head, then its body, framed for this client.
        phases.response_head(&response, &mut ex.response_add);
        let plan = write::ResponsePlan::new(&ex.head, &response);
        let mut out = std::mem::take(&mut ex.client.out);
        out.clear();
        write::response_head(&mut out, &response, &ex.response_add, plan);
        let mut body = BodyDecoder::new(response.framing);
        let mut complete = body.is_done();
        while !complete {
            let Ok(step) = body.decode_into(upstream.pending(), &mut out, plan.emit) else {
                // Malformed chunking mid-body: the client must not see a
                // complete message.
                break;
            };
            upstream.consume(step.consumed);
            if step.done {
                complete = true;
                break;
            }
            // What has arrived goes out before waiting for more: a slow
            // upstream's bytes are not held back until a buffer fills.
            if !out.is_empty() {
                ex.client.send_within(out, self.timeouts.send()).await?;
                out = std::mem::take(&mut ex.client.out);
            }
            match upstream.fill_within(self.timeouts.upstream_body()).await {
                Some(Ok(0)) => {
                    complete = body.finish_on_close_into(&mut out, plan.emit).is_ok();
                    break;
                }
                Some(Ok(_)) => {}
                // Broken, or stalled past the body timeout: cut short, and
                // the upstream connection given up on.
                Some(Err(_)) | None => {
                    upstream.abort();
                    break;
                }
            }
        }
        ex.client.send_within(out, self.timeouts.send()).await?;
        if complete && response.keep_alive && upstream.pending().is_empty() {
            self.pool.put(pick.addr, upstream);
        }
        ex.response = response;
        Ok(ex.finish(complete && plan.keep_alive))
    }

    /// Sends a closing error response to the client.
    async fn fail<S: Stream>(
        &self,
        mut ex: Exchange<S>,
        head: Vec<u8>,
        status: u16,
        why: &'static str,
    ) -> io::Result<Done<S>> {
        ex.client.out = head;
        let response = HttpError {
            status,
            reason: why,
        }
        .response_for(ex.head.is_head());
        ex.client.send(&response).await?;
        Ok(ex.finish(false))
    }

    /// Gets a connection, sends the head and body, reads the response head
    /// into `response` (forwarding interim 1xx responses to the client).
    /// `continued` says the client already got the proxy's own `100
    /// Continue`.
    #[allow(clippy::too_many_arguments)]
    async fn exchange_head<R>(
        &self,
        ex: &mut Exchange<R::Stream>,
        reused: Option<Conn<R::Stream>>,
        addr: SocketAddr,
        head: &[u8],
        continued: bool,
        response: &mut ResponseHead,
        phases: &mut impl Phases,
    ) -> Result<Conn<R::Stream>, Failure>
    where
        R: Runtime,
    {
        let was_reused = reused.is_some();
        let mut upstream = match reused {
            Some(conn) => conn,
            None => match timeout::<R, _>(self.timeouts.connect(), R::connect(addr)).await {
                Some(Ok(stream)) => Conn::new(stream),
                Some(Err(_)) => return Err(Failure::BadGateway("upstream refused the connection")),
                None => return Err(Failure::BadGateway("upstream connect timed out")),
            },
        };
        let broken = |why| {
            if was_reused {
                Failure::Stale
            } else {
                Failure::BadGateway(why)
            }
        };
        let send = self.timeouts.send();
        let mut out = std::mem::take(&mut upstream.out);
        out.clear();
        out.extend_from_slice(head);
        if upstream.send_within(out, send).await.is_err() {
            return Err(broken("upstream reset the connection"));
        }
        // Stream the request body, re-framed as it passes.
        let mut body = BodyDecoder::new(ex.head.framing);
        let emit = match ex.head.framing {
            Framing::Chunked => pb_http::Emit::Chunked,
            _ => pb_http::Emit::Payload,
        };
        while !body.is_done() {
            // Straight from the client's buffer into the upstream's
            // scratch buffer: no intermediate copy per chunk.
            let mut out = std::mem::take(&mut upstream.out);
            out.clear();
            let step = body
                .decode_into(ex.client.pending(), &mut out, emit)
                .map_err(Failure::BadRequest)?;
            ex.client.consume(step.consumed);
            if !out.is_empty() {
                phases.request_body(&out);
                if upstream.send_within(out, send).await.is_err() {
                    return Err(Failure::BadGateway("upstream stopped taking the request"));
                }
            } else {
                upstream.out = out;
            }
            if step.done {
                break;
            }
            match ex.client.fill_within(self.timeouts.client_body()).await {
                Some(Ok(0)) => {
                    return Err(Failure::Client(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed mid-body",
                    )));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Failure::Client(e)),
                None => return Err(Failure::ClientStalled),
            }
        }
        // The response head, within the response timeout.
        let head_request = ex.head.is_head();
        let interim_to_client = ex.head.version == Version::Http11;
        let limits = self.limits;
        let client = &mut ex.client;
        let due = Due::At(Instant::now() + self.timeouts.response());
        let read_head = async {
            loop {
                match response.parse_into(upstream.pending(), &limits, head_request) {
                    Ok(Some(used)) => {
                        upstream.consume(used);
                        let res = &*response;
                        // The proxy removed Upgrade from the request, so a
                        // 101 was never asked for; relaying it would turn
                        // both connections into a tunnel nobody set up.
                        if res.status == 101 {
                            return Err(Failure::BadGateway("upstream switched protocols unasked"));
                        }
                        if res.is_interim() {
                            // A proxy forwards 1xx (RFC 9110 §15.2), except
                            // to HTTP/1.0 clients, and except a 100 when the
                            // proxy has already sent its own.
                            if interim_to_client && !(continued && res.status == 100) {
                                let mut out = std::mem::take(&mut client.out);
                                out.clear();
                                write::interim_head(&mut out, res);
                                client
                                    .send_within(out, send)
                                    .await
                                    .map_err(Failure::Client)?;
                            }
                            continue;
                        }
                        return Ok(());
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Failure::BadGateway(e.reason)),
                }
                let nothing_yet = upstream.pending().is_empty();
                match upstream.fill_until(due).await {
                    Some(Ok(0) | Err(_)) if nothing_yet => {
                        return Err(broken("upstream closed before responding"));
                    }
                    Some(Ok(0) | Err(_)) => {
                        return Err(Failure::BadGateway("upstream closed mid-head"));
                    }
                    Some(Ok(_)) => {}
                    None => {
                        // The abandoned read may still hold the connection.
                        upstream.abort();
                        return Err(Failure::Timeout);
                    }
                }
            }
        };
        read_head.await.map(|()| upstream)
    }
}
