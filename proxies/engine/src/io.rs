//! What the forwarding code needs from a runtime: a stream with
//! owned-buffer reads and writes, `connect`, and a timer. Owned buffers are
//! the common ground: monoio's io_uring I/O needs them, and the poll-based
//! runtimes (tokio, glommio) lose nothing by them.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// A connected byte stream. Its descriptor lets the engine check an idle
/// connection and abort one given up on without the runtime
/// ([`Stream::is_quiet`], [`Stream::abort`]); an in-memory stream in a
/// test overrides both.
pub trait Stream: AsRawFd {
    /// Reads into the spare capacity of `buf` (after its length), growing
    /// its length by what was read; 0 means the peer closed its side.
    fn read(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;
    /// Writes all of `buf`.
    fn write_all(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
    /// Shuts the write side (FIN).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;
    /// Whether the peer is silent and has not closed: see
    /// [`pb_sys::socket::is_quiet`].
    fn is_quiet(&self) -> bool {
        pb_sys::socket::is_quiet(self.as_raw_fd())
    }
    /// Shuts both directions now, for a connection given up on: see
    /// [`pb_sys::socket::abort`].
    fn abort(&self) {
        pb_sys::socket::abort(self.as_raw_fd());
    }
}

/// A runtime's connect and timer.
pub trait Runtime {
    /// Its TCP stream.
    type Stream: Stream;
    /// Opens a TCP connection with `TCP_NODELAY` set.
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
    /// Sleeps.
    fn sleep(d: Duration) -> impl Future<Output = ()>;
}

/// Runs `fut` for at most `limit`; `None` if the time ran out first.
pub async fn timeout<R: Runtime, F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut timer = pin!(R::sleep(limit));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
