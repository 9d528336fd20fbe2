//! HTTP/1.1 as the judging side reads it: the load driver, the origin and
//! the conformance client. It shares no code with the proxies' codec
//! (`pb-http`), so a framing bug in the code under test cannot
//! be cancelled out by the same bug on the side that judges it: where the
//! two disagree, a test fails.
//!
//! | item | role |
//! |---|---|
//! | [`parse_request`], [`parse_response`] | heads over `httparse`, framing decided here (RFC 9112 §6.3) |
//! | [`BodyLen`] | how a body ends: not at all, a length, chunked, or at close |
//! | [`BodyReader`] | walks a body as it arrives, handing its payload to a sink; strict chunked decoding |
//! | [`pattern`] | the generated body bytes and the digest origin and driver agree on |
//!
//! Strict where a judge must be: `Transfer-Encoding` is accepted only as
//! the one coding `chunked` (in a list that may have empty elements), `Content-Length` only as digits and only once, chunk
//! sizes only as hex digits followed by CRLF or an extension, chunk data
//! only followed by CRLF. Anything else is a [`WireError`].

#![forbid(unsafe_code)]

pub mod pattern;

use std::fmt;

/// Something on the wire the judge cannot accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for WireError {}

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    /// There is none.
    None,
    /// After this many bytes.
    Fixed(u64),
    /// Chunked.
    Chunked,
    /// When the sender closes (responses only).
    Close,
}

/// A header field: name as sent, value without surrounding SP/HTAB.
pub type Field = (String, Vec<u8>);

/// A request head as the origin reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request target, as sent.
    pub target: String,
    /// Minor version: 0 or 1.
    pub minor: u8,
    /// Fields, in order.
    pub fields: Vec<Field>,
    /// How its body ends.
    pub body: BodyLen,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

/// A response head as the driver or a conformance case reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Fields, in order.
    pub fields: Vec<Field>,
    /// How its body ends.
    pub body: BodyLen,
}

/// A parse of a possibly incomplete buffer: `Ok(None)` wants more bytes.
pub type Parsed<T> = Result<Option<(T, usize)>, WireError>;

/// The most header fields the judge reads in one head.
const MAX_FIELDS: usize = 128;

fn field_value<'a>(fields: &'a [Field], name: &str) -> impl Iterator<Item = &'a [u8]> {
    fields
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// Values of field `name` among fields as they lie in a buffer, without
/// their surrounding whitespace.
fn lent_value<'a>(
    fields: &'a [httparse::Header<'a>],
    name: &str,
) -> impl Iterator<Item = &'a [u8]> {
    fields
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| trim_ows(h.value))
}

/// First value of field `name`, case-insensitive.
pub fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a [u8]> {
    field_value(fields, name).next()
}

/// `v` without leading or trailing SP and HTAB (optional whitespace).
fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn owned(headers: &[httparse::Header<'_>]) -> Vec<Field> {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), trim_ows(h.value).to_vec()))
        .collect()
}

/// Whether a `Connection` field lists `option` (ASCII case-insensitive).
fn lists(fields: &[Field], option: &str) -> bool {
    field_value(fields, "connection").any(|v| {
        v.split(|&b| b == b',')
            .any(|t| trim_ows(t).eq_ignore_ascii_case(option.as_bytes()))
    })
}

/// The body length a message declares (RFC 9112 §6.3), strictly;
/// `values(name)` yields a field's values.
fn declared<'a, I: Iterator<Item = &'a [u8]>>(
    values: impl Fn(&'static str) -> I,
) -> Result<Option<BodyLen>, WireError> {
    let mut te = values("transfer-encoding").peekable();
    let mut cl = values("content-length");
    match (te.peek().is_some(), cl.next()) {
        (true, Some(_)) => Err(WireError("both transfer-encoding and content-length")),
        (true, None) => {
            // One coding, chunked, in a list that may have empty elements
            // and span field lines (RFC 9110 §5.6.1, §5.3).
            let mut codings = te
                .flat_map(|v| v.split(|&b| b == b','))
                .map(trim_ows)
                .filter(|c| !c.is_empty());
            match (codings.next(), codings.next()) {
                (Some(c), None) if c.eq_ignore_ascii_case(b"chunked") => Ok(Some(BodyLen::Chunked)),
                _ => Err(WireError("transfer-encoding other than chunked")),
            }
        }
        (false, Some(v)) => {
            if cl.next().is_some() {
                return Err(WireError("two content-length fields"));
            }
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return Err(WireError("content-length not a number"));
            }
            // Any length a u64 holds (RFC 9110 §8.6: a recipient must
            // anticipate large numbers), and none beyond.
            let n = v
                .iter()
                .try_fold(0u64, |n, d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .ok_or(WireError("content-length too large"))?;
            Ok(Some(BodyLen::Fixed(n)))
        }
        (false, None) => Ok(None),
    }
}

/// Parses a request head at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Parsed<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(WireError("malformed request head")),
    };
    let minor = req.version.unwrap_or(1);
    let fields = owned(req.headers);
    let body = declared(|name| field_value(&fields, name))?.unwrap_or(BodyLen::None);
    let keep_alive = if minor == 0 {
        lists(&fields, "keep-alive")
    } else {
        !lists(&fields, "close")
    };
    Ok(Some((
        Request {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            minor,
            fields,
            body,
            keep_alive,
        },
        used,
    )))
}

/// A response head lent to the caller of [`read_response`]: its fields
/// as they lie in the buffer.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    /// Status code.
    pub status: u16,
    /// How its body ends.
    pub body: BodyLen,
    fields: &'a [httparse::Header<'a>],
}

impl<'a> ResponseHead<'a> {
    /// First value of field `name` (case-insensitive), without its
    /// surrounding whitespace.
    pub fn field(&self, name: &str) -> Option<&'a [u8]> {
        lent_value(self.fields, name).next()
    }
}

/// Parses a response head at the start of `buf` and lends it to `judge`;
/// `head_request` says it answers a HEAD (no body, whatever it declares).
/// The same parse and framing decision as [`parse_response`], without
/// copying a field out: the load driver reads a response head per request
/// and must not allocate for it.
pub fn read_response<R>(
    buf: &[u8],
    head_request: bool,
    judge: impl FnOnce(ResponseHead<'_>) -> R,
) -> Parsed<R> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut res = httparse::Response::new(&mut headers);
    let used = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(WireError("malformed response head")),
    };
    let status = res.code.unwrap_or(0);
    if !(100..=599).contains(&status) {
        return Err(WireError("status outside 100-599"));
    }
    let fields = &*res.headers;
    let declared = declared(|name| lent_value(fields, name))?;
    let body = if head_request || status < 200 || status == 204 || status == 304 {
        BodyLen::None
    } else {
        declared.unwrap_or(BodyLen::Close)
    };
    let head = ResponseHead {
        status,
        body,
        fields,
    };
    Ok(Some((judge(head), used)))
}

/// Parses a response head at the start of `buf`, its fields copied out;
/// `head_request` says it answers a HEAD (no body, whatever it declares).
pub fn parse_response(buf: &[u8], head_request: bool) -> Parsed<Response> {
    read_response(buf, head_request, |head| Response {
        status: head.status,
        fields: owned(head.fields),
        body: head.body,
    })
}

/// Longest chunk-size or trailer line the judge reads.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Collecting a chunk-size line (without its CRLF).
    SizeLine(Vec<u8>),
    /// Inside chunk data.
    Data(u64),
    /// After chunk data: `n` bytes of its CRLF seen.
    DataEnd(u8),
    /// Collecting a trailer line.
    Trailer(Vec<u8>),
    /// Fixed length left.
    Fixed(u64),
    /// Until close.
    Close,
    /// Complete.
    Done,
}

/// Walks one body as its bytes arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyReader {
    step: Step,
    payload: u64,
}

impl BodyReader {
    /// A reader for a body that ends as `len` says.
    pub fn new(len: BodyLen) -> BodyReader {
        let step = match len {
            BodyLen::None | BodyLen::Fixed(0) => Step::Done,
            BodyLen::Fixed(n) => Step::Fixed(n),
            BodyLen::Chunked => Step::SizeLine(Vec::new()),
            BodyLen::Close => Step::Close,
        };
        BodyReader { step, payload: 0 }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Payload bytes so far.
    pub fn payload(&self) -> u64 {
        self.payload
    }

    /// Takes the body's bytes from the front of `input`, handing payload
    /// to `sink`; returns how many bytes were the body's.
    pub fn read(&mut self, input: &[u8], mut sink: impl FnMut(&[u8])) -> Result<usize, WireError> {
        let mut at = 0;
        while at < input.len() && self.step != Step::Done {
            let rest = &input[at..];
            match &mut self.step {
                Step::Done => {}
                Step::Close => {
                    sink(rest);
                    self.payload += rest.len() as u64;
                    at = input.len();
                }
                Step::Fixed(left) | Step::Data(left) => {
                    let take = rest.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    sink(&rest[..take]);
                    self.payload += take as u64;
                    *left -= take as u64;
                    at += take;
                    if *left == 0 {
                        self.step = match self.step {
                            Step::Fixed(_) => Step::Done,
                            _ => Step::DataEnd(0),
                        };
                    }
                }
                Step::DataEnd(seen) => {
                    let want = if *seen == 0 { b'\r' } else { b'\n' };
                    if rest[0] != want {
                        return Err(WireError("chunk data not followed by CRLF"));
                    }
                    at += 1;
                    *seen += 1;
                    if *seen == 2 {
                        self.step = Step::SizeLine(Vec::new());
                    }
                }
                Step::SizeLine(line) | Step::Trailer(line) => {
                    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(rest);
                        at = input.len();
                        if line.len() > MAX_LINE {
                            return Err(WireError("chunk framing line too long"));
                        }
                        continue;
                    };
                    line.extend_from_slice(&rest[..lf]);
                    at += lf + 1;
                    let Some(text) = line.strip_suffix(b"\r") else {
                        return Err(WireError("chunk framing line without CR"));
                    };
                    let text = text.to_vec();
                    self.step = match self.step {
                        Step::SizeLine(_) => match chunk_size(&text)? {
                            0 => Step::Trailer(Vec::new()),
                            n => Step::Data(n),
                        },
                        _ if text.is_empty() => Step::Done,
                        _ if !text.contains(&b':') => {
                            return Err(WireError("trailer line is not a field"));
                        }
                        _ => Step::Trailer(Vec::new()),
                    };
                }
            }
        }
        Ok(at)
    }

    /// The sender closed: fine only for a close-delimited or finished body.
    pub fn at_close(&mut self) -> Result<(), WireError> {
        match self.step {
            Step::Done => Ok(()),
            Step::Close => {
                self.step = Step::Done;
                Ok(())
            }
            _ => Err(WireError("body cut short by close")),
        }
    }
}

/// A chunk-size line: hex digits, then nothing or an extension after `;`
/// (optionally after SP/HTAB).
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let rest_ok = rest.is_empty()
        || rest
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t'))
            .is_some_and(|&b| b == b';');
    if digits == 0 || digits > 15 || !rest_ok {
        return Err(WireError("invalid chunk size line"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, &d| {
        n * 16 + u64::from((d as char).to_digit(16).unwrap_or(0))
    }))
}

/// The payload of a complete body in its wire form (a test helper).
pub fn payload_of(len: BodyLen, wire: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    let mut reader = BodyReader::new(len);
    reader.read(wire, |p| out.extend_from_slice(p))?;
    if !reader.is_done() {
        reader.at_close()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_strict() {
        let res = |t: &str| parse_response(t.as_bytes(), false).map(|p| p.map(|(r, _)| r.body));
        assert_eq!(
            res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            Ok(Some(BodyLen::Fixed(5)))
        );
        assert_eq!(
            res("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok(Some(BodyLen::Chunked))
        );
        assert_eq!(res("HTTP/1.1 200 OK\r\n\r\n"), Ok(Some(BodyLen::Close)));
        assert_eq!(
            res("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            Ok(Some(BodyLen::None))
        );
        assert_eq!(res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), Ok(None));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 099 Odd\r\n\r\n",
        ] {
            assert!(res(bad).is_err(), "{bad:?}");
        }
        let text = b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nX";
        let (req, used) = parse_request(text).unwrap().unwrap();
        assert_eq!(
            (req.minor, req.keep_alive, req.body, used),
            (0, true, BodyLen::None, text.len() - 1)
        );
    }

    #[test]
    fn chunked_bodies_are_read_in_any_split() {
        let wire = b"5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\nNEXT";
        let body_len = wire.len() - 4;
        for cut in 0..=body_len {
            let mut r = BodyReader::new(BodyLen::Chunked);
            let mut out = Vec::new();
            let a = r.read(&wire[..cut], |p| out.extend_from_slice(p)).unwrap();
            assert_eq!(a, cut, "everything before the end belongs to the body");
            let b = r.read(&wire[cut..], |p| out.extend_from_slice(p)).unwrap();
            assert_eq!(a + b, body_len, "split at {cut}");
            assert!(r.is_done());
            assert_eq!(out, b"hello0123456789");
        }
        for bad in [
            &b"g\r\n"[..],
            b"5\nhello",
            b"5\r\nhelloX",
            b"0\r\nGET / HTTP/1.1\r\n\r\n",
            b"5 x\r\n",
        ] {
            let mut r = BodyReader::new(BodyLen::Chunked);
            assert!(
                r.read(bad, |_| {}).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut r = BodyReader::new(BodyLen::Fixed(10));
        assert_eq!(r.read(b"abc", |_| {}), Ok(3));
        assert!(r.at_close().is_err());
        assert_eq!(payload_of(BodyLen::Close, b"abc"), Ok(b"abc".to_vec()));
    }
}
