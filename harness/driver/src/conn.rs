//! One connection's closed loop.
//!
//! Reads and writes are raced in one task (`select!` on the two halves of
//! the socket), so a pipeline of large messages cannot deadlock against a
//! server that is itself blocked writing replies we have not read yet.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::pin;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use crate::echo::{EchoPattern, EchoVerifier};
use crate::spec::{LoadSpec, WorkMode, Workload};

/// The instants every connection of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Load starts (warm-up begins).
    pub start: Instant,
    /// Measured window opens.
    pub window_start: Instant,
    /// Measured window closes; no request is started after it.
    pub window_end: Instant,
    /// Outstanding requests are abandoned (and counted) at this instant.
    pub hard_stop: Instant,
}

/// What the connections of one driver thread record.
#[derive(Debug)]
pub struct ThreadStats {
    /// Latency of intact replies completed inside the window, ns.
    pub histogram: Histogram<u64>,
    /// Intact replies completed inside the window.
    pub requests: u64,
    /// Failures by kind, over the whole run (warm-up included: a wrong
    /// byte is wrong whenever it arrives).
    pub errors: BTreeMap<&'static str, u64>,
}

impl Default for ThreadStats {
    fn default() -> Self {
        ThreadStats {
            histogram: crate::new_histogram(),
            requests: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl ThreadStats {
    fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

/// Runs connection `id` until the window closes, reconnecting after
/// failures (each counted), then drains what is outstanding.
pub async fn closed_loop(
    id: u64,
    spec: &LoadSpec,
    schedule: &Schedule,
    stats: &RefCell<ThreadStats>,
) {
    let Workload::Echo { message_bytes } = spec.workload;
    let WorkMode::Closed { in_flight, .. } = spec.mode;
    let pattern = EchoPattern::new(id, message_bytes);
    let mut buf = vec![0u8; message_bytes.clamp(4096, 64 * 1024)];
    sleep_until(schedule.start).await;
    while Instant::now() < schedule.window_end {
        let connect = tokio::time::timeout(spec.connect_timeout, TcpStream::connect(spec.target));
        let stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                stats.borrow_mut().error(connect_error_kind(&e));
                // Do not hammer a refusing target; the window bounds retries.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(_) => {
                stats.borrow_mut().error("connect timeout");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match drive(stream, &pattern, in_flight, spec, schedule, stats, &mut buf).await {
            Ok(()) => return,
            Err(kind) => stats.borrow_mut().error(kind),
        }
    }
}

async fn drive(
    mut stream: TcpStream,
    pattern: &EchoPattern,
    in_flight: usize,
    spec: &LoadSpec,
    schedule: &Schedule,
    stats: &RefCell<ThreadStats>,
    buf: &mut [u8],
) -> Result<(), &'static str> {
    let (mut rd, mut wr) = stream.split();
    let mut verifier = EchoVerifier::default();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(in_flight);
    let mut next_seq = 0u64;
    // The message being written and how much of it is out.
    let mut writing: Option<(u64, usize)> = None;
    let mut last_progress = Instant::now();
    // Lazily re-armed: it fires at most once per timeout period and is
    // then pushed forward if replies kept arriving.
    let mut watchdog = pin!(sleep_until(
        (last_progress + spec.response_timeout).min(schedule.hard_stop)
    ));
    loop {
        let now = Instant::now();
        if writing.is_none() && sent.len() < in_flight && now < schedule.window_end {
            writing = Some((next_seq, 0));
            next_seq += 1;
            sent.push_back(now);
        }
        if writing.is_none() && sent.is_empty() {
            return Ok(());
        }
        tokio::select! {
            biased;
            read = rd.read(buf) => {
                let n = read.map_err(io_error_kind)?;
                if n == 0 {
                    return Err("eof before reply");
                }
                let done = Instant::now();
                last_progress = done;
                let in_window = done >= schedule.window_start && done < schedule.window_end;
                let mut stats = stats.borrow_mut();
                verifier
                    .feed(pattern, &buf[..n], sent.len(), |intact| {
                        let started = sent.pop_front().expect("verifier bounds completions");
                        if !intact {
                            stats.error("mismatch");
                        } else if in_window {
                            let ns = (done - started).as_nanos().min(u128::from(crate::MAX_LATENCY_NS)) as u64;
                            stats.histogram.saturating_record(ns.max(1));
                            stats.requests += 1;
                        }
                    })
                    .map_err(|_| "unexpected bytes")?;
            }
            written = async {
                let (seq, offset) = writing.expect("guarded by the branch condition");
                wr.write(&pattern.message(seq)[offset..]).await
            }, if writing.is_some() => {
                let n = written.map_err(io_error_kind)?;
                if n == 0 {
                    return Err("write closed");
                }
                if let Some((seq, offset)) = writing {
                    writing = (offset + n < pattern.size()).then_some((seq, offset + n));
                }
            }
            () = &mut watchdog => {
                let now = Instant::now();
                if now >= schedule.hard_stop {
                    return Err("unanswered at stop");
                }
                if now - last_progress >= spec.response_timeout {
                    return Err("timeout");
                }
                watchdog
                    .as_mut()
                    .reset((last_progress + spec.response_timeout).min(schedule.hard_stop));
            }
        }
    }
}

fn connect_error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect refused",
        io::ErrorKind::TimedOut => "connect timeout",
        _ => "connect failed",
    }
}

fn io_error_kind(e: io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::ConnectionAborted => "aborted",
        _ => "io error",
    }
}
