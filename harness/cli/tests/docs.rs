//! Completions and man pages come from the command line itself: every
//! command and option the binary accepts appears in them, and the bash
//! script is valid bash.

mod common;

use common::{proxybench, text};

#[test]
fn bash_completion_is_valid_and_knows_every_command_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(&["completions", "bash"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    for word in [
        "run",
        "conform",
        "gate",
        "export",
        "claims",
        "--only",
        "--counters",
        "--format",
        "--skip-conform",
    ] {
        assert!(script.contains(word), "completion lacks {word}");
    }
    std::fs::write(dir.path().join("proxybench.bash"), &script).unwrap();
    let check = std::process::Command::new("bash")
        .args(["-n", "proxybench.bash"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    // An unknown shell is a usage error.
    assert_eq!(
        proxybench(&["completions", "tcsh"], dir.path())
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = proxybench(&["man"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH proxybench"),
        "{page}"
    );
    let out = proxybench(&["man", "--out", "man"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for command in ["run", "gate", "export", "conform", "report", "claims"] {
        let path = dir.path().join(format!("man/proxybench-{command}.1"));
        let page =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(page.contains(".TH"), "{}", path.display());
    }
    let gate = std::fs::read_to_string(dir.path().join("man/proxybench-gate.1")).unwrap();
    assert!(gate.contains("counters"));
}

/// `proxybench cores | head`: a reader that has gone before the output is
/// written ends the command quietly, with its own exit code, instead of a
/// panic ("failed printing to stdout") or an error.
#[test]
fn a_closed_pipe_on_stdout_ends_printing_commands_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["cores"][..],
        &["cores", "--json"],
        &["man"],
        &["completions", "bash"],
    ] {
        let (read, write) = nix::unistd::pipe().unwrap();
        // Every write will meet a pipe with no reader: EPIPE.
        drop(read);
        let out = std::process::Command::new(common::EXE)
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::from(write))
            .output()
            .unwrap();
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (Some(0), String::new()),
            "proxybench {args:?}"
        );
    }
}
