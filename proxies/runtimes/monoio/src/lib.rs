//! The monoio runtime adapter, and the cores built on it: one monoio
//! runtime per thread, each pinned to its CPU with its own `SO_REUSEPORT`
//! listener (thread-per-core, nothing shared between threads but the
//! port), with the borrowing composition (`pb-borrow`).
//!
//! What is here is only what is monoio's: the stream and connect/timer the
//! engine runs on ([`MonoioStream`], [`MonoioRt`]), how to build a runtime
//! and accept and spawn on it ([`ThreadPerCore`]), and the echo service
//! written with monoio's owned-buffer I/O. The lifecycle is the engine's
//! (`serve_thread_per_core`), the cores `pb_engine::lifecycle::TpcCore`s
//! of `pb-borrow`'s, `pb-filter`'s and `pb-raw`'s compositions.
//!
//! Two registry entries: [`MONOIO`] (io_uring) and [`MONOIO_EPOLL`]
//! (monoio's legacy driver).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use pb_borrow::Borrowing;
use pb_core::{CoreInfo, Requirement, Scenario, ServeError, grid_info};
use pb_engine::lifecycle::{ThreadPerCore, ThreadSlot, TpcCore};
use pb_engine::{Echo, EchoParams, Runtime, Stream};
use pb_filter::{FilterChain, FilterChainCtx};
use pb_raw::NoAbstraction;

/// Which monoio driver a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    IoUring,
    Epoll,
}

/// monoio as a thread-per-core runtime, on one of its drivers.
#[derive(Debug, Clone, Copy)]
pub struct Monoio {
    driver: Driver,
}

const URING: &str = "monoio 0.2 thread-per-core, io_uring driver \
                     (1024 entries, SINGLE_ISSUER | DEFER_TASKRUN)";
const EPOLL: &str = "monoio 0.2 thread-per-core, legacy epoll driver";
const SCENARIOS: &[Scenario] = Scenario::ALL;
const ON_URING: Monoio = Monoio {
    driver: Driver::IoUring,
};
const ON_EPOLL: Monoio = Monoio {
    driver: Driver::Epoll,
};

/// The `monoio` core: io_uring, the configuration monoio is known for.
pub static MONOIO: TpcCore<Monoio, Borrowing> = TpcCore::new(
    ON_URING,
    Borrowing,
    &CoreInfo {
        name: "monoio",
        runtime: URING,
        service: pb_borrow::SERVICE,
        grid: Some(("monoio", "borrowing")),
        requirements: &[Requirement::IoUring],
        scenarios: SCENARIOS,
    },
);

/// monoio/filter-chain.
pub static MONOIO_FILTER_CHAIN: TpcCore<Monoio, FilterChain> = TpcCore::new(
    ON_URING,
    FilterChain::NEW,
    grid_info!("monoio" / "filter-chain", runtime: URING, service: pb_filter::SERVICE_CHAIN,
        requirements: &[Requirement::IoUring], scenarios: SCENARIOS),
);

/// monoio/filter-chain-ctx.
pub static MONOIO_FILTER_CHAIN_CTX: TpcCore<Monoio, FilterChainCtx> = TpcCore::new(
    ON_URING,
    FilterChainCtx::NEW,
    grid_info!("monoio" / "filter-chain-ctx", runtime: URING, service: pb_filter::SERVICE_CTX,
        requirements: &[Requirement::IoUring], scenarios: SCENARIOS),
);

/// monoio/raw: no service abstraction, on io_uring.
pub static MONOIO_RAW: TpcCore<Monoio, NoAbstraction> = TpcCore::new(
    ON_URING,
    NoAbstraction::NEW,
    grid_info!("monoio" / "raw", runtime: URING, service: pb_raw::SERVICE,
        requirements: &[Requirement::IoUring], scenarios: SCENARIOS),
);

/// The `monoio-epoll` core: monoio's legacy driver, which isolates the
/// driver's share and which valgrind can run.
pub static MONOIO_EPOLL: TpcCore<Monoio, Borrowing> = TpcCore::new(
    ON_EPOLL,
    Borrowing,
    &CoreInfo {
        name: "monoio-epoll",
        runtime: EPOLL,
        service: pb_borrow::SERVICE,
        grid: Some(("monoio-epoll", "borrowing")),
        requirements: &[],
        scenarios: SCENARIOS,
    },
);

/// monoio-epoll/filter-chain.
pub static MONOIO_EPOLL_FILTER_CHAIN: TpcCore<Monoio, FilterChain> = TpcCore::new(
    ON_EPOLL,
    FilterChain::NEW,
    grid_info!("monoio-epoll" / "filter-chain", runtime: EPOLL,
        service: pb_filter::SERVICE_CHAIN, requirements: &[], scenarios: SCENARIOS),
);

/// monoio-epoll/filter-chain-ctx.
pub static MONOIO_EPOLL_FILTER_CHAIN_CTX: TpcCore<Monoio, FilterChainCtx> = TpcCore::new(
    ON_EPOLL,
    FilterChainCtx::NEW,
    grid_info!("monoio-epoll" / "filter-chain-ctx", runtime: EPOLL,
        service: pb_filter::SERVICE_CTX, requirements: &[], scenarios: SCENARIOS),
);

/// monoio-epoll/raw: no service abstraction, on the legacy driver.
pub static MONOIO_EPOLL_RAW: TpcCore<Monoio, NoAbstraction> = TpcCore::new(
    ON_EPOLL,
    NoAbstraction::NEW,
    grid_info!("monoio-epoll" / "raw", runtime: EPOLL, service: pb_raw::SERVICE,
        requirements: &[], scenarios: SCENARIOS),
);

impl ThreadPerCore for Monoio {
    type Rt = MonoioRt;
    type Listener = TcpListener;

    fn name(&self) -> &'static str {
        match self.driver {
            Driver::IoUring => "monoio",
            Driver::Epoll => "monoio-epoll",
        }
    }

    fn block_on<F: Future>(&self, _slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError> {
        match self.driver {
            Driver::IoUring => RuntimeBuilder::<IoUringDriver>::new()
                .with_entries(RING_ENTRIES)
                .uring_builder(ring())
                .enable_timer()
                .build()
                .map(|mut rt| rt.block_on(fut))
                // No io_uring here (seccomp, sysctl, old kernel): the core
                // cannot run at all, which the runner reports as
                // "unavailable".
                .map_err(|source| ServeError::Unavailable {
                    reason: format!(
                        "monoio io_uring driver (SINGLE_ISSUER | DEFER_TASKRUN, Linux 6.1+): {source}"
                    ),
                }),
            Driver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
                .enable_timer()
                .build()
                .map(|mut rt| rt.block_on(fut))
                .map_err(|source| ServeError::Runtime {
                    runtime: "monoio",
                    source,
                }),
        }
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        // The legacy driver polls for readiness, so the socket must not
        // block; io_uring does not mind either way.
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    async fn accept(listener: &TcpListener) -> io::Result<MonoioStream> {
        let (stream, _peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(MonoioStream(stream))
    }

    fn spawn(task: impl Future<Output = ()> + 'static) {
        monoio::spawn(task);
    }
}

/// Submission queue entries per ring: monoio's default, which is already
/// far above what one thread's connections keep in flight (two or three
/// operations each), so a larger ring would only cost locked memory.
const RING_ENTRIES: u32 = 1024;

/// How every monoio io_uring core sets up its ring: the flags io_uring's
/// authors recommend for networking servers (liburing's "io_uring and
/// networking" notes). One thread submits to each ring, which is what
/// thread-per-core means, so the kernel may skip the cross-thread
/// bookkeeping (`SINGLE_ISSUER`) and run completion work when the thread
/// next waits for completions instead of interrupting it for each one
/// (`DEFER_TASKRUN`): fewer wake-ups per request at a fixed rate. monoio
/// reaps completions by entering the ring with `GETEVENTS` whenever it
/// parks, so no completion waits longer than it would have. glommio
/// builds its rings itself, and tokio-uring waits on the ring's fd
/// through epoll, which deferred work does not wake; neither can take
/// these flags. A kernel older than 6.1 refuses them, and the core then
/// reports itself unavailable instead of running untuned under the same
/// name.
fn ring() -> io_uring::Builder {
    let mut builder = io_uring::IoUring::builder();
    builder.setup_single_issuer().setup_defer_taskrun();
    builder
}

// === impl MonoioRt ===

/// monoio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct MonoioStream(pub TcpStream);

impl std::os::fd::AsRawFd for MonoioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for MonoioStream {
    type Timer = MonoioTimer;

    async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (len, cap) = (buf.len(), buf.capacity());
        // Read into the spare capacity: the kernel fills it in place.
        let (result, slice) = self.0.read(buf.slice_mut(len..cap)).await;
        (result, slice.into_inner())
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (result, buf) = self.0.write_all(buf).await;
        (result.map(|_| ()), buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// monoio's timer as a connection's deadline: one `Sleep`, boxed once
/// (it is not `Unpin`) and moved with `reset`.
#[derive(Debug)]
pub struct MonoioTimer(std::pin::Pin<Box<monoio::time::Sleep>>);

impl Future for MonoioTimer {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl pb_engine::Timer for MonoioTimer {
    fn at(when: std::time::Instant) -> Self {
        let when = monoio::time::Instant::from_std(when);
        MonoioTimer(Box::pin(monoio::time::sleep_until(when)))
    }

    fn reset(&mut self, when: std::time::Instant) {
        self.0.as_mut().reset(monoio::time::Instant::from_std(when));
    }
}

/// Marker type: monoio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug, Clone, Copy)]
pub struct MonoioRt;

impl Runtime for MonoioRt {
    type Stream = MonoioStream;

    async fn connect(addr: SocketAddr) -> io::Result<MonoioStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(MonoioStream(stream))
    }

    async fn sleep(d: std::time::Duration) {
        monoio::time::sleep(d).await
    }
}

// === impl Echo ===

/// Echoes with monoio's owned-buffer I/O: the buffer moves into each
/// read and write and comes back with the result.
impl Echo for MonoioRt {
    async fn echo(MonoioStream(mut stream): MonoioStream, params: EchoParams) -> io::Result<()> {
        let mut buf = Vec::with_capacity(params.buf_size);
        loop {
            let (read, b) = stream.read(buf).await;
            buf = b;
            if read? == 0 {
                break;
            }
            params.spin.burn();
            let (written, b) = stream.write_all(buf).await;
            buf = b;
            written?;
        }
        stream.shutdown().await
    }

    /// Each stream split into owned halves (monoio's `into_split`), one
    /// owned-buffer copy loop per direction, both in this task.
    async fn relay(
        MonoioStream(client): MonoioStream,
        MonoioStream(upstream): MonoioStream,
        buf_size: usize,
    ) -> io::Result<()> {
        let (client_read, client_write) = client.into_split();
        let (upstream_read, upstream_write) = upstream.into_split();
        let (up, down) = monoio::join!(
            pipe(client_read, upstream_write, buf_size),
            pipe(upstream_read, client_write, buf_size)
        );
        up.and(down)
    }
}

/// Copies `from` into `to` until `from` ends, then shuts `to`'s write
/// half.
async fn pipe<R: AsyncReadRent, W: AsyncWriteRent>(
    mut from: R,
    mut to: W,
    buf_size: usize,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(buf_size);
    loop {
        buf.clear();
        let (read, b) = from.read(buf).await;
        buf = b;
        if read? == 0 {
            break;
        }
        let (written, b) = to.write_all(buf).await;
        buf = b;
        written?;
    }
    to.shutdown().await
}
