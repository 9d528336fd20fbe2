//! One connection's loop, closed or open, and its exchange without I/O.
//!
//! [`connection_loop`] connects, reconnects after failures and accounts
//! slots never sent; [`Exchange`] decides which request goes out when and
//! checks and records what comes back; a backend ([`Net`]: `epoll` or
//! `uring`) moves the bytes. Reads and writes are in flight together in
//! both backends, so a pipeline of large messages cannot deadlock against
//! a server that is itself blocked writing replies we have not read yet.
//!
//! Every request carries two instants: when it was *due* (open loop: its
//! slot in the fixed schedule; closed loop: when it was sent) and when it
//! was *sent*. Latency from the first is corrected for coordinated
//! omission, from the second it is not; both are recorded.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

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
pub(crate) struct InFlight {
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
pub(crate) enum Pace {
    /// As soon as a slot is free.
    Closed,
    /// At `next`, then every `every`.
    Open { next: Instant, every: Duration },
}

/// The I/O a connection loop needs from the driver's backend: connecting,
/// pausing, and driving one connection's [`Exchange`] over a socket. The
/// backends ([`crate::spec::Backend`]) differ in nothing else.
pub(crate) trait Net {
    /// A connected socket.
    type Stream;

    /// Connects to `addr` within `timeout`; failures by kind.
    async fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<Self::Stream, ConnectFailed>;

    /// Sleeps until `at` on the runtime's own (millisecond) timer.
    async fn sleep_until(&self, at: Instant);

    /// Runs `exchange` over `stream` until it finishes, wants a new
    /// connection, or fails. `buf` is the connection's read buffer, kept
    /// across reconnections.
    async fn drive(
        &self,
        stream: Self::Stream,
        exchange: &mut Exchange<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<Next, &'static str>;
}

/// Runs connection `id` until its last request is due, reconnecting after
/// failures (each counted), then drains what is outstanding.
pub(crate) async fn connection_loop<N: Net>(
    id: u64,
    spec: &LoadSpec,
    schedule: &Schedule,
    stats: &RefCell<ThreadStats>,
    net: &N,
) {
    let wire = Wire::new(id, &spec.workload);
    let mut buf = Vec::new();
    let connections = spec.mode.connections() as f64;
    // Spread the connections' schedules evenly over one period.
    let mut pace = match spec.mode.per_connection_interval() {
        None => Pace::Closed,
        Some(every) => Pace::Open {
            next: schedule.start + every.mul_f64(id as f64 / connections),
            every,
        },
    };
    net.sleep_until(schedule.start).await;
    while pace.more_due(Instant::now(), schedule) {
        let stream = match net.connect(spec.target, spec.connect_timeout).await {
            Ok(stream) => stream,
            Err(failed) => {
                stats.borrow_mut().error(failed.kind);
                if !failed.waited {
                    // Do not hammer a refusing target; the window bounds retries.
                    net.sleep_until(Instant::now() + Duration::from_millis(10))
                        .await;
                }
                continue;
            }
        };
        let mut exchange = Exchange::new(spec, schedule, stats, &wire, &mut pace);
        let outcome = net.drive(stream, &mut exchange, &mut buf).await;
        match outcome {
            Ok(Next::Finished) => break,
            Ok(Next::Reconnect) => {}
            Err(kind) => {
                // Every request the connection still carried is lost with
                // it, and counted: none vanishes from the books. A failure
                // with none in flight (a reset while idle) is still seen.
                let lost = exchange.sent.len() as u64;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing more is due.
    Finished,
    /// Open a new connection for the next request.
    Reconnect,
}

/// What a connection waits for next ([`Exchange::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The connection is done; close it.
    Done(Next),
    /// Wait for the socket, the watchdog, and (when set) the pacer at
    /// this instant, when the next request falls due.
    Wait(Option<Instant>),
}

/// One connection's exchange, without I/O: which request goes out when,
/// how far its bytes are written, what the replies complete, when the
/// connection has stalled. A backend's drive loop feeds it what the
/// socket did and does what [`Exchange::step`] asks; the measurement is
/// therefore the same whichever I/O model carries the bytes.
pub(crate) struct Exchange<'a> {
    spec: &'a LoadSpec,
    schedule: Schedule,
    stats: &'a RefCell<ThreadStats>,
    wire: &'a Wire,
    pace: &'a mut Pace,
    reader: Reader,
    /// The requests on the wire, oldest first; what a failure takes with it.
    sent: VecDeque<InFlight>,
    max_in_flight: usize,
    one_per_connection: bool,
    started: u64,
    next_seq: u64,
    /// The message being written and how much of it is out.
    writing: Option<(u64, usize)>,
    last_progress: Instant,
    /// When this connection last became able to send (a slot or the
    /// socket freed up): tells driver lag from target push-back.
    free_since: Instant,
}

impl<'a> Exchange<'a> {
    fn new(
        spec: &'a LoadSpec,
        schedule: &Schedule,
        stats: &'a RefCell<ThreadStats>,
        wire: &'a Wire,
        pace: &'a mut Pace,
    ) -> Exchange<'a> {
        let now = Instant::now();
        Exchange {
            spec,
            schedule: *schedule,
            stats,
            wire,
            pace,
            reader: wire.reader(),
            sent: VecDeque::with_capacity(spec.mode.max_in_flight()),
            max_in_flight: spec.mode.max_in_flight(),
            one_per_connection: wire.one_per_connection(),
            started: 0,
            next_seq: 0,
            writing: None,
            last_progress: now,
            free_since: now,
        }
    }

    /// The read buffer size the replies want.
    pub(crate) fn read_buffer(&self) -> usize {
        self.wire.read_buffer()
    }

    /// The run's schedule.
    pub(crate) fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Starts the request that is due, if the connection can take it,
    /// and says what to wait for next.
    pub(crate) fn step(&mut self, now: Instant) -> Step {
        let schedule = self.schedule;
        // A request due inside the window may go out late (its latency
        // then counts from its due time) until the hard stop; whatever
        // is still unsent then is counted as not sent.
        let due = match *self.pace {
            Pace::Closed => (now < schedule.window_end).then_some(now),
            Pace::Open { next, .. } => {
                (next < schedule.window_end && now < schedule.hard_stop).then_some(next)
            }
        };
        let can_send = self.writing.is_none()
            && self.sent.len() < self.max_in_flight
            && !(self.one_per_connection && self.started == 1);
        if can_send && let Some(due) = due.filter(|&d| d <= now) {
            self.started += 1;
            if self.sent.is_empty() {
                self.last_progress = now;
            }
            let from = self.note_lag(due, now, self.free_since);
            self.sent.push_back(InFlight {
                due,
                sent: now,
                from,
            });
            self.stats.borrow_mut().sent += 1;
            self.writing = Some((self.next_seq, 0));
            self.next_seq += 1;
            if let Pace::Open { next, every } = self.pace {
                *next += *every;
            }
            // The write goes out first; nothing else can be due until
            // it has.
            return Step::Wait(None);
        }
        let idle = self.writing.is_none() && self.sent.is_empty();
        if idle && due.is_none() {
            return Step::Done(Next::Finished);
        }
        if idle && self.one_per_connection && self.started == 1 {
            return Step::Done(Next::Reconnect);
        }
        Step::Wait(due.filter(|_| can_send))
    }

    /// The bytes still to write, if a request is being written.
    pub(crate) fn unwritten(&self) -> Option<&'a [u8]> {
        let (seq, offset) = self.writing?;
        let wire: &'a Wire = self.wire;
        Some(&wire.request(seq)[offset..])
    }

    /// `n` more bytes of the current request went out.
    pub(crate) fn written(&mut self, n: usize) -> Result<(), &'static str> {
        if n == 0 {
            return Err("write closed");
        }
        if let Some((seq, offset)) = self.writing {
            self.writing = (offset + n < self.wire.request(seq).len()).then_some((seq, offset + n));
            if self.writing.is_none() {
                self.free_since = Instant::now();
            }
        }
        Ok(())
    }

    /// Bytes arrived at `done`: verifies them and records every request
    /// they complete.
    pub(crate) fn received(&mut self, data: &[u8], done: Instant) -> Result<(), &'static str> {
        self.last_progress = done;
        let was_full = self.sent.len() >= self.max_in_flight;
        let outstanding = self.sent.len();
        let (stats, schedule, spec, wire, sent) = (
            self.stats,
            &self.schedule,
            self.spec,
            self.wire,
            &mut self.sent,
        );
        // Recorded as the reader finds them: no list per read.
        self.reader.feed(wire, data, outstanding, |verdict| {
            record(stats, schedule, spec, wire, verdict, sent, done);
        })?;
        if was_full && self.sent.len() < self.max_in_flight {
            self.free_since = done;
        }
        Ok(())
    }

    /// The peer closed at `done`. A close may end a close-delimited reply;
    /// with nothing outstanding it is an ordinary end of connection.
    pub(crate) fn closed(&mut self, done: Instant) -> Result<Next, &'static str> {
        let mut verdict = None;
        if self.reader.on_close(|v| verdict = Some(v)) {
            record(
                self.stats,
                &self.schedule,
                self.spec,
                self.wire,
                verdict.expect("on_close reports"),
                &mut self.sent,
                done,
            );
        }
        if self.sent.is_empty() && self.writing.is_none() {
            Ok(Next::Reconnect)
        } else {
            Err("eof before reply")
        }
    }

    /// When the watchdog should next look at this connection.
    pub(crate) fn watchdog_at(&self) -> Instant {
        (self.last_progress + self.spec.response_timeout).min(self.schedule.hard_stop)
    }

    /// The watchdog fired at `now`: fails a connection that made no
    /// progress for the response timeout, or is still busy at the hard
    /// stop; otherwise says when to look again. Lazily re-armed: it fires
    /// at most once per timeout period and is pushed forward if replies
    /// kept arriving.
    pub(crate) fn watchdog(&mut self, now: Instant) -> Result<Instant, &'static str> {
        let outstanding = self.writing.is_some() || !self.sent.is_empty();
        if now >= self.schedule.hard_stop && outstanding {
            return Err("unanswered at stop");
        }
        if outstanding && now - self.last_progress >= self.spec.response_timeout {
            return Err("timeout");
        }
        let next = if outstanding { self.last_progress } else { now };
        Ok((next + self.spec.response_timeout).min(self.schedule.hard_stop))
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
}

/// Records the oldest outstanding request as completed at `done`.
fn record(
    stats: &RefCell<ThreadStats>,
    schedule: &Schedule,
    spec: &LoadSpec,
    wire: &Wire,
    verdict: crate::http::Verdict,
    sent: &mut VecDeque<InFlight>,
    done: Instant,
) {
    let request = sent.pop_front().expect("readers bound completions");
    let mut stats = stats.borrow_mut();
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
    let interval_ns = spec.interval.as_nanos().max(1);
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
    if let Some((histogram, requests)) = stats.classes.get_mut(wire.class()) {
        histogram.saturating_record(corrected);
        *requests += 1;
    }
}

/// A connect attempt that failed: its kind, and whether it already took
/// the whole connect timeout (then the next attempt goes at once; after a
/// quick refusal the loop pauses first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectFailed {
    kind: &'static str,
    waited: bool,
}

/// A connect attempt that may have timed out (`Err` outside), as the
/// connection loop books it; a connected socket gets `TCP_NODELAY`
/// (best effort: a request is one write, never worth delaying).
pub(crate) fn connected<S, Elapsed>(
    attempt: Result<io::Result<S>, Elapsed>,
    set_nodelay: impl FnOnce(&S) -> io::Result<()>,
) -> Result<S, ConnectFailed> {
    match attempt {
        Ok(Ok(stream)) => {
            let _ = set_nodelay(&stream);
            Ok(stream)
        }
        Ok(Err(e)) => Err(ConnectFailed {
            kind: connect_error_kind(&e),
            waited: false,
        }),
        Err(_) => Err(ConnectFailed {
            kind: "connect timeout",
            waited: true,
        }),
    }
}

fn connect_error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect refused",
        io::ErrorKind::TimedOut => "connect timeout",
        _ => "connect failed",
    }
}

pub(crate) fn io_error_kind(e: io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::ConnectionAborted => "aborted",
        _ => "io error",
    }
}
