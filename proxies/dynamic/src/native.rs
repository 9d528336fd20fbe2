//! The gate filter in Rust: the decision every other engine's module
//! makes too, and the baseline their cost is measured against.
//!
//! - a header [`DENY_HEADER`] (any value): 403;
//! - no header [`TOKEN_HEADER`]: 401;
//! - the first [`TOKEN_HEADER`] is not [`TOKEN`]: 403;
//! - otherwise the request is forwarded.
//!
//! Names compare case-insensitively, values byte for byte.

use pb_http::RequestHead;

use crate::Decision;

/// A request carrying this header is refused (403).
pub const DENY_HEADER: &str = "x-pb-deny";
/// The header that must carry [`TOKEN`].
pub const TOKEN_HEADER: &str = "x-pb-token";
/// The token the gate lets through.
pub const TOKEN: &str = "pb-open-sesame";

/// The decision from the parsed head, compiled into the core.
#[inline]
pub fn decide(head: &RequestHead) -> Decision {
    if head.header(DENY_HEADER).is_some() {
        return Decision::Answer(403);
    }
    match head.header(TOKEN_HEADER) {
        None => Decision::Answer(401),
        Some(token) if token == TOKEN.as_bytes() => Decision::Forward,
        Some(_) => Decision::Answer(403),
    }
}

/// The same decision from the [`wire`](crate::wire) form: what the `ipc`
/// filter process runs on what it is sent.
pub fn decide_wire(wire: &[u8]) -> Decision {
    let mut lines = wire.split(|&b| b == b'\n');
    lines.next(); // the request line
    let mut deny = false;
    let mut token = None;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(DENY_HEADER.as_bytes()) {
            deny = true;
        } else if token.is_none() && name.eq_ignore_ascii_case(TOKEN_HEADER.as_bytes()) {
            token = Some(value == TOKEN.as_bytes());
        }
    }
    match (deny, token) {
        (true, _) => Decision::Answer(403),
        (false, None) => Decision::Answer(401),
        (false, Some(true)) => Decision::Forward,
        (false, Some(false)) => Decision::Answer(403),
    }
}
