//! End to end: what a holder of a project's public DSN key (public by design) — or of no
//! key at all — can make Pharos do is bounded: no body decoded before the key is checked,
//! check-ins create a bounded number of monitors that stay off the public status page,
//! per-project series are capped, and every kept category has a quota.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "boundspublickey0123456789";

fn config(extra: &str) -> String {
    format!(
        r#"
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
    alerts:
      new_issue: false
{extra}"#
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn auth(key: &str) -> String {
    format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=bounds/1.0")
}

async fn post(
    pharos: &Pharos,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = client().post(format!("{}{path}", pharos.url)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn metrics(pharos: &Pharos) -> String {
    client()
        .get(format!("{}/metrics", pharos.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the one sample whose line starts with `series`, 0 when absent.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Sends headers announcing a 16 MB body and only its first bytes, then waits for the
/// answer: it must come without the rest of the body.
async fn answer_to_a_body_never_sent(pharos: &Pharos, path: &str, auth: Option<&str>) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", pharos.port))
        .await
        .unwrap();
    let auth = auth
        .map(|a| format!("X-Sentry-Auth: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n{auth}Content-Length: 16000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&gzip(&[b'{'; 100_000])[..64]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("Pharos waited for a body it should not read")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_without_a_good_key_is_refused_before_it_is_decoded() {
    let dir = tempdir("bounds-bomb");
    let pharos = Pharos::start(&dir, Some(&config(""))).await;
    let bomb = gzip(&vec![0u8; 17 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);

    for (path, key) in [
        ("/api/999/envelope/", None),
        ("/api/42/envelope/", None),
        ("/api/42/envelope/", Some("wrongkey0123456789")),
        ("/api/42/store/", None),
        ("/api/42/store/", Some("wrongkey0123456789")),
    ] {
        let auth_value = key.map(auth);
        let mut headers = vec![("Content-Encoding", "gzip")];
        if let Some(a) = &auth_value {
            headers.push(("X-Sentry-Auth", a));
        }
        let r = post(&pharos, path, &headers, bomb.clone()).await;
        assert_eq!(r.status(), 401, "{path} {key:?}");
    }
    // An envelope whose header line does not end within the cap has no key in time.
    let r = post(&pharos, "/api/42/envelope/", &[], bomb.clone()).await;
    assert_eq!(r.status(), 401);
    let m = metrics(&pharos).await;
    assert_eq!(sample(&m, "pharos_sentry_decoded_bytes_total"), 0.0, "{m}");

    // The answer comes before the body: a wrong key in the header, or none.
    for (path, auth_value) in [
        ("/api/42/envelope/", Some(auth("wrongkey0123456789"))),
        ("/api/999/envelope/", None),
        ("/api/42/store/", None),
    ] {
        let answer = answer_to_a_body_never_sent(&pharos, path, auth_value.as_deref()).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{path}: {answer}");
    }

    // With the key, the same bomb is decoded (up to the cap) and refused as too large;
    // a good compressed envelope still works, the key in the header line too.
    let r = post(
        &pharos,
        "/api/42/envelope/",
        &[("Content-Encoding", "gzip"), ("X-Sentry-Auth", &auth(KEY))],
        bomb,
    )
    .await;
    assert_eq!(r.status(), 413);
    let id = "0123456789abcdef0123456789abcdef";
    let event = json!({"event_id": id, "message": "compressed, dsn in header"}).to_string();
    let body = format!(
        "{{\"event_id\":\"{id}\",\"dsn\":\"http://{KEY}@127.0.0.1:1/42\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    let r = post(
        &pharos,
        "/api/42/envelope/",
        &[("Content-Encoding", "gzip")],
        gzip(body.as_bytes()),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], id);
    let m = metrics(&pharos).await;
    assert!(sample(&m, "pharos_sentry_decoded_bytes_total") > 0.0, "{m}");
}

fn check_in_item(slug: &str, status: &str) -> String {
    let c = json!({
        "check_in_id": "d4c0640235594266a16311e7092b97c8",
        "monitor_slug": slug,
        "status": status,
        "monitor_config": {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "timezone": "UTC"},
    })
    .to_string();
    format!("{{\"type\":\"check_in\",\"length\":{}}}\n{c}\n", c.len())
}

async fn envelope(pharos: &Pharos, project: u32, key: &str, body: String) -> reqwest::Response {
    post(
        pharos,
        &format!("/api/{project}/envelope/"),
        &[("X-Sentry-Auth", &auth(key))],
        body.into_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_create_a_bounded_number_of_monitors_and_none_reach_the_status_page() {
    let dir = tempdir("bounds-checkins");
    let pharos = Pharos::start(
        &dir,
        Some(&config(
            r#"monitors:
  - name: Website
    heartbeat: {period: 1d}
web:
  status_page:
    monitors: [website]
"#,
        )),
    )
    .await;

    // A slug Sentry would never make creates nothing (and shows nothing).
    let hacked = "WE GOT HACKED visit evil.example";
    let r = envelope(
        &pharos,
        42,
        KEY,
        format!("{{}}\n{}", check_in_item(hacked, "error")),
    )
    .await;
    assert_eq!(r.status(), 200);

    // 60 new slugs in one envelope: the default cap of 50 monitors holds.
    let mut body = String::from("{}\n");
    for i in 0..60 {
        body.push_str(&check_in_item(&format!("job-{i:02}"), "error"));
    }
    let r = envelope(&pharos, 42, KEY, body).await;
    assert_eq!(r.status(), 200, "the SDK gets its usual answer");
    let list = pharos.get("/api/v1/monitors?limit=1000").await;
    let made: Vec<&str> = list["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .filter(|id| id.starts_with("sentry-42-"))
        .collect();
    assert_eq!(made.len(), 50, "{made:?}");
    assert!(!made.iter().any(|id| id.contains("hacked")), "{made:?}");
    // Check-ins for monitors already made still count.
    let r = envelope(
        &pharos,
        42,
        KEY,
        format!("{{}}\n{}", check_in_item("job-00", "ok")),
    )
    .await;
    assert_eq!(r.status(), 200);
    // The drops are visible to the admin.
    let m = metrics(&pharos).await;
    assert_eq!(
        sample(
            &m,
            "pharos_sentry_items_total{outcome=\"monitor_limit\",type=\"check_in\"}"
        ),
        10.0,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "pharos_sentry_items_total{outcome=\"invalid\",type=\"check_in\"}"
        ),
        1.0,
        "{m}"
    );

    // Customers see only the monitor the config chose, not the failing check-in monitors.
    let page = client()
        .get(format!("{}/status", pharos.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Website"), "{page}");
    for absent in ["job-0", "HACKED", "Partial outage", "Major outage"] {
        assert!(
            !page.contains(absent),
            "{absent} on the status page: {page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_no_monitor_unless_chosen() {
    let dir = tempdir("bounds-status");
    let pharos = Pharos::start(
        &dir,
        Some(&config(
            "monitors:\n  - name: Internal database\n    heartbeat: {period: 1d}\n",
        )),
    )
    .await;
    let page = |signed_in: bool| {
        let mut req = client().get(format!("{}/status", pharos.url));
        if signed_in {
            req = req.bearer_auth(TOKEN);
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let public = page(false).await;
    assert!(!public.contains("Internal database"), "{public}");
    assert!(!public.contains("web.status_page.monitors"), "{public}");
    let admin = page(true).await;
    assert!(!admin.contains("Internal database"), "{admin}");
    assert!(admin.contains("web.status_page.monitors"), "{admin}");
}

fn transaction_item(id: &str, name: &str) -> String {
    let end = chrono::Utc::now();
    let start = end - chrono::Duration::milliseconds(20);
    let t = json!({
        "type": "transaction", "event_id": id, "transaction": name,
        "start_timestamp": start.to_rfc3339(), "timestamp": end.to_rfc3339(),
        "contexts": {"trace": {"trace_id": "0123456789abcdef0123456789abcdef", "span_id": "0123456789abcdef", "op": "http.server", "status": "ok"}},
        "spans": [],
    })
    .to_string();
    format!("{{\"type\":\"transaction\",\"length\":{}}}\n{t}\n", t.len())
}

fn event_item(id: &str, fingerprint: &str) -> String {
    let e = json!({"event_id": id, "message": "a failure", "level": "error", "fingerprint": [fingerprint]})
        .to_string();
    format!("{{\"type\":\"event\",\"length\":{}}}\n{e}\n", e.len())
}

/// The distinct values of `label` among the samples of `metric` for project shop.
fn label_values(metrics: &str, metric: &str, label: &str) -> HashSet<String> {
    let needle = format!("{label}=\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains("project=\"shop\""))
        .filter_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_transaction_names_make_at_most_a_hundred_series() {
    let dir = tempdir("bounds-series");
    let pharos = Pharos::start(&dir, Some(&config(""))).await;
    for batch in 0..10 {
        let mut body = String::from("{}\n");
        for i in 0..100 {
            let n = batch * 100 + i;
            body.push_str(&transaction_item(
                &format!("{n:032x}"),
                &format!("/item/{n}"),
            ));
        }
        assert_eq!(envelope(&pharos, 42, KEY, body).await.status(), 200);
    }
    for batch in 0..3 {
        let mut body = String::from("{}\n");
        for i in 0..50 {
            let n = batch * 50 + i;
            body.push_str(&event_item(
                &format!("{:032x}", 100_000 + n),
                &format!("failure-{n}"),
            ));
        }
        assert_eq!(envelope(&pharos, 42, KEY, body).await.status(), 200);
    }
    let m = metrics(&pharos).await;
    let names = label_values(&m, "pharos_transactions_total", "transaction");
    assert_eq!(names.len(), 101, "{names:?}");
    assert!(names.contains("<other>"));
    assert_eq!(
        sample(
            &m,
            "pharos_transactions_total{project=\"shop\",status=\"ok\",transaction=\"<other>\"}"
        ),
        900.0
    );
    let durations = label_values(
        &m,
        "pharos_transaction_duration_seconds_count",
        "transaction",
    );
    assert_eq!(durations.len(), 101);
    let issues = label_values(&m, "pharos_issue_events_total", "issue");
    assert_eq!(issues.len(), 101, "{issues:?}");
    assert_eq!(
        sample(
            &m,
            "pharos_issue_events_total{issue=\"<other>\",project=\"shop\"}"
        ),
        50.0
    );
}

const QUOTA_KEY: &str = "boundsquotakey0123456789";

fn limits_config() -> String {
    config(&format!(
        r#"  - id: 43
    name: limited
    keys: ["{QUOTA_KEY}"]
    rate_limit: 100
    limits:
      transactions_per_minute: 2
      sessions_per_minute: 1
      logs_per_minute: 3
      check_ins_per_minute: 1
      attachment_mb_per_minute: 1
"#
    ))
}

fn attachment_item(bytes: usize) -> String {
    format!(
        "{{\"type\":\"attachment\",\"length\":{bytes},\"filename\":\"dump.txt\"}}\n{}\n",
        "a".repeat(bytes)
    )
}

fn rate_limits(r: &reqwest::Response) -> String {
    r.headers()["x-sentry-rate-limits"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kept_category_has_a_quota_told_per_category() {
    let dir = tempdir("bounds-quota");
    let pharos = Pharos::start(&dir, Some(&limits_config())).await;

    // Three transactions against a quota of two: two kept, the SDK told to hold back
    // transactions only.
    let mut body = String::from("{}\n");
    for i in 0..3 {
        body.push_str(&transaction_item(&format!("{:032x}", 500 + i), "/checkout"));
    }
    let r = envelope(&pharos, 43, QUOTA_KEY, body).await;
    assert_eq!(r.status(), 200);
    let limits = rate_limits(&r);
    assert!(
        limits.contains(":transaction;span:project:quota"),
        "{limits}"
    );
    assert!(!limits.contains(":error;"), "{limits}");
    // An envelope of nothing but over-quota items is refused as a whole.
    let r = envelope(
        &pharos,
        43,
        QUOTA_KEY,
        format!(
            "{{}}\n{}",
            transaction_item(&format!("{:032x}", 600), "/checkout")
        ),
    )
    .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let limits = rate_limits(&r);
    let entry = limits
        .split(", ")
        .find(|e| e.contains(":transaction;span:"))
        .unwrap_or_else(|| panic!("{limits}"));
    let fields: Vec<&str> = entry.split(':').collect();
    assert_eq!(fields.len(), 4, "{entry}");
    assert!(fields[0].parse::<u64>().is_ok(), "{entry}");
    assert_eq!(&fields[1..], ["transaction;span", "project", "quota"]);

    // Errors still go through; attachments are counted in bytes.
    let r = envelope(
        &pharos,
        43,
        QUOTA_KEY,
        format!(
            "{{\"event_id\":\"{:032x}\"}}\n{}{}{}",
            700,
            event_item(&format!("{:032x}", 700), "quota-a"),
            attachment_item(700 * 1024),
            attachment_item(700 * 1024),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let limits = rate_limits(&r);
    assert!(limits.contains(":attachment:project:quota"), "{limits}");

    // Check-ins count too: one per minute here.
    let r = envelope(
        &pharos,
        43,
        QUOTA_KEY,
        format!(
            "{{}}\n{}{}",
            check_in_item("nightly", "ok"),
            check_in_item("nightly", "ok")
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(rate_limits(&r).contains(":monitor:project:quota"));

    let m = metrics(&pharos).await;
    assert_eq!(
        sample(
            &m,
            "pharos_transactions_total{project=\"limited\",status=\"ok\",transaction=\"/checkout\"}"
        ),
        2.0,
        "{m}"
    );
    for ty in ["transaction", "attachment", "check_in"] {
        let series = format!("pharos_sentry_items_total{{outcome=\"rate_limited\",type=\"{ty}\"}}");
        assert!(sample(&m, &series) >= 1.0, "{series}: {m}");
    }
    // Project 42 has its own quotas, untouched by 43's.
    let r = envelope(
        &pharos,
        42,
        KEY,
        format!(
            "{{}}\n{}",
            transaction_item(&format!("{:032x}", 800), "/checkout")
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(!rate_limits(&r).contains("quota"));
}

/// Text that compresses poorly: pseudo-random lowercase words.
fn incompressible(len: usize, seed: u64) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 8 == 7 {
                ' '
            } else {
                (b'a' + ((x >> 33) % 26) as u8) as char
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_budget_refuses_new_payloads_and_keeps_the_old() {
    let dir = tempdir("bounds-disk");
    let pharos = Pharos::start(
        &dir,
        Some(&config(
            r#"  - id: 44
    name: small
    keys: ["boundsdiskkey0123456789"]
    limits:
      disk_budget_mb: 1
"#,
        )),
    )
    .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for i in 0..4u64 {
        let id = format!("{:032x}", 900 + i);
        let e = json!({"event_id": id, "message": "big", "fingerprint": ["big"], "extra": {"blob": incompressible(600_000, i)}}).to_string();
        let body = format!("{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{e}\n", e.len());
        let r = envelope(&pharos, 44, "boundsdiskkey0123456789", body).await;
        statuses.push(r.status().as_u16());
        last = Some(r);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let last = last.unwrap();
    assert!(rate_limits(&last).contains(":error;default;security:project:disk_budget"));
    // Spans are stored too, so the full budget refuses them as well (sentry-sdk 3.x).
    let spans = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../ingest/tests/fixtures/sentry/sdk3-001-span.envelope"),
    )
    .unwrap();
    let r = envelope(&pharos, 44, "boundsdiskkey0123456789", spans).await;
    assert_eq!(r.status(), 429);
    assert!(
        rate_limits(&r).contains(":transaction;span:project:disk_budget"),
        "{}",
        rate_limits(&r)
    );
    // Nothing stored was deleted to make room.
    for i in 0..2u64 {
        let r = client()
            .get(format!("{}/api/v1/events/{:032x}", pharos.url, 900 + i))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "event {i} is gone");
    }
    // The project's answer shows what it uses.
    let p = pharos.get("/api/v1/projects/44").await;
    assert_eq!(p["usage"]["disk_budget_bytes"], 1024 * 1024, "{p}");
    assert!(
        p["usage"]["disk_used_bytes"].as_u64().unwrap() > 1024 * 1024,
        "{p}"
    );
    assert_eq!(p["limits"]["disk_budget_mb"], 1, "{p}");
    let page = client()
        .get(format!("{}/projects/44", pharos.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("MiB used of") && page.contains("1 MiB budget"),
        "{page}"
    );
    // Errors of other projects are untouched.
    let r = envelope(
        &pharos,
        42,
        KEY,
        format!("{{}}\n{}", event_item(&format!("{:032x}", 999), "fine")),
    )
    .await;
    assert_eq!(r.status(), 200);
}

/// Finding 5 with nothing configured: a public key alone could store 10 MiB attachments
/// without limit. The default quota (100 MiB a minute) refuses the eleventh, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_limits_attachments_are_bounded_per_minute() {
    let dir = tempdir("bounds-default-attachments");
    let pharos = Pharos::start(&dir, Some(&config(""))).await;
    let ten_mib = attachment_item(10 * 1024 * 1024 - 64);
    // The quota is per clock minute: start early in one so all twelve land in it.
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second > 30 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let mut stored = 0;
    let mut refused = None;
    for i in 0..12 {
        let body = format!(
            "{{\"event_id\":\"{:032x}\"}}\n{}{ten_mib}",
            900 + i,
            event_item(&format!("{:032x}", 900 + i), "dump")
        );
        let r = envelope(&pharos, 42, KEY, body).await;
        assert_eq!(r.status(), 200, "the error event still goes through");
        let limits = r
            .headers()
            .get("x-sentry-rate-limits")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        if limits.contains(":attachment:project:quota") {
            refused = Some(i);
            break;
        }
        stored += 1;
    }
    assert_eq!(
        refused,
        Some(10),
        "ten 10 MiB attachments fill the default 100 MiB a minute; {stored} were stored"
    );
    let m = metrics(&pharos).await;
    let series = "pharos_sentry_items_total{outcome=\"rate_limited\",type=\"attachment\"}";
    assert_eq!(sample(&m, series), 1.0, "{m}");
}
