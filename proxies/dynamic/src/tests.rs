//! Every engine decides what the gate's definition says, on heads chosen
//! for its edges; the expected answers are written out here, not taken
//! from [`native`](crate::native).

use super::*;
use pb_http::Limits;

fn head(headers: &str) -> RequestHead {
    let text = format!("GET /a?b=c HTTP/1.1\r\nHost: example\r\n{headers}\r\n");
    RequestHead::parse(text.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap()
        .0
}

/// (headers, expected code: 0 forwards)
const CASES: &[(&str, u16)] = &[
    ("x-pb-token: pb-open-sesame\r\n", 0),
    ("X-PB-Token: pb-open-sesame\r\n", 0),
    ("x-pb-token:   pb-open-sesame  \r\n", 0),
    ("", 401),
    ("x-pb-tokens: pb-open-sesame\r\n", 401),
    ("x-pb-toke: pb-open-sesame\r\n", 401),
    ("x-pb-token: PB-OPEN-SESAME\r\n", 403),
    ("x-pb-token: pb-open-sesame2\r\n", 403),
    ("x-pb-token: pb-open-sesam\r\n", 403),
    ("x-pb-token:\r\n", 403),
    ("x-pb-token: nope\r\nx-pb-token: pb-open-sesame\r\n", 403),
    ("x-pb-token: pb-open-sesame\r\nx-pb-token: nope\r\n", 0),
    ("x-pb-token: pb-open-sesame\r\nX-Pb-Deny: 1\r\n", 403),
    ("x-pb-deny:\r\n", 403),
    ("x-pb-deny-not: 1\r\nx-pb-token: pb-open-sesame\r\n", 0),
    ("a: x-pb-deny\r\nb: x-pb-token:pb-open-sesame\r\n", 401),
    ("x-pb-token: pb-open-sesame:x\r\n", 403),
];

fn engines() -> Vec<(DynamicEngine, Gate)> {
    [
        DynamicEngine::Native,
        DynamicEngine::Wasmtime,
        DynamicEngine::Wasmi,
        DynamicEngine::Rhai,
    ]
    .into_iter()
    .map(|engine| {
        let config = DynamicConfig {
            engine,
            module: None,
            command: None,
        };
        (engine, Gate::build(&config).unwrap())
    })
    .collect()
}

#[test]
fn every_engine_decides_as_the_gate_is_defined() {
    let gates = engines();
    for &(headers, expected) in CASES {
        let head = head(headers);
        for (engine, gate) in &gates {
            assert_eq!(
                gate.decide(&head).code(),
                expected,
                "{} on {headers:?}",
                engine.name()
            );
        }
        let mut wire = Vec::new();
        wire::encode(&head, &mut wire).unwrap();
        assert_eq!(
            native::decide_wire(&wire).code(),
            expected,
            "wire {headers:?}"
        );
    }
}

#[test]
fn the_ipc_protocol_carries_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("f.sock");
    let listener = ipc::bind(&socket).unwrap();
    std::thread::spawn(move || ipc::serve(listener));
    let mut client = ipc::Client::connect(&socket).unwrap();
    let mut wire = Vec::new();
    for &(headers, expected) in CASES {
        wire::encode(&head(headers), &mut wire).unwrap();
        assert_eq!(
            client.decide(&wire).unwrap().code(),
            expected,
            "{headers:?}"
        );
    }
}

#[test]
fn a_module_missing_what_the_host_calls_is_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            DynamicEngine::Wasmtime,
            "(module (memory (export \"memory\") 1))",
            "input",
        ),
        (
            DynamicEngine::Wasmi,
            "(module (func (export \"decide\")))",
            "memory",
        ),
        (DynamicEngine::Wasmtime, "(module (memory", "built-in"),
        (
            DynamicEngine::Rhai,
            "fn decide(a) { 0 }",
            "fn decide(method, target, headers)",
        ),
        (DynamicEngine::Rhai, "fn decide(a, b, c) { ", "module"),
    ];
    for (i, (engine, text, says)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("m{i}"));
        std::fs::write(&path, text).unwrap();
        let config = DynamicConfig {
            engine,
            module: Some(path.clone()),
            command: None,
        };
        let error = Gate::build(&config).unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        if says != "built-in" && says != "module" {
            assert!(error.contains(says), "{error} should say {says}");
        }
    }
    let missing = DynamicConfig {
        engine: DynamicEngine::Wasmi,
        module: Some(dir.path().join("absent.wat")),
        command: None,
    };
    assert!(matches!(
        Gate::build(&missing),
        Err(DynamicError::Read { .. })
    ));
}

#[test]
fn a_filter_that_answers_nonsense_or_traps_refuses_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let module = |body: &str| {
        format!(
            "(module (memory (export \"memory\") 1) (func (export \"input\") (result i32) i32.const 0) \
             (func (export \"decide\") (param i32) (result i32) {body}))"
        )
    };
    for (name, body) in [("nonsense", "i32.const 42"), ("trap", "unreachable")] {
        let path = dir.path().join(name);
        std::fs::write(&path, module(body)).unwrap();
        for engine in [DynamicEngine::Wasmtime, DynamicEngine::Wasmi] {
            let gate = Gate::build(&DynamicConfig {
                engine,
                module: Some(path.clone()),
                command: None,
            })
            .unwrap();
            let ok = head("x-pb-token: pb-open-sesame\r\n");
            assert_eq!(
                gate.decide(&ok),
                Decision::FAILED,
                "{} {name}",
                engine.name()
            );
        }
    }
    // A head larger than the module's memory is refused, not truncated.
    let path = dir.path().join("small");
    std::fs::write(&path, module("i32.const 0")).unwrap();
    let gate = Gate::build(&DynamicConfig {
        engine: DynamicEngine::Wasmtime,
        module: Some(path),
        command: None,
    })
    .unwrap();
    let limits = Limits {
        max_head_bytes: 200_000,
        ..Limits::default()
    };
    let text = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nx-pb-token: pb-open-sesame\r\nx-big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let head = RequestHead::parse(text.as_bytes(), &limits)
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(gate.decide(&head), Decision::FAILED);
}

#[test]
fn one_gate_per_configuration_per_process() {
    let config = DynamicConfig {
        engine: DynamicEngine::Wasmi,
        module: None,
        command: None,
    };
    let a = Gate::shared(&config).unwrap();
    let b = Gate::shared(&config).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let other = Gate::shared(&DynamicConfig {
        engine: DynamicEngine::Native,
        ..config
    })
    .unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
}
