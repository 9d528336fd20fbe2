//! The glommio runtime adapter, and the core built on it: one glommio
//! `LocalExecutor` per thread, pinned to its CPU by glommio's own
//! placement, each with its own `SO_REUSEPORT` listener, with the
//! borrowing composition (`pb-borrow`: `service-async` is runtime-free, so
//! the stacks are monoio's with glommio's stream type).
//!
//! What is here is only what is glommio's: the stream and connect/timer the
//! engine runs on ([`GlommioStream`], [`GlommioRt`]), how to build an
//! executor and accept and spawn on it ([`ThreadPerCore`]), and the echo
//! service written with glommio's `AsyncRead`/`AsyncWrite`. The lifecycle
//! is the engine's (`serve_thread_per_core`), the compositions
//! `pb-borrow`'s, `pb-filter`'s and `pb-raw`'s (each core a
//! `pb_engine::lifecycle::TpcCore`).

// glommio takes a listening socket over only through `FromRawFd`; the one
// `unsafe` block is in `Glommio::listen`.
#![deny(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use pb_borrow::Borrowing;
use pb_core::{CoreInfo, Requirement, Scenario, ServeError, grid_info};
use pb_engine::lifecycle::{ThreadPerCore, ThreadSlot, TpcCore};
use pb_engine::{Echo, EchoParams, Runtime, Stream};
use pb_filter::{FilterChain, FilterChainCtx};
use pb_raw::NoAbstraction;

/// Memory glommio preallocates and registers with io_uring per executor.
/// glommio's default (10 MiB) is for storage I/O, which no scenario does;
/// this keeps the core inside a typical 8 MiB memlock limit.
pub const IO_MEMORY: usize = 1 << 20;

/// What every glommio core needs of the machine.
const REQUIREMENTS: &[Requirement] = &[
    Requirement::IoUring,
    // The registered I/O memory plus the rings themselves.
    Requirement::LockedMemory(2 * IO_MEMORY as u64),
];

/// glommio as a thread-per-core runtime: parking its reactor as soon as
/// it runs out of work (glommio's default), or first spinning for a while
/// (`glommio-spin`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Glommio {
    spin_before_park: Option<Duration>,
}

/// How long the `glommio-spin` executors poll for work before they park:
/// what glommio's own sharding benchmark sets. A named variant and not the
/// default because spinning is CPU the core is charged for: at a fixed
/// rate below saturation it trades CPU per request for the wake-ups (and
/// latency) parking costs, which is a trade users choose, not a free win.
pub const SPIN_BEFORE_PARK: Duration = Duration::from_millis(10);

const RUNTIME: &str = "glommio 0.9 LocalExecutor per core, io_uring";
const RUNTIME_SPIN: &str =
    "glommio 0.9 LocalExecutor per core, io_uring, spinning 10 ms before it parks";
const SCENARIOS: &[Scenario] = Scenario::ALL;
const PARKING: Glommio = Glommio {
    spin_before_park: None,
};
const SPINNING: Glommio = Glommio {
    spin_before_park: Some(SPIN_BEFORE_PARK),
};

/// The `glommio` core.
pub static GLOMMIO: TpcCore<Glommio, Borrowing> = TpcCore::new(
    PARKING,
    Borrowing,
    &CoreInfo {
        name: "glommio",
        runtime: RUNTIME,
        service: pb_borrow::SERVICE,
        grid: Some(("glommio", "borrowing")),
        requirements: REQUIREMENTS,
        scenarios: SCENARIOS,
    },
);

/// glommio/filter-chain.
pub static GLOMMIO_FILTER_CHAIN: TpcCore<Glommio, FilterChain> = TpcCore::new(
    PARKING,
    FilterChain::NEW,
    grid_info!("glommio" / "filter-chain", runtime: RUNTIME, service: pb_filter::SERVICE_CHAIN,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// glommio/filter-chain-ctx.
pub static GLOMMIO_FILTER_CHAIN_CTX: TpcCore<Glommio, FilterChainCtx> = TpcCore::new(
    PARKING,
    FilterChainCtx::NEW,
    grid_info!("glommio" / "filter-chain-ctx", runtime: RUNTIME, service: pb_filter::SERVICE_CTX,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// glommio/raw: no service abstraction.
pub static GLOMMIO_RAW: TpcCore<Glommio, NoAbstraction> = TpcCore::new(
    PARKING,
    NoAbstraction::NEW,
    grid_info!("glommio" / "raw", runtime: RUNTIME, service: pb_raw::SERVICE,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// The `glommio-spin` core: glommio with its executors spinning before
/// they park ([`SPIN_BEFORE_PARK`]), the borrowing composition.
pub static GLOMMIO_SPIN: TpcCore<Glommio, Borrowing> = TpcCore::new(
    SPINNING,
    Borrowing,
    &CoreInfo {
        name: "glommio-spin",
        runtime: RUNTIME_SPIN,
        service: pb_borrow::SERVICE,
        grid: Some(("glommio-spin", "borrowing")),
        requirements: REQUIREMENTS,
        scenarios: SCENARIOS,
    },
);

/// glommio-spin/filter-chain.
pub static GLOMMIO_SPIN_FILTER_CHAIN: TpcCore<Glommio, FilterChain> = TpcCore::new(
    SPINNING,
    FilterChain::NEW,
    grid_info!("glommio-spin" / "filter-chain", runtime: RUNTIME_SPIN,
        service: pb_filter::SERVICE_CHAIN, requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// glommio-spin/filter-chain-ctx.
pub static GLOMMIO_SPIN_FILTER_CHAIN_CTX: TpcCore<Glommio, FilterChainCtx> = TpcCore::new(
    SPINNING,
    FilterChainCtx::NEW,
    grid_info!("glommio-spin" / "filter-chain-ctx", runtime: RUNTIME_SPIN,
        service: pb_filter::SERVICE_CTX, requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// glommio-spin/raw.
pub static GLOMMIO_SPIN_RAW: TpcCore<Glommio, NoAbstraction> = TpcCore::new(
    SPINNING,
    NoAbstraction::NEW,
    grid_info!("glommio-spin" / "raw", runtime: RUNTIME_SPIN, service: pb_raw::SERVICE,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

impl ThreadPerCore for Glommio {
    type Rt = GlommioRt;
    type Listener = TcpListener;

    fn name(&self) -> &'static str {
        match self.spin_before_park {
            None => "glommio",
            Some(_) => "glommio-spin",
        }
    }

    fn block_on<F: Future>(&self, slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError> {
        let placement = match slot.cpu {
            Some(cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("glommio-{}", slot.index))
            .io_memory(IO_MEMORY);
        if let Some(spin) = self.spin_before_park {
            builder = builder.spin_before_park(spin);
        }
        builder
            .make()
            .map(|executor| executor.run(fut))
            // No io_uring or not enough locked memory: the core cannot run
            // here, which the runner reports as "unavailable".
            .map_err(|e| ServeError::Unavailable {
                reason: format!("glommio executor: {e}"),
            })
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        // Blocking, as glommio's own `bind` leaves it: glommio accepts
        // through io_uring, never with a non-blocking accept(2).
        listener.set_nonblocking(false)?;
        let fd = listener.into_raw_fd();
        // SAFETY: `fd` is a bound, listening TCP socket that this function
        // owns (taken from the `TcpListener` above, which no longer closes
        // it) and hands to exactly one glommio listener, which closes it.
        #[allow(unsafe_code)]
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        Ok(listener)
    }

    async fn accept(listener: &TcpListener) -> io::Result<GlommioStream> {
        let stream = listener.accept().await.map_err(io::Error::from)?;
        let _ = stream.set_nodelay(true);
        Ok(GlommioStream::new(stream))
    }

    fn spawn(task: impl Future<Output = ()> + 'static) {
        glommio::spawn_local(task).detach();
    }
}

// === impl GlommioRt ===

/// glommio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct GlommioStream {
    /// The socket.
    pub stream: TcpStream,
    /// Where reads land before they are appended to the caller's buffer.
    /// futures' `AsyncRead`, glommio's read interface, wants an
    /// initialised slice, and the caller's spare capacity is not one:
    /// zeroing 16 KiB of it before every read cost glommio a memset per
    /// read that the other cores (reading into spare capacity) do not pay.
    /// This buffer is zeroed once, on the first read; afterwards a read
    /// costs a copy of the bytes that actually arrived.
    scratch: Vec<u8>,
}

impl GlommioStream {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> GlommioStream {
        GlommioStream {
            stream,
            scratch: Vec::new(),
        }
    }
}

impl std::os::fd::AsRawFd for GlommioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }
}

impl Stream for GlommioStream {
    type Timer = GlommioTimer;

    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let want = (buf.capacity() - buf.len()).min(pb_engine::exchange::READ_CHUNK);
        if self.scratch.len() < want {
            self.scratch.resize(want, 0);
        }
        let result = self.stream.read(&mut self.scratch[..want]).await;
        if let Ok(n) = result {
            buf.extend_from_slice(&self.scratch[..n]);
        }
        (result, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.stream.write_all(&buf).await;
        (result, buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }
}

/// glommio's timer as a connection's deadline, moved with `reset`.
#[derive(Debug)]
pub struct GlommioTimer(glommio::timer::Timer);

impl Future for GlommioTimer {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl pb_engine::Timer for GlommioTimer {
    fn at(when: std::time::Instant) -> Self {
        let after = when.saturating_duration_since(std::time::Instant::now());
        GlommioTimer(glommio::timer::Timer::new(after))
    }

    fn reset(&mut self, when: std::time::Instant) {
        self.0
            .reset(when.saturating_duration_since(std::time::Instant::now()));
    }
}

/// Marker type: glommio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug, Clone, Copy)]
pub struct GlommioRt;

impl Runtime for GlommioRt {
    type Stream = GlommioStream;

    async fn connect(addr: SocketAddr) -> io::Result<GlommioStream> {
        let stream = TcpStream::connect(addr).await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(GlommioStream::new(stream))
    }

    async fn sleep(d: std::time::Duration) {
        glommio::timer::sleep(d).await;
    }
}

// === impl Echo ===

/// Echoes through glommio's `AsyncRead`/`AsyncWrite`.
impl Echo for GlommioRt {
    async fn echo(
        GlommioStream { mut stream, .. }: GlommioStream,
        params: EchoParams,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; params.buf_size];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            params.spin.burn();
            stream.write_all(&buf[..n]).await?;
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }

    /// Each stream split by futures-lite (its halves share the stream
    /// behind a lock, uncontended: both run in this task), one copy loop
    /// per direction; closing a write half shuts the socket's write side.
    async fn relay(
        GlommioStream { stream: client, .. }: GlommioStream,
        GlommioStream {
            stream: upstream, ..
        }: GlommioStream,
        buf_size: usize,
    ) -> io::Result<()> {
        let (client_read, client_write) = futures_lite::io::split(client);
        let (upstream_read, upstream_write) = futures_lite::io::split(upstream);
        let (up, down) = futures_lite::future::zip(
            pipe(client_read, upstream_write, buf_size),
            pipe(upstream_read, client_write, buf_size),
        )
        .await;
        up.and(down)
    }
}

/// Copies `from` into `to` until `from` ends, then closes `to` (for a
/// glommio socket: shuts its write side).
async fn pipe<R, W>(mut from: R, mut to: W, buf_size: usize) -> io::Result<()>
where
    R: futures_lite::AsyncRead + Unpin,
    W: futures_lite::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; buf_size];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).await?;
    }
    to.close().await
}
