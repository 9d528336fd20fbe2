//! Differential testing: the same raw request bytes through every core and
//! through the reference proxies (nginx, HAProxy), comparing what each
//! origin received and what each client got back. Hand-picked cases find
//! what someone thought of; a generator walking the grammar's edges, with
//! two mature proxies as the yardstick, finds what nobody did (the HTTP
//! Garden's method).
//!
//! - [`generate`]: `count` cases from a seed, each a request assembled from
//!   mutated pieces — request line (method, target, version, separators),
//!   header fields (names, values, whitespace, obs-fold, line endings),
//!   framing (Content-Length forms, Transfer-Encoding lists, both) and
//!   chunk syntax — followed by a plain `GET /second`, so a proxy that
//!   reads a body's end differently shows it as a different second
//!   request.
//! - [`observe`]: one case through one proxy, read back with the judging
//!   side's parser (`pb-wire`): the complete requests the origin received
//!   (method, target, body length and digest) and the status classes the
//!   client got.
//! - [`run`]: every case through every proxy (one thread per proxy, each
//!   with its own recording origin); a core that sees a case otherwise
//!   than *every* reference is a disagreement, matched against the
//!   committed triage ([`TRIAGE_TOML`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::scripted::ScriptedOrigin;
use crate::suite::{Ctx, Suite};

/// The committed triage: what became of each kind of disagreement.
pub const TRIAGE_TOML: &str = include_str!("../differential-triage.toml");

/// One generated case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Its number in the run.
    pub id: usize,
    /// The choices that made it, `piece=choice` joined by ` | `: what a
    /// triage entry matches.
    pub shape: String,
    /// The bytes sent.
    pub bytes: Vec<u8>,
}

/// The request that follows every case's own: it shows where a proxy
/// thought the first request ended.
const SECOND: &[u8] = b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n";

/// Picks one of `choices`: the first (the valid form) three times in
/// four, else any of them, so most cases change a few pieces, not all.
fn pick<'a>(rng: &mut fastrand::Rng, choices: &[&'a str]) -> &'a str {
    if rng.u8(..4) != 0 {
        choices[0]
    } else {
        choices[rng.usize(..choices.len())]
    }
}

/// `count` cases from `seed`: the same seed, the same cases.
pub fn generate(seed: u64, count: usize) -> Vec<Case> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count).map(|id| one_case(&mut rng, id)).collect()
}

fn one_case(rng: &mut fastrand::Rng, id: usize) -> Case {
    let mut shape = Vec::new();
    let mut choose = |rng: &mut fastrand::Rng, piece: &str, choices: &[&'static str]| {
        let c = pick(rng, choices);
        if c != choices[0] {
            shape.push(format!("{piece}={c:?}"));
        }
        c
    };
    let method = choose(
        rng,
        "method",
        &["POST", "GET", "PUT", "post", "PO ST", "P\tOST", "POST\x00"],
    );
    let target = choose(
        rng,
        "target",
        &[
            "/a",
            "/a?x=1",
            "http://h/a",
            "//a",
            "/a b",
            "/a\x7f",
            "/\u{e9}",
            "*",
            "/a#f",
        ],
    );
    let version = choose(
        rng,
        "version",
        &[
            "HTTP/1.1",
            "HTTP/1.0",
            "HTTP/1.2",
            "HTTP/2.0",
            "http/1.1",
            "HTTP/01.1",
            "HTTP/1.1 ",
            "HTTP/1",
        ],
    );
    let sep = choose(rng, "sep", &[" ", "  ", "\t"]);
    let eol = choose(rng, "eol", &["\r\n", "\n", "\r"]);
    let host = choose(
        rng,
        "host",
        &[
            "Host: h",
            "Host: h:80",
            "Host:",
            "Host: h\r\nHost: i",
            "Host : h",
            "Host:\th",
            "",
        ],
    );
    let field = choose(
        rng,
        "field",
        &[
            "",
            "X-A: 1",
            "X A: 1",
            "X-A : 1",
            "X-A: 1\r\n 2",
            "X-A: a\x01b",
            "Connection: close",
            "Expect: 100-continue",
            "Connection: keep-alive, x-a\r\nX-A: 1",
        ],
    );
    let framing = choose(
        rng,
        "framing",
        &["cl", "te", "te+cl", "cl+cl", "none", "te-twice"],
    );
    // Only the pieces the framing uses are drawn, so a shape names only
    // what is in the bytes.
    let uses_cl = matches!(framing, "cl" | "te+cl" | "cl+cl");
    let uses_te = matches!(framing, "te" | "te+cl" | "te-twice");
    let cl = match uses_cl {
        true => choose(
            rng,
            "cl",
            &[
                "5",
                "05",
                "+5",
                "5,5",
                "5, 6",
                " 5 ",
                "-5",
                "0x5",
                "99999999999999999999",
                "6",
            ],
        ),
        false => "5",
    };
    let mut chunked_body = String::new();
    let te = match uses_te {
        true => {
            let te = choose(
                rng,
                "te",
                &[
                    "chunked",
                    "Chunked",
                    "chunked, chunked",
                    "gzip, chunked",
                    "chunked, gzip",
                    "identity",
                    "chunked\x0b",
                    "xchunked",
                    "chunked;q=1",
                ],
            );
            let size = choose(
                rng,
                "chunk-size",
                &[
                    "5",
                    "05",
                    "5;e=1",
                    "5 ;e",
                    "5\t",
                    "0x5",
                    "-5",
                    "5 5",
                    "fffffffffffffffff5",
                    "4",
                    "6",
                ],
            );
            let last = choose(rng, "last-chunk", &["0", "00", "0;e", "0 "]);
            let trailer = choose(
                rng,
                "trailer",
                &["", "T: 1\r\n", "T 1\r\n", "Content-Length: 1\r\n"],
            );
            let chunk_eol = choose(rng, "chunk-eol", &["\r\n", "\n", ""]);
            chunked_body = format!("{size}{chunk_eol}hello{chunk_eol}{last}\r\n{trailer}\r\n");
            te
        }
        false => "chunked",
    };

    let mut head = format!("{method}{sep}{target}{sep}{version}{eol}");
    for line in [host, field].into_iter().filter(|l| !l.is_empty()) {
        head.push_str(&line.replace("\r\n", eol));
        head.push_str(eol);
    }
    let (fields, body) = match framing {
        "cl" => (format!("Content-Length: {cl}{eol}"), "hello".to_owned()),
        "te" => (format!("Transfer-Encoding: {te}{eol}"), chunked_body),
        "te+cl" => (
            format!("Transfer-Encoding: {te}{eol}Content-Length: {cl}{eol}"),
            chunked_body,
        ),
        "cl+cl" => (
            format!("Content-Length: {cl}{eol}Content-Length: 5{eol}"),
            "hello".to_owned(),
        ),
        "te-twice" => (
            format!("Transfer-Encoding: {te}{eol}Transfer-Encoding: chunked{eol}"),
            chunked_body,
        ),
        _ => (String::new(), String::new()),
    };
    head.push_str(&fields);
    head.push_str(eol);
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes.extend_from_slice(SECOND);
    Case {
        id,
        shape: if shape.is_empty() {
            "valid".to_owned()
        } else {
            shape.join(" | ")
        },
        bytes,
    }
}

/// Bytes from the escaped form the report prints ([`<[u8]>::escape_ascii`]):
/// `\r`, `\n`, `\t`, `\\`, `\'`, `\"` and `\xNN`.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(c @ (b'\\' | b'\'' | b'"')) => out.push(c),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let value = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("bad \\x escape {:?}", String::from_utf8_lossy(&hex)))?;
                out.push(value);
            }
            other => {
                return Err(format!(
                    "unknown escape \\{}",
                    other.map_or(String::new(), |c| (c as char).to_string())
                ));
            }
        }
    }
    Ok(out)
}

/// What one proxy made of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Each complete request the origin received: `METHOD target
    /// <length>B#<digest>`, sorted; bytes it cannot read as a request, as
    /// `unreadable`.
    pub upstream: Vec<String>,
    /// Each response the client received, by status class (`2xx`), then
    /// `unreadable` or `incomplete` if the rest is not a whole response.
    pub client: Vec<String>,
}

/// How long a client may stay silent before a case counts as over, by
/// default: a proxy waiting for bytes a case never sends waits as long
/// as it likes, and what it did by then is what it does. On a busy
/// machine a slower proxy needs more ([`run`]'s `silence`).
pub const SILENCE: Duration = Duration::from_millis(200);

/// Sends `case` through the proxy at `addr` (whose upstream is `origin`)
/// and reads back what each side saw, the case over after `silence`.
/// `upstream_seen` is how many bytes of each upstream connection earlier
/// cases used, updated here.
pub fn observe(
    addr: SocketAddr,
    origin: &ScriptedOrigin,
    upstream_seen: &mut Vec<usize>,
    case: &Case,
    silence: Duration,
) -> Seen {
    let mut client_bytes = Vec::new();
    if let Ok(mut client) = Client::connect(addr, silence) {
        if client.send(&case.bytes).is_ok() {
            while client.fill() > 0 {}
        }
        client_bytes = client.take(usize::MAX);
    }
    // What the proxy forwards it has written by now; the origin's
    // threads may still be recording it, so the records are read once
    // they stopped changing. Everything they hold is this case's: a
    // request cut short is reported as such, and its bytes are not left
    // for the next case to be read as its own.
    let records = settled(origin);
    let mut upstream = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if upstream_seen.len() <= i {
            upstream_seen.push(0);
        }
        let new = &record.received[upstream_seen[i].min(record.received.len())..];
        let used = requests_in(new, &mut upstream);
        if used < new.len() {
            let rest = &new[used..];
            let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
            upstream.push(format!(
                "partial {}",
                String::from_utf8_lossy(line).trim_end()
            ));
        }
        upstream_seen[i] = record.received.len();
    }
    // Requests on different upstream connections have no order between
    // them (HAProxy sends a pipelined second request on a connection of
    // its own, which may arrive first): compared as a set.
    upstream.sort();
    Seen {
        upstream,
        client: responses_in(&client_bytes),
    }
}

/// The origin's records once they have not changed for 30 ms (at most
/// half a second).
fn settled(origin: &ScriptedOrigin) -> Vec<crate::scripted::ConnRecord> {
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    let mut last = origin.records();
    loop {
        std::thread::sleep(Duration::from_millis(30));
        let now = origin.records();
        if now == last || std::time::Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

/// Describes the complete requests at the start of `bytes` into `out`;
/// returns the bytes they took (an incomplete one is left for later).
fn requests_in(bytes: &[u8], out: &mut Vec<String>) -> usize {
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let (req, used) = match pb_wire::parse_request(rest) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return at,
            Err(_) => {
                out.push("unreadable".into());
                return bytes.len();
            }
        };
        let mut reader = pb_wire::BodyReader::new(req.body);
        let mut payload = Vec::new();
        match reader.read(&rest[used..], |p| payload.extend_from_slice(p)) {
            Ok(read) if reader.is_done() => {
                let digest = pb_wire::pattern::digest(&payload, pb_wire::pattern::DIGEST_SEED);
                out.push(format!(
                    "{} {} {}B#{:08x}",
                    req.method,
                    req.target,
                    payload.len(),
                    digest as u32
                ));
                at += used + read;
            }
            Ok(_) => return at,
            Err(_) => {
                out.push("unreadable".into());
                return bytes.len();
            }
        }
    }
    at
}

/// The status classes of the responses in `bytes`.
fn responses_in(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (res, used) = match pb_wire::parse_response(rest, false) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                out.push("incomplete".into());
                break;
            }
            Err(_) => {
                out.push("unreadable".into());
                break;
            }
        };
        let mut reader = pb_wire::BodyReader::new(res.body);
        match reader.read(&rest[used..], |_| {}) {
            Ok(read) if reader.is_done() => rest = &rest[used + read..],
            // A body delimited by the close, which came.
            Ok(read) if reader.at_close().is_ok() => rest = &rest[used + read..],
            _ => {
                out.push(format!("{}xx incomplete", res.status / 100));
                break;
            }
        }
        out.push(format!("{}xx", res.status / 100));
    }
    out
}

/// One entry of the committed triage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    /// A case's shape contains this.
    pub shape: String,
    /// What it is: `core-bug` (a defect of ours; it must also be a
    /// conformance case), `reference-differs` (the references disagree
    /// with the RFC or each other; ours is right), or `allowed` (the RFC
    /// lets proxies differ here).
    pub verdict: String,
    /// Why, with the RFC section.
    pub note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageFile {
    #[serde(default)]
    triage: Vec<Triage>,
}

/// The committed triage, parsed.
pub fn triage() -> Result<Vec<Triage>, String> {
    toml::from_str::<TriageFile>(TRIAGE_TOML)
        .map(|f| f.triage)
        .map_err(|e| format!("differential-triage.toml: {e}"))
}

/// A core that saw a case otherwise than every reference.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// The case.
    pub case: usize,
    /// Its shape.
    pub shape: String,
    /// Its bytes, escaped.
    pub bytes: String,
    /// The cores that saw it alike, otherwise than the references.
    pub cores: Vec<String>,
    /// What they saw.
    pub seen: Seen,
    /// What each reference saw.
    pub references: Vec<(String, Seen)>,
    /// The triage entry that explains it; none is a finding to triage.
    pub triage: Option<Triage>,
}

/// A whole differential run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The generator's seed.
    pub seed: u64,
    /// Cases run.
    pub cases: usize,
    /// Cores compared.
    pub cores: Vec<String>,
    /// References compared against.
    pub references: Vec<String>,
    /// Cases on which the references disagreed with each other (no
    /// yardstick there).
    pub references_split: usize,
    /// Every disagreement, by case.
    pub disagreements: Vec<Disagreement>,
}

impl Report {
    /// Disagreements no triage entry explains.
    pub fn untriaged(&self) -> impl Iterator<Item = &Disagreement> {
        self.disagreements.iter().filter(|d| d.triage.is_none())
    }

    /// A readable summary: counts, each untriaged disagreement in full,
    /// then how many each triage entry explained.
    pub fn render(&self) -> String {
        let mut out = format!(
            "differential: {} cases (seed {}) through {} core(s) and {}; references split on {}; {} disagreement(s), {} untriaged\n",
            self.cases,
            self.seed,
            self.cores.len(),
            self.references.join(", "),
            self.references_split,
            self.disagreements.len(),
            self.untriaged().count()
        );
        for d in self.untriaged() {
            out.push_str(&format!(
                "\n#{} UNTRIAGED {}\n  bytes: {}\n  {}: upstream {:?}, client {:?}\n",
                d.case,
                d.shape,
                d.bytes,
                d.cores.join(", "),
                d.seen.upstream,
                d.seen.client
            ));
            for (name, seen) in &d.references {
                out.push_str(&format!(
                    "  {name}: upstream {:?}, client {:?}\n",
                    seen.upstream, seen.client
                ));
            }
        }
        let mut explained: Vec<(&Triage, usize)> = Vec::new();
        for t in self.disagreements.iter().filter_map(|d| d.triage.as_ref()) {
            match explained.iter_mut().find(|(e, _)| *e == t) {
                Some((_, n)) => *n += 1,
                None => explained.push((t, 1)),
            }
        }
        if !explained.is_empty() {
            out.push_str("\ntriaged (harness/conform/differential-triage.toml):\n");
        }
        for (t, n) in explained {
            out.push_str(&format!("  {n:>4} x [{}] {}\n", t.verdict, t.shape));
        }
        out
    }
}

/// Runs `cases` through every core and reference (one thread per proxy,
/// each with its own recording origin; a case over after `silence`) and
/// compares.
pub fn run(
    exe: &Path,
    proxy_args: &[String],
    cores: &[String],
    references: &[String],
    seed: u64,
    cases: &[Case],
    silence: Duration,
) -> Result<Report, String> {
    if references.is_empty() {
        return Err("a differential run needs at least one reference proxy".into());
    }
    let triage = triage()?;
    let suite = Suite::start(exe, proxy_args).map_err(|e| e.to_string())?;
    let proxies: Vec<&String> = cores.iter().chain(references).collect();
    let seen: Vec<Result<Vec<Seen>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = proxies
            .iter()
            .map(|name| {
                let suite = &suite;
                scope.spawn(move || {
                    let origin = crate::probe::plain_origin()?;
                    let ctx = Ctx::new(suite, name);
                    let proxy = ctx
                        .http_to(origin.addr(), "", "")
                        .map_err(|e| format!("{name}: {e}"))?;
                    let mut upstream_seen = Vec::new();
                    Ok(cases
                        .iter()
                        .map(|case| {
                            observe(proxy.addr(), &origin, &mut upstream_seen, case, silence)
                        })
                        .collect())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a proxy's thread panicked".into()))
            })
            .collect()
    });
    let seen: Vec<Vec<Seen>> = seen.into_iter().collect::<Result<_, _>>()?;
    let (core_seen, ref_seen) = seen.split_at(cores.len());
    let mut report = Report {
        seed,
        cases: cases.len(),
        cores: cores.to_vec(),
        references: references.to_vec(),
        references_split: 0,
        disagreements: Vec::new(),
    };
    for (i, case) in cases.iter().enumerate() {
        let refs: Vec<(String, Seen)> = references
            .iter()
            .zip(ref_seen)
            .map(|(name, s)| (name.clone(), s[i].clone()))
            .collect();
        if refs.iter().any(|(_, s)| *s != refs[0].1) {
            report.references_split += 1;
        }
        // Cores that saw it alike are one disagreement.
        let mut groups: Vec<(Seen, Vec<String>)> = Vec::new();
        for (name, s) in cores.iter().zip(core_seen) {
            if refs.iter().any(|(_, r)| *r == s[i]) {
                continue;
            }
            match groups.iter_mut().find(|(seen, _)| *seen == s[i]) {
                Some((_, names)) => names.push(name.clone()),
                None => groups.push((s[i].clone(), vec![name.clone()])),
            }
        }
        for (seen, names) in groups {
            report.disagreements.push(Disagreement {
                case: case.id,
                shape: case.shape.clone(),
                bytes: case.bytes.escape_ascii().to_string(),
                cores: names,
                seen,
                references: refs.clone(),
                triage: triage
                    .iter()
                    .find(|t| case.shape.contains(&t.shape))
                    .cloned(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_cases_and_every_piece_varies() {
        let a = generate(7, 400);
        assert_eq!(a, generate(7, 400));
        assert_ne!(a, generate(8, 400));
        assert!(a.iter().all(|c| c.bytes.ends_with(SECOND)));
        assert!(a.iter().any(|c| c.shape == "valid"));
        for piece in [
            "method=",
            "target=",
            "version=",
            "sep=",
            "eol=",
            "host=",
            "field=",
            "framing=",
            "cl=",
            "te=",
            "chunk-size=",
            "last-chunk=",
            "trailer=",
            "chunk-eol=",
        ] {
            assert!(
                a.iter().any(|c| c.shape.contains(piece)),
                "no case varies {piece}"
            );
        }
    }

    #[test]
    fn a_valid_case_is_one_post_with_a_five_byte_body_then_the_second() {
        let valid = generate(7, 400)
            .into_iter()
            .find(|c| c.shape == "valid")
            .unwrap();
        let mut seen = Vec::new();
        let used = requests_in(&valid.bytes, &mut seen);
        assert_eq!(used, valid.bytes.len());
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("POST /a 5B#"), "{seen:?}");
        assert!(seen[1].starts_with("GET /second 0B#"), "{seen:?}");
    }

    #[test]
    fn responses_are_read_by_class_and_a_cut_one_is_said_so() {
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 400 Bad\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(responses_in(two), ["2xx", "4xx"]);
        assert_eq!(
            responses_in(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok"),
            ["2xx incomplete"]
        );
        assert_eq!(responses_in(b"HTTP/1.1 200"), ["incomplete"]);
        assert_eq!(responses_in(b"garbage\r\n\r\n"), ["unreadable"]);
    }

    #[test]
    fn escaped_bytes_read_back_as_sent() {
        for case in generate(3, 200) {
            let text = case.bytes.escape_ascii().to_string();
            assert_eq!(unescape(&text).unwrap(), case.bytes, "{text}");
        }
        assert!(unescape("a\\q").is_err());
        assert!(unescape("a\\x4").is_err());
    }

    #[test]
    fn the_committed_triage_parses() {
        let entries = triage().unwrap();
        for t in &entries {
            assert!(
                ["core-bug", "reference-differs", "allowed"].contains(&t.verdict.as_str()),
                "{t:?}"
            );
            assert!(!t.shape.is_empty() && !t.note.is_empty(), "{t:?}");
        }
    }
}
