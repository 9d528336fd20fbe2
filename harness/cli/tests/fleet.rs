//! Driver fleets through the whole binary: three stand-in hosts (network
//! namespaces, each with its own `sshd`) drive one core over SSH at a
//! shared instant, and the run's trial is exactly the sum of theirs; a
//! host that cannot be reached fails its cell and is named. Needs root
//! and OpenSSH (scripts/install-references.sh installs it); skipped with
//! the reason otherwise.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pb_netpath::Hosts;

mod common;

const SSHD: &str = "/usr/sbin/sshd";

/// An echo load and an HTTP GET through tokio-tower (and straight to the
/// origin, `direct`), six connections at 600 req/s in all (two and 200
/// req/s per host), two trials.
const SCENARIO: &str = r#"
name = "fleet-test"
[run]
trials = 2
warmup_s = 0.5
duration_s = 1.5
[[cell]]
scenario = "echo"
cores = ["tokio-tower"]
message_bytes = 100
connections = 6
rate = 600.0
[[cell]]
scenario = "http-forward"
cores = ["tokio-tower", "direct"]
method = "GET"
body_bytes = 100
connections = 6
rate = 600.0
"#;

/// An `sshd` in one host's namespace, stopped on drop.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if let Some(why) = pb_netpath::unavailable() {
        return Some(why);
    }
    for program in [SSHD, "ssh", "ssh-keygen"] {
        let found = Command::new(program)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!(
                "{program} is not installed (scripts/install-references.sh installs OpenSSH)"
            ));
        }
    }
    None
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed");
}

/// Keys, an sshd configuration per host and a client configuration
/// that logs in as root with the key and trusts any host key (the hosts
/// are made fresh for the test).
fn ssh_setup(dir: &Path) -> PathBuf {
    keygen(&dir.join("client_key"));
    keygen(&dir.join("host_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    // sshd's privilege-separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
             StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            key = dir.join("client_key").display()
        ),
    )
    .unwrap();
    config
}

fn start_sshd(hosts: &Hosts, i: usize, dir: &Path) -> Sshd {
    let config = dir.join(format!("sshd_config_{i}"));
    std::fs::write(
        &config,
        format!(
            "ListenAddress {addr}\nPort 22\nHostKey {dir}/host_key\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nPidFile {dir}/sshd_{i}.pid\nLogLevel FATAL\n",
            addr = hosts.addr(i),
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", hosts.name(i), SSHD, "-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sshd = Sshd(child);
    let addr = SocketAddr::new(hosts.addr(i).into(), 22);
    let due = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < due, "sshd on host {i} did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    sshd
}

fn decoded_len(histogram: &serde_json::Value) -> u64 {
    pb_results::hist::decode(histogram.as_str().unwrap())
        .unwrap()
        .len()
}

#[test]
fn three_ssh_driver_hosts_add_up_exactly_late_ones_mark_the_trial_an_unreachable_one_fails_the_cell()
 {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ssh_config = ssh_setup(dir.path());
    // Four hosts; the fourth runs no sshd (the unreachable one).
    let hosts = Hosts::create(4).unwrap();
    let sshds: Vec<Sshd> = (0..3).map(|i| start_sshd(&hosts, i, dir.path())).collect();
    let scenario = dir.path().join("fleet.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let names: Vec<String> = (0..4).map(|i| hosts.addr(i).to_string()).collect();
    let core_address = hosts.gateway(0).to_string();
    let fleet_args = |drivers: &str| {
        vec![
            "--drivers".to_string(),
            drivers.to_string(),
            "--core-address".into(),
            core_address.clone(),
            "--ssh-config".into(),
            ssh_config.display().to_string(),
            "--driver-exe".into(),
            common::EXE.into(),
        ]
    };

    let three = fleet_args(&names[..3].join(","));
    let three: Vec<&str> = three.iter().map(String::as_str).collect();
    let out = common::run_scenario(dir.path(), &scenario, &three);
    let stderr = common::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("driver fleet, clock offsets"), "{stderr}");

    let results = dir.path().join("results");
    let json = common::checked_results(&results.join("latest.json"));
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    for cell in cells {
        assert_eq!(cell["status"], "ok", "{cell}");
        let trials = cell["trials"].as_array().unwrap();
        assert_eq!(trials.len(), 2, "{cell}");
        for trial in trials {
            let fleet = &trial["fleet"];
            let parts = fleet["hosts"].as_array().unwrap();
            assert_eq!(parts.len(), 3, "{fleet}");
            let sum = |key: &str| parts.iter().map(|h| h[key].as_u64().unwrap()).sum::<u64>();
            // Counts exact: the trial is the sum of the hosts'.
            let requests = trial["requests"].as_u64().unwrap();
            assert!(requests > 0, "{trial}");
            assert_eq!(sum("requests"), requests, "{fleet}");
            assert_eq!(sum("errors"), trial["errors"].as_u64().unwrap(), "{fleet}");
            // Histogram totals exact: each host's own file holds its
            // histogram, and the trial's is their sum, sample for sample.
            let (mut total, mut connections, mut rate) = (0, 0, 0.0);
            for part in parts {
                assert_eq!(part["behind"], serde_json::Value::Null, "{part}");
                assert!(
                    part["clock_offset_ms"].as_f64().unwrap().abs() < 50.0,
                    "{part}"
                );
                let file = results.join(part["file"].as_str().unwrap());
                let own = common::checked_results(&file);
                // What the host itself ran: its share of the load.
                connections += own["cells"][0]["params"]["connections"].as_u64().unwrap();
                rate += own["cells"][0]["params"]["rate"].as_f64().unwrap();
                let own = &own["cells"][0]["trials"][0];
                assert_eq!(own["requests"], part["requests"], "{}", file.display());
                assert!(own["start_late_ms"].as_f64().is_some(), "{own}");
                total += decoded_len(&own["histogram"]);
            }
            // Every connection and the whole rate, shared out.
            assert_eq!(connections, 6, "{fleet}");
            assert!((rate - 600.0).abs() < 1e-6, "{fleet}");
            assert_eq!(decoded_len(&trial["histogram"]), total, "{trial}");
            eprintln!(
                "{} trial {}: {requests} requests = {}; histogram {total} samples; offsets ms {}; began late ms {}",
                cell["id"],
                trial["index"],
                parts
                    .iter()
                    .map(|h| h["requests"].to_string())
                    .collect::<Vec<_>>()
                    .join(" + "),
                parts
                    .iter()
                    .map(|h| format!(
                        "{:+.3}±{:.3}",
                        h["clock_offset_ms"].as_f64().unwrap(),
                        h["clock_error_ms"].as_f64().unwrap()
                    ))
                    .collect::<Vec<_>>()
                    .join(" "),
                parts
                    .iter()
                    .map(|h| format!("{:.2}", h["start_late_ms"].as_f64().unwrap()))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            // The core was accounted here, over the hosts' shared window.
            assert!(trial["cpu_us_per_req"].as_f64().unwrap() > 0.0, "{trial}");
        }
    }

    // A fourth host with no sshd: its cell fails and names it, at once.
    let four = fleet_args(&names.join(","));
    let four: Vec<&str> = four.iter().map(String::as_str).collect();
    let out = common::run_scenario(dir.path(), &scenario, &four);
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let unreachable = format!("driver host {}", names[3]);
    assert!(stderr.contains(&unreachable), "{stderr}");
    let json = common::checked_results(&results.join("latest.json"));
    for cell in json["cells"].as_array().unwrap() {
        assert_eq!(cell["status"], "failed", "{cell}");
        let reason = cell["reason"].as_str().unwrap();
        assert!(reason.contains(&unreachable), "{reason}");
    }

    // Hosts that begin about 3 s after the shared instant (a wrapper that
    // sleeps 4 s before `load` runs, past the lead of about 1 s): the trial
    // counts every request they made, is marked driver-bound with a host
    // named, and reports no core CPU per request (the core was sampled
    // over a window their load did not fill), never passing for the load
    // asked for.
    let late_exe = dir.path().join("late-proxybench");
    std::fs::write(
        &late_exe,
        format!(
            "#!/bin/sh\nif [ \"$1\" = load ]; then sleep 4; fi\nexec {} \"$@\"\n",
            common::EXE
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &late_exe,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let one_cell = dir.path().join("one.toml");
    std::fs::write(
        &one_cell,
        SCENARIO
            .split("[[cell]]")
            .take(2)
            .collect::<Vec<_>>()
            .join("[[cell]]"),
    )
    .unwrap();
    let mut late = fleet_args(&names[..3].join(","));
    *late.last_mut().unwrap() = late_exe.display().to_string();
    let late: Vec<&str> = late.iter().map(String::as_str).collect();
    let out = common::run_scenario(
        dir.path(),
        &one_cell,
        &[&late[..], &["--trials", "1"]].concat(),
    );
    let stderr = common::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json = common::checked_results(&results.join("latest.json"));
    let cell = &json["cells"][0];
    assert_eq!(cell["status"], "ok", "{cell}");
    assert_eq!(cell["summary"]["driver_bound"], true, "{cell}");
    let reason = cell["summary"]["driver_bound_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("driver host ") && reason.contains("fell behind: began"),
        "{reason}"
    );
    let trial = &cell["trials"][0];
    for part in trial["fleet"]["hosts"].as_array().unwrap() {
        assert!(part["start_late_ms"].as_f64().unwrap() > 100.0, "{part}");
        assert!(part["behind"].is_string(), "{part}");
    }
    assert_eq!(trial["requests"].as_u64().unwrap(), 900, "{trial}");
    assert!(trial["core_cpu_us"].as_f64().unwrap() > 0.0, "{trial}");
    assert_eq!(trial["cpu_us_per_req"], serde_json::Value::Null, "{trial}");
    assert!(reason.contains("no CPU per request"), "{reason}");

    drop(sshds);
    let prefix: String = hosts.name(0).trim_end_matches("host0").into();
    drop(hosts);
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
