//! What goes on the wire for each workload, and the reader that checks
//! what comes back. The connection loop is the same for every workload.

use crate::echo::{EchoPattern, EchoVerifier};
use crate::http::{HttpReader, HttpWorkload, Verdict};
use crate::spec::Workload;

/// One connection's requests.
#[derive(Debug)]
pub(crate) enum Wire {
    Echo(EchoPattern),
    Http {
        request: Vec<u8>,
        workload: HttpWorkload,
        /// Latency class of the connection ([`HttpWorkload::class_of`]).
        class: usize,
    },
}

/// One connection's response checker.
#[derive(Debug)]
pub(crate) enum Reader {
    Echo(EchoVerifier),
    Http(HttpReader),
}

impl Wire {
    /// The requests of connection `id`.
    pub(crate) fn new(id: u64, workload: &Workload) -> Wire {
        match workload {
            Workload::Echo { message_bytes } => Wire::Echo(EchoPattern::new(id, *message_bytes)),
            Workload::Http(w) => Wire::Http {
                request: w.request_bytes_for(id),
                workload: w.clone(),
                class: w.class_of(id),
            },
        }
    }

    /// The latency class this connection records under.
    pub(crate) fn class(&self) -> usize {
        match self {
            Wire::Echo(_) => 0,
            Wire::Http { class, .. } => *class,
        }
    }

    /// The bytes of request `seq`.
    pub(crate) fn request(&self, seq: u64) -> &[u8] {
        match self {
            Wire::Echo(p) => p.message(seq),
            Wire::Http { request, .. } => request,
        }
    }

    /// A fresh checker for a new connection.
    pub(crate) fn reader(&self) -> Reader {
        match self {
            Wire::Echo(_) => Reader::Echo(EchoVerifier::default()),
            Wire::Http { workload, .. } => Reader::Http(HttpReader::new(workload)),
        }
    }

    /// Whether each connection carries a single request.
    pub(crate) fn one_per_connection(&self) -> bool {
        matches!(self, Wire::Http { workload, .. } if !workload.keep_alive)
    }

    /// Read buffer size suited to the replies.
    pub(crate) fn read_buffer(&self) -> usize {
        match self {
            Wire::Echo(p) => p.size().clamp(4096, 64 * 1024),
            Wire::Http { .. } => 64 * 1024,
        }
    }
}

impl Reader {
    /// Checks received bytes; see [`HttpReader::feed`].
    pub(crate) fn feed(
        &mut self,
        wire: &Wire,
        data: &[u8],
        outstanding: usize,
        mut on_complete: impl FnMut(Verdict),
    ) -> Result<(), &'static str> {
        match (self, wire) {
            (Reader::Echo(v), Wire::Echo(p)) => v
                .feed(p, data, outstanding, |intact| {
                    on_complete(if intact { Ok(None) } else { Err("mismatch") })
                })
                .map_err(|_| "unexpected bytes"),
            (Reader::Http(r), _) => r.feed(data, outstanding, on_complete),
            (Reader::Echo(_), _) => unreachable!("readers come from their wire"),
        }
    }

    /// The peer closed: completes a close-delimited response if one was
    /// being read.
    pub(crate) fn on_close(&mut self, on_complete: impl FnMut(Verdict)) -> bool {
        match self {
            Reader::Echo(_) => false,
            Reader::Http(r) => r.on_close(on_complete),
        }
    }
}
