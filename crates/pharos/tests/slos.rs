//! SLOs end to end with the real binary: seed 004's availability target (99.5 % over 30
//! days on the `/health` checks) written as an SLO shows its budget; when the target starts
//! failing, the fast-burn alert fires within seconds here (minutes with real intervals) and
//! reaches the webhook like any other alert; the page, the API and `/rules` show it; a bad
//! SLO is refused with its field.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const KEY: &str = "slosessionkey0123456789abcdef";

fn config(target: &Target, hook: &Webhook) -> String {
    format!(
        r#"
global:
  evaluation_interval: 1s
metrics:
  self_scrape_interval: 1s
  host_metrics_interval: 0s
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
monitors:
  - id: bot-health
    name: Bot health
    interval: 1s
    http:
      url: {health}
      timeout: 2s
slos:
  - name: webhook-availability
    description: Telegram webhooks answered (seed 004).
    objective: 99.5
    window: 30d
    indicator:
      monitor: bot-health
    labels:
      team: bot
  - name: webhook-latency
    objective: 95
    indicator:
      latency:
        histogram: http_request_duration_seconds_bucket{{job="bot"}}
        threshold: 0.8
  - name: shop-crash-free
    objective: 99
    window: 7d
    indicator:
      sessions: shop
receivers:
  - name: ops
    webhook_configs:
      - url: {hook}
"#,
        health = target.url("/health"),
        hook = hook.url(),
    )
}

async fn slo(p: &Pharos, name: &str) -> Value {
    p.get(&format!("/api/v1/slos/{name}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_availability_slo_shows_its_budget_and_pages_on_a_fast_burn() {
    let dir = tempdir("slos");
    let target = target().await;
    let hook = webhook().await;
    let p = Pharos::start(&dir, Some(&config(&target, &hook))).await;

    // Healthy checks: all good, the whole budget left, nothing burning.
    let healthy = p
        .wait_until(
            std::time::Duration::from_secs(15),
            "the SLO to have data",
            async || {
                let s = slo(&p, "webhook-availability").await;
                if s["sli"].is_number() { Ok(s) } else { Err(s) }
            },
        )
        .await;
    assert_eq!(healthy["sli"], 100.0, "{healthy}");
    assert_eq!(healthy["budget_remaining"], 1.0);
    assert_eq!(healthy["burn"], "ok");
    assert_eq!(healthy["objective"], 99.5);
    assert_eq!(healthy["window_text"], "30d");
    // 30 days at 99.5 %: 3.6 hours of budget.
    assert_eq!(healthy["budget_seconds"], 12_960.0);
    assert_eq!(healthy["indicator"]["monitor"], "bot-health");
    let list = p.get("/api/v1/slos").await;
    let names: Vec<&str> = list["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["webhook-availability", "webhook-latency", "shop-crash-free"]
    );
    assert_eq!(list["slos"][1]["burn"], "no_data", "no histogram scraped");

    // The rules it stands for are on /rules, in the file `slos`.
    let rules = p.get("/api/v1/rules").await;
    let group = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "slo:webhook-availability")
        .unwrap_or_else(|| panic!("{rules}"));
    assert_eq!(group["file"], "slos");
    assert_eq!(group["rules"].as_array().unwrap().len(), 9);

    // The target fails: every check is an error, so both windows of the first tier pass
    // 14.4 times the allowed 0.5 % at once, and the page alert goes out.
    target.set(Mode::Error500);
    let firing = hook
        .wait_for(30, "the fast-burn alert", |payload| {
            payload["status"] == "firing"
                && payload["alerts"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|a| a["labels"]["alertname"] == "SLOBurnRateFast")
                })
        })
        .await;
    let alert = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "SLOBurnRateFast")
        .unwrap();
    assert_eq!(alert["labels"]["slo"], "webhook-availability");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(
        alert["labels"]["team"], "bot",
        "the SLO's labels, for routing"
    );
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("webhook-availability (99.5% over 30d) is burning its error budget fast"),
        "{alert}"
    );

    let burning = slo(&p, "webhook-availability").await;
    assert_eq!(burning["burn"], "fast", "{burning}");
    assert!(burning["sli"].as_f64().unwrap() < 100.0);
    assert!(burning["budget_remaining"].as_f64().unwrap() < 1.0);
    assert!(burning["burn_rates"]["5m"].as_f64().unwrap() > 14.4);
    assert!(
        !burning["budget_chart"].as_array().unwrap().is_empty(),
        "{burning}"
    );

    // Crash-free sessions: 9 sessions ended well and 1 crashed, so 90 % against 99 %. The
    // counters are scraped at 0 first, as they are when sessions start after Pharos does.
    wait_promql(
        &p,
        "pharos_sessions_started_total{project=\"shop\"}",
        30,
        |r| r.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    let c = client();
    let started = chrono::Utc::now().format("%Y-%m-%dT%H:%M:00Z");
    let body = format!(
        "{{}}\n{{\"type\":\"sessions\"}}\n{{\"aggregates\":[{{\"started\":\"{started}\",\"exited\":9,\"crashed\":1}}],\"attrs\":{{\"release\":\"shop@1.0\",\"environment\":\"production\"}}}}\n"
    );
    let r = c
        .post(format!("{}/api/42/envelope/", p.url))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={KEY}, sentry_version=7"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sessions = p
        .wait_until(
            std::time::Duration::from_secs(15),
            "the sessions SLO",
            async || {
                let s = slo(&p, "shop-crash-free").await;
                if s["sli"].is_number() { Ok(s) } else { Err(s) }
            },
        )
        .await;
    assert!(
        (sessions["sli"].as_f64().unwrap() - 90.0).abs() < 1e-6,
        "{sessions}"
    );
    assert!(
        sessions["budget_remaining"].as_f64().unwrap() < 0.0,
        "overspent: {sessions}"
    );

    // The pages.
    let page = |path: &str| {
        let c = c.clone();
        let url = format!("{}{path}", p.url);
        async move {
            let r = c.get(url).bearer_auth(TOKEN).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, list_page) = page("/slos").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list_page.contains("webhook-availability") && list_page.contains("burning fast"));
    let (status, detail) = page("/slos/webhook-availability").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        detail.contains("Error budget left") && detail.contains("<svg"),
        "{detail}"
    );
    let (status, _) = page("/slos/nonexistent").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = c
        .get(format!("{}/api/v1/slos/nonexistent", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_bad_slo_is_refused_with_its_field() {
    let dir = tempdir("slos-bad");
    for (slo, field) in [
        (
            "  - name: a\n    objective: 100\n    indicator:\n      monitor: m\n",
            "slos[0].objective",
        ),
        (
            "  - name: a\n    objective: 99\n    indicator:\n      ratio:\n        errors: 'x_total{code=~\"5..\"'\n        total: x_total\n",
            "slos[0].indicator",
        ),
        (
            "  - name: a\n    objective: 99\n    indicator:\n      monitor: m\n      latency:\n        histogram: h_bucket\n        threshold: 1\n",
            "slos[0].indicator",
        ),
        (
            "  - name: a\n    objective: 99\n    indicator:\n      monitor: m\n  - name: a\n    objective: 98\n    indicator:\n      monitor: m\n",
            "slos[1].name",
        ),
    ] {
        let path = dir.join("pharos.yaml");
        std::fs::write(&path, format!("slos:\n{slo}")).unwrap();
        let out = check_config(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{slo}");
        assert!(err.contains(field), "{field} in {err}");
    }
}
