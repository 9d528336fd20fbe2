//! The tokio runtime adapter, in two flavours, and the tokio cores.
//!
//! - `tokio-mt`: tokio's multi-thread (work-stealing) runtime, one shared
//!   listener and one accept loop ([`serve_multi_thread`]); every
//!   connection a task any worker may run.
//! - `tokio-tpc`: one `current_thread` runtime per CPU with its own
//!   `SO_REUSEPORT` listener ([`TokioTpc`], on the engine's thread-per-core
//!   lifecycle): thread-per-core on epoll.
//!
//! What is tokio's is here: the stream and connect/timer the engine runs
//! on ([`TokioStream`], [`TokioRt`]), the echo loop in tokio's I/O style,
//! and the two ways to run. The compositions are `pb-tower`, `pb-borrow`,
//! `pb-filter` and `pb-raw`; each core below is one flavour with one of
//! them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pb_borrow::Borrowing;
use pb_core::{CoreInfo, ProxyCore, Scenario, ServeError, ServeOpts, grid_info};
use pb_engine::lifecycle::{ThreadPerCore, ThreadSlot, TpcCore, drain};
use pb_engine::pool::SharedPool;
use pb_engine::route::SharedRouting;
use pb_engine::{ConnGauge, Echo, EchoParams, Runtime, Stream};
use pb_filter::chain::Chain;
use pb_filter::ctx::ContextChain;
use pb_filter::{FilterChain, FilterChainCtx};
use pb_raw::{Direct, Handler, NoAbstraction};
use pb_sys::{Shutdown, accept, socket};
use pb_tower::{Sharing, Tower};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What every tokio core serves.
const SCENARIOS: &[Scenario] = Scenario::ALL;

const MT: &str = "tokio 1 multi-thread (work stealing), epoll, one listener";
const TPC: &str = "tokio 1 current_thread per core (thread-per-core), epoll, SO_REUSEPORT";

/// `tokio-tower` (tokio-mt/tower-buffer): the way most tokio proxies are
/// built, and the mission's tokio core.
pub static TOKIO_TOWER: TokioMt = TokioMt::new(
    MtComposition::Tower(Sharing::Buffer),
    &CoreInfo {
        name: "tokio-tower",
        runtime: MT,
        service: Sharing::Buffer.describe(),
        grid: Some(("tokio-mt", "tower-buffer")),
        requirements: &[],
        scenarios: SCENARIOS,
    },
);

/// tokio-mt/tower-clone: the stack cloned per connection, as hyper and
/// axum drive theirs.
pub static TOKIO_MT_TOWER_CLONE: TokioMt = TokioMt::new(
    MtComposition::Tower(Sharing::Clone),
    grid_info!("tokio-mt" / "tower-clone", runtime: MT, service: Sharing::Clone.describe(),
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-mt/filter-chain.
pub static TOKIO_MT_FILTER_CHAIN: TokioMt = TokioMt::new(
    MtComposition::FilterChain,
    grid_info!("tokio-mt" / "filter-chain", runtime: MT, service: pb_filter::SERVICE_CHAIN,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-mt/filter-chain-ctx.
pub static TOKIO_MT_FILTER_CHAIN_CTX: TokioMt = TokioMt::new(
    MtComposition::FilterChainCtx,
    grid_info!("tokio-mt" / "filter-chain-ctx", runtime: MT, service: pb_filter::SERVICE_CTX,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-mt/raw: no service abstraction.
pub static TOKIO_MT_RAW: TokioMt = TokioMt::new(
    MtComposition::Raw,
    grid_info!("tokio-mt" / "raw", runtime: MT, service: pb_raw::SERVICE,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/tower-buffer: a request stack behind `Buffer` per thread.
pub static TOKIO_TPC_TOWER_BUFFER: TpcCore<TokioTpc, Tower> = TpcCore::new(
    TokioTpc,
    Tower(Sharing::Buffer),
    grid_info!("tokio-tpc" / "tower-buffer", runtime: TPC,
        service: "tower Layer stack, the request stack shared through Buffer per thread",
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/tower-clone.
pub static TOKIO_TPC_TOWER_CLONE: TpcCore<TokioTpc, Tower> = TpcCore::new(
    TokioTpc,
    Tower(Sharing::Clone),
    grid_info!("tokio-tpc" / "tower-clone", runtime: TPC, service: Sharing::Clone.describe(),
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/borrowing: the monoio cores' stacks on tokio.
pub static TOKIO_TPC_BORROWING: TpcCore<TokioTpc, Borrowing> = TpcCore::new(
    TokioTpc,
    Borrowing,
    grid_info!("tokio-tpc" / "borrowing", runtime: TPC, service: pb_borrow::SERVICE,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/filter-chain.
pub static TOKIO_TPC_FILTER_CHAIN: TpcCore<TokioTpc, FilterChain> = TpcCore::new(
    TokioTpc,
    FilterChain::NEW,
    grid_info!("tokio-tpc" / "filter-chain", runtime: TPC, service: pb_filter::SERVICE_CHAIN,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/filter-chain-ctx.
pub static TOKIO_TPC_FILTER_CHAIN_CTX: TpcCore<TokioTpc, FilterChainCtx> = TpcCore::new(
    TokioTpc,
    FilterChainCtx::NEW,
    grid_info!("tokio-tpc" / "filter-chain-ctx", runtime: TPC, service: pb_filter::SERVICE_CTX,
        requirements: &[], scenarios: SCENARIOS),
);

/// tokio-tpc/raw.
pub static TOKIO_TPC_RAW: TpcCore<TokioTpc, NoAbstraction> = TpcCore::new(
    TokioTpc,
    NoAbstraction::NEW,
    grid_info!("tokio-tpc" / "raw", runtime: TPC, service: pb_raw::SERVICE,
        requirements: &[], scenarios: SCENARIOS),
);

// === impl TokioMt ===

/// Serves a `pb-raw` connection loop with step `$step` on the
/// multi-thread flavour: one handler for the process, idle upstream
/// connections in a shared pool (as the tower stacks keep them). A macro,
/// not a function generic over the step, because whether a step's
/// futures are `Send` (what the work-stealing runtime requires) is only
/// known for a named step type.
macro_rules! serve_handler {
    ($step:ty, $opts:expr, $shutdown:expr, $on_ready:expr) => {
        serve_multi_thread($opts, $shutdown, $on_ready, |gauge| {
            let handler = Arc::new(Handler::<$step, _>::new(
                $opts,
                gauge,
                SharedPool::default(),
                0,
            ));
            move |stream| {
                let handler = Arc::clone(&handler);
                async move { handler.serve::<TokioRt>(stream).await }
            }
        })
    };
}

/// A composition on the multi-thread flavour.
#[derive(Debug, Clone, Copy)]
pub enum MtComposition {
    /// `pb-tower`, shared as given.
    Tower(Sharing),
    /// `pb-filter`'s per-request filter instances, on `pb-raw`'s loop.
    FilterChain,
    /// `pb-filter`'s shared filters with a per-request context.
    FilterChainCtx,
    /// `pb-raw`: no abstraction.
    Raw,
}

/// A core on the multi-thread flavour.
#[derive(Debug)]
pub struct TokioMt {
    composition: MtComposition,
    info: &'static CoreInfo,
}

impl TokioMt {
    /// The core `info` describes.
    pub const fn new(composition: MtComposition, info: &'static CoreInfo) -> TokioMt {
        TokioMt { composition, info }
    }
}

impl ProxyCore for TokioMt {
    fn info(&self) -> &'static CoreInfo {
        self.info
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        match self.composition {
            MtComposition::Tower(sharing) => {
                serve_multi_thread(opts, shutdown, on_ready, |gauge| {
                    let stack = pb_tower::connection_stack::<TokioRt>(opts, gauge, sharing);
                    move |stream| pb_tower::serve_connection::<TokioRt>(stack.clone(), stream)
                })
            }
            MtComposition::FilterChain => {
                serve_handler!(Chain<SharedRouting>, opts, shutdown, on_ready)
            }
            MtComposition::FilterChainCtx => {
                serve_handler!(ContextChain<SharedRouting>, opts, shutdown, on_ready)
            }
            MtComposition::Raw => serve_handler!(Direct<SharedRouting>, opts, shutdown, on_ready),
        }
    }
}

/// Serves `opts` on tokio's multi-thread runtime: `opts.threads` workers
/// on the CPU set, one listener, one accept loop spawning `handle(stream)`
/// per connection; `make` builds the handler inside the runtime (a
/// `Buffer` spawns its worker there) with the connection gauge the drain
/// waits on.
pub fn serve_multi_thread<M, H, F>(
    opts: &ServeOpts,
    shutdown: &Shutdown,
    on_ready: &mut dyn FnMut(SocketAddr, usize),
    make: M,
) -> Result<(), ServeError>
where
    M: FnOnce(&ConnGauge) -> H,
    H: Fn(TokioStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    opts.validate()?;
    // Pin before the runtime exists so every worker inherits the set.
    opts.pin_current_thread()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .thread_name("tokio-mt-worker")
        .enable_all()
        .build()
        .map_err(|source| ServeError::Runtime {
            runtime: "tokio",
            source,
        })?;
    let bind_error = |source| ServeError::Bind {
        addr: opts.listen,
        source,
    };
    let std_listener = socket::listener(opts.listen).map_err(bind_error)?;
    let result = runtime.block_on(async {
        let listener = TcpListener::from_std(std_listener).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let gauge = ConnGauge::default();
        let handle = make(&gauge);
        on_ready(addr, opts.threads);
        accept::accept_until_shutdown(
            || listener.accept(),
            tokio::time::sleep,
            shutdown,
            |accepted| {
                // A failed accept (descriptor exhaustion, a reset in the
                // queue) costs that connection only; the driver counts
                // what it lost.
                if let Ok((stream, _peer)) = accepted {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle(TokioStream(stream)));
                }
            },
        )
        .await;
        drop(listener);
        drain(&gauge, opts.drain, tokio::time::sleep).await;
        Ok(())
    });
    runtime.shutdown_timeout(opts.drain);
    result
}

// === impl TokioTpc ===

/// tokio as a thread-per-core runtime: a `current_thread` runtime and a
/// `LocalSet` per thread (tasks never move between threads).
#[derive(Debug, Clone, Copy)]
pub struct TokioTpc;

impl ThreadPerCore for TokioTpc {
    type Rt = TokioRt;
    type Listener = TcpListener;

    fn name(&self) -> &'static str {
        "tokio-tpc"
    }

    fn block_on<F: Future>(&self, _slot: &ThreadSlot, fut: F) -> Result<F::Output, ServeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ServeError::Runtime {
                runtime: "tokio",
                source,
            })?;
        Ok(tokio::task::LocalSet::new().block_on(&runtime, fut))
    }

    fn listen(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }

    async fn accept(listener: &TcpListener) -> io::Result<TokioStream> {
        let (stream, _peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(TokioStream(stream))
    }

    fn spawn(task: impl Future<Output = ()> + 'static) {
        // Dropping the handle detaches the task.
        tokio::task::spawn_local(task);
    }
}

// === impl TokioRt ===

/// tokio's TCP stream, as the shared forwarding code sees it.
#[derive(Debug)]
pub struct TokioStream(pub TcpStream);

impl std::os::fd::AsRawFd for TokioStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Stream for TokioStream {
    type Timer = TokioTimer;

    async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        // read_buf fills the spare capacity without zeroing it first.
        let result = self.0.read_buf(&mut buf).await;
        (result, buf)
    }

    async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.0.write_all(&buf).await;
        (result, buf)
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.shutdown().await
    }
}

/// tokio's timer as a connection's deadline: one `Sleep`, boxed once
/// (it is not `Unpin`) and moved with `reset`. tokio-uring's timers are
/// these too.
#[derive(Debug)]
pub struct TokioTimer(std::pin::Pin<Box<tokio::time::Sleep>>);

impl Future for TokioTimer {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl pb_engine::Timer for TokioTimer {
    fn at(when: std::time::Instant) -> Self {
        TokioTimer(Box::pin(tokio::time::sleep_until(when.into())))
    }

    fn reset(&mut self, when: std::time::Instant) {
        self.0.as_mut().reset(when.into());
    }
}

/// Marker type: tokio as a [`Runtime`] for the shared forwarding code.
#[derive(Debug, Clone, Copy)]
pub struct TokioRt;

impl Runtime for TokioRt {
    type Stream = TokioStream;

    async fn connect(addr: SocketAddr) -> io::Result<TokioStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream(stream))
    }

    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }
}

pb_tower::send_runtime!(TokioRt);

// === impl Echo ===

/// Echoes through tokio's `AsyncRead`/`AsyncWrite` on a buffer of its own.
impl Echo for TokioRt {
    async fn echo(TokioStream(mut stream): TokioStream, params: EchoParams) -> io::Result<()> {
        let mut buf = vec![0u8; params.buf_size];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            params.spin.burn();
            stream.write_all(&buf[..n]).await?;
        }
        stream.shutdown().await
    }

    /// tokio's own bidirectional copy: each direction shuts the other
    /// side's write half when its source ends.
    async fn relay(
        TokioStream(mut client): TokioStream,
        TokioStream(mut upstream): TokioStream,
        buf_size: usize,
    ) -> io::Result<()> {
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, buf_size, buf_size)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pb_engine::Deadline;

    use super::TokioTimer;

    /// An operation that finishes after `after`, giving `value`.
    async fn op(after: Duration, value: u32) -> u32 {
        tokio::time::sleep(after).await;
        value
    }

    /// One connection's timer across operations with different limits:
    /// a timer set for an earlier operation that fires during a later,
    /// longer one is moved on (not a timeout); a shorter limit than the
    /// timer's moves it earlier; an operation past its own limit times
    /// out. Margins are several times the durations, so a busy machine
    /// does not change the outcome.
    #[tokio::test]
    async fn one_timer_serves_every_operation_of_a_connection() {
        let ms = Duration::from_millis;
        let mut deadline = Deadline::<TokioTimer>::default();
        assert_eq!(deadline.race(ms(500), op(ms(50), 1)).await, Some(1));
        // The timer was set for 500 ms after the first operation waited:
        // it fires during this one, which has 2 s.
        assert_eq!(deadline.race(ms(2000), op(ms(1000), 2)).await, Some(2));
        // A shorter limit than the timer's: moved earlier, and it fires.
        assert_eq!(deadline.race(ms(100), op(ms(3000), 3)).await, None);
        // Ready at once: no clock, no timer involved.
        assert_eq!(deadline.race(ms(1), async { 4 }).await, Some(4));
        // A timer that has fired is still usable.
        assert_eq!(deadline.race(ms(2000), op(ms(20), 5)).await, Some(5));
    }
}
