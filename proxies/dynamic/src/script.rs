//! The Rhai filter: one engine and one compiled script shared by every
//! thread (Rhai's `sync` build), called as `decide(method, target,
//! headers)` per request with a fresh scope. Binding the language has a
//! price paid on every request: the head becomes Rhai values (strings and
//! a map from lower-cased names to first values) before the script reads
//! it.

use pb_http::RequestHead;
use rhai::{AST, Dynamic, Engine, Map, Scope};

use crate::Decision;

/// A compiled script.
pub struct Script {
    engine: Engine,
    ast: AST,
}

impl Script {
    /// Compiles `text` and checks it defines `decide` with three
    /// parameters.
    pub fn compile(text: &str) -> Result<Script, String> {
        let engine = Engine::new();
        let ast = engine.compile(text).map_err(|e| e.to_string())?;
        if !ast
            .iter_functions()
            .any(|f| f.name == "decide" && f.params.len() == 3)
        {
            return Err("the script defines no fn decide(method, target, headers)".into());
        }
        Ok(Script { engine, ast })
    }

    /// Runs the script on `head`.
    pub fn decide(&self, head: &RequestHead) -> Result<Decision, String> {
        let mut headers = Map::new();
        for header in head.headers() {
            headers
                .entry(header.name.to_ascii_lowercase().into())
                .or_insert_with(|| {
                    Dynamic::from(String::from_utf8_lossy(header.value).into_owned())
                });
        }
        let code: i64 = self
            .engine
            .call_fn(
                &mut Scope::new(),
                &self.ast,
                "decide",
                (head.method().to_owned(), head.target().to_owned(), headers),
            )
            .map_err(|e| format!("decide failed: {e}"))?;
        Decision::from_code(code)
    }
}
