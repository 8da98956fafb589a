//! End to end for the built-in dashboards: a fresh Pharos with no config lists them, and
//! once its first scrapes are in, every panel of the host and Pharos dashboards has a
//! query answering with at least one series, except the panels that count what a fresh
//! install has not received yet. After a monitor, a Sentry envelope and log lines arrive,
//! the probes, error-tracking and logs dashboards fill too. The pages draw them with no
//! `{}` legend. Pharos's own gauges are stored with real values without anyone fetching
//! `/metrics`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Panels of the host and Pharos dashboards that stay empty until Pharos is used: their
/// counters appear with the first Sentry envelope, log line or notification.
const EMPTY_UNTIL_USED: [&str; 3] = [
    "Sentry envelopes",
    "Log lines received",
    "Notification deliveries",
];

/// Panels this test gives nothing to count: no HTTPS monitor, no client report, no log
/// rule, no receiver.
const NOTHING_TO_COUNT_HERE: [&str; 4] = [
    "TLS certificate days left",
    "Dropped by SDKs",
    "Log rule matches",
    "Notification deliveries",
];

/// A dashboard query as the page runs it over the last hour at a 15 s step.
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
}

async fn panels(p: &Pharos, id: &str) -> Vec<Value> {
    let d = p.get(&format!("/api/v1/dashboards/{id}")).await;
    assert_eq!(d["source"]["kind"], "builtin", "{d}");
    d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["panels"].as_array().unwrap().clone())
        .collect()
}

/// Waits until each panel of `id` but those in `skip` has a query answering with a
/// series (rates need two scrapes 15 s apart inside their window).
async fn panels_show_data(p: &Pharos, id: &str, skip: &[&str]) {
    let panels = panels(p, id).await;
    assert!(panels.len() >= 8, "{id}: {} panels", panels.len());
    for panel in &panels {
        let title = panel["title"].as_str().unwrap();
        if skip.contains(&title) {
            continue;
        }
        let queries: Vec<String> = panel["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| expand(t["expr"].as_str().unwrap()))
            .collect();
        p.wait_until(
            Duration::from_secs(60),
            &format!("{id}: panel {title:?} to show data ({queries:?})"),
            async || {
                for q in &queries {
                    let v = promql(p, q).await;
                    if v["data"]["result"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
                    {
                        return true;
                    }
                }
                false
            },
        )
        .await;
    }
    let page = p.page(&format!("/dashboards/{id}?range=5m")).await;
    assert!(page.contains("data-testid=\"builtin\""), "{page}");
    assert!(page.contains("class=\"series\""), "{id}: no line drawn");
    assert!(
        !page.contains(">{}<"),
        "{id}: a series is labelled {{}}: {page}"
    );
}

#[tokio::test]
async fn builtin_dashboards_show_data_on_a_fresh_install_and_once_used() {
    let dir = tempdir("builtin-dashboards");
    let p = Pharos::start(&dir, None).await;

    let list = p.get("/api/v1/dashboards").await;
    let builtin: Vec<&str> = list["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "builtin")
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(
        builtin,
        [
            "pharos-host",
            "pharos-self",
            "pharos-probes",
            "pharos-errors",
            "pharos-logs"
        ],
        "{list}"
    );

    // The self-scrape reads the registry in-process: the gauges `GET /metrics` fills
    // (memory, start time, storage) were stored as 0 until someone fetched /metrics, and
    // the Pharos dashboard said "Up for 20795 d". Nothing here fetches /metrics.
    for q in [
        "process_resident_memory_bytes{job=\"pharos\"} > 1e6",
        "time() - process_start_time_seconds{job=\"pharos\"} < 3600",
        "pharos_storage_bytes{job=\"pharos\"} > 0",
    ] {
        wait_promql(&p, q, 30, |r| r.as_array().is_some_and(|a| !a.is_empty())).await;
    }

    panels_show_data(&p, "pharos-host", &[]).await;
    panels_show_data(&p, "pharos-self", &EMPTY_UNTIL_USED).await;

    // Used: a monitor checking Pharos itself, an error, a transaction and a session from
    // a Sentry SDK, two log lines.
    let (status, v) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "self", "http": {"url": format!("{}/health/live", p.url)}, "interval": "5s"})),
        )
        .await;
    assert!(status.is_success(), "{v}");
    let (status, project) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "bot"})),
        )
        .await;
    assert!(status.is_success(), "{project}");
    let key = project["keys"][0]["public_key"].as_str().unwrap();
    let id = &project["id"];
    let now = chrono::Utc::now();
    let ts = now.timestamp();
    let envelope = [
        json!({"event_id": "0123456789abcdef0123456789abcdef"}),
        json!({"type": "event"}),
        json!({"event_id": "0123456789abcdef0123456789abcdef", "level": "error", "message": "boom", "platform": "python", "timestamp": ts}),
        json!({"type": "transaction"}),
        json!({"event_id": "fedcba9876543210fedcba9876543210", "type": "transaction", "transaction": "/orders",
               "start_timestamp": ts - 1, "timestamp": ts,
               "contexts": {"trace": {"trace_id": "fedcba9876543210fedcba9876543210", "span_id": "fedcba9876543210", "op": "http.server", "status": "ok"}}}),
        json!({"type": "session"}),
        json!({"sid": "4d4d0000-0000-4000-8000-000000000001", "init": true, "started": now.to_rfc3339(), "status": "exited", "attrs": {"release": "1.0"}}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    let r = client()
        .post(format!("{}/api/{id}/envelope/", p.url))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        )
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = client()
        .post(format!("{}/api/v1/logs?service=bot", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(
            "{\"level\":\"error\",\"message\":\"boom\"}\n{\"level\":\"info\",\"message\":\"ok\"}\n",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    panels_show_data(&p, "pharos-probes", &NOTHING_TO_COUNT_HERE).await;
    panels_show_data(&p, "pharos-errors", &NOTHING_TO_COUNT_HERE).await;
    panels_show_data(&p, "pharos-logs", &NOTHING_TO_COUNT_HERE).await;
    panels_show_data(&p, "pharos-self", &NOTHING_TO_COUNT_HERE).await;

    // A dashboard with the same id uploaded replaces the built-in one; deleting the
    // upload brings it back.
    let (status, v) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/dashboards",
            Some(json!({
                "uid": "pharos-host",
                "title": "Our host",
                "panels": [{"type": "timeseries", "title": "Load", "targets": [{"expr": "node_load1"}]}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        p.get("/api/v1/dashboards/pharos-host").await["title"],
        "Our host"
    );
    let (status, _) = p
        .send(
            reqwest::Method::DELETE,
            "/api/v1/dashboards/pharos-host",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, v) = p
        .send(
            reqwest::Method::DELETE,
            "/api/v1/dashboards/pharos-host",
            None,
        )
        .await;
    assert_eq!(status, 409, "the built-in one stays: {v}");
    assert_eq!(
        p.get("/api/v1/dashboards/pharos-host").await["title"],
        "Host"
    );

    // `builtin_dashboards: false` hides them.
    let dir = tempdir("builtin-dashboards-off");
    let off = Pharos::start(&dir, Some("builtin_dashboards: false\n")).await;
    let list = off.get("/api/v1/dashboards").await;
    assert_eq!(list["dashboards"], json!([]), "{list}");
}
