//! End to end for the built-in dashboards: a fresh Pharos with no config lists them, and
//! once its first scrapes are in, every query of the host and Pharos dashboards answers
//! with at least one series (so each of their panels shows data), except the panels that
//! count what a fresh install has not received yet. The pages draw them with no `{}`
//! legend. Pharos's own gauges are stored with real values without anyone fetching
//! `/metrics`.

mod common;

use common::*;
use serde_json::Value;

/// Panels of the host and Pharos dashboards that stay empty until Pharos is used: their
/// counters appear with the first Sentry envelope, log line or notification.
const EMPTY_UNTIL_USED: [&str; 3] = [
    "Sentry envelopes",
    "Log lines received",
    "Notification deliveries",
];

/// A dashboard query as the page runs it over the last hour at a 15 s step.
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
}

#[tokio::test]
async fn host_and_pharos_dashboards_show_data_on_a_fresh_install() {
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

    for id in ["pharos-host", "pharos-self"] {
        let d = p.get(&format!("/api/v1/dashboards/{id}")).await;
        assert_eq!(d["source"]["kind"], "builtin", "{d}");
        let panels: Vec<&Value> = d["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["panels"].as_array().unwrap())
            .collect();
        assert!(panels.len() >= 8, "{id}: {} panels", panels.len());
        for panel in panels {
            let title = panel["title"].as_str().unwrap();
            if EMPTY_UNTIL_USED.contains(&title) {
                continue;
            }
            for t in panel["targets"].as_array().unwrap() {
                let q = expand(t["expr"].as_str().unwrap());
                // Rates need two scrapes (15 s apart) inside their window.
                wait_promql(&p, &q, 60, |r| r.as_array().is_some_and(|a| !a.is_empty())).await;
            }
        }
        let page = p.page(&format!("/dashboards/{id}?range=5m")).await;
        assert!(page.contains("data-testid=\"builtin\""), "{page}");
        assert!(page.contains("class=\"series\""), "{id}: no line drawn");
        assert!(
            !page.contains(">{}<"),
            "{id}: a series is labelled {{}}: {page}"
        );
    }

    // A dashboard with the same id uploaded replaces the built-in one; deleting the
    // upload brings it back.
    let (status, v) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/dashboards",
            Some(serde_json::json!({
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
    assert_eq!(list["dashboards"], serde_json::json!([]), "{list}");
}
