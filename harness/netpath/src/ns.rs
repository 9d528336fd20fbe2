//! One named network namespace (`ip netns`: a bind mount under
//! `/run/netns`, so processes and threads can be put in it by name), and
//! a thread's stay inside one.
//!
//! Names are `pb-<pid>-<n>-<role>`: the pid says whose they are, so
//! [`sweep_stale`] can remove those of processes that no longer exist
//! (killed before their `Drop` ran) without touching a live run's.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sched::{CloneFlags, setns};

use crate::{NetError, run};

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";

/// A named network namespace, removed on drop.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    path: PathBuf,
}

impl Namespace {
    /// `ip netns add NAME`.
    pub fn create(name: &str) -> Result<Namespace, NetError> {
        run("ip", &["netns", "add", name])?;
        Ok(Namespace {
            name: name.to_string(),
            path: Path::new(NETNS_DIR).join(name),
        })
    }

    /// Its name, for `ip -n` and `tc -n`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Puts the calling thread in this namespace until the guard drops.
    /// Only this thread moves: the rest of the process stays where it is.
    pub fn enter(&self) -> Result<Entered, NetError> {
        let home = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetError::io("opening this thread's network namespace", e))?;
        let target = File::open(&self.path)
            .map_err(|e| NetError::io(format!("opening {}", self.path.display()), e))?;
        setns(&target, CloneFlags::CLONE_NEWNET).map_err(|e| {
            NetError::io(
                format!("entering network namespace {}", self.name),
                e.into(),
            )
        })?;
        Ok(Entered {
            home,
            name: self.name.clone(),
            _this_thread: PhantomData,
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!(
                "warning: network namespace {} was not removed: {e}",
                self.name
            );
        }
    }
}

/// The calling thread inside a namespace; back home on drop. Not `Send`:
/// the namespace belongs to the thread that entered it.
#[derive(Debug)]
pub struct Entered {
    home: File,
    name: String,
    _this_thread: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        // A thread left in the wrong namespace would open its next sockets
        // on the wrong network and measure the wrong thing without a word:
        // that is worth stopping for.
        if let Err(e) = setns(&self.home, CloneFlags::CLONE_NEWNET) {
            panic!("cannot leave network namespace {}: {e}", self.name);
        }
    }
}

/// A name prefix no other topology of this process or any other live one
/// uses.
pub(crate) fn fresh_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "pb-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the namespaces of processes that are gone (`pb-<pid>-…` with
/// no `/proc/<pid>`). Errors are ignored: another process may be sweeping
/// at the same time.
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = owner(&name)
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = run("ip", &["netns", "del", &name]);
        }
    }
}

/// The pid in a `pb-<pid>-…` name.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix("pb-")?.split('-').next()?.parse().ok()
}

/// The names of namespaces made by process `pid` that still exist.
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| owner(name) == Some(pid))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_our_form_have_an_owner() {
        assert_eq!(owner("pb-1234-0-driver"), Some(1234));
        assert_eq!(owner("pb-1234-7-probe"), Some(1234));
        assert_eq!(owner("pbx-1234-0"), None);
        assert_eq!(owner("pb-abc-0"), None);
        assert_eq!(owner("docker-ns"), None);
        let a = fresh_prefix();
        assert_ne!(a, fresh_prefix());
        assert_eq!(owner(&a), Some(std::process::id()));
    }
}
