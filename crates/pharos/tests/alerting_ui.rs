//! The alerting views on the real binary: a monitor goes down, its alert is found on
//! `/alerts` and through `GET /api/v1/alerts/history` (search by state, matchers, text, time,
//! pages), the notification history filters by receiver, outcome and alert, `/receivers`
//! shows each receiver's record, and `/health/ready` is degraded while a receiver keeps
//! failing and ready again once it delivers.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::Value;

fn config(target: &Target, ops: &Webhook, pager: &Webhook) -> String {
    format!(
        r#"
monitors:
  - name: API health
    interval: 1s
    labels:
      severity: critical
      team: backend
    http:
      url: {health}
receivers:
  - name: ops
    webhook_configs:
      - url: {ops}
  - name: pager
    webhook_configs:
      - url: {pager}
route:
  receiver: ops
  group_by: [alertname, monitor]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['severity="critical"']
      receiver: ops
"#,
        health = target.url("/health"),
        ops = ops.url(),
        pager = pager.url(),
    )
}

async fn page(p: &Pharos, path: &str) -> String {
    let r = client()
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.text().await.unwrap()
}

/// With the admin token: anonymous callers see the status only, not the checks.
async fn ready(p: &Pharos) -> (u16, Value) {
    let r = client()
        .get(format!("{}/health/ready", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn wait_ready(
    p: &Pharos,
    secs: u64,
    what: &str,
    pred: impl Fn(u16, &Value) -> bool,
) -> Value {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("/health/ready to be {what}"),
        async || {
            let (code, body) = ready(p).await;
            if pred(code, &body) {
                Ok(body)
            } else {
                Err(format!("{code} {body:#}"))
            }
        },
    )
    .await
}

async fn wait_alerts(
    p: &Pharos,
    query: &str,
    secs: u64,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("alerts {query} to match"),
        async || {
            let v = p.get(&format!("/api/v1/alerts/history?{query}")).await;
            let list = v["alerts"].as_array().cloned().unwrap_or_default();
            if pred(&list) {
                Ok(list)
            } else {
                Err(format!("{v:#}"))
            }
        },
    )
    .await
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_history_deliveries_and_failing_receiver_readiness() {
    let dir = tempdir("alerting-ui");
    let target = target().await;
    let ops = webhook().await;
    let pager = webhook().await;
    let p = Pharos::start(&dir, Some(&config(&target, &ops, &pager))).await;
    p.wait_monitor("api-health", 10, |m| state(m) == "up").await;
    let (code, body) = ready(&p).await;
    assert_eq!(code, 200, "{body:#}");
    assert_eq!(body["checks"]["pager"]["status"], "healthy");
    assert_eq!(body["checks"]["pager"]["kind"], "receiver");

    // The pager endpoint fails its first four requests: retried after 1, 2 and 4 s, so
    // it has failed three times in a row for a while before the fifth try gets through.
    pager.fail_next(4);
    target.set(Mode::Error500);
    let firing = wait_alerts(
        &p,
        &format!("state=firing&matchers={}", enc(r#"severity="critical""#)),
        15,
        |l| !l.is_empty(),
    )
    .await;
    let alert = &firing[0];
    assert_eq!(alert["labels"]["alertname"], "MonitorDown");
    assert_eq!(alert["source"]["kind"], "monitor");
    assert_eq!(alert["source"]["url"], "/monitors/api-health");
    let receivers: Vec<&str> = alert["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(receivers, ["pager", "ops"]);
    let fingerprint = alert["fingerprint"].as_str().unwrap().to_string();

    let body = wait_ready(&p, 20, "degraded", |code, b| {
        code == 503 && b["checks"]["pager"]["status"] == "degraded"
    })
    .await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["ops"]["status"], "healthy");
    assert!(body["checks"]["storage"]["status"] == "healthy", "{body:#}");
    let why = body["checks"]["pager"]["message"].as_str().unwrap();
    assert!(
        why.contains("attempts failed") && why.contains("503"),
        "{why}"
    );

    // The pages: the alert with its source and notifications, and the banner.
    let html = page(&p, "/alerts").await;
    assert!(
        html.contains(r#"id="failing-receivers""#),
        "no banner on /alerts"
    );
    assert!(html.contains(r#"data-failing-receiver="pager""#));
    assert!(html.contains(&format!(r#"data-alert="{fingerprint}""#)));
    assert!(html.contains(r#"href="/monitors/api-health""#));
    assert!(html.contains("/silences?matchers="));
    let filtered = page(&p, "/alerts?state=silenced").await;
    assert!(
        filtered.contains(r#"id="no-open-alerts""#),
        "nothing is silenced yet"
    );
    let receivers_page = page(&p, "/receivers").await;
    assert!(receivers_page.contains(r#"id="failing-receivers""#));
    assert!(receivers_page.contains(r#"data-integration="pager""#));
    assert!(receivers_page.contains(r#"data-health="failing""#));
    assert!(receivers_page.contains("Send test notification"));
    assert!(receivers_page.contains(r#"action="/receivers/ops/test""#));

    // Notification history: by receiver and outcome, by alert, by time.
    let pending = p
        .get("/api/v1/deliveries?receiver=pager&outcome=pending")
        .await;
    let pending = pending["deliveries"].as_array().unwrap();
    assert!(
        !pending.is_empty()
            && pending
                .iter()
                .all(|d| d["receiver"] == "pager" && d["attempts"].as_u64() >= Some(3)),
        "{pending:#?}"
    );
    ops.wait_for(10, "firing notice", |v| v["status"] == "firing")
        .await;
    let delivered = wait_deliveries(&p, "receiver=ops&outcome=delivered", |l| !l.is_empty()).await;
    assert!(delivered.iter().all(|d| d["receiver"] == "ops"));
    let about = p
        .get(&format!("/api/v1/deliveries?fingerprint={fingerprint}"))
        .await;
    let mut told: Vec<&str> = about["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["receiver"].as_str())
        .collect();
    told.sort();
    told.dedup();
    assert_eq!(told, ["ops", "pager"]);
    let group = about["deliveries"][0]["alert_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let by_group = p
        .get(&format!("/api/v1/deliveries?group={}", enc(&group)))
        .await;
    assert!(!by_group["deliveries"].as_array().unwrap().is_empty());
    let future = p
        .get(&format!(
            "/api/v1/deliveries?since={}",
            enc(&(chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339())
        ))
        .await;
    assert!(future["deliveries"].as_array().unwrap().is_empty());
    let one = p.get("/api/v1/deliveries?limit=1&page=1").await;
    assert_eq!(one["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(one["has_more"], true);
    let (status, err) = p
        .send(Method::GET, "/api/v1/deliveries?outcome=lost", None)
        .await;
    assert_eq!(status.as_u16(), 400, "{err}");

    // The fifth attempt goes through: ready again, and the page says so.
    let body = wait_ready(&p, 30, "ready again", |code, _| code == 200).await;
    assert_eq!(body["checks"]["pager"]["status"], "healthy");
    assert!(
        !page(&p, "/receivers")
            .await
            .contains(r#"id="failing-receivers""#)
    );

    // Resolve it; the history finds the occurrence by name, text, matchers and time.
    target.set(Mode::Healthy);
    wait_alerts(&p, "state=resolved&alertname=MonitorDown", 15, |l| {
        l.len() == 1
    })
    .await;
    let by_text = p.get("/api/v1/alerts/history?q=API-HEALTH").await;
    assert_eq!(by_text["alerts"][0]["fingerprint"], fingerprint.as_str());
    assert_eq!(by_text["page"], 1);
    let none = p
        .get(&format!(
            "/api/v1/alerts/history?matchers={}",
            enc(r#"team!="backend""#)
        ))
        .await;
    assert!(none["alerts"].as_array().unwrap().is_empty(), "{none:#}");
    let earlier = p
        .get("/api/v1/alerts/history?until=2000-01-01T00:00:00Z")
        .await;
    assert!(earlier["alerts"].as_array().unwrap().is_empty());
    let recent = p
        .get("/api/v1/alerts/history?since=1h&receiver=pager")
        .await;
    assert_eq!(recent["alerts"].as_array().unwrap().len(), 1);
    let page2 = p
        .get("/api/v1/alerts/history?alertname=MonitorDown&limit=1&page=2")
        .await;
    assert!(page2["alerts"].as_array().unwrap().is_empty());
    assert_eq!(page2["has_more"], false);
    let (status, err) = p
        .send(
            Method::GET,
            "/api/v1/alerts/history?matchers=%7Bbroken",
            None,
        )
        .await;
    assert_eq!(status.as_u16(), 400, "{err}");
    assert_eq!(err["field"], "matchers");
    let (status, _) = p
        .send(Method::GET, "/api/v1/alerts/history?state=sleeping", None)
        .await;
    assert_eq!(status.as_u16(), 400);
    // Without search parameters the list answers as before.
    let plain = p.get("/api/v1/alerts/history?state=resolved").await;
    assert_eq!(plain["alerts"][0]["state"], "resolved");
    let history = page(&p, "/alerts?alertname=MonitorDown&state=resolved").await;
    assert!(history.contains(r#"id="alert-history""#));
    assert!(history.contains(&format!(
        r#"data-alert="{fingerprint}" data-state="resolved""#
    )));
    let nav = page(&p, "/silences").await;
    assert!(
        nav.contains(r#"<a href="/silences" class="current">"#),
        "silences nav not current"
    );
}

async fn wait_deliveries(p: &Pharos, query: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    p.wait_until(
        Duration::from_secs(10),
        &format!("deliveries {query} to match"),
        async || {
            let v = p.get(&format!("/api/v1/deliveries?{query}")).await;
            let list = v["deliveries"].as_array().cloned().unwrap_or_default();
            if pred(&list) {
                Ok(list)
            } else {
                Err(format!("{v:#}"))
            }
        },
    )
    .await
}
