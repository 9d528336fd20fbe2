//! tcp-forward (layer 4) on every core that serves it: bytes cross the
//! proxy unchanged both ways, each side's FIN reaches the other while the
//! opposite direction stays open, and an upstream that cannot be reached
//! closes the client instead of hanging it. The origins here are the
//! test's own sockets (and `proxybench origin --echo`), never a core.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use pb_core::Scenario;
use pb_process::CoreProcess;

mod common;

use common::EXE;

const PATIENCE: Duration = Duration::from_secs(10);

fn cores() -> Vec<&'static str> {
    common::our_cores(Scenario::TcpForward)
}

fn spawn(name: &str, args: &[&str]) -> CoreProcess {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    CoreProcess::spawn(Path::new(EXE), name, &args).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A proxy of `core` forwarding to `upstream`.
fn proxy(dir: &Path, core: &str, upstream: SocketAddr) -> CoreProcess {
    let config = dir.join(format!("{}.toml", core.replace('/', "_")));
    std::fs::write(
        &config,
        format!("[[pool]]\nname = \"o\"\nupstreams = [\"{upstream}\"]\n[[route]]\npool = \"o\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    spawn(
        core,
        &[
            "proxy",
            "--core",
            core,
            "--scenario",
            "tcp-forward",
            "--config",
            &config,
        ],
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Bytes no two offsets of which a relay could swap unnoticed.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn bytes_cross_unchanged_and_the_clients_fin_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let origin = spawn("echo-origin", &["origin", "--echo", "--id", "e"]);
    let cores = cores();
    assert!(cores.len() >= 10, "{cores:?}");
    for core in cores {
        let proxy = proxy(dir.path(), core, origin.addr());
        // Two connections at once, each sending far more than a socket
        // buffer while reading, then half-closing.
        let sessions: Vec<_> = (0..2)
            .map(|i| {
                let addr = proxy.addr();
                std::thread::spawn(move || {
                    let sent = pattern(1 << 20, i + 1);
                    let stream = connect(addr);
                    let mut writer = stream.try_clone().unwrap();
                    let to_send = sent.clone();
                    let write = std::thread::spawn(move || {
                        for piece in to_send.chunks(7_001) {
                            writer.write_all(piece).unwrap();
                        }
                        writer.shutdown(Shutdown::Write).unwrap();
                    });
                    let mut received = Vec::new();
                    (&stream).read_to_end(&mut received).unwrap();
                    write.join().unwrap();
                    (sent, received)
                })
            })
            .collect();
        for session in sessions {
            let (sent, received) = session.join().unwrap();
            assert_eq!(received.len(), sent.len(), "{core}: length");
            assert!(received == sent, "{core}: the bytes changed on the way");
        }
        proxy.stop(PATIENCE);
    }
    origin.stop(PATIENCE);
}

#[test]
fn the_upstreams_fin_reaches_the_client_and_the_client_may_still_send() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    for core in cores() {
        let proxy = proxy(dir.path(), core, addr);
        let client = connect(proxy.addr());
        let (mut origin_side, _) = upstream.accept().unwrap();
        origin_side.set_read_timeout(Some(PATIENCE)).unwrap();
        origin_side.write_all(b"hello from upstream").unwrap();
        origin_side.shutdown(Shutdown::Write).unwrap();
        // The client reads the greeting, then the end of the stream...
        let mut greeting = Vec::new();
        (&client).read_to_end(&mut greeting).unwrap();
        assert_eq!(greeting, b"hello from upstream", "{core}");
        // ... and its own direction is still open.
        (&client).write_all(b"bye, from the client").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut farewell = Vec::new();
        origin_side.read_to_end(&mut farewell).unwrap();
        assert_eq!(farewell, b"bye, from the client", "{core}");
        proxy.stop(PATIENCE);
    }
}

#[test]
fn an_upstream_that_refuses_closes_the_client_and_the_core_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for core in cores() {
        let proxy = proxy(dir.path(), core, closed);
        for _ in 0..2 {
            let client = connect(proxy.addr());
            let mut got = Vec::new();
            // Closed (a reset or a FIN), never a hang: the read timeout
            // would fail the test.
            let ended = (&client).read_to_end(&mut got);
            assert!(
                got.is_empty()
                    && ended.as_ref().map_or_else(
                        |e| e.kind() == std::io::ErrorKind::ConnectionReset,
                        |n| *n == 0
                    ),
                "{core}: {ended:?}"
            );
        }
        proxy.stop(PATIENCE);
    }
}
