//! Reference proxies as cores: [`NGINX`] and [`HAPROXY`], measured
//! beside the grid so that every figure has a production proxy next to
//! it, and any proxy a user describes in a file ([`user`]: `--external`).
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
//! The generated configuration goes where `--program-config-out` says
//! (the runner stores it in the cell's results) or else to stderr, so
//! anyone can audit what was measured.

pub mod render;
pub mod user;

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
    launch: Launch,
}

/// How an external core's program is configured, started and stopped.
#[derive(Debug)]
enum Launch {
    /// One proxybench knows (its template built in).
    Builtin(Program),
    /// One a user described in a file (`--external`).
    User(Box<user::UserProgram>),
}

impl Launch {
    fn executable(&self) -> &str {
        match self {
            Launch::Builtin(p) => p.executable(),
            Launch::User(u) => &u.program,
        }
    }

    fn template(&self) -> &str {
        match self {
            Launch::Builtin(p) => render::template(*p),
            Launch::User(u) => &u.template,
        }
    }

    fn config_file(&self) -> &str {
        match self {
            Launch::Builtin(Program::Nginx) => "nginx.conf",
            Launch::Builtin(Program::Haproxy) => "haproxy.cfg",
            Launch::User(u) => &u.config_file,
        }
    }

    fn args(
        &self,
        config: &std::path::Path,
        dir: &std::path::Path,
        threads: usize,
        listen: SocketAddr,
    ) -> Vec<String> {
        match self {
            Launch::Builtin(p) => p.args(config, dir),
            Launch::User(u) => u.expand(config, dir, threads, &listen.to_string()),
        }
    }

    fn graceful(&self) -> Signal {
        match self {
            Launch::Builtin(p) => p.graceful(),
            Launch::User(u) => u.stop_signal,
        }
    }

    /// Whether it listens with `SO_REUSEPORT` (and so can share the port
    /// with proxybench's reservation until it listens).
    fn reuses_port(&self) -> bool {
        match self {
            Launch::Builtin(_) => true,
            Launch::User(u) => u.reuse_port,
        }
    }

    /// Whether its configuration can express `policy`.
    fn supports(&self, policy: pb_core::config::Policy) -> bool {
        match self {
            Launch::Builtin(_) => true,
            Launch::User(u) => u.policies.as_ref().is_none_or(|p| p.contains(&policy)),
        }
    }
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
    launch: Launch::Builtin(Program::Nginx),
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
    launch: Launch::Builtin(Program::Haproxy),
};

impl ProxyCore for External {
    fn info(&self) -> &'static CoreInfo {
        self.info
    }

    fn serves_in_process(&self) -> bool {
        false
    }

    fn serve(
        &self,
        opts: &ServeOpts,
        shutdown: &Shutdown,
        on_ready: &mut dyn FnMut(SocketAddr, usize),
    ) -> Result<(), ServeError> {
        let config = opts.reference_config(self.info.name)?;
        let config = config.as_ref();
        if let Some(pool) = config
            .pools
            .iter()
            .find(|p| !self.launch.supports(p.policy))
        {
            return Err(ServeError::Unavailable {
                reason: format!(
                    "{} does not map the {:?} balancing policy of pool {:?}",
                    self.info.name, pool.policy, pool.name
                ),
            });
        }
        let executable =
            pb_core::probe::find_program(self.launch.executable()).ok_or_else(|| {
                ServeError::Unavailable {
                    reason: match self.info.requirements.first() {
                        Some(Requirement::Program { install, .. }) => format!(
                            "{} is not installed (run {install})",
                            self.launch.executable()
                        ),
                        _ => format!("{} is not installed", self.launch.executable()),
                    },
                }
            })?;
        // The port: a free one held (SO_REUSEPORT, never listening) until
        // the program listens on it too, as both do with `reuseport`.
        let reservation = opts.reserve_port()?;
        let addr = reservation.addr();
        // A program that cannot share the port gets it free just before
        // it starts (a window in which another process could take it).
        let reservation = if self.launch.reuses_port() {
            Some(reservation)
        } else {
            reservation.release();
            None
        };
        let mut running = self.start(&executable, opts, config, addr)?;
        let ready = running.wait_ready(addr);
        if let Some(reservation) = reservation {
            reservation.release();
        }
        ready?;
        on_ready(addr, opts.threads);
        while !shutdown.requested() {
            if let Some(status) = running.exited() {
                return Err(running.failure(&format!("exited while serving ({status})")));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        running.stop(self.launch.graceful(), opts.drain);
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
            runtime: self.info.name,
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("proxybench-{}-", self.info.name))
            .tempdir()
            .map_err(runtime_error)?;
        let text = render::render(
            self.launch.template(),
            self.info.name,
            config,
            addr,
            opts.threads,
            dir.path(),
        )
        .map_err(ServeError::Options)?;
        let path = dir.path().join(self.launch.config_file());
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
        opts.pin_current_thread()?;
        let child = Command::new(executable)
            .args(self.launch.args(&path, dir.path(), opts.threads, addr))
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
        // A frozen program (the runner stops a cell's idle cores) acts on
        // the signal only once it runs again.
        let _ = killpg(self.group(), Signal::SIGCONT);
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
