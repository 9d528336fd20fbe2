//! Running a program under valgrind and reading its instruction count.
//!
//! The tool is cachegrind with the cache simulation off
//! (`--cache-sim=no`): it counts guest instructions executed by every
//! thread ("I refs", the same `Ir` callgrind reports as "Collected") and is
//! the cheapest valgrind tool that does. Every run is wrapped in
//! `timeout -s KILL`: valgrind cannot run io_uring programs (it hangs and
//! ignores SIGTERM there), and a stuck run must never stall CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::icount::IcountError;

/// How valgrind is invoked.
#[derive(Debug, Clone)]
pub struct Valgrind {
    /// `valgrind` executable.
    pub program: PathBuf,
    /// Hard limit per run (`timeout -s KILL`).
    pub timeout: Duration,
}

impl Default for Valgrind {
    fn default() -> Self {
        Valgrind {
            program: PathBuf::from("valgrind"),
            timeout: Duration::from_secs(300),
        }
    }
}

impl Valgrind {
    /// `valgrind --version`, e.g. `valgrind-3.19.0`.
    pub fn version(&self) -> Result<String, IcountError> {
        let out = Command::new(&self.program)
            .arg("--version")
            .output()
            .map_err(|source| IcountError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// What the report's `tool` field says.
    pub fn describe(&self) -> Result<String, IcountError> {
        Ok(format!(
            "{} cachegrind --cache-sim=no (I refs)",
            self.version()?
        ))
    }

    /// `timeout -s KILL <secs> valgrind --tool=cachegrind ... <program> <args>`,
    /// stdin closed; stdout and stderr are the caller's to set.
    pub fn command<I, S>(&self, program: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new("timeout");
        cmd.arg("-s")
            .arg("KILL")
            .arg(format!("{}", self.timeout.as_secs().max(1)))
            .arg(&self.program)
            .arg("--tool=cachegrind")
            .arg("--cache-sim=no")
            .arg("--cachegrind-out-file=/dev/null")
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `program args` to completion under valgrind and returns its
    /// instruction count. `what` names the run in errors.
    pub fn count(&self, what: &str, program: &Path, args: &[String]) -> Result<u64, IcountError> {
        let out = self
            .command(program, args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| IcountError::Spawn {
                program: program.to_owned(),
                source,
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(IcountError::Failed {
                what: what.to_owned(),
                status: out.status.to_string(),
                stderr_tail: tail(&stderr),
            });
        }
        parse_instructions(&stderr).ok_or_else(|| IcountError::NoCount {
            what: what.to_owned(),
            stderr_tail: tail(&stderr),
        })
    }
}

/// The total from cachegrind's summary (`==123== I   refs:      1,234,567`)
/// or callgrind's (`==123== Collected : 1234567`).
pub fn parse_instructions(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let rest = line
            .split_once("I   refs:")
            .or_else(|| line.split_once("I refs:"))
            .or_else(|| line.split_once("Collected :"))?
            .1;
        let digits: String = rest
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The last lines of a process's stderr, for error messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cachegrind_and_callgrind_totals() {
        let cachegrind = "==42== \n==42== I   refs:      15,237,147\n";
        assert_eq!(parse_instructions(cachegrind), Some(15_237_147));
        let callgrind = "==7== Events    : Ir\n==7== Collected : 3749195\n==7== \n";
        assert_eq!(parse_instructions(callgrind), Some(3_749_195));
        assert_eq!(parse_instructions("nothing here"), None);
    }
}
