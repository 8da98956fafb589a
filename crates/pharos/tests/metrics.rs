//! End to end for metrics: a `prometheus.yml`-style scrape job against a local app,
//! the Prometheus HTTP API answering PromQL over what was scraped, remote_write in,
//! staleness when a target breaks, Pharos's own metrics, and remote-written samples
//! surviving `kill -9`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use pharos_ingest::prometheus::remote_write::{
    Label, ProtoSample, TimeSeries, WriteRequest, encode,
};
use serde_json::Value;

/// A fake app exposing `prometheus_client`-style metrics; `body` can be swapped.
async fn app(body: Arc<Mutex<String>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(b): State<Arc<Mutex<String>>>| async move {
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    b.lock().unwrap().clone(),
                )
                    .into_response()
            }),
        )
        .with_state(body);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn exposition(requests: u64) -> String {
    format!(
        "# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n\
         http_requests_total{{method=\"get\",code=\"200\"}} {requests}\n\
         http_requests_total{{method=\"get\",code=\"500\"}} {}\n\
         # TYPE request_latency_seconds histogram\n\
         request_latency_seconds_bucket{{le=\"0.1\"}} 50\nrequest_latency_seconds_bucket{{le=\"1\"}} 90\n\
         request_latency_seconds_bucket{{le=\"+Inf\"}} 100\nrequest_latency_seconds_sum 20\nrequest_latency_seconds_count 100\n\
         # TYPE go_goroutines gauge\ngo_goroutines 8\n",
        requests / 10
    )
}

fn value(r: &Value) -> f64 {
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_query_remote_write_and_staleness() {
    let dir = tempdir("metrics");
    let body = Arc::new(Mutex::new(exposition(100)));
    let addr = app(body.clone()).await;
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['{addr}']
        labels: {{ env: test }}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
metrics:
  self_scrape_interval: 1s
"#
    );
    let mut p = Pharos::start(&dir, Some(&config)).await;

    // The target is up, its series carry job, instance and the group's labels.
    wait_promql(&p, r#"up{job="app"}"#, 15, |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 1 && value(r) == 1.0)
    })
    .await;
    let v = promql(&p, "http_requests_total").await;
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{v}");
    assert_eq!(series[0]["metric"]["env"], "test");
    assert_eq!(series[0]["metric"]["instance"], addr.to_string());
    // Metric relabelling dropped go_*.
    assert!(
        promql(&p, "go_goroutines").await["data"]["result"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Counters grow: rate() and the seed-003 error ratio.
    for n in 1..=4u64 {
        *body.lock().unwrap() = exposition(100 + n * 100);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let v = wait_promql(&p, "sum(rate(http_requests_total[10s]))", 10, |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert!(value(&v["data"]["result"]) > 0.0, "{v}");
    let v = promql(
        &p,
        r#"sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))"#,
    )
    .await;
    let ratio = value(&v["data"]["result"]);
    assert!((ratio - 1.0 / 11.0).abs() < 0.02, "error ratio {ratio}");
    let v = promql(
        &p,
        "histogram_quantile(0.95, sum by (le) (rate(request_latency_seconds_bucket[10s])))",
    )
    .await;
    assert_eq!(v["status"], "success", "{v}");
    let v = promql(
        &p,
        "histogram_quantile(0.5, request_latency_seconds_bucket)",
    )
    .await;
    assert!((value(&v["data"]["result"]) - 0.1).abs() < 1e-9, "{v}");

    // The rest of the API Grafana uses.
    let end = chrono::Utc::now().timestamp();
    let v = p
        .get(&format!(
            "/api/v1/query_range?query=up&start={}&end={end}&step=1",
            end - 5
        ))
        .await;
    assert_eq!(v["data"]["resultType"], "matrix");
    let v = p.get("/api/v1/labels").await;
    assert!(
        v["data"].as_array().unwrap().iter().any(|l| l == "env"),
        "{v}"
    );
    let v = p.get("/api/v1/label/job/values").await;
    assert!(
        v["data"].as_array().unwrap().iter().any(|l| l == "app")
            && v["data"].as_array().unwrap().iter().any(|l| l == "pharos"),
        "{v}"
    );
    let v = p
        .get(&format!(
            "/api/v1/series?match[]={}",
            url_escape(r#"http_requests_total{code="500"}"#)
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    let v = p.get("/api/v1/metadata?metric=http_requests_total").await;
    assert_eq!(
        v["data"]["http_requests_total"][0]["type"], "counter",
        "{v}"
    );
    let v = p.get("/api/v1/targets").await;
    assert_eq!(v["data"]["activeTargets"][0]["health"], "up", "{v}");
    assert_eq!(p.get("/api/v1/status/buildinfo").await["status"], "success");

    // Errors as Prometheus gives them.
    let (code, v) = p
        .send(reqwest::Method::GET, "/api/v1/query?query=sum(", None)
        .await;
    assert_eq!(
        (code.as_u16(), v["errorType"].as_str()),
        (400, Some("bad_data")),
        "{v}"
    );
    let (code, v) = p
        .send(
            reqwest::Method::GET,
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            None,
        )
        .await;
    assert_eq!(code.as_u16(), 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("11,000 points"),
        "{v}"
    );

    // Pharos's own metrics are in the store.
    wait_promql(&p, r#"pharos_http_requests_total{job="pharos"}"#, 10, |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;

    // remote_write: stored and queryable; bad bodies refused.
    let now = chrono::Utc::now().timestamp_millis();
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "pushed_metric".into(),
                },
                Label {
                    name: "source".into(),
                    value: "agent".into(),
                },
            ],
            samples: vec![
                ProtoSample {
                    value: 42.0,
                    timestamp: now - 1000,
                },
                ProtoSample {
                    value: 43.0,
                    timestamp: now,
                },
            ],
            histograms: vec![],
        }],
        metadata: vec![],
    };
    let r = client()
        .post(format!("{}/api/v1/write", p.url))
        .bearer_auth(TOKEN)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(encode(&req))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let r = client()
        .post(format!("{}/api/v1/write", p.url))
        .bearer_auth(TOKEN)
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(format!("{}/api/v1/write", p.url))
        .body(encode(&req))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "remote_write needs the token");
    assert_eq!(
        value(&promql(&p, "pushed_metric").await["data"]["result"]),
        43.0
    );

    // A target answering garbage is down, and its series go stale at once.
    *body.lock().unwrap() = "<html>oops</html>".into();
    wait_promql(&p, r#"up{job="app"}"#, 10, |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 1 && value(r) == 0.0)
    })
    .await;
    let v = wait_promql(&p, "http_requests_total", 5, |r| {
        r.as_array().is_some_and(|a| a.is_empty())
    })
    .await;
    assert_eq!(v["status"], "success");
    let v = p.get("/api/v1/targets").await;
    assert!(
        v["data"]["activeTargets"][0]["lastError"]
            .as_str()
            .unwrap()
            .contains("parse error"),
        "{v}"
    );

    // kill -9: acknowledged remote-written samples are still there.
    p.kill9();
    let p = Pharos::start_with(&dir, p.config.clone(), free_port()).await;
    assert_eq!(
        value(&promql(&p, "pushed_metric").await["data"]["result"]),
        43.0
    );
}

/// Monitors and the machine itself are series too: a rule or dashboard over
/// `probe_success`, a JSON health value or `node_memory_MemAvailable_bytes` needs no
/// exporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_results_and_host_metrics_are_series() {
    let dir = tempdir("probe-series");
    let t = target().await;
    let config = format!(
        r#"
monitors:
  - id: worker
    name: Worker health
    interval: 1s
    http:
      url: {}
      record_numbers: [queue_size, checks.database.latency_ms]
metrics:
  host_metrics_interval: 1s
"#,
        t.url("/health")
    );
    let p = Pharos::start(&dir, Some(&config)).await;
    let v = wait_promql(&p, r#"probe_success{monitor="Worker health"}"#, 15, |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let m = &v["data"]["result"][0]["metric"];
    assert_eq!(
        (
            m["job"].as_str(),
            m["monitor_id"].as_str(),
            m["type"].as_str()
        ),
        (Some("monitors"), Some("worker"), Some("http")),
        "{v}"
    );
    assert_eq!(value(&v["data"]["result"]), 1.0);
    let v = wait_promql(&p, r#"probe_json_value{path="queue_size"}"#, 10, |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_eq!(value(&v["data"]["result"]), 3.0);
    let v = promql(&p, r#"probe_http_status_code{monitor_id="worker"}"#).await;
    assert_eq!(value(&v["data"]["result"]), 200.0, "{v}");

    // A failing target: probe_success drops to 0, the JSON values follow the body.
    t.set(Mode::Unhealthy);
    wait_promql(
        &p,
        r#"probe_json_value{path="checks.database.latency_ms"}"#,
        10,
        |r| {
            r.as_array()
                .is_some_and(|a| a.len() == 1 && value(r) == 900.0)
        },
    )
    .await;

    // Host metrics with node_exporter's names: seed 001's "memory > 90 %" and seed 004's
    // "disk free < 20 %" are plain PromQL.
    let v = wait_promql(
        &p,
        r#"1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes"#,
        10,
        |r| r.as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    let used = value(&v["data"]["result"]);
    assert!((0.0..1.0).contains(&used), "{v}");
    let v = promql(
        &p,
        r#"node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"}"#,
    )
    .await;
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
    let v = wait_promql(&p, "sum(rate(node_cpu_seconds_total[5s]))", 10, |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert!(value(&v["data"]["result"]) > 0.0, "{v}");
}

/// The issue's bad input: a 100 MB page, a flood of distinct label values, a year at 1 s
/// steps, a regex too big to compile. Each gets an error naming its limit, and what was
/// stored before is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_limit_named_and_the_store_unharmed() {
    let dir = tempdir("metrics-limits");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let big = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            // 100 MB of valid exposition text, streamed.
            let line = "big_metric{i=\"0\"} 1\n".repeat(50_000);
            let chunk = axum::body::Bytes::from(line);
            let n = 100 * 1024 * 1024 / chunk.len();
            let stream = futures_util::stream::iter(
                (0..n).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            axum::body::Body::from_stream(stream)
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let config = format!(
        r#"
scrape_configs:
  - job_name: huge
    scrape_interval: 2s
    static_configs: [{{ targets: ['{big}'] }}]
metrics:
  max_series: 2000
  self_scrape_interval: 0s
  host_metrics_interval: 0s
"#
    );
    let p = Pharos::start(&dir, Some(&config)).await;

    // Something stored first, to check it survives the rest.
    let now = chrono::Utc::now().timestamp_millis();
    let series = |name: &str, n: usize| WriteRequest {
        timeseries: (0..n)
            .map(|i| TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: name.into(),
                    },
                    Label {
                        name: "user_id".into(),
                        value: i.to_string(),
                    },
                ],
                samples: vec![ProtoSample {
                    value: i as f64,
                    timestamp: now,
                }],
                histograms: vec![],
            })
            .collect(),
        metadata: vec![],
    };
    let push = |req: WriteRequest| {
        let url = format!("{}/api/v1/write", p.url);
        async move {
            let r = client()
                .post(url)
                .bearer_auth(TOKEN)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(encode(&req))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(push(series("kept", 10)).await.0, 204);

    // Exploding label values: refused past max_series, with the limit named.
    let (code, text) = push(series("exploding", 5000)).await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("max_series"), "{text}");

    // A 100 MB page: the scrape fails on the body limit, the target is down.
    let v = p
        .wait_until(
            Duration::from_secs(30),
            "the huge target to fail",
            async || {
                let v = p.get("/api/v1/targets").await;
                let t = &v["data"]["activeTargets"][0];
                if t["health"] == "down" { Ok(v) } else { Err(v) }
            },
        )
        .await;
    let err = v["data"]["activeTargets"][0]["lastError"].as_str().unwrap();
    assert!(err.contains("body_size_limit"), "{err}");

    // A year at 1 s steps: refused by the points limit, named.
    let (code, v) = p
        .send(
            reqwest::Method::GET,
            "/api/v1/query_range?query=kept&start=0&end=31536000&step=1",
            None,
        )
        .await;
    assert_eq!(code.as_u16(), 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("11,000 points"),
        "{v}"
    );

    // A regex too big to compile, and one Prometheus's RE2 refuses too.
    for re in ["(a{1000}){1000}", "(?=x)y"] {
        let q = format!(r#"kept{{user_id=~"{re}"}}"#);
        let (code, v) = p
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/query?query={}", url_escape(&q)),
                None,
            )
            .await;
        assert_eq!(
            (code.as_u16(), v["errorType"].as_str()),
            (400, Some("bad_data")),
            "{q}: {v}"
        );
    }

    // The store is unharmed: the first series are all there.
    let v = promql(&p, "count(kept)").await;
    assert_eq!(value(&v["data"]["result"]), 10.0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pharos_s_own_scrape_over_its_sample_limit_is_down_with_the_reason() {
    let dir = tempdir("self-scrape-limit");
    let config = r#"
metrics:
  self_scrape_interval: 1s
  self_scrape_sample_limit: 10
  host_metrics_interval: 0s
"#;
    let p = Pharos::start(&dir, Some(config)).await;
    let v = p
        .wait_until(
            Duration::from_secs(15),
            "job pharos to be scraped and refused",
            async || {
                let v = p.get("/api/v1/targets").await;
                let pharos = v["data"]["activeTargets"]
                    .as_array()
                    .and_then(|a| a.iter().find(|t| t["scrapePool"] == "pharos").cloned());
                match pharos {
                    Some(t) if t["health"] == "down" => Ok(t),
                    _ => Err(v),
                }
            },
        )
        .await;
    assert_eq!(
        v["lastError"], "sample limit exceeded: more than 10 samples (sample_limit)",
        "{v}"
    );
    wait_promql(&p, r#"up{job="pharos"}"#, 10, |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 1 && value(r) == 0.0)
    })
    .await;
    let v = promql(&p, r#"pharos_http_requests_total{job="pharos"}"#).await;
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_limits_answer_as_prometheus_does() {
    let dir = tempdir("query-limits");
    let config = r#"
metrics:
  self_scrape_interval: 0s
  host_metrics_interval: 0s
  query_timeout: 1s
  query_max_concurrency: 1
  query_max_samples: 1000
"#;
    let p = Pharos::start(&dir, Some(config)).await;
    // A quantile over 60,000 subquery points at each of 10,800 steps: far more than a
    // second of work, so every query runs into its timeout.
    let end = chrono::Utc::now().timestamp();
    let path = format!(
        "/api/v1/query_range?query={}&start={}&end={end}&step=1",
        url_escape("quantile_over_time(0.5, vector(time())[10m:10ms])"),
        end - 3 * 3600 + 1
    );
    let started = std::time::Instant::now();
    let (a, b, c) = tokio::join!(
        p.send(reqwest::Method::GET, &path, None),
        p.send(reqwest::Method::GET, &path, None),
        p.send(reqwest::Method::GET, &path, None),
    );
    let took = started.elapsed();
    let answers = [a, b, c];
    for (code, v) in &answers {
        assert_eq!(
            (code.as_u16(), v["errorType"].as_str()),
            (503, Some("timeout")),
            "{v}"
        );
    }
    let errors: Vec<&str> = answers
        .iter()
        .map(|(_, v)| v["error"].as_str().unwrap())
        .collect();
    // One query holds the only slot until its time is up; of the two waiting, at most
    // one gets the slot in time, so at least one times out in the queue.
    assert!(
        errors.contains(&"query timed out in expression evaluation"),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"query timed out in query queue"),
        "{errors:?}"
    );
    assert!(took < Duration::from_secs(10), "answered after {took:?}");

    // Past query_max_samples: Prometheus's kind, message and status.
    let now = chrono::Utc::now().timestamp_millis();
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "many".into(),
            }],
            samples: (0..1500)
                .map(|i| ProtoSample {
                    value: i as f64,
                    timestamp: now - (1500 - i) * 1000,
                })
                .collect(),
            histograms: vec![],
        }],
        metadata: vec![],
    };
    let r = client()
        .post(format!("{}/api/v1/write", p.url))
        .bearer_auth(TOKEN)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(encode(&req))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (code, v) = p
        .send(
            reqwest::Method::GET,
            &format!(
                "/api/v1/query?query={}",
                url_escape("count_over_time(many[1h])")
            ),
            None,
        )
        .await;
    assert_eq!(
        (code.as_u16(), v["errorType"].as_str(), v["error"].as_str()),
        (
            422,
            Some("execution"),
            Some("query processing would load too many samples into memory in query execution")
        ),
        "{v}"
    );
    let (code, v) = p
        .send(
            reqwest::Method::GET,
            &format!(
                "/api/v1/query?query={}",
                url_escape("count_over_time(many[10m])")
            ),
            None,
        )
        .await;
    assert_eq!(code.as_u16(), 200, "{v}");
}
