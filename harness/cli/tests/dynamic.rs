//! The dynamic filter (`[dynamic]`, the claims' seventh experiment) on
//! real cores: every engine — native, wasmtime, wasmi, rhai, ipc — makes
//! the gate's decisions on the wire, and the native gate does on every
//! composition; what a filter refuses never reaches the origin; a module
//! that does not compile stops the core at start with its path in the
//! error; an ipc filter process ends with its core.
//!
//! The expected answers are written out here from the gate's definition
//! (proxies/dynamic/filters/gate.wat's header), not computed by the code
//! under test.

use std::path::Path;
use std::time::{Duration, Instant};

use pb_conform::client::Client;
use pb_core::Scenario;
use pb_core::probe::SystemProbe;
use pb_process::CoreProcess;

mod common;

use common::EXE;

/// (extra request headers, expected status; 200 is forwarded)
const CASES: &[(&str, u16)] = &[
    ("x-pb-token: pb-open-sesame\r\n", 200),
    ("X-Pb-TOKEN: pb-open-sesame\r\n", 200),
    ("", 401),
    ("x-pb-tokens: pb-open-sesame\r\n", 401),
    ("x-pb-token: pb-open-sesame \r\nx-pb-token: other\r\n", 200),
    ("x-pb-token: other\r\nx-pb-token: pb-open-sesame\r\n", 403),
    ("x-pb-token: PB-OPEN-SESAME\r\n", 403),
    ("x-pb-token: pb-open-sesame\r\nX-PB-DENY: yes\r\n", 403),
    ("x-pb-deny-not: 1\r\nx-pb-token: pb-open-sesame\r\n", 200),
];

fn forwarded() -> usize {
    CASES.iter().filter(|(_, s)| *s == 200).count()
}

fn spawn(name: &str, args: &[&str]) -> Result<CoreProcess, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    CoreProcess::spawn(Path::new(EXE), name, &args).map_err(|e| e.to_string())
}

fn config(dir: &Path, origin: &CoreProcess, name: &str, dynamic: &str) -> String {
    let path = dir.join(format!("{}.toml", name.replace('/', "_")));
    std::fs::write(
        &path,
        format!(
            "[[pool]]\nname = \"o\"\nupstreams = [\"{}\"]\n[[route]]\npool = \"o\"\n[dynamic]\n{dynamic}\n",
            origin.addr()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Every case on one connection; the statuses seen, in order.
fn statuses(proxy: &CoreProcess) -> Vec<u16> {
    let mut client = Client::connect(proxy.addr(), Duration::from_secs(10)).unwrap();
    CASES
        .iter()
        .map(|(headers, _)| {
            let request = format!("GET /?size=5 HTTP/1.1\r\nHost: t\r\n{headers}\r\n");
            client.send(request.as_bytes()).unwrap();
            client.response().status
        })
        .collect()
}

/// Requests the origin has recorded. Its record also says when each
/// upstream connection closed, and those lines come whenever a stopped
/// proxy's connections go away, after the next core's count began: they
/// are no requests.
fn received(record: &Path) -> usize {
    std::fs::read_to_string(record).map_or(0, |t| {
        t.lines().filter(|l| !l.contains("\"closed\":true")).count()
    })
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    found
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie its (dead) parent left for init to reap.
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn every_engine_and_every_composition_makes_the_gates_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("origin.jsonl");
    let origin = spawn(
        "origin",
        &["origin", "--id", "o", "--record", record.to_str().unwrap()],
    )
    .unwrap();
    let expected: Vec<u16> = CASES.iter().map(|(_, s)| *s).collect();
    // Every engine on one core; the native gate on every composition.
    let mut runs: Vec<(String, String)> = ["native", "wasmtime", "wasmi", "rhai", "ipc"]
        .iter()
        .map(|engine| ("tokio-tower".to_owned(), format!("engine = \"{engine}\"")))
        .collect();
    for info in pb_cores::CORES.iter().map(|c| c.info()) {
        if !info.is_reference()
            && info.name != "tokio-tower"
            && info.scenarios.contains(&Scenario::HttpForward)
            && info.availability(&SystemProbe).is_ok()
        {
            runs.push((info.name.to_owned(), "engine = \"native\"".to_owned()));
        }
    }
    assert!(runs.len() >= 10, "{runs:?}");
    for (core, dynamic) in runs {
        let what = format!("{core} with {dynamic}");
        let path = config(
            dir.path(),
            &origin,
            &format!("{core}-{}", runs_key(&dynamic)),
            &dynamic,
        );
        let proxy = spawn(
            &core,
            &[
                "proxy",
                "--core",
                &core,
                "--scenario",
                "http-forward",
                "--config",
                &path,
            ],
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let before = received(&record);
        assert_eq!(statuses(&proxy), expected, "{what}");
        // The origin's record is written as each request arrives; the last
        // forwarded case was answered, so it is there.
        assert_eq!(
            received(&record) - before,
            forwarded(),
            "{what}: refused requests reached the origin"
        );
        let ipc = dynamic.contains("ipc");
        let filter = if ipc {
            children(proxy.pid())
        } else {
            Vec::new()
        };
        proxy.stop(Duration::from_secs(5));
        if ipc {
            assert_eq!(
                filter.len(),
                1,
                "{what}: one filter process, a child of the core"
            );
            assert!(
                gone_within(filter[0], Duration::from_secs(5)),
                "{what}: the filter process outlived its core"
            );
        }
    }
    origin.stop(Duration::from_secs(5));
}

fn runs_key(dynamic: &str) -> String {
    dynamic
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// `proxy --core CORE` with the configuration at `config`, run to its
/// end (for a core that must refuse to start).
fn proxy_once(core: &str, config: &str) -> std::process::Output {
    std::process::Command::new(EXE)
        .args([
            "proxy",
            "--core",
            core,
            "--scenario",
            "http-forward",
            "--config",
            config,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_module_that_does_not_compile_stops_the_core_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let origin = spawn("origin", &["origin", "--id", "o"]).unwrap();
    let module = dir.path().join("broken.wat");
    std::fs::write(&module, "(module (func (export \"decide\")").unwrap();
    for engine in ["wasmtime", "wasmi"] {
        let dynamic = format!("engine = \"{engine}\"\nmodule = \"{}\"", module.display());
        let path = config(dir.path(), &origin, engine, &dynamic);
        let output = proxy_once("tokio-tower", &path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{engine}: started with a broken module"
        );
        assert!(
            stderr.contains(&module.display().to_string()) && stderr.contains(engine),
            "{engine}: {stderr}"
        );
    }
    // A reference proxy cannot run a filter and says so.
    let path = config(dir.path(), &origin, "ref", "engine = \"native\"");
    let output = proxy_once("hyper", &path);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("[dynamic]"));
    origin.stop(Duration::from_secs(5));
}
