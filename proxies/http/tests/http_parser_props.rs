//! Property tests of the request parser and body decoder, bounded so CI
//! spends a few seconds on them: any bytes are safe to parse, and
//! feeding a message in pieces gives exactly what feeding it whole does.

use pb_http::{BodyDecoder, Framing, HttpError, Limits, RequestHead};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// A syntactically valid request with random parts.
fn request() -> impl Strategy<Value = (String, Vec<u8>)> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "HEAD", "DELETE"]);
    let path = "/[a-z0-9/._-]{0,40}";
    let headers = prop::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..8);
    let body = prop::collection::vec(any::<u8>(), 0..300);
    let chunked = any::<bool>();
    (method, path, headers, body, chunked).prop_map(|(m, p, hs, body, chunked)| {
        let mut text = format!("{m} {p} HTTP/1.1\r\nHost: example\r\n");
        for (name, value) in hs {
            text.push_str(&format!("{name}: {}\r\n", value.trim()));
        }
        let mut wire = Vec::new();
        if chunked {
            text.push_str("Transfer-Encoding: chunked\r\n\r\n");
            wire.extend_from_slice(text.as_bytes());
            for piece in body.chunks(7) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            wire.extend_from_slice(text.as_bytes());
            wire.extend_from_slice(&body);
        }
        (text, wire)
    })
}

/// Parses a head, then decodes its body, feeding `pieces` of `wire`.
fn consume(wire: &[u8], cut: usize) -> Result<(RequestHead, usize, u64), HttpError> {
    let limits = Limits::default();
    let head = match RequestHead::parse(&wire[..cut.min(wire.len())], &limits)? {
        Some(parsed) => parsed,
        None => RequestHead::parse(wire, &limits)?.expect("complete"),
    };
    let (head, used) = head;
    let mut body = BodyDecoder::new(head.framing);
    let mut at = used;
    // Feed the body in two pieces split at `cut` (if it falls inside it).
    for end in [cut.clamp(at, wire.len()), wire.len()] {
        let p = body.feed(&wire[at..end])?;
        at += p.consumed;
        if p.done {
            break;
        }
    }
    Ok((head, at, body.payload()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_parse_safely(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        match RequestHead::parse(&bytes, &Limits::default()) {
            Ok(Some((_, used))) => prop_assert!(used <= bytes.len()),
            Ok(None) => prop_assert!(bytes.len() < Limits::default().max_head_bytes),
            Err(e) => prop_assert!([400, 414, 431].contains(&e.status)),
        }
        let mut body = BodyDecoder::new(Framing::Chunked);
        if let Ok(p) = body.feed(&bytes) {
            prop_assert!(p.consumed <= bytes.len());
        }
    }

    #[test]
    fn split_and_whole_agree((text, wire) in request(), cut in 0usize..2048) {
        let whole = consume(&wire, wire.len()).expect("valid request");
        let split = consume(&wire, cut).expect("valid request");
        prop_assert_eq!(&whole, &split);
        let (head, used, payload) = whole;
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(head.headers().count(), text.matches("\r\n").count() - 2);
        // Every prefix of the head is incomplete, never an error.
        let head_len = text.len();
        for end in (0..head_len).step_by(5) {
            prop_assert_eq!(RequestHead::parse(&wire[..end], &Limits::default()), Ok(None));
        }
        let declared = match head.framing {
            Framing::Length(n) => n,
            _ => payload,
        };
        prop_assert_eq!(payload, declared);
    }
}
