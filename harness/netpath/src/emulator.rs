//! A link in user space, for kernels without `sch_netem`: a TUN device at
//! each end (each in its own namespace) and, per direction, one thread that
//! reads a packet from one device, gives it a departure time from
//! [`Schedule`], and writes it to the other device when that time comes.
//!
//! The model is netem's: a fixed one-way delay, uniform jitter, Bernoulli
//! loss and an optional rate limit (a packet leaves once the ones ahead of
//! it are serialised), with a queue of [`QUEUE_LIMIT`] packets. Unlike
//! netem, jitter never reorders packets: a packet never leaves before the
//! one read ahead of it, as on one real path. So that keeping the order
//! costs nothing in the delay's mean, the jitter is not drawn per packet
//! but follows a path through random points drawn every [`JITTER_EPOCH`]
//! or four times the jitter, whichever is longer, in straight lines, the
//! way queueing on a path moves its delay: it never falls faster than half
//! a millisecond per millisecond, so no packet catches up with the one
//! ahead.
//!
//! The threads belong to the harness, not to the core, so their CPU time
//! is not the core's; they sleep with a 1 ns timer slack so a 0.1 ms delay
//! is 0.1 ms and not 0.15.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use pb_sys::CpuSet;
use tun_rs::{DeviceBuilder, SyncDevice};

use crate::{LinkSpec, NetError};

/// Packets a direction holds at most (netem's `limit`): 20 ms of a
/// 10 Gbit/s path in 1500-byte packets.
pub const QUEUE_LIMIT: usize = 20_000;

/// The longest a direction's thread sleeps before it looks at its stop
/// flag again.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// The shortest time between two random points of the jitter's path.
pub const JITTER_EPOCH: Duration = Duration::from_millis(1);

/// How often a direction's thread adds its CPU time to the link's count.
const CPU_EVERY: Duration = Duration::from_millis(100);

/// Opens a TUN device named `name` in the calling thread's namespace: raw
/// IP packets, no packet-information header, no offloads (so every packet
/// is at most one MTU and the schedule sees what a wire would carry).
pub fn open_tun(name: &str) -> Result<SyncDevice, NetError> {
    let device = DeviceBuilder::new()
        .name(name)
        .build_sync()
        .map_err(|e| NetError::io(format!("opening TUN device {name}"), e))?;
    device
        .set_nonblocking(true)
        .map_err(|e| NetError::io(format!("making TUN device {name} non-blocking"), e))?;
    Ok(device)
}

/// When each packet of one direction leaves: the model, without devices
/// or clocks of its own, so it can be tested exactly.
#[derive(Debug)]
pub struct Schedule {
    spec: LinkSpec,
    rng: fastrand::Rng,
    /// When the (rate-limited) line finishes the last packet admitted.
    line_free: Option<Instant>,
    /// The last departure given: none earlier, so no reordering.
    last_due: Option<Instant>,
    /// The jitter's path: the segment from one random point (ms) to the
    /// next, and when it started.
    jitter: Option<(f64, f64, Instant)>,
}

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Leaves at this instant.
    Due(Instant),
    /// Dropped as the loss rate asks.
    Lost,
}

impl Schedule {
    /// A schedule for `spec`, its randomness from `seed`.
    pub fn new(spec: LinkSpec, seed: u64) -> Schedule {
        Schedule {
            spec,
            rng: fastrand::Rng::with_seed(seed),
            line_free: None,
            last_due: None,
            jitter: None,
        }
    }

    /// The fate of a packet of `len` bytes read at `now`.
    pub fn admit(&mut self, len: usize, now: Instant) -> Fate {
        if self.spec.loss_pct > 0.0 && self.rng.f64() * 100.0 < self.spec.loss_pct {
            return Fate::Lost;
        }
        let mut sent = now;
        if let Some(rate) = self.spec.rate_mbit {
            let start = self.line_free.map_or(now, |free| free.max(now));
            sent = start + Duration::from_secs_f64(len as f64 * 8.0 / (rate * 1e6));
            self.line_free = Some(sent);
        }
        let mut delay_ms = self.spec.delay_ms;
        if self.spec.jitter_ms > 0.0 {
            delay_ms += self.jitter_at(now);
        }
        let due = sent + Duration::from_secs_f64(delay_ms.max(0.0) / 1000.0);
        let due = self.last_due.map_or(due, |last| last.max(due));
        self.last_due = Some(due);
        Fate::Due(due)
    }
}

impl Schedule {
    /// The jitter (ms) at `now`: on the straight line between the random
    /// points around it, a new point drawn once the segment is over.
    fn jitter_at(&mut self, now: Instant) -> f64 {
        let amplitude = self.spec.jitter_ms;
        let segment = JITTER_EPOCH.max(Duration::from_secs_f64(4.0 * amplitude / 1000.0));
        let mut draw = || (self.rng.f64() * 2.0 - 1.0) * amplitude;
        let (mut from, mut to, mut start) = self.jitter.unwrap_or_else(|| (draw(), draw(), now));
        while now.duration_since(start) >= segment {
            (from, to, start) = (to, draw(), start + segment);
        }
        self.jitter = Some((from, to, start));
        let along = now.duration_since(start).as_secs_f64() / segment.as_secs_f64();
        from + (to - from) * along
    }
}

/// Packet counts of a link, both directions together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Written to the far device.
    pub delivered: u64,
    /// Dropped by the loss rate.
    pub lost: u64,
    /// Dropped because the queue (or the far device) was full.
    pub overflowed: u64,
    /// CPU time of the link's threads so far (both directions).
    pub cpu: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    delivered: AtomicU64,
    lost: AtomicU64,
    overflowed: AtomicU64,
    cpu_ns: AtomicU64,
    failure: Mutex<Option<String>>,
}

/// A running user-space link; dropping it stops its threads and closes
/// its devices.
#[derive(Debug)]
pub struct Link {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Link {
    /// Starts one thread per direction between `a` and `b`, on `cpus`
    /// when given (the harness's side of the CPU plan, so the link's work
    /// is not taken from the core's CPUs).
    pub fn start(
        name: &str,
        a: SyncDevice,
        b: SyncDevice,
        spec: LinkSpec,
        seed: u64,
        cpus: Option<&CpuSet>,
    ) -> Result<Link, NetError> {
        let shared = Arc::new(Shared::default());
        let (a, b) = (Arc::new(a), Arc::new(b));
        let mut link = Link {
            shared,
            threads: Vec::new(),
        };
        for (dir, from, to, seed) in [
            ("ab", &a, &b, seed),
            ("ba", &b, &a, seed ^ 0x9e37_79b9_7f4a_7c15),
        ] {
            let (from, to, shared) = (Arc::clone(from), Arc::clone(to), Arc::clone(&link.shared));
            let cpus = cpus.cloned();
            let thread = std::thread::Builder::new()
                .name(format!("pb-link-{name}-{dir}"))
                .spawn(move || {
                    let carried = match &cpus {
                        Some(cpus) => cpus.pin_current_thread().map_err(|e| {
                            std::io::Error::new(e.kind(), format!("pinning to CPUs {cpus}: {e}"))
                        }),
                        None => Ok(()),
                    }
                    .and_then(|()| carry(&from, &to, Schedule::new(spec, seed), &shared));
                    if let Err(e) = carried {
                        *shared.failure.lock().unwrap() = Some(e.to_string());
                    }
                })
                .map_err(|e| NetError::io(format!("starting the {name} link's thread"), e))?;
            link.threads.push(thread);
        }
        Ok(link)
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            lost: self.shared.lost.load(Ordering::Relaxed),
            overflowed: self.shared.overflowed.load(Ordering::Relaxed),
            cpu: Duration::from_nanos(self.shared.cpu_ns.load(Ordering::Relaxed)),
        }
    }

    /// Why a direction stopped carrying packets, if one did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().unwrap().clone()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One direction: read what `from` has, hold each packet until its time,
/// write it to `to`; until told to stop.
fn carry(
    from: &SyncDevice,
    to: &SyncDevice,
    mut schedule: Schedule,
    shared: &Shared,
) -> std::io::Result<()> {
    // Sleeps end when asked, not up to 50 µs later (the default slack).
    let _ = nix::sys::prctl::set_timerslack(1);
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let (mut cpu_counted, mut cpu_at) = (Duration::ZERO, Instant::now());
    let mut count_cpu = |force: bool| {
        if force || cpu_at.elapsed() >= CPU_EVERY {
            let used = pb_sys::cpus::thread_cpu_time();
            let added = used.saturating_sub(cpu_counted);
            shared
                .cpu_ns
                .fetch_add(added.as_nanos() as u64, Ordering::Relaxed);
            (cpu_counted, cpu_at) = (used, Instant::now());
        }
    };
    while !shared.stop.load(Ordering::Relaxed) {
        count_cpu(false);
        loop {
            let n = match from.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if queue.len() >= QUEUE_LIMIT {
                // Tail drop, before the schedule: a dropped packet takes
                // no time on the line.
                shared.overflowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match schedule.admit(n, Instant::now()) {
                Fate::Lost => {
                    shared.lost.fetch_add(1, Ordering::Relaxed);
                }
                Fate::Due(due) => {
                    let mut packet = spare.pop().unwrap_or_default();
                    packet.clear();
                    packet.extend_from_slice(&buf[..n]);
                    queue.push_back((due, packet));
                }
            }
        }
        let now = Instant::now();
        while queue.front().is_some_and(|(due, _)| *due <= now) {
            let (_, packet) = queue.pop_front().expect("front was checked");
            match to.send(&packet) {
                Ok(_) => shared.delivered.fetch_add(1, Ordering::Relaxed),
                // The far stack's backlog is full: a drop, as on a wire.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    shared.overflowed.fetch_add(1, Ordering::Relaxed)
                }
                Err(e) => return Err(e),
            };
            spare.push(packet);
        }
        let sleep = queue.front().map_or(MAX_SLEEP, |(due, _)| {
            due.saturating_duration_since(Instant::now()).min(MAX_SLEEP)
        });
        if sleep.is_zero() {
            continue;
        }
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut fds, Some(TimeSpec::from_duration(sleep)), None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    count_cpu(true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(fate: Fate) -> Instant {
        match fate {
            Fate::Due(t) => t,
            Fate::Lost => panic!("lost"),
        }
    }

    #[test]
    fn a_packet_leaves_after_the_delay_and_never_before_the_one_ahead() {
        let t0 = Instant::now();
        let mut s = Schedule::new(
            LinkSpec {
                delay_ms: 2.0,
                ..LinkSpec::default()
            },
            1,
        );
        assert_eq!(due(s.admit(100, t0)), t0 + Duration::from_millis(2));
        let mut jittery = Schedule::new(
            LinkSpec {
                delay_ms: 5.0,
                jitter_ms: 4.0,
                ..LinkSpec::default()
            },
            7,
        );
        let mut last = t0;
        let mut spread = (Duration::MAX, Duration::ZERO);
        let mut total = Duration::ZERO;
        // Two seconds of a packet every 100 µs: 125 segments of the
        // jitter's path (16 ms each at 4 ms of jitter).
        for i in 0..20_000u32 {
            let sent = t0 + Duration::from_micros(u64::from(i) * 100);
            let d = due(jittery.admit(1500, sent));
            assert!(d >= last, "packet {i} would overtake the one ahead");
            assert!(
                d >= sent + Duration::from_millis(1),
                "packet {i} left before delay - jitter"
            );
            assert!(
                d <= sent + Duration::from_millis(9) + Duration::from_micros(10),
                "packet {i} held past delay + jitter"
            );
            let held = d - sent;
            spread = (spread.0.min(held), spread.1.max(held));
            total += held;
            last = d;
        }
        // The jitter is used, not ignored: holds spread across most of 1..9 ms.
        assert!(
            spread.0 < Duration::from_millis(2) && spread.1 > Duration::from_millis(8),
            "{spread:?}"
        );
        // And keeping the order costs nothing of the mean: the 5 ms asked
        // (126 random points: their own mean is 5 ± 0.2 ms).
        let mean = total / 20_000;
        assert!(
            (Duration::from_micros(4_400)..Duration::from_micros(5_600)).contains(&mean),
            "mean hold {mean:?}"
        );
    }

    #[test]
    fn the_rate_limit_serialises_packets_one_after_another() {
        let t0 = Instant::now();
        // 8 Mbit/s: a 1000-byte packet takes 1 ms on the line.
        let mut s = Schedule::new(
            LinkSpec {
                delay_ms: 1.0,
                rate_mbit: Some(8.0),
                ..LinkSpec::default()
            },
            1,
        );
        let dues: Vec<Instant> = (0..3).map(|_| due(s.admit(1000, t0))).collect();
        assert_eq!(dues[0], t0 + Duration::from_millis(2));
        assert_eq!(dues[1], t0 + Duration::from_millis(3));
        assert_eq!(dues[2], t0 + Duration::from_millis(4));
        // An idle line starts at once again.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(due(s.admit(1000, later)), later + Duration::from_millis(2));
    }

    #[test]
    fn the_loss_rate_is_what_was_asked() {
        let t0 = Instant::now();
        let mut s = Schedule::new(
            LinkSpec {
                loss_pct: 1.0,
                ..LinkSpec::default()
            },
            42,
        );
        let lost = (0..100_000)
            .filter(|_| s.admit(100, t0) == Fate::Lost)
            .count();
        // 1 % of 100 000: mean 1000, standard deviation about 31.
        assert!((850..1150).contains(&lost), "{lost} lost");
        let mut none = Schedule::new(LinkSpec::default(), 42);
        assert!((0..10_000).all(|_| none.admit(100, t0) != Fate::Lost));
    }
}
