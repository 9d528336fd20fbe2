//! The epoll backend ([`Backend::Epoll`](crate::spec::Backend::Epoll)): a
//! current-thread tokio runtime per driver thread. Reads and writes are
//! raced in one task (`select!` on the two halves of the socket), so a
//! pipeline of large messages cannot deadlock against a server that is
//! itself blocked writing replies we have not read yet.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::conn::{ConnectFailed, Exchange, Net, Next, Schedule, Step, connected, io_error_kind};
use crate::pace::Pacer;
use crate::run::ThreadOutcome;
use crate::spec::LoadSpec;

/// Runs one driver thread's connections on a tokio runtime; returns its
/// statistics and its CPU time inside the measured window.
pub(crate) fn run_thread(
    thread: usize,
    spec: &LoadSpec,
    schedule: mpsc::Receiver<Schedule>,
) -> io::Result<ThreadOutcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (schedule, stats) = crate::run::await_schedule(spec, schedule)?;
    let cpu = runtime.block_on(async {
        let pacer = Pacer::new()?;
        let net = EpollNet { pacer: &pacer };
        crate::run::drive_thread(
            thread,
            spec,
            &schedule,
            &stats,
            &net,
            &pacer,
            pacer.run_epoll(),
        )
        .await
    })?;
    Ok(ThreadOutcome {
        stats: stats.into_inner(),
        cpu,
    })
}

/// Connections on tokio's sockets, paced by the thread's [`Pacer`].
struct EpollNet<'p> {
    pacer: &'p Pacer,
}

impl Net for EpollNet<'_> {
    type Stream = TcpStream;

    async fn connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ConnectFailed> {
        connected(
            tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
            |s| s.set_nodelay(true),
        )
    }

    async fn sleep_until(&self, at: Instant) {
        tokio::time::sleep_until(at.into()).await;
    }

    async fn drive(
        &self,
        mut stream: TcpStream,
        exchange: &mut Exchange<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<Next, &'static str> {
        if buf.len() != exchange.read_buffer() {
            buf.resize(exchange.read_buffer(), 0);
        }
        let start = exchange.schedule().start;
        let (mut rd, mut wr) = stream.split();
        let mut watchdog = pin!(tokio::time::sleep_until(exchange.watchdog_at().into()));
        // Open-loop slots are waited for on the thread's sub-millisecond
        // timer, not tokio's millisecond one (see [`crate::pace`]).
        let mut pacer = self.pacer.sleep_until(start);
        loop {
            let pace = match exchange.step(Instant::now()) {
                Step::Done(next) => return Ok(next),
                Step::Wait(pace) => pace,
            };
            if let Some(due) = pace {
                pacer.follow(due);
            }
            let unwritten = exchange.unwritten();
            tokio::select! {
                biased;
                read = rd.read(buf) => {
                    let n = read.map_err(io_error_kind)?;
                    let done = Instant::now();
                    if n == 0 {
                        return exchange.closed(done);
                    }
                    exchange.received(&buf[..n], done)?;
                }
                written = async {
                    wr.write(unwritten.expect("guarded by the branch condition")).await
                }, if unwritten.is_some() => {
                    exchange.written(written.map_err(io_error_kind)?)?;
                }
                () = &mut pacer, if pace.is_some() => {}
                () = &mut watchdog => {
                    let next = exchange.watchdog(Instant::now())?;
                    watchdog.as_mut().reset(next.into());
                }
            }
        }
    }
}
