//! Network paths through the whole binary: a cell that names a network
//! runs its driver, core and origins in namespaces of their own across
//! links with the network's delay, records what carried the links, and
//! leaves no namespace or link behind; without root it runs on loopback
//! and says why, in its output and in its results.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

mod common;

/// One echo load on tokio-tower, on loopback and across `slow` (the client
/// link 1 ms each way), at a fixed rate.
const SCENARIO: &str = r#"
name = "network-test"
[network.slow]
client = { delay_ms = 1.0 }
[run]
trials = 1
warmup_s = 0.3
duration_s = 1.0
[[cell]]
scenario = "echo"
cores = ["tokio-tower"]
message_bytes = 100
connections = 10
rate = 500.0
network = ["loopback", "slow"]
"#;

/// The namespaces of `ip netns`, sorted.
fn namespaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The root namespace's interfaces named like a topology's links.
fn our_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    common::text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .filter(|name| name.starts_with("pbclient") || name.starts_with("pborigin"))
        .map(String::from)
        .collect()
}

fn cells(dir: &Path) -> Vec<serde_json::Value> {
    let json = common::checked_results(&dir.join("results/latest.json"));
    json["cells"].as_array().unwrap().clone()
}

fn p50_us(cell: &serde_json::Value) -> f64 {
    cell["summary"]["latency_us"]["p50"].as_f64().unwrap()
}

#[test]
fn a_delayed_client_link_raises_p50_by_its_round_trip_and_leaves_nothing_behind() {
    if let Some(why) = pb_netpath::unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("network.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let before = (namespaces(), our_links());
    let out = common::run_scenario(dir.path(), &scenario, &[]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));

    let cells = cells(dir.path());
    let [loopback, slow] = [0, 1].map(|i| cells[i].clone());
    assert_eq!(loopback["id"], "echo/100B/c10x1@500rps/tokio-tower");
    assert_eq!(slow["id"], "echo/100B/c10x1@500rps/net-slow/tokio-tower");
    for cell in [&loopback, &slow] {
        assert_eq!(cell["status"], "ok", "{cell}");
        assert_eq!(cell["summary"]["errors"], 0, "{cell}");
    }
    assert!(loopback.get("network").is_none(), "{loopback}");
    assert_eq!(slow["params"]["network"]["name"], "slow");
    assert_eq!(
        slow["params"]["network"]["links"]["client"]["delay_ms"],
        1.0
    );
    let run = &slow["network"];
    assert_eq!(run["namespaces"], true, "{run}");
    let links = run["links"].as_array().unwrap();
    assert_eq!(links[0]["link"], "client");
    assert!(
        ["netem", "userspace"].contains(&links[0]["emulation"].as_str().unwrap()),
        "{run}"
    );
    assert_eq!(links[1]["emulation"], "plain", "{run}");

    // Every request crosses the client link twice, 1 ms each way.
    let (fast, delayed) = (p50_us(&loopback), p50_us(&slow));
    assert!(
        delayed >= fast + 1000.0,
        "p50 {fast:.0} µs on loopback, {delayed:.0} µs across 1 ms each way"
    );

    assert_eq!(
        (namespaces(), our_links()),
        before,
        "a namespace or link was left behind"
    );
}

#[test]
fn without_root_a_network_cell_runs_on_loopback_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let scenario = dir.path().join("network.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "--skip-conform",
        "--out",
        "results",
        "--reports",
        "reports",
    ];
    // As root, the run drops to `nobody` (setpriv, util-linux) for this,
    // from a copy of the binary it can reach (the build's own directory
    // may sit under a home only root can enter).
    let out = if nix::unistd::geteuid().is_root() {
        let exe = dir.path().join("proxybench");
        std::fs::copy(common::EXE, &exe).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("setpriv runs")
    } else {
        common::proxybench(&args, dir.path())
    };
    let stderr = common::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "ran on loopback, not across slow: making network namespaces and links needs root"
        ),
        "{stderr}"
    );
    let cells = cells(dir.path());
    let slow = &cells[1];
    assert_eq!(slow["status"], "ok", "{slow}");
    assert_eq!(slow["network"]["namespaces"], false, "{slow}");
    assert!(
        slow["network"]["note"]
            .as_str()
            .unwrap()
            .contains("needs root"),
        "{slow}"
    );
}
