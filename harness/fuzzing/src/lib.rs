//! The invariants the fuzz targets (`fuzz/`) check, one function per
//! target, each taking the fuzzer's bytes and panicking on a violation.
//! They live here, in the workspace, so that `cargo test` replays every
//! committed seed (`fuzz/corpus/<target>/`) and every input a fuzzer once
//! found (`fuzz/regressions/<target>/`) on every run, with no fuzzer
//! installed.
//!
//! | target | what is fuzzed | what must hold |
//! |---|---|---|
//! | [`request_head`] | the proxies' request head parser (`pb-http`) | a head the engine accepts, the judge (`pb-wire`) reads the same: same length, method, target and body framing; what the engine writes upstream reads back the same; a refusal is a well-formed response |
//! | [`response_head`] | the response head parser | the same against the judge; the head written for the client reads back with the status and the framing the plan chose |
//! | [`chunked`] | the chunked body decoder | a body the engine accepts, the judge ends at the same byte with the same payload; how it is split into reads changes nothing; re-chunked for the client, it reads back the same |
//! | [`exchange`] | the whole engine, client and upstream bytes scripted (`pb-scripted`) | never more upstream requests than the client sent; each forwarded with its request line and body unchanged; never more final responses than requests; everything written to either side is HTTP |
//!
//! "The judge" is the judging side's own reader, which shares no code with
//! the engine's codec: where the engine accepts what the judge reads
//! differently, a proxy and the server behind it could disagree about where
//! a message ends, which is how requests are smuggled. Where the engine is
//! stricter than the judge (it refuses what the judge would accept) nothing
//! is asserted: a refusal is safe.

use pb_http::write::{self, ResponsePlan};
use pb_http::{BodyDecoder, Emit, Framing, HttpError, Limits, RequestHead, ResponseHead};
use pb_scripted::{Step, as_http11, serve};
use pb_wire::{BodyLen, BodyReader};

/// The bytes, readable in a panic message.
fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

/// Whether the engine's framing and the judge's describe the same body.
fn same_framing(engine: Framing, judge: BodyLen) -> bool {
    matches!(
        (engine, judge),
        (
            Framing::Empty | Framing::Length(0),
            BodyLen::None | BodyLen::Fixed(0)
        ) | (Framing::Chunked, BodyLen::Chunked)
            | (Framing::UntilClose, BodyLen::Close)
    ) || matches!((engine, judge), (Framing::Length(a), BodyLen::Fixed(b)) if a == b)
}

/// The response an engine error is answered with must be one a client can
/// read: complete, with the error's status.
fn refusal_is_a_response(error: HttpError, input: &[u8]) {
    let bytes = error.response();
    match pb_wire::parse_response(&bytes, false) {
        Ok(Some((res, _))) => assert_eq!(
            res.status,
            error.status,
            "refusal of {:?} answered with another status",
            show(input)
        ),
        other => panic!(
            "refusal {:?} of {:?} is not a response: {other:?}",
            show(&bytes),
            show(input)
        ),
    }
}

/// A complete head is not complete one byte earlier.
fn not_complete_earlier<T>(parsed: pb_http::head::Parsed<T>, input: &[u8]) {
    assert!(
        !matches!(parsed, Ok(Some(_))),
        "a head complete one byte before its end: {:?}",
        show(input)
    );
}

/// The request line of a message without its version (the engine speaks
/// HTTP/1.1 upstream whatever the client spoke).
fn method_and_target(start: &str) -> &str {
    start.rsplit_once(' ').map_or(start, |(line, _)| line)
}

/// The request target as the engine forwards it to an origin: an
/// absolute-form target (RFC 9112 §3.2.2) becomes its path and query, the
/// path `/` when it has none (RFC 9112 §3.2.1).
fn origin_form(target: &str) -> String {
    if target.starts_with('/') {
        return target.to_owned();
    }
    match target.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => rest[at..].to_owned(),
            Some(at) => format!("/{}", &rest[at..]),
            None => "/".to_owned(),
        },
        None => target.to_owned(),
    }
}

/// The request head parser against the judge's reader.
pub fn request_head(data: &[u8]) {
    let limits = Limits::default();
    let (head, used) = match RequestHead::parse(data, &limits) {
        Err(error) => return refusal_is_a_response(error, data),
        Ok(None) => return,
        Ok(Some(parsed)) => parsed,
    };
    assert!(used <= data.len() && used > 0);
    not_complete_earlier(RequestHead::parse(&data[..used - 1], &limits), data);
    let judged = pb_wire::parse_request(&as_http11(&data[..used]));
    let Ok(Some((req, judged_len))) = judged else {
        panic!(
            "the engine accepted a request head the judge reads as {judged:?}: {:?}",
            show(&data[..used])
        )
    };
    assert_eq!(judged_len, used, "head length: {:?}", show(data));
    assert_eq!(
        (req.method.as_str(), origin_form(&req.target).as_str()),
        (head.method(), head.target()),
        "{:?}",
        show(data)
    );
    assert!(
        same_framing(head.framing, req.body),
        "engine frames the body {:?}, the judge {:?}: {:?}",
        head.framing,
        req.body,
        show(data)
    );
    // What goes upstream reads back as the same request.
    let mut out = Vec::new();
    let fallback = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    write::request_head(&mut out, &head, &[], &[], fallback);
    let Ok(Some((sent, sent_len))) = pb_wire::parse_request(&out) else {
        panic!(
            "the head written upstream for {:?} does not parse: {:?}",
            show(data),
            show(&out)
        )
    };
    assert_eq!(sent_len, out.len(), "{:?}", show(&out));
    assert_eq!(
        (sent.method.as_str(), sent.target.as_str()),
        (req.method.as_str(), origin_form(&req.target).as_str())
    );
    assert!(
        same_framing(head.framing, sent.body),
        "written upstream framed {:?} for {:?}: {:?}",
        sent.body,
        head.framing,
        show(&out)
    );
}

/// The response head parser against the judge's reader, and the head the
/// engine writes for an HTTP/1.1 keep-alive GET.
pub fn response_head(data: &[u8]) {
    let limits = Limits::default();
    let (res, used) = match ResponseHead::parse(data, &limits, false) {
        Err(_) | Ok(None) => return,
        Ok(Some(parsed)) => parsed,
    };
    assert!(used <= data.len() && used > 0);
    not_complete_earlier(ResponseHead::parse(&data[..used - 1], &limits, false), data);
    let judged = pb_wire::parse_response(&as_http11(&data[..used]), false);
    let Ok(Some((judge, judged_len))) = judged else {
        panic!(
            "the engine accepted a response head the judge reads as {judged:?}: {:?}",
            show(&data[..used])
        )
    };
    assert_eq!(judged_len, used, "head length: {:?}", show(data));
    assert_eq!(judge.status, res.status, "{:?}", show(data));
    assert!(
        same_framing(res.framing, judge.body),
        "engine frames the body {:?}, the judge {:?}: {:?}",
        res.framing,
        judge.body,
        show(data)
    );
    let Ok(Some((req, _))) = RequestHead::parse(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n", &limits)
    else {
        unreachable!("a fixed, valid request")
    };
    let plan = ResponsePlan::new(&req, &res);
    let mut out = Vec::new();
    write::response_head(&mut out, &res, &[], plan);
    let Ok(Some((sent, sent_len))) = pb_wire::parse_response(&out, false) else {
        panic!(
            "the head written for the client for {:?} does not parse: {:?}",
            show(data),
            show(&out)
        )
    };
    assert_eq!(sent_len, out.len(), "{:?}", show(&out));
    assert_eq!(sent.status, res.status);
    let expected = match (res.framing, plan.emit) {
        _ if judge.body == BodyLen::None => BodyLen::None,
        (Framing::Length(n), _) => BodyLen::Fixed(n),
        (_, Emit::Chunked) => BodyLen::Chunked,
        (Framing::Empty, _) => BodyLen::None,
        (_, Emit::Payload) => BodyLen::Close,
    };
    assert!(
        sent.body == expected || (expected == BodyLen::None && sent.body == BodyLen::Fixed(0)),
        "written for the client framed {:?}, expected {expected:?}: {:?}",
        sent.body,
        show(&out)
    );
}

/// What the engine's decoder made of a body.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    payload: Vec<u8>,
    /// Where the body ended, if it did.
    end: Option<usize>,
    refused: bool,
}

/// The engine's decoder over `body` delivered in reads cut at `cuts`.
fn decode(body: &[u8], cuts: &[usize]) -> Decoded {
    let mut decoder = BodyDecoder::new(Framing::Chunked);
    let mut payload = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([body.len()].iter()) {
        let piece = &body[at..cut.max(at)];
        match decoder.decode_into(piece, &mut payload, Emit::Payload) {
            Err(_) => {
                return Decoded {
                    payload,
                    end: None,
                    refused: true,
                };
            }
            Ok(progress) if progress.done => {
                return Decoded {
                    payload,
                    end: Some(at + progress.consumed),
                    refused: false,
                };
            }
            Ok(progress) => {
                assert_eq!(
                    progress.consumed,
                    piece.len(),
                    "an unfinished body left bytes unread"
                );
                at = cut.max(at);
            }
        }
    }
    Decoded {
        payload,
        end: None,
        refused: false,
    }
}

/// The chunked decoder against the judge's, split anywhere, and its
/// re-chunked output read back. The first byte picks where to split.
pub fn chunked(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = decode(body, &[]);
    let cut = usize::from(split) * body.len() / 255;
    assert_eq!(
        decode(body, &[cut]),
        whole,
        "split at {cut}: {:?}",
        show(body)
    );
    assert_eq!(
        decode(body, &(1..body.len()).collect::<Vec<_>>()),
        whole,
        "a byte per read: {:?}",
        show(body)
    );
    if whole.refused {
        return;
    }
    let mut judge = BodyReader::new(BodyLen::Chunked);
    let mut payload = Vec::new();
    let judged = judge.read(body, |piece| payload.extend_from_slice(piece));
    match whole.end {
        Some(end) => {
            assert_eq!(
                (judged, judge.is_done(), &payload),
                (Ok(end), true, &whole.payload),
                "the engine ends the body at {end}: {:?}",
                show(body)
            );
            // Re-chunked for the client, it reads back the same.
            let mut decoder = BodyDecoder::new(Framing::Chunked);
            let mut out = Vec::new();
            let progress = decoder
                .decode_into(body, &mut out, Emit::Chunked)
                .expect("accepted above");
            assert!(progress.done);
            let again = pb_wire::payload_of(BodyLen::Chunked, &out);
            assert_eq!(again.as_ref(), Ok(&whole.payload), "{:?}", show(&out));
        }
        None => assert!(
            !judge.is_done(),
            "the judge ends a body the engine still reads: {:?}",
            show(body)
        ),
    }
}

/// Complete requests in `bytes` as the judge reads them, up to the first
/// incomplete or malformed one: (method and target, payload).
fn judged_requests(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(Some((req, used))) = pb_wire::parse_request(&as_http11(rest)) {
        let mut reader = BodyReader::new(req.body);
        let mut payload = Vec::new();
        let Ok(read) = reader.read(&rest[used..], |p| payload.extend_from_slice(p)) else {
            break;
        };
        if !reader.is_done() {
            break;
        }
        out.push((format!("{} {}", req.method, req.target), payload));
        rest = &rest[used + read..];
    }
    out
}

/// One client connection through the engine: the first two bytes say
/// where the client's bytes end and the upstream's begin; every upstream
/// connection the engine opens plays the upstream's bytes, then closes.
pub fn exchange(data: &[u8]) {
    let [hi, lo, rest @ ..] = data else {
        return;
    };
    let split = (usize::from(*hi) << 8 | usize::from(*lo)) % (rest.len() + 1);
    let (client, upstream) = rest.split_at(split);
    let asked = judged_requests(client);
    let plays = || vec![Step::Bytes(upstream.to_vec())];
    // `serve` reads both sides back with the judge's parser and panics on
    // bytes that are not HTTP.
    let seen = serve(
        vec![Step::Bytes(client.to_vec())],
        vec![plays(), plays(), plays()],
    );
    let forwarded: Vec<_> = seen
        .upstreams
        .iter()
        .flatten()
        .filter(|m| m.complete)
        .collect();
    assert!(
        forwarded.len() <= asked.len(),
        "{} requests forwarded, {} sent by the client: {:?}",
        forwarded.len(),
        asked.len(),
        show(client)
    );
    for (sent, (line, payload)) in forwarded.iter().zip(&asked) {
        assert_eq!(
            (method_and_target(&sent.start), &sent.payload),
            (line.as_str(), payload),
            "forwarded otherwise than sent: {:?}",
            show(client)
        );
    }
    // One final response per request, plus at most one refusal (4xx or
    // 5xx) of what followed them, after which the connection ends.
    let finals: Vec<_> = seen
        .client
        .iter()
        .filter(|m| m.complete && !m.start.starts_with("HTTP/1.1 1"))
        .collect();
    let extra = finals.get(asked.len()..).unwrap_or_default();
    let refusal = |m: &&pb_scripted::Message| {
        m.start
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| code >= 400)
    };
    assert!(
        extra.len() <= 1 && extra.iter().all(refusal),
        "{} responses for {} requests: {:?}",
        finals.len(),
        asked.len(),
        show(client)
    );
}
