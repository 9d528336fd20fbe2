//! The echo scenario's handler: the one piece each runtime writes in its
//! own I/O style (owned buffers on monoio, borrowed slices on tokio and
//! glommio), because that style is part of what the comparison measures.
//! Every composition serves it the same way.

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

/// A runtime's echo loop: whatever arrives is written back; on the peer's
/// FIN the write side is shut.
pub trait Echo: Runtime {
    /// Echoes one connection.
    fn echo(stream: Self::Stream, params: EchoParams) -> impl Future<Output = io::Result<()>>;
}
