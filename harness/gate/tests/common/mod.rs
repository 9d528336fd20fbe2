//! Results files built in memory for the gate's tests: trials with
//! chosen figures, cells of them, a whole results document.

#![allow(dead_code)] // each test file uses its own share

use serde_json::{Value, json};

/// Deterministic noise in [-1, 1): a 64-bit LCG, so tests never depend on
/// a random seed.
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// One trial: CPU µs/req, p99 µs and QPS.
pub(crate) fn trial(index: usize, cpu: f64, p99: f64, qps: f64) -> Value {
    let lat = json!({"p50": p99 / 2.0, "p90": p99 * 0.8, "p99": p99, "p999": p99 * 1.5, "max": p99 * 2.0, "mean": p99 / 2.0});
    json!({
        "index": index, "sequence": index, "window_s": 1.0,
        "requests": qps as u64, "qps": qps, "errors": 0, "errors_by_kind": {},
        "latency_us": lat, "histogram": "",
        "core_cpu_us": cpu * qps, "cpu_us_per_req": cpu,
        "driver_cpu_us": 0.0, "driver_cpu_us_per_req": null, "driver_util": 0.5,
        "rss_max_bytes": 1, "driver_bound": false, "driver_bound_reason": null
    })
}

pub(crate) fn cell(id: &str, trials: Vec<Value>) -> Value {
    json!({
        "id": id, "scenario": "echo", "core": id.rsplit('/').next().unwrap(),
        "status": "ok", "reason": null,
        "params": {"mode": "closed", "message_bytes": 100, "connections": 50, "in_flight": 1,
                    "warmup_s": 0.5, "duration_s": 1.0, "trials": trials.len(),
                    "core_threads": 1, "driver_threads": 1},
        "trials": trials, "core_exit": "exit 0 after SIGTERM", "summary": null
    })
}

pub(crate) fn results(cells: Vec<Value>) -> Value {
    json!({
        "schema_version": pb_results::SCHEMA_VERSION, "run_id": "20260101T000000Z",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "tool_version": "0.1.0",
        "scenario": {"source": "synthetic", "name": "synthetic"},
        "environment": {
            "kernel": "Linux", "cpu_model": "synthetic", "cpu_count": 2, "rustc": "rustc",
            "git_revision": "x", "build_profile": "release",
            "io_uring": {"available": true, "detail": "ok"}, "memlock_limit_bytes": null,
            "cpu_plan": {"allowed": [0, 1], "core": [0], "driver": [1], "origin": [],
                         "shared": false, "note": ""}
        },
        "cores": [], "cells": cells
    })
}
