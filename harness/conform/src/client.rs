//! A raw HTTP/1.1 client for the cases: it sends exactly the bytes a case
//! gives it and reads responses with the judge's own parser (`pb-wire`,
//! not the cores' codec), so a case can see status, headers, body and
//! whether the connection was closed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pb_wire::{BodyReader, parse_response};

/// A response as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status; 0 when the connection closed (or timed out) before a head.
    pub status: u16,
    /// The head as text.
    pub head: String,
    /// The payload (chunk framing removed).
    pub body: Vec<u8>,
    /// The body ended cleanly (not cut short by a close).
    pub complete: bool,
}

impl Response {
    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One client connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects with a read timeout of `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Changes how long a read waits before the peer counts as silent.
    pub fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Reads raw bytes until `done` holds over everything pending, or the
    /// peer closes or goes silent; whether `done` held.
    pub fn fill_until(&mut self, done: impl Fn(&[u8]) -> bool) -> bool {
        while !done(&self.buf) {
            if self.fill() == 0 {
                return done(&self.buf);
            }
        }
        true
    }

    /// Sends bytes; a failure is reported, not panicked on.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Reads more; 0 on close, timeout or error (signals are retried).
    pub fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return n;
                }
                // Signals (SIGCHLD from the processes the suite starts)
                // interrupt blocking reads; that is not the peer's doing.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return 0,
            }
        }
    }

    /// Bytes received and not yet read as a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes `n` pending bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n.min(self.buf.len())).collect()
    }

    /// Reads one response (interim 1xx included when `interim`).
    pub fn response_with(&mut self, head_request: bool, interim: bool) -> Response {
        let unreadable = |buf: &[u8]| Response {
            status: 0,
            head: String::from_utf8_lossy(buf).into_owned(),
            body: Vec::new(),
            complete: false,
        };
        let (head, used) = loop {
            match parse_response(&self.buf, head_request) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(_) => return unreadable(&self.buf),
            }
            if self.fill() == 0 {
                return unreadable(&self.buf);
            }
        };
        let text = String::from_utf8_lossy(&self.buf[..used]).into_owned();
        self.buf.drain(..used);
        let is_interim = (100..200).contains(&head.status) && head.status != 101;
        if is_interim && !interim {
            return self.response_with(head_request, interim);
        }
        let mut reader = BodyReader::new(head.body);
        let mut body = Vec::new();
        let mut complete = reader.is_done();
        while !complete {
            let Ok(used) = reader.read(&self.buf, |p| body.extend_from_slice(p)) else {
                break;
            };
            self.buf.drain(..used);
            if reader.is_done() {
                complete = true;
                break;
            }
            if self.fill() == 0 {
                complete = reader.at_close().is_ok();
                break;
            }
        }
        Response {
            status: head.status,
            head: text,
            body,
            complete,
        }
    }

    /// Reads one final response.
    pub fn response(&mut self) -> Response {
        self.response_with(false, false)
    }

    /// `GET target` with `Host: x`.
    pub fn get(&mut self, target: &str) -> Response {
        self.get_from(target, "x")
    }

    /// `GET target` with the given `Host`.
    pub fn get_from(&mut self, target: &str, host: &str) -> Response {
        if self
            .send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .is_err()
        {
            return Response {
                status: 0,
                head: String::new(),
                body: Vec::new(),
                complete: false,
            };
        }
        self.response()
    }

    /// Whether the peer has closed: nothing pending and EOF (or a timeout).
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }
}
