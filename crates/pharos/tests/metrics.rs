//! End to end for metrics: a `prometheus.yml`-style scrape job against a local app,
//! the Prometheus HTTP API answering PromQL over what was scraped, remote_write in,
//! staleness when a target breaks, Pharos's own metrics, and remote-written samples
//! surviving `kill -9`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

async fn query(p: &Pharos, q: &str) -> Value {
    let url = format!("/api/v1/query?query={}", url_escape(q));
    p.get(&url).await
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn wait_query(p: &Pharos, q: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = query(p, q).await;
        if pred(&v["data"]["result"]) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{q} never matched; last: {v}\nlog: {}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    wait_query(&p, r#"up{job="app"}"#, 15, |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 1 && value(r) == 1.0)
    })
    .await;
    let v = query(&p, "http_requests_total").await;
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{v}");
    assert_eq!(series[0]["metric"]["env"], "test");
    assert_eq!(series[0]["metric"]["instance"], addr.to_string());
    // Metric relabelling dropped go_*.
    assert!(
        query(&p, "go_goroutines").await["data"]["result"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Counters grow: rate() and the seed-003 error ratio.
    for n in 1..=4u64 {
        *body.lock().unwrap() = exposition(100 + n * 100);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let v = wait_query(&p, "sum(rate(http_requests_total[10s]))", 10, |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert!(value(&v["data"]["result"]) > 0.0, "{v}");
    let v = query(
        &p,
        r#"sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))"#,
    )
    .await;
    let ratio = value(&v["data"]["result"]);
    assert!((ratio - 1.0 / 11.0).abs() < 0.02, "error ratio {ratio}");
    let v = query(
        &p,
        "histogram_quantile(0.95, sum by (le) (rate(request_latency_seconds_bucket[10s])))",
    )
    .await;
    assert_eq!(v["status"], "success", "{v}");
    let v = query(
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
    wait_query(&p, r#"pharos_http_requests_total{job="pharos"}"#, 10, |r| {
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
        value(&query(&p, "pushed_metric").await["data"]["result"]),
        43.0
    );

    // A target answering garbage is down, and its series go stale at once.
    *body.lock().unwrap() = "<html>oops</html>".into();
    wait_query(&p, r#"up{job="app"}"#, 10, |r| {
        r.as_array()
            .is_some_and(|a| a.len() == 1 && value(r) == 0.0)
    })
    .await;
    let v = wait_query(&p, "http_requests_total", 5, |r| {
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
        value(&query(&p, "pushed_metric").await["data"]["result"]),
        43.0
    );
}
