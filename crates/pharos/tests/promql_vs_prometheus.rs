//! PromQL correctness against the real Prometheus: the same deterministic data set is
//! remote-written to Pharos and to Debian's `prometheus` (2.42), then every query of
//! `promql_vs_prometheus/queries.txt` is asked of both over the HTTP API — as instant
//! queries at four times and as one range query — and the answers are compared: status
//! and error type, result type, the label sets, values within a relative tolerance of
//! 1e-9 (NaN equals NaN), and the order where PromQL defines one (`sort`, `sort_desc`,
//! `topk`/`bottomk` without grouping).
//!
//! Every difference fails the test unless it is listed in [`KNOWN_DIFFERENCES`] with its
//! reason: either a Pharos bug still to be fixed in `crates/promql`, or a deliberate
//! divergence (Pharos follows Prometheus 3.x where 3.x changed behaviour). The documented
//! divergences are in `promql_vs_prometheus/README.md`.
//!
//! Without a `prometheus` binary (`$PROMETHEUS_BIN`, else `prometheus` on `PATH`) the
//! test prints "skipped" and passes; `scripts/test` installs it.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use pharos_ingest::prometheus::remote_write::{
    Label, ProtoSample, TimeSeries, WriteRequest, encode,
};
use serde_json::Value;

const QUERIES: &str = include_str!("promql_vs_prometheus/queries.txt");

/// Differences accepted for now, by query (as written in `queries.txt`), with the reason.
/// A Pharos bug stays here only until `crates/promql` is fixed; the test reports entries
/// that no longer differ so they can be removed.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Relative tolerance for values; an absolute floor keeps results that cancel to about
/// zero (sums and differences of the same numbers in another order) comparable.
const REL_TOLERANCE: f64 = 1e-9;
const ABS_TOLERANCE: f64 = 1e-12;

/// Samples are 15 s apart, as a default scrape interval.
const STEP_MS: i64 = 15_000;
/// 201 samples: 50 minutes of data.
const SAMPLES: i64 = 201;
/// Counters have counted this many scrapes before their first sample, so none starts
/// near zero. `rate()` and `increase()` over a window where a counter starts near zero
/// differ between Prometheus 2.42 and 3.x (prometheus/prometheus#13725, see the README);
/// starting higher keeps that divergence out of every comparison.
const WARM_UP: i64 = 40;

// ---------------------------------------------------------------------------------------
// The reference Prometheus

struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROMETHEUS_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

async fn start_prometheus(bin: &Path, dir: &Path) -> Prometheus {
    let config = dir.join("prometheus.yml");
    // No scrape jobs: the reference holds exactly what the test writes. The evaluation
    // interval is the default subquery step, pinned to Pharos's 1 minute.
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\nscrape_configs: []\n",
    )
    .expect("write prometheus.yml");
    let port = free_port();
    let log = dir.join("prometheus.log");
    let out = std::fs::File::create(&log).expect("prometheus log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--query.lookback-delta=5m")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("log fd")))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    wait_until_with(
        Duration::from_secs(60),
        "prometheus to become ready",
        async || match client().get(format!("{}/-/ready", p.url)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        },
        || {
            format!(
                "prometheus log:\n{}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            )
        },
    )
    .await;
    p
}

// ---------------------------------------------------------------------------------------
// The data set

/// splitmix64: the same numbers on every run and platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Series {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

/// One scraped target: its samples share timestamps, 15 s apart plus a sub-second offset
/// and jitter. Offset plus jitter stays below a second while every evaluation time and
/// range is whole seconds, so no sample sits on a range boundary, where Prometheus 2.x
/// (closed ranges) and 3.x (left-open) disagree.
struct Target {
    job: &'static str,
    instance: &'static str,
    times: Vec<i64>,
}

impl Target {
    fn new(
        job: &'static str,
        instance: &'static str,
        offset_ms: i64,
        first: i64,
        rng: &mut Rng,
    ) -> Target {
        let times = (0..SAMPLES)
            .map(|k| first + k * STEP_MS + offset_ms + (rng.f() * 60.0) as i64)
            .collect();
        Target {
            job,
            instance,
            times,
        }
    }
}

struct Data {
    series: Vec<Series>,
}

impl Data {
    fn add(&mut self, name: &str, t: &Target, extra: &[(&str, &str)], points: Vec<(usize, f64)>) {
        let mut labels: Vec<(String, String)> = vec![
            ("__name__".into(), name.into()),
            ("job".into(), t.job.into()),
            ("instance".into(), t.instance.into()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels.sort();
        let samples = points.into_iter().map(|(k, v)| (t.times[k], v)).collect();
        self.series.push(Series { labels, samples });
    }
}

/// A counter for samples `from..SAMPLES` growing by about `per_sec`, reset to zero by a
/// restart at sample `reset` (if any). It has been counting for [`WARM_UP`] scrapes before
/// its first sample (see there).
fn counter(
    rng: &mut Rng,
    from: usize,
    reset: Option<usize>,
    per_sec: f64,
    integer: bool,
) -> Vec<(usize, f64)> {
    let mut v = 0.0;
    let mut out = Vec::new();
    for k in from as i64 - WARM_UP..SAMPLES {
        if reset.is_some_and(|r| r as i64 == k) {
            v = 0.0;
        }
        let inc = per_sec * 15.0 * (0.5 + rng.f());
        v += if integer {
            inc.round()
        } else {
            (inc * 100.0).round() / 100.0
        };
        if k >= from as i64 {
            out.push((k as usize, v));
        }
    }
    out
}

fn gauge(from: usize, to: usize, f: impl FnMut(usize) -> f64) -> Vec<(usize, f64)> {
    let mut f = f;
    (from..to).map(|k| (k, f(k))).collect()
}

fn round_to(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// 50 minutes of realistic metrics from `start_ms` (a minute boundary) on; the values
/// are the same on every run, only the times move.
fn dataset(start_ms: i64) -> Vec<Series> {
    let mut rng = Rng(0x05EE_D0FF_A405);
    let mut d = Data { series: vec![] };
    let all = SAMPLES as usize;

    // job="api": three instances; api-3 appears at sample 80, api-2 restarts at 90.
    let api = [
        Target::new("api", "api-1:8080", 137, start_ms, &mut rng),
        Target::new("api", "api-2:8080", 412, start_ms, &mut rng),
        Target::new("api", "api-3:8080", 689, start_ms, &mut rng),
    ];
    let buckets = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    let shares = [0.3, 0.25, 0.25, 0.12, 0.05, 0.025, 0.005];
    for (i, t) in api.iter().enumerate() {
        let from = if i == 2 { 80 } else { 0 };
        let reset = (i == 1).then_some(90);
        let up = gauge(from, all, |k| {
            if i == 0 && (120..125).contains(&k) {
                0.0
            } else {
                1.0
            }
        });
        d.add("up", t, &[], up);
        for (method, code, rate) in [
            ("GET", "200", 20.0),
            ("GET", "500", 0.3),
            ("POST", "200", 5.0 + i as f64),
            ("POST", "500", 0.1),
        ] {
            let c = counter(&mut rng, from, reset, rate, true);
            d.add(
                "http_requests_total",
                t,
                &[("method", method), ("code", code)],
                c,
            );
        }
        // The histogram: integer observations per scrape spread over the buckets.
        let mut cum = vec![Vec::new(); buckets.len()];
        let mut sum = Vec::new();
        let (mut counts, mut total) = (vec![0.0; buckets.len()], 0.0);
        for k in from as i64 - WARM_UP..SAMPLES {
            if reset.is_some_and(|r| r as i64 == k) {
                counts.iter_mut().for_each(|c| *c = 0.0);
                total = 0.0;
            }
            let n = (100.0 * (0.5 + rng.f())).round();
            let mut acc = 0.0;
            for (b, share) in shares.iter().enumerate() {
                acc += (n * share * (0.6 + 0.8 * rng.f())).round();
                counts[b] += acc;
                if k >= from as i64 {
                    cum[b].push((k as usize, counts[b]));
                }
            }
            total += round_to(acc * 0.12 * (0.5 + rng.f()), 3);
            if k >= from as i64 {
                sum.push((k as usize, total));
            }
        }
        for (b, le) in buckets.iter().enumerate() {
            let points = cum[b].clone();
            if b == buckets.len() - 1 {
                d.add("request_duration_seconds_count", t, &[], points.clone());
            }
            d.add("request_duration_seconds_bucket", t, &[("le", le)], points);
        }
        d.add("request_duration_seconds_sum", t, &[], sum);
        // The summary: quantile gauges and their _sum/_count counters.
        for (q, base) in [("0.5", 0.05), ("0.9", 0.2), ("0.99", 0.8)] {
            let g = gauge(from, all, |_| round_to(base * (0.8 + 0.4 * rng.f()), 4));
            d.add("rpc_duration_seconds", t, &[("quantile", q)], g);
        }
        let c = counter(&mut rng, from, reset, 12.0, true);
        d.add("rpc_duration_seconds_count", t, &[], c);
        let c = counter(&mut rng, from, reset, 1.3, false);
        d.add("rpc_duration_seconds_sum", t, &[], c);
        let mem = gauge(from, all, |k| {
            (80e6 + 20e6 * i as f64 + 1e5 * k as f64 + 3e6 * rng.f()).round()
        });
        d.add("process_resident_memory_bytes", t, &[], mem);
        // A new version after api-2's restart: the old build_info series ends with a
        // staleness marker, as a scrape would leave it.
        if i == 1 {
            let mut old = gauge(0, 90, |_| 1.0);
            old.push((90, pharos_model::series::stale_marker()));
            d.add("build_info", t, &[("version", "1.4.2")], old);
            d.add(
                "build_info",
                t,
                &[("version", "1.5.0")],
                gauge(90, all, |_| 1.0),
            );
        } else {
            d.add(
                "build_info",
                t,
                &[("version", "1.4.2")],
                gauge(from, all, |_| 1.0),
            );
        }
    }

    // job="web": two instances, web-2 restarts at sample 150.
    for (i, (inst, off)) in [("web-1:80", 251), ("web-2:80", 803)]
        .into_iter()
        .enumerate()
    {
        let t = Target::new("web", inst, off, start_ms, &mut rng);
        let reset = (i == 1).then_some(150);
        d.add("up", &t, &[], gauge(0, all, |_| 1.0));
        for (code, rate) in [("200", 8.0), ("404", 0.4)] {
            let c = counter(&mut rng, 0, reset, rate, true);
            d.add(
                "http_requests_total",
                &t,
                &[("method", "GET"), ("code", code)],
                c,
            );
        }
        let mem = gauge(0, all, |k| (40e6 + 5e4 * k as f64 + 1e6 * rng.f()).round());
        d.add("process_resident_memory_bytes", &t, &[], mem);
    }

    // job="node": CPU counters, load, memory, temperatures (some below zero), disks.
    for (i, (inst, off)) in [("node-1:9100", 564), ("node-2:9100", 925)]
        .into_iter()
        .enumerate()
    {
        let t = Target::new("node", inst, off, start_ms, &mut rng);
        d.add("up", &t, &[], gauge(0, all, |_| 1.0));
        for cpu in ["0", "1"] {
            for (mode, share) in [("idle", 0.7), ("user", 0.2), ("system", 0.08)] {
                let c = counter(&mut rng, 0, None, share, false);
                d.add(
                    "node_cpu_seconds_total",
                    &t,
                    &[("cpu", cpu), ("mode", mode)],
                    c,
                );
            }
        }
        let phase = i as f64;
        let load = gauge(0, all, |k| {
            round_to(1.2 + (k as f64 / 20.0 + phase).sin() + 0.4 * rng.f(), 2)
        });
        d.add("node_load1", &t, &[], load);
        let mem = gauge(0, all, |k| (4e9 - 2e6 * k as f64 + 5e7 * rng.f()).round());
        d.add("node_memory_MemAvailable_bytes", &t, &[], mem);
        let cpu_temp = gauge(0, all, |k| {
            round_to(55.0 + 10.0 * (k as f64 / 30.0).cos() + 2.0 * rng.f(), 1)
        });
        d.add(
            "node_temperature_celsius",
            &t,
            &[("sensor", "cpu")],
            cpu_temp,
        );
        let outside = gauge(0, all, |k| {
            round_to(2.0 - 6.0 * (k as f64 / 40.0 + phase).sin() + rng.f(), 1)
        });
        d.add(
            "node_temperature_celsius",
            &t,
            &[("sensor", "outside")],
            outside,
        );
        for (dev, mount, size) in [("/dev/sda1", "/", 40e9), ("/dev/sdb1", "/data", 500e9)] {
            let fs = gauge(0, all, |k| {
                (size - 5e6 * k as f64 * (1.0 + phase) - 1e6 * rng.f()).round()
            });
            d.add(
                "node_filesystem_avail_bytes",
                &t,
                &[("device", dev), ("mountpoint", mount)],
                fs,
            );
        }
    }

    // job="batch": a push gateway's gauges, two queues that stop, NaN and infinities.
    let t = Target::new("batch", "pushgw:9091", 318, start_ms, &mut rng);
    for (task, every) in [("backup", 600_000), ("report", 240_000)] {
        let g = gauge(0, all, |k| {
            let now = t.times[k];
            ((now - 60_000).div_euclid(every) * every) as f64 / 1000.0
        });
        d.add(
            "batch_last_success_timestamp_seconds",
            &t,
            &[("task", task)],
            g,
        );
    }
    let walk = |rng: &mut Rng, from: usize, to: usize, hold: usize| {
        let mut v = 20.0f64;
        gauge(from, to, |k| {
            if k % hold == 0 {
                v = (v + (rng.f() * 10.0).round() - 5.0).max(0.0);
            }
            v
        })
    };
    let mut emails = walk(&mut rng, 0, 101, 1);
    emails.push((101, pharos_model::series::stale_marker()));
    d.add("queue_depth", &t, &[("queue", "emails")], emails);
    let sms = walk(&mut rng, 0, 113, 2);
    d.add("queue_depth", &t, &[("queue", "sms")], sms);
    let push = walk(&mut rng, 0, all, 4);
    d.add("queue_depth", &t, &[("queue", "push")], push);
    for (kind, special, every, at) in [
        ("nan", f64::NAN, 7, 0),
        ("inf", f64::INFINITY, 11, 3),
        ("neginf", f64::NEG_INFINITY, 13, 5),
    ] {
        let g = gauge(0, all, |k| {
            if k % every == at {
                special
            } else {
                round_to(rng.f() * 10.0 - 3.0, 2)
            }
        });
        d.add("odd_values", &t, &[("kind", kind)], g);
    }
    d.add(
        "odd_values",
        &t,
        &[("kind", "zero")],
        gauge(0, all, |_| 0.0),
    );
    d.add(
        "odd_values",
        &t,
        &[("kind", "const")],
        gauge(0, all, |_| 42.0),
    );
    for (job, team) in [("api", "payments"), ("web", "frontend")] {
        let info = Target {
            job,
            instance: "pushgw:9091",
            times: t.times.clone(),
        };
        d.add(
            "team_info",
            &info,
            &[("team", team)],
            gauge(0, all, |_| 1.0),
        );
    }
    d.series
}

fn write_request(series: &[Series]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|s| TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|&(timestamp, value)| ProtoSample { value, timestamp })
                    .collect(),
                histograms: vec![],
            })
            .collect(),
        metadata: vec![],
    };
    encode(&req)
}

async fn remote_write(base: &str, body: Vec<u8>) {
    let r = client()
        .post(format!("{base}/api/v1/write"))
        .bearer_auth(TOKEN)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .expect("remote_write request");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "remote_write to {base}: {status} {text}"
    );
}

/// Fails when Pharos holds series the test did not write (a source of its own that the
/// config does not turn off yet): they would show as differences everywhere.
async fn same_series(pharos: &str, prom: &str, start_ms: i64, end_ms: i64) {
    let path = format!(
        "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&start={}&end={}",
        start_ms / 1000 - 60,
        end_ms / 1000 + 600
    );
    let http = client();
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["data"]
            .as_array()
            .map(|a| a.iter().map(label_key).collect())
            .unwrap_or_default();
        n.sort();
        n
    };
    let (a, b) = tokio::join!(ask(&http, pharos, &path), ask(&http, prom, &path));
    let (a, b) = (names(&a), names(&b));
    let extra: Vec<&String> = a.iter().filter(|s| !b.contains(s)).collect();
    let missing: Vec<&String> = b.iter().filter(|s| !a.contains(s)).collect();
    assert!(
        extra.is_empty() && missing.is_empty() && !b.is_empty(),
        "the two stores hold different series; turn off any source of Pharos's own in the \
         test's config.\nonly in Pharos: {}\nonly in Prometheus: {}",
        abridge(&format!("{extra:?}"), 2000),
        abridge(&format!("{missing:?}"), 2000)
    );
}

// ---------------------------------------------------------------------------------------
// Queries and answers

#[derive(Clone, Copy, Debug)]
enum Eval {
    Instant(&'static str, i64),
    Range { start: i64, end: i64, step: i64 },
}

impl Eval {
    fn describe(&self) -> String {
        match *self {
            Eval::Instant(name, _) => format!("instant@{name}"),
            Eval::Range { start, end, step } => {
                format!("range {}m at {}s step", (end - start) / 60, step)
            }
        }
    }

    fn path(&self, query: &str) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("query", query);
        match *self {
            Eval::Instant(_, t) => {
                s.append_pair("time", &t.to_string());
                format!("/api/v1/query?{}", s.finish())
            }
            Eval::Range { start, end, step } => {
                s.append_pair("start", &start.to_string())
                    .append_pair("end", &end.to_string())
                    .append_pair("step", &step.to_string());
                format!("/api/v1/query_range?{}", s.finish())
            }
        }
    }
}

async fn ask(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = match http
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return serde_json::json!({"status": "transport error", "error": e.to_string()}),
    };
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let mut v = serde_json::from_str(&text)
        .unwrap_or_else(|_| serde_json::json!({"status": "not JSON", "error": text}));
    if let Value::Object(m) = &mut v {
        m.insert("httpStatus".into(), status.into());
    }
    v
}

/// Whether PromQL defines the order of this query's result: the outermost call sorts, or
/// is a `topk`/`bottomk` over one group.
fn ordered(query: &str) -> bool {
    let q = query.trim();
    q.starts_with("sort(")
        || q.starts_with("sort_desc(")
        || ((q.starts_with("topk(") || q.starts_with("bottomk(")) && q.ends_with(')'))
}

fn num(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= ABS_TOLERANCE || diff <= REL_TOLERANCE * a.abs().max(b.abs())
}

/// A point `[t, "v"]`; times as seconds with up to millisecond precision.
fn same_point(a: &Value, b: &Value) -> bool {
    let (ta, tb) = (a[0].as_f64(), b[0].as_f64());
    let times = matches!((ta, tb), (Some(x), Some(y)) if (x - y).abs() < 5e-4);
    times
        && match (num(&a[1]), num(&b[1])) {
            (Some(x), Some(y)) => same_value(x, y),
            _ => a[1] == b[1],
        }
}

fn label_key(metric: &Value) -> String {
    let mut m: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(o) = metric.as_object() {
        for (k, v) in o {
            m.insert(k, v.as_str().unwrap_or("?"));
        }
    }
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The difference between two answers, if any.
fn compare(pharos: &Value, prom: &Value, ordered: bool) -> Option<String> {
    if pharos["status"] != prom["status"] {
        return Some(format!("status {} vs {}", pharos["status"], prom["status"]));
    }
    if prom["status"] != "success" {
        return (pharos["errorType"] != prom["errorType"]).then(|| {
            format!(
                "error type {} vs {}",
                pharos["errorType"], prom["errorType"]
            )
        });
    }
    let (a, b) = (&pharos["data"], &prom["data"]);
    if a["resultType"] != b["resultType"] {
        return Some(format!(
            "result type {} vs {}",
            a["resultType"], b["resultType"]
        ));
    }
    let (ra, rb) = (&a["result"], &b["result"]);
    match b["resultType"].as_str() {
        Some("scalar") | Some("string") => (!same_point(ra, rb)).then(|| "value".to_string()),
        Some("vector") | Some("matrix") => compare_series(ra, rb, ordered),
        _ => (ra != rb).then(|| "unknown result type".to_string()),
    }
}

/// The first point where one series' answers differ: `value` (vector) or `values` (matrix).
fn point_diff(a: &Value, b: &Value) -> Option<String> {
    if !b["value"].is_null() {
        return (!same_point(&a["value"], &b["value"]))
            .then(|| format!("{} vs {}", a["value"], b["value"]));
    }
    let empty = vec![];
    let p = a["values"].as_array().unwrap_or(&empty);
    let q = b["values"].as_array().unwrap_or(&empty);
    if let Some(i) = (0..p.len().min(q.len())).find(|&i| !same_point(&p[i], &q[i])) {
        return Some(format!("point {i}: {} vs {}", p[i], q[i]));
    }
    (p.len() != q.len()).then(|| {
        let n = p.len().min(q.len());
        format!(
            "{} vs {} points, next {} vs {}",
            p.len(),
            q.len(),
            p.get(n).map(Value::to_string).unwrap_or_default(),
            q.get(n).map(Value::to_string).unwrap_or_default()
        )
    })
}

fn compare_series(a: &Value, b: &Value, ordered: bool) -> Option<String> {
    let empty = vec![];
    let (a, b) = (
        a.as_array().unwrap_or(&empty),
        b.as_array().unwrap_or(&empty),
    );
    let index = |v: &[Value]| -> BTreeMap<String, Value> {
        v.iter()
            .map(|s| (label_key(&s["metric"]), s.clone()))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    if ia.len() != a.len() {
        return Some("Pharos returned one label set twice".into());
    }
    let only_a: Vec<&String> = ia.keys().filter(|k| !ib.contains_key(*k)).collect();
    let only_b: Vec<&String> = ib.keys().filter(|k| !ia.contains_key(*k)).collect();
    if !only_a.is_empty() || !only_b.is_empty() {
        return Some(format!(
            "series only in Pharos: {}; only in Prometheus: {}",
            abridge(&format!("{only_a:?}"), 300),
            abridge(&format!("{only_b:?}"), 300)
        ));
    }
    let differing: Vec<(&String, String)> = ib
        .iter()
        .filter_map(|(k, v)| point_diff(&ia[k], v).map(|d| (k, d)))
        .collect();
    if let Some((k, d)) = differing.first() {
        return Some(format!(
            "{} of {} series differ in values, first {k}: {d}",
            differing.len(),
            ib.len(),
        ));
    }
    // Equal values may come in any order (ties), so the order is checked by value.
    if ordered {
        let values = |v: &[Value]| -> Vec<Value> { v.iter().map(|s| s["value"].clone()).collect() };
        if !values(a)
            .iter()
            .zip(values(b).iter())
            .all(|(x, y)| same_point(x, y))
        {
            let order = |v: &[Value]| -> Vec<String> {
                v.iter().map(|s| label_key(&s["metric"])).collect()
            };
            return Some(format!(
                "order: Pharos {:?}; Prometheus {:?}",
                order(a),
                order(b)
            ));
        }
    }
    None
}

fn abridge(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn shown(v: &Value) -> String {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("httpStatus");
        if m.get("status").is_some_and(|s| s == "success") {
            return abridge(
                &m.get("data").map(Value::to_string).unwrap_or_default(),
                600,
            );
        }
    }
    abridge(&v.to_string(), 600)
}

struct Difference {
    eval: String,
    what: String,
    pharos: String,
    prometheus: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_match_prometheus() {
    let Some(bin) = prometheus_bin() else {
        println!(
            "skipped: no `prometheus` on PATH (set PROMETHEUS_BIN, or install Debian's `prometheus` package; scripts/test does)"
        );
        return;
    };
    let dir = tempdir("promql-vs-prometheus");

    // Whole minutes, a little in the past so every sample is older than now.
    let now = chrono::Utc::now().timestamp_millis();
    let end_ms = (now - 5_000).div_euclid(60_000) * 60_000;
    let start_ms = end_ms - (SAMPLES - 1) * STEP_MS;
    let series = dataset(start_ms);
    let body = write_request(&series);

    // Pharos's own sources off: both stores hold exactly what the test writes.
    let config = "metrics:\n  self_scrape_interval: 0s\n  host_metrics_interval: 0s\n";
    let (prom, pharos) = tokio::join!(
        start_prometheus(&bin, &dir),
        Pharos::start(&dir, Some(config))
    );
    let version = ask(&client(), &prom.url, "/api/v1/status/buildinfo").await["data"]["version"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    tokio::join!(
        remote_write(&prom.url, body.clone()),
        remote_write(&pharos.url, body)
    );

    same_series(&pharos.url, &prom.url, start_ms, end_ms).await;

    let end = end_ms / 1000;
    // For `@`: 7 s past a minute like the evaluation times, so that a subquery's steps
    // (multiples of its step) never fall on its range's left boundary either.
    let (at_start, at_mid, at_end) = (start_ms / 1000 + 7, end - 25 * 60 + 7, end + 7);
    let evals = [
        Eval::Instant("early", end - 38 * 60 + 7),
        Eval::Instant("mid", end - 19 * 60 + 7),
        Eval::Instant("end", end + 7),
        Eval::Instant("after", end + 3 * 60 + 7),
        Eval::Range {
            start: end - 45 * 60 + 7,
            end: end + 7,
            step: 60,
        },
    ];
    let queries: Vec<(String, String)> = QUERIES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let q = l
                .replace("${START}", &at_start.to_string())
                .replace("${MID}", &at_mid.to_string())
                .replace("${END}", &at_end.to_string());
            (l.to_string(), q)
        })
        .collect();

    let began = Instant::now();
    let http = client();
    let jobs = queries
        .iter()
        .flat_map(|(raw, q)| evals.iter().map(move |e| (raw, q, *e)));
    let answers: Vec<(String, Eval, Value, Value)> = futures_util::stream::iter(jobs)
        .map(|(raw, q, e)| {
            let (http, p_url, r_url) = (&http, &pharos.url, &prom.url);
            async move {
                let path = e.path(q);
                let (a, b) = tokio::join!(ask(http, p_url, &path), ask(http, r_url, &path));
                (raw.clone(), e, a, b)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let elapsed = began.elapsed();

    let mut differing_queries: BTreeMap<&str, Vec<Difference>> = BTreeMap::new();
    for (raw, e, a, b) in &answers {
        if let Some(what) = compare(a, b, ordered(raw) && matches!(e, Eval::Instant(..))) {
            differing_queries
                .entry(raw.as_str())
                .or_default()
                .push(Difference {
                    eval: e.describe(),
                    what,
                    pharos: shown(a),
                    prometheus: shown(b),
                });
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "PromQL vs Prometheus {version}: {} queries ({} evaluations, {:.1}s), {} identical, {} differing",
        queries.len(),
        answers.len(),
        elapsed.as_secs_f64(),
        queries.len() - differing_queries.len(),
        differing_queries.len()
    );
    // Queries answering nothing anywhere prove little; listed so a reviewer can check
    // they are meant to (absent data, errors on purpose).
    let mut answered: BTreeMap<&str, bool> = BTreeMap::new();
    for (raw, _, _, b) in &answers {
        let has = b["status"] == "success"
            && b["data"]["result"].as_array().is_none_or(|a| !a.is_empty());
        *answered.entry(raw.as_str()).or_default() |= has;
    }
    let nothing: Vec<&str> = answered
        .iter()
        .filter(|(_, h)| !**h)
        .map(|(q, _)| *q)
        .collect();
    let _ = writeln!(
        report,
        "{} queries are empty or errors at every evaluation (in both): {}",
        nothing.len(),
        nothing.join(" | ")
    );
    let known = |q: &str| {
        KNOWN_DIFFERENCES
            .iter()
            .find(|(k, _)| *k == q)
            .map(|(_, r)| *r)
    };
    let mut unexpected = 0;
    for (q, diffs) in &differing_queries {
        let reason = known(q);
        if reason.is_none() {
            unexpected += 1;
        }
        let _ = writeln!(
            report,
            "\n{} {q}\n  {}",
            if reason.is_some() { "KNOWN" } else { "DIFF " },
            reason.unwrap_or("not in KNOWN_DIFFERENCES")
        );
        for d in diffs.iter().take(2) {
            let _ = writeln!(
                report,
                "  [{}] {}\n    pharos:     {}\n    prometheus: {}",
                d.eval, d.what, d.pharos, d.prometheus
            );
        }
        if diffs.len() > 2 {
            let evals: Vec<&str> = diffs[2..].iter().map(|d| d.eval.as_str()).collect();
            let _ = writeln!(report, "  (also differs at {})", evals.join(", "));
        }
    }
    for (q, _) in KNOWN_DIFFERENCES {
        if !differing_queries.contains_key(q) {
            let _ = writeln!(report, "\nNOW SAME (remove from KNOWN_DIFFERENCES): {q}");
        }
    }
    println!("{report}");
    if let Some(secs) = std::env::var("PROMQL_VS_PROMETHEUS_HOLD")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        println!(
            "holding for {secs}s: pharos {} (token {TOKEN}), prometheus {}; data from {} to {end}",
            pharos.url,
            prom.url,
            start_ms / 1000
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    drop(pharos);
    drop(prom);
    if unexpected == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(
        unexpected, 0,
        "{unexpected} queries answer differently from Prometheus (see above)"
    );
}
