//! The receivers API on the real binary: `POST /api/v1/receivers/{name}/test` sends a
//! test notification through a receiver at once and answers how it went (kept in the
//! delivery log), and `GET /api/v1/receivers` lists integrations without their secrets.

mod common;

use common::*;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn test_notification_is_sent_at_once_logged_and_secrets_stay_hidden() {
    let hook = webhook().await;
    let dir = tempdir("receivers-api");
    let config = format!(
        "receivers:\n  - name: ops\n    webhook_configs:\n      - url: {}\n        headers:\n          Authorization: Bearer HOOKSECRET\n  - name: blackhole\n",
        hook.url()
    );
    let p = Pharos::start(&dir, Some(&config)).await;

    // Without the admin token: refused, nothing sent.
    let r = client()
        .post(format!("{}/api/v1/receivers/ops/test", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(hook.payloads().is_empty());

    let (status, answer) = p
        .send(Method::POST, "/api/v1/receivers/ops/test", None)
        .await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    assert_eq!(answer["status"], "delivered");
    assert_eq!(answer["integrations"][0]["integration"], "ops");
    assert_eq!(answer["integrations"][0]["kind"], "webhook");
    assert_eq!(answer["integrations"][0]["response_status"], 200);
    let got = hook.payloads();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["alerts"][0]["labels"]["alertname"],
        "PharosTestNotification"
    );
    assert_eq!(got[0]["status"], "firing");

    // A failing endpoint: the answer says why.
    hook.fail_next(1);
    let (_, answer) = p
        .send(Method::POST, "/api/v1/receivers/ops/test", None)
        .await;
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["integrations"][0]["response_status"], 503);
    assert_eq!(answer["integrations"][0]["error"], "HTTP 503");

    let (status, _) = p
        .send(Method::POST, "/api/v1/receivers/nobody/test", None)
        .await;
    assert_eq!(status.as_u16(), 404);

    // A receiver with no integrations sends nothing, and must not say "delivered".
    let (status, answer) = p
        .send(Method::POST, "/api/v1/receivers/blackhole/test", None)
        .await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    assert_eq!(answer["status"], "not_sent");
    assert_eq!(answer["integrations"], serde_json::json!([]));

    let list = p.get("/api/v1/receivers").await;
    let text = list.to_string();
    assert!(!text.contains("HOOKSECRET"), "{text}");
    let ops = list["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ops")
        .unwrap();
    assert_eq!(ops["name"], "ops");
    let integration = &ops["integrations"][0];
    assert_eq!(integration["kind"], "webhook");
    assert_eq!(
        integration["config"]["headers"]["Authorization"],
        "<secret>"
    );
    assert_eq!(
        integration["config"]["url"],
        Value::String(format!("http://{}/<secret>", hook.addr))
    );
    let recent = integration["recent_deliveries"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0]["outcome"], "failed");
    assert_eq!(recent[0]["response_status"], 503);
    assert_eq!(recent[1]["outcome"], "delivered");
    // The worker never sends a logged test again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(hook.payloads().len(), 1);
    let log = p.get("/api/v1/deliveries").await;
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 2);
}
