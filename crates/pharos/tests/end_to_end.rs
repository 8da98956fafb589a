//! End to end: the real binary, probing real (loopback) targets, sending real webhooks.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A credential in the config; it must reach the target but never the store or the log.
const SECRET: &str = "e2e-very-secret-header-value";

fn config(target: &Target, hook: &Webhook, extra_monitors: &str) -> String {
    format!(
        r#"
monitors:
  - name: API health
    interval: 1s
    failures_before_down: 2
    labels:
      team: backend
    http:
      url: {health}
      timeout: 2s
      headers:
        X-Api-Key: {SECRET}
      json_assertions:
        - status == "healthy"
        - checks.database.latency_ms < 100
      record_numbers: [queue_size]
{extra_monitors}
receivers:
  - name: ops
    webhook_configs:
      - url: {hook}
"#,
        health = target.url("/health"),
        hook = hook.url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_monitor_alerts_through_webhook_on_down_and_up() {
    let dir = tempdir("flip");
    let target = target().await;
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, &hook, ""))).await;

    let m = pharos
        .wait_monitor("api-health", 10, |m| state(m) == "up")
        .await;
    assert_eq!(m["source"], "config");
    assert_eq!(m["numbers"][0]["name"], "queue_size");
    assert_eq!(m["numbers"][0]["value"], 3.0);

    // 500s: pending after the first failure, firing after the second.
    target.set(Mode::Error500);
    let m = pharos
        .wait_monitor("api-health", 10, |m| state(m) == "down")
        .await;
    assert!(m["last_error"].as_str().unwrap().contains("500"), "{m}");
    let firing = hook
        .wait_for(10, "firing", |p| p["status"] == "firing")
        .await;
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["receiver"], "ops");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "MonitorDown");
    assert_eq!(alert["labels"]["monitor"], "api-health");
    assert_eq!(alert["labels"]["team"], "backend");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/monitors/api-health"),
        "{alert}"
    );
    assert!(!alert["fingerprint"].as_str().unwrap().is_empty());

    let alerts = pharos.get("/api/v1/alerts/history?state=firing").await;
    assert_eq!(alerts["alerts"][0]["labels"]["alertname"], "MonitorDown");

    // Back to healthy: resolved, and the delivery log shows both.
    target.set(Mode::Healthy);
    pharos
        .wait_monitor("api-health", 10, |m| state(m) == "up")
        .await;
    let resolved = hook
        .wait_for(10, "resolved", |p| p["status"] == "resolved")
        .await;
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert!(resolved["alerts"][0]["endsAt"].as_str().unwrap() > "2000");
    let deliveries = pharos.get("/api/v1/deliveries").await;
    let outcomes: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.iter().filter(|o| **o == "delivered").count() >= 2,
        "{deliveries:#}"
    );

    // Bad JSON and an unhealthy body fail with the reason.
    target.set(Mode::BadJson);
    let m = pharos
        .wait_monitor("api-health", 10, |m| state(m) == "down")
        .await;
    assert!(
        m["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("json"),
        "{m}"
    );
    target.set(Mode::Unhealthy);
    let m = pharos
        .wait_monitor("api-health", 10, |m| {
            m["last_error"].as_str().unwrap_or("").contains("unhealthy")
        })
        .await;
    assert_eq!(state(&m), "down");

    // Uptime and percentiles are there for the API.
    let m = pharos.monitor("api-health").await;
    let up = m["uptime_percent"]["24h"].as_f64().unwrap();
    assert!(up > 0.0 && up < 100.0, "{m}");
    assert!(m["latency_24h"]["p95_ms"].as_f64().is_some());
    let results = pharos
        .get("/api/v1/monitors/api-health/results?limit=5")
        .await;
    assert_eq!(results["results"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_failures_are_retried_with_backoff() {
    let dir = tempdir("retry");
    let target = target().await;
    target.set(Mode::Error500);
    let hook = webhook().await;
    hook.fail_next(2);
    let _pharos = Pharos::start(&dir, Some(&config(&target, &hook, ""))).await;
    hook.wait_for(15, "firing after retries", |p| p["status"] == "firing")
        .await;
    assert!(hook.attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_fail_with_reasons_and_never_stall_the_others() {
    let dir = tempdir("bad");
    let target = target().await;
    target.set(Mode::Slow);
    let closed = free_port();
    let monitors = format!(
        r#"
  - name: Slow
    interval: 1s
    http: {{ url: "{slow}", timeout: 1s }}
  - name: Huge
    interval: 2s
    http: {{ url: "{huge}", timeout: 5s, keyword: "needle" }}
  - name: Endless
    interval: 2s
    http: {{ url: "{endless}", timeout: 1s }}
  - name: Closed
    interval: 1s
    tcp: {{ address: "127.0.0.1:{closed}", timeout: 1s }}
  - name: Fast
    interval: 1s
    http: {{ url: "{fast}", expected_status: ["2xx"], keyword: "ok" }}
"#,
        slow = target.url("/health"),
        huge = target.url("/huge"),
        endless = target.url("/endless"),
        fast = target.url("/fast"),
    );
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, &hook, &monitors))).await;

    let m = pharos
        .wait_monitor("slow", 10, |m| state(m) == "down")
        .await;
    assert!(
        m["last_error"].as_str().unwrap().contains("timed out"),
        "{m}"
    );
    let m = pharos
        .wait_monitor("huge", 15, |m| state(m) == "down")
        .await;
    assert!(m["last_error"].as_str().unwrap().contains("MiB"), "{m}");
    let m = pharos
        .wait_monitor("endless", 10, |m| state(m) == "down")
        .await;
    assert!(
        m["last_error"].as_str().unwrap().contains("timed out"),
        "{m}"
    );
    let m = pharos
        .wait_monitor("closed", 10, |m| state(m) == "down")
        .await;
    assert!(m["last_error"].as_str().unwrap().contains("refused"), "{m}");

    // Meanwhile the fast monitor kept its 1 s schedule.
    let before = pharos.get("/api/v1/monitors/fast/results?limit=1000").await["results"]
        .as_array()
        .unwrap()
        .len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = pharos.get("/api/v1/monitors/fast/results?limit=1000").await["results"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        after - before >= 3,
        "fast monitor ran {} times in 4 s",
        after - before
    );
    assert_eq!(state(&pharos.monitor("fast").await), "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_certificate_close_to_expiry_is_degraded() {
    let dir = tempdir("tls");
    let addr = tls_target(5).await;
    let conf = format!(
        r#"
monitors:
  - name: Shop
    interval: 1s
    http:
      url: https://localhost:{port}/
      tls_skip_verify: true
      tls_expiry_warning_days: 14
"#,
        port = addr.port()
    );
    let pharos = Pharos::start(&dir, Some(&conf)).await;
    let m = pharos
        .wait_monitor("shop", 10, |m| state(m) == "degraded")
        .await;
    let err = m["last_error"].as_str().unwrap();
    assert!(
        err.contains("expires in 4 days") || err.contains("expires in 5 days"),
        "{m}"
    );
    let alerts = pharos.get("/api/v1/alerts/history?monitor=shop").await;
    assert_eq!(
        alerts["alerts"][0]["labels"]["alertname"], "MonitorDegraded",
        "{alerts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_results_survive_kill_9_without_renotifying() {
    let dir = tempdir("restart");
    let target = target().await;
    target.set(Mode::Error500);
    let hook = webhook().await;
    let port = free_port();
    std::fs::write(dir.join("pharos.yaml"), config(&target, &hook, "")).unwrap();
    let mut pharos = Pharos::start_with(&dir, Some(dir.join("pharos.yaml")), port).await;
    // An API monitor too, to check API definitions persist.
    let (code, _) = pharos
        .send(Method::POST, "/api/v1/monitors", Some(json!({"name": "Via API", "interval": "1s", "tcp": {"address": target.addr.to_string()}})))
        .await;
    assert_eq!(code, 201);
    pharos
        .wait_monitor("api-health", 10, |m| state(m) == "down")
        .await;
    hook.wait_for(10, "firing", |p| p["status"] == "firing")
        .await;
    let seen = pharos
        .get("/api/v1/monitors/api-health/results?limit=1000")
        .await["results"]
        .as_array()
        .unwrap()
        .len();

    pharos.kill9();
    // Every file of the data dir, the metrics store's too.
    let mut dirs = vec![dir.join("data")];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "a secret reached the store: {}",
                path.display()
            );
        }
    }
    assert!(!pharos.log_text().contains(SECRET));
    let second = Pharos::start_with(&dir, Some(dir.join("pharos.yaml")), port).await;
    let m = second.monitor("api-health").await;
    assert_eq!(state(&m), "down", "state is remembered");
    let kept = second
        .get("/api/v1/monitors/api-health/results?limit=1000")
        .await["results"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        kept >= seen,
        "results before kill -9: {seen}, after restart: {kept}"
    );
    assert_eq!(
        state(
            &second
                .wait_monitor("via-api", 10, |m| state(m) == "up")
                .await
        ),
        "up"
    );

    // Still down after restart: no second "firing" notification.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let firing = hook
        .payloads()
        .iter()
        .filter(|p| p["status"] == "firing")
        .count();
    assert_eq!(firing, 1, "{:#?}", hook.payloads());
    let open = second.get("/api/v1/alerts/history?state=firing").await;
    assert_eq!(open["alerts"].as_array().unwrap().len(), 1);

    // A second process on the same data directory refuses to start.
    let out = Pharos::command(
        &dir.join("data"),
        None,
        free_port(),
        &dir.join("second.log"),
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let log = std::fs::read_to_string(dir.join("second.log")).unwrap();
    assert!(log.contains("in use by another Pharos process"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_good_config_keeps_history_and_refuses_bad() {
    let dir = tempdir("reload");
    let target = target().await;
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, &hook, ""))).await;
    pharos
        .wait_monitor("api-health", 10, |m| state(m) == "up")
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = pharos
        .get("/api/v1/monitors/api-health/results?limit=1000")
        .await["results"]
        .as_array()
        .unwrap()
        .len();

    // Add a monitor by SIGHUP.
    let extra = format!(
        "  - name: Extra\n    interval: 1s\n    http: {{ url: \"{}\" }}\n",
        target.url("/fast")
    );
    std::fs::write(
        pharos.config.as_ref().unwrap(),
        config(&target, &hook, &extra),
    )
    .unwrap();
    pharos.signal(libc::SIGHUP);
    pharos.wait_monitor("extra", 10, |m| state(m) == "up").await;
    let after = pharos
        .get("/api/v1/monitors/api-health/results?limit=1000")
        .await["results"]
        .as_array()
        .unwrap()
        .len();
    assert!(after >= before, "history kept across reload");
    assert_eq!(state(&pharos.monitor("api-health").await), "up");

    // A broken config is refused over the API and the old one keeps running.
    std::fs::write(
        pharos.config.as_ref().unwrap(),
        "monitors:\n  - name: x\n    interval: 0s\n    http: { url: 'http://x' }\n",
    )
    .unwrap();
    let (code, body) = pharos.send(Method::POST, "/-/reload", None).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("pharos.yaml:3:5"),
        "{body}"
    );
    pharos.monitor("extra").await;

    // Without the token, no reload.
    let r = client()
        .post(format!("{}/-/reload", pharos.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Config monitors cannot be changed through the API.
    let (code, body) = pharos
        .send(Method::DELETE, "/api/v1/monitors/extra", None)
        .await;
    assert_eq!(code, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_pings_keep_a_job_up_and_silence_takes_it_down() {
    let dir = tempdir("heartbeat");
    let pharos = Pharos::start(&dir, None).await;
    let (code, m) = pharos
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Lock", "heartbeat": {"period": "2s", "grace": "1s"}})),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let ping = m["ping_url"].as_str().unwrap().to_string();
    assert!(ping.starts_with(&format!("{}/ping/", pharos.url)), "{ping}");

    let c = client();
    assert_eq!(
        c.get(&ping).send().await.unwrap().text().await.unwrap(),
        "OK"
    );
    pharos.wait_monitor("lock", 5, |m| state(m) == "up").await;
    // Silence: down after period + grace.
    let m = pharos.wait_monitor("lock", 8, |m| state(m) == "down").await;
    assert!(m["last_error"].as_str().unwrap().contains("no ping"), "{m}");
    // A POST ping with a body brings it back; /fail takes it down at once.
    c.post(&ping).body("backup done").send().await.unwrap();
    pharos.wait_monitor("lock", 5, |m| state(m) == "up").await;
    c.post(format!("{ping}/fail"))
        .body("disk full")
        .send()
        .await
        .unwrap();
    let m = pharos.wait_monitor("lock", 5, |m| state(m) == "down").await;
    assert!(
        m["last_error"].as_str().unwrap().contains("disk full"),
        "{m}"
    );
    c.get(format!("{ping}/0")).send().await.unwrap();
    pharos.wait_monitor("lock", 5, |m| state(m) == "up").await;
    assert_eq!(
        c.get(format!("{}/ping/not-a-token", pharos.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_guards_input_and_access() {
    let dir = tempdir("api");
    let pharos = Pharos::start(&dir, None).await;
    let c = client();

    // Reads and writes need the token; the status page, health and metrics do not.
    assert_eq!(
        c.get(format!("{}/api/v1/monitors", pharos.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.get(format!("{}/status", pharos.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c.get(format!("{}/", pharos.url)).send().await.unwrap();
    assert!(
        r.url().path().starts_with("/login"),
        "overview needs sign-in: {}",
        r.url()
    );

    for (body, field) in [
        (
            json!({"name": "x", "http": {"url": "not a url"}}),
            "http.url",
        ),
        (
            json!({"name": "x", "http": {"url": "http://a", "timeout": 5}, "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "x", "interval": "0s", "tcp": {"address": "a:1"}}),
            "interval",
        ),
        (
            json!({"name": "x", "http": {"url": "http://a", "json_assertions": ["status =="]}}),
            "http.json_assertions[0]",
        ),
        (
            json!({"name": "x", "heartbeat": {"schedule": "not cron"}}),
            "",
        ),
        (json!({"name": 5, "tcp": {"address": "a:1"}}), "name"),
    ] {
        let (code, err) = pharos
            .send(Method::POST, "/api/v1/monitors", Some(body.clone()))
            .await;
        assert_eq!(code, 400, "{body} → {err}");
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{body} → {err}");
        }
        assert!(!err["error"].as_str().unwrap().is_empty());
    }
    let r = c
        .post(format!("{}/api/v1/monitors", pharos.url))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let (code, _) = pharos
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "A", "tcp": {"address": "127.0.0.1:1"}})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, _) = pharos
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "A", "tcp": {"address": "127.0.0.1:1"}})),
        )
        .await;
    assert_eq!(code, 409);
    let (code, m) = pharos
        .send(
            Method::PATCH,
            "/api/v1/monitors/a",
            Some(json!({"paused": true, "interval": "10s"})),
        )
        .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["state"], "paused");
    assert_eq!(m["interval_seconds"], 10.0);
    let (code, _) = pharos
        .send(
            Method::PATCH,
            "/api/v1/monitors/a",
            Some(json!({"interval": "soon"})),
        )
        .await;
    assert_eq!(code, 400);
    let page = pharos.get("/api/v1/monitors?limit=1&offset=0").await;
    assert_eq!(page["total"], 1);
    let (code, _) = pharos
        .send(Method::GET, "/api/v1/monitors?limit=0", None)
        .await;
    assert_eq!(code, 400);
    let (code, _) = pharos
        .send(Method::DELETE, "/api/v1/monitors/a", None)
        .await;
    assert_eq!(code, 204);
    let (code, _) = pharos.send(Method::GET, "/api/v1/monitors/a", None).await;
    assert_eq!(code, 404);

    // Maintenance windows.
    let (code, w) = pharos
        .send(Method::POST, "/api/v1/maintenance", Some(json!({"name": "upgrade", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T01:00:00Z"})))
        .await;
    assert_eq!(code, 201, "{w}");
    let (code, _) = pharos
        .send(Method::POST, "/api/v1/maintenance", Some(json!({"name": "bad", "starts_at": "2030-01-01T01:00:00Z", "ends_at": "2030-01-01T00:00:00Z"})))
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        pharos.get("/api/v1/maintenance").await["maintenance"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Self-observability.
    let health = pharos.get("/health").await;
    assert_eq!(health["service"], "pharos");
    assert!(health["uptime_seconds"].is_u64());
    let ready = pharos.get("/health/ready").await;
    assert_eq!(ready["checks"]["storage"]["status"], "healthy");
    let metrics = c
        .get(format!("{}/metrics", pharos.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "pharos_http_requests_total{",
        "pharos_http_request_duration_seconds_bucket{",
        "pharos_alerts{state=\"firing\"}",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "pharos_storage_bytes ",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    assert!(
        !pharos.log_text().contains(TOKEN),
        "the admin token must never be logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_window_suppresses_alerts() {
    let dir = tempdir("maint");
    let target = target().await;
    target.set(Mode::Error500);
    let hook = webhook().await;
    let now = chrono::Utc::now();
    let conf = format!(
        "{}maintenance:\n  - name: deploy\n    monitors: [api-health]\n    starts_at: {}\n    ends_at: {}\n",
        config(&target, &hook, ""),
        (now - chrono::Duration::minutes(5)).to_rfc3339(),
        (now + chrono::Duration::hours(1)).to_rfc3339()
    );
    let pharos = Pharos::start(&dir, Some(&conf)).await;
    let m = pharos
        .wait_monitor("api-health", 10, |m| state(m) == "down")
        .await;
    assert_eq!(m["in_maintenance"], true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(hook.payloads().is_empty(), "{:#?}", hook.payloads());
    let alerts: Value = pharos.get("/api/v1/alerts/history?state=firing").await;
    assert!(alerts["alerts"].as_array().unwrap().is_empty(), "{alerts}");
}

#[test]
fn check_command_points_at_line_and_field() {
    let dir = tempdir("check");
    let path = dir.join("pharos.yaml");
    std::fs::write(&path, "monitors:\n  - name: api\n    http:\n      url: https://example.com/\n      timeout: soon\n").unwrap();
    let out = common::check_config(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pharos.yaml:5:7: monitors[0].http.timeout"),
        "{err}"
    );

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pharos.example.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["check", "--config", example])
        .env("API_HEALTH_TOKEN", "t")
        .env("SCHEDULER_PING_TOKEN", "scheduler-lock-ping")
        .env("WEBHOOK_KEY", "k")
        .env("SENTRY_PUBLIC_KEY", "example-public-key")
        .env("ALERT_BOT_TOKEN", "123456:example-bot-token")
        .env("SMTP_PASSWORD", "example-smtp-password")
        .env("CONSUL_TOKEN", "example-consul-token")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(version.starts_with("pharos "), "{version}");
    // The commit built from, so a bug report names it (issue 17).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert!(version.contains(&format!("(commit {head})")), "{version}"),
        None => assert!(version.contains("(commit "), "{version}"),
    }
}
