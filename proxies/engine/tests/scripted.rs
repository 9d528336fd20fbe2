//! The forwarding engine on scripted in-memory streams: every byte the
//! client and the upstream send is delivered in reads the script chooses
//! (whole, split at every offset, one byte at a time), and either side can
//! close or reset the connection at any offset. No sockets, no runtime, no
//! timers: what the engine does with each byte sequence is the only thing
//! under test, and the process-level conformance suite covers the rest.
//!
//! The properties, for each exchange in [`EXCHANGES`]:
//! - how the bytes are split into reads changes nothing the client or the
//!   upstream sees;
//! - an upstream that closes or resets at any offset of its response
//!   gives the client a 502 (nothing of the response sent yet) or a
//!   prefix of the response and a closed connection — never a response
//!   that looks complete, and the broken upstream connection is never
//!   pooled for the next request;
//! - a client that closes or resets at any offset of its request never
//!   causes an upstream request from an incomplete head, and a request
//!   whose body was cut never leaves its upstream connection reusable.

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
enum Step {
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
struct Record {
    written: Vec<u8>,
    shut_down: bool,
    aborted: bool,
    dropped: bool,
}

/// A stream that plays a script for reads and records writes.
#[derive(Debug)]
struct Scripted {
    steps: VecDeque<Step>,
    record: Rc<RefCell<Record>>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> (Scripted, Rc<RefCell<Record>>) {
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
struct Never;

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
struct TestRt;

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
fn run<F: Future>(fut: F) -> F::Output {
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
struct Message {
    /// The start line, as sent.
    start: String,
    /// Header fields, as sent.
    fields: Vec<(String, Vec<u8>)>,
    /// The body's payload (so far, if incomplete).
    payload: Vec<u8>,
    /// Whether the message ended as its framing says.
    complete: bool,
}

/// The messages in `bytes`, the last one possibly incomplete. Bytes that
/// are not HTTP at all fail the test.
fn messages(bytes: &[u8], responses: bool) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let parsed = if responses {
            pb_wire::parse_response(rest, false).map(|p| p.map(|(r, n)| (r.fields, r.body, n)))
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
struct Seen {
    /// Responses the client received.
    client: Vec<Message>,
    /// Whether the client connection ended closed (FIN or abort) rather
    /// than left open.
    client_closed: bool,
    /// Requests each upstream connection received, in connect order.
    upstreams: Vec<Vec<Message>>,
    /// Upstream connections given up (aborted or closed) rather than
    /// kept for reuse.
    upstreams_given_up: Vec<bool>,
    /// Upstream scripts never connected.
    unused_upstreams: usize,
}

/// Serves one client connection playing `client`, with upstream
/// connections playing `upstreams` in connect order.
fn serve(client: Vec<Step>, upstreams: Vec<Vec<Step>>) -> Seen {
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
        client: messages(&client.written, true),
        client_closed: client.shut_down || client.aborted,
        upstreams: records[..used]
            .iter()
            .map(|r| messages(&r.borrow().written, false))
            .collect(),
        upstreams_given_up: records[..used]
            .iter()
            .map(|r| r.borrow().aborted || r.borrow().dropped)
            .collect(),
        unused_upstreams,
    }
}

/// A client request and the upstream's answer.
struct Case {
    name: &'static str,
    request: &'static [u8],
    response: &'static [u8],
    /// Where the response head ends (bytes), so a cut can be placed
    /// before or after it.
    response_head_len: usize,
}

const EXCHANGES: &[Case] = &[
    Case {
        name: "GET, Content-Length body",
        request: b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n",
        response: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        response_head_len: 38,
    },
    Case {
        name: "POST with a body, chunked response",
        request: b"POST /b HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\n\r\nping",
        response: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        response_head_len: 47,
    },
    Case {
        name: "chunked request body",
        request: b"PUT /c HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        response: b"HTTP/1.1 204 No Content\r\n\r\n",
        response_head_len: 27,
    },
];

fn whole(bytes: &[u8]) -> Vec<Step> {
    vec![Step::Bytes(bytes.to_vec())]
}

fn split_at(bytes: &[u8], at: usize) -> Vec<Step> {
    vec![
        Step::Bytes(bytes[..at].to_vec()),
        Step::Bytes(bytes[at..].to_vec()),
    ]
}

fn bytewise(bytes: &[u8]) -> Vec<Step> {
    bytes.iter().map(|&b| Step::Bytes(vec![b])).collect()
}

fn cut(bytes: &[u8], at: usize, end: Step) -> Vec<Step> {
    let mut steps = vec![Step::Bytes(bytes[..at].to_vec())];
    steps.push(end);
    steps
}

/// The exchange with every byte in one read: the reference the other
/// deliveries must match. Checked on its own first, so that "matches the
/// reference" cannot hide a reference that is already wrong.
fn reference(case: &Case) -> Seen {
    let seen = serve(whole(case.request), vec![whole(case.response)]);
    let (asked, answer) = (messages(case.request, false), messages(case.response, true));
    let [sent] = &seen.upstreams[..] else {
        panic!(
            "{}: one upstream connection: {:?}",
            case.name, seen.upstreams
        )
    };
    let [sent] = &sent[..] else {
        panic!("{}: one upstream request: {sent:?}", case.name)
    };
    assert!(sent.complete, "{}", case.name);
    assert_eq!(
        (&sent.start, &sent.payload),
        (&asked[0].start, &asked[0].payload),
        "{}: the request line and body go upstream unchanged",
        case.name
    );
    let [got] = &seen.client[..] else {
        panic!("{}: one response: {:?}", case.name, seen.client)
    };
    assert!(got.complete, "{}", case.name);
    assert_eq!(
        (&got.start, &got.payload),
        (&answer[0].start, &answer[0].payload),
        "{}: the status line and body reach the client unchanged",
        case.name
    );
    assert_eq!(
        seen.upstreams_given_up,
        [false],
        "{}: a healthy upstream connection is kept",
        case.name
    );
    seen
}

#[test]
fn how_the_client_bytes_are_split_changes_nothing() {
    for case in EXCHANGES {
        let want = reference(case);
        for at in 1..case.request.len() {
            let seen = serve(split_at(case.request, at), vec![whole(case.response)]);
            assert_eq!(seen, want, "{}: request split at {at}", case.name);
        }
        let seen = serve(bytewise(case.request), vec![whole(case.response)]);
        assert_eq!(seen, want, "{}: request one byte per read", case.name);
    }
}

#[test]
fn how_the_upstream_bytes_are_split_changes_nothing() {
    for case in EXCHANGES {
        let want = reference(case);
        for at in 1..case.response.len() {
            let seen = serve(whole(case.request), vec![split_at(case.response, at)]);
            assert_eq!(seen, want, "{}: response split at {at}", case.name);
        }
        let seen = serve(whole(case.request), vec![bytewise(case.response)]);
        assert_eq!(seen, want, "{}: response one byte per read", case.name);
    }
}

#[test]
fn an_upstream_cut_at_any_offset_never_looks_like_a_whole_response() {
    for case in EXCHANGES {
        let want = reference(case);
        let (answer, forwarded) = (&want.client[0], &want.upstreams[0]);
        for at in 0..case.response.len() {
            for end in [Step::Eof, Step::Reset] {
                let label = format!("{}: upstream {end:?} after {at} bytes", case.name);
                // A second request on the same client connection, and a
                // second upstream ready for it: the broken upstream
                // connection must not carry it.
                let mut client = case.request.to_vec();
                client.extend_from_slice(case.request);
                let seen = serve(
                    whole(&client),
                    vec![cut(case.response, at, end), whole(case.response)],
                );
                assert_eq!(
                    &seen.upstreams[0], forwarded,
                    "{label}: the broken connection carried one request"
                );
                assert!(seen.upstreams_given_up[0], "{label}: and was given up");
                if at < case.response_head_len {
                    // No response yet: the proxy answers for the upstream
                    // (a fresh connection failed, so there is no retry).
                    assert!(
                        seen.client[0].start.starts_with("HTTP/1.1 502 ")
                            && seen.client[0].complete,
                        "{label}: client got {:?}",
                        seen.client
                    );
                    // The next request, if the client connection lived
                    // on, went to a fresh upstream connection.
                    match seen.upstreams.len() {
                        1 => assert!(seen.client_closed, "{label}"),
                        2 => assert_eq!(&seen.upstreams[1], forwarded, "{label}"),
                        n => panic!("{label}: {n} upstream connections"),
                    }
                } else {
                    // The head went out; the body is cut, and so is the
                    // client connection: the client must see the response
                    // end early, never a complete one.
                    let [got] = &seen.client[..] else {
                        panic!("{label}: client got {:?}", seen.client)
                    };
                    assert!(
                        !got.complete
                            && (&got.start, &got.fields) == (&answer.start, &answer.fields)
                            && answer.payload.starts_with(&got.payload),
                        "{label}: client got {got:?}"
                    );
                    assert!(
                        seen.client_closed,
                        "{label}: the client connection is closed"
                    );
                    assert_eq!(seen.upstreams.len(), 1, "{label}: no second request");
                }
            }
        }
    }
}

#[test]
fn a_client_cut_at_any_offset_never_sends_an_incomplete_head_upstream() {
    for case in EXCHANGES {
        let head_len = case
            .request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        let full = reference(case).upstreams.remove(0);
        for at in 0..case.request.len() {
            for end in [Step::Eof, Step::Reset] {
                let label = format!("{}: client {end:?} after {at} bytes", case.name);
                let seen = serve(cut(case.request, at, end), vec![whole(case.response)]);
                if at < head_len {
                    assert!(seen.upstreams.is_empty(), "{label}: nothing goes upstream");
                    assert!(
                        seen.client.is_empty()
                            || (seen.client.len() == 1
                                && seen.client[0].start.starts_with("HTTP/1.1 400 ")),
                        "{label}: client got {:?}",
                        seen.client
                    );
                } else {
                    // The head was whole, the body was not: the upstream
                    // got at most a prefix of the request, and its
                    // connection, holding half a request, was given up.
                    let [sent] = &seen.upstreams[..] else {
                        panic!("{label}: upstream got {:?}", seen.upstreams)
                    };
                    let [sent] = &sent[..] else {
                        panic!("{label}: upstream got {sent:?}")
                    };
                    assert!(
                        !sent.complete
                            && (&sent.start, &sent.fields) == (&full[0].start, &full[0].fields)
                            && full[0].payload.starts_with(&sent.payload),
                        "{label}: upstream got {sent:?}"
                    );
                    assert_eq!(seen.upstreams_given_up, [true], "{label}");
                }
            }
        }
    }
}

#[test]
fn a_quiet_upstream_connection_is_reused_and_a_closed_one_is_not() {
    let case = &EXCHANGES[0];
    let forwarded = reference(case).upstreams.remove(0);
    let mut two = case.request.to_vec();
    two.extend_from_slice(case.request);
    let ok = |seen: &Seen| {
        seen.client
            .iter()
            .filter(|m| m.complete && m.start == "HTTP/1.1 200 OK")
            .count()
    };
    // An upstream that answers the second request only once asked: both
    // requests share its connection, and the spare is never connected.
    let patient = vec![
        Step::Bytes(case.response.to_vec()),
        Step::AfterWrites(2 * forwarded.len()),
        Step::Bytes(case.response.to_vec()),
    ];
    let seen = serve(whole(&two), vec![patient, whole(case.response)]);
    assert_eq!(
        seen.upstreams,
        [[forwarded.clone(), forwarded.clone()].concat()]
    );
    assert_eq!((seen.unused_upstreams, ok(&seen)), (1, 2));
    // An upstream that closed after its answer: the second request goes
    // to a fresh connection, and the client never notices.
    let closing = vec![Step::Bytes(case.response.to_vec()), Step::Eof];
    let seen = serve(whole(&two), vec![closing, whole(case.response)]);
    assert_eq!(seen.upstreams, [forwarded.clone(), forwarded]);
    assert_eq!((seen.unused_upstreams, ok(&seen)), (0, 2));
}
