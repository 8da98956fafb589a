//! End to end for collecting: JSON targets (a `/health` and a `/metrics` answering JSON,
//! as the Python services of the seeds have them) scraped and queried with PromQL, a
//! garbage body failing the target with the reason, and scrape jobs made through
//! `/api/v1/scrape_jobs` — scraping with credentials, surviving reload and restart,
//! refused on a name clash with the config, deleted — without their credentials ever
//! appearing in an answer, a log line or the data directory.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "scrape-pass-7f3a9c21e8";

/// A Flask-like app: `/metrics` answering a JSON object of counters (seed 002),
/// `/garbage` answering an HTML page, and `/private/metrics` in the exposition format
/// behind basic auth.
async fn app() -> std::net::SocketAddr {
    let router = Router::new()
        .route(
            "/metrics",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"timestamp": "2025-10-06T12:00:00.000Z",
                        "application": {"requests": {"total": 1523, "errors": 12, "error_rate": 0.008},
                                        "uptime_seconds": 86400},
                        "endpoints": {"/api/leads": {"requests": 450, "errors": 3},
                                      "/api/customers": {"requests": 320, "errors": 1}},
                        "system": {"memory": {"percent": 50.0}}}"#,
                )
            }),
        )
        .route(
            "/garbage",
            get(|| async {
                (
                    [("content-type", "text/html")],
                    "<html><body>Internal error</body></html>",
                )
            }),
        )
        .route(
            "/private/metrics",
            get(|headers: HeaderMap| async move {
                let want = format!(
                    "Basic {}",
                    base64(format!("scraper:{PASSWORD}").as_bytes())
                );
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&want) {
                    return (StatusCode::UNAUTHORIZED, "who are you").into_response();
                }
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    "# HELP orders_total Orders taken.\n# TYPE orders_total counter\norders_total 42\n",
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn one_value(r: &Value, want: f64) -> bool {
    r.as_array().is_some_and(|a| a.len() == 1) && promql_value(r) == Some(want)
}

async fn target_of(p: &Pharos, job: &str) -> Option<Value> {
    let t = p.get("/api/v1/targets").await;
    t["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scrapePool"] == job)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_targets_become_series_and_garbage_fails_the_target() {
    let dir = tempdir("scrape-json");
    let health = target().await;
    let app = app().await;
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: crm_health
    metrics_path: /health
    static_configs:
      - targets: ['{health}']
        labels: {{ service: crm }}
    json:
      - path: queue_size
        name: app_queue_size
        help: Updates waiting in the queue.
      - path: checks.database.latency_ms
        name: app_database_latency_ms
      - path: status
        name: app_healthy
        values: {{ healthy: 1, degraded: 0.5, unhealthy: 0 }}
      - path: checks.{{check}}.status
        name: app_check_healthy
        values: {{ healthy: 1, down: 0 }}
  - job_name: crm_metrics
    static_configs:
      - targets: ['{app}']
    json:
      - path: application.requests.total
        name: app_requests_total
        type: counter
        help: Requests served.
      - path: endpoints.{{endpoint}}.requests
        name: app_endpoint_requests_total
        type: counter
    metric_relabel_configs:
      - source_labels: [endpoint]
        regex: '/api/(.*)'
        target_label: endpoint
  - job_name: crm_garbage
    metrics_path: /garbage
    static_configs:
      - targets: ['{app}']
    json:
      - path: queue_size
"#,
        health = health.addr
    );
    let p = Pharos::start(&dir, Some(&config)).await;

    // Seed 004's /health: numbers, a nested path, and a status mapped by `values:`.
    wait_promql(
        &p,
        r#"app_queue_size{job="crm_health",service="crm"}"#,
        15,
        |r| one_value(r, 3.0),
    )
    .await;
    let v = promql(&p, "app_database_latency_ms").await;
    assert!(one_value(&v["data"]["result"], 12.0), "{v}");
    let v = promql(&p, "app_healthy").await;
    assert!(one_value(&v["data"]["result"], 1.0), "{v}");
    let v = promql(&p, r#"app_check_healthy{check="database"}"#).await;
    assert!(one_value(&v["data"]["result"], 1.0), "{v}");
    let v = promql(&p, r#"up{job="crm_health"}"#).await;
    assert!(one_value(&v["data"]["result"], 1.0), "{v}");
    let labels = &v["data"]["result"][0]["metric"];
    assert_eq!(labels["instance"], health.addr.to_string());
    assert_eq!(labels["service"], "crm");
    wait_promql(&p, r#"scrape_samples_scraped{job="crm_health"}"#, 5, |r| {
        one_value(r, 4.0)
    })
    .await;
    let v = promql(&p, r#"scrape_duration_seconds{job="crm_health"}"#).await;
    assert!(promql_value(&v["data"]["result"]).is_some(), "{v}");

    // Seed 002's /metrics: counters per endpoint, the label rewritten by relabelling.
    let v = wait_promql(&p, "app_endpoint_requests_total", 10, |r| {
        r.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let mut endpoints: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["endpoint"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        vec![
            ("customers".into(), "320".into()),
            ("leads".into(), "450".into())
        ]
    );
    let v = promql(&p, r#"app_requests_total{job="crm_metrics"}"#).await;
    assert!(one_value(&v["data"]["result"], 1523.0), "{v}");

    // Metadata from the specs.
    let m = p.get("/api/v1/metadata?metric=app_queue_size").await;
    assert_eq!(m["data"]["app_queue_size"][0]["type"], "gauge", "{m}");
    assert_eq!(
        m["data"]["app_queue_size"][0]["help"],
        "Updates waiting in the queue."
    );
    let m = p.get("/api/v1/metadata?metric=app_requests_total").await;
    assert_eq!(m["data"]["app_requests_total"][0]["type"], "counter", "{m}");

    // An HTML page where JSON was expected: down, with the reason.
    wait_promql(&p, r#"up{job="crm_garbage"}"#, 10, |r| one_value(r, 0.0)).await;
    let t = target_of(&p, "crm_garbage").await.unwrap();
    assert_eq!(t["health"], "down");
    let err = t["lastError"].as_str().unwrap();
    assert!(
        err.contains("not valid JSON") && err.contains("text/html"),
        "{err}"
    );

    // The health endpoint starts answering broken JSON: down, and its series end.
    health.set(Mode::BadJson);
    wait_promql(&p, r#"up{job="crm_health"}"#, 10, |r| one_value(r, 0.0)).await;
    let t = target_of(&p, "crm_health").await.unwrap();
    assert!(
        t["lastError"].as_str().unwrap().contains("not valid JSON"),
        "{t}"
    );
    wait_promql(&p, "app_queue_size", 10, |r| {
        r.as_array().is_some_and(|a| a.is_empty())
    })
    .await;
    health.set(Mode::Healthy);
    wait_promql(&p, "app_queue_size", 10, |r| one_value(r, 3.0)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn job_body(app: std::net::SocketAddr) -> Value {
    json!({
        "job_name": "orders",
        "scrape_interval": "1s",
        "metrics_path": "/private/metrics",
        "static_configs": [{"targets": [app.to_string()], "labels": {"team": "shop"}}],
        "basic_auth": {"username": "scraper", "password": PASSWORD},
    })
}

/// Every file under `dir`, recursively, searched for `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

async fn wait_job_gone_from_targets(p: &Pharos, job: &str) {
    p.wait_until(
        Duration::from_secs(10),
        &format!("{job} to be gone from /api/v1/targets"),
        async || match target_of(p, job).await {
            None => Ok(()),
            Some(t) => Err(t),
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_jobs_through_the_api_survive_reload_and_restart() {
    let dir = tempdir("scrape-api");
    let app = app().await;
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: crm_metrics
    static_configs:
      - targets: ['{app}']
    json:
      - path: application.requests.total
        name: app_requests_total
"#
    );
    let p = Pharos::start(&dir, Some(&config)).await;
    let url = format!("{}/api/v1/scrape_jobs", p.url);

    // Writes need the admin token.
    let r = client()
        .post(&url)
        .json(&job_body(app))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Refusals name the field at fault, or the job the name belongs to.
    for (body, field) in [
        (json!({"static_configs": []}), "job_name"),
        (
            json!({"job_name": "x", "scrape_interval": "soon"}),
            "scrape_interval",
        ),
        (
            json!({"job_name": "x", "static_configs": [{"targets": ["http://a:1/metrics"]}]}),
            "static_configs[0]",
        ),
        (
            json!({"job_name": "x", "kubernetes_sd_configs": [{}]}),
            "kubernetes_sd_configs",
        ),
        (
            json!({"job_name": "x", "json": [{"path": "a..b"}]}),
            "json[0]",
        ),
        (
            json!({"job_name": "x", "basic_auth": {"username": "u", "password": "<secret>"}}),
            "basic_auth.password",
        ),
    ] {
        let (code, v) = p
            .send(Method::POST, "/api/v1/scrape_jobs", Some(body.clone()))
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    let mut clash = job_body(app);
    clash["job_name"] = json!("crm_metrics");
    let (code, v) = p
        .send(Method::POST, "/api/v1/scrape_jobs", Some(clash))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("config file"), "{v}");

    // Created: scraped with its credentials, which no answer shows.
    let (code, v) = p
        .send(Method::POST, "/api/v1/scrape_jobs", Some(job_body(app)))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["source"], "api");
    assert_eq!(v["spec"]["basic_auth"]["password"], "<secret>");
    assert_eq!(v["spec"]["basic_auth"]["username"], "scraper");
    let (code, v) = p
        .send(Method::POST, "/api/v1/scrape_jobs", Some(job_body(app)))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    wait_promql(&p, r#"orders_total{job="orders",team="shop"}"#, 15, |r| {
        one_value(r, 42.0)
    })
    .await;
    let v = promql(&p, r#"up{job="orders"}"#).await;
    assert!(one_value(&v["data"]["result"], 1.0), "{v}");
    let list = p.get("/api/v1/scrape_jobs").await;
    let jobs: Vec<(String, String)> = list["scrape_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["job_name"].as_str().unwrap().to_string(),
                j["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        vec![
            ("crm_metrics".into(), "config".into()),
            ("orders".into(), "api".into())
        ]
    );
    assert!(target_of(&p, "crm_metrics").await.is_some());
    let one = p.get("/api/v1/scrape_jobs/orders").await;
    assert_eq!(one["targets"][0]["health"], "up", "{one}");
    assert!(!list.to_string().contains(PASSWORD));
    assert!(!one.to_string().contains(PASSWORD));

    // PATCH keeps the stored password when the answer's `<secret>` is sent back.
    let (code, v) = p
        .send(
            Method::PATCH,
            "/api/v1/scrape_jobs/orders",
            Some(json!({"scrape_interval": "2s", "basic_auth": {"password": "<secret>"}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["scrape_interval"], "2s");
    // A PUT without the credentials drops them: the target refuses the scrape.
    let mut bare = job_body(app);
    bare.as_object_mut().unwrap().remove("basic_auth");
    let (code, v) = p
        .send(Method::PUT, "/api/v1/scrape_jobs/orders", Some(bare))
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    wait_promql(&p, r#"up{job="orders"}"#, 10, |r| one_value(r, 0.0)).await;
    let (code, v) = p
        .send(
            Method::PUT,
            "/api/v1/scrape_jobs/orders",
            Some(job_body(app)),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    wait_promql(&p, r#"up{job="orders"}"#, 10, |r| one_value(r, 1.0)).await;
    // Config jobs change in the file.
    let (code, _) = p
        .send(
            Method::PATCH,
            "/api/v1/scrape_jobs/crm_metrics",
            Some(json!({"scrape_interval": "5s"})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = p
        .send(Method::DELETE, "/api/v1/scrape_jobs/crm_metrics", None)
        .await;
    assert_eq!(code, StatusCode::CONFLICT);

    // A reload keeps the API job; a config taking its name is refused and changes nothing.
    let (code, v) = p.send(Method::POST, "/-/reload", None).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(p.get("/api/v1/scrape_jobs/orders").await["source"], "api");
    let config_path = p.config.clone().unwrap();
    std::fs::write(
        &config_path,
        format!("{config}  - job_name: orders\n    static_configs: [{{targets: ['{app}']}}]\n"),
    )
    .unwrap();
    let (code, v) = p.send(Method::POST, "/-/reload", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("\"orders\""), "{v}");
    assert_eq!(p.get("/api/v1/scrape_jobs/orders").await["source"], "api");
    std::fs::write(&config_path, &config).unwrap();

    // A restart finds the job, its password unsealed from the store.
    let port = p.port;
    let mut p = p;
    p.kill9();
    let p = Pharos::start_with(&dir, Some(config_path), port).await;
    let one = p.get("/api/v1/scrape_jobs/orders").await;
    assert_eq!(one["source"], "api", "{one}");
    assert_eq!(one["scrape_interval"], "1s");
    p.wait_until(
        Duration::from_secs(15),
        "orders to be up after the restart",
        async || {
            let t = target_of(&p, "orders").await;
            if t.as_ref().is_some_and(|t| t["health"] == "up") {
                Ok(())
            } else {
                Err(format!("{t:?}"))
            }
        },
    )
    .await;

    // Deleted: gone from the jobs and the targets, and not back after a restart.
    let (code, _) = p
        .send(Method::DELETE, "/api/v1/scrape_jobs/orders", None)
        .await;
    assert_eq!(code, StatusCode::NO_CONTENT);
    let (code, _) = p
        .send(Method::GET, "/api/v1/scrape_jobs/orders", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = p
        .send(Method::DELETE, "/api/v1/scrape_jobs/orders", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    wait_job_gone_from_targets(&p, "orders").await;
    let config_path = p.config.clone().unwrap();
    let mut p = p;
    p.kill9();
    let p = Pharos::start_with(&dir, Some(config_path), port).await;
    let (code, _) = p
        .send(Method::GET, "/api/v1/scrape_jobs/orders", None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The password is in no log line and nowhere in the data directory in clear.
    assert!(!p.log_text().contains(PASSWORD));
    let leaked = files_containing(&p.data_dir, PASSWORD.as_bytes());
    assert!(leaked.is_empty(), "password in clear in {leaked:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Regression: a target whose HTTP client could not be built (an unreadable `ca_file`)
/// was left out of `/api/v1/targets` altogether, so nothing said why it was not scraped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_cannot_start_is_listed_down_with_the_reason() {
    let dir = tempdir("scrape-badca");
    let config = "scrape_configs:\n  - job_name: badca\n    scheme: https\n    tls_config: {ca_file: /nonexistent/ca.pem}\n    static_configs: [{targets: ['127.0.0.1:9']}]\n";
    let p = Pharos::start(&dir, Some(config)).await;
    let t = target_of(&p, "badca").await.expect("the target is listed");
    assert_eq!(t["health"], "down", "{t}");
    assert!(
        t["lastError"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/ca.pem"),
        "{t}"
    );
}
