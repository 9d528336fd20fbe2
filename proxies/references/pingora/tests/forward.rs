//! The Pingora core against plain-socket origins and clients on
//! loopback: the cell's routes, balancing, token check and header rules
//! mean what they mean for every other core, and a stop request ends the
//! server. Built only with the `pingora` feature.
#![cfg(feature = "pingora")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pb_core::{ProxyConfig, ProxyCore, Scenario, ServeOpts};
use pb_sys::Shutdown;

/// An origin that answers every request with its id and keeps each
/// request head it received.
struct Origin {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    fn start(id: &'static str) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&heads);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || serve_origin(stream, id, &kept));
            }
        });
        Origin { addr, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Keep-alive: one bodiless request after another until the proxy closes.
fn serve_origin(stream: TcpStream, id: &str, kept: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        kept.lock().unwrap().push(head);
        let body = format!("from {id}");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A running Pingora core; stopped (and its result checked) by `stop`.
struct Core {
    addr: SocketAddr,
    shutdown: Shutdown,
    done: mpsc::Receiver<Result<(), String>>,
}

impl Core {
    fn start(config: &str) -> Core {
        let config = ProxyConfig::parse(config, "test").unwrap();
        let mut opts = ServeOpts::new(Scenario::HttpForward, "127.0.0.1:0".parse().unwrap());
        opts.http = Some(Arc::new(config));
        opts.drain = Duration::from_secs(1);
        let shutdown = Shutdown::manual();
        let stop = shutdown.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let result = pb_ref_pingora::PINGORA.serve(&opts, &stop, &mut |addr, _| {
                let _ = ready_tx.send(addr);
            });
            let _ = done_tx.send(result.map_err(|e| e.to_string()));
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("pingora became ready");
        Core {
            addr,
            shutdown,
            done,
        }
    }

    /// One request on a new connection: the status line and the body.
    fn get(&self, path: &str, extra: &str) -> (String, String, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: example.test\r\n{extra}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.lines().next().unwrap_or("").to_owned();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    fn stop(self) {
        self.shutdown.trigger();
        let result = self
            .done
            .recv_timeout(Duration::from_secs(20))
            .expect("pingora stopped after the stop request");
        assert_eq!(result, Ok(()));
    }
}

#[test]
fn routes_balances_checks_the_token_and_applies_the_header_rules() {
    let a = Origin::start("a");
    let b = Origin::start("b");
    let api = Origin::start("api");
    let core = Core::start(&format!(
        "[[pool]]\nname = \"web\"\npolicy = \"round-robin\"\nupstreams = [\"{}\", \"{}\"]\n\
         [[pool]]\nname = \"api\"\nupstreams = [\"{}\"]\n\
         [[route]]\npath_prefix = \"/api\"\npool = \"api\"\n\
         [[route]]\npath_prefix = \"/\"\npool = \"web\"\n\
         [auth]\nheader = \"x-token\"\ntoken = \"s3cret\"\n\
         [headers]\nrequest_add = [[\"x-added\", \"yes\"]]\nrequest_remove = [\"x-drop\"]\n\
         response_add = [[\"x-proxy\", \"pingora\"]]\n",
        a.addr, b.addr, api.addr
    ));
    let token = "x-token: s3cret\r\n";

    // The token: missing is 401, wrong is 403, and neither reaches an origin.
    assert!(core.get("/", "").0.contains(" 401"), "no token");
    assert!(
        core.get("/", "x-token: nope\r\n").0.contains(" 403"),
        "wrong token"
    );
    assert!(a.heads().is_empty() && b.heads().is_empty());

    // Round robin over the web pool; /api routes to its own pool.
    let mut bodies: Vec<String> = (0..4).map(|_| core.get("/page", token).2).collect();
    bodies.sort();
    assert_eq!(bodies, ["from a", "from a", "from b", "from b"]);
    let (status, head, body) = core.get("/api/v1", &format!("{token}x-drop: 1\r\n"));
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(body, "from api");
    assert!(head.contains("x-proxy: pingora"), "response rule: {head}");

    // Request rules as the origin saw them: added, removed, path kept.
    let heads = api.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let seen = heads[0].to_ascii_lowercase();
    assert!(seen.starts_with("get /api/v1 http/1.1\r\n"), "{seen}");
    assert!(seen.contains("x-added: yes"), "{seen}");
    assert!(!seen.contains("x-drop"), "{seen}");
    core.stop();
}

#[test]
fn a_request_no_route_matches_is_404_and_a_dead_upstream_is_502() {
    // A port nothing listens on: bound, then closed.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let core = Core::start(&format!(
        "[[pool]]\nname = \"dead\"\nupstreams = [\"{dead}\"]\n\
         [[route]]\npath_prefix = \"/dead\"\npool = \"dead\"\n"
    ));
    assert!(core.get("/elsewhere", "").0.contains(" 404"));
    assert!(core.get("/dead", "").0.contains(" 502"));
    core.stop();
}
