//! Instructions per echo request through a real core process under
//! valgrind: start `proxybench proxy --core NAME` under valgrind, wait for
//! its readiness line, make exactly N echo round trips on one connection,
//! stop it with SIGTERM (the cores exit 0 on it) and read the count.
//!
//! The client pauses between round trips (`pause`) so the core is back in
//! its event loop's wait before each request: every request then takes
//! the same path (wait -> read -> write -> read would block -> wait).
//! Without the pause, whether a request is already queued when the core
//! looks depends on timing, and so does the count (by 20 % for monoio on
//! epoll in trials here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use pb_core::ReadyLine;

use crate::icount::IcountError;
use crate::icount::valgrind::{Valgrind, parse_instructions, tail};

/// Bytes per echo message: the `echo/100B` cell's size.
pub const MESSAGE_BYTES: usize = 100;

/// Cores valgrind can run (epoll only; io_uring hangs under valgrind).
pub const VALGRIND_CORES: [&str; 2] = ["tokio-tower", "monoio-epoll"];

/// How one core run is done.
#[derive(Debug, Clone)]
pub struct CoreRun<'a> {
    /// The `proxybench` binary.
    pub proxybench: &'a Path,
    /// Core name.
    pub core: &'a str,
    /// Round trips to make.
    pub requests: u64,
    /// Pause after each round trip.
    pub pause: Duration,
    /// Longest wait for the readiness line.
    pub startup_timeout: Duration,
    /// Extra work per request in the core (`proxy --spin-iters`): a known
    /// injected cost, to show what the gate catches; 0 normally.
    pub spin_iters: u64,
}

/// Runs the core under valgrind for `run.requests` round trips and returns
/// the process's instruction count.
pub fn count_core(valgrind: &Valgrind, run: &CoreRun<'_>) -> Result<u64, IcountError> {
    let what = format!("{} x{} requests", run.core, run.requests);
    let mut child = valgrind
        .command(
            run.proxybench,
            [
                "proxy",
                "--core",
                run.core,
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "1",
                "--spin-iters",
                &run.spin_iters.to_string(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| IcountError::Spawn {
            program: run.proxybench.to_owned(),
            source,
        })?;
    // stderr is read on its own thread so valgrind never blocks on a full pipe.
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let ready = match wait_ready(&mut child, run, &what) {
        Ok(ready) => ready,
        Err(e) => {
            stop(&mut child);
            return Err(e.with_stderr(&stderr_reader.join().unwrap_or_default()));
        }
    };
    if let Err(source) = echo(ready.addr, run.requests, run.pause) {
        stop(&mut child);
        let stderr = stderr_reader.join().unwrap_or_default();
        return Err(IcountError::Echo {
            what,
            source,
            stderr_tail: tail(&stderr),
        });
    }
    // SIGTERM to the core itself (valgrind runs it in the same process;
    // `timeout` would forward it too, but the pid is exact).
    let _ = kill(Pid::from_raw(ready.pid as i32), Signal::SIGTERM);
    let status = wait_until(&mut child, Instant::now() + Duration::from_secs(60));
    let stderr = stderr_reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => {
            return Err(IcountError::Failed {
                what,
                status: s.to_string(),
                stderr_tail: tail(&stderr),
            });
        }
        None => {
            stop(&mut child);
            return Err(IcountError::Timeout {
                what: format!("{what}: exit after SIGTERM"),
            });
        }
    }
    parse_instructions(&stderr).ok_or_else(|| IcountError::NoCount {
        what,
        stderr_tail: tail(&stderr),
    })
}

/// Waits for the core's readiness line.
fn wait_ready(child: &mut Child, run: &CoreRun<'_>, what: &str) -> Result<ReadyLine, IcountError> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(ready) = line.parse::<ReadyLine>() {
                let _ = tx.send(ready);
                break;
            }
        }
        // Dropping `tx` without a line tells the waiter the core died.
    });
    rx.recv_timeout(run.startup_timeout)
        .map_err(|e| IcountError::NotReady {
            what: what.to_owned(),
            reason: match e {
                mpsc::RecvTimeoutError::Timeout => {
                    format!("no readiness line within {:?}", run.startup_timeout)
                }
                mpsc::RecvTimeoutError::Disconnected => "exited before it was ready".into(),
            },
            stderr_tail: String::new(),
        })
}

/// `requests` verified round trips of [`MESSAGE_BYTES`] on one connection.
fn echo(addr: std::net::SocketAddr, requests: u64, pause: Duration) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut message = [0u8; MESSAGE_BYTES];
    let mut reply = [0u8; MESSAGE_BYTES];
    for i in 0..requests {
        for (j, b) in message.iter_mut().enumerate() {
            *b = (i as usize + j) as u8;
        }
        stream.write_all(&message)?;
        stream.read_exact(&mut reply)?;
        if reply != message {
            return Err(std::io::Error::other(format!(
                "round trip {i}: the echo differs from what was sent"
            )));
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    // The core closes after the peer's FIN: read to the end so the close
    // is part of every run alike.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(std::io::Error::other("bytes after the last echo"));
    }
    Ok(())
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Kills a run that went wrong. `timeout` leads its own process group
/// (it signals its command through it), so killing the group ends
/// valgrind and the core too, even one stuck ignoring SIGTERM.
fn stop(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}
