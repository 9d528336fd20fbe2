//! The forwarding engine's properties on scripted streams (`pb-scripted`),
//! for each exchange in [`EXCHANGES`]:
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

use pb_scripted::{Seen, Step, bytewise, cut, messages, serve, split_at, whole};

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

/// The exchange with every byte in one read: the reference the other
/// deliveries must match. Checked on its own first, so that "matches the
/// reference" cannot hide a reference that is already wrong.
fn reference(case: &Case) -> Seen {
    let seen = serve(whole(case.request), vec![whole(case.response)]);
    let (asked, answer) = (
        messages(case.request, false, &[]),
        messages(case.response, true, &[]),
    );
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
