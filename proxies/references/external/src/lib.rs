//! Reference proxies as cores: [`NGINX`] and [`HAPROXY`], measured
//! beside the grid so that every figure has a production proxy next to
//! it.
//!
//! An external core is a program and a configuration template. `serve`
//! renders the cell's forwarding configuration ([`ProxyConfig`]: pools,
//! policies, routes, timeouts, limits, auth, header rules) into the
//! program's own language ([`render`]), writes it to a private directory,
//! and starts the program in the foreground, pinned (the launching thread
//! pins itself first, and the child inherits its CPU set) and in a process
//! group of its own. It is ready when its port accepts a connection; it is
//! stopped with its graceful signal, then the whole group is killed after
//! the drain. The launcher then only waits, so the process tree's CPU —
//! launcher, master and workers — is the reference's own.
//!
//! The generated configuration is printed to stderr at start (`proxybench
//! proxy` keeps it beside the run) so anyone can audit what was measured.

pub mod render;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use pb_core::{CoreInfo, ProxyConfig, ProxyCore, Requirement, Scenario, ServeError, ServeOpts};
use pb_sys::Shutdown;
use pb_sys::shutdown::POLL_INTERVAL;

/// What installs the reference proxies when they are missing.
pub const INSTALL: &str = "scripts/install-references.sh";

/// How long a reference may take to accept its first connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A reference proxy: which program, how it is configured and stopped.
#[derive(Debug)]
pub struct External {
    info: &'static CoreInfo,
    program: Program,
}

/// The programs proxybench knows how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// nginx: master and one worker process per serving thread.
    Nginx,
    /// HAProxy: one process, one thread per serving thread.
    Haproxy,
}

impl Program {
    /// The executable's name.
    pub fn executable(self) -> &'static str {
        match self {
            Program::Nginx => "nginx",
            Program::Haproxy => "haproxy",
        }
    }

    /// The arguments that run it in the foreground on `config`.
    fn args(self, config: &std::path::Path, dir: &std::path::Path) -> Vec<String> {
        let config = config.display().to_string();
        match self {
            // -p: the prefix for relative paths; -e: the error log before
            // the configuration is read.
            Program::Nginx => vec![
                "-c".into(),
                config,
                "-p".into(),
                dir.display().to_string(),
                "-e".into(),
                "stderr".into(),
            ],
            // -db: foreground, no daemon.
            Program::Haproxy => vec!["-db".into(), "-f".into(), config],
        }
    }

    /// The signal that stops it gracefully: stop accepting, finish what
    /// is in flight.
    fn graceful(self) -> Signal {
        match self {
            Program::Nginx => Signal::SIGQUIT,
            Program::Haproxy => Signal::SIGUSR1,
        }
    }
}

const SCENARIOS: &[Scenario] = &[Scenario::HttpForward];

/// nginx, as Debian ships it.
pub static NGINX: External = External {
    info: &CoreInfo {
        name: "nginx",
        runtime: "nginx (Debian package): master + one worker process per thread, epoll",
        service: "reference proxy: proxy_pass to upstream blocks with keep-alive",
        grid: None,
        requirements: &[Requirement::Program {
            name: "nginx",
            install: INSTALL,
        }],
        scenarios: SCENARIOS,
    },
    program: Program::Nginx,
};

/// HAProxy, as Debian ships it.
pub static HAPROXY: External = External {
    info: &CoreInfo {
        name: "haproxy",
        runtime: "HAProxy (Debian package): one process, one thread per thread, epoll",
        service: "reference proxy: http mode frontend and backends, keep-alive",
        grid: None,
        requirements: &[Requirement::Program {
            name: "haproxy",
            install: INSTALL,
        }],
        scenarios: SCENARIOS,
    },
    program: Program::Haproxy,
};

impl ProxyCore for External {
    fn info(&self) -> &'static CoreInfo {
        self.info
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        opts.validate()?;
        let config = opts.http.as_deref().ok_or_else(|| {
            ServeError::Options(format!("{} serves http-forward only", self.info.name))
        })?;
        if opts.spin != pb_core::Spin::default() {
            return Err(ServeError::Options(format!(
                "{} cannot add injected work per request (--spin-iters)",
                self.info.name
            )));
        }
        let executable =
            pb_core::probe::find_program(self.program.executable()).ok_or_else(|| {
                ServeError::Unavailable {
                    reason: format!(
                        "{} is not installed (run {INSTALL})",
                        self.program.executable()
                    ),
                }
            })?;
        // The port: a free one held (SO_REUSEPORT, never listening) until
        // the program listens on it too, as both do with `reuseport`.
        let reservation = pb_sys::socket::PortReservation::new(opts.listen).map_err(|source| {
            ServeError::Bind {
                addr: opts.listen,
                source,
            }
        })?;
        let addr = reservation.addr();
        let mut running = self.start(&executable, opts, config, addr)?;
        let ready = running.wait_ready(addr);
        reservation.release();
        ready?;
        on_ready(addr, opts.threads);
        while !shutdown.requested() {
            if let Some(status) = running.exited() {
                return Err(running.failure(&format!("exited while serving ({status})")));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        running.stop(self.program.graceful(), opts.drain);
        Ok(())
    }
}

impl External {
    /// Writes the configuration and starts the program pinned to the
    /// core's CPUs, in a process group of its own.
    fn start(
        &self,
        executable: &std::path::Path,
        opts: &ServeOpts,
        config: &ProxyConfig,
        addr: SocketAddr,
    ) -> Result<Running, ServeError> {
        let runtime_error = |source: io::Error| ServeError::Runtime {
            runtime: self.program.executable(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("proxybench-{}-", self.info.name))
            .tempdir()
            .map_err(runtime_error)?;
        let text = render::render(self.program, config, addr, opts.threads, dir.path())
            .map_err(ServeError::Options)?;
        let path = dir.path().join(match self.program {
            Program::Nginx => "nginx.conf",
            Program::Haproxy => "haproxy.cfg",
        });
        std::fs::write(&path, &text).map_err(runtime_error)?;
        match &opts.program_config_out {
            Some(out) => std::fs::write(out, &text).map_err(runtime_error)?,
            None => eprintln!(
                "{} configuration ({}):\n{text}",
                self.info.name,
                path.display()
            ),
        }
        // The child inherits the spawning thread's CPU set.
        if let Some(cpus) = &opts.cpus {
            cpus.pin_current_thread()
                .map_err(|source| ServeError::Affinity {
                    cpu: cpus.ids()[0],
                    source,
                })?;
        }
        let child = Command::new(executable)
            .args(self.program.args(&path, dir.path()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(runtime_error)?;
        Ok(Running {
            name: self.info.name,
            child,
            _dir: dir,
        })
    }
}

/// A started reference program; its group is killed when dropped.
struct Running {
    name: &'static str,
    child: Child,
    /// Its configuration and scratch directory, removed when dropped.
    _dir: tempfile::TempDir,
}

impl Running {
    fn group(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits until `addr` accepts a connection.
    fn wait_ready(&mut self, addr: SocketAddr) -> Result<(), ServeError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(self.failure(&format!("exited before it was ready ({status})")));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "did not accept on {addr} within {READY_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn failure(&self, what: &str) -> ServeError {
        ServeError::Runtime {
            runtime: self.name,
            source: io::Error::other(format!("{} {what}; its errors are above", self.name)),
        }
    }

    /// The graceful signal, at most `drain` for the program to exit, then
    /// the whole group killed.
    fn stop(&mut self, graceful: Signal, drain: Duration) {
        let _ = killpg(self.group(), graceful);
        let deadline = Instant::now() + drain;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Workers left behind by a master that died are in the group too.
        let _ = killpg(self.group(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
