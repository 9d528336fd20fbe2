//! The HTTP workload: one prebuilt request per connection and a response
//! reader that checks every reply: status, framing, body length, and the
//! payload bytes against the origin's pattern (for generated bodies and
//! echoed request bodies alike, chunked or not). Responses are read with
//! the judge's own parser (`pb-wire`), not the cores' codec.

use pb_wire::pattern::{body_byte, matches};
use pb_wire::{BodyReader, read_response};

/// Request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET /path?size=N`: the origin answers N pattern bytes.
    Get,
    /// `POST /path` with an N-byte pattern body: the origin echoes it.
    Post,
}

impl Method {
    /// The method as sent, and as results and cell ids name it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What each HTTP request looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpWorkload {
    /// Method.
    pub method: Method,
    /// Path (without query).
    pub path: String,
    /// `Host` header.
    pub host: String,
    /// GET: response body size asked for; POST: request body size.
    pub body_bytes: usize,
    /// Keep connections alive; `false` opens one connection per request.
    pub keep_alive: bool,
    /// Extra request headers (e.g. an auth token).
    pub headers: Vec<(String, String)>,
    /// Some connections send heavier requests; their latency is kept
    /// apart from the others' ([`HttpWorkload::classes`]).
    pub heavy: Option<Heavy>,
    /// The origins (their `x-origin` ids) a response may come from; a
    /// response from any other is wrong ("misrouted"), and responses are
    /// counted per origin per interval (a reload's timeline). Empty: not
    /// checked.
    pub origins: Vec<String>,
}

/// What the reader concluded about one response: `Ok` with the index in
/// [`HttpWorkload::origins`] of the origin that served it (`None` when
/// origins are not checked), or the kind of error.
pub type Verdict = Result<Option<usize>, &'static str>;

/// A share of connections whose every request carries one more header
/// (one that asks the proxy for a known amount of work), so that the
/// latency of the light requests can be read beside heavy ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heavy {
    /// One connection in `every` is heavy (ids 0, every, 2 every, ...).
    pub every: usize,
    /// The header those connections add to every request.
    pub header: (String, String),
}

/// Latency class names of a workload with heavy connections, by class
/// index: light connections record under 0, heavy ones under 1.
pub const CLASSES: [&str; 2] = ["light", "heavy"];

impl HttpWorkload {
    /// A keep-alive `GET` for `size` bytes.
    pub fn get(size: usize) -> HttpWorkload {
        HttpWorkload {
            method: Method::Get,
            path: "/".into(),
            host: "proxybench".into(),
            body_bytes: size,
            keep_alive: true,
            headers: Vec::new(),
            heavy: None,
            origins: Vec::new(),
        }
    }

    /// Latency classes the driver keeps apart: none, or [`CLASSES`].
    pub fn classes(&self) -> &'static [&'static str] {
        match self.heavy {
            Some(_) => &CLASSES,
            None => &[],
        }
    }

    /// The class of connection `id`: 1 for a heavy one, else 0.
    pub fn class_of(&self, id: u64) -> usize {
        match &self.heavy {
            Some(h) if id.is_multiple_of(h.every as u64) => 1,
            _ => 0,
        }
    }

    /// The bytes of one request of connection `id` (a heavy connection's
    /// carry its header).
    pub fn request_bytes_for(&self, id: u64) -> Vec<u8> {
        match &self.heavy {
            Some(h) if self.class_of(id) == 1 => HttpWorkload {
                headers: [self.headers.clone(), vec![h.header.clone()]].concat(),
                heavy: None,
                ..self.clone()
            }
            .request_bytes(),
            _ => self.request_bytes(),
        }
    }

    /// The bytes of one request.
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body_bytes);
        let target = match self.method {
            Method::Get => {
                let join = if self.path.contains('?') { '&' } else { '?' };
                format!(
                    "GET {}{join}size={} HTTP/1.1\r\n",
                    self.path, self.body_bytes
                )
            }
            Method::Post => format!("POST {} HTTP/1.1\r\n", self.path),
        };
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(format!("host: {}\r\n", self.host).as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !self.keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        }
        if self.method == Method::Post {
            out.extend_from_slice(
                format!("content-length: {}\r\n\r\n", self.body_bytes).as_bytes(),
            );
            out.extend((0..self.body_bytes as u64).map(body_byte));
        } else {
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// Reads responses off one connection, in order.
#[derive(Debug)]
pub struct HttpReader {
    expected_len: u64,
    origins: Vec<Vec<u8>>,
    head_buf: Vec<u8>,
    body: Option<Body>,
}

#[derive(Debug)]
struct Body {
    reader: BodyReader,
    status: u16,
    intact: bool,
    /// Index of the origin that answered, among the expected ones.
    origin: Option<usize>,
}

/// The longest response head the driver waits for.
const MAX_HEAD: usize = 64 * 1024;

impl HttpReader {
    /// A reader expecting `expected_len`-byte pattern bodies with status 200.
    pub fn new(workload: &HttpWorkload) -> HttpReader {
        HttpReader {
            expected_len: workload.body_bytes as u64,
            origins: workload
                .origins
                .iter()
                .map(|o| o.as_bytes().to_vec())
                .collect(),
            head_buf: Vec::new(),
            body: None,
        }
    }

    /// Feeds received bytes; `on_complete` gets each finished response's
    /// verdict (`Err(kind)` for a wrong one). `Err` from here means the
    /// stream cannot be followed any more and the connection must go.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        outstanding: usize,
        mut on_complete: impl FnMut(Verdict),
    ) -> Result<(), &'static str> {
        let mut left = outstanding;
        while !data.is_empty() {
            if left == 0 {
                return Err("unexpected bytes");
            }
            let body = match &mut self.body {
                Some(body) => body,
                None => {
                    // A head that arrived whole is parsed where it lies;
                    // one split across reads is gathered first.
                    let before = self.head_buf.len();
                    let buf = if before == 0 {
                        data
                    } else {
                        self.head_buf.extend_from_slice(data);
                        &self.head_buf
                    };
                    let origins = &self.origins;
                    let parsed = read_response(buf, false, |head| {
                        let origin = head
                            .field("x-origin")
                            .and_then(|id| origins.iter().position(|o| o == id));
                        (head.status, head.body, origin)
                    })
                    .map_err(|_| "malformed response")?;
                    let Some(((status, framing, origin), used)) = parsed else {
                        if before == 0 {
                            self.head_buf.extend_from_slice(data);
                        }
                        if self.head_buf.len() > MAX_HEAD {
                            return Err("malformed response");
                        }
                        return Ok(());
                    };
                    data = &data[used - before..];
                    self.head_buf.clear();
                    if (100..200).contains(&status) && status != 101 {
                        continue;
                    }
                    self.body.insert(Body {
                        reader: BodyReader::new(framing),
                        status,
                        intact: true,
                        origin,
                    })
                }
            };
            let (mut at, mut intact) = (body.reader.payload(), body.intact);
            let used = body
                .reader
                .read(data, |piece| {
                    intact &= matches(piece, at);
                    at += piece.len() as u64;
                })
                .map_err(|_| "malformed body")?;
            body.intact = intact;
            data = &data[used..];
            if body.reader.is_done() {
                let body = self.body.take().expect("set above");
                on_complete(self.verdict(&body));
                left -= 1;
            }
        }
        Ok(())
    }

    /// A close arrived: a close-delimited body ends here.
    pub fn on_close(&mut self, mut on_complete: impl FnMut(Verdict)) -> bool {
        let Some(mut body) = self.body.take() else {
            return false;
        };
        if body.reader.at_close().is_err() {
            return false;
        }
        on_complete(self.verdict(&body));
        true
    }

    fn verdict(&self, body: &Body) -> Verdict {
        if body.status != 200 {
            return Err(match body.status {
                400..=499 => "status 4xx",
                502 => "status 502",
                504 => "status 504",
                500..=599 => "status 5xx",
                _ => "unexpected status",
            });
        }
        if body.reader.payload() != self.expected_len {
            return Err("wrong body length");
        }
        if !body.intact {
            return Err("body mismatch");
        }
        if !self.origins.is_empty() && body.origin.is_none() {
            return Err("misrouted");
        }
        Ok(body.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(len: usize) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").into_bytes();
        r.extend((0..len as u64).map(body_byte));
        r
    }

    #[test]
    fn responses_split_anywhere_verify() {
        let w = HttpWorkload::get(100);
        let wire = [response(100), response(100)].concat();
        for cut in 0..wire.len() {
            let mut r = HttpReader::new(&w);
            let mut done = Vec::new();
            r.feed(&wire[..cut], 2, |v| done.push(v)).unwrap();
            r.feed(&wire[cut..], 2 - done.len(), |v| done.push(v))
                .unwrap();
            assert_eq!(done, [Ok(None), Ok(None)], "cut {cut}");
        }
    }

    #[test]
    fn wrong_status_length_or_bytes_are_errors() {
        let w = HttpWorkload::get(10);
        let check = |wire: &[u8]| {
            let mut out = Vec::new();
            HttpReader::new(&w).feed(wire, 1, |v| out.push(v)).unwrap();
            out
        };
        assert_eq!(
            check(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n"),
            [Err("status 502")]
        );
        assert_eq!(check(&response(9)), [Err("wrong body length")]);
        let mut bad = response(10);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(check(&bad), [Err("body mismatch")]);
        // Chunked payloads are checked byte for byte too, across chunks.
        let pattern: Vec<u8> = (0..10).map(body_byte).collect();
        let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n".to_vec();
        chunked.extend_from_slice(&pattern[..4]);
        chunked.extend_from_slice(b"\r\n6\r\n");
        chunked.extend_from_slice(&pattern[4..]);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(check(&chunked), [Ok(None)]);
        let wrong =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(check(wrong), [Err("body mismatch")]);
    }

    #[test]
    fn heavy_connections_carry_their_header_and_class() {
        let w = HttpWorkload {
            heavy: Some(Heavy {
                every: 4,
                header: ("x-pb-work".into(), "1000".into()),
            }),
            ..HttpWorkload::get(5)
        };
        assert_eq!(w.classes(), ["light", "heavy"]);
        let classes: Vec<usize> = (0..8).map(|id| w.class_of(id)).collect();
        assert_eq!(classes, [1, 0, 0, 0, 1, 0, 0, 0]);
        let heavy = String::from_utf8(w.request_bytes_for(4)).unwrap();
        assert!(heavy.contains("x-pb-work: 1000\r\n"), "{heavy}");
        let light = String::from_utf8(w.request_bytes_for(5)).unwrap();
        assert!(!light.contains("x-pb-work"), "{light}");
        assert!(HttpWorkload::get(5).classes().is_empty());
    }

    #[test]
    fn responses_name_their_origin_and_a_stranger_is_misrouted() {
        let w = HttpWorkload {
            origins: vec!["old".into(), "new".into()],
            ..HttpWorkload::get(3)
        };
        let from = |id: &str| {
            let mut r = format!("HTTP/1.1 200 OK\r\nx-origin: {id}\r\ncontent-length: 3\r\n\r\n")
                .into_bytes();
            r.extend((0..3).map(body_byte));
            r
        };
        let mut out = Vec::new();
        let wire = [from("new"), from("old"), from("elsewhere")].concat();
        HttpReader::new(&w).feed(&wire, 3, |v| out.push(v)).unwrap();
        assert_eq!(out, [Ok(Some(1)), Ok(Some(0)), Err("misrouted")]);
    }

    #[test]
    fn post_requests_carry_the_pattern() {
        let w = HttpWorkload {
            method: Method::Post,
            ..HttpWorkload::get(5)
        };
        let text = w.request_bytes();
        assert!(
            text.starts_with(b"POST / HTTP/1.1\r\nhost: proxybench\r\ncontent-length: 5\r\n\r\n")
        );
        assert!(matches(&text[text.len() - 5..], 0));
    }
}
