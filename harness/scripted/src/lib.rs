//! The forwarding engine on scripted in-memory streams: every byte a
//! client and an upstream send is delivered in reads the script chooses
//! (whole, split at any offset, a byte at a time), and either side can
//! close or reset at any offset. No sockets, no runtime, no timers, so
//! what the engine does with a byte sequence is the only thing under test.
//!
//! | item | role |
//! |---|---|
//! | [`Step`], [`whole`], [`split_at`], [`bytewise`], [`cut`] | a peer's script |
//! | [`serve`] | one client connection served by the engine, upstreams connected in order |
//! | [`Seen`], [`Message`], [`messages`], [`head_requests`], [`as_http11`] | what each side received, read back with the judging side's parser (`pb-wire`), not the engine's |
//!
//! Two users: the engine's property tests (`tests/engine.rs`) and the
//! whole-exchange fuzz target (`fuzz/`), which feeds arbitrary client and
//! upstream bytes through [`serve`] and checks the invariants on [`Seen`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, pending};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use pb_core::ProxyConfig;
use pb_engine::pool::LocalPool;
use pb_engine::route::Routing;
use pb_engine::{Conn, Forwarder, Runtime, Stream, serve_connection};

/// One step of a scripted peer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The next read returns these bytes.
    Bytes(Vec<u8>),
    /// The next read returns 0: the peer closed its side.
    Eof,
    /// The next read fails with a reset.
    Reset,
    /// The next read waits until this many bytes were written to the
    /// stream in all: a peer that answers only what it was asked.
    AfterWrites(usize),
}

/// What happened to one scripted stream, shared with the test.
#[derive(Debug, Default)]
pub struct Record {
    /// Every byte written to the stream, in order.
    pub written: Vec<u8>,
    /// The engine shut its write side (FIN).
    pub shut_down: bool,
    /// The engine aborted the connection (a reset).
    pub aborted: bool,
    /// The stream was dropped (closed).
    pub dropped: bool,
}

/// A stream that plays a script for reads and records writes.
#[derive(Debug)]
pub struct Scripted {
    steps: VecDeque<Step>,
    record: Rc<RefCell<Record>>,
}

impl Scripted {
    /// A stream playing `steps`, and the record of what it was sent.
    pub fn new(steps: Vec<Step>) -> (Scripted, Rc<RefCell<Record>>) {
        let record = Rc::new(RefCell::new(Record::default()));
        let stream = Scripted {
            steps: steps.into(),
            record: Rc::clone(&record),
        };
        (stream, record)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.record.borrow_mut().dropped = true;
    }
}

impl AsRawFd for Scripted {
    /// No descriptor: `is_quiet` and `abort`, the two uses of one, are
    /// overridden below.
    fn as_raw_fd(&self) -> RawFd {
        -1
    }
}

impl Stream for Scripted {
    type Timer = Never;

    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        if let Some(&Step::AfterWrites(total)) = self.steps.front() {
            let record = Rc::clone(&self.record);
            // Polled again by `run`'s loop until the writes have happened.
            std::future::poll_fn(|_| {
                if record.borrow().written.len() >= total {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            self.steps.pop_front();
        }
        match self.steps.pop_front() {
            Some(Step::Bytes(bytes)) => {
                let room = buf.capacity() - buf.len();
                let n = bytes.len().min(room);
                buf.extend_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.steps.push_front(Step::Bytes(bytes[n..].to_vec()));
                }
                (Ok(n), buf)
            }
            // A script that has run out behaves as a closed peer.
            Some(Step::Eof) | None => (Ok(0), buf),
            Some(Step::Reset) => (Err(io::ErrorKind::ConnectionReset.into()), buf),
            Some(Step::AfterWrites(_)) => unreachable!("waited for above"),
        }
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut record = self.record.borrow_mut();
        if record.aborted {
            return (Err(io::ErrorKind::BrokenPipe.into()), buf);
        }
        record.written.extend_from_slice(&buf);
        (Ok(()), buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.record.borrow_mut().shut_down = true;
        Ok(())
    }

    /// Quiet only while the peer waits to be asked: a pooled upstream
    /// whose script holds bytes or a close (a script that has run out)
    /// is not reusable, as a socket with bytes or a FIN waiting is not.
    fn is_quiet(&self) -> bool {
        matches!(self.steps.front(), Some(Step::AfterWrites(_))) && !self.record.borrow().aborted
    }

    fn abort(&self) {
        self.record.borrow_mut().aborted = true;
    }
}

thread_local! {
    /// Upstream connections `connect` hands out, in order.
    static UPSTREAMS: RefCell<VecDeque<Scripted>> = const { RefCell::new(VecDeque::new()) };
}

/// The test runtime's timer: never fires (no test here waits on a
/// deadline).
#[derive(Debug)]
pub struct Never;

impl std::future::Future for Never {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Pending
    }
}

impl pb_engine::Timer for Never {
    fn at(_: std::time::Instant) -> Self {
        Never
    }

    fn reset(&mut self, _: std::time::Instant) {}
}

/// The test runtime: connects to the next scripted upstream; its timers
/// never fire (no test here waits on a deadline).
#[derive(Debug, Clone, Copy)]
pub struct TestRt;

impl Runtime for TestRt {
    type Stream = Scripted;

    async fn connect(_addr: SocketAddr) -> io::Result<Scripted> {
        UPSTREAMS
            .with(|u| u.borrow_mut().pop_front())
            .ok_or_else(|| io::ErrorKind::ConnectionRefused.into())
    }

    fn sleep(_d: Duration) -> impl Future<Output = ()> {
        pending()
    }
}

/// Drives a future whose every step is ready at once (scripted I/O,
/// timers that never fire) to completion.
pub fn run<F: Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    for _ in 0..100_000 {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the exchange made no progress: it waits on something no script provides");
}

const CONFIG: &str = r#"
[[pool]]
name = "web"
upstreams = ["127.0.0.1:9"]

[[route]]
path_prefix = "/"
pool = "web"
"#;

/// One HTTP message as read back by the judging side's parser
/// (`pb-wire`): chunk boundaries, which the engine is free to choose when
/// it streams a chunked body, are gone; everything else is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The start line, as sent.
    pub start: String,
    /// Header fields, as sent.
    pub fields: Vec<(String, Vec<u8>)>,
    /// The body's payload (so far, if incomplete).
    pub payload: Vec<u8>,
    /// Whether the message ended as its framing says.
    pub complete: bool,
}

/// `message` with the HTTP/1.x version of its start line read as
/// HTTP/1.1: a recipient of a higher minor version processes the message
/// as the highest it implements (RFC 9110 §2.5), which the engine does and
/// `httparse`, under the judge, refuses. Nothing else changes, not even
/// the length. The client's requests are read this way wherever the
/// judge must follow the engine through them.
pub fn as_http11(message: &[u8]) -> Vec<u8> {
    let mut out = message.to_vec();
    let line = out
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(out.len());
    let version_at = if out.starts_with(b"HTTP/1.") {
        Some(7)
    } else if line >= 8 && out[line - 8..line - 1] == *b"HTTP/1." {
        Some(line - 1)
    } else {
        None
    };
    if let Some(at) = version_at
        && out.get(at).is_some_and(u8::is_ascii_digit)
    {
        out[at] = b'1';
    }
    out
}

/// Which of the requests in `bytes` are HEADs (whose responses have no
/// body, whatever they declare), as the judge reads them (a higher
/// HTTP/1.x minor version as 1.1, as the engine does), up to the first
/// incomplete or malformed one.
pub fn head_requests(bytes: &[u8]) -> Vec<bool> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(Some((req, used))) = pb_wire::parse_request(&as_http11(rest)) {
        let mut reader = pb_wire::BodyReader::new(req.body);
        match reader.read(&rest[used..], |_| {}) {
            Ok(read) if reader.is_done() => rest = &rest[used + read..],
            _ => break,
        }
        out.push(req.method == "HEAD");
    }
    out
}

/// The messages in `bytes`, the last one possibly incomplete: requests, or
/// responses to requests of which `heads` says which were HEADs (in
/// order; interim responses answer none). Bytes that are not HTTP at all
/// fail the test.
pub fn messages(bytes: &[u8], responses: bool, heads: &[bool]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut answered = 0;
    while !rest.is_empty() {
        let parsed = if responses {
            let head = heads.get(answered).copied().unwrap_or(false);
            pb_wire::parse_response(rest, head).map(|p| {
                p.map(|(r, n)| {
                    if r.status >= 200 {
                        answered += 1;
                    }
                    (r.fields, r.body, n)
                })
            })
        } else {
            pb_wire::parse_request(rest).map(|p| p.map(|(r, n)| (r.fields, r.body, n)))
        };
        let start_len = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
        let start = String::from_utf8_lossy(&rest[..start_len]).into_owned();
        let Some((fields, body, used)) = parsed
            .unwrap_or_else(|e| panic!("not HTTP ({e}): {:?}", String::from_utf8_lossy(rest)))
        else {
            out.push(Message {
                start,
                fields: Vec::new(),
                payload: Vec::new(),
                complete: false,
            });
            break;
        };
        let mut reader = pb_wire::BodyReader::new(body);
        let mut payload = Vec::new();
        let read = reader
            .read(&rest[used..], |p| payload.extend_from_slice(p))
            .unwrap_or_else(|e| panic!("bad body ({e}): {:?}", String::from_utf8_lossy(rest)));
        let complete = reader.is_done();
        out.push(Message {
            start,
            fields,
            payload,
            complete,
        });
        if !complete {
            break;
        }
        rest = &rest[used + read..];
    }
    out
}

/// What both sides saw after one client connection was served.
#[derive(Debug, PartialEq)]
pub struct Seen {
    /// Responses the client received.
    pub client: Vec<Message>,
    /// Whether the client connection ended closed (FIN or abort) rather
    /// than left open.
    pub client_closed: bool,
    /// Requests each upstream connection received, in connect order.
    pub upstreams: Vec<Vec<Message>>,
    /// Upstream connections given up (aborted or closed) rather than
    /// kept for reuse.
    pub upstreams_given_up: Vec<bool>,
    /// Upstream scripts never connected.
    pub unused_upstreams: usize,
}

/// Serves one client connection playing `client`, with upstream
/// connections playing `upstreams` in connect order.
pub fn serve(client: Vec<Step>, upstreams: Vec<Vec<Step>>) -> Seen {
    let config = ProxyConfig::parse(CONFIG, "test").unwrap();
    let routing = Routing::new(&config, 0);
    let forwarder = Forwarder::new(&config, LocalPool::<Conn<Scripted>>::default());
    let mut records = Vec::new();
    UPSTREAMS.with(|u| {
        let mut u = u.borrow_mut();
        u.clear();
        for steps in upstreams {
            let (stream, record) = Scripted::new(steps);
            records.push(record);
            u.push_back(stream);
        }
    });
    let client_sent: Vec<u8> = client
        .iter()
        .filter_map(|step| match step {
            Step::Bytes(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    let (stream, client_record) = Scripted::new(client);
    let limits = config.head_limits();
    let deadline = config.timeouts.client_header();
    run(serve_connection::<TestRt, _, _>(
        stream,
        limits,
        deadline,
        |mut ex| {
            ex.upstream = routing.resolve(&ex.head);
            forwarder.forward::<TestRt>(ex)
        },
    ));
    let unused_upstreams = UPSTREAMS.with(|u| u.borrow_mut().drain(..).count());
    let used = records.len() - unused_upstreams;
    let client = client_record.borrow();
    Seen {
        client: messages(&client.written, true, &head_requests(&client_sent)),
        client_closed: client.shut_down || client.aborted,
        upstreams: records[..used]
            .iter()
            .map(|r| messages(&r.borrow().written, false, &[]))
            .collect(),
        upstreams_given_up: records[..used]
            .iter()
            .map(|r| r.borrow().aborted || r.borrow().dropped)
            .collect(),
        unused_upstreams,
    }
}

/// The bytes in one read.
pub fn whole(bytes: &[u8]) -> Vec<Step> {
    vec![Step::Bytes(bytes.to_vec())]
}

/// The bytes in two reads, split at `at`.
pub fn split_at(bytes: &[u8], at: usize) -> Vec<Step> {
    vec![
        Step::Bytes(bytes[..at].to_vec()),
        Step::Bytes(bytes[at..].to_vec()),
    ]
}

/// The bytes a byte per read.
pub fn bytewise(bytes: &[u8]) -> Vec<Step> {
    bytes.iter().map(|&b| Step::Bytes(vec![b])).collect()
}

/// The bytes up to `at`, then `end` (a close or a reset).
pub fn cut(bytes: &[u8], at: usize, end: Step) -> Vec<Step> {
    let mut steps = vec![Step::Bytes(bytes[..at].to_vec())];
    steps.push(end);
    steps
}
