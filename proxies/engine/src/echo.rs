//! The byte-stream loops each runtime writes in its own I/O style (owned
//! buffers on monoio, borrowed slices on tokio and glommio), because that
//! style is part of what the comparison measures: the echo scenario's
//! loop, and the relay under tcp-forward ([`crate::tunnel`]). Every
//! composition serves them the same way.

use std::future::Future;
use std::io;

use pb_core::{ServeOpts, Spin};

use crate::io::Runtime;

/// What an echo loop needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoParams {
    /// Read buffer per connection, bytes.
    pub buf_size: usize,
    /// Extra work per request (gate calibration; none by default).
    pub spin: Spin,
}

impl EchoParams {
    /// The echo settings of `opts`.
    pub fn new(opts: &ServeOpts) -> EchoParams {
        EchoParams {
            buf_size: opts.buf_size,
            spin: opts.spin,
        }
    }
}

/// A runtime's byte-stream loops.
pub trait Echo: Runtime {
    /// Echoes one connection: whatever arrives is written back; on the
    /// peer's FIN the write side is shut.
    fn echo(stream: Self::Stream, params: EchoParams) -> impl Future<Output = io::Result<()>>;

    /// Relays `client` and `upstream` both ways at once, reading at most
    /// `buf_size` bytes at a time, until both directions have ended: a
    /// side's FIN shuts the other side's write half once everything it
    /// sent before is written (a half-closed connection stays usable the
    /// other way). An error on either side ends both.
    fn relay(
        client: Self::Stream,
        upstream: Self::Stream,
        buf_size: usize,
    ) -> impl Future<Output = io::Result<()>>;
}
