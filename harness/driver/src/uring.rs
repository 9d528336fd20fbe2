//! The io_uring backend ([`Backend::IoUring`](crate::spec::Backend::IoUring)):
//! a monoio runtime on io_uring per driver thread, the I/O model of
//! monoio's own benchmark client. Buffers are owned by the operations in
//! flight, so a connection keeps one read posted at all times (replies
//! land without a readiness round trip) and starts a write whenever a
//! request is due; both are completions the runtime reaps in batches, one
//! `io_uring_enter` for many sockets.
//!
//! A connection's operations end with it: when a connection ends, its
//! socket is shut down, which completes the posted read (and any write),
//! and both are awaited (for up to [`SETTLE`]) before the socket is
//! dropped. monoio's `async-cancel` feature stays off (it would change
//! the monoio cores in the same binary), so an operation dropped in
//! flight is left to complete in the kernel: a connect that timed out
//! (its socket then stays open until the kernel gives up on the SYN), an
//! operation still pending after [`SETTLE`], or every connection's when
//! the pacer fails; the ring's teardown at the thread's end reaps them.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::future::{Fuse, FusedFuture, FutureExt};
use monoio::io::{AsyncReadRent, AsyncWriteRent, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;

use crate::conn::{ConnectFailed, Exchange, Net, Next, Schedule, Step, connected, io_error_kind};
use crate::pace::Pacer;
use crate::run::ThreadOutcome;
use crate::spec::LoadSpec;

/// Submission queue entries per ring: room for a read and a write on
/// every connection of a thread at once, and more.
const RING_ENTRIES: u32 = 4096;

/// How long a closing connection waits for its operations to complete
/// after shutting its socket down (they complete at once on a live
/// kernel; the bound keeps a stuck one from holding the run).
const SETTLE: Duration = Duration::from_secs(1);

/// Runs one driver thread's connections on a monoio io_uring runtime;
/// returns its statistics and its CPU time inside the measured window. A kernel
/// without io_uring (or a ring it refuses) is an error, never a silent
/// fall-back to epoll.
pub(crate) fn run_thread(
    thread: usize,
    spec: &LoadSpec,
    schedule: mpsc::Receiver<Schedule>,
) -> io::Result<ThreadOutcome> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .with_entries(RING_ENTRIES)
        .build()
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring driver backend: {e}")))?;
    let (schedule, stats) = crate::run::await_schedule(spec, schedule)?;
    let cpu = runtime.block_on(async {
        let pacer = Pacer::for_uring()?;
        let net = UringNet { pacer: &pacer };
        crate::run::drive_thread(
            thread,
            spec,
            &schedule,
            &stats,
            &net,
            &pacer,
            pacer.run_uring(),
        )
        .await
    })?;
    Ok(ThreadOutcome {
        stats: stats.into_inner(),
        cpu,
    })
}

/// Connections on monoio's io_uring sockets, paced by the thread's
/// [`Pacer`].
struct UringNet<'p> {
    pacer: &'p Pacer,
}

type Reader = OwnedReadHalf<TcpStream>;
type Writer = OwnedWriteHalf<TcpStream>;

/// One posted read; gives back the half and the buffer with the result.
async fn read_once(mut rd: Reader, buf: Vec<u8>) -> (Reader, io::Result<usize>, Vec<u8>) {
    let (result, buf) = rd.read(buf).await;
    (rd, result, buf)
}

/// One write of what `buf` holds.
async fn write_once(mut wr: Writer, buf: Vec<u8>) -> (Writer, io::Result<usize>, Vec<u8>) {
    let (result, buf) = wr.write(buf).await;
    (wr, result, buf)
}

impl Net for UringNet<'_> {
    type Stream = TcpStream;

    async fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ConnectFailed> {
        connected(
            monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await,
            |s| s.set_nodelay(true),
        )
    }

    async fn sleep_until(&self, at: Instant) {
        monoio::time::sleep_until(monoio::time::Instant::from_std(at)).await;
    }

    async fn drive(
        &self,
        stream: TcpStream,
        exchange: &mut Exchange<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<Next, &'static str> {
        let fd = stream.as_raw_fd();
        let mut data = std::mem::take(buf);
        if data.capacity() < exchange.read_buffer() {
            data = Vec::with_capacity(exchange.read_buffer());
        }
        let (rd, wr) = stream.into_split();
        let mut reading = pin!(read_once(rd, data).fuse());
        let mut writing = pin!(Fuse::terminated());
        // The write half and its buffer while no write is in flight.
        let mut idle_writer = Some((wr, Vec::new()));
        let start = exchange.schedule().start;
        let outcome = async {
            let mut watchdog = pin!(monoio::time::sleep_until(monoio::time::Instant::from_std(
                exchange.watchdog_at()
            )));
            let mut pacer = self.pacer.sleep_until(start);
            loop {
                let pace = match exchange.step(Instant::now()) {
                    Step::Done(next) => return Ok(next),
                    Step::Wait(pace) => pace,
                };
                if let Some(due) = pace {
                    pacer.follow(due);
                }
                if let Some(bytes) = exchange.unwritten()
                    && let Some((wr, mut out)) = idle_writer.take()
                {
                    out.clear();
                    out.extend_from_slice(bytes);
                    writing.set(write_once(wr, out).fuse());
                }
                monoio::select! {
                    biased;
                    (rd, read, data) = &mut reading => {
                        let n = read.map_err(io_error_kind)?;
                        let done = Instant::now();
                        if n == 0 {
                            *buf = data;
                            return exchange.closed(done);
                        }
                        exchange.received(&data[..n], done)?;
                        reading.set(read_once(rd, data).fuse());
                    }
                    (wr, written, out) = &mut writing => {
                        idle_writer = Some((wr, out));
                        exchange.written(written.map_err(io_error_kind)?)?;
                    }
                    () = &mut pacer, if pace.is_some() => {}
                    () = &mut watchdog => {
                        let next = exchange.watchdog(Instant::now())?;
                        watchdog.as_mut().reset(monoio::time::Instant::from_std(next));
                    }
                }
            }
        }
        .await;
        // Settle: complete the posted read (and a write in flight) before
        // the socket closes, so no operation outlives its connection.
        if !reading.is_terminated() || !writing.is_terminated() {
            let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
            let settle = async {
                if !reading.is_terminated() {
                    let (_, _, data) = (&mut reading).await;
                    *buf = data;
                }
                if !writing.is_terminated() {
                    let _ = (&mut writing).await;
                }
            };
            let _ = monoio::time::timeout(SETTLE, settle).await;
        }
        outcome
    }
}
