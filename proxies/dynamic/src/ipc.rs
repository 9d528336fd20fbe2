//! The out-of-process filter: the core starts one filter process
//! ([`Server::start`]) and each core thread keeps one Unix-socket
//! connection to it ([`Client`]). Per request the thread sends the head in
//! the [`wire`](crate::wire) form and waits for the answer, blocking: the
//! cheapest way in CPU to ask another process (no wake-up of the core's
//! event loop), and the way the request's latency shows the round trip
//! whole.
//!
//! Framing, both directions little-endian: a request is `u32 length`
//! then that many bytes; an answer is a `u16` in
//! [`Decision::code`](crate::Decision::code)'s form.
//!
//! The filter process is [`serve`]d by `proxybench filter-serve --socket
//! PATH` unless the configuration names another command. It prints one
//! line `ready` on stdout once it listens, and exits when its stdin
//! closes, so it never outlives the core that started it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::{Decision, DynamicError};

/// The largest head a filter process reads (a core's own head limit is
/// far below it).
pub const MAX_FRAME: usize = 1 << 20;

/// How long a core waits for its filter process to listen, and for one
/// answer, before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// A filter process the core started, and where it listens.
pub struct Server {
    child: Child,
    /// Held open: the process exits when it closes (when the core does).
    _stdin: ChildStdin,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `command` (this program's `filter-serve` when `None`) with
    /// `--socket PATH` appended and waits for its `ready` line.
    pub fn start(command: Option<&[String]>) -> Result<Server, DynamicError> {
        let (program, args): (PathBuf, Vec<String>) = match command {
            Some([program, args @ ..]) => (program.into(), args.to_vec()),
            _ => {
                let exe = std::env::current_exe().map_err(|e| DynamicError::Process {
                    command: "filter-serve".into(),
                    message: format!("cannot find this program: {e}"),
                })?;
                (exe, vec!["filter-serve".to_owned()])
            }
        };
        let shown = format!("{} {}", program.display(), args.join(" "));
        let failed = |message: String| DynamicError::Process {
            command: shown.clone(),
            message,
        };
        let dir = tempfile::Builder::new()
            .prefix("proxybench-filter-")
            .tempdir()
            .map_err(|e| failed(format!("cannot make a directory for its socket: {e}")))?;
        let socket = dir.path().join("filter.sock");
        let mut child = Command::new(&program)
            .args(&args)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| failed(format!("cannot start it: {e}")))?;
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = child.stdout.take().expect("stdout was piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let ready = match rx.recv_timeout(PATIENCE) {
            Ok(Ok(line)) if line.trim() == "ready" => Ok(()),
            Ok(Ok(line)) if line.is_empty() => Err("it exited before it was ready".to_owned()),
            Ok(Ok(line)) => Err(format!("it said {:?} instead of ready", line.trim())),
            Ok(Err(e)) => Err(format!("cannot read its output: {e}")),
            Err(_) => Err(format!("not ready within {} s", PATIENCE.as_secs())),
        };
        if let Err(message) = ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(message));
        }
        Ok(Server {
            child,
            _stdin: stdin,
            socket,
            _dir: dir,
        })
    }

    /// A new connection for one thread.
    pub fn connect(&self) -> Result<Client, String> {
        Client::connect(&self.socket)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One thread's connection to the filter process.
pub struct Client {
    stream: UnixStream,
    frame: Vec<u8>,
}

impl Client {
    /// Connects to a filter process listening on `socket`.
    pub fn connect(socket: &Path) -> Result<Client, String> {
        let stream = UnixStream::connect(socket)
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        stream
            .set_read_timeout(Some(PATIENCE))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            stream,
            frame: Vec::new(),
        })
    }

    /// Sends `wire` and waits for the answer.
    pub fn decide(&mut self, wire: &[u8]) -> Result<Decision, String> {
        let len = u32::try_from(wire.len())
            .ok()
            .filter(|&n| n as usize <= MAX_FRAME)
            .ok_or_else(|| format!("a {}-byte head is above the frame limit", wire.len()))?;
        self.frame.clear();
        self.frame.extend_from_slice(&len.to_le_bytes());
        self.frame.extend_from_slice(wire);
        self.stream
            .write_all(&self.frame)
            .map_err(|e| format!("cannot send to the filter process: {e}"))?;
        let mut answer = [0u8; 2];
        self.stream
            .read_exact(&mut answer)
            .map_err(|e| format!("no answer from the filter process: {e}"))?;
        Decision::from_code(i64::from(u16::from_le_bytes(answer)))
    }
}

/// The filter process's loop: answers every connection to `listener`
/// with [`native::decide_wire`](crate::native::decide_wire), a thread per
/// connection, until the process exits. A malformed frame closes its
/// connection.
pub fn serve(listener: UnixListener) -> std::io::Result<()> {
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || answer(stream));
    }
    Ok(())
}

fn answer(mut stream: UnixStream) {
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return;
        }
        frame.resize(len, 0);
        if stream.read_exact(&mut frame).is_err() {
            return;
        }
        let code = crate::native::decide_wire(&frame).code();
        if stream.write_all(&code.to_le_bytes()).is_err() {
            return;
        }
    }
}

/// Binds `socket` for [`serve`].
pub fn bind(socket: &Path) -> std::io::Result<UnixListener> {
    UnixListener::bind(socket)
}
