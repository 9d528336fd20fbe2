//! The tokio-uring runtime adapter, and the cores built on it: one
//! tokio-uring runtime per thread (a tokio `current_thread` runtime and
//! `LocalSet` whose I/O goes through an io_uring instance of its own),
//! each pinned with its own `SO_REUSEPORT` listener. This is io_uring
//! without leaving tokio: timers, `spawn_local` and the scheduler are
//! tokio's, only the socket I/O changes, so beside `tokio-tpc` (the same
//! scheduler on epoll) and `monoio` (io_uring on its own runtime) it
//! separates the I/O driver from the runtime.
//!
//! What is here is only what is tokio-uring's: the stream and
//! connect/timer the engine runs on ([`UringStream`], [`UringRt`]), how
//! to build a runtime and accept and spawn on it ([`ThreadPerCore`]), and
//! the echo loop in its owned-buffer I/O. The compositions are
//! `pb-borrow`'s, `pb-filter`'s and `pb-raw`'s; tower's cannot run here
//! (the registry says why).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use pb_borrow::Borrowing;
use pb_core::{Requirement, Scenario, ServeError, grid_info};
use pb_engine::lifecycle::{ThreadPerCore, ThreadSlot, TpcCore};
use pb_engine::{Echo, EchoParams, Runtime, Stream};
use pb_filter::{FilterChain, FilterChainCtx};
use pb_raw::NoAbstraction;
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

const RUNTIME: &str = "tokio-uring 0.5 per core (tokio current_thread + io_uring), SO_REUSEPORT";
const REQUIREMENTS: &[Requirement] = &[Requirement::IoUring];
const SCENARIOS: &[Scenario] = Scenario::ALL;

/// tokio-uring as a thread-per-core runtime.
#[derive(Debug, Clone, Copy)]
pub struct TokioUring;

/// tokio-uring/borrowing.
pub static TOKIO_URING_BORROWING: TpcCore<TokioUring, Borrowing> = TpcCore::new(
    TokioUring,
    Borrowing,
    grid_info!("tokio-uring" / "borrowing", runtime: RUNTIME, service: pb_borrow::SERVICE,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// tokio-uring/filter-chain.
pub static TOKIO_URING_FILTER_CHAIN: TpcCore<TokioUring, FilterChain> = TpcCore::new(
    TokioUring,
    FilterChain::NEW,
    grid_info!("tokio-uring" / "filter-chain", runtime: RUNTIME, service: pb_filter::SERVICE_CHAIN,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// tokio-uring/filter-chain-ctx.
pub static TOKIO_URING_FILTER_CHAIN_CTX: TpcCore<TokioUring, FilterChainCtx> = TpcCore::new(
    TokioUring,
    FilterChainCtx::NEW,
    grid_info!("tokio-uring" / "filter-chain-ctx", runtime: RUNTIME, service: pb_filter::SERVICE_CTX,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

/// tokio-uring/raw.
pub static TOKIO_URING_RAW: TpcCore<TokioUring, NoAbstraction> = TpcCore::new(
    TokioUring,
    NoAbstraction::NEW,
    grid_info!("tokio-uring" / "raw", runtime: RUNTIME, service: pb_raw::SERVICE,
        requirements: REQUIREMENTS, scenarios: SCENARIOS),
);

impl ThreadPerCore for TokioUring {
    type Rt = UringRt;
    type Listener = TcpListener;

    fn name(&self) -> &'static str {
        "tokio-uring"
    }

    fn block_on<F: Future>(&self, _slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError> {
        // tokio-uring's `start` unwraps the ring's creation; building the
        // runtime ourselves turns "no io_uring here" into the error the
        // runner reports as unavailable.
        let runtime = tokio_uring::Runtime::new(&tokio_uring::builder()).map_err(|source| {
            ServeError::Unavailable {
                reason: format!("tokio-uring runtime: {source}"),
            }
        })?;
        Ok(runtime.block_on(fut))
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        // Left blocking, as tokio-uring's own `bind` leaves its sockets:
        // io_uring waits for readiness itself.
        Ok(TcpListener::from_std(listener))
    }

    async fn accept(listener: &TcpListener) -> io::Result<UringStream> {
        let (stream, _peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(UringStream(stream))
    }

    fn spawn(task: impl Future<Output = ()> + 'static) {
        // Dropping the handle detaches the task.
        tokio_uring::spawn(task);
    }
}

// === impl UringRt ===

/// tokio-uring's TCP stream, as the shared forwarding code sees it.
pub struct UringStream(pub TcpStream);

impl std::fmt::Debug for UringStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::os::fd::AsRawFd;
        f.debug_tuple("UringStream")
            .field(&self.0.as_raw_fd())
            .finish()
    }
}

impl std::os::fd::AsRawFd for UringStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for UringStream {
    type Timer = pb_rt_tokio::TokioTimer;

    async fn read(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (len, cap) = (buf.len(), buf.capacity());
        // A plain `Vec` is read into from its start; the slice of its spare
        // capacity is filled in place after what it holds.
        let (result, slice) = self.0.read(buf.slice(len..cap)).await;
        (result, slice.into_inner())
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.0.write_all(buf).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown(std::net::Shutdown::Write)
    }
}

/// Marker type: tokio-uring as a [`Runtime`] for the shared forwarding
/// code. Timers are tokio's (the runtime underneath is tokio's).
#[derive(Debug, Clone, Copy)]
pub struct UringRt;

impl Runtime for UringRt {
    type Stream = UringStream;

    async fn connect(addr: SocketAddr) -> io::Result<UringStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(UringStream(stream))
    }

    async fn sleep(d: std::time::Duration) {
        tokio::time::sleep(d).await
    }
}

// === impl Echo ===

/// Echoes with tokio-uring's owned-buffer I/O: the buffer moves into each
/// read and write and comes back with the result.
impl Echo for UringRt {
    async fn echo(UringStream(stream): UringStream, params: EchoParams) -> io::Result<()> {
        let mut buf = Vec::with_capacity(params.buf_size);
        loop {
            // Each read starts at the front of an empty buffer.
            buf.clear();
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
        stream.shutdown(std::net::Shutdown::Write)
    }

    /// tokio-uring's reads and writes take `&self`, so both directions
    /// run on the unsplit streams, joined in this task.
    async fn relay(
        UringStream(client): UringStream,
        UringStream(upstream): UringStream,
        buf_size: usize,
    ) -> io::Result<()> {
        let (up, down) = tokio::join!(
            pipe(&client, &upstream, buf_size),
            pipe(&upstream, &client, buf_size)
        );
        up.and(down)
    }
}

/// Copies `from` into `to` until `from` ends, then shuts `to`'s write
/// side.
async fn pipe(from: &TcpStream, to: &TcpStream, buf_size: usize) -> io::Result<()> {
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
    to.shutdown(std::net::Shutdown::Write)
}
