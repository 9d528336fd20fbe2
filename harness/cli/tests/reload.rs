//! Configuration updates under load, on every core and every strategy:
//! keep-alive connections send requests without pause while the route
//! and the pool behind it change through the admin endpoint (`proxy
//! --admin`, `PUT /config`). Each origin names itself (`x-origin`), so a
//! response says which configuration routed it. Nothing may be lost,
//! nothing may reach an origin neither configuration routes to, no
//! request sent after the update was acknowledged may be served by the
//! old one, and the connections stay open across it and take it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pb_conform::client::Client;
use pb_core::Scenario;
use pb_core::probe::SystemProbe;
use pb_process::CoreProcess;

mod common;

use common::EXE;

/// Client connections kept busy through the update.
const CONNECTIONS: usize = 4;
/// Load before and after the update.
const BEFORE: Duration = Duration::from_millis(300);
const AFTER: Duration = Duration::from_millis(300);

/// Every one of our cores that serves http-forward here, and the reload
/// strategies it takes (a borrowing core takes all three; the others
/// have one way each, so one run).
fn cases() -> Vec<(&'static str, &'static str)> {
    let mut cases = Vec::new();
    for info in pb_cores::CORES.iter().map(|c| c.info()) {
        if info.is_reference()
            || !info.scenarios.contains(&Scenario::HttpForward)
            || info.availability(&SystemProbe).is_err()
        {
            continue;
        }
        if info
            .grid
            .is_some_and(|(_, composition)| composition == "borrowing")
        {
            for (strategy, _) in pb_core::reload::Strategy::ALL {
                cases.push((info.name, *strategy));
            }
        } else {
            cases.push((info.name, "thread-local"));
        }
    }
    cases
}

/// One pool called `name` over `origins`, every path routed to it.
fn config(name: &str, origins: &[&CoreProcess]) -> String {
    let ups: Vec<String> = origins
        .iter()
        .map(|o| format!("\"{}\"", o.addr()))
        .collect();
    format!(
        "[[pool]]\nname = \"{name}\"\nupstreams = [{}]\n[[route]]\npath_prefix = \"/\"\npool = \"{name}\"\n",
        ups.join(", ")
    )
}

fn origin(id: &str) -> CoreProcess {
    let args: Vec<String> = ["origin", "--id", id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    CoreProcess::spawn(Path::new(EXE), id, &args).unwrap()
}

/// `PUT /config` on the admin endpoint: the status and the answer.
fn put_config(admin: SocketAddr, config: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(admin).unwrap();
    write!(
        stream,
        "PUT /config HTTP/1.1\r\nhost: admin\r\ncontent-length: {}\r\n\r\n{config}",
        config.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// What one request saw: when it was sent, its status, its origin.
struct Seen {
    sent: Instant,
    status: u16,
    origin: Option<String>,
}

#[test]
fn routes_and_pools_change_under_load_with_nothing_lost_or_misrouted() {
    let dir = tempfile::tempdir().unwrap();
    let old = [origin("old-1"), origin("old-2")];
    let new = [origin("new-1"), origin("new-2")];
    let v1 = config("before", &[&old[0], &old[1]]);
    let v2 = config("after", &[&new[0], &new[1]]);
    let path = dir.path().join("v1.toml");
    std::fs::write(&path, &v1).unwrap();
    let cases = cases();
    assert!(cases.len() >= 10, "{cases:?}");
    for (core, strategy) in cases {
        let what = format!("{core} ({strategy})");
        let args: Vec<String> = [
            "proxy",
            "--core",
            core,
            "--scenario",
            "http-forward",
            "--config",
            path.to_str().unwrap(),
            "--admin",
            "127.0.0.1:0",
            "--reload-strategy",
            strategy,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proxy = CoreProcess::spawn(Path::new(EXE), core, &args)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let admin = proxy
            .admin()
            .unwrap_or_else(|| panic!("{what}: no admin address"));
        let addr = proxy.addr();

        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr, Duration::from_secs(5)).unwrap();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let response = client.get("/?size=10");
                        seen.push(Seen {
                            sent,
                            status: response.status,
                            origin: response.header("x-origin"),
                        });
                        if response.status == 0 {
                            break;
                        }
                    }
                    // The same connection, after the update: still open,
                    // and routed by the new configuration.
                    let last = client.get("/?size=10");
                    (seen, last.status, last.header("x-origin"))
                })
            })
            .collect();
        std::thread::sleep(BEFORE);
        let (status, answer) = put_config(admin, &v2);
        let acked = Instant::now();
        assert_eq!((status, answer.as_str()), (200, "version 1\n"), "{what}");
        std::thread::sleep(AFTER);
        stop.store(true, Ordering::Relaxed);

        let (mut before, mut after, mut stale) = (0, 0, 0);
        for handle in clients {
            let (seen, last, last_origin) = handle.join().unwrap();
            assert_eq!(last, 200, "{what}: a connection did not survive the update");
            assert!(
                last_origin
                    .as_deref()
                    .is_some_and(|o| o.starts_with("new-")),
                "{what}: an open connection still uses the old configuration ({last_origin:?})"
            );
            for s in &seen {
                assert_eq!(s.status, 200, "{what}: a request was lost");
                let origin = s.origin.as_deref().unwrap_or("(none)");
                let old_one = origin.starts_with("old-");
                assert!(
                    old_one || origin.starts_with("new-"),
                    "{what}: misrouted to {origin}"
                );
                if s.sent > acked && old_one {
                    stale += 1;
                }
                if old_one { before += 1 } else { after += 1 }
            }
        }
        assert_eq!(
            stale, 0,
            "{what}: requests sent after the update reached the old pool"
        );
        assert!(
            before > 0 && after > 0,
            "{what}: the load did not span the update ({before} before, {after} after)"
        );
        // A configuration that changes more than routing is refused, and
        // the core keeps serving the one it has.
        let (status, answer) = put_config(admin, &format!("{v2}[timeouts]\nconnect_ms = 5\n"));
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            answer.contains("only [[pool]] and [[route]]"),
            "{what}: {answer}"
        );
        let mut client = Client::connect(addr, Duration::from_secs(5)).unwrap();
        let response = client.get("/?size=10");
        assert!(
            response
                .header("x-origin")
                .is_some_and(|o| o.starts_with("new-")),
            "{what}: a new connection is served by the new configuration"
        );
        // Closed first, so the core has nothing to drain.
        drop(client);
        proxy.stop(Duration::from_secs(10));
    }
    for o in old.into_iter().chain(new) {
        o.stop(Duration::from_secs(5));
    }
}

#[test]
fn admin_needs_a_forwarding_configuration_and_references_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::proxybench(
        &[
            "proxy",
            "--core",
            "monoio-epoll",
            "--scenario",
            "echo",
            "--admin",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out.stderr).contains("--admin takes forwarding configurations"),
        "{}",
        common::text(&out.stderr)
    );
}
