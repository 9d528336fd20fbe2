//! The fixture every case runs in: one origin (recording what it
//! receives), a closed port for "upstream refused", and a fresh core
//! process per case so no case inherits another's state.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pb_process::CoreProcess;

use crate::client::Client;

/// How long a case's reads wait before treating the peer as silent.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The suite could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The origin did not start.
    #[error("the conformance origin did not start: {0}")]
    Origin(String),
    /// The scratch directory could not be made.
    #[error("cannot create a scratch directory: {0}")]
    Dir(#[source] std::io::Error),
}

/// Shared by every case.
#[derive(Debug)]
pub struct Suite {
    exe: PathBuf,
    /// Arguments every `proxy` it starts gets (`--external FILE`).
    proxy_args: Vec<String>,
    /// Holds the origin's record; removed with the suite.
    dir: tempfile::TempDir,
    origin: CoreProcess,
    record: PathBuf,
    dead: SocketAddr,
}

impl Suite {
    /// Starts the origin; `exe` is the `proxybench` binary, and every
    /// `proxy` it starts gets `proxy_args`.
    pub fn start(exe: &Path, proxy_args: &[String]) -> Result<Suite, SuiteError> {
        let dir = tempfile::Builder::new()
            .prefix("proxybench-conform-")
            .tempdir()
            .map_err(SuiteError::Dir)?;
        let record = dir.path().join("origin.jsonl");
        let args: Vec<String> = vec![
            "origin".into(),
            "--id".into(),
            "o".into(),
            "--record".into(),
            record.display().to_string(),
        ];
        let origin = CoreProcess::spawn(exe, "origin", &args)
            .map_err(|e| SuiteError::Origin(e.to_string()))?;
        // A port that refuses: bound, then released.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| SuiteError::Origin(e.to_string()))?;
        Ok(Suite {
            exe: exe.to_owned(),
            proxy_args: proxy_args.to_vec(),
            dir,
            origin,
            record,
            dead,
        })
    }
}

/// A core started for one case; killed when dropped.
#[derive(Debug)]
pub struct Proxy(CoreProcess);

impl Proxy {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// Its process.
    pub fn process(&self) -> &CoreProcess {
        &self.0
    }
}

/// What a case gets: the suite and the core under test.
#[derive(Debug)]
pub struct Ctx<'a> {
    suite: &'a Suite,
    /// The core under test.
    pub core: &'a str,
    notes: std::cell::RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    /// The core's name as a file name: grid names hold a `/`
    /// (`tokio-tpc/borrowing`).
    fn file_stem(&self) -> String {
        self.core.replace('/', "_")
    }

    /// A context for `core`.
    pub fn new(suite: &'a Suite, core: &'a str) -> Ctx<'a> {
        Ctx {
            suite,
            core,
            notes: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Records a measurement a passing case wants reported (a recovery
    /// time, a peak RSS).
    pub fn note(&self, text: String) {
        self.notes.borrow_mut().push(text);
    }

    /// The notes so far, joined.
    pub fn notes(&self) -> Option<String> {
        let notes = self.notes.borrow();
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Starts an origin of the case's own (one it may kill), optionally on
    /// a given address; returns it and its record file.
    pub fn own_origin(
        &self,
        id: &str,
        listen: Option<SocketAddr>,
    ) -> Result<(CoreProcess, PathBuf), String> {
        let record = self
            .suite
            .dir
            .path()
            .join(format!("{id}-{}.jsonl", self.file_stem()));
        let _ = std::fs::remove_file(&record);
        let mut args: Vec<String> = vec![
            "origin".into(),
            "--id".into(),
            id.into(),
            "--record".into(),
            record.display().to_string(),
        ];
        if let Some(addr) = listen {
            args.extend(["--listen".into(), addr.to_string()]);
        }
        let origin = CoreProcess::spawn(&self.suite.exe, id, &args)
            .map_err(|e| format!("origin {id}: {e}"))?;
        Ok((origin, record))
    }

    /// Starts the core as an HTTP proxy balancing round-robin over `upstreams`.
    pub fn http_over(
        &self,
        upstreams: &[SocketAddr],
        extra: &str,
        args: &[&str],
    ) -> Result<Proxy, String> {
        let ups: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
        let config = format!(
            "[[pool]]\nname = \"main\"\nupstreams = [{}]\n[[route]]\npool = \"main\"\n[timeouts]\nresponse_ms = 500\nconnect_ms = 300\n{extra}",
            ups.join(", ")
        );
        self.start_http(&config, args)
    }

    /// Starts the core as an HTTP proxy in front of one upstream (a
    /// scripted origin): response timeout 2 s, connect 300 ms, header
    /// deadline 2 s; `timeouts` adds keys to `[timeouts]`, `extra` is
    /// appended to the configuration.
    pub fn http_to(
        &self,
        upstream: SocketAddr,
        timeouts: &str,
        extra: &str,
    ) -> Result<Proxy, String> {
        let config = format!(
            "[[pool]]\nname = \"main\"\nupstreams = [\"{upstream}\"]\n[[route]]\npool = \"main\"\n\
             [timeouts]\nresponse_ms = 2000\nconnect_ms = 300\nclient_header_ms = 2000\n{timeouts}\n{extra}"
        );
        self.start_http(&config, &[])
    }

    /// Starts the core as an HTTP proxy: `/dead` routes to a refusing port,
    /// everything else to the origin; response timeout 500 ms, client
    /// header deadline 700 ms; `extra` is appended to the configuration.
    pub fn http(&self, extra: &str, args: &[&str]) -> Result<Proxy, String> {
        let config = format!(
            "[[pool]]\nname = \"main\"\nupstreams = [\"{}\"]\n[[pool]]\nname = \"dead\"\nupstreams = [\"{}\"]\n\
             [[route]]\npath_prefix = \"/dead\"\npool = \"dead\"\n[[route]]\npath_prefix = \"/\"\npool = \"main\"\n\
             [timeouts]\nresponse_ms = 500\nclient_header_ms = 700\n{extra}",
            self.suite.origin.addr(),
            self.suite.dead
        );
        self.start_http(&config, args)
    }

    fn start_http(&self, config: &str, args: &[&str]) -> Result<Proxy, String> {
        let path = self
            .suite
            .dir
            .path()
            .join(format!("{}.toml", self.file_stem()));
        std::fs::write(&path, config).map_err(|e| e.to_string())?;
        let mut all: Vec<String> = [
            "proxy",
            "--core",
            self.core,
            "--scenario",
            "http-forward",
            "--config",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        all.push(path.display().to_string());
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(self.suite.proxy_args.iter().cloned());
        CoreProcess::spawn(&self.suite.exe, self.core, &all)
            .map(Proxy)
            .map_err(|e| format!("core did not start: {e}"))
    }

    /// Starts the core as an echo server.
    pub fn echo(&self, args: &[&str]) -> Result<Proxy, String> {
        let mut all: Vec<String> = ["proxy", "--core", self.core, "--scenario", "echo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        all.extend(args.iter().map(|s| s.to_string()));
        all.extend(self.suite.proxy_args.iter().cloned());
        CoreProcess::spawn(&self.suite.exe, self.core, &all)
            .map(Proxy)
            .map_err(|e| format!("core did not start: {e}"))
    }

    /// A client connection to `proxy`.
    pub fn client(&self, proxy: &Proxy) -> Result<Client, String> {
        Client::connect(proxy.addr(), READ_TIMEOUT).map_err(|e| format!("cannot connect: {e}"))
    }

    /// Everything the origin has recorded so far (requests and closes).
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.suite.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Requests the origin has recorded whose target contains `marker`.
    pub fn requests_with(&self, marker: &str) -> Vec<serde_json::Value> {
        self.records()
            .into_iter()
            .filter(|r| r["target"].as_str().is_some_and(|t| t.contains(marker)))
            .collect()
    }
}
