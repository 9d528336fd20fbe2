//! Connections that misbehave beside the measured ones: each opens a
//! connection to the target, does one act — gives up mid-head, mid-body or
//! mid-response, or completes a request whose reply is verified like the
//! measured ones' — and closes, with a FIN or a reset, at random; then
//! the next. What a core must survive while it keeps serving its
//! well-behaved clients without a wrong byte.
//!
//! Saboteurs run on threads of their own with blocking sockets, apart
//! from the measured connections' loop, so they cost that loop nothing;
//! their own latency is not measured, only what they did, by act.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http::{HttpReader, HttpWorkload, Method};

/// One saboteur's act on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Act {
    /// Sends part of a request head, then closes.
    MidHead,
    /// Sends a POST head and part of its body, then closes.
    MidBody,
    /// Sends a whole GET for a large body, reads part of the reply, then
    /// closes (a close with the rest unread resets, whatever was drawn).
    MidResponse,
    /// Sends a whole GET and reads its whole reply, verified.
    Whole,
}

impl Act {
    /// Every act, in the order a draw picks them.
    pub const ALL: [Act; 4] = [Act::MidHead, Act::MidBody, Act::MidResponse, Act::Whole];

    /// The act's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Act::MidHead => "aborted mid-head",
            Act::MidBody => "aborted mid-body",
            Act::MidResponse => "aborted mid-response",
            Act::Whole => "completed",
        }
    }
}

/// What the saboteurs did, by act, and what went wrong for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SabotageReport {
    /// Acts done, by [`Act::name`].
    pub acts: BTreeMap<&'static str, u64>,
    /// Connections closed with a reset rather than a FIN.
    pub resets: u64,
    /// A completed act's reply that was wrong (status, framing, bytes),
    /// by the verifier's kind: must stay empty.
    pub wrong: BTreeMap<&'static str, u64>,
    /// Acts the target refused or broke off first (connect refused,
    /// reset before the act was done, a 502 for an origin that broke),
    /// by kind: counted, not wrong.
    pub cut_short: BTreeMap<&'static str, u64>,
}

/// Saboteurs running against one target until stopped.
pub struct Saboteurs {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<SabotageReport>>,
}

/// Size of the bodies saboteurs ask for and send: large enough that a
/// reply or a request is cut in the middle, not between segments only.
const BODY: usize = 64 * 1024;

/// A pause between acts, so saboteurs pressure the target's error paths
/// without starving its well-behaved clients of CPU.
const PAUSE: Duration = Duration::from_millis(2);

impl Drop for Saboteurs {
    /// Saboteurs never outlive their owner, even one that panicked before
    /// [`Saboteurs::stop`]: each ends after its current act.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Saboteurs {
    /// Starts `connections` saboteurs against `target`, their draws
    /// seeded by `seed` (one stream per saboteur).
    pub fn start(target: SocketAddr, connections: usize, seed: u64) -> Saboteurs {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..connections as u64)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let mut draws =
                    fastrand::Rng::with_seed(seed ^ (i + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                std::thread::spawn(move || {
                    let mut report = SabotageReport::default();
                    while !stop.load(Ordering::Relaxed) {
                        let act = Act::ALL[draws.usize(..Act::ALL.len())];
                        act_once(target, act, &mut draws, &mut report);
                        std::thread::sleep(PAUSE);
                    }
                    report
                })
            })
            .collect();
        Saboteurs { stop, threads }
    }

    /// Stops every saboteur after its current act and adds up what they did.
    pub fn stop(mut self) -> SabotageReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = SabotageReport::default();
        for thread in std::mem::take(&mut self.threads) {
            let Ok(r) = thread.join() else { continue };
            for (k, n) in r.acts {
                *total.acts.entry(k).or_default() += n;
            }
            for (k, n) in r.wrong {
                *total.wrong.entry(k).or_default() += n;
            }
            for (k, n) in r.cut_short {
                *total.cut_short.entry(k).or_default() += n;
            }
            total.resets += r.resets;
        }
        total
    }
}

/// One act on a fresh connection.
fn act_once(target: SocketAddr, act: Act, draws: &mut fastrand::Rng, report: &mut SabotageReport) {
    let stream = match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
        Ok(s) => s,
        Err(e) => {
            *report.cut_short.entry(kind(&e)).or_default() += 1;
            return;
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_nodelay(true);
    match perform(&stream, act, draws, report) {
        Ok(()) => *report.acts.entry(act.name()).or_default() += 1,
        Err(e) => *report.cut_short.entry(kind(&e)).or_default() += 1,
    }
    if draws.bool() {
        let _ = pb_sys::socket::reset_on_close(&stream);
        report.resets += 1;
    }
}

fn perform(
    mut stream: &TcpStream,
    act: Act,
    draws: &mut fastrand::Rng,
    report: &mut SabotageReport,
) -> io::Result<()> {
    let get = HttpWorkload::get(BODY);
    match act {
        Act::MidHead => {
            let head = get.request_bytes();
            let cut = draws.usize(1..head.len() - 1);
            stream.write_all(&head[..cut])
        }
        Act::MidBody => {
            let post = HttpWorkload {
                method: Method::Post,
                ..get
            }
            .request_bytes();
            let head_len = post.len() - BODY;
            let cut = head_len + draws.usize(1..BODY);
            stream.write_all(&post[..cut])
        }
        Act::MidResponse => {
            stream.write_all(&get.request_bytes())?;
            let mut buf = [0u8; 4096];
            // Some of the reply, never all of it: 64 KiB do not fit in
            // one read of 4 KiB.
            match stream.read(&mut buf)? {
                0 => Err(io::ErrorKind::UnexpectedEof.into()),
                _ => Ok(()),
            }
        }
        Act::Whole => {
            stream.write_all(&get.request_bytes())?;
            let mut reader = HttpReader::new(&get);
            let mut buf = vec![0u8; 16 * 1024];
            let mut verdict = None;
            while verdict.is_none() {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    if !reader.on_close(|v| verdict = Some(v)) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    break;
                }
                if let Err(wrong) = reader.feed(&buf[..n], 1, |v| verdict = Some(v)) {
                    *report.wrong.entry(wrong).or_default() += 1;
                    return Ok(());
                }
            }
            match verdict {
                // An origin that broke before its reply started: the
                // proxy's 502 is the right answer, not a wrong one.
                Some(Err("status 502")) => {
                    *report.cut_short.entry("status 502").or_default() += 1;
                }
                Some(Err(wrong)) => *report.wrong.entry(wrong).or_default() += 1,
                _ => {}
            }
            Ok(())
        }
    }
}

fn kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect refused",
        io::ErrorKind::ConnectionReset => "reset by the target",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::UnexpectedEof => "closed by the target",
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout",
        _ => "io error",
    }
}
