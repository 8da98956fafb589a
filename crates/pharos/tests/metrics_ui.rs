//! End to end for the metrics UI: the real binary scraping a local app, then the
//! explorer (chart, table, a query's fault marked), dashboards from the config (seed
//! 003's Grafana JSON and the example YAML), a Grafana dashboard uploaded through the API
//! surviving a restart, a bad dashboard file refused on reload with its file and line,
//! and the cardinality page and `/api/v1/status/tsdb` finding an exploding label.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use serde_json::Value;

/// An app with request and order counters, and a counter labelled by user id whose
/// series multiply with every scrape (the "exploding label values" of seed 003).
async fn app() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scrapes = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                let n = n.fetch_add(1, Ordering::Relaxed) + 1;
                let mut body = format!(
                    "# TYPE http_requests_total counter\n\
                     http_requests_total{{status=\"200\"}} {}\n\
                     http_requests_total{{status=\"500\"}} {}\n\
                     # TYPE orders_created_total counter\n\
                     orders_created_total{{channel=\"web\"}} {}\n\
                     orders_created_total{{channel=\"whatsapp\"}} {}\n\
                     # TYPE product_views_total counter\n",
                    n * 100,
                    n,
                    n * 3,
                    n
                );
                for u in 0..(150 + n * 50).min(400) {
                    body.push_str(&format!("product_views_total{{user_id=\"u{u}\"}} {n}\n"));
                }
                ([("content-type", "text/plain; version=0.0.4")], body).into_response()
            }),
        )
        .with_state(scrapes);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A page as a signed-in browser gets it (the admin token works for pages too).
async fn page(p: &Pharos, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn wait_page(p: &Pharos, path: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("{path} to show what was expected"),
        async || {
            let (status, body) = page(p, path).await;
            if status == 200 && pred(&body) {
                Ok(body)
            } else {
                Err(format!("({status}):\n{body}"))
            }
        },
    )
    .await
}

fn esc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

const UPLOAD: &str = r#"{
  "dashboard": {
    "uid": "uploaded-svc", "title": "Uploaded service",
    "templating": {"list": [{"name": "status", "type": "custom", "query": "200,500", "current": {"value": "500"}}]},
    "panels": [
      {"type": "stat", "title": "Errors per second", "gridPos": {"x": 0, "y": 0, "w": 8, "h": 4},
       "fieldConfig": {"defaults": {"unit": "reqps"}},
       "targets": [{"expr": "sum(rate(http_requests_total{status=\"$status\"}[$__rate_interval]))"}]},
      {"type": "heatmap", "title": "Latency buckets", "gridPos": {"x": 8, "y": 0, "w": 16, "h": 4}}
    ]
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_dashboards_and_cardinality() {
    let dir = tempdir("metrics-ui");
    let addr = app().await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../app/tests/fixtures/grafana-seed-003.json");
    std::fs::copy(&fixture, dir.join("orders.json")).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards.example.yaml"),
        dir.join("service.yaml"),
    )
    .unwrap();
    let config = format!(
        r#"
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['{addr}']
dashboards:
  - orders.json
  - service.yaml
# The cardinality checks below are about the app's series; this machine's own (a few
# hundred families, more or fewer by machine) would outnumber its label values.
metrics:
  host_metrics_interval: 0s
"#
    );
    let mut p = Pharos::start(&dir, Some(&config)).await;

    // The explorer draws a line per series once two scrapes are in.
    let q = "sum by (channel) (orders_created_total)";
    let chart = wait_page(
        &p,
        &format!("/metrics/explore?q={}&range=5m", esc(q)),
        20,
        |b| b.matches("class=\"series\"").count() == 2,
    )
    .await;
    assert!(chart.contains("<svg class=\"timeseries\""), "{chart}");
    assert!(
        chart.contains("{channel=&quot;whatsapp&quot;}"),
        "legend: {chart}"
    );
    assert!(chart.contains("2 series"), "{chart}");
    // Completion's sources and the script are served.
    let (status, js) = page(&p, "/metrics/explorer.js").await;
    assert_eq!(status, 200);
    assert!(js.contains("/api/v1/label/__name__/values"));
    assert!(
        chart.contains("<option value=\"orders_created_total\">"),
        "datalist"
    );

    // Instant table, and a query that does not parse with its fault marked.
    let (_, table) = page(
        &p,
        &format!(
            "/metrics/explore?tab=table&q={}",
            esc("orders_created_total")
        ),
    )
    .await;
    assert!(table.contains("data-testid=\"results\""), "{table}");
    assert!(table.contains("channel=&quot;web&quot;"), "{table}");
    let (_, bad) = page(
        &p,
        &format!(
            "/metrics/explore?q={}",
            esc("sum(rate(orders_created_total[5m])")
        ),
    )
    .await;
    assert!(bad.contains("data-testid=\"query-error\""), "{bad}");
    assert!(bad.contains("sum<mark>(</mark>rate("), "{bad}");

    // Seed 003's Grafana dashboard, from the config, drawn with its legend format.
    let (_, list) = page(&p, "/dashboards").await;
    assert!(
        list.contains("Order Monitoring") && list.contains("Python service"),
        "{list}"
    );
    let orders = wait_page(&p, "/dashboards/orders-dashboard?range=5m", 15, |b| {
        b.contains("class=\"series\"")
    })
    .await;
    assert!(orders.contains("Orders Created"), "{orders}");
    assert!(
        orders.contains(">whatsapp<"),
        "legend {{channel}}: {orders}"
    );
    let (status, example) = page(&p, "/dashboards/python-service?var-job=app&range=5m").await;
    assert_eq!(status, 200, "{example}");
    assert!(
        example.contains("Requests per second by status"),
        "{example}"
    );
    assert!(example.contains("data-panel-type=\"stat\""), "{example}");

    // A Grafana JSON uploaded through the API: variables substituted, the heatmap a
    // placeholder; a broken one refused naming the line.
    let (status, v) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/dashboards",
            Some(serde_json::from_str::<Value>(UPLOAD).unwrap()),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["id"], "uploaded-svc");
    let up = wait_page(&p, "/dashboards/uploaded-svc?range=5m", 15, |b| {
        b.contains("req/s</div>")
    })
    .await;
    assert!(
        up.contains("Panel type <code>heatmap</code> is not drawn"),
        "{up}"
    );
    let r = client()
        .post(format!("{}/api/v1/dashboards", p.url))
        .bearer_auth(TOKEN)
        .body("title: Broken\nrows:\n  - panels:\n      - expr: 'rate(x[5m]'\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "rows[0].panels[0].expr", "{e}");
    assert!(e["error"].as_str().unwrap().contains("line 4"), "{e}");

    // The cardinality view names the exploding label within a minute.
    let card = wait_page(&p, "/metrics/cardinality", 20, |b| {
        b.contains("data-testid=\"exploding\"")
    })
    .await;
    assert!(card.contains("product_views_total"), "{card}");
    assert!(card.contains("<code>user_id</code>"), "{card}");
    let v = p.get("/api/v1/status/tsdb?limit=5").await;
    assert_eq!(
        v["data"]["seriesCountByMetricName"][0]["name"], "product_views_total",
        "{v}"
    );
    assert_eq!(
        v["data"]["labelValueCountByLabelName"][0]["name"], "user_id",
        "{v}"
    );
    assert!(
        v["data"]["headStats"]["numSeries"].as_u64().unwrap() > 150,
        "{v}"
    );
    for key in ["memoryInBytesByLabelName", "seriesCountByLabelValuePair"] {
        assert!(
            v["data"][key].as_array().is_some_and(|a| !a.is_empty()),
            "{key}: {v}"
        );
    }

    // A dashboard file that breaks is refused on reload, naming file and line; the
    // running dashboards stay.
    std::fs::write(
        dir.join("service.yaml"),
        "title: Python service\nrows:\n  - panels:\n      - title: x\n        expr: sum(\n",
    )
    .unwrap();
    let (status, v) = p.send(reqwest::Method::POST, "/-/reload", None).await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("service.yaml:5:") && msg.contains("rows[0].panels[0].expr"),
        "{msg}"
    );
    let (status, _) = page(&p, "/dashboards/python-service").await;
    assert_eq!(status, 200);

    // The upload survives a restart.
    p.kill9();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards.example.yaml"),
        dir.join("service.yaml"),
    )
    .unwrap();
    let port = p.port;
    let p = Pharos::start_with(&dir, Some(dir.join("pharos.yaml")), port).await;
    let v = p.get("/api/v1/dashboards").await;
    // The built-in dashboards follow the config's and the uploads.
    let ids: Vec<&str> = v["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] != "builtin")
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["orders-dashboard", "python-service", "uploaded-svc"],
        "{v}"
    );
    let (status, v) = p
        .send(
            reqwest::Method::DELETE,
            "/api/v1/dashboards/pharos-host",
            None,
        )
        .await;
    assert_eq!(status, 409, "built-in dashboards are not deleted: {v}");
    let (status, v) = p
        .send(
            reqwest::Method::DELETE,
            "/api/v1/dashboards/orders-dashboard",
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "config dashboards are not deleted through the API: {v}"
    );
    let (status, _) = p
        .send(
            reqwest::Method::DELETE,
            "/api/v1/dashboards/uploaded-svc",
            None,
        )
        .await;
    assert_eq!(status, 204);
}
