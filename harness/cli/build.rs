//! Records the compiler and the source revision, so every results file says
//! exactly what was measured.

use std::process::Command;

fn main() {
    let output = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    let git = output("git", &["describe", "--always", "--dirty", "--abbrev=12"])
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PB_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=PB_GIT_REVISION={git}");
    println!(
        "cargo:rustc-env=PB_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
    // Re-run when HEAD moves or the index changes (a commit or a checkout).
    for path in ["../../.git/HEAD", "../../.git/index"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
