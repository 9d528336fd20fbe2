//! HTTP/1.1 for proxies, sans-IO: every core feeds bytes in and writes the
//! bytes it is given, so parsing, framing and the smuggling defences are
//! the same on every runtime.
//!
//! | module | role |
//! |---|---|
//! | [`error`] | [`HttpError`]: what went wrong and the status it maps to (400, 414, 431, 502) |
//! | [`head`] | request and response heads over `httparse`, with limits, framing and keep-alive decided once |
//! | [`body`] | [`BodyDecoder`]: finds where a body ends (length, chunked, until close) and writes it for the next hop, chunked bodies re-framed |
//! | [`write`] | serialising heads for the next hop, hop-by-hop headers removed; [`write::ResponsePlan`] frames a response for its client |
//!
//! Framing rules (RFC 9112 §6): `Transfer-Encoding` whose final coding is
//! `chunked` wins over nothing; together with `Content-Length` it is
//! refused (400) rather than guessed at, so the origin can never see two
//! requests where the client sent one. Duplicate or malformed
//! `Content-Length`, any other transfer coding, and `Transfer-Encoding` on
//! HTTP/1.0 are refused too. Tokens are matched byte for byte, with only
//! SP and HTAB as optional whitespace (RFC 9110 §5.6.3): Unicode trimming
//! would make `chunked\u{a0}` chunked here and something else at the origin.

pub mod body;
pub mod error;
pub mod head;
pub mod write;

pub use body::{BodyDecoder, Emit, Framing, Progress};
pub use error::HttpError;
pub use head::{
    Field, Header, Limits, Name, RequestHead, ResponseHead, Version, host_name, host_part,
};
