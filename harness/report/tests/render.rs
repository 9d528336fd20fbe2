//! Reports from real results files (committed fixtures made by
//! `proxybench run` with short trials): the charts are real images, the
//! page shows every chart it wrote and every cell, and a baseline
//! comparison marks exactly the cells that changed, in the gate's words.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pb_report::analysis::Analysis;
use pb_report::compare::Comparison;
use pb_report::model::Run;
use pb_report::{Options, ReportError};
use pb_results::{Results, Summary};
use pb_stats::{Metric, Verdict};

/// Four cores, two message sizes, three trials each; every cell ok.
const FOUR_CORES: &str = "tests/fixtures/echo-4-cores.json";
/// A run with io_uring disabled: the io_uring cores are unavailable.
const NO_IO_URING: &str = "tests/fixtures/echo-no-io-uring.json";
/// Open loop, two cores: a fixed-rate cell (1 s intervals over a 3 s
/// window) and a cell with a p99<=1ms rate search.
const OPEN_LOOP: &str = "tests/fixtures/echo-open-loop.json";
/// HTTP forwarding through three proxies, plus the `direct` no-proxy path.
const HTTP_FORWARD: &str = "tests/fixtures/http-forward.json";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn load(name: &str) -> Results {
    pb_results::io::read_results(&fixture(name)).unwrap()
}

/// Decodes a PNG: (width, height, distinct RGB colours).
fn decode_png(path: &Path) -> (u32, u32, BTreeSet<[u8; 3]>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let colours = pixels[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, colours)
}

fn hex(colour: &str) -> [u8; 3] {
    let v = u32::from_str_radix(colour.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[test]
fn fixtures_are_real_results_files_that_match_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(pb_results::SCHEMA_JSON).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in [FOUR_CORES, NO_IO_URING, OPEN_LOOP, HTTP_FORWARD] {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
        // And the model reads them.
        load(name);
    }
}

#[test]
fn a_report_has_real_charts_and_shows_every_chart_and_cell() {
    let out = tempfile::tempdir().unwrap();
    let results = load(FOUR_CORES);
    let report =
        pb_report::render_files(&fixture(FOUR_CORES), None, &Options::default(), out.path())
            .unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();

    // Throughput, CPU, and a latency chart per scenario cell.
    let written: BTreeSet<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".png"))
        .collect();
    assert_eq!(written.len(), 4, "{written:?}");
    assert_eq!(report.charts.len(), written.len());
    for name in ["throughput.png", "cpu.png"] {
        assert!(written.contains(name), "{written:?}");
    }
    assert_eq!(
        written.iter().filter(|n| n.starts_with("latency-")).count(),
        2
    );

    let palette: Vec<[u8; 3]> = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1"]
        .map(hex)
        .to_vec();
    for name in &written {
        let (width, height, colours) = decode_png(&out.path().join(name));
        assert!(width >= 600 && height >= 300, "{name}: {width}x{height}");
        assert!(colours.len() > 50, "{name}: only {} colours", colours.len());
        // Every core of the fixture is drawn in its own colour on every
        // chart (bars, curves and legend swatches).
        for colour in &palette {
            assert!(colours.contains(colour), "{name} lacks {colour:?}");
        }
        // The page shows it, by a relative path.
        assert!(
            html.contains(&format!("src=\"{name}\"")),
            "page lacks {name}"
        );
    }
    // ... and shows nothing that was not written.
    for src in html.split("src=\"").skip(1) {
        let file = &src[..src.find('"').unwrap()];
        assert!(written.contains(file), "page shows missing {file}");
    }
    for cell in &results.cells {
        assert!(html.contains(&cell.id), "page lacks cell {}", cell.id);
    }
    // Self-contained: no external URL anywhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains("<style>") && !html.contains("<link"));
    // The summary names the reference and the winners; every cell here is
    // driver-bound, so each one is listed with its reason.
    assert!(html.contains("tokio-tower"));
    assert!(html.contains("lowest core CPU/req"));
    assert!(html.contains("id=\"driver-bound\""));
    assert!(html.contains("driver CPU"));
    assert!(html.contains(&results.environment.kernel));
    assert!(html.contains("roles share CPUs"));
    // No baseline, no conformance data, no unavailable cell: no sections.
    assert!(!html.contains("id=\"baseline\""));
    assert!(!html.contains("id=\"conformance\""));
    assert!(!html.contains("id=\"not-measured\""));
}

#[test]
fn unavailable_cells_are_listed_with_their_reason_and_left_out_of_charts() {
    let out = tempfile::tempdir().unwrap();
    let results = load(NO_IO_URING);
    let report =
        pb_report::render_files(&fixture(NO_IO_URING), None, &Options::default(), out.path())
            .unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    let section = &html[html.find("id=\"not-measured\"").expect("section")..];
    let unavailable: Vec<_> = results
        .cells
        .iter()
        .filter(|c| c.status != pb_results::CellStatus::Ok)
        .collect();
    assert!(!unavailable.is_empty());
    for cell in unavailable {
        assert!(section.contains(&cell.id), "{}", cell.id);
    }
    assert!(section.contains("kernel.io_uring_disabled=2"));
    for cell in &results.cells {
        assert!(html.contains(&cell.id), "page lacks cell {}", cell.id);
    }
    // Latency curves only for measured cores.
    let analysis = Analysis::new(&Run::new(&fixture(NO_IO_URING), results), None).unwrap();
    for group in &analysis.groups {
        let cores: Vec<&str> = group.latency.iter().map(|c| c.core.as_str()).collect();
        assert_eq!(cores, ["tokio-tower", "monoio-epoll"]);
    }
    for chart in &report.charts {
        let (width, _, colours) = decode_png(chart);
        assert!(width >= 600 && colours.len() > 50, "{}", chart.display());
    }
}

#[test]
fn intervals_and_rate_searches_get_their_charts() {
    let results = load(OPEN_LOOP);
    let analysis = Analysis::new(&Run::new(&fixture(OPEN_LOOP), results.clone()), None).unwrap();
    for group in &analysis.groups {
        assert_eq!(group.timelines.len(), 2, "{}", group.label);
        for line in &group.timelines {
            // Three 1 s intervals in a 3 s window, each near the offered rate.
            assert_eq!(line.points.len(), 3, "{}", line.core);
            let rate = group.params.rate.unwrap();
            for &(t, qps, p99) in &line.points {
                assert!(t > 0.0 && t < group.params.duration_s);
                assert!((qps / rate - 1.0).abs() < 0.1, "{qps} vs {rate}");
                assert!(p99 > 0.0);
            }
        }
    }
    let searched = &analysis.groups[1];
    assert_eq!(searched.rate_curves.len(), 2);
    for curve in &searched.rate_curves {
        let cell = results
            .cells
            .iter()
            .find(|c| c.core == curve.core && c.rate_search.is_some())
            .unwrap();
        let search = cell.rate_search.as_ref().unwrap();
        assert_eq!(curve.points.len(), search.points.len());
        assert_eq!(curve.found_rate, search.found_rate);
        assert_eq!((curve.percentile, curve.bound_us), (99.0, search.bound_us));
    }
    assert!(analysis.groups[0].rate_curves.is_empty());

    let out = tempfile::tempdir().unwrap();
    let report =
        pb_report::render_files(&fixture(OPEN_LOOP), None, &Options::default(), out.path())
            .unwrap();
    let names: Vec<String> = report
        .charts
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("timeline-")).count(),
        2
    );
    assert_eq!(names.iter().filter(|n| n.starts_with("rate-")).count(), 1);
    let html = std::fs::read_to_string(&report.html).unwrap();
    for (chart, name) in report.charts.iter().zip(&names) {
        let (width, _, colours) = decode_png(chart);
        assert!(width >= 600 && colours.len() > 50, "{name}");
        assert!(
            html.contains(&format!("src=\"{name}\"")),
            "page lacks {name}"
        );
    }
    assert!(html.contains("Rate search") && html.contains("p99 ≤ 1000 µs"));
    assert!(html.contains("open loop at 20.0k req/s offered"));
    assert!(html.contains("uncorrected p99"));
}

#[test]
fn the_direct_path_is_a_baseline_not_a_contender() {
    let results = load(HTTP_FORWARD);
    let analysis = Analysis::new(&Run::new(&fixture(HTTP_FORWARD), results.clone()), None).unwrap();
    assert_eq!(analysis.reference, "tokio-tower");
    let group = &analysis.groups[0];
    for metric in Metric::ALL {
        let winner = group.winners.get(metric).expect("a winner");
        assert_ne!(winner.core, "direct", "{metric:?}");
    }
    let direct = group.rows.iter().find(|r| r.core == "direct").unwrap();
    assert!(direct.vs_reference.is_none());
    let direct = direct.summary.as_ref().unwrap();
    // Every proxy's added cost: latency over direct, and its own CPU.
    let proxies: Vec<&str> = group
        .added_over_direct
        .iter()
        .map(|a| a.core.as_str())
        .collect();
    assert_eq!(proxies, ["tokio-tower", "monoio", "glommio"]);
    for added in &group.added_over_direct {
        let row = group.rows.iter().find(|r| r.core == added.core).unwrap();
        let s = row.summary.as_ref().unwrap();
        assert_eq!(added.p99_us, s.latency_us.p99 - direct.latency_us.p99);
        assert_eq!(added.cpu_us_per_req, s.cpu_us_per_req);
        assert_eq!(added.qps_ratio, Some(s.qps / direct.qps));
    }

    let out = tempfile::tempdir().unwrap();
    let report = pb_report::render_files(
        &fixture(HTTP_FORWARD),
        None,
        &Options::default(),
        out.path(),
    )
    .unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("Added over <code>direct</code>"));
    assert!(html.contains("no proxy: baseline"));
    assert!(html.contains("GET with 100 B bodies, keep-alive"));
    for cell in &results.cells {
        assert!(html.contains(&cell.id), "page lacks cell {}", cell.id);
    }
    for chart in &report.charts {
        let (width, _, colours) = decode_png(chart);
        assert!(width >= 600 && colours.len() > 50, "{}", chart.display());
    }
}

#[test]
fn the_conformance_matrix_is_shown_and_failing_cores_never_win() {
    let mut results = load(FOUR_CORES);
    // The fixture predates the conformance suite: add a matrix in which
    // monoio-epoll, the cheapest core of the 1 KiB cell, fails one case.
    results.conformance = Some(
        serde_json::from_value(serde_json::json!({ "cases": [
            { "name": "cl-te-smuggling", "source": "RFC 9112 §6.3", "outcomes": [
                { "core": "tokio-tower", "passed": true, "reason": null },
                { "core": "monoio-epoll", "passed": false, "reason": "forwarded both headers" }
            ] },
            { "name": "half-close", "source": "RFC 9293 §3.6", "outcomes": [
                { "core": "tokio-tower", "passed": true, "reason": null },
                { "core": "monoio-epoll", "passed": true, "reason": null }
            ] }
        ] }))
        .unwrap(),
    );
    for cell in results
        .cells
        .iter_mut()
        .filter(|c| c.core == "monoio-epoll")
    {
        cell.conformance_failures = vec!["cl-te-smuggling".into()];
    }
    let path = fixture(FOUR_CORES);
    let analysis = Analysis::new(&Run::new(&path, results.clone()), None).unwrap();
    for group in &analysis.groups {
        for metric in Metric::ALL {
            let winner = group.winners.get(metric).unwrap();
            assert_ne!(winner.core, "monoio-epoll", "{} {metric:?}", group.label);
        }
    }

    let out = tempfile::tempdir().unwrap();
    let report = pb_report::render(&path, &results, None, &Options::default(), out.path()).unwrap();
    let html = std::fs::read_to_string(report.html).unwrap();
    let section = &html[html
        .find("id=\"conformance\"")
        .expect("conformance section")..];
    for text in [
        "cl-te-smuggling",
        "RFC 9112 §6.3",
        "half-close",
        "forwarded both headers",
        "1 of 4 checks failed",
    ] {
        assert!(section.contains(text), "section lacks {text}");
    }
    assert!(html.contains("fails 1 conformance case(s)"));
    assert!(html.contains("Cores failed conformance cases"));
}

/// Scales a trial's QPS by `qps` and its CPU per request by `cost`
/// (histograms untouched).
fn scale(trial: &mut pb_results::Trial, qps: f64, cost: f64) {
    trial.qps *= qps;
    trial.cpu_us_per_req = trial.cpu_us_per_req.map(|v| v * cost);
}

/// The fixture (three trials a cell) with six trials a cell, enough for
/// the gate's rule (5 a side): each trial again, its figures moved by a
/// fraction of a percent so no two are equal. Summaries recomputed.
fn with_six_trials(mut results: Results) -> Results {
    for cell in &mut results.cells {
        let again: Vec<_> = cell.trials.clone();
        for (k, mut trial) in again.into_iter().enumerate() {
            let f = 1.0 + 0.003 * (k as f64 + 1.0);
            scale(&mut trial, f, f);
            trial.latency_us.p99 *= f;
            trial.index += 3;
            cell.trials.push(trial);
        }
        cell.summary = Summary::from_trials(&cell.trials).unwrap();
    }
    results
}

/// The fixture with one cell's trials 1.5x faster and 1.5x costlier per
/// request, summary recomputed.
fn with_changed_cell(mut results: Results, id: &str) -> Results {
    let cell = results.cells.iter_mut().find(|c| c.id == id).unwrap();
    for trial in &mut cell.trials {
        scale(trial, 1.5, 1.5);
    }
    cell.summary = Summary::from_trials(&cell.trials).unwrap();
    results
}

const CHANGED: &str = "echo/100B/c16x1/glommio";

#[test]
fn against_a_baseline_exactly_the_changed_cell_is_judged_changed() {
    let base = with_six_trials(load(FOUR_CORES));
    let current = with_changed_cell(base.clone(), CHANGED);
    let analyse = |r: &Results| Analysis::new(&Run::new(Path::new("x.json"), r.clone()), None);
    let comparison = Comparison::new(&analyse(&base).unwrap(), &analyse(&current).unwrap());

    assert_eq!(comparison.cells.len(), base.cells.len());
    assert!(comparison.only_in_current.is_empty() && comparison.only_in_baseline.is_empty());
    for cell in &comparison.cells {
        let verdict = |m: Metric| cell.deltas.iter().find(|d| d.metric == m).unwrap();
        if cell.id == CHANGED {
            let qps = verdict(Metric::Qps);
            assert_eq!(qps.verdict, Verdict::Improvement, "{qps:?}");
            // Every trial moved by +50 %: the shift, and an interval
            // around it that excludes no change.
            assert!((qps.change - 0.5).abs() < 0.02, "{qps:?}");
            let i = qps.interval.unwrap();
            assert!(0.0 < i.low && i.low <= qps.change && qps.change <= i.high);
            assert_eq!(qps.improved(), Some(true));
            let cpu = verdict(Metric::CpuUsPerReq);
            assert_eq!(cpu.verdict, Verdict::Regression, "{cpu:?}");
            assert_eq!(cpu.improved(), Some(false));
            assert_eq!(verdict(Metric::LatencyP99Us).verdict, Verdict::Unchanged);
        } else {
            for d in &cell.deltas {
                assert_eq!(d.verdict, Verdict::Unchanged, "{}: {d:?}", cell.id);
            }
        }
    }
    assert_eq!(
        comparison
            .changed_cells()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        [CHANGED]
    );
    // The fixture itself has three trials a cell: too few for the rule,
    // however far a cell moves; the page must not call that a change.
    let few = load(FOUR_CORES);
    let moved = with_changed_cell(few.clone(), CHANGED);
    let comparison = Comparison::new(&analyse(&few).unwrap(), &analyse(&moved).unwrap());
    assert_eq!(comparison.changed_cells().count(), 0);
    for cell in &comparison.cells {
        for d in &cell.deltas {
            assert_eq!(d.verdict, Verdict::TooFewTrials, "{}: {d:?}", cell.id);
        }
    }

    // The page says the same, row by row, and draws the change.
    let dir = tempfile::tempdir().unwrap();
    let (base_path, current_path) = (dir.path().join("base.json"), dir.path().join("cur.json"));
    std::fs::write(&base_path, serde_json::to_string(&base).unwrap()).unwrap();
    std::fs::write(&current_path, serde_json::to_string(&current).unwrap()).unwrap();
    let out = dir.path().join("report");
    let report =
        pb_report::render_files(&current_path, Some(&base_path), &Options::default(), &out)
            .unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    let section = &html[html.find("id=\"baseline\"").expect("baseline section")..];
    for cell in &base.cells {
        let start = section
            .find(&format!("<a href=\"#{0}\">{0}</a>", cell.id))
            .unwrap_or_else(|| panic!("no row for {}", cell.id));
        let row = &section[start..start + section[start..].find("</tr>").unwrap()];
        let count = |word: &str| row.matches(&format!(">{word}<")).count();
        let words = (count("REGRESSION"), count("improved"), count("ok"));
        if cell.id == CHANGED {
            assert_eq!(words, (1, 1, 1), "{row}");
        } else {
            assert_eq!(words, (0, 0, 3), "{row}");
        }
    }
    let chart = out.join("baseline.png");
    assert!(report.charts.contains(&chart));
    let (width, _, colours) = decode_png(&chart);
    assert!(width >= 600 && colours.len() > 50);
}

#[test]
fn cells_missing_on_either_side_are_listed() {
    let base = load(FOUR_CORES);
    let mut current = base.clone();
    let mut baseline = base.clone();
    current.cells.retain(|c| c.id != "echo/1024B/c16x1/monoio");
    baseline.cells.retain(|c| c.id != "echo/100B/c16x1/glommio");
    let dir = tempfile::tempdir().unwrap();
    let (base_path, current_path) = (dir.path().join("base.json"), dir.path().join("cur.json"));
    std::fs::write(&base_path, serde_json::to_string(&baseline).unwrap()).unwrap();
    std::fs::write(&current_path, serde_json::to_string(&current).unwrap()).unwrap();
    let report = pb_report::render_files(
        &current_path,
        Some(&base_path),
        &Options::default(),
        &dir.path().join("r"),
    )
    .unwrap();
    let html = std::fs::read_to_string(report.html).unwrap();
    let only_current = &html[html.find("Only in this run").expect("only-current list")..];
    assert!(only_current.contains("echo/100B/c16x1/glommio"));
    let only_base = &html[html
        .find("Only in the baseline")
        .expect("only-baseline list")..];
    assert!(only_base.contains("echo/1024B/c16x1/monoio"));
}

#[test]
fn the_reference_core_can_be_chosen_and_must_exist() {
    let path = fixture(FOUR_CORES);
    let run = Run::new(&path, load(FOUR_CORES));
    assert_eq!(run.cores()[0], "tokio-tower");
    assert_eq!(Analysis::new(&run, None).unwrap().reference, "tokio-tower");
    // The default is the results' first core, not a name the report
    // knows: with monoio's cells first, monoio is the reference.
    let mut reordered = load(FOUR_CORES);
    reordered.cells.sort_by_key(|c| c.core != "monoio");
    let run_b = Run::new(&path, reordered);
    assert_eq!(Analysis::new(&run_b, None).unwrap().reference, "monoio");
    let analysis = Analysis::new(&run, Some("monoio")).unwrap();
    for group in &analysis.groups {
        let monoio = group.rows.iter().find(|r| r.core == "monoio").unwrap();
        let ratios = monoio.vs_reference.unwrap();
        assert_eq!((ratios.qps, ratios.cpu), (Some(1.0), Some(1.0)));
        assert!(monoio.is_reference);
    }

    let out = tempfile::tempdir().unwrap();
    let options = Options {
        reference: Some("nginx".into()),
        ..Options::default()
    };
    let err = pb_report::render_files(&path, None, &options, out.path()).unwrap_err();
    assert!(matches!(err, ReportError::UnknownReference { .. }));
    let message = err.to_string();
    assert!(
        message.contains("echo-4-cores.json") && message.contains("nginx"),
        "{message}"
    );
}

#[test]
fn a_corrupt_histogram_names_the_file_and_the_cell() {
    let mut results = load(FOUR_CORES);
    results.cells[2].trials[1].histogram = "HISTFAAAAnotreally".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, serde_json::to_string(&results).unwrap()).unwrap();
    let err = pb_report::render_files(&path, None, &Options::default(), &dir.path().join("r"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.json") && err.contains(&results.cells[2].id),
        "{err}"
    );
}

#[test]
fn publishing_a_run_writes_its_own_directory_and_latest() {
    let reports = tempfile::tempdir().unwrap();
    let results = load(FOUR_CORES);
    // A stale chart from an earlier run must not survive in latest/.
    std::fs::create_dir_all(reports.path().join("latest")).unwrap();
    std::fs::write(reports.path().join("latest/latency-09-old.png"), b"x").unwrap();
    let published =
        pb_report::publish_run(&fixture(FOUR_CORES), &results, None, reports.path()).unwrap();
    let (report, latest) = (&published.report, &published.latest);
    assert_eq!(
        report.html,
        reports.path().join(&results.run_id).join("index.html")
    );
    assert_eq!(*latest, reports.path().join("latest/index.html"));
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != pb_report::runs::HEADLINE)
            .collect()
    };
    assert_eq!(
        names(&reports.path().join(&results.run_id)),
        names(&reports.path().join("latest"))
    );
    assert_eq!(
        std::fs::read(&report.html).unwrap(),
        std::fs::read(latest).unwrap()
    );
}

#[test]
fn the_index_of_runs_lists_every_run_and_draws_each_cell_across_them() {
    let reports = tempfile::tempdir().unwrap();
    let first = load(FOUR_CORES);
    // A second run of the same scenario, an hour later, every cell dearer.
    let mut second = first.clone();
    second.run_id = format!("{}b", first.run_id);
    assert_eq!(first.started_at, "2026-11-26T22:43:40Z");
    second.started_at = "2026-11-26T23:43:40Z".into();
    for cell in &mut second.cells {
        if let Some(s) = cell.summary.as_mut() {
            s.cpu_us_per_req = s.cpu_us_per_req.map(|c| c * 1.5);
        }
    }
    let one = pb_report::publish_run(&fixture(FOUR_CORES), &first, None, reports.path()).unwrap();
    assert_eq!(one.index.runs.len(), 1);
    assert!(one.index.charts.is_empty(), "one run has no trend");
    let two = pb_report::publish_run(&fixture(FOUR_CORES), &second, None, reports.path()).unwrap();
    assert_eq!(two.index.html, reports.path().join("index.html"));
    let ids: Vec<&str> = two.index.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(
        ids,
        [second.run_id.as_str(), first.run_id.as_str()],
        "newest first"
    );
    assert!(two.index.skipped.is_empty(), "{:?}", two.index.skipped);
    // One trend chart per scenario cell that ran in both.
    let groups: BTreeSet<String> = first.cells.iter().map(|c| c.label().to_owned()).collect();
    assert_eq!(two.index.charts.len(), groups.len());
    for chart in &two.index.charts {
        let png = std::fs::read(chart).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{}", chart.display());
    }
    let html = std::fs::read_to_string(&two.index.html).unwrap();
    for run in [&first, &second] {
        assert!(
            html.contains(&format!("href=\"{}/index.html\"", run.run_id)),
            "the index links run {}",
            run.run_id
        );
    }
    // The headline holds each cell's medians as the results have them.
    let headline: pb_report::runs::Headline = serde_json::from_str(
        &std::fs::read_to_string(
            reports
                .path()
                .join(&second.run_id)
                .join(pb_report::runs::HEADLINE),
        )
        .unwrap(),
    )
    .unwrap();
    let measured = second.cells.iter().filter(|c| c.summary.is_some()).count();
    assert_eq!(headline.cells.len(), measured);
    let cell = second.cells.iter().find(|c| c.summary.is_some()).unwrap();
    let entry = headline
        .cells
        .iter()
        .find(|h| h.core == cell.core && h.group == cell.label())
        .unwrap();
    assert_eq!(
        entry.cpu_us_per_req,
        cell.summary.as_ref().unwrap().cpu_us_per_req
    );
    // A run directory removed is a run gone from the index.
    std::fs::remove_dir_all(reports.path().join(&first.run_id)).unwrap();
    let index = pb_report::runs::write_index(reports.path()).unwrap();
    assert_eq!(index.runs.len(), 1);
    assert!(index.charts.is_empty());
    assert!(
        !reports.path().join(pb_report::runs::HEADLINE).exists()
            && std::fs::read_dir(reports.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("trend-")),
        "old trend charts are removed"
    );
}

#[test]
fn a_run_of_grid_cores_gets_the_grid_and_its_effect_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = load(FOUR_CORES);
    for core in &mut results.cores {
        let (runtime, composition) = match core.name.as_str() {
            "tokio-tower" => ("tokio-mt", "tower-buffer"),
            other => (other, "borrowing"),
        };
        core.grid = Some(pb_results::GridCell {
            runtime: runtime.into(),
            composition: composition.into(),
        });
    }
    let grids = pb_report::grid::grids(&results);
    // Two echo cells, each with four runtimes in two columns.
    assert_eq!(grids.len(), 2);
    assert_eq!(grids[0].compositions, ["tower-buffer", "borrowing"]);
    assert_eq!(
        grids[0].runtimes,
        ["tokio-mt", "monoio", "glommio", "monoio-epoll"]
    );
    let sentences: Vec<String> = grids[0].effects().iter().map(|e| e.sentence()).collect();
    // Borrowing has three runtimes: each against the column's first.
    assert_eq!(sentences.len(), 2, "{sentences:?}");
    assert!(
        sentences[0].starts_with("runtime glommio vs monoio (both with borrowing): "),
        "{sentences:?}"
    );
    // Three trials a side cannot bound a 95 % interval; the page says so.
    assert!(sentences[0].contains("too few trials"), "{sentences:?}");

    let file = dir.path().join("grid.json");
    pb_results::io::write_results_file(&results, &file).unwrap();
    let report =
        pb_report::render_files(&file, None, &Options::default(), &dir.path().join("out")).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("Runtime × service composition"));
    assert!(html.contains("runtime glommio vs monoio (both with borrowing)"));

    // Results without grid cells (older files, `load`) get no grid section.
    let plain = pb_report::render_files(
        &fixture(FOUR_CORES),
        None,
        &Options::default(),
        &dir.path().join("plain"),
    )
    .unwrap();
    let html = std::fs::read_to_string(&plain.html).unwrap();
    assert!(!html.contains("Runtime × service composition"));
}

#[test]
fn reference_proxies_are_a_yardstick_with_their_configuration_shown() {
    // Mark glommio as a reference proxy that ran with a program config.
    let mut results = load(HTTP_FORWARD);
    for core in results.cores.iter_mut().filter(|c| c.name == "glommio") {
        core.reference = true;
    }
    for cell in results.cells.iter_mut().filter(|c| c.core == "glommio") {
        cell.program_config = Some("worker_processes 1; # <as run>".into());
    }
    let path = fixture(HTTP_FORWARD);
    let analysis = Analysis::new(&Run::new(&path, results.clone()), None).unwrap();
    let group = &analysis.groups[0];
    let cpu = |core: &str| {
        let row = group.rows.iter().find(|r| r.core == core).unwrap();
        (row, row.summary.as_ref().unwrap().cpu_us_per_req.unwrap())
    };
    let (glommio, glommio_cpu) = cpu("glommio");
    let (monoio, monoio_cpu) = cpu("monoio");
    assert!(glommio.reference_proxy && !monoio.reference_proxy);
    // Each core's CPU per request over the reference proxy's; none for
    // the proxy itself or for the no-proxy path.
    let (name, ratio) = monoio.vs_proxy.clone().expect("a ratio to the proxy");
    assert_eq!(name, "glommio");
    assert!((ratio - monoio_cpu / glommio_cpu).abs() < 1e-12);
    assert!(glommio.vs_proxy.is_none());
    let direct = group.rows.iter().find(|r| r.core == "direct").unwrap();
    assert!(direct.vs_proxy.is_none());

    let out = tempfile::tempdir().unwrap();
    let report = pb_report::render(&path, &results, None, &Options::default(), out.path()).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("reference proxy</span>"));
    assert!(html.contains(&format!("{ratio:.2}× glommio")));
    assert!(html.contains("glommio: the configuration it ran with in this cell"));
    assert!(html.contains("worker_processes 1; # &lt;as run&gt;"));
    // The CPU chart draws the proxy's dashed line across its group, in
    // its colour: more of that colour than the same chart without it.
    let without = {
        let mut plain = results.clone();
        for core in plain.cores.iter_mut() {
            core.reference = false;
        }
        let dir = tempfile::tempdir().unwrap();
        let report =
            pb_report::render(&path, &plain, None, &Options::default(), dir.path()).unwrap();
        let html = std::fs::read_to_string(&report.html).unwrap();
        assert!(!html.contains("reference proxy</span>"));
        let colour = swatch_colour(&html, "glommio");
        (count_colour(&cpu_chart(&report.charts), colour), colour)
    };
    let colour = swatch_colour(&html, "glommio");
    assert_eq!(colour, without.1, "glommio keeps its colour");
    let with = count_colour(&cpu_chart(&report.charts), colour);
    assert!(with > without.0 + 100, "{with} vs {} pixels", without.0);
}

#[test]
fn where_the_cpu_goes_is_drawn_per_cell_with_its_largest_difference() {
    // The fixture predates the counters: give each core's summaries
    // known figures (glommio three times monoio's system calls; nginx a
    // program that cannot count allocations).
    let mut results = load(HTTP_FORWARD);
    let before = Analysis::new(&Run::new(&fixture(HTTP_FORWARD), results.clone()), None).unwrap();
    assert!(before.groups.iter().all(|g| g.kernel.is_none()));
    for cell in &mut results.cells {
        let syscalls = match cell.core.as_str() {
            "glommio" => 11.2,
            "monoio" => 3.6,
            _ => 6.0,
        };
        let allocations = (cell.core != "glommio").then_some(14.0);
        if let Some(summary) = cell.summary.as_mut() {
            summary.kernel = Some(pb_results::KernelWork {
                user_cpu_us_per_req: Some(6.0),
                sys_cpu_us_per_req: Some(18.0),
                voluntary_switches_per_req: 1.5,
                involuntary_switches_per_req: 0.1,
                perf_per_req: [("syscalls", syscalls), ("reads", 2.0), ("writes", 2.0)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                perf_unavailable: None,
                allocations_per_req: allocations,
                alloc_bytes_per_req: allocations.map(|a| a * 50.0),
                allocations_unavailable: allocations
                    .is_none()
                    .then(|| "not counted in this test".into()),
            });
        }
    }
    let path = fixture(HTTP_FORWARD);
    let analysis = Analysis::new(&Run::new(&path, results.clone()), None).unwrap();
    let view = analysis.groups[0].kernel.as_ref().expect("kernel figures");
    // Every measured proxy, never the no-proxy path.
    assert!(view.rows.iter().all(|r| r.core != "direct"));
    assert!(view.rows.iter().any(|r| r.core == "monoio"));
    let sentence = view.largest_difference.as_deref().unwrap();
    assert_eq!(
        sentence,
        "glommio has 3.1× the system calls of monoio per request (11.20 vs 3.60)."
    );
    assert_eq!(view.floor.unwrap().data_syscalls, 4);
    assert_eq!(
        view.unavailable,
        vec!["glommio: not counted in this test".to_owned()]
    );

    let out = tempfile::tempdir().unwrap();
    let report = pb_report::render(&path, &results, None, &Options::default(), out.path()).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("Where the CPU goes"));
    assert!(html.contains(sentence));
    assert!(html.contains("at least 4 data system calls"));
    // 11.2 syscalls against a floor of 4.
    assert!(html.contains("+7.20"));
    let chart = report
        .charts
        .iter()
        .find(|c| {
            c.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("kernel-"))
        })
        .expect("a where-the-CPU-goes chart");
    assert!(html.contains(&format!(
        "src=\"{}\"",
        chart.file_name().unwrap().to_string_lossy()
    )));
    // Each core's bar in its own colour.
    for row in &view.rows {
        let colour = swatch_colour(&html, &row.core);
        assert!(
            count_colour(chart, colour) > 200,
            "{} has no bar in {}",
            row.core,
            chart.display()
        );
    }
}

/// The CPU chart among a report's charts.
fn cpu_chart(charts: &[PathBuf]) -> PathBuf {
    charts
        .iter()
        .find(|c| c.file_name().is_some_and(|n| n == "cpu.png"))
        .expect("a CPU chart")
        .clone()
}

/// The colour of `core`'s swatch on the page.
fn swatch_colour(html: &str, core: &str) -> [u8; 3] {
    let at = html
        .find(&format!("</span>{core}</span>"))
        .expect("the core's swatch");
    let style = &html[..at];
    let from = style.rfind("background: #").expect("a swatch colour") + "background: ".len();
    hex(&style[from..from + 7])
}

/// How many pixels of the PNG at `path` are exactly `colour`.
fn count_colour(path: &Path, colour: [u8; 3]) -> usize {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels[..info.buffer_size()]
        .chunks(3)
        .filter(|p| [p[0], p[1], p[2]] == colour)
        .count()
}
