//! Dynamic filters: the claims' seventh experiment. One small decision on
//! a request head — a header rule and a token check, [`native::decide`] —
//! run five ways, so that the cost of each way of inserting logic into a
//! proxy at run time is the only thing that differs:
//!
//! - [`DynamicEngine::Native`]: the decision compiled into the core.
//! - [`DynamicEngine::Wasmtime`] and [`DynamicEngine::Wasmi`] ([`wasm`]):
//!   a WebAssembly module (`filters/gate.wat` unless the configuration
//!   names another) under a JIT and under an interpreter, one instance
//!   per thread, the head copied into its memory in the [`wire`] form.
//! - [`DynamicEngine::Rhai`] ([`script`]): an embedded script
//!   (`filters/gate.rhai`), the head handed over as a map.
//! - [`DynamicEngine::Ipc`] ([`ipc`]): a filter process the core starts,
//!   asked once per request over a Unix socket, one connection per thread.
//!
//! A [`Gate`] is built once per process from the `[dynamic]` section
//! ([`Gate::shared`]), so a bad module fails the core's start with a
//! clear error; every composition calls [`Gate::decide`] from its own
//! layer. A filter that fails at run time (a trap, a dead filter process)
//! answers 500: a request is never forwarded unfiltered.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pb_core::config::{DynamicConfig, DynamicEngine};
use pb_http::RequestHead;

pub mod ipc;
pub mod native;
pub mod script;
pub mod wasm;
pub mod wire;

/// proxybench's gate filter as WebAssembly text.
pub const GATE_WAT: &str = include_str!("../filters/gate.wat");
/// proxybench's gate filter as a Rhai script.
pub const GATE_RHAI: &str = include_str!("../filters/gate.rhai");

/// What a filter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forward the request.
    Forward,
    /// Answer with this status (an empty body) instead of forwarding.
    Answer(u16),
}

impl Decision {
    /// What a filter failure answers: the request is not forwarded.
    pub const FAILED: Decision = Decision::Answer(500);

    /// A filter's numeric answer: 0 forwards, a final status (200..=599)
    /// answers; anything else is a broken filter.
    pub fn from_code(code: i64) -> Result<Decision, String> {
        match code {
            0 => Ok(Decision::Forward),
            200..=599 => Ok(Decision::Answer(code as u16)),
            other => Err(format!(
                "the filter returned {other}: neither 0 (forward) nor a status in 200..=599"
            )),
        }
    }

    /// The numeric form [`from_code`](Self::from_code) reads.
    pub fn code(self) -> u16 {
        match self {
            Decision::Forward => 0,
            Decision::Answer(status) => status,
        }
    }
}

/// Why a `[dynamic]` filter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The module file could not be read.
    #[error("cannot read the {engine} filter module {path}: {source}")]
    Read {
        /// The engine's name.
        engine: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The module or script does not compile, or lacks what the host
    /// calls.
    #[error("the {engine} filter module {module}: {message}")]
    Module {
        /// The engine's name.
        engine: &'static str,
        /// The module's path, or `built-in`.
        module: String,
        /// What is wrong.
        message: String,
    },
    /// The filter process could not be started or did not come up.
    #[error("the ipc filter process ({command}): {message}")]
    Process {
        /// The command line.
        command: String,
        /// What went wrong.
        message: String,
    },
}

/// A `[dynamic]` filter, ready to decide: compiled modules and the
/// filter process are shared; per-thread state (a WebAssembly instance,
/// a socket) is made on a thread's first request.
pub struct Gate {
    id: usize,
    kind: Kind,
}

enum Kind {
    /// A gate that could not be built, for a caller that cannot fail:
    /// every request is answered 500 (the error printed once).
    Failed(String),
    Native,
    Wasm(wasm::Program),
    Rhai(Box<script::Script>),
    Ipc(ipc::Server),
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("engine", &self.engine().map(DynamicEngine::name))
            .finish_non_exhaustive()
    }
}

/// Per-thread state of every gate this thread has used: the wire buffer
/// and each gate's instance, by gate id.
struct Local {
    wire: Vec<u8>,
    instances: Vec<(usize, Instance)>,
}

enum Instance {
    Wasm(wasm::Instance),
    Ipc(ipc::Client),
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { wire: Vec::new(), instances: Vec::new() })
    };
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
/// Gates built so far, by configuration: a process builds each once.
static GATES: Mutex<Vec<(DynamicConfig, Arc<Gate>)>> = Mutex::new(Vec::new());

impl Gate {
    /// Builds the filter `config` asks for: reads and compiles its module,
    /// or starts its filter process.
    pub fn build(config: &DynamicConfig) -> Result<Gate, DynamicError> {
        let engine = config.engine;
        let source = || -> Result<(String, Vec<u8>), DynamicError> {
            let builtin = match engine {
                DynamicEngine::Rhai => GATE_RHAI,
                _ => GATE_WAT,
            };
            match &config.module {
                None => Ok(("built-in".to_owned(), builtin.as_bytes().to_vec())),
                Some(path) => std::fs::read(path)
                    .map(|text| (path.display().to_string(), text))
                    .map_err(|source| DynamicError::Read {
                        engine: engine.name(),
                        path: path.display().to_string(),
                        source,
                    }),
            }
        };
        let kind = match engine {
            DynamicEngine::Native => Kind::Native,
            DynamicEngine::Wasmtime | DynamicEngine::Wasmi => {
                let (name, text) = source()?;
                let program = if engine == DynamicEngine::Wasmtime {
                    wasm::Program::wasmtime(&text)
                } else {
                    wasm::Program::wasmi(&text)
                };
                Kind::Wasm(program.map_err(|message| DynamicError::Module {
                    engine: engine.name(),
                    module: name,
                    message,
                })?)
            }
            DynamicEngine::Rhai => {
                let (name, text) = source()?;
                let text = String::from_utf8(text).map_err(|_| DynamicError::Module {
                    engine: engine.name(),
                    module: name.clone(),
                    message: "a script must be UTF-8 text".into(),
                })?;
                let script =
                    script::Script::compile(&text).map_err(|message| DynamicError::Module {
                        engine: engine.name(),
                        module: name,
                        message,
                    })?;
                Kind::Rhai(Box::new(script))
            }
            DynamicEngine::Ipc => Kind::Ipc(ipc::Server::start(config.command.as_deref())?),
        };
        Ok(Gate {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            kind,
        })
    }

    /// The process's gate for `config`, built on first use: every thread
    /// and composition of a core shares one filter process and one
    /// compiled module.
    pub fn shared(config: &DynamicConfig) -> Result<Arc<Gate>, DynamicError> {
        let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gate)) = gates.iter().find(|(c, _)| c == config) {
            return Ok(Arc::clone(gate));
        }
        let gate = Arc::new(Gate::build(config)?);
        gates.push((config.clone(), Arc::clone(&gate)));
        Ok(gate)
    }

    /// [`shared`](Self::shared), for a constructor that cannot fail: a
    /// gate that cannot be built answers every request 500. A core checks
    /// with [`shared`](Self::shared) before it serves, so the error stops
    /// it there; this keeps a request from ever passing unfiltered.
    pub fn shared_or_refusing(config: &DynamicConfig) -> Arc<Gate> {
        Gate::shared(config).unwrap_or_else(|e| {
            Arc::new(Gate {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                kind: Kind::Failed(e.to_string()),
            })
        })
    }

    /// What runs this gate (`None`: it could not be built).
    pub fn engine(&self) -> Option<DynamicEngine> {
        Some(match &self.kind {
            Kind::Failed(_) => return None,
            Kind::Native => DynamicEngine::Native,
            Kind::Wasm(program) => program.engine(),
            Kind::Rhai(_) => DynamicEngine::Rhai,
            Kind::Ipc(_) => DynamicEngine::Ipc,
        })
    }

    /// The filter's decision for `head`. A failure answers 500 and is
    /// reported on stderr once per process.
    pub fn decide(&self, head: &RequestHead) -> Decision {
        let decided = match &self.kind {
            Kind::Native => return native::decide(head),
            Kind::Failed(message) => Err(message.clone()),
            Kind::Rhai(script) => script.decide(head),
            Kind::Wasm(_) | Kind::Ipc(_) => LOCAL.with_borrow_mut(|local| {
                let Local { wire, instances } = local;
                wire::encode(head, wire)?;
                let instance = match instances.iter().position(|(id, _)| *id == self.id) {
                    Some(i) => &mut instances[i].1,
                    None => {
                        instances.push((self.id, self.instance()?));
                        &mut instances.last_mut().expect("just pushed").1
                    }
                };
                match instance {
                    Instance::Wasm(instance) => instance.decide(wire),
                    Instance::Ipc(client) => client.decide(wire),
                }
            }),
        };
        decided.unwrap_or_else(|message| {
            static REPORTED: AtomicBool = AtomicBool::new(false);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "proxybench: the {} filter failed (answering 500 while it does): {message}",
                    self.engine().map_or("dynamic", DynamicEngine::name)
                );
            }
            Decision::FAILED
        })
    }

    /// A new per-thread instance of this gate.
    fn instance(&self) -> Result<Instance, String> {
        match &self.kind {
            Kind::Wasm(program) => program.instantiate().map(Instance::Wasm),
            Kind::Ipc(server) => server.connect().map(Instance::Ipc),
            Kind::Failed(_) | Kind::Native | Kind::Rhai(_) => {
                unreachable!("decided without an instance")
            }
        }
    }
}

#[cfg(test)]
mod tests;
