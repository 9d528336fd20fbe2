//! `proxybench clock`: this host's clock, read on demand over standard
//! input and output. A driver fleet's runner starts it over SSH on each
//! host and sends a line whenever it wants a reading; the reply is
//! `CLOCK_REALTIME` in Unix nanoseconds, taken as the line arrives, so
//! the runner can place the reading inside its own round trip
//! (`pb_runner::fleet`). Not run by hand.

use std::io::{BufRead as _, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Outcome;

/// Readings one session answers at most: a runner asks for a few dozen.
const MAX_READINGS: usize = 1000;

/// Options of `clock` (none).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> anyhow::Result<Outcome> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {} {}",
        pb_results::fleet::CLOCK_HEADER,
        env!("CARGO_PKG_VERSION"),
        host.trim()
    )?;
    out.flush()?;
    for line in std::io::stdin().lock().lines().take(MAX_READINGS) {
        line?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        writeln!(out, "{now}")?;
        out.flush()?;
    }
    Ok(Outcome::Ok)
}
