//! End to end for error tracking: the real binary answering envelopes the way the Sentry
//! SDKs expect (recorded fixtures, encodings, auth, malformed input, limits, quotas),
//! alerting on new issues, and keeping acknowledged events across `kill -9`.
//! The real Python SDK is exercised by `tests/sentry/`.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = "e2epublickey0123456789";
const QUOTA_KEY: &str = "e2equotakey0123456789";

fn config(hook: &Webhook) -> String {
    format!(
        r#"
projects:
  - id: 42
    name: shop
    keys: ["{KEY}", {{key: "e2erevokedkey012345", revoked: true}}]
    alerts:
      new_issue: true
  - id: 43
    name: quota
    keys: ["{QUOTA_KEY}"]
    rate_limit: 3
    alerts:
      new_issue: false
receivers:
  - name: ops
    webhook_configs:
      - url: {hook}
"#,
        hook = hook.url()
    )
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/sentry")
}

struct Sent {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(pharos: &Pharos, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Sent {
    let mut req = client().post(format!("{}{path}", pharos.url)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Sent {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn auth(key: &str) -> String {
    format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=e2e/1.0")
}

async fn envelope(pharos: &Pharos, project: u32, key: &str, body: impl Into<Vec<u8>>) -> Sent {
    post(
        pharos,
        &format!("/api/{project}/envelope/"),
        &[("X-Sentry-Auth", &auth(key))],
        body.into(),
    )
    .await
}

fn event_envelope(id: &str, message: &str) -> String {
    let event = json!({"event_id": id, "message": message, "level": "error"}).to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn stored(pharos: &Pharos, id: &str) -> bool {
    let r = client()
        .get(format!("{}/api/v1/events/{id}", pharos.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    r.status().is_success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_get_the_answers_sdks_expect() {
    let dir = tempdir("sentry-answers");
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&hook))).await;

    // Every envelope recorded from the real SDK is accepted; item types not kept
    // (profile, trace metrics) are skipped without failing the envelope.
    let mut names: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "envelope"))
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    for path in &names {
        let s = envelope(&pharos, 42, KEY, std::fs::read(path).unwrap()).await;
        assert_eq!(s.status, 200, "{}: {}", path.display(), s.body);
        let limits = s.headers["x-sentry-rate-limits"].to_str().unwrap();
        assert!(
            limits.contains("profile") && limits.contains("not_kept"),
            "{limits}"
        );
        // Streamed spans (sentry-sdk 3.x) are kept: the SDK must not hold them back.
        assert!(
            !limits
                .split(&[':', ';', ','][..])
                .any(|c| c.trim() == "span"),
            "{limits}"
        );
        assert_eq!(s.headers["access-control-allow-origin"], "*");
    }
    assert!(stored(&pharos, "5b16fd0b4b944d4abc07deb75942731d").await);

    // A new issue alerts, linking to the issue.
    let alert = hook
        .wait_for(10, "NewIssue alert", |v| {
            v["alerts"][0]["labels"]["alertname"] == "NewIssue"
        })
        .await;
    let link = alert["alerts"][0]["generatorURL"].as_str().unwrap();
    assert!(link.contains("/issues/"), "{link}");

    // Encodings, auth places, DSN path prefix, /store/.
    let id = "11111111111111111111111111111111";
    let s = post(
        &pharos,
        "/api/42/envelope/",
        &[("X-Sentry-Auth", &auth(KEY)), ("Content-Encoding", "gzip")],
        gzip(event_envelope(id, "gzip body").as_bytes()),
    )
    .await;
    assert_eq!((s.status, s.body["id"].as_str()), (200, Some(id)));
    let id = "22222222222222222222222222222222";
    let s = post(
        &pharos,
        &format!("/sub/path/api/42/envelope/?sentry_key={KEY}&sentry_version=7"),
        &[],
        event_envelope(id, "query auth under a prefix").into_bytes(),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.body);
    let id = "33333333333333333333333333333333";
    let body = format!(
        "{{\"event_id\":\"{id}\",\"dsn\":\"http://{KEY}@127.0.0.1:1/42\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"dsn in header, no length\"}}\n"
    );
    let s = post(&pharos, "/api/42/envelope/", &[], body.into_bytes()).await;
    assert_eq!((s.status, s.body["id"].as_str()), (200, Some(id)));
    let s = post(
        &pharos,
        "/api/42/store/",
        &[("Authorization", &auth(KEY))],
        br#"{"event_id":"44444444444444444444444444444444","message":"old store endpoint"}"#
            .to_vec(),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.body);
    for id in [
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
        "44444444444444444444444444444444",
    ] {
        assert!(stored(&pharos, id).await, "{id}");
    }

    // Wrong, revoked and missing keys; a key of another project.
    let body = event_envelope("55555555555555555555555555555555", "nope");
    assert_eq!(
        envelope(&pharos, 42, "wrongkey123", body.clone())
            .await
            .status,
        401
    );
    assert_eq!(
        envelope(&pharos, 42, "e2erevokedkey012345", body.clone())
            .await
            .status,
        401
    );
    assert_eq!(envelope(&pharos, 43, KEY, body.clone()).await.status, 401);
    let s = post(&pharos, "/api/42/envelope/", &[], body.clone().into_bytes()).await;
    assert_eq!(s.status, 401);
    assert!(s.headers.contains_key("x-sentry-error"));
    assert!(!stored(&pharos, "55555555555555555555555555555555").await);

    // Malformed envelopes: the right status, and the valid items are kept.
    let good = |id: &str| {
        let e = json!({"event_id": id, "message": format!("kept {id}")}).to_string();
        format!("{{\"type\":\"event\",\"length\":{}}}\n{e}\n", e.len())
    };
    let truncated = format!(
        "{{}}\n{}{{\"type\":\"event\",\"length\":500}}\n{{\"message\":\"cut",
        good("66666666666666666666666666666666")
    );
    assert_eq!(envelope(&pharos, 42, KEY, truncated).await.status, 400);
    assert!(stored(&pharos, "66666666666666666666666666666666").await);
    let bad_json = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":9}}\n{{not json\n{}",
        good("77777777777777777777777777777777")
    );
    assert_eq!(envelope(&pharos, 42, KEY, bad_json).await.status, 200);
    assert!(stored(&pharos, "77777777777777777777777777777777").await);
    let wrong_length = format!(
        "{{}}\n{}{{\"type\":\"event\",\"length\":3}}\n{{\"message\":\"longer than three\"}}\n",
        good("88888888888888888888888888888888")
    );
    assert_eq!(envelope(&pharos, 42, KEY, wrong_length).await.status, 400);
    assert!(stored(&pharos, "88888888888888888888888888888888").await);
    assert_eq!(
        envelope(&pharos, 42, KEY, "not an envelope\n").await.status,
        400
    );

    // Size limits: a 20 MB body, and one event over 1 MiB.
    let huge = vec![b'x'; 20_000_000];
    assert_eq!(envelope(&pharos, 42, KEY, huge).await.status, 413);
    let big_event = json!({"message": "x".repeat(1_100_000)}).to_string();
    let big = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{big_event}\n",
        big_event.len()
    );
    assert_eq!(envelope(&pharos, 42, KEY, big).await.status, 413);

    // The same event_id twice is stored and counted once.
    let dup = event_envelope("99999999999999999999999999999999", "duplicate 1");
    assert_eq!(envelope(&pharos, 42, KEY, dup.clone()).await.status, 200);
    assert_eq!(envelope(&pharos, 42, KEY, dup).await.status, 200);
    let issues = pharos.get("/api/v1/issues?query=duplicate").await;
    assert_eq!(issues["issues"][0]["count"], 1, "{issues}");

    // Quota: 3 events per minute, then 429 with Retry-After and the categories limited.
    let mut statuses = Vec::new();
    let mut last = None;
    for i in 0..5 {
        let s = envelope(
            &pharos,
            43,
            QUOTA_KEY,
            event_envelope(&format!("{i:032x}"), "quota"),
        )
        .await;
        statuses.push(s.status);
        last = Some(s);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let last = last.unwrap();
    let retry: u64 = last.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let limits = last.headers["x-sentry-rate-limits"].to_str().unwrap();
    assert!(
        limits.contains(":error;") && limits.contains("quota"),
        "{limits}"
    );

    // CORS preflight for browser SDKs.
    let r = client()
        .request(Method::OPTIONS, format!("{}/api/42/envelope/", pharos.url))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let allow = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allow.contains("x-sentry-auth"), "{allow}");

    // Revoking a key through the API takes effect at once.
    let (st, v) = pharos
        .send(
            Method::POST,
            "/api/v1/projects/42/keys",
            Some(json!({"label": "ci"})),
        )
        .await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let key = v["public_key"].as_str().unwrap().to_string();
    assert!(v["dsn"].as_str().unwrap().ends_with("/42"));
    let probe = event_envelope("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "new key works");
    assert_eq!(envelope(&pharos, 42, &key, probe.clone()).await.status, 200);
    let (st, _) = pharos
        .send(
            Method::DELETE,
            &format!("/api/v1/projects/42/keys/{key}"),
            None,
        )
        .await;
    assert_eq!(st.as_u16(), 204);
    assert_eq!(envelope(&pharos, 42, &key, probe).await.status, 401);

    // Metrics say what happened.
    let metrics = client()
        .get(format!("{}/metrics", pharos.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("pharos_error_events_total{level=\"error\",project=\"shop\"}"));
    assert!(metrics.contains("pharos_sentry_items_total{outcome=\"skipped\",type=\"profile\"}"));
    assert!(metrics.contains("pharos_transactions_total"));
    // sentry-sdk 3.0's streamed spans: the segment `/fast` arrived with one child, six
    // more children in another envelope; all of them are in its waterfall.
    assert!(metrics.contains("pharos_sentry_items_total{outcome=\"accepted\",type=\"span\"}"));
    assert!(
        metrics.contains("transaction=\"/fast\""),
        "span-made transactions are series"
    );
    let (st, v) = pharos
        .send(
            Method::GET,
            "/api/v1/transactions?project=42&period=30d&name=/fast",
            None,
        )
        .await;
    assert_eq!(st.as_u16(), 200, "{v}");
    assert_eq!(v["transactions"][0]["count"], 1, "{v}");
    assert_eq!(v["transactions"][0]["op"], "http.server", "{v}");
    let spans = v["slowest"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 7, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_event_survives_kill_9() {
    let dir = tempdir("sentry-kill9");
    let hook = webhook().await;
    let mut pharos = Pharos::start(&dir, Some(&config(&hook))).await;
    let ids: Vec<String> = (0..20).map(|i| format!("{:032x}", 0xabc000 + i)).collect();
    for id in &ids {
        let s = envelope(
            &pharos,
            42,
            KEY,
            event_envelope(id, &format!("kill test {id}")),
        )
        .await;
        assert_eq!(s.status, 200);
    }
    // Killed right after the last 200: no graceful shutdown, no flush.
    pharos.kill9();
    let pharos = Pharos::start_with(&dir, pharos.config.clone(), pharos.port).await;
    for id in &ids {
        assert!(stored(&pharos, id).await, "event {id} lost after kill -9");
    }
    let issues = pharos.get("/api/v1/issues?query=kill%20test").await;
    assert_eq!(issues["total"], 1, "{issues}");
    assert_eq!(issues["issues"][0]["count"], 20);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn transaction_envelope(id: &str, name: &str, ms: i64) -> String {
    let end = chrono::Utc::now();
    let start = end - chrono::Duration::milliseconds(ms);
    let t = json!({
        "type": "transaction", "event_id": id, "transaction": name,
        "start_timestamp": start.to_rfc3339(), "timestamp": end.to_rfc3339(),
        "contexts": {"trace": {"trace_id": "0123456789abcdef0123456789abcdef", "span_id": "0123456789abcdef", "op": "http.server", "status": "ok"}},
        "spans": [],
    })
    .to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"transaction\",\"length\":{}}}\n{t}\n",
        t.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rates_slow_transactions_and_regressions_alert() {
    let dir = tempdir("sentry-alerts");
    let hook = webhook().await;
    let config = format!(
        r#"
projects:
  - id: 7
    name: api
    keys: ["{KEY}"]
    alerts:
      events_per_minute: 3
      transaction_p95: 200ms
      labels:
        team: backend
receivers:
  - name: ops
    webhook_configs:
      - url: {hook}
"#,
        hook = hook.url()
    );
    let pharos = Pharos::start(&dir, Some(&config)).await;
    for i in 0..5 {
        let s = envelope(
            &pharos,
            7,
            KEY,
            event_envelope(&format!("{:032x}", 0x100 + i), "checkout failed"),
        )
        .await;
        assert_eq!(s.status, 200);
    }
    for i in 0..3 {
        let s = envelope(
            &pharos,
            7,
            KEY,
            transaction_envelope(&format!("{:032x}", 0x200 + i), "POST /checkout", 450),
        )
        .await;
        assert_eq!(s.status, 200);
    }
    let firing = |name: &'static str| {
        move |v: &Value| {
            v["status"] == "firing"
                && v["alerts"][0]["labels"]["alertname"] == name
                && v["alerts"][0]["status"] == "firing"
        }
    };
    let rate = hook
        .wait_for(20, "ErrorRateHigh", firing("ErrorRateHigh"))
        .await;
    assert_eq!(rate["alerts"][0]["labels"]["team"], "backend");
    assert_eq!(rate["alerts"][0]["labels"]["project"], "api");
    let slow = hook
        .wait_for(20, "TransactionSlow", firing("TransactionSlow"))
        .await;
    assert_eq!(slow["alerts"][0]["labels"]["transaction"], "POST /checkout");

    // Resolve the issue, then the same error again: a regression, and it alerts.
    let issues = pharos.get("/api/v1/issues?query=checkout").await;
    let id = issues["issues"][0]["id"].as_i64().unwrap();
    assert_eq!(issues["issues"][0]["count"], 5);
    let (st, v) = pharos
        .send(
            Method::PATCH,
            &format!("/api/v1/issues/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(
        (st.as_u16(), v["status"].as_str()),
        (200, Some("resolved")),
        "{v}"
    );
    let s = envelope(
        &pharos,
        7,
        KEY,
        event_envelope(&format!("{:032x}", 0x300), "checkout failed"),
    )
    .await;
    assert_eq!(s.status, 200);
    let reg = hook
        .wait_for(10, "IssueRegression", firing("IssueRegression"))
        .await;
    assert_eq!(reg["alerts"][0]["labels"]["issue_id"], id.to_string());
    let issue = pharos.get(&format!("/api/v1/issues/{id}")).await;
    assert_eq!(
        (issue["status"].as_str(), issue["substatus"].as_str()),
        (Some("unresolved"), Some("regressed"))
    );

    // Resolving it again resolves the regression alert.
    pharos
        .send(
            Method::PATCH,
            &format!("/api/v1/issues/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    hook.wait_for(20, "IssueRegression resolved", |v| {
        v["status"] == "resolved" && v["alerts"][0]["labels"]["alertname"] == "IssueRegression"
    })
    .await;
}
