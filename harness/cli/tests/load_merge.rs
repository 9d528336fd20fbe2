//! `proxybench load` as separate driver processes against one core, then
//! `proxybench merge`: the merged file is schema-valid and adds up.

use std::path::Path;
use std::process::Command;

use pb_process::{CoreCommand, CoreProcess};
use pb_sys::CpuSet;

mod common;

use common::{EXE, schema_errors};

fn start_core() -> CoreProcess {
    let cpus = CpuSet::allowed().unwrap();
    CoreProcess::start(&CoreCommand {
        exe: Path::new(EXE),
        core: "tokio-tower",
        scenario: "echo",
        threads: 1,
        cpus: &cpus,
        spin_iters: 0,
        config: None,
        program_config_out: None,
        extra_args: &[],
        listen: pb_process::LOOPBACK,
    })
    .unwrap()
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn two_driver_processes_merge_into_one_consistent_file() {
    let core = start_core();
    let dir = tempfile::tempdir().unwrap();
    let target = core.addr().to_string();
    let pid = core.pid().to_string();
    // Two drivers at once, each half of the rate, as two hosts would.
    let drivers: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            let out = dir.path().join(format!("{name}.json"));
            let child = Command::new(EXE)
                .args([
                    "load",
                    "--target",
                    &target,
                    "--rate",
                    "500",
                    "--connections",
                    "5",
                ])
                .args(["--duration", "1", "--warmup", "0.2", "--interval", "0.5"])
                .args(["--core-pid", &pid, "--core-name", "tokio-tower"])
                .arg("--out")
                .arg(&out)
                .output()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut inputs = Vec::new();
    for (out, child) in &drivers {
        assert_eq!(
            child.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&child.stderr)
        );
        let json = read(out);
        assert_eq!(schema_errors(&json), Vec::<String>::new());
        assert_eq!(json["cells"][0]["params"]["mode"], "open");
        assert_eq!(
            json["cells"][0]["trials"][0]["intervals"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        inputs.push(json);
    }

    let merged_path = dir.path().join("merged.json");
    let merged = Command::new(EXE)
        .arg("merge")
        .arg(&drivers[0].0)
        .arg(&drivers[1].0)
        .arg("--out")
        .arg(&merged_path)
        .output()
        .unwrap();
    assert_eq!(
        merged.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let json = read(&merged_path);
    assert_eq!(schema_errors(&json), Vec::<String>::new());
    assert_eq!(json["merged_from"].as_array().unwrap().len(), 2);

    let requests = |j: &serde_json::Value| j["cells"][0]["trials"][0]["requests"].as_u64().unwrap();
    let total = requests(&inputs[0]) + requests(&inputs[1]);
    assert_eq!(requests(&json), total);
    let histogram = |j: &serde_json::Value| {
        pb_results::hist::decode(j["cells"][0]["trials"][0]["histogram"].as_str().unwrap()).unwrap()
    };
    let mut whole = histogram(&inputs[0]);
    whole.add(histogram(&inputs[1])).unwrap();
    assert_eq!(histogram(&json), whole);
    assert_eq!(json["cells"][0]["params"]["rate"], 1000.0);
    // The core was sampled by PID: its CPU per request is known.
    assert!(
        json["cells"][0]["summary"]["cpu_us_per_req"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    drop(core);
}

#[test]
fn a_rate_search_is_stored_with_its_curve() {
    let core = start_core();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search.json");
    let run = Command::new(EXE)
        .args([
            "load",
            "--target",
            &core.addr().to_string(),
            "--connections",
            "4",
        ])
        .args([
            "--rate-search",
            "p99<=1s",
            "--search-start",
            "200",
            "--search-max",
            "800",
        ])
        .args(["--duration", "0.3", "--warmup", "0.1", "--hdr"])
        .arg(dir.path().join("hdr"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // A loose bound on an idle echo: every step passes up to the maximum.
    assert!(
        stdout.contains("highest rate meeting p99<=1000000us: 800 req/s"),
        "{stdout}"
    );
    let json = read(&out);
    assert_eq!(schema_errors(&json), Vec::<String>::new());
    let search = &json["cells"][0]["rate_search"];
    assert_eq!(search["found_rate"], 800.0);
    let offered: Vec<f64> = search["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offered"].as_f64().unwrap())
        .collect();
    assert_eq!(offered, [200.0, 400.0, 800.0]);
}

#[test]
fn open_loop_run_writes_hdrhistogram_files() {
    let core = start_core();
    let dir = tempfile::tempdir().unwrap();
    let hdr = dir.path().join("hdr");
    let run = Command::new(EXE)
        .args([
            "load",
            "--target",
            &core.addr().to_string(),
            "--rate",
            "400",
        ])
        .args([
            "--connections",
            "4",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
            "--interval",
            "0.25",
        ])
        .arg("--hdr")
        .arg(&hdr)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(&hdr)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let find = |suffix: &str| {
        let name = names
            .iter()
            .find(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} in {names:?}"));
        std::fs::read_to_string(hdr.join(name)).unwrap()
    };
    let hgrm = find("external.hgrm");
    assert!(hgrm.trim_start().starts_with("Value"), "{hgrm}");
    assert!(hgrm.contains("#[Max     ="));
    assert!(find(".uncorrected.hgrm").contains("Total count"));
    let hlog = find(".hlog");
    // Two interval lines (0.25 s each over 0.5 s), tagged, with HdrHistogram payloads.
    let lines: Vec<&str> = hlog
        .lines()
        .filter(|l| l.starts_with("Tag=trial0,"))
        .collect();
    assert_eq!(lines.len(), 2, "{hlog}");
    assert!(lines.iter().all(|l| l.contains(",HISTF")), "{hlog}");
}
