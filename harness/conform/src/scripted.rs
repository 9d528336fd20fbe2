//! A scripted origin for the cases that need an upstream to misbehave in
//! exact ways: send stray bytes on an idle connection, close after reading
//! a request, answer `101`, stall mid-body. It runs in the suite's own
//! process, records every byte each connection received, and reads
//! requests with its own small strict reader, so a framing bug in the code
//! under test cannot hide behind the same bug on this side.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a scripted connection waits for the proxy before giving up;
/// bounds every script.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// What one upstream connection saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnRecord {
    /// Every byte received, in order.
    pub received: Vec<u8>,
    /// The proxy closed (or reset) the connection.
    pub closed_by_peer: bool,
}

type Records = Arc<Mutex<Vec<ConnRecord>>>;
type Script = dyn Fn(&mut OriginConn) + Send + Sync;

/// An origin whose every connection runs `script`; stopped when dropped.
pub struct ScriptedOrigin {
    addr: SocketAddr,
    records: Records,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ScriptedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedOrigin")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ScriptedOrigin {
    /// Listens on a loopback port; each accepted connection runs `script`
    /// on its own thread.
    pub fn start(
        script: impl Fn(&mut OriginConn) + Send + Sync + 'static,
    ) -> Result<ScriptedOrigin, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("nonblocking: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let records: Records = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let acceptor = {
            let (records, stop) = (Arc::clone(&records), Arc::clone(&stop));
            std::thread::spawn(move || accept_loop(&listener, &records, &stop, &script))
        };
        Ok(ScriptedOrigin {
            addr,
            records,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of every connection's record, in accept order.
    pub fn records(&self) -> Vec<ConnRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Everything received on every connection, concatenated.
    pub fn all_received(&self) -> Vec<u8> {
        self.records()
            .into_iter()
            .flat_map(|r| r.received)
            .collect()
    }

    /// Waits up to `limit` for `cond` over the records; whether it held.
    pub fn wait_for(&self, limit: Duration, cond: impl Fn(&[ConnRecord]) -> bool) -> bool {
        let until = Instant::now() + limit;
        loop {
            if cond(&self.records()) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ScriptedOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, records: &Records, stop: &AtomicBool, script: &Arc<Script>) {
    let mut conns: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let Ok(handle) = stream.try_clone() else {
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(IDLE_LIMIT));
                let _ = stream.set_write_timeout(Some(IDLE_LIMIT));
                let _ = stream.set_nodelay(true);
                let index = {
                    let mut r = records.lock().expect("records lock");
                    r.push(ConnRecord::default());
                    r.len() - 1
                };
                let mut conn = OriginConn {
                    stream,
                    buf: Vec::new(),
                    records: Arc::clone(records),
                    index,
                    stop_reading: false,
                };
                let script = Arc::clone(script);
                let thread = std::thread::spawn(move || {
                    script(&mut conn);
                    conn.drain_until_closed(Duration::from_millis(200));
                });
                conns.push((handle, thread));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // Unblock every script still waiting on its socket, then wait for it.
    for (stream, thread) in conns {
        let _ = stream.shutdown(Shutdown::Both);
        let _ = thread.join();
    }
}

/// A request as the scripted origin read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// The head, request line and headers, as received (with the final CRLF CRLF).
    pub head: String,
    /// The body bytes exactly as they came on the wire (chunk framing included).
    pub body_wire: Vec<u8>,
}

impl RawRequest {
    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// The request target.
    pub fn target(&self) -> &str {
        self.line().split(' ').nth(1).unwrap_or("")
    }

    /// The method.
    pub fn method(&self) -> &str {
        self.line().split(' ').next().unwrap_or("")
    }

    /// First value of a header (case-insensitive name, value trimmed of SP/HTAB).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.head, name)
    }
}

/// First value of header `name` in a head's text.
pub fn header_in<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name)
            .then(|| v.trim_matches([' ', '\t']))
    })
}

/// One upstream connection, as a script drives it.
#[derive(Debug)]
pub struct OriginConn {
    stream: TcpStream,
    buf: Vec<u8>,
    records: Records,
    index: usize,
    stop_reading: bool,
}

impl OriginConn {
    /// This connection's position in accept order (0 = the first).
    pub fn index(&self) -> usize {
        self.index
    }

    fn record(&self, f: impl FnOnce(&mut ConnRecord)) {
        if let Ok(mut r) = self.records.lock()
            && let Some(rec) = r.get_mut(self.index)
        {
            f(rec);
        }
    }

    /// Reads once, waiting at most `limit`; false when the peer closed, the
    /// time ran out or the read failed (a close is recorded).
    fn fill_within(&mut self, limit: Duration) -> bool {
        if self.stop_reading {
            return false;
        }
        let _ = self
            .stream
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))));
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.record(|r| r.closed_by_peer = true);
                    self.stop_reading = true;
                    return false;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.record(|r| r.received.extend_from_slice(&chunk[..n]));
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => {
                    self.record(|r| r.closed_by_peer = true);
                    self.stop_reading = true;
                    return false;
                }
            }
        }
    }

    /// The next request (head and body), waiting up to `limit` for each
    /// read; `None` if the proxy closed or went quiet first.
    pub fn read_request_within(&mut self, limit: Duration) -> Option<RawRequest> {
        let head_len = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end + 4;
            }
            if !self.fill_within(limit) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_len]).into_owned();
        self.buf.drain(..head_len);
        let chunked = header_in(&head, "transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        let body_len = if chunked {
            loop {
                match chunked_len(&self.buf) {
                    Ok(Some(n)) => break n,
                    Ok(None) if self.fill_within(limit) => {}
                    _ => return None,
                }
            }
        } else {
            let n: usize = header_in(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while self.buf.len() < n {
                if !self.fill_within(limit) {
                    return None;
                }
            }
            n
        };
        let body_wire = self.buf.drain(..body_len).collect();
        Some(RawRequest { head, body_wire })
    }

    /// The next request, waiting up to the script limit.
    pub fn read_request(&mut self) -> Option<RawRequest> {
        self.read_request_within(IDLE_LIMIT)
    }

    /// Sends bytes; false if the proxy is gone (that is recorded as a close).
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        match self.stream.write_all(bytes) {
            Ok(()) => true,
            // Blocked past the script limit: the proxy is alive but not reading.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(_) => {
                self.record(|r| r.closed_by_peer = true);
                false
            }
        }
    }

    /// A 200 whose body names the target: `ok:<target>`.
    pub fn send_ok_for(&mut self, req: &RawRequest) -> bool {
        let body = format!("ok:{}", req.target());
        self.send(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    /// Closes both directions now.
    pub fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        self.stop_reading = true;
    }

    /// Waits until the proxy closes its side (recording what comes
    /// meanwhile), at most `limit`.
    pub fn drain_until_closed(&mut self, limit: Duration) {
        let until = Instant::now() + limit;
        while !self.stop_reading {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            self.fill_within(left);
        }
    }

    /// Waits until the proxy closes its side, up to the script limit.
    pub fn wait_for_close(&mut self) {
        self.drain_until_closed(IDLE_LIMIT);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Length of a complete chunked body at the start of `wire` (framing,
/// trailers and the final CRLF included); `Ok(None)` if incomplete.
/// Strict on purpose: hex sizes, CRLF line ends, no size over 2^32.
pub fn chunked_len(wire: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(eol) = find(&wire[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = &wire[at..at + eol];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(b"");
        let size_text = std::str::from_utf8(size_text).map_err(|_| "non-UTF-8 size")?;
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size line {size_text:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailer lines up to an empty line.
            loop {
                let Some(eol) = find(&wire[at..], b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        let size = usize::try_from(size).map_err(|_| "chunk too large")?;
        if wire.len() < at + size + 2 {
            return Ok(None);
        }
        if &wire[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        at += size + 2;
    }
}

/// The chunk-size lines in a chunked wire form, as sent (up to the first
/// incomplete chunk).
pub fn chunk_size_lines(wire: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut at = 0;
    while let Some(eol) = find(&wire[at..], b"\r\n") {
        let line = String::from_utf8_lossy(&wire[at..at + eol]).into_owned();
        at += eol + 2;
        let Ok(size) = usize::from_str_radix(line.split(';').next().unwrap_or(""), 16) else {
            lines.push(line);
            break;
        };
        lines.push(line);
        if size == 0 {
            break;
        }
        at = at.saturating_add(size).saturating_add(2);
        if at > wire.len() {
            break;
        }
    }
    lines
}

/// Sockets in CLOSE_WAIT whose peer is `remote`: connections the peer has
/// closed that this machine still holds open (dead pooled connections).
pub fn close_wait_to(remote: SocketAddr) -> Result<usize, String> {
    let entries = procfs::net::tcp().map_err(|e| format!("/proc/net/tcp: {e}"))?;
    Ok(entries
        .iter()
        .filter(|e| e.remote_address == remote && e.state == procfs::net::TcpState::CloseWait)
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_len_finds_the_end_and_refuses_junk() {
        let wire = b"5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\nNEXT";
        assert_eq!(chunked_len(wire).unwrap(), Some(wire.len() - 4));
        assert_eq!(chunked_len(b"5\r\nhel").unwrap(), None);
        assert!(chunked_len(b"zz\r\n").is_err());
        assert!(chunked_len(b"2\r\nabc\r\n").is_err());
        assert_eq!(
            chunk_size_lines(b"0005;e\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"),
            ["0005;e", "3", "0"]
        );
    }

    #[test]
    fn a_scripted_origin_records_what_it_received() {
        let origin = ScriptedOrigin::start(|conn| {
            while let Some(req) = conn.read_request() {
                if !conn.send_ok_for(&req) {
                    break;
                }
            }
        })
        .unwrap();
        let mut s = TcpStream::connect(origin.addr()).unwrap();
        s.write_all(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok:/p"));
        drop(s);
        assert!(origin.wait_for(Duration::from_secs(2), |r| r.len() == 1
            && r[0].closed_by_peer));
        assert!(origin.all_received().ends_with(b"\r\n\r\nabc"));
    }
}
