//! HTTP errors and the status each one answers with.

use std::fmt;

/// A protocol failure, with the status a proxy answers it with. After any
/// of these the connection it came from is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// Status to send (400, 414, 431, 502, ...).
    pub status: u16,
    /// What exactly was wrong; stable text, usable in logs and tests.
    pub reason: &'static str,
}

impl HttpError {
    /// 400 Bad Request.
    pub const fn bad_request(reason: &'static str) -> HttpError {
        HttpError {
            status: 400,
            reason,
        }
    }

    /// 431 Request Header Fields Too Large.
    pub const fn too_large(reason: &'static str) -> HttpError {
        HttpError {
            status: 431,
            reason,
        }
    }

    /// 502 Bad Gateway: the upstream's reply was malformed or cut short.
    pub const fn bad_gateway(reason: &'static str) -> HttpError {
        HttpError {
            status: 502,
            reason,
        }
    }

    /// A complete, closing response for this error.
    pub fn response(&self) -> Vec<u8> {
        crate::write::error_response(self.status, self.reason)
    }

    /// [`response`](Self::response) to a request that may be a HEAD: then
    /// without its body.
    pub fn response_for(&self, head_request: bool) -> Vec<u8> {
        crate::write::error_response_for(self.status, self.reason, head_request)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.reason
        )
    }
}

impl std::error::Error for HttpError {}

/// The standard reason phrase of the statuses a proxy produces itself.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
