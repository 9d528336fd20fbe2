//! A proxy a user brings: `--external my-proxy.toml` names a program,
//! the arguments that run it in the foreground, and a configuration
//! template rendered from the same context as the built-in references'
//! (`docs/external.md` lists the context and works an example through).
//!
//! ```toml
//! name = "envoy"                      # the core's name in results
//! program = "envoy"                   # on PATH (or an absolute path)
//! args = ["-c", "{config}", "--concurrency", "{threads}"]
//! template = "envoy.yaml.j2"          # relative to this file
//! config_file = "envoy.yaml"
//! stop_signal = "SIGTERM"
//! install = "https://www.envoyproxy.io/docs/envoy/latest/start/install"
//! runtime = "Envoy 1.31: one worker thread per serving thread"
//! service = "reference proxy: http_connection_manager, router filter"
//! policies = ["round-robin", "random"]
//! reuse_port = true                   # it listens with SO_REUSEPORT
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use nix::sys::signal::Signal;
use pb_core::config::Policy;
use pb_core::{CoreInfo, Requirement, Scenario};
use serde::Deserialize;

use crate::{External, Launch};

/// Why a user's proxy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a valid description.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place in the file when TOML says it.
        message: String,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: String,
    program: String,
    args: Vec<String>,
    template: PathBuf,
    config_file: String,
    #[serde(default = "default_signal")]
    stop_signal: String,
    #[serde(default)]
    install: Option<String>,
    #[serde(default)]
    runtime: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default = "yes")]
    reuse_port: bool,
}

fn yes() -> bool {
    true
}

fn default_signal() -> String {
    "SIGTERM".into()
}

/// How a user's program is launched, from its file.
#[derive(Debug)]
pub struct UserProgram {
    /// The executable, as the file names it.
    pub(crate) program: String,
    /// Its arguments, placeholders unexpanded.
    pub(crate) args: Vec<String>,
    /// The template's text.
    pub(crate) template: String,
    /// The rendered configuration's file name in the scratch directory.
    pub(crate) config_file: String,
    /// Its graceful stop.
    pub(crate) stop_signal: Signal,
    /// The balancing policies its template maps; any when `None`.
    pub(crate) policies: Option<Vec<Policy>>,
    /// It listens with `SO_REUSEPORT`, so proxybench can hold the port
    /// until it listens; else the port is let go just before it starts.
    pub(crate) reuse_port: bool,
}

/// The placeholders `args` may hold.
const PLACEHOLDERS: &[&str] = &["{config}", "{dir}", "{threads}", "{listen}"];

impl UserProgram {
    /// `args` with the placeholders filled in.
    pub(crate) fn expand(
        &self,
        config: &Path,
        dir: &Path,
        threads: usize,
        listen: &str,
    ) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                a.replace("{config}", &config.display().to_string())
                    .replace("{dir}", &dir.display().to_string())
                    .replace("{threads}", &threads.to_string())
                    .replace("{listen}", listen)
            })
            .collect()
    }
}

/// Loads `path` as a core. Its strings live as long as the process (a
/// core's description is `'static`, as the registry's are); a run loads
/// each file once.
pub fn load(path: &Path) -> Result<External, UserError> {
    let invalid = |message: String| UserError::Invalid {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| UserError::Read {
        path: path.to_owned(),
        source,
    })?;
    let spec: Spec = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let tchar = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if spec.name.is_empty() || !spec.name.chars().all(tchar) {
        return Err(invalid(format!(
            "name {:?}: letters, digits, '-', '_' and '.' only (it names files and results)",
            spec.name
        )));
    }
    if spec.program.is_empty() {
        return Err(invalid("program is empty".into()));
    }
    if !spec.args.iter().any(|a| a.contains("{config}")) {
        return Err(invalid(format!(
            "args never pass the rendered configuration: put \"{{config}}\" where the program takes its file (placeholders: {})",
            PLACEHOLDERS.join(", ")
        )));
    }
    if spec.config_file.is_empty() || spec.config_file.contains('/') {
        return Err(invalid(format!(
            "config_file {:?} must be a plain file name",
            spec.config_file
        )));
    }
    let stop_signal = Signal::from_str(&spec.stop_signal).map_err(|_| {
        invalid(format!(
            "stop_signal {:?} is no signal name (e.g. SIGTERM)",
            spec.stop_signal
        ))
    })?;
    let policies = spec
        .policies
        .map(|names| {
            names
                .iter()
                .map(|name| {
                    Policy::ALL
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, p)| *p)
                        .ok_or_else(|| {
                            let known: Vec<&str> = Policy::ALL.iter().map(|(n, _)| *n).collect();
                            invalid(format!(
                                "policy {name:?} unknown; known: {}",
                                known.join(", ")
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let template_path = path.parent().unwrap_or(Path::new(".")).join(&spec.template);
    let template = std::fs::read_to_string(&template_path).map_err(|source| UserError::Read {
        path: template_path.clone(),
        source,
    })?;
    // A template that does not parse is an error now, not at the first cell.
    minijinja::Environment::new()
        .template_from_str(&template)
        .map_err(|e| invalid(format!("template {}: {e}", template_path.display())))?;

    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let name = leak(spec.name);
    let program = leak(spec.program.clone());
    let install = leak(spec.install.unwrap_or_else(|| format!("install {program}")));
    let info: &'static CoreInfo = Box::leak(Box::new(CoreInfo {
        name,
        runtime: leak(
            spec.runtime
                .unwrap_or_else(|| format!("{program} (brought by the user)")),
        ),
        service: leak(
            spec.service
                .unwrap_or_else(|| format!("reference proxy from {}", path.display())),
        ),
        grid: None,
        requirements: Box::leak(Box::new([Requirement::Program {
            name: program,
            install,
        }])),
        scenarios: &[Scenario::HttpForward],
    }));
    Ok(External {
        info,
        launch: Launch::User(Box::new(UserProgram {
            program: spec.program,
            args: spec.args,
            template,
            config_file: spec.config_file,
            stop_signal,
            policies,
            reuse_port: spec.reuse_port,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_core::ProxyConfig;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/examples/envoy/envoy.toml")
    }

    #[test]
    fn the_envoy_example_loads_and_renders_the_cell() {
        let core = load(&example()).unwrap();
        assert_eq!(core.info.name, "envoy");
        assert!(core.info.is_reference());
        let Launch::User(program) = &core.launch else {
            panic!("a user program");
        };
        assert_eq!(program.stop_signal, Signal::SIGTERM);
        let args = program.expand(
            Path::new("/d/envoy.yaml"),
            Path::new("/d"),
            2,
            "127.0.0.1:1",
        );
        assert_eq!(&args[..4], ["-c", "/d/envoy.yaml", "--concurrency", "2"]);
        let config = ProxyConfig::parse(
            r#"
            [[pool]]
            name = "web"
            policy = "p2c"
            upstreams = ["127.0.0.1:9001", "127.0.0.1:9002"]
            [[route]]
            host = "Example.test"
            path_prefix = "/"
            pool = "web"
            [auth]
            header = "x-token"
            token = "s3cret"
            [headers]
            request_add = [["x-via", "pb"]]
            request_remove = ["x-drop"]
            [timeouts]
            response_ms = 1500
            "#,
            "test",
        )
        .unwrap();
        let text = crate::render::render(
            core.launch.template(),
            "envoy",
            &config,
            "127.0.0.1:8080".parse().unwrap(),
            2,
            Path::new("/d"),
        )
        .unwrap();
        for expected in [
            "socket_address: { address: \"127.0.0.1\", port_value: 8080 }",
            "lb_policy: LEAST_REQUEST",
            "port_value: 9001",
            "port_value: 9002",
            "domains: [\"example.test\", \"example.test:*\"]",
            "direct_response: { status: 401 }",
            "exact: \"s3cret\"",
            "request_headers_to_remove: [\"x-drop\"]",
            "key: \"x-via\", value: \"pb\"",
            "timeout: 1.5s",
        ] {
            assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
        }
    }

    #[test]
    fn a_bad_file_is_refused_naming_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.j2"), "listen {{ listen }}\n").unwrap();
        let good = "name = \"mine\"\nprogram = \"mine\"\nargs = [\"-c\", \"{config}\"]\n\
                    template = \"t.j2\"\nconfig_file = \"mine.conf\"\n";
        let write = |text: &str| {
            let path = dir.path().join("p.toml");
            std::fs::write(&path, text).unwrap();
            path
        };
        assert!(load(&write(good)).is_ok());
        for (text, says) in [
            (
                format!("{good}colour = \"red\"\n"),
                "unknown field `colour`",
            ),
            (good.replace("{config}", "conf"), "\"{config}\""),
            (
                good.replace("\"mine\"\nprogram", "\"my proxy\"\nprogram"),
                "letters, digits",
            ),
            (
                format!("{good}policies = [\"fastest\"]\n"),
                "policy \"fastest\" unknown",
            ),
            (
                format!("{good}stop_signal = \"SIGNOPE\"\n"),
                "no signal name",
            ),
            (good.replace("mine.conf", "../mine.conf"), "plain file name"),
            (good.replace("t.j2", "missing.j2"), "missing.j2"),
        ] {
            let err = load(&write(&text)).unwrap_err().to_string();
            assert!(err.contains(says), "{err:?} should say {says:?}");
            assert!(
                err.contains("p.toml") || err.contains("missing.j2"),
                "{err}"
            );
        }
        std::fs::write(dir.path().join("t.j2"), "{% for x in %}").unwrap();
        let err = load(&write(good)).unwrap_err().to_string();
        assert!(err.contains("template"), "{err}");
    }
}
