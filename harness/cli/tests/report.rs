//! `proxybench report` and the report `run` leaves behind, as a user runs
//! them: the real binary on the committed results fixture, exit codes and
//! the files written.

use std::path::{Path, PathBuf};

mod common;

use common::{proxybench, text};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/fixtures/echo-4-cores.json")
}

fn pngs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    names
}

#[test]
fn report_writes_a_page_and_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture();
    let out = proxybench(
        &["report", "--in", input.to_str().unwrap(), "--out", "rep"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = dir.path().join("rep/index.html");
    assert!(
        text(&out.stdout).contains("rep/index.html"),
        "{}",
        text(&out.stdout)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let charts = pngs(&dir.path().join("rep"));
    assert!(charts.len() >= 3, "{charts:?}");
    for chart in &charts {
        assert!(html.contains(chart.as_str()), "page lacks {chart}");
    }
}

#[test]
fn report_against_a_baseline_draws_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture();
    let input = input.to_str().unwrap();
    let out = proxybench(
        &[
            "report",
            "--in",
            input,
            "--baseline",
            input,
            "--reference",
            "monoio",
            "--out",
            "rep",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(pngs(&dir.path().join("rep")).contains(&"baseline.png".to_string()));
    let html = std::fs::read_to_string(dir.path().join("rep/index.html")).unwrap();
    assert!(html.contains("id=\"baseline\""));
}

#[test]
fn unusable_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    json["schema_version"] = 99.into();
    std::fs::write(dir.path().join("future.json"), json.to_string()).unwrap();
    std::fs::write(dir.path().join("garbage.json"), "{ not json").unwrap();
    let input = fixture();
    let cases: [(&[&str], &str); 5] = [
        (
            &["report", "--in", "missing.json", "--out", "r"],
            "missing.json",
        ),
        (
            &["report", "--in", "future.json", "--out", "r"],
            "future.json",
        ),
        (
            &["report", "--in", "garbage.json", "--out", "r"],
            "garbage.json",
        ),
        (
            &[
                "report",
                "--in",
                input.to_str().unwrap(),
                "--baseline",
                "future.json",
                "--out",
                "r",
            ],
            "future.json",
        ),
        (
            &[
                "report",
                "--in",
                input.to_str().unwrap(),
                "--reference",
                "nginx",
                "--out",
                "r",
            ],
            "nginx",
        ),
    ];
    for (args, named) in cases {
        let out = proxybench(args, dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(
        text(&proxybench(&["report", "--in", "future.json", "--out", "r"], dir.path()).stderr)
            .contains("schema_version 99")
    );
    // Usage errors too.
    let out = proxybench(&["report", "--out", "r"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_leaves_a_report_for_the_run_and_in_latest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.toml"),
        "name = \"one\"\n[run]\ntrials = 1\nwarmup_s = 0.0\nduration_s = 0.1\n\
         [[cell]]\nscenario = \"echo\"\ncores = [\"tokio-tower\"]\nmessage_bytes = 100\nconnections = 2\n",
    )
    .unwrap();
    let out = proxybench(
        &["run", "one.toml", "--out", "res", "--reports", "rep"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("res/latest.json")).unwrap())
            .unwrap();
    let run_id = results["run_id"].as_str().unwrap();
    let own = dir.path().join("rep").join(run_id);
    let latest = dir.path().join("rep/latest");
    for d in [&own, &latest] {
        assert!(d.join("index.html").is_file(), "{}", d.display());
    }
    assert_eq!(pngs(&own), pngs(&latest));
    assert!(!pngs(&own).is_empty());
    // The cell carries the kernel's work, and the report shows where the
    // CPU goes: the table and its chart.
    let kernel = &results["cells"][0]["summary"]["kernel"];
    assert!(kernel["sys_cpu_us_per_req"].as_f64().is_some(), "{kernel}");
    assert!(kernel["allocations_per_req"].as_f64().is_some(), "{kernel}");
    assert!(
        pngs(&own).iter().any(|p| p.starts_with("kernel-01-")),
        "{:?}",
        pngs(&own)
    );
    let page = std::fs::read_to_string(own.join("index.html")).unwrap();
    assert!(page.contains("Where the CPU goes"));
    assert!(
        text(&out.stdout).contains("report: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_reference_proxy_cell_keeps_the_configuration_its_program_ran_with() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ref.toml"),
        "name = \"ref\"\n[run]\ntrials = 1\nwarmup_s = 0.0\nduration_s = 0.2\n\
         [[cell]]\nscenario = \"http-forward\"\ncores = [\"nginx\", \"tokio-tower\"]\n\
         body_bytes = 100\nconnections = 2\norigins = 2\n",
    )
    .unwrap();
    let out = proxybench(
        &[
            "run",
            "ref.toml",
            "--skip-conform",
            "--out",
            "res",
            "--reports",
            "rep",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("res/latest.json")).unwrap())
            .unwrap();
    let cell = |core: &str| {
        results["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["core"] == core)
            .unwrap()
            .clone()
    };
    // Our own core renders no program configuration.
    assert!(cell("tokio-tower").get("program_config").is_none());
    let nginx = cell("nginx");
    if nginx["status"] == "unavailable" {
        // Not installed here: the cell says how to install it.
        let reason = nginx["reason"].as_str().unwrap();
        assert!(reason.contains("install-references.sh"), "{reason}");
        return;
    }
    assert_eq!(nginx["status"], "ok", "{nginx}");
    let config = nginx["program_config"].as_str().expect("nginx.conf stored");
    // What nginx ran with: both origins of the cell, behind proxy_pass.
    assert!(config.contains("proxy_pass"), "{config}");
    let origins = config.matches("server 127.0.0.1:").count();
    assert!(origins >= 2, "{config}");
    let html = std::fs::read_to_string(dir.path().join("rep/latest/index.html")).unwrap();
    assert!(html.contains("nginx: the configuration it ran with in this cell"));
}

/// A proxy a user brings (`--external`): nginx described by a file of
/// the user's own, with a template that maps round-robin pools only.
#[test]
fn a_proxy_the_user_brings_runs_as_a_reference_core() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.conf.j2"),
        "daemon off;\nmaster_process on;\nworker_processes {{ threads }};\n\
         pid {{ dir }}/mine.pid;\nerror_log stderr error;\n\
         events { worker_connections {{ worker_connections }}; }\n\
         http {\n access_log off;\n client_body_temp_path {{ dir }}/body;\n proxy_temp_path {{ dir }}/proxy;\n\
         {% for pool in pools %} upstream {{ pool.name }} {\n{% for u in pool.upstreams %}  server {{ u }};\n{% endfor %}  keepalive 16;\n }\n{% endfor %}\
         server {\n  listen {{ listen }} reuseport;\n\
         {% for route in routes %}  location {{ route.prefix }} { proxy_pass http://{{ route.pool }}; proxy_http_version 1.1; proxy_set_header Connection \"\"; }\n{% endfor %}\
         }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "name = \"my-nginx\"\nprogram = \"nginx\"\n\
         args = [\"-c\", \"{config}\", \"-p\", \"{dir}\", \"-e\", \"stderr\"]\n\
         template = \"mine.conf.j2\"\nconfig_file = \"mine.conf\"\nstop_signal = \"SIGQUIT\"\n\
         install = \"scripts/install-references.sh\"\npolicies = [\"round-robin\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mine-run.toml"),
        "name = \"mine\"\n[run]\ntrials = 1\nwarmup_s = 0.0\nduration_s = 0.2\n\
         [[cell]]\nscenario = \"http-forward\"\ncores = [\"my-nginx\"]\nbody_bytes = 100\n\
         connections = 2\norigins = 2\npolicy = \"round-robin\"\n\
         [[cell]]\nscenario = \"http-forward\"\ncores = [\"my-nginx\"]\nbody_bytes = 100\n\
         connections = 2\norigins = 2\npolicy = \"p2c\"\n",
    )
    .unwrap();

    // `cores` lists it as a reference proxy.
    let out = proxybench(&["cores", "--json", "--external", "mine.toml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mine = cores["cores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "my-nginx")
        .expect("listed")
        .clone();
    assert_eq!(mine["reference"], true);

    // A name already taken is refused, naming the file.
    std::fs::write(
        dir.path().join("taken.toml"),
        std::fs::read_to_string(dir.path().join("mine.toml"))
            .unwrap()
            .replace("my-nginx", "monoio"),
    )
    .unwrap();
    let out = proxybench(&["cores", "--external", "taken.toml"], dir.path());
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("taken.toml"),
        "{}",
        text(&out.stderr)
    );

    let out = proxybench(
        &[
            "run",
            "mine-run.toml",
            "--skip-conform",
            "--external",
            "mine.toml",
            "--out",
            "res",
            "--reports",
            "rep",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("res/latest.json")).unwrap())
            .unwrap();
    let cells = results["cells"].as_array().unwrap();
    let status = results["cores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "my-nginx")
        .expect("recorded among the cores")
        .clone();
    assert_eq!(status["reference"], true);
    let (round_robin, p2c) = (&cells[0], &cells[1]);
    assert_eq!(p2c["status"], "unavailable", "{p2c}");
    if status["available"] == false {
        // nginx is not installed here: the cell says how to install it.
        let reason = round_robin["reason"].as_str().unwrap();
        assert!(reason.contains("install-references.sh"), "{reason}");
        return;
    }
    let reason = p2c["reason"].as_str().unwrap();
    assert!(reason.contains("does not map"), "{reason}");
    assert_eq!(round_robin["status"], "ok", "{round_robin}");
    assert_eq!(round_robin["summary"]["errors"], 0, "{round_robin}");
    let config = round_robin["program_config"].as_str().unwrap();
    assert!(config.contains("listen 127.0.0.1:"), "{config}");
    assert_eq!(config.matches("server 127.0.0.1:").count(), 2, "{config}");
}
