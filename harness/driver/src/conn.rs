//! One connection's loop, closed or open.
//!
//! Reads and writes are raced in one task (`select!` on the two halves of
//! the socket), so a pipeline of large messages cannot deadlock against a
//! server that is itself blocked writing replies we have not read yet.
//!
//! Every request carries two instants: when it was *due* (open loop: its
//! slot in the fixed schedule; closed loop: when it was sent) and when it
//! was *sent*. Latency from the first is corrected for coordinated
//! omission, from the second it is not; both are recorded.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::pin;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use crate::pace::Pacer;
use crate::spec::LoadSpec;
use crate::wire::{Reader, Wire};

/// The instants every connection of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Load starts (warm-up begins).
    pub start: Instant,
    /// Measured window opens.
    pub window_start: Instant,
    /// Measured window closes; no request is due after it.
    pub window_end: Instant,
    /// Outstanding requests are abandoned (and counted) at this instant.
    pub hard_stop: Instant,
}

/// What the connections of one driver thread record. Requests count when
/// they were due inside the window, wherever they completed.
#[derive(Debug)]
pub struct ThreadStats {
    /// Latency from the due time, ns (coordinated-omission corrected).
    pub histogram: Histogram<u64>,
    /// Latency from the actual send time, ns.
    pub uncorrected: Histogram<u64>,
    /// Corrected latency per interval of the window, by completion time.
    pub intervals: Vec<Histogram<u64>>,
    /// Intact replies to requests due inside the window.
    pub requests: u64,
    /// Requests due inside the window that went out more than
    /// `late_after` late while the connection could have sent them: the
    /// driver fell behind its schedule.
    pub late_driver: u64,
    /// Late requests that waited for a full connection (replies or writes
    /// pending): the target pushed back.
    pub late_blocked: u64,
    /// Largest send lag seen inside the window.
    pub max_lag: Duration,
    /// Failures by kind, over the whole run (warm-up included: a wrong
    /// byte is wrong whenever it arrives).
    pub errors: BTreeMap<&'static str, u64>,
    /// Corrected latency and intact replies per latency class of the
    /// workload ([`crate::spec::Workload::classes`]); empty when it has
    /// none.
    pub classes: Vec<(Histogram<u64>, u64)>,
    /// Replies per interval per expected origin (the workload's
    /// `origins`), by completion time; empty when origins are not checked.
    pub origins: Vec<Vec<u64>>,
    /// The books over the whole run, warm-up and drain included: every
    /// request put on the wire ...
    pub sent: u64,
    /// ... came back intact ...
    pub answered: u64,
    /// ... or failed, counted under one of `errors`' kinds (each request
    /// in flight when its connection failed counts once).
    pub failed: u64,
}

impl ThreadStats {
    /// Empty statistics for a window cut into `intervals` pieces,
    /// `classes` latency classes and `origins` expected origins.
    pub fn new(intervals: usize, classes: usize, origins: usize) -> ThreadStats {
        ThreadStats {
            histogram: pb_results::hist::new_histogram(),
            uncorrected: pb_results::hist::new_histogram(),
            intervals: (0..intervals.max(1))
                .map(|_| pb_results::hist::new_histogram())
                .collect(),
            requests: 0,
            late_driver: 0,
            late_blocked: 0,
            max_lag: Duration::ZERO,
            errors: BTreeMap::new(),
            classes: (0..classes)
                .map(|_| (pb_results::hist::new_histogram(), 0))
                .collect(),
            origins: if origins > 0 {
                vec![vec![0; origins]; intervals.max(1)]
            } else {
                Vec::new()
            },
            sent: 0,
            answered: 0,
            failed: 0,
        }
    }

    fn error(&mut self, kind: &'static str) {
        self.error_n(kind, 1);
    }

    fn error_n(&mut self, kind: &'static str, n: u64) {
        if n > 0 {
            *self.errors.entry(kind).or_default() += n;
        }
    }
}

/// A request on the wire.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// Its slot in the schedule; decides which window it belongs to.
    due: Instant,
    /// When it actually went out.
    sent: Instant,
    /// What corrected latency is measured from: the due time, except when
    /// the driver's own timer alone made it up to `late_after` late (see
    /// [`LoadSpec::late_after`]); then the send time, so the driver's
    /// pacing jitter is not charged to the target.
    from: Instant,
}

/// When a connection's next request is due.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// As soon as a slot is free.
    Closed,
    /// At `next`, then every `every`.
    Open { next: Instant, every: Duration },
}

/// Runs connection `id` until its last request is due, reconnecting after
/// failures (each counted), then drains what is outstanding.
pub async fn connection_loop(
    id: u64,
    spec: &LoadSpec,
    schedule: &Schedule,
    stats: &RefCell<ThreadStats>,
    pacer: &Pacer,
) {
    let wire = Wire::new(id, &spec.workload);
    let mut buf = vec![0u8; wire.read_buffer()];
    let connections = spec.mode.connections() as f64;
    // Spread the connections' schedules evenly over one period.
    let mut pace = match spec.mode.per_connection_interval() {
        None => Pace::Closed,
        Some(every) => Pace::Open {
            next: schedule.start + every.mul_f64(id as f64 / connections),
            every,
        },
    };
    sleep_until(schedule.start).await;
    while pace.more_due(Instant::now(), schedule) {
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
        let mut conn = Conn {
            spec,
            schedule,
            stats,
            wire: &wire,
            pace: &mut pace,
            pacer,
        };
        let mut sent = VecDeque::with_capacity(spec.mode.max_in_flight());
        let outcome = conn.drive(stream, &mut buf, &mut sent).await;
        match outcome {
            Ok(Next::Finished) => break,
            Ok(Next::Reconnect) => {}
            Err(kind) => {
                // Every request the connection still carried is lost with
                // it, and counted: none vanishes from the books. A failure
                // with none in flight (a reset while idle) is still seen.
                let lost = sent.len() as u64;
                let mut stats = stats.borrow_mut();
                stats.error_n(kind, lost.max(1));
                stats.failed += lost;
            }
        }
    }
    // Open loop: slots that passed while no connection could carry them
    // were never sent; they are failures, not silence.
    if let Pace::Open { next, every } = pace
        && next < schedule.window_end
    {
        let missed = (schedule.window_end - next).as_secs_f64() / every.as_secs_f64();
        stats.borrow_mut().error_n("not sent", missed.ceil() as u64);
    }
}

impl Pace {
    /// Whether another request will be due before the window closes.
    fn more_due(&self, now: Instant, schedule: &Schedule) -> bool {
        match *self {
            Pace::Closed => now < schedule.window_end,
            Pace::Open { next, .. } => next < schedule.window_end && now < schedule.hard_stop,
        }
    }
}

/// How a connection's drive ended well.
enum Next {
    /// Nothing more is due.
    Finished,
    /// Open a new connection for the next request.
    Reconnect,
}

struct Conn<'a> {
    spec: &'a LoadSpec,
    schedule: &'a Schedule,
    stats: &'a RefCell<ThreadStats>,
    wire: &'a Wire,
    pace: &'a mut Pace,
    /// Open-loop slots are waited for on the thread's sub-millisecond
    /// timer, not tokio's millisecond one (see [`crate::pace`]).
    pacer: &'a Pacer,
}

impl Conn<'_> {
    /// Drives one connection; `sent` holds the requests on the wire, so
    /// the caller knows how many a failure took with it.
    async fn drive(
        &mut self,
        mut stream: TcpStream,
        buf: &mut [u8],
        sent: &mut VecDeque<InFlight>,
    ) -> Result<Next, &'static str> {
        let max_in_flight = self.spec.mode.max_in_flight();
        let schedule = *self.schedule;
        let (mut rd, mut wr) = stream.split();
        let mut reader = self.wire.reader();
        let one_per_connection = self.wire.one_per_connection();
        let mut started = 0u64;
        let mut next_seq = 0u64;
        // The message being written and how much of it is out.
        let mut writing: Option<(u64, usize)> = None;
        let mut last_progress = Instant::now();
        // When this connection last became able to send (a slot or the
        // socket freed up): tells driver lag from target push-back.
        let mut free_since = last_progress;
        // Lazily re-armed: fires at most once per timeout period and is
        // then pushed forward if replies kept arriving.
        let mut watchdog = pin!(sleep_until(
            (last_progress + self.spec.response_timeout).min(schedule.hard_stop)
        ));
        let mut pacer = self.pacer.sleep_until(schedule.start);
        let mut pacer_at = schedule.start;
        loop {
            let now = Instant::now();
            let can_send = writing.is_none() && sent.len() < max_in_flight;
            // A request due inside the window may go out late (its latency
            // then counts from its due time) until the hard stop; whatever
            // is still unsent then is counted as not sent.
            let due = match *self.pace {
                Pace::Closed => (now < schedule.window_end).then_some(now),
                Pace::Open { next, .. } => {
                    (next < schedule.window_end && now < schedule.hard_stop).then_some(next)
                }
            };
            let can_send = can_send && !(one_per_connection && started == 1);
            if can_send && let Some(due) = due.filter(|&d| d <= now) {
                started += 1;
                if sent.is_empty() {
                    last_progress = now;
                }
                let from = self.note_lag(due, now, free_since);
                sent.push_back(InFlight {
                    due,
                    sent: now,
                    from,
                });
                self.stats.borrow_mut().sent += 1;
                writing = Some((next_seq, 0));
                next_seq += 1;
                if let Pace::Open { next, every } = self.pace {
                    *next += *every;
                }
                continue;
            }
            if writing.is_none() && sent.is_empty() && due.is_none() {
                return Ok(Next::Finished);
            }
            if one_per_connection && started == 1 && writing.is_none() && sent.is_empty() {
                return Ok(Next::Reconnect);
            }
            let wait_for_pace = can_send && due.is_some();
            if wait_for_pace
                && let Some(due) = due
                && due != pacer_at
            {
                pacer.reset(due);
                pacer_at = due;
            }
            tokio::select! {
                biased;
                read = rd.read(buf) => {
                    let n = read.map_err(io_error_kind)?;
                    let done = Instant::now();
                    if n == 0 {
                        // A close may end a close-delimited reply.
                        let mut verdict = None;
                        if reader.on_close(|v| verdict = Some(v)) {
                            self.record(verdict.expect("on_close reports"), sent, done);
                        }
                        return if sent.is_empty() && writing.is_none() {
                            Ok(Next::Reconnect)
                        } else {
                            Err("eof before reply")
                        };
                    }
                    last_progress = done;
                    let was_full = sent.len() >= max_in_flight;
                    self.complete(&mut reader, &buf[..n], sent, done)?;
                    if was_full && sent.len() < max_in_flight {
                        free_since = done;
                    }
                }
                written = async {
                    let (seq, offset) = writing.expect("guarded by the branch condition");
                    wr.write(&self.wire.request(seq)[offset..]).await
                }, if writing.is_some() => {
                    let n = written.map_err(io_error_kind)?;
                    if n == 0 {
                        return Err("write closed");
                    }
                    if let Some((seq, offset)) = writing {
                        writing = (offset + n < self.wire.request(seq).len()).then_some((seq, offset + n));
                        if writing.is_none() {
                            free_since = Instant::now();
                        }
                    }
                }
                () = &mut pacer, if wait_for_pace => {}
                () = &mut watchdog => {
                    let now = Instant::now();
                    let outstanding = writing.is_some() || !sent.is_empty();
                    if now >= schedule.hard_stop && outstanding {
                        return Err("unanswered at stop");
                    }
                    if outstanding && now - last_progress >= self.spec.response_timeout {
                        return Err("timeout");
                    }
                    let next = if outstanding { last_progress } else { now };
                    watchdog
                        .as_mut()
                        .reset((next + self.spec.response_timeout).min(schedule.hard_stop));
                }
            }
        }
    }

    /// Classifies a send's lag and returns the instant its corrected
    /// latency counts from. Late sends inside the window are counted:
    /// blocked (the connection was full when the request fell due: the
    /// target's doing, always measured from the due time) or driver lag
    /// (the connection was free: beyond `late_after` the driver fell
    /// behind; within it, the timer's resolution, measured from the send).
    fn note_lag(&self, due: Instant, now: Instant, free_since: Instant) -> Instant {
        let lag = now - due;
        let blocked = free_since > due;
        let from = if blocked || lag > self.spec.late_after {
            due
        } else {
            now
        };
        let in_window = due >= self.schedule.window_start && due < self.schedule.window_end;
        if in_window && lag > self.spec.late_after {
            let mut stats = self.stats.borrow_mut();
            stats.max_lag = stats.max_lag.max(lag);
            if blocked {
                stats.late_blocked += 1;
            } else {
                stats.late_driver += 1;
            }
        }
        from
    }

    /// Verifies received bytes and records every request they complete.
    fn complete(
        &self,
        reader: &mut Reader,
        data: &[u8],
        sent: &mut VecDeque<InFlight>,
        done: Instant,
    ) -> Result<(), &'static str> {
        let outstanding = sent.len();
        // Recorded as the reader finds them: no list per read.
        reader.feed(self.wire, data, outstanding, |verdict| {
            self.record(verdict, sent, done);
        })
    }

    /// Records the oldest outstanding request as completed at `done`.
    fn record(&self, verdict: crate::http::Verdict, sent: &mut VecDeque<InFlight>, done: Instant) {
        let schedule = self.schedule;
        let request = sent.pop_front().expect("readers bound completions");
        let mut stats = self.stats.borrow_mut();
        let stats = &mut *stats;
        let origin = match verdict {
            Ok(origin) => {
                stats.answered += 1;
                origin
            }
            Err(kind) => {
                stats.error(kind);
                stats.failed += 1;
                return;
            }
        };
        if request.due < schedule.window_start || request.due >= schedule.window_end {
            return;
        }
        let clamp = |d: Duration| {
            (d.as_nanos()
                .min(u128::from(pb_results::hist::MAX_LATENCY_NS)) as u64)
                .max(1)
        };
        let interval_ns = self.spec.interval.as_nanos().max(1);
        let last_interval = stats.intervals.len() - 1;
        let slot = ((done
            .saturating_duration_since(schedule.window_start)
            .as_nanos()
            / interval_ns) as usize)
            .min(last_interval);
        let corrected = clamp(done - request.from);
        stats.histogram.saturating_record(corrected);
        stats
            .uncorrected
            .saturating_record(clamp(done - request.sent));
        stats.intervals[slot].saturating_record(corrected);
        stats.requests += 1;
        if let Some(origin) = origin
            && let Some(count) = stats.origins.get_mut(slot).and_then(|o| o.get_mut(origin))
        {
            *count += 1;
        }
        if let Some((histogram, requests)) = stats.classes.get_mut(self.wire.class()) {
            histogram.saturating_record(corrected);
            *requests += 1;
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
