//! The bottom of every core's stack: send the request to an upstream from
//! the chosen pool and stream the response back.
//!
//! In order: pick an upstream (the pool's policy), take an idle connection
//! or connect (502 if refused or too slow), answer `Expect: 100-continue`,
//! send the head and stream the body, wait for the response head (504
//! past the response timeout, 502 if the upstream fails or answers
//! garbage), stream the response body, and keep the upstream connection if
//! it can carry another request. A reused connection that turns out stale
//! before any response byte is retried once on a fresh one when the
//! request had no body (nothing was lost).

use std::io;
use std::net::SocketAddr;

use crate::http::{BodyDecoder, Framing, HttpError, Limits, ResponseHead, write};
use crate::proxy::balance::Balancer;
use crate::proxy::config::{ProxyConfig, TimeoutsConfig};
use crate::proxy::exchange::{Conn, Done, Exchange};
use crate::proxy::io::{Runtime, timeout};
use crate::proxy::pool::UpstreamPool;

/// Upstream balancers, idle connections and the limits that bound them.
#[derive(Debug)]
pub struct Forwarder<P> {
    /// One balancer per pool, in configuration order.
    pub balancers: Vec<Balancer>,
    /// Idle upstream connections.
    pub pool: P,
    /// Connect and response timeouts.
    pub timeouts: TimeoutsConfig,
    /// Limits on response heads.
    pub limits: Limits,
}

impl<P> Forwarder<P> {
    /// A forwarder for `config`; `seed` varies random balancing per thread.
    pub fn new(config: &ProxyConfig, pool: P, seed: u64) -> Forwarder<P> {
        Forwarder {
            balancers: config
                .pools
                .iter()
                .enumerate()
                .map(|(i, p)| Balancer::new(p, seed.wrapping_add(i as u64)))
                .collect(),
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
    /// back: safe to retry when the request had no body.
    Stale,
    /// The client's body is malformed (bad chunking): 400, and the upstream
    /// connection, holding half a request, is dropped.
    BadRequest(HttpError),
    /// The client went away while its body was being forwarded.
    Client(io::Error),
}

impl<P> Forwarder<P> {
    /// Forwards one exchange; `Err` only when the client connection failed.
    pub async fn forward<R>(&self, mut ex: Exchange<R::Stream>) -> io::Result<Done<R::Stream>>
    where
        R: Runtime,
        P: UpstreamPool<Conn<R::Stream>>,
    {
        let Some(route) = ex.route else {
            return ex.respond(404, b"no route for this host and path\n").await;
        };
        let pick = self.balancers[route].pick();
        if ex.head.expect_continue && ex.head.framing != Framing::Empty {
            ex.client.send(write::CONTINUE).await?;
        }
        let mut head = std::mem::take(&mut ex.client.out);
        head.clear();
        write::request_head(&mut head, &ex.head, &ex.request_remove, &ex.request_add);

        let mut reused = self.pool.take(pick.addr);
        let (mut upstream, response) = loop {
            let fresh = reused.is_none();
            let attempt = self
                .exchange_head::<R>(&mut ex, reused.take(), pick.addr, &head)
                .await;
            match attempt {
                Ok(ok) => break ok,
                Err(Failure::Stale) if ex.head.framing == Framing::Empty && !fresh => continue,
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
                Err(Failure::Client(e)) => return Err(e),
            }
        };
        ex.client.out = head;

        // The response head, then its body, exactly as framed.
        let client_keep_alive = ex.head.keep_alive && response.framing != Framing::UntilClose;
        let mut out = std::mem::take(&mut ex.client.out);
        out.clear();
        write::response_head(&mut out, &response, &ex.response_add, client_keep_alive);
        let mut body = BodyDecoder::new(response.framing);
        let mut complete = body.is_done();
        while !complete {
            let Ok(step) = body.feed(upstream.pending()) else {
                // Malformed chunking mid-body: the client must not see a
                // complete message.
                break;
            };
            out.extend_from_slice(&upstream.pending()[..step.consumed]);
            upstream.consume(step.consumed);
            if step.done {
                complete = true;
                break;
            }
            if out.len() >= crate::proxy::exchange::READ_CHUNK {
                ex.client.send_out(out).await?;
                out = std::mem::take(&mut ex.client.out);
            }
            match upstream.fill().await {
                Ok(0) => {
                    complete = body.finish_on_close().is_ok();
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        ex.client.send_out(out).await?;
        if complete && response.keep_alive && upstream.pending().is_empty() {
            self.pool.put(pick.addr, upstream);
        }
        Ok(Done {
            client: ex.client,
            keep_alive: complete && client_keep_alive,
        })
    }

    /// Sends a closing error response to the client.
    async fn fail<S: crate::proxy::io::Stream>(
        &self,
        mut ex: Exchange<S>,
        head: Vec<u8>,
        status: u16,
        why: &'static str,
    ) -> io::Result<Done<S>> {
        ex.client.out = head;
        ex.client
            .send(
                &HttpError {
                    status,
                    reason: why,
                }
                .response(),
            )
            .await?;
        Ok(Done {
            client: ex.client,
            keep_alive: false,
        })
    }

    /// Gets a connection, sends the head and body, reads the response head
    /// (skipping interim 1xx responses).
    async fn exchange_head<R>(
        &self,
        ex: &mut Exchange<R::Stream>,
        reused: Option<Conn<R::Stream>>,
        addr: SocketAddr,
        head: &[u8],
    ) -> Result<(Conn<R::Stream>, ResponseHead), Failure>
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
        if upstream.send(head).await.is_err() {
            return Err(broken("upstream reset the connection"));
        }
        // Stream the request body.
        let mut body = BodyDecoder::new(ex.head.framing);
        while !body.is_done() {
            let step = body
                .feed(ex.client.pending())
                .map_err(Failure::BadRequest)?;
            if step.consumed > 0 {
                // Straight from the client's buffer into the upstream's
                // scratch buffer: no intermediate copy per chunk.
                let sent = upstream.send(&ex.client.pending()[..step.consumed]).await;
                ex.client.consume(step.consumed);
                if sent.is_err() {
                    return Err(Failure::BadGateway("upstream reset the connection"));
                }
            }
            if step.done {
                break;
            }
            match ex.client.fill().await {
                Ok(0) => {
                    return Err(Failure::Client(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "client closed mid-body",
                    )));
                }
                Ok(_) => {}
                Err(e) => return Err(Failure::Client(e)),
            }
        }
        // The response head, within the response timeout.
        let head_request = ex.head.is_head();
        let limits = self.limits;
        let read_head = async {
            loop {
                match ResponseHead::parse(upstream.pending(), &limits, head_request) {
                    Ok(Some((res, used))) => {
                        upstream.consume(used);
                        if res.is_interim() {
                            continue;
                        }
                        return Ok(res);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Failure::BadGateway(e.reason)),
                }
                let nothing_yet = upstream.pending().is_empty();
                match upstream.fill().await {
                    Ok(0) | Err(_) if nothing_yet => {
                        return Err(broken("upstream closed before responding"));
                    }
                    Ok(0) | Err(_) => return Err(Failure::BadGateway("upstream closed mid-head")),
                    Ok(_) => {}
                }
            }
        };
        match timeout::<R, _>(self.timeouts.response(), read_head).await {
            Some(Ok(res)) => Ok((upstream, res)),
            Some(Err(f)) => Err(f),
            None => Err(Failure::Timeout),
        }
    }
}
