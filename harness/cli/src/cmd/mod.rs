//! One module per subcommand; each parses nothing itself beyond its clap
//! `Args` and hands the work to a library.

pub(crate) mod claims;
pub(crate) mod clock;
pub(crate) mod conform;
pub(crate) mod cores;
pub(crate) mod differential;
pub(crate) mod docs;
pub(crate) mod export;
pub(crate) mod filter;
pub(crate) mod gate;
pub(crate) mod gate_run;
pub(crate) mod load;
pub(crate) mod merge;
pub(crate) mod origin;
pub(crate) mod proxy;
pub(crate) mod report;
pub(crate) mod run;

use std::path::PathBuf;

use anyhow::Context as _;
use pb_core::ProxyCore;
use pb_core::probe::{FixedProbe, Probe, SystemProbe};

/// `--external FILE`, repeatable: a proxy the user brings (command,
/// configuration template, policies it maps), run as a reference core.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Externals {
    /// A proxy of your own to run beside the cores, described in a TOML
    /// file (docs/external.md); repeatable. Its name then works wherever
    /// a core name does.
    #[arg(long = "external", value_name = "FILE")]
    files: Vec<PathBuf>,
}

impl Externals {
    /// The registry's cores, then the ones the files describe. A file's
    /// core lives as long as the process, as the registry's do.
    pub(crate) fn cores(&self) -> anyhow::Result<Vec<&'static dyn ProxyCore>> {
        let mut cores: Vec<&'static dyn ProxyCore> = pb_cores::CORES.to_vec();
        for path in &self.files {
            let core = pb_external::user::load(path)?;
            let name = core.info().name;
            anyhow::ensure!(
                !cores
                    .iter()
                    .any(|c| c.info().name == name || c.info().grid_name() == name),
                "{}: the core name {name:?} is taken; give the proxy another name",
                path.display()
            );
            cores.push(Box::leak(Box::new(core)));
        }
        Ok(cores)
    }

    /// What makes a child `proxybench proxy` know the same cores: the
    /// files, as absolute paths.
    pub(crate) fn proxy_args(&self) -> anyhow::Result<Vec<String>> {
        let mut args = Vec::new();
        for path in &self.files {
            let path = std::fs::canonicalize(path)
                .with_context(|| format!("locating {}", path.display()))?;
            args.extend(["--external".to_owned(), path.display().to_string()]);
        }
        Ok(args)
    }
}

/// Every core the runner may start (the registry's and the user's), as
/// the runner knows them: by name, with their availability here.
pub(crate) fn core_entries(
    externals: &Externals,
    probe: &dyn Probe,
) -> anyhow::Result<Vec<pb_runner::CoreEntry>> {
    Ok(externals
        .cores()?
        .iter()
        .map(|core| {
            let info = core.info();
            pb_runner::CoreEntry {
                name: info.name.to_owned(),
                runtime: info.runtime.to_owned(),
                service: info.service.to_owned(),
                availability: info.availability(probe),
                grid: info
                    .grid
                    .map(|(runtime, composition)| pb_results::GridCell {
                        runtime: runtime.to_owned(),
                        composition: composition.to_owned(),
                    }),
                reference: info.is_reference(),
                scenarios: info.scenarios.iter().map(|s| s.name().to_owned()).collect(),
            }
        })
        .collect())
}

/// Environment variable that makes the io_uring probe fail with the given
/// reason: rehearses an io_uring-less machine (and tests that path).
pub(crate) const FAKE_NO_IO_URING: &str = "PROXYBENCH_FAKE_NO_IO_URING";

/// The core called `name` (or by its grid name) among `cores`.
pub(crate) fn find(
    cores: &[&'static dyn ProxyCore],
    name: &str,
) -> anyhow::Result<&'static dyn ProxyCore> {
    cores
        .iter()
        .copied()
        .find(|c| c.info().name == name || c.info().grid_name() == name)
        .with_context(|| {
            let known: Vec<&str> = cores.iter().map(|c| c.info().name).collect();
            format!("unknown core {name:?}; known: {}", known.join(", "))
        })
}

/// `--cpus` when given, else every CPU this process may run on.
pub(crate) fn allowed_cpus(given: Option<pb_sys::CpuSet>) -> anyhow::Result<pb_sys::CpuSet> {
    match given {
        Some(set) => Ok(set),
        None => pb_sys::CpuSet::allowed().context("reading this process's CPU affinity"),
    }
}

/// The probe every command uses.
pub(crate) fn probe() -> Box<dyn Probe> {
    match std::env::var(FAKE_NO_IO_URING) {
        Ok(reason) if !reason.is_empty() => Box::new(FixedProbe {
            io_uring: Err(format!("io_uring disabled by {FAKE_NO_IO_URING}: {reason}")),
            memlock_limit: SystemProbe.memlock_limit(),
        }),
        _ => Box::new(SystemProbe),
    }
}

/// `proxybench --version`: what [`build_info`] records, so another run
/// can read it back from this binary (`run --baseline-exe`).
pub(crate) const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PB_GIT_REVISION"),
    ", ",
    env!("PB_PROFILE"),
    ", ",
    env!("PB_RUSTC_VERSION"),
    ")"
);

/// The build facts of another proxybench executable, from its
/// `--version` ([`LONG_VERSION`]; a build older than that line gives
/// its version alone, and the rest is recorded as unknown).
pub(crate) fn build_info_of(exe: &std::path::Path) -> anyhow::Result<pb_runner::env::BuildInfo> {
    use anyhow::Context as _;
    let output = std::process::Command::new(exe)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", exe.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.trim();
    let Some(rest) = line
        .strip_prefix("proxybench ")
        .filter(|_| output.status.success())
    else {
        anyhow::bail!(
            "{} is not a proxybench executable: `--version` said {line:?} ({})",
            exe.display(),
            output.status
        );
    };
    Ok(parse_long_version(rest))
}

fn parse_long_version(rest: &str) -> pb_runner::env::BuildInfo {
    let unknown = || "unknown (not in its --version)".to_owned();
    let (version, facts) = match rest.split_once(" (") {
        Some((version, facts)) => (version, facts.strip_suffix(')').unwrap_or(facts)),
        None => (rest, ""),
    };
    let mut facts = facts.splitn(3, ", ").map(str::to_owned);
    pb_runner::env::BuildInfo {
        tool_version: version.to_owned(),
        git_revision: facts
            .next()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(unknown),
        profile: facts.next().unwrap_or_else(unknown),
        rustc: facts.next().unwrap_or_else(unknown),
    }
}

/// What this binary was built from, recorded in every results file.
pub(crate) fn build_info() -> pb_runner::env::BuildInfo {
    pb_runner::env::BuildInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        rustc: env!("PB_RUSTC_VERSION").to_owned(),
        git_revision: env!("PB_GIT_REVISION").to_owned(),
        profile: env!("PB_PROFILE").to_owned(),
    }
}

pub(crate) use pb_runner::env::{run_id, timestamp};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_reads_back_as_the_build_info() {
        let info = parse_long_version(LONG_VERSION);
        let own = build_info();
        assert_eq!(info.tool_version, own.tool_version);
        assert_eq!(info.git_revision, own.git_revision);
        assert_eq!(info.profile, own.profile);
        assert_eq!(info.rustc, own.rustc);
    }

    #[test]
    fn an_older_version_line_gives_what_it_has() {
        let info = parse_long_version("0.1.0");
        assert_eq!(info.tool_version, "0.1.0");
        assert!(info.git_revision.starts_with("unknown"));
    }
}
