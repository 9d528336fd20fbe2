//! The client side: a buffered connection, reading request heads under a
//! deadline, and the per-connection loop that hands each request to a
//! core's service stack as an [`Exchange`].

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use crate::io::{Deadline, Due, Runtime, Stream};
use pb_http::{Framing, Header, HttpError, Limits, Name, RequestHead, ResponseHead, write};

/// Bytes asked for per read.
pub const READ_CHUNK: usize = 16 * 1024;

/// A stream with its read buffer: bytes read but not yet used stay here
/// (pipelined requests, the start of a body after its head), and its one
/// [`Deadline`] for every read and write with a time limit.
#[derive(Debug)]
pub struct Conn<S: Stream> {
    /// The socket.
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    /// Scratch space for writes, reused across requests.
    pub out: Vec<u8>,
    deadline: Deadline<S::Timer>,
}

impl<S: Stream> Conn<S> {
    /// Wraps a stream.
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            out: Vec::with_capacity(READ_CHUNK),
            deadline: Deadline::default(),
        }
    }

    /// Whether an idle connection may carry another request: nothing
    /// unread is buffered and the peer is quiet ([`Stream::is_quiet`]).
    pub fn is_reusable(&self) -> bool {
        self.pending().is_empty() && self.stream.is_quiet()
    }

    /// Bytes read and not yet used.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` pending bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// The read buffer, used bytes dropped and room for a read made.
    fn buffer_for_read(&mut self) -> Vec<u8> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 2 {
            self.buf.reserve(READ_CHUNK);
        }
        std::mem::take(&mut self.buf)
    }

    /// Reads more bytes after the pending ones; 0 means the peer closed.
    pub async fn fill(&mut self) -> io::Result<usize> {
        let buf = self.buffer_for_read();
        let (result, buf) = self.stream.read(buf).await;
        self.buf = buf;
        result
    }

    /// [`fill`](Self::fill) within `limit`: `None` if the time ran out.
    pub async fn fill_within(&mut self, limit: Duration) -> Option<io::Result<usize>> {
        self.fill_until(Due::After(limit)).await
    }

    /// [`fill`](Self::fill) until `due`: `None` if the time ran out.
    pub async fn fill_until(&mut self, due: Due) -> Option<io::Result<usize>> {
        let buf = self.buffer_for_read();
        let (result, buf) = self.deadline.race_until(due, self.stream.read(buf)).await?;
        self.buf = buf;
        Some(result)
    }

    /// [`send_out`](Self::send_out) within `limit`; a peer that does not
    /// read in time is an error, and the connection is aborted.
    pub async fn send_within(&mut self, out: Vec<u8>, limit: Duration) -> io::Result<()> {
        let sent = self.deadline.race(limit, self.stream.write_all(out)).await;
        match sent {
            Some((result, mut out)) => {
                out.clear();
                self.out = out;
                result
            }
            None => {
                self.abort();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "peer stopped reading",
                ))
            }
        }
    }

    /// Shuts the connection down in both directions now, for a
    /// connection given up on: see [`Stream::abort`].
    pub fn abort(&self) {
        self.stream.abort();
    }

    /// Writes `bytes` through the scratch buffer.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.extend_from_slice(bytes);
        self.send_out(out).await
    }

    /// Writes a buffer the caller filled (usually taken from `self.out`),
    /// keeping it as the scratch buffer afterwards.
    pub async fn send_out(&mut self, out: Vec<u8>) -> io::Result<()> {
        let (result, mut out) = self.stream.write_all(out).await;
        out.clear();
        self.out = out;
        result
    }
}

/// Why no request head could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The bytes are not an acceptable head.
    Http(HttpError),
    /// The deadline passed; `partial` if some bytes of a head had arrived.
    Timeout {
        /// Some bytes of a head had arrived (slowloris, not idleness).
        partial: bool,
    },
    /// The connection failed.
    Io(io::Error),
}

/// Reads the next request head into `head` (its storage reused);
/// `Ok(false)` when the client closed cleanly between requests. The whole
/// head must arrive within `deadline`.
pub async fn read_head<R: Runtime>(
    conn: &mut Conn<R::Stream>,
    head: &mut RequestHead,
    limits: &Limits,
    deadline: Duration,
) -> Result<bool, HeadError> {
    // The head's deadline starts when a read first has to wait.
    let mut until = None;
    loop {
        match head.parse_into(conn.pending(), limits) {
            Ok(Some(used)) => {
                conn.consume(used);
                return Ok(true);
            }
            Ok(None) => {}
            Err(e) => return Err(HeadError::Http(e)),
        }
        let due = Due::At(*until.get_or_insert_with(|| Instant::now() + deadline));
        let partial = !conn.pending().is_empty();
        match conn.fill_until(due).await {
            None => return Err(HeadError::Timeout { partial }),
            Some(Err(e)) => return Err(HeadError::Io(e)),
            Some(Ok(0)) if partial => {
                return Err(HeadError::Http(HttpError::bad_request(
                    "connection closed mid-head",
                )));
            }
            Some(Ok(0)) => return Ok(false),
            Some(Ok(_)) => {}
        }
    }
}

/// One request on its way through a core's service stack. Middleware
/// layers fill in the route and the header edits; the forwarding service
/// at the bottom does the I/O.
#[derive(Debug)]
pub struct Exchange<S: Stream> {
    /// The request head.
    pub head: RequestHead,
    /// The client connection (its buffer may hold the start of the body).
    pub client: Conn<S>,
    /// The upstream routing chose (pool by host and path, then the pool's
    /// balancer); `None` until routed, and when no route matches (404).
    pub upstream: Option<crate::balance::Pick>,
    /// Header names to drop when forwarding (lower-case).
    pub request_remove: Vec<Name>,
    /// Headers to add when forwarding.
    pub request_add: Vec<Header>,
    /// Headers to add to the upstream's response.
    pub response_add: Vec<Header>,
    /// Storage for the upstream's response head.
    pub(crate) response: ResponseHead,
}

/// What an exchange leaves for the next request on its connection: the
/// head and edit storage, emptied but with their capacity, so a kept-alive
/// connection parses, edits and forwards without allocating.
#[derive(Debug, Default)]
pub struct Spare {
    head: RequestHead,
    request_remove: Vec<Name>,
    request_add: Vec<Header>,
    response_add: Vec<Header>,
    response: ResponseHead,
}

/// What a service stack hands back: the client connection, and whether it
/// can carry another request.
#[derive(Debug)]
pub struct Done<S: Stream> {
    /// The client connection.
    pub client: Conn<S>,
    /// Keep it open for the next request.
    pub keep_alive: bool,
    /// The exchange's storage, for the next one.
    pub spare: Spare,
}

impl<S: Stream> Exchange<S> {
    /// A fresh exchange for `head` on `client`.
    pub fn new(head: RequestHead, client: Conn<S>) -> Exchange<S> {
        Exchange::reuse(
            Spare {
                head,
                ..Spare::default()
            },
            client,
        )
    }

    /// An exchange for the head parsed into `spare`, with its storage.
    pub fn reuse(spare: Spare, client: Conn<S>) -> Exchange<S> {
        Exchange {
            head: spare.head,
            client,
            upstream: None,
            request_remove: spare.request_remove,
            request_add: spare.request_add,
            response_add: spare.response_add,
            response: spare.response,
        }
    }

    /// Ends the exchange: the connection, whether it is kept, and the
    /// storage emptied for the next request.
    pub fn finish(self, keep_alive: bool) -> Done<S> {
        fn empty<T>(mut v: Vec<T>) -> Vec<T> {
            v.clear();
            v
        }
        Done {
            client: self.client,
            keep_alive,
            spare: Spare {
                head: self.head,
                request_remove: empty(self.request_remove),
                request_add: empty(self.request_add),
                response_add: empty(self.response_add),
                response: self.response,
            },
        }
    }

    /// Answers from the proxy itself; no upstream is contacted. A request
    /// with a body is not drained, so its connection is closed.
    pub async fn respond(mut self, status: u16, body: &[u8]) -> io::Result<Done<S>> {
        let keep_alive = self.head.keep_alive && self.head.framing == Framing::Empty;
        let bytes = write::response(status, &self.response_add, body, keep_alive);
        self.client.send(&bytes).await?;
        Ok(self.finish(keep_alive))
    }
}

/// Serves one client connection: reads each request head, hands it to
/// `call` (the core's service stack), and repeats while the connection is
/// kept alive. Bad heads get their 400/414/431, a head dribbled past the
/// deadline 408; then the connection is closed.
pub async fn serve_connection<R, F, Fut>(
    stream: R::Stream,
    limits: Limits,
    header_deadline: Duration,
    mut call: F,
) where
    R: Runtime,
    F: FnMut(Exchange<R::Stream>) -> Fut,
    Fut: Future<Output = io::Result<Done<R::Stream>>>,
{
    let mut conn = Conn::new(stream);
    let mut spare = Spare::default();
    loop {
        match read_head::<R>(&mut conn, &mut spare.head, &limits, header_deadline).await {
            Ok(true) => {}
            Ok(false) | Err(HeadError::Io(_)) => break,
            Err(HeadError::Http(e)) => {
                // A HEAD refused for what follows its request line still
                // gets a response without a body: its client reads none.
                let head_request = conn.pending().starts_with(b"HEAD ");
                let _ = conn.send(&e.response_for(head_request)).await;
                break;
            }
            // The read given up on may still be in flight (completion-based
            // runtimes): abort rather than wait for the client to close.
            Err(HeadError::Timeout { partial: false }) => {
                conn.abort();
                return;
            }
            Err(HeadError::Timeout { partial: true }) => {
                let _ = conn
                    .send(&write::error_response(
                        408,
                        "request head not received in time",
                    ))
                    .await;
                conn.abort();
                return;
            }
        }
        match call(Exchange::reuse(spare, conn)).await {
            Ok(done) => {
                (conn, spare) = (done.client, done.spare);
                if !done.keep_alive {
                    break;
                }
            }
            // The client connection failed mid-exchange; nothing to say.
            Err(_) => return,
        }
    }
    let _ = conn.stream.shutdown().await;
}
