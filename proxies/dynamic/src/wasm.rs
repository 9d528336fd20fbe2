//! WebAssembly filters: one module, compiled once per process by
//! wasmtime (Cranelift, to machine code) or prepared by wasmi (an
//! interpreter), instantiated once per thread. Per request the host
//! copies the [`wire`](crate::wire) form of the head into the instance's
//! memory at the module's `input` offset and calls `decide(len)`.
//!
//! Neither engine is given fuel or an epoch deadline: a module that loops
//! forever stops its thread, as native code would. The modules the
//! experiment runs are proxybench's own.

use pb_core::config::DynamicEngine;

use crate::Decision;

/// A compiled module and the engine that runs it.
pub enum Program {
    /// Compiled to machine code by wasmtime.
    Wasmtime(wasmtime::Engine, wasmtime::Module),
    /// Prepared for wasmi's interpreter.
    Wasmi(wasmi::Engine, wasmi::Module),
}

/// One thread's instance.
pub enum Instance {
    /// A wasmtime instance.
    Wasmtime {
        /// Its store.
        store: wasmtime::Store<()>,
        /// Its memory.
        memory: wasmtime::Memory,
        /// Its `decide`.
        decide: wasmtime::TypedFunc<i32, i32>,
        /// Where the head goes.
        input: usize,
    },
    /// A wasmi instance.
    Wasmi {
        /// Its store (boxed: wasmi's is large, wasmtime's a pointer).
        store: Box<wasmi::Store<()>>,
        /// Its memory.
        memory: wasmi::Memory,
        /// Its `decide`.
        decide: wasmi::TypedFunc<i32, i32>,
        /// Where the head goes.
        input: usize,
    },
}

impl Program {
    /// Compiles `module` (text or binary) to machine code with wasmtime,
    /// and checks that an instance has what the host calls.
    pub fn wasmtime(module: &[u8]) -> Result<Program, String> {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, module).map_err(|e| format!("{e:#}"))?;
        Program::Wasmtime(engine, module).checked()
    }

    /// Prepares `module` (text or binary) for wasmi's interpreter, and
    /// checks that an instance has what the host calls.
    pub fn wasmi(module: &[u8]) -> Result<Program, String> {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, module).map_err(|e| e.to_string())?;
        Program::Wasmi(engine, module).checked()
    }

    fn checked(self) -> Result<Program, String> {
        self.instantiate()?;
        Ok(self)
    }

    /// The engine that runs it.
    pub fn engine(&self) -> DynamicEngine {
        match self {
            Program::Wasmtime(..) => DynamicEngine::Wasmtime,
            Program::Wasmi(..) => DynamicEngine::Wasmi,
        }
    }

    /// A new instance, with its exports looked up once.
    pub fn instantiate(&self) -> Result<Instance, String> {
        match self {
            Program::Wasmtime(engine, module) => {
                let mut store = wasmtime::Store::new(engine, ());
                let instance = wasmtime::Instance::new(&mut store, module, &[])
                    .map_err(|e| format!("cannot instantiate: {e:#}"))?;
                let memory = instance
                    .get_memory(&mut store, "memory")
                    .ok_or("the module exports no memory named \"memory\"")?;
                let input = instance
                    .get_typed_func::<(), i32>(&mut store, "input")
                    .map_err(|e| format!("export \"input\" () -> i32: {e:#}"))?
                    .call(&mut store, ())
                    .map_err(|e| format!("input(): {e:#}"))?;
                let decide = instance
                    .get_typed_func::<i32, i32>(&mut store, "decide")
                    .map_err(|e| format!("export \"decide\" (i32) -> i32: {e:#}"))?;
                Ok(Instance::Wasmtime {
                    store,
                    memory,
                    decide,
                    input: offset(input)?,
                })
            }
            Program::Wasmi(engine, module) => {
                let mut store = Box::new(wasmi::Store::new(engine, ()));
                let instance = wasmi::Instance::new(&mut *store, module, &[])
                    .map_err(|e| format!("cannot instantiate: {e}"))?;
                let memory = instance
                    .get_memory(&*store, "memory")
                    .ok_or("the module exports no memory named \"memory\"")?;
                let input = instance
                    .get_typed_func::<(), i32>(&*store, "input")
                    .map_err(|e| format!("export \"input\" () -> i32: {e}"))?
                    .call(&mut *store, ())
                    .map_err(|e| format!("input(): {e}"))?;
                let decide = instance
                    .get_typed_func::<i32, i32>(&*store, "decide")
                    .map_err(|e| format!("export \"decide\" (i32) -> i32: {e}"))?;
                Ok(Instance::Wasmi {
                    store,
                    memory,
                    decide,
                    input: offset(input)?,
                })
            }
        }
    }
}

fn offset(input: i32) -> Result<usize, String> {
    usize::try_from(input).map_err(|_| format!("input() returned {input}, not an offset"))
}

impl Instance {
    /// Copies `wire` in and asks the module.
    pub fn decide(&mut self, wire: &[u8]) -> Result<Decision, String> {
        let len = i32::try_from(wire.len()).map_err(|_| "head too large".to_owned())?;
        let code = match self {
            Instance::Wasmtime {
                store,
                memory,
                decide,
                input,
            } => {
                place(memory.data_mut(&mut *store), *input, wire)?;
                decide
                    .call(&mut *store, len)
                    .map_err(|e| format!("decide trapped: {e:#}"))?
            }
            Instance::Wasmi {
                store,
                memory,
                decide,
                input,
            } => {
                place(memory.data_mut(&mut **store), *input, wire)?;
                decide
                    .call(&mut **store, len)
                    .map_err(|e| format!("decide trapped: {e}"))?
            }
        };
        Decision::from_code(i64::from(code))
    }
}

/// Copies `wire` to `at` in `memory`, if it fits.
fn place(memory: &mut [u8], at: usize, wire: &[u8]) -> Result<(), String> {
    let room = memory.len().saturating_sub(at);
    memory
        .get_mut(at..at + wire.len())
        .ok_or_else(|| {
            format!(
                "a {}-byte head does not fit the module's {room} bytes of input",
                wire.len()
            )
        })?
        .copy_from_slice(wire);
    Ok(())
}
