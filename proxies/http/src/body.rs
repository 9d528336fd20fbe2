//! Body framing: where a body ends, and how it is written to the next hop.
//!
//! [`BodyDecoder::feed`] only finds the end. [`BodyDecoder::decode_into`]
//! also writes the body for the next hop: length- and close-delimited
//! bytes unchanged, chunked bodies *re-framed* ([`Emit::Chunked`]): every
//! piece of payload that arrives becomes one chunk with a canonical size
//! line, extensions are dropped, and the trailer section (checked to be
//! well-formed fields) is not forwarded. Nothing the sender wrote between
//! the chunks reaches the next hop raw, so a size line another parser
//! reads differently (leading zeros, 2^32) or a request line hidden in the
//! trailers cannot pass.

use crate::error::HttpError;
use crate::head::is_tchar;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the sender closes (responses only).
    UntilClose,
}

/// How much of the input belonged to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Leading bytes of the input that are body (to be forwarded).
    pub consumed: usize,
    /// The body is complete; bytes after `consumed` are the next message.
    pub done: bool,
}

/// Longest chunk-size line accepted (hex digits); 16 digits overflow u64.
const MAX_SIZE_DIGITS: u32 = 15;

/// Longest chunk extension or trailer line, bytes.
const MAX_LINE: usize = 4096;

/// Longest trailer section, bytes (the head limit's default).
const MAX_TRAILERS: usize = 16 * 1024;

/// How [`BodyDecoder::decode_into`] writes a body for the next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// The payload bytes alone: a length-delimited body passes unchanged,
    /// a chunked one is de-chunked (for a close-delimited reply to an
    /// HTTP/1.0 client).
    Payload,
    /// Chunked: each piece of payload as it arrives becomes one chunk,
    /// then `0` CRLF CRLF when the body ends. No extensions, no trailers.
    Chunked,
}

impl Emit {
    fn piece(self, out: &mut Vec<u8>, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        if self == Emit::Chunked {
            use std::io::Write as _;
            let _ = write!(out, "{:x}\r\n", piece.len());
        }
        out.extend_from_slice(piece);
        if self == Emit::Chunked {
            out.extend_from_slice(b"\r\n");
        }
    }

    fn end(self, out: &mut Vec<u8>) {
        if self == Emit::Chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size; `digits` so far.
    Size { size: u64, digits: u32 },
    /// Whitespace after the size (RFC 9112 §7.1.1's BWS): only an
    /// extension's `;` or the line's end may follow.
    SizeWs { size: u64 },
    /// After the size: an extension up to CRLF.
    Extension { size: u64, len: usize },
    /// Expecting LF after CR on the size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { left: u64 },
    /// Expecting CR after data.
    DataCr,
    /// Expecting LF after data.
    DataLf,
    /// After the last chunk: a trailer field line (or the final empty
    /// line). `line` bytes so far on this line, `total` in the section,
    /// `colon` once the field name has ended, `cr` after a CR.
    Trailer {
        line: usize,
        total: usize,
        colon: bool,
        cr: bool,
    },
}

/// Tracks one body as its bytes pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
    /// Payload bytes seen (chunk data only for chunked).
    payload: u64,
    /// The end of the body has been written by `decode_into`.
    ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

impl BodyDecoder {
    /// A decoder for a body with this framing.
    pub fn new(framing: Framing) -> BodyDecoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size { size: 0, digits: 0 }),
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            payload: 0,
            ended: false,
        }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes so far (without chunk framing).
    pub fn payload(&self) -> u64 {
        self.payload
    }

    /// Takes the body's share of `input`. Errors are 400s; a caller
    /// decoding an upstream response maps them to 502.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, HttpError> {
        self.step(input, |_| {})
    }

    /// Takes the body's share of `input` and appends it to `out` as `emit`
    /// says (payload pieces, and the end of the body once it is reached).
    pub fn decode_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        emit: Emit,
    ) -> Result<Progress, HttpError> {
        let progress = self.step(input, |piece| emit.piece(out, piece))?;
        if progress.done && !self.ended {
            self.ended = true;
            emit.end(out);
        }
        Ok(progress)
    }

    /// [`finish_on_close`](Self::finish_on_close), writing the end of a
    /// close-delimited body to `out` as `emit` says.
    pub fn finish_on_close_into(&mut self, out: &mut Vec<u8>, emit: Emit) -> Result<(), HttpError> {
        self.finish_on_close()?;
        if !self.ended {
            self.ended = true;
            emit.end(out);
        }
        Ok(())
    }

    fn step(
        &mut self,
        input: &[u8],
        mut on_payload: impl FnMut(&[u8]),
    ) -> Result<Progress, HttpError> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.state {
                State::Done => break,
                State::UntilClose => {
                    on_payload(&input[i..]);
                    self.payload += (input.len() - i) as u64;
                    i = input.len();
                }
                State::Length(left) => {
                    let take = (*left).min((input.len() - i) as u64);
                    *left -= take;
                    self.payload += take;
                    on_payload(&input[i..i + take as usize]);
                    i += take as usize;
                    if *left == 0 {
                        self.state = State::Done;
                    }
                }
                State::Chunked(chunk) => {
                    let (next, used, payload) = step_chunk(*chunk, &input[i..], &mut on_payload)?;
                    self.payload += payload;
                    i += used;
                    self.state = next.map_or(State::Done, State::Chunked);
                }
            }
        }
        Ok(Progress {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    /// The sender closed. Fine for a close-delimited body; for any other
    /// an unfinished body is truncated and must never look complete.
    pub fn finish_on_close(&mut self) -> Result<(), HttpError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(HttpError::bad_request("body truncated by close")),
        }
    }
}

/// Advances the chunked state over `input`; returns the next state (`None`
/// when the body ended), the bytes used and the payload bytes among them.
fn step_chunk(
    mut chunk: Chunk,
    input: &[u8],
    on_payload: &mut impl FnMut(&[u8]),
) -> Result<(Option<Chunk>, usize, u64), HttpError> {
    let bad = HttpError::bad_request;
    let mut i = 0;
    let mut payload = 0;
    while i < input.len() {
        let b = input[i];
        chunk = match chunk {
            Chunk::Size { size, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(bad("chunk size too large"));
                    }
                    let v = (b as char).to_digit(16).expect("hex digit") as u64;
                    Chunk::Size {
                        size: size * 16 + v,
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err(bad("invalid chunk size")),
                b';' => Chunk::Extension { size, len: 0 },
                b' ' | b'\t' => Chunk::SizeWs { size },
                b'\r' => Chunk::SizeLf { size },
                _ => return Err(bad("invalid chunk size")),
            },
            // Whitespace belongs to an extension (`*( BWS ";" ... )`):
            // `1 1` or `0 ` CRLF is not a size with something harmless
            // after it, and a reader that takes it so and one that
            // refuses it disagree about where the body ends.
            Chunk::SizeWs { size } => match b {
                b' ' | b'\t' => Chunk::SizeWs { size },
                b';' => Chunk::Extension { size, len: 0 },
                _ => return Err(bad("invalid chunk size")),
            },
            Chunk::Extension { size, len } => match b {
                b'\r' => Chunk::SizeLf { size },
                b'\n' | 0 => return Err(bad("invalid chunk extension")),
                _ if len >= MAX_LINE => return Err(bad("chunk extension too long")),
                _ => Chunk::Extension { size, len: len + 1 },
            },
            Chunk::SizeLf { size } => match b {
                b'\n' if size == 0 => Chunk::Trailer {
                    line: 0,
                    total: 0,
                    colon: false,
                    cr: false,
                },
                b'\n' => Chunk::Data { left: size },
                _ => return Err(bad("bare CR in chunk size line")),
            },
            Chunk::Data { left } => {
                let take = left.min((input.len() - i) as u64);
                on_payload(&input[i..i + take as usize]);
                payload += take;
                i += take as usize;
                chunk = if left == take {
                    Chunk::DataCr
                } else {
                    Chunk::Data { left: left - take }
                };
                continue;
            }
            Chunk::DataCr => match b {
                b'\r' => Chunk::DataLf,
                _ => return Err(bad("chunk data longer than its size")),
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size { size: 0, digits: 0 },
                _ => return Err(bad("bare CR after chunk data")),
            },
            Chunk::Trailer {
                line,
                total,
                colon,
                cr,
            } => {
                // Each line a field (RFC 9112 §7.1.2, RFC 9110 §5.5): a
                // token, a colon, a value without controls. A request
                // line hidden here is refused, not passed on.
                if total >= MAX_TRAILERS || line >= MAX_LINE {
                    return Err(bad("trailer section too long"));
                }
                match b {
                    b'\n' if cr && line == 0 => return Ok((None, i + 1, payload)),
                    b'\n' if cr && colon => Chunk::Trailer {
                        line: 0,
                        total: total + 1,
                        colon: false,
                        cr: false,
                    },
                    b'\r' if !cr => Chunk::Trailer {
                        line,
                        total: total + 1,
                        colon,
                        cr: true,
                    },
                    _ if cr => return Err(bad("invalid trailer line")),
                    b':' if !colon && line > 0 => Chunk::Trailer {
                        line: line + 1,
                        total: total + 1,
                        colon: true,
                        cr,
                    },
                    _ if !colon && !is_tchar(b) => return Err(bad("invalid trailer field")),
                    _ if colon && ((b < 0x20 && b != b'\t') || b == 0x7f) => {
                        return Err(bad("invalid trailer value"));
                    }
                    _ => Chunk::Trailer {
                        line: line + 1,
                        total: total + 1,
                        colon,
                        cr,
                    },
                }
            }
        };
        i += 1;
    }
    Ok((Some(chunk), i, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of a complete chunked body (framing already checked).
    fn dechunk(mut wire: &[u8]) -> Vec<u8> {
        let mut payload = Vec::new();
        while let Some(eol) = wire.windows(2).position(|w| w == b"\r\n") {
            let line = std::str::from_utf8(&wire[..eol]).unwrap_or("0");
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("0").trim(), 16)
                .unwrap_or(0);
            wire = &wire[eol + 2..];
            if size == 0 || wire.len() < size {
                break;
            }
            payload.extend_from_slice(&wire[..size]);
            wire = &wire[(size + 2).min(wire.len())..];
        }
        payload
    }

    /// Feeds `wire` split at every possible point; all splits must agree.
    fn decode_all_splits(framing: Framing, wire: &[u8]) -> Result<(usize, u64), HttpError> {
        let mut whole = BodyDecoder::new(framing);
        let p = whole.feed(wire)?;
        assert!(p.done, "not done after the whole body");
        for cut in 0..=wire.len() {
            let mut d = BodyDecoder::new(framing);
            let a = d.feed(&wire[..cut])?;
            let b = d.feed(&wire[a.consumed..])?;
            assert_eq!(a.consumed + b.consumed, p.consumed, "split at {cut}");
            assert!(b.done);
            assert_eq!(d.payload(), whole.payload());
        }
        Ok((p.consumed, whole.payload()))
    }

    #[test]
    fn dechunk_takes_the_payload() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk(b"0\r\n\r\n"), b"");
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let wire = b"helloGET / HTTP/1.1";
        let mut d = BodyDecoder::new(Framing::Length(5));
        assert_eq!(
            d.feed(wire).unwrap(),
            Progress {
                consumed: 5,
                done: true
            }
        );
        assert!(BodyDecoder::new(Framing::Length(0)).is_done());
        assert!(BodyDecoder::new(Framing::Empty).is_done());
    }

    #[test]
    fn chunked_bodies_pass_through_with_extensions_and_trailers() {
        let wire = b"5;ext=1\r\nhello\r\nA \t; ext\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (used, payload) = decode_all_splits(Framing::Chunked, wire).unwrap();
        assert_eq!(used, wire.len() - 4);
        assert_eq!(payload, 15);
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for wire in [
            &b"g\r\n"[..],
            b"\r\n",
            b"fffffffffffffffff\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\rX",
            b"0\r\nbad\ntrailer\r\n\r\n",
            b"5;a\nb\r\n",
            // Found by the chunked fuzz target: whitespace then anything
            // but an extension was read as a size of 1.
            b"1 1\r\na\r\n0\r\n\r\n",
            b"1\t\tx\r\n",
            b"0\t\t\r\n\r\n",
        ] {
            let r = BodyDecoder::new(Framing::Chunked).feed(wire);
            assert!(r.is_err(), "{:?} accepted", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn close_delimited_bodies_end_at_close_others_are_truncated() {
        let mut d = BodyDecoder::new(Framing::UntilClose);
        assert_eq!(
            d.feed(b"abc").unwrap(),
            Progress {
                consumed: 3,
                done: false
            }
        );
        assert!(d.finish_on_close().is_ok());
        let mut d = BodyDecoder::new(Framing::Length(10));
        d.feed(b"abc").unwrap();
        assert!(d.finish_on_close().is_err());
        let mut d = BodyDecoder::new(Framing::Chunked);
        d.feed(b"5\r\nab").unwrap();
        assert!(d.finish_on_close().is_err());
    }

    /// Decodes `wire` split at every point; every split must write the
    /// same bytes.
    fn reframe_all_splits(wire: &[u8], emit: Emit) -> Vec<u8> {
        let mut whole = Vec::new();
        let p = BodyDecoder::new(Framing::Chunked)
            .decode_into(wire, &mut whole, emit)
            .unwrap();
        assert!(p.done);
        for cut in 0..=wire.len() {
            let mut d = BodyDecoder::new(Framing::Chunked);
            let mut out = Vec::new();
            let a = d.decode_into(&wire[..cut], &mut out, emit).unwrap();
            d.decode_into(&wire[a.consumed..], &mut out, emit).unwrap();
            assert_eq!(
                dechunk_or_plain(&out, emit),
                dechunk_or_plain(&whole, emit),
                "split at {cut}"
            );
        }
        whole
    }

    fn dechunk_or_plain(out: &[u8], emit: Emit) -> Vec<u8> {
        match emit {
            Emit::Chunked => dechunk(out),
            Emit::Payload => out.to_vec(),
        }
    }

    #[test]
    fn chunked_bodies_are_reframed_canonically() {
        let wire = b"0005;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nY:\r\n\r\n";
        assert_eq!(
            reframe_all_splits(wire, Emit::Chunked),
            b"5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n"
        );
        assert_eq!(reframe_all_splits(wire, Emit::Payload), b"hello0123456789");
        // A huge declared chunk goes on in pieces the size of what arrived.
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut out = Vec::new();
        d.decode_into(b"100000000\r\nabc", &mut out, Emit::Chunked)
            .unwrap();
        assert_eq!(out, b"3\r\nabc\r\n");
        // A close-delimited body ends with the last chunk when it closes.
        let mut d = BodyDecoder::new(Framing::UntilClose);
        let mut out = Vec::new();
        d.decode_into(b"abc", &mut out, Emit::Chunked).unwrap();
        d.finish_on_close_into(&mut out, Emit::Chunked).unwrap();
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
    }

    #[test]
    fn trailer_sections_must_be_fields() {
        for wire in [
            &b"0\r\nGET /smuggled HTTP/1.1\r\n\r\n"[..],
            b"0\r\nnocolon\r\n\r\n",
            b"0\r\n: v\r\n\r\n",
            b"0\r\nX-A: a\x01b\r\n\r\n",
            b"0\r\nX-A: a\rb\r\n\r\n",
        ] {
            let r = BodyDecoder::new(Framing::Chunked).feed(wire);
            assert!(r.is_err(), "{:?} accepted", String::from_utf8_lossy(wire));
        }
        let long = format!("0\r\nX: {}\r\n\r\n", "v".repeat(MAX_LINE));
        assert!(
            BodyDecoder::new(Framing::Chunked)
                .feed(long.as_bytes())
                .is_err()
        );
    }
}
