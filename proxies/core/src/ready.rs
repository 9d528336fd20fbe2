//! The readiness line: the one line a core prints on stdout once every
//! serving thread is listening. The runner blocks on it, so a core is never
//! measured while still binding.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Leading token that makes the line easy to find among other output.
pub const READY_TOKEN: &str = "proxybench-ready";

/// What a core announces when it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyLine {
    /// Core name, as in the registry.
    pub core: String,
    /// The address clients should connect to (port 0 resolved).
    pub addr: SocketAddr,
    /// Serving threads started.
    pub threads: usize,
    /// Process id, so a supervisor that did not spawn the core can sample it.
    pub pid: u32,
    /// Where the process's allocation counters are (`pb-alloc`'s table),
    /// when it counts them: the supervisor reads them from outside.
    pub alloc_table: Option<usize>,
    /// Where the core takes new configurations (`proxy --admin`): `PUT
    /// /config` with the new TOML.
    pub admin: Option<SocketAddr>,
}

impl fmt::Display for ReadyLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{READY_TOKEN} core={} addr={} threads={} pid={}",
            self.core, self.addr, self.threads, self.pid
        )?;
        if let Some(at) = self.alloc_table {
            write!(f, " allocs={at:#x}")?;
        }
        if let Some(admin) = self.admin {
            write!(f, " admin={admin}")?;
        }
        Ok(())
    }
}

/// A line that is not a well-formed readiness line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a readiness line ({reason}): {line:?}")]
pub struct ReadyParseError {
    line: String,
    reason: String,
}

impl FromStr for ReadyLine {
    type Err = ReadyParseError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ReadyParseError {
            line: line.to_owned(),
            reason,
        };
        let mut words = line.split_whitespace();
        if words.next() != Some(READY_TOKEN) {
            return Err(err(format!("does not start with {READY_TOKEN}")));
        }
        let (mut core, mut addr, mut threads, mut pid) = (None, None, None, None);
        let (mut alloc_table, mut admin) = (None, None);
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| err(format!("{word:?} is not key=value")))?;
            let bad = |_| err(format!("bad value for {key}"));
            match key {
                "core" => core = Some(value.to_owned()),
                "addr" => {
                    addr = Some(
                        value
                            .parse()
                            .map_err(|e: std::net::AddrParseError| bad(e.to_string()))?,
                    )
                }
                "threads" => {
                    threads = Some(
                        value
                            .parse()
                            .map_err(|e: std::num::ParseIntError| bad(e.to_string()))?,
                    )
                }
                "pid" => {
                    pid = Some(
                        value
                            .parse()
                            .map_err(|e: std::num::ParseIntError| bad(e.to_string()))?,
                    )
                }
                "allocs" => {
                    let hex = value
                        .strip_prefix("0x")
                        .ok_or_else(|| bad(format!("{value:?} is not 0x-prefixed hex")))?;
                    alloc_table = Some(
                        usize::from_str_radix(hex, 16)
                            .map_err(|e: std::num::ParseIntError| bad(e.to_string()))?,
                    )
                }
                "admin" => {
                    admin = Some(
                        value
                            .parse()
                            .map_err(|e: std::net::AddrParseError| bad(e.to_string()))?,
                    )
                }
                _ => {} // unknown keys are ignored so the line can grow
            }
        }
        let missing = |key: &str| err(format!("missing {key}"));
        Ok(ReadyLine {
            core: core.ok_or_else(|| missing("core"))?,
            addr: addr.ok_or_else(|| missing("addr"))?,
            threads: threads.ok_or_else(|| missing("threads"))?,
            pid: pid.ok_or_else(|| missing("pid"))?,
            alloc_table,
            admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let line = ReadyLine {
            core: "monoio".into(),
            addr: "[::1]:8080".parse().unwrap(),
            threads: 4,
            pid: 42,
            alloc_table: None,
            admin: None,
        };
        assert_eq!(line.to_string().parse::<ReadyLine>().unwrap(), line);
        let counting = ReadyLine {
            alloc_table: Some(0x5555_dead_beef),
            admin: Some("127.0.0.1:9999".parse().unwrap()),
            ..line
        };
        let text = counting.to_string();
        assert!(
            text.ends_with(" allocs=0x5555deadbeef admin=127.0.0.1:9999"),
            "{text}"
        );
        assert_eq!(text.parse::<ReadyLine>().unwrap(), counting);
    }

    #[test]
    fn rejects_other_lines() {
        assert!(
            "proxybench-ready core=x addr=127.0.0.1:1 threads=1 pid=1 allocs=12"
                .parse::<ReadyLine>()
                .is_err()
        );
        assert!("hello".parse::<ReadyLine>().is_err());
        assert!(
            "proxybench-ready core=x addr=nope threads=1 pid=1"
                .parse::<ReadyLine>()
                .is_err()
        );
        assert!(
            "proxybench-ready core=x threads=1 pid=1"
                .parse::<ReadyLine>()
                .is_err()
        );
    }
}
