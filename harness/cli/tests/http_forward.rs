//! `http-forward` on every core, as real processes on real sockets: an
//! origin pool, a core in front of it, raw HTTP from a test client, and
//! the origins' records of exactly what crossed the proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pb_conform::client::{Client, Response};
use pb_core::Scenario;
use pb_process::CoreProcess;

mod common;

use common::EXE;

fn cores() -> Vec<&'static str> {
    common::our_cores(Scenario::HttpForward)
}

struct Origin {
    process: CoreProcess,
    record: PathBuf,
}

impl Origin {
    fn start(dir: &Path, id: &str, delay_ms: u64) -> Origin {
        let record = dir.join(format!("{id}.jsonl"));
        let args: Vec<String> = vec![
            "origin".into(),
            "--id".into(),
            id.into(),
            "--record".into(),
            record.display().to_string(),
            "--delay-ms".into(),
            delay_ms.to_string(),
        ];
        let process = CoreProcess::spawn(Path::new(EXE), id, &args).unwrap();
        Origin { process, record }
    }

    fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// What this origin received, one JSON object per request.
    fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            // Requests only; the origin also notes closed connections.
            .filter(|r| r.get("method").is_some())
            .collect()
    }
}

/// A running core; if the test fails while it runs, its stderr is shown.
struct Proxy(CoreProcess);

impl Proxy {
    fn addr(&self) -> SocketAddr {
        self.0.addr()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("proxy stderr: {}", self.0.stderr_tail());
        }
    }
}

fn start_proxy(core: &str, dir: &Path, config: &str) -> Proxy {
    Proxy(common::start_http_proxy(core, dir, config))
}

/// A pool named `p` over `origins` with `policy`, everything routed to it.
fn simple_config(origins: &[&Origin], policy: &str, extra: &str) -> String {
    let ups: Vec<String> = origins
        .iter()
        .map(|o| format!("\"{}\"", o.addr()))
        .collect();
    format!(
        "[[pool]]\nname = \"p\"\npolicy = \"{policy}\"\nupstreams = [{}]\n[[route]]\npool = \"p\"\n{extra}",
        ups.join(", ")
    )
}

fn client(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(10)).unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64).map(pb_wire::pattern::body_byte).collect()
}

#[test]
fn routes_by_host_and_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let o: Vec<Origin> = (0..3)
        .map(|i| Origin::start(dir.path(), &format!("o{i}"), 0))
        .collect();
    let config = format!(
        "[[pool]]\nname = \"a\"\nupstreams = [\"{}\"]\n[[pool]]\nname = \"b\"\nupstreams = [\"{}\"]\n[[pool]]\nname = \"c\"\nupstreams = [\"{}\"]\n\
         [[route]]\npath_prefix = \"/\"\npool = \"a\"\n[[route]]\npath_prefix = \"/api/\"\npool = \"b\"\n[[route]]\nhost = \"static.example\"\npool = \"c\"\n",
        o[0].addr(),
        o[1].addr(),
        o[2].addr()
    );
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let mut c = client(proxy.addr());
        let origin_of = |r: Response| r.header("x-origin").unwrap();
        assert_eq!(
            origin_of(c.get_from("/index.html", "www.example")),
            "o0",
            "{core}"
        );
        assert_eq!(
            origin_of(c.get_from("/api/users?id=1", "www.example")),
            "o1",
            "{core}"
        );
        assert_eq!(
            origin_of(c.get_from("/api/users", "Static.Example:8080")),
            "o2",
            "{core}"
        );
        assert_eq!(
            origin_of(c.get_from("/apix", "www.example")),
            "o0",
            "{core}"
        );
    }
}

#[test]
fn round_robin_is_exact_and_random_reaches_every_origin() {
    let dir = tempfile::tempdir().unwrap();
    let o: Vec<Origin> = (0..3)
        .map(|i| Origin::start(dir.path(), &format!("o{i}"), 0))
        .collect();
    let refs: Vec<&Origin> = o.iter().collect();
    for (policy, requests) in [("round-robin", 30), ("random", 90)] {
        for core in cores() {
            let proxy = start_proxy(core, dir.path(), &simple_config(&refs, policy, ""));
            let mut c = client(proxy.addr());
            let mut counts = [0usize; 3];
            let mut sequence = Vec::new();
            for _ in 0..requests {
                let r = c.get_from("/", "x");
                assert_eq!(r.status, 200);
                let i: usize = r.header("x-origin").unwrap()[1..].parse().unwrap();
                counts[i] += 1;
                sequence.push(i);
            }
            match policy {
                "round-robin" => {
                    assert_eq!(counts, [10, 10, 10], "{core}: {sequence:?}");
                    assert!(
                        sequence.windows(2).all(|w| w[0] != w[1]),
                        "{core}: {sequence:?}"
                    );
                }
                _ => assert!(counts.iter().all(|&n| n >= 10), "{core}: {counts:?}"),
            }
        }
    }
}

#[test]
fn p2c_steers_away_from_a_slow_origin() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Origin::start(dir.path(), "slow", 100);
    let fast: Vec<Origin> = (0..2)
        .map(|i| Origin::start(dir.path(), &format!("fast{i}"), 0))
        .collect();
    let config = simple_config(&[&slow, &fast[0], &fast[1]], "p2c", "");
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let addr = proxy.addr();
        let before = slow.records().len();
        // Concurrent clients keep requests in flight; the slow origin holds
        // its requests longest, so p2c should mostly pick the others.
        let total: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|_| {
                    s.spawn(move || {
                        let mut c = client(addr);
                        (0..10)
                            .map(|_| usize::from(c.get_from("/", "x").status == 200))
                            .sum::<usize>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(total, 120, "{core}");
        let to_slow = slow.records().len() - before;
        assert!(
            to_slow * 100 < total * 20,
            "{core}: {to_slow} of {total} went to the slow origin"
        );
    }
}

#[test]
fn auth_refusals_never_reach_an_origin() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(
        &[&o],
        "round-robin",
        "[auth]\nheader = \"x-token\"\ntoken = \"s3cret\"\n",
    );
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let before = o.records().len();
        let mut c = client(proxy.addr());
        assert_eq!(c.get_from("/", "x").status, 401, "{core}");
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Token: wrong\r\n\r\n")
            .unwrap();
        assert_eq!(c.response().status, 403, "{core}");
        assert_eq!(
            o.records().len(),
            before,
            "{core}: a refused request reached the origin"
        );
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Token: s3cret\r\n\r\n")
            .unwrap();
        assert_eq!(c.response().status, 200, "{core}");
        assert_eq!(o.records().len(), before + 1, "{core}");
    }
}

#[test]
fn hop_by_hop_headers_are_stripped_both_ways_and_the_rest_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(
        &[&o],
        "round-robin",
        "[headers]\nrequest_remove = [\"x-internal\"]\nrequest_add = [[\"x-added\", \"yes\"]]\nresponse_add = [[\"via\", \"1.1 pb\"]]\n",
    );
    let request = "GET /h?echo_head=1&resp_hop=1 HTTP/1.1\r\nHost: example\r\nX-Custom: Some  Value\t(x)\r\nConnection: keep-alive, X-Hop\r\nX-Hop: drop me\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Internal: secret\r\nx-lower: v\r\n\r\n";
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let mut c = client(proxy.addr());
        c.send(request.as_bytes()).unwrap();
        let r = c.response();
        assert_eq!(r.status, 200, "{core}");
        let seen = String::from_utf8(r.body.clone()).unwrap();
        // The origin got the end-to-end headers byte for byte, in order.
        assert!(
            seen.starts_with("GET /h?echo_head=1&resp_hop=1 HTTP/1.1\r\n"),
            "{core}: {seen}"
        );
        assert!(
            seen.contains("\r\nHost: example\r\nX-Custom: Some  Value\t(x)\r\nx-lower: v\r\n"),
            "{core}: {seen}"
        );
        assert!(seen.contains("\r\nx-added: yes\r\n"), "{core}: {seen}");
        for gone in [
            "X-Hop",
            "Keep-Alive",
            "TE:",
            "Upgrade",
            "Proxy-Connection",
            "X-Internal",
            "Connection",
        ] {
            assert!(
                !seen.contains(gone),
                "{core}: {gone} reached the origin: {seen}"
            );
        }
        // And the client got the response's end-to-end headers only.
        assert_eq!(
            r.header("x-resp-custom").as_deref(),
            Some("Va  l\tue"),
            "{core}: {}",
            r.head
        );
        assert!(
            r.head.contains("\r\nX-Resp-Custom: Va  l\tue\r\n"),
            "{core}: {}",
            r.head
        );
        assert_eq!(r.header("via").as_deref(), Some("1.1 pb"), "{core}");
        for gone in ["x-resp-hop", "keep-alive"] {
            assert_eq!(
                r.header(gone),
                None,
                "{core}: {gone} reached the client: {}",
                r.head
            );
        }
        // Still the same, kept-alive connection.
        assert_eq!(c.get_from("/", "example").status, 200, "{core}");
    }
}

#[test]
fn bodies_arrive_byte_exact_at_origin_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(&[&o], "round-robin", "");
    let sizes = [0usize, 1, 8191, 8192, 8193, 1 << 20];
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let mut c = client(proxy.addr());
        for &size in &sizes {
            let body = pattern(size);
            let digest = format!(
                "{:016x}",
                pb_wire::pattern::digest(&body, pb_wire::pattern::DIGEST_SEED)
            );
            // Content-Length request, echoed back with a length.
            c.send(
                format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            c.send(&body).unwrap();
            let r = c.response();
            assert_eq!((r.status, r.body.len()), (200, size), "{core}: CL {size}");
            assert!(r.body == body, "{core}: CL {size} came back altered");
            let last = o.records().pop().unwrap();
            assert_eq!(
                (last["body_len"].as_u64(), last["body_digest"].as_str()),
                (Some(size as u64), Some(digest.as_str())),
                "{core}"
            );
            // Chunked request (uneven chunks), echoed back chunked.
            let mut wire =
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for piece in body.chunks(3000) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            c.send(&wire).unwrap();
            let r = c.response();
            assert!(r.status == 200 && r.body == body, "{core}: chunked {size}");
            let last = o.records().pop().unwrap();
            assert_eq!(
                last["body_digest"].as_str(),
                Some(digest.as_str()),
                "{core}: chunked {size} at the origin"
            );
            // Generated response bodies, with a length and chunked.
            for chunked in ["", "&chunked=1"] {
                let r = c.get_from(&format!("/g?size={size}{chunked}"), "x");
                assert!(
                    r.status == 200 && r.body == body,
                    "{core}: GET {size}{chunked}"
                );
            }
        }
    }
}

#[test]
fn head_204_and_304_carry_no_body() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(&[&o], "round-robin", "");
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let mut c = client(proxy.addr());
        c.send(b"HEAD /?size=100 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = c.response_with(true, false);
        assert_eq!((r.status, r.body.len()), (200, 0), "{core}");
        assert_eq!(
            r.header("content-length").as_deref(),
            Some("100"),
            "{core}: {}",
            r.head
        );
        for status in [204, 304] {
            let r = c.get_from(&format!("/?status={status}&size=50"), "x");
            assert_eq!((r.status, r.body.len()), (status, 0), "{core}");
        }
        // Had any body bytes slipped through, this would misparse.
        let r = c.get_from("/?size=7", "x");
        assert_eq!((r.status, r.body), (200, pattern(7)), "{core}");
    }
}

#[test]
fn connections_are_reused_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(&[&o], "round-robin", "");
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let before = o.records().len();
        let mut c = client(proxy.addr());
        for _ in 0..10 {
            assert_eq!(c.get_from("/?size=10", "x").status, 200, "{core}");
        }
        let records = o.records();
        let conns: std::collections::BTreeSet<u64> = records[before..]
            .iter()
            .map(|r| r["conn"].as_u64().unwrap())
            .collect();
        assert_eq!(records.len() - before, 10);
        assert_eq!(
            conns.len(),
            1,
            "{core}: ten requests used upstream connections {conns:?}"
        );
    }
}

#[test]
fn refused_upstream_is_502_and_silent_upstream_is_504() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = format!(
        "[[pool]]\nname = \"dead\"\nupstreams = [\"{closed}\"]\n[[pool]]\nname = \"live\"\nupstreams = [\"{}\"]\n\
         [[route]]\npath_prefix = \"/dead\"\npool = \"dead\"\n[[route]]\npath_prefix = \"/\"\npool = \"live\"\n\
         [timeouts]\nresponse_ms = 300\n",
        o.addr()
    );
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let mut c = client(proxy.addr());
        assert_eq!(c.get_from("/dead", "x").status, 502, "{core}");
        let mut c = client(proxy.addr());
        assert_eq!(c.get_from("/slow?delay_ms=2000", "x").status, 504, "{core}");
        // The core is still serving.
        let mut c = client(proxy.addr());
        assert_eq!(c.get_from("/", "x").status, 200, "{core}");
    }
}

#[test]
fn content_length_with_transfer_encoding_never_becomes_two_requests() {
    let dir = tempfile::tempdir().unwrap();
    let o = Origin::start(dir.path(), "o", 0);
    let config = simple_config(&[&o], "round-robin", "");
    let smuggle = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 49\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    for core in cores() {
        let proxy = start_proxy(core, dir.path(), &config);
        let before = o.records().len();
        let mut c = client(proxy.addr());
        c.send(smuggle).unwrap();
        let r = c.response();
        assert_eq!(r.status, 400, "{core}");
        assert!(
            c.closed(),
            "{core}: connection left open after a framing error"
        );
        let after = o.records();
        assert_eq!(
            after.len(),
            before,
            "{core}: the origin saw {:?}",
            &after[before..]
        );
    }
}
