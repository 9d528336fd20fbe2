//! Request and response heads: parsed once, with limits, framing and
//! keep-alive decided here so no core decides them differently.
//!
//! A parsed head is its own bytes plus where each piece lies in them
//! (spans, not copies): parsing copies the head once into a buffer the
//! head keeps, and [`RequestHead::parse_into`] / [`ResponseHead::parse_into`]
//! reuse that buffer and the span list from message to message, so a
//! connection parses its steady stream of heads without a heap allocation.
//! Headers come out as [`Field`]s borrowed from those bytes; a header the
//! proxy adds is a [`Header`], whose parts are shared so that handing a
//! configured header to every request copies no bytes.

use std::sync::Arc;

use crate::body::Framing;
use crate::error::HttpError;

/// HTTP version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close by default, no chunked bodies.
    Http10,
    /// HTTP/1.1: keep-alive by default.
    Http11,
}

impl Version {
    fn from_minor(minor: u8) -> Version {
        if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }

    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A header name the proxy holds on to (removal rules): shared, so a rule
/// applied to every request is a reference count, not a copy.
pub type Name = Arc<str>;

/// A header the proxy adds (configured rules, its own answers). Its parts
/// are shared: cloning it into each request's edits copies no bytes and
/// allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Field name.
    pub name: Name,
    /// Field value.
    pub value: Arc<[u8]>,
}

impl Header {
    /// A header from text.
    pub fn new(name: &str, value: impl AsRef<[u8]>) -> Header {
        Header {
            name: name.into(),
            value: value.as_ref().into(),
        }
    }

    /// Case-insensitive name comparison.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// One header field of a parsed head, as received: the name keeps its
/// case and the value its bytes, so what is forwarded arrives byte-exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field name (a token: ASCII).
    pub name: &'a str,
    /// Field value, without surrounding whitespace.
    pub value: &'a [u8],
}

impl Field<'_> {
    /// Case-insensitive name comparison.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Most header fields a request may be configured to carry.
pub const MAX_HEADERS: usize = 256;

/// Most header fields accepted in an upstream response (more is a 502).
const MAX_RESPONSE_HEADERS: usize = 128;

/// Size limits on a head. Beyond them a request gets 414 or 431.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus header section, bytes.
    pub max_head_bytes: usize,
    /// Header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    /// 16 KiB and 100 fields: above what browsers send, far below memory trouble.
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Headers that describe one connection and never cross a proxy
/// (RFC 9110 §7.6.1), besides those named in `Connection`.
/// `Transfer-Encoding` and `Content-Length` are rewritten from the framing.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Where a piece of a head lies in the head's bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `part`, a slice httparse took from `whole`, lies in it. An
    /// empty part may not point into `whole` at all, and needs no place.
    fn within(whole: &[u8], part: &[u8]) -> Span {
        if part.is_empty() {
            return Span::default();
        }
        let start = part.as_ptr() as usize - whole.as_ptr() as usize;
        debug_assert!(start + part.len() <= whole.len());
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    fn get(self, raw: &[u8]) -> &[u8] {
        &raw[self.start as usize..self.end as usize]
    }

    /// The span as text; every span that is read as text covers bytes
    /// httparse handed out as `&str` (or ASCII the parser wrote itself).
    fn text(self, raw: &[u8]) -> &str {
        std::str::from_utf8(self.get(raw)).unwrap_or_default()
    }
}

/// A head's bytes and where its fields and `Connection` options lie in
/// them; the storage both head types share, reused across parses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fields {
    raw: Vec<u8>,
    fields: Vec<(Span, Span)>,
    options: Vec<Span>,
}

impl Fields {
    /// Takes the first `used` bytes of `buf` and the fields httparse found
    /// in them, forgetting the previous head.
    fn load(&mut self, buf: &[u8], used: usize, parsed: &[httparse::Header<'_>]) {
        self.raw.clear();
        self.raw.extend_from_slice(&buf[..used]);
        self.fields.clear();
        self.fields.extend(parsed.iter().map(|h| {
            (
                Span::within(buf, h.name.as_bytes()),
                Span::within(buf, h.value),
            )
        }));
        self.options.clear();
    }

    /// Appends bytes the parser made (a rewritten target, a Host taken
    /// from the target) after the head's own.
    fn append(&mut self, bytes: &[u8]) -> Span {
        let start = self.raw.len() as u32;
        self.raw.extend_from_slice(bytes);
        Span {
            start,
            end: self.raw.len() as u32,
        }
    }

    fn iter(&self) -> impl Iterator<Item = Field<'_>> {
        self.fields.iter().map(|&(name, value)| Field {
            name: name.text(&self.raw),
            value: value.get(&self.raw),
        })
    }

    /// Values of the fields named `name`, in order.
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.fields
            .iter()
            .filter(move |(n, _)| n.get(&self.raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.get(&self.raw))
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Records the options of every `Connection` header; an option that
    /// is not a token is refused rather than guessed at.
    fn read_options(&mut self) -> Result<(), &'static str> {
        let Fields {
            raw,
            fields,
            options,
        } = self;
        for (name, value) in fields.iter() {
            if !name.get(raw).eq_ignore_ascii_case(b"connection") {
                continue;
            }
            for t in list_elements(value.get(raw)) {
                if !is_token(t) {
                    return Err("invalid connection option");
                }
                options.push(Span::within(raw, t));
            }
        }
        Ok(())
    }

    fn has_option(&self, option: &str) -> bool {
        self.options
            .iter()
            .any(|t| t.get(&self.raw).eq_ignore_ascii_case(option.as_bytes()))
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.has_option("close"),
            Version::Http10 => self.has_option("keep-alive"),
        }
    }

    fn is_hop_by_hop(&self, name: &str) -> bool {
        HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
            || (self.has_option(name)
                && !NOT_CONNECTION_OPTIONS
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n)))
    }

    /// Where the message says its body ends, or why it cannot be trusted.
    fn framing(&self, version: Version) -> Result<Option<Framing>, &'static str> {
        let mut lengths = self.values("content-length");
        let length = lengths.next();
        if lengths.next().is_some() {
            return Err("duplicate content-length");
        }
        let mut te = self.values("transfer-encoding").peekable();
        if te.peek().is_some() {
            if version == Version::Http10 {
                return Err("transfer-encoding on HTTP/1.0");
            }
            if length.is_some() {
                return Err("both content-length and transfer-encoding");
            }
            // Only plain `chunked`, matched byte for byte, is passed through;
            // anything else (gzip, chunked twice, chunked not last, a coding
            // padded with non-OWS bytes) would need decoding to frame.
            let mut codings = te.flat_map(list_elements);
            let single_chunked = codings
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
                && codings.next().is_none();
            if !single_chunked {
                return Err("transfer coding other than a single chunked");
            }
            return Ok(Some(Framing::Chunked));
        }
        match length {
            None => Ok(None),
            Some(value) => {
                let v = trim_ows(value);
                if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                    return Err("invalid content-length");
                }
                let n = v
                    .iter()
                    .try_fold(0u64, |n, d| {
                        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                    })
                    .ok_or("invalid content-length")?;
                Ok(Some(Framing::Length(n)))
            }
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    fields: Fields,
    method: Span,
    target: Span,
    /// Version.
    pub version: Version,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client connection stays open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl Default for RequestHead {
    /// Empty storage for [`parse_into`](RequestHead::parse_into).
    fn default() -> Self {
        RequestHead {
            fields: Fields::default(),
            method: Span::default(),
            target: Span::default(),
            version: Version::Http11,
            framing: Framing::Empty,
            keep_alive: false,
            expect_continue: false,
        }
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    fields: Fields,
    reason: Span,
    /// Status code.
    pub status: u16,
    /// Version.
    pub version: Version,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the upstream connection can carry another request.
    pub keep_alive: bool,
}

impl Default for ResponseHead {
    /// Empty storage for [`parse_into`](ResponseHead::parse_into).
    fn default() -> Self {
        ResponseHead {
            fields: Fields::default(),
            reason: Span::default(),
            status: 0,
            version: Version::Http11,
            framing: Framing::Empty,
            keep_alive: false,
        }
    }
}

/// What a parse of a possibly incomplete buffer found.
pub type Parsed<T> = Result<Option<(T, usize)>, HttpError>;

/// The host part of a `Host` value or an authority, as sent: without its
/// port (an IPv6 literal keeps its brackets). Hosts compare
/// case-insensitively.
pub fn host_part(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 literal: the port, if any, follows the bracket.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    }
}

/// The host a `Host` value or an authority names, as routes match it:
/// lower case, without its port (an IPv6 literal keeps its brackets).
pub fn host_name(host: &str) -> String {
    host_part(host).to_ascii_lowercase()
}

/// Optional whitespace is SP and HTAB only (RFC 9110 §5.6.3). Unicode
/// whitespace rules (`str::trim`) would turn `chunked\u{a0}` into
/// `chunked` here while the next hop reads something else.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The elements of a comma-separated field value (RFC 9110 §5.6.1):
/// OWS trimmed, empty elements ignored as a recipient must.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// A tchar (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A token (RFC 9110 §5.6.2): one or more tchar.
fn is_token(t: &[u8]) -> bool {
    !t.is_empty() && t.iter().all(|&b| is_tchar(b))
}

/// Fields a `Connection` option may never remove: the request's Host is
/// what routing and the next hop depend on (RFC 9112 §3.2).
const NOT_CONNECTION_OPTIONS: &[&str] = &["host"];

/// A `Host` value: `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2),
/// or empty. Anything else is a 400 (RFC 9112 §3.2).
fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b":.vV".contains(&b))
        {
            return false;
        }
        match &rest[end + 1..] {
            [] => (&v[..0], None),
            [b':', port @ ..] => (&v[..0], Some(port)),
            _ => return false,
        }
    } else {
        match v.iter().rposition(|&b| b == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        }
    };
    let reg_name = host
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
    reg_name && port.is_none_or(|p| p.iter().all(u8::is_ascii_digit))
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid version",
    }
}

/// Reports an incomplete head that has already outgrown the limit.
fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    if buf.len() < limits.max_head_bytes {
        return Ok(());
    }
    if !buf[..limits.max_head_bytes].contains(&b'\n') {
        return Err(HttpError {
            status: 414,
            reason: "request line too long",
        });
    }
    Err(HttpError::too_large("header section too large"))
}

/// `HTTP/1.x` with x above 1 is read as HTTP/1.1 (RFC 9110 §2.5: a
/// recipient of a higher minor version treats it as the highest it
/// supports); httparse knows 1.0 and 1.1 only. Returns a copy of `buf` with
/// the minor digit replaced, or `None` if the version is not of that form.
fn as_http11(buf: &[u8], request: bool) -> Option<Vec<u8>> {
    let at = if request {
        let eol = buf.iter().position(|&b| b == b'\n')?;
        let line = buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]);
        line.len().checked_sub(1)?
    } else {
        7
    };
    let version = buf.get(at.checked_sub(7)?..=at)?;
    let higher_minor = version.starts_with(b"HTTP/1.") && (b'2'..=b'9').contains(&version[7]);
    if !higher_minor || (!request && buf.get(8) != Some(&b' ')) {
        return None;
    }
    let mut copy = buf.to_vec();
    copy[at] = b'1';
    Some(copy)
}

/// Whether the request line ends in a well-formed version of another
/// major than 1 (`HTTP/2.0`, `HTTP/3.0`): the grammar holds, the version
/// is not ours, and RFC 9110 §15.6.6 has a status for that, 505 (nginx
/// answers it too; found by the differential run, where the cores said
/// 400).
fn other_major(buf: &[u8]) -> bool {
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let line = buf[..eol].strip_suffix(b"\r").unwrap_or(&buf[..eol]);
    // Method, target, version: a line of any other shape is malformed
    // before its version is (`PO ST / HTTP/2.0` is a 400).
    if line.iter().filter(|&&b| b == b' ').count() != 2 {
        return false;
    }
    match line.len().checked_sub(9).map(|at| &line[at..]) {
        Some([b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && *major != b'1' && minor.is_ascii_digit()
        }
        _ => false,
    }
}

/// A request target in absolute form (RFC 9112 §3.2.2): the authority and
/// the origin-form path to forward, or `None` if it is not an http(s) URI.
/// The path is a slice of the target, or `/` prepended to a bare query
/// (`prefix`), or `/` alone.
fn split_absolute(target: &str) -> Option<(&str, bool, &str)> {
    let after = |scheme: &str| {
        target
            .get(..scheme.len())
            .filter(|p| p.eq_ignore_ascii_case(scheme))
            .map(|_| &target[scheme.len()..])
    };
    let rest = after("http://").or_else(|| after("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    Some(match path.as_bytes().first() {
        Some(b'/') => (authority, false, path),
        Some(b'?') => (authority, true, path),
        _ => (authority, true, ""),
    })
}

impl RequestHead {
    /// Parses a request head from the start of `buf`: `Ok(None)` if more
    /// bytes are needed, else the head and how many bytes it took.
    pub fn parse(buf: &[u8], limits: &Limits) -> Parsed<RequestHead> {
        let mut head = RequestHead::default();
        Ok(head.parse_into(buf, limits)?.map(|used| (head, used)))
    }

    /// [`parse`](Self::parse) into this head's storage, replacing what it
    /// held: `Ok(None)` if more bytes are needed (the head is then
    /// unspecified), else how many bytes the head took.
    pub fn parse_into(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        // Header slots on the stack, uninitialised: no allocation and no
        // zeroing per parse, which runs for every request on every core.
        let mut storage =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let used = match req
            .parse_with_uninit_headers(buf, &mut storage[..limits.max_headers.min(MAX_HEADERS)])
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return check_partial(buf, limits).map(|()| None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::too_large("too many headers"));
            }
            // httparse judges the version as soon as its first bytes
            // arrive; what to make of one it does not know waits for the
            // whole line, however the line was split across reads.
            Err(httparse::Error::Version) if !buf.contains(&b'\n') => {
                return check_partial(buf, limits).map(|()| None);
            }
            Err(httparse::Error::Version) => {
                return match as_http11(buf, true) {
                    Some(copy) => self.parse_into(&copy, limits),
                    None if other_major(buf) => Err(HttpError {
                        status: 505,
                        reason: "HTTP major version not supported",
                    }),
                    None => Err(HttpError::bad_request("invalid version")),
                };
            }
            Err(e) => return Err(HttpError::bad_request(httparse_reason(e))),
        };
        if used > limits.max_head_bytes {
            return Err(HttpError::too_large("header section too large"));
        }
        let version = Version::from_minor(req.version.unwrap_or(1));
        let method = req.method.unwrap_or_default();
        let raw_target = req.path.unwrap_or_default();
        self.fields.load(buf, used, req.headers);
        self.method = Span::within(buf, method.as_bytes());
        self.target = Span::within(buf, raw_target.as_bytes());
        self.version = version;
        let fields = &mut self.fields;
        {
            let mut hosts = fields.values("host");
            let host = hosts.next();
            if hosts.next().is_some() {
                return Err(HttpError::bad_request("duplicate host"));
            }
            match host {
                None if version == Version::Http11 => {
                    return Err(HttpError::bad_request("missing host"));
                }
                Some(h) if !valid_host(trim_ows(h)) => {
                    return Err(HttpError::bad_request("invalid host"));
                }
                _ => {}
            }
        }
        // No form of request target has a fragment (RFC 9112 §3.2): one
        // the engine cut off, or passed on, would be a target the next hop
        // reads otherwise than we routed it.
        if raw_target.contains('#') {
            return Err(HttpError::bad_request("fragment in request target"));
        }
        // A URI is visible ASCII (RFC 3986 §2; RFC 9112 §3.2): raw UTF-8
        // or a control byte in a target is an invalid request line, which
        // a recipient should refuse (§3.2) rather than hand the next hop
        // to decode its own way. HAProxy refuses it; nginx forwards it.
        // Found by the differential run.
        if !raw_target.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HttpError::bad_request("non-ASCII byte in request target"));
        }
        if !(raw_target.starts_with('/') || (raw_target == "*" && method == "OPTIONS")) {
            // Absolute form: the authority replaces Host, for routing and
            // for the next hop (RFC 9112 §3.2.2, §3.2), and the target is
            // forwarded in origin form.
            let (authority, slash, path) = split_absolute(raw_target)
                .ok_or(HttpError::bad_request("unsupported request target"))?;
            if authority.is_empty() || !valid_host(authority.as_bytes()) {
                return Err(HttpError::bad_request(
                    "invalid authority in request target",
                ));
            }
            let authority = Span::within(buf, authority.as_bytes());
            self.target = if slash {
                let start = fields.append(b"/");
                let path = fields.append(path.as_bytes());
                Span {
                    start: start.start,
                    end: path.end,
                }
            } else {
                Span::within(buf, path.as_bytes())
            };
            let host = fields
                .fields
                .iter()
                .position(|(n, _)| n.get(&fields.raw).eq_ignore_ascii_case(b"host"));
            match host {
                Some(i) => fields.fields[i].1 = authority,
                None => {
                    let name = fields.append(b"host");
                    fields.fields.push((name, authority));
                }
            }
        }
        self.framing = fields
            .framing(version)
            .map_err(HttpError::bad_request)?
            .unwrap_or(Framing::Empty);
        fields.read_options().map_err(HttpError::bad_request)?;
        self.keep_alive = fields.keep_alive(version);
        // A 100-continue expectation in an HTTP/1.0 request is ignored
        // (RFC 9110 §10.1.1): no 1xx goes to an HTTP/1.0 client (§15.2).
        self.expect_continue = version == Version::Http11
            && fields
                .values("expect")
                .any(|v| trim_ows(v).eq_ignore_ascii_case(b"100-continue"));
        Ok(Some(used))
    }

    /// Method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.method.text(&self.fields.raw)
    }

    /// Request target to forward, in origin form (e.g. `/a/b?c`): an
    /// absolute-form target has been reduced to its path.
    pub fn target(&self) -> &str {
        self.target.text(&self.fields.raw)
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = Field<'_>> {
        self.fields.iter()
    }

    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields.header(name)
    }

    /// The host of the `Host` header (or of an absolute-form target), as
    /// sent and without its port; compare it case-insensitively. Checked
    /// to be a valid host when parsed.
    pub fn host(&self) -> Option<&str> {
        let host = std::str::from_utf8(trim_ows(self.header("host")?)).ok()?;
        Some(host_part(host))
    }

    /// The path of the target, without the query.
    pub fn path(&self) -> &str {
        let target = self.target();
        target.split_once('?').map_or(target, |(p, _)| p)
    }

    /// Whether `name` must not be forwarded (hop-by-hop, or re-framed).
    pub fn is_hop_by_hop(&self, name: &str) -> bool {
        self.fields.is_hop_by_hop(name)
    }

    /// Headers to forward: everything end-to-end, in order. `Expect` is
    /// answered by the proxy itself, so it is dropped too.
    pub fn end_to_end(&self) -> impl Iterator<Item = Field<'_>> {
        self.headers()
            .filter(|h| !self.is_hop_by_hop(h.name) && !h.is("expect"))
    }

    /// Whether the method never carries a response body (`HEAD`).
    pub fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }

    /// Whether the method is idempotent (RFC 9110 §9.2.2): only such a
    /// request may be sent again after a connection failed under it.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self.method(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }
}

impl ResponseHead {
    /// Parses an upstream response head; failures are 502s.
    /// `head_request` says the request was `HEAD` (no body follows).
    pub fn parse(buf: &[u8], limits: &Limits, head_request: bool) -> Parsed<ResponseHead> {
        let mut head = ResponseHead::default();
        Ok(head
            .parse_into(buf, limits, head_request)?
            .map(|used| (head, used)))
    }

    /// [`parse`](Self::parse) into this head's storage, replacing what it
    /// held, as [`RequestHead::parse_into`] does.
    pub fn parse_into(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        head_request: bool,
    ) -> Result<Option<usize>, HttpError> {
        let mut storage = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() };
            MAX_RESPONSE_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let used = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut res,
            buf,
            &mut storage[..limits.max_headers.min(MAX_RESPONSE_HEADERS)],
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                return if buf.len() >= limits.max_head_bytes {
                    Err(HttpError::bad_gateway("upstream header section too large"))
                } else {
                    Ok(None)
                };
            }
            // A higher minor version's status line is read as 1.1 once
            // the byte after the version has come (see the request side).
            Err(httparse::Error::Version) if buf.len() <= 8 => return Ok(None),
            Err(httparse::Error::Version) if let Some(copy) = as_http11(buf, false) => {
                return self.parse_into(&copy, limits, head_request);
            }
            Err(_) => return Err(HttpError::bad_gateway("malformed upstream response head")),
        };
        let status = res.code.unwrap_or(0);
        // Three digits from 100 to 599 (RFC 9110 §15); `099` is not a
        // status to relay, and would be re-emitted as `99`.
        if !(100..=599).contains(&status) {
            return Err(HttpError::bad_gateway("upstream sent an invalid status"));
        }
        let version = Version::from_minor(res.version.unwrap_or(1));
        self.fields.load(buf, used, res.headers);
        self.reason = Span::within(buf, res.reason.unwrap_or_default().as_bytes());
        self.status = status;
        self.version = version;
        let declared = self.fields.framing(version).map_err(|reason| {
            HttpError::bad_gateway(match reason {
                "duplicate content-length" => "upstream sent duplicate content-length",
                "both content-length and transfer-encoding" => {
                    "upstream sent both content-length and transfer-encoding"
                }
                "invalid content-length" => "upstream sent an invalid content-length",
                _ => "upstream sent an unsupported transfer coding",
            })
        })?;
        let no_body =
            head_request || (100..200).contains(&status) || status == 204 || status == 304;
        self.framing = match declared {
            _ if no_body => Framing::Empty,
            Some(f) => f,
            None => Framing::UntilClose,
        };
        self.fields
            .read_options()
            .map_err(|_| HttpError::bad_gateway("upstream sent an invalid connection option"))?;
        self.keep_alive = self.fields.keep_alive(version) && self.framing != Framing::UntilClose;
        Ok(Some(used))
    }

    /// Reason phrase as sent.
    pub fn reason(&self) -> &str {
        self.reason.text(&self.fields.raw)
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = Field<'_>> {
        self.fields.iter()
    }

    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields.header(name)
    }

    /// Whether `name` must not be forwarded.
    pub fn is_hop_by_hop(&self, name: &str) -> bool {
        self.fields.is_hop_by_hop(name)
    }

    /// Headers to forward, in order.
    pub fn end_to_end(&self) -> impl Iterator<Item = Field<'_>> {
        self.headers().filter(|h| !self.is_hop_by_hop(h.name))
    }

    /// Whether this is an interim (1xx) response that another will follow.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Whether the length it announces is that of a body it does not
    /// carry (a HEAD answer or a 304), so `Content-Length` passes on as
    /// sent; a 1xx or 204 never carries one (RFC 9110 §8.6).
    pub fn announces_length(&self) -> bool {
        self.framing == Framing::Empty && self.status != 204 && self.status >= 200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Result<Option<(RequestHead, usize)>, HttpError> {
        RequestHead::parse(text.as_bytes(), &Limits::default())
    }

    fn status_of(text: &str) -> u16 {
        match req(text) {
            Err(e) => e.status,
            Ok(Some(_)) => 200,
            Ok(None) => 0,
        }
    }

    #[test]
    fn parses_a_request_and_knows_where_it_ends() {
        let text = "GET /a/b?c=1 HTTP/1.1\r\nHost: Example.com:8080\r\nX-A:  v \r\n\r\nNEXT";
        let (head, used) = req(text).unwrap().unwrap();
        assert_eq!(used, text.len() - 4);
        assert_eq!(
            (head.method(), head.target(), head.path()),
            ("GET", "/a/b?c=1", "/a/b")
        );
        assert_eq!(head.host(), Some("Example.com"));
        assert_eq!(head.header("x-a"), Some(&b"v"[..]));
        assert_eq!(head.framing, Framing::Empty);
        assert!(head.keep_alive);
        assert_eq!(req("GET / HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let ka = |t: &str| req(t).unwrap().unwrap().0.keep_alive;
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo\r\n\r\n"));
    }

    #[test]
    fn hop_by_hop_headers_are_not_end_to_end() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nExpect: 100-continue\r\nX-Keep: 2\r\n\r\n";
        let (head, _) = req(text).unwrap().unwrap();
        let names: Vec<_> = head.end_to_end().map(|h| h.name).collect();
        assert_eq!(names, ["Host", "X-Keep"]);
        assert!(head.expect_continue);
    }

    #[test]
    fn framing_is_decided_or_refused() {
        let f = |t: &str| req(t).unwrap().unwrap().0.framing;
        assert_eq!(
            f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"),
            Framing::Length(12)
        );
        assert_eq!(
            f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Framing::Chunked
        );
        let refused = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: foo\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for text in refused {
            assert_eq!(status_of(text), 400, "{text:?}");
        }
    }

    #[test]
    fn host_rules_and_malformed_heads_are_400() {
        for text in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            "GET / HTTP/9\r\nHost: a\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(status_of(text), 400, "{text:?}");
        }
        assert_eq!(
            status_of("GET / HTTP/1.0\r\n\r\n"),
            200,
            "HTTP/1.0 needs no Host"
        );
    }

    #[test]
    fn limits_give_414_and_431_and_just_under_passes() {
        let limits = Limits::default();
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(limits.max_head_bytes));
        assert_eq!(status_of(&long_target), 414);
        let big_header = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n",
            "b".repeat(limits.max_head_bytes)
        );
        assert_eq!(status_of(&big_header), 431);
        let many: String = (0..=limits.max_headers)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect();
        assert_eq!(
            status_of(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            431
        );
        // A head exactly at the limit is accepted.
        let base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
        let fits = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "c".repeat(limits.max_head_bytes - base)
        );
        assert_eq!(fits.len(), limits.max_head_bytes);
        assert_eq!(status_of(&fits), 200);
    }

    #[test]
    fn response_framing_and_upstream_errors() {
        let res = |t: &str, head: bool| ResponseHead::parse(t.as_bytes(), &Limits::default(), head);
        let f = |t: &str, head: bool| res(t, head).unwrap().unwrap().0.framing;
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
            Framing::Length(3)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
            Framing::Empty
        );
        assert_eq!(f("HTTP/1.1 204 No Content\r\n\r\n", false), Framing::Empty);
        assert_eq!(
            f(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false
            ),
            Framing::Empty
        );
        let (close, _) = res("HTTP/1.1 200 OK\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(
            (close.framing, close.keep_alive),
            (Framing::UntilClose, false)
        );
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert_eq!(res(bad, false).unwrap_err().status, 502, "{bad:?}");
        }
    }

    #[test]
    fn forwarded_heads_keep_end_to_end_headers_byte_exact() {
        let text = "POST /x HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: Va lue\t!\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\nContent-Length: 4\r\n\r\n";
        let (head, _) = req(text).unwrap().unwrap();
        let mut out = Vec::new();
        let upstream = "127.0.0.1:9".parse().unwrap();
        crate::write::request_head(
            &mut out,
            &head,
            &["x-mixed-case".into()],
            &[Header::new("x-added", "1")],
            upstream,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /x HTTP/1.1\r\nHost: a\r\nx-added: 1\r\ncontent-length: 4\r\n\r\n"
        );
        let mut out = Vec::new();
        crate::write::request_head(&mut out, &head, &[], &[], upstream);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\r\nX-Mixed-Case: Va lue\t!\r\n")
        );
    }

    #[test]
    fn whitespace_is_sp_and_htab_only() {
        // Unicode whitespace around a coding, an option or a host is part
        // of the value, never trimmed away.
        for text in [
            &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xC2\xA0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xE3\x80\x80chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xC2\x85\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\xC2\xA0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\xC2\xA0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
        ] {
            let e = RequestHead::parse(text, &Limits::default()).unwrap_err();
            assert_eq!(e.status, 400, "{:?}", String::from_utf8_lossy(text));
        }
        let f = |t: &str| req(t).unwrap().unwrap().0.framing;
        // Empty list elements are ignored (RFC 9110 §5.6.1); SP/HTAB are OWS.
        for te in ["chunked,", ", chunked", " ,\tchunked ,"] {
            let text = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(f(&text), Framing::Chunked, "{te:?}");
        }
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n"),
            400
        );
        let (head, _) =
            req("GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: host, x-a\r\nX-A: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.host(), Some("[::1]"));
        let names: Vec<_> = head.end_to_end().map(|h| h.name).collect();
        assert_eq!(names, ["Host"], "Connection may not remove Host");
    }

    #[test]
    fn absolute_form_and_higher_minor_versions() {
        let (head, _) = req("GET HTTP://Other.Example:8080?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.target(), "/?q=1");
        assert_eq!(head.header("host"), Some(&b"Other.Example:8080"[..]));
        assert_eq!(head.host(), Some("Other.Example"));
        let (head, _) = req("GET http://b/x HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(
            (head.target(), head.header("host")),
            ("/x", Some(&b"b"[..]))
        );
        for bad in [
            "GET ftp://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://u@b/x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
            // Found by the request_head fuzz target: forwarded as `/`.
            "GET http://b#x/g HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET x HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(status_of(bad), 400, "{bad:?}");
        }
        assert_eq!(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        let (head, used) = req("GET / HTTP/1.2\r\nHost: a\r\n\r\nX").unwrap().unwrap();
        assert_eq!((head.version, used), (Version::Http11, 27));
        assert_eq!(req("GET / HTTP/1.2\r\nHost: a\r\n").unwrap(), None);
        // Another major version is 505; a version that is not one, 400.
        assert_eq!(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status_of("GET / HTTP/2\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/22.0\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status_of("PO ST / HTTP/2.0\r\nHost: a\r\n\r\n"), 400);
        let res = |t: &str| ResponseHead::parse(t.as_bytes(), &Limits::default(), false);
        assert_eq!(res("HTTP/1.2").unwrap(), None);
        assert_eq!(res("HTTP/1.2 200 OK\r\n").unwrap(), None);
        assert!(res("HTTP/2.0 200 OK\r\n\r\n").is_err());
        // However the line is split, the same answer: more bytes first.
        for cut in [
            "GET / HTTP/2",
            "GET / HTTP/2.0",
            "GET / HTTP/1.2",
            "GET / HTTP/1.2\r",
        ] {
            assert_eq!(req(cut).unwrap(), None, "{cut:?}");
        }
        assert_eq!(status_of("GET /a b HTTP/2.0\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status_of("GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        // An HTTP/1.0 client's Expect is ignored: no 100 goes to it.
        let (head, _) = req("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.expect_continue);
        let (head, _) =
            req("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(head.expect_continue);
        let res = |t: &str| ResponseHead::parse(t.as_bytes(), &Limits::default(), false);
        assert_eq!(
            res("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .unwrap()
                .0
                .status,
            200
        );
        for bad in ["HTTP/1.1 099 Odd\r\n\r\n", "HTTP/1.1 600 Odd\r\n\r\n"] {
            assert_eq!(res(bad).unwrap_err().status, 502, "{bad:?}");
        }
    }

    #[test]
    fn a_head_parsed_into_reused_storage_equals_a_fresh_parse() {
        // Longer and shorter heads, absolute form (a rewritten target and
        // Host), Connection options and a response, one storage each: no
        // span of an earlier head survives into a later one.
        let requests = [
            "GET http://Other.Example:8080?q=1 HTTP/1.1\r\nHost: a\r\nX-Long-Header-Name: a long value here\r\nConnection: x-a, close\r\nX-A: 1\r\n\r\n",
            "POST /p HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc",
            "GET http://c HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.2\r\nHost: d\r\n\r\n",
        ];
        let mut reused = RequestHead::default();
        for _ in 0..2 {
            for text in requests {
                let used = reused
                    .parse_into(text.as_bytes(), &Limits::default())
                    .unwrap()
                    .unwrap();
                let (fresh, fresh_used) = req(text).unwrap().unwrap();
                assert_eq!(
                    (reused.method(), reused.target()),
                    (fresh.method(), fresh.target())
                );
                assert!(reused.headers().eq(fresh.headers()), "{text:?}");
                assert!(reused.end_to_end().eq(fresh.end_to_end()), "{text:?}");
                assert_eq!(
                    (reused.framing, reused.keep_alive, reused.version, used),
                    (fresh.framing, fresh.keep_alive, fresh.version, fresh_used)
                );
            }
        }
        let mut res = ResponseHead::default();
        for text in [
            "HTTP/1.1 404 Not Found Here\r\nX-A: 1\r\nConnection: x-a\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            res.parse_into(text.as_bytes(), &Limits::default(), false)
                .unwrap()
                .unwrap();
            let (fresh, _) = ResponseHead::parse(text.as_bytes(), &Limits::default(), false)
                .unwrap()
                .unwrap();
            assert_eq!((res.status, res.reason()), (fresh.status, fresh.reason()));
            assert!(res.end_to_end().eq(fresh.end_to_end()), "{text:?}");
            assert_eq!(
                (res.framing, res.keep_alive),
                (fresh.framing, fresh.keep_alive)
            );
        }
        assert_eq!(res.reason(), "OK");
        assert_eq!(res.header("x-a"), None);
    }

    #[test]
    fn only_idempotent_methods_may_be_retried() {
        let method = |m: &str| {
            req(&format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n"))
                .unwrap()
                .unwrap()
                .0
                .is_idempotent()
        };
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"] {
            assert!(method(m), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT-LIKE"] {
            assert!(!method(m), "{m}");
        }
    }
}
