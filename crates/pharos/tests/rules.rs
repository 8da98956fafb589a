//! Rules end to end with the real binary: seed 003's rules loaded unchanged and evaluated
//! over scraped series, `/api/v1/rules` in Prometheus's shape, an alert notified through
//! a webhook and not notified again after a `kill -9` in the middle of firing, a bad rule
//! file refusing a reload with its file, line and field, and `pharos check rules`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::*;
use serde_json::Value;

/// An app's `/metrics`: every scrape is ten more requests (two of them 5xx, all between
/// 2.5 s and 5 s) and ten more payments (three failed); `queue_size` is set by the test.
async fn app(queue: Arc<AtomicU64>) -> std::net::SocketAddr {
    let scrapes = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .route(
            "/metrics",
            get(
                |State((scrapes, queue)): State<(Arc<AtomicU64>, Arc<AtomicU64>)>| async move {
                    let n = scrapes.fetch_add(1, Ordering::SeqCst) + 1;
                    let q = queue.load(Ordering::SeqCst);
                    format!(
                        "# TYPE http_requests_total counter
http_requests_total{{method=\"GET\",endpoint=\"/api\",status=\"200\"}} {ok}
http_requests_total{{method=\"GET\",endpoint=\"/api\",status=\"500\"}} {bad}
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{{method=\"GET\",endpoint=\"/api\",le=\"1\"}} 0
http_request_duration_seconds_bucket{{method=\"GET\",endpoint=\"/api\",le=\"2.5\"}} 0
http_request_duration_seconds_bucket{{method=\"GET\",endpoint=\"/api\",le=\"5\"}} {all}
http_request_duration_seconds_bucket{{method=\"GET\",endpoint=\"/api\",le=\"+Inf\"}} {all}
http_request_duration_seconds_sum{{method=\"GET\",endpoint=\"/api\"}} {sum}
http_request_duration_seconds_count{{method=\"GET\",endpoint=\"/api\"}} {all}
# TYPE payments_processed_total counter
payments_processed_total{{tenant_id=\"1\",provider=\"stripe\",status=\"ok\"}} {paid}
payments_processed_total{{tenant_id=\"1\",provider=\"stripe\",status=\"failed\"}} {failed}
# TYPE queue_size gauge
queue_size {q}
",
                        ok = 8 * n,
                        bad = 2 * n,
                        all = 10 * n,
                        sum = 40 * n,
                        paid = 7 * n,
                        failed = 3 * n,
                    )
                },
            ),
        )
        .with_state((scrapes, queue));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn config(app: std::net::SocketAddr, rule_file: &str, extra: &str) -> String {
    format!(
        "global:
  scrape_interval: 1s
  evaluation_interval: 1s
metrics:
  self_scrape_interval: 0s
  host_metrics_interval: 0s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: ['{app}']
rule_files:
  - {rule_file}
{extra}"
    )
}

async fn rules(p: &Pharos, query: &str) -> Value {
    p.get(&format!("/api/v1/rules{query}")).await
}

/// Polls `/api/v1/rules` until `pred` holds for its groups.
async fn wait_rules(p: &Pharos, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    p.wait_until(Duration::from_secs(secs), what, async || {
        let v = rules(p, "").await;
        if pred(&v["data"]["groups"]) {
            Ok(v)
        } else {
            Err(format!("{v:#}"))
        }
    })
    .await
}

fn rule<'a>(groups: &'a Value, name: &str) -> &'a Value {
    groups
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["name"] == name)
        .unwrap_or(&Value::Null)
}

fn firing_payloads(hook: &Webhook, alertname: &str, status: &str) -> usize {
    hook.payloads()
        .iter()
        .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_rules_load_and_evaluate_unchanged() {
    let dir = tempdir("rules-seed003");
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rules/seed003.yaml"),
        dir.join("rules/seed003.yaml"),
    )
    .unwrap();
    let app = app(Arc::new(AtomicU64::new(3))).await;
    let p = Pharos::start(&dir, Some(&config(app, "rules/*.yaml", ""))).await;

    let v = wait_rules(&p, 30, "all three seed rules pending", |g| {
        ["HighErrorRate", "SlowResponseTime", "PaymentFailureRate"]
            .iter()
            .all(|n| rule(g, n)["state"] == "pending")
    })
    .await;
    assert_eq!(v["status"], "success");
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "ConversationalCommerce");
    assert!(
        g["file"].as_str().unwrap().ends_with("rules/seed003.yaml"),
        "{g}"
    );
    assert_eq!(g["interval"], 1.0);
    assert!(
        g["lastEvaluation"].as_str().unwrap().starts_with("20"),
        "{g}"
    );

    let high = rule(&v["data"]["groups"], "HighErrorRate");
    assert_eq!(high["type"], "alerting");
    assert_eq!(high["health"], "ok");
    assert_eq!(high["duration"], 120.0);
    assert_eq!(high["labels"]["severity"], "critical");
    assert_eq!(
        high["query"],
        "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])) > 0.05"
    );
    let alert = &high["alerts"][0];
    assert_eq!(alert["state"], "pending");
    assert_eq!(
        alert["annotations"]["description"],
        "Error rate is 20% for the past 5 minutes"
    );
    assert_eq!(alert["labels"]["alertname"], "HighErrorRate");
    let value: f64 = alert["value"].as_str().unwrap().parse().unwrap();
    assert!((value - 0.2).abs() < 1e-9, "{alert}");
    assert!(
        alert["value"].as_str().unwrap().contains("e-01"),
        "Go's %e: {alert}"
    );

    let slow = rule(&v["data"]["groups"], "SlowResponseTime");
    let d = slow["alerts"][0]["annotations"]["description"]
        .as_str()
        .unwrap();
    assert!(
        d.starts_with("95th percentile of response time is 4.87"),
        "{d}"
    );
    let pay = rule(&v["data"]["groups"], "PaymentFailureRate");
    assert_eq!(
        pay["alerts"][0]["annotations"]["description"],
        "Payment failure rate is 30% for the past 15 minutes"
    );

    // Only alerting rules here, so `type=record` leaves the group empty.
    let rec = rules(&p, "?type=record").await;
    assert!(
        rec["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{rec}"
    );
    let only = rules(
        &p,
        "?type=alert&rule_name[]=SlowResponseTime&exclude_alerts=true",
    )
    .await;
    let only_rules = only["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(only_rules.len(), 1);
    assert!(only_rules[0].get("alerts").is_none());
    let (code, _) = p
        .send(reqwest::Method::GET, "/api/v1/rules?type=bogus", None)
        .await;
    assert_eq!(code, 400);

    // ALERTS is written once for-state restoration is done (after two evaluations).
    wait_promql(
        &p,
        "ALERTS{alertname=\"HighErrorRate\",alertstate=\"pending\"}",
        20,
        |r| promql_value(r) == Some(1.0),
    )
    .await;

    let page = client()
        .get(format!("{}/rules", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("ConversationalCommerce") && page.contains("PaymentFailureRate"));
    assert!(page.contains("data-state=\"pending\""), "{page}");
    assert!(page.contains("High payment failure rate"), "{page}");

    // Rule health on /metrics, as Prometheus exports its own.
    let metrics = client()
        .get(format!("{}/metrics", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("pharos_rule_group_rules{") && l.contains(";ConversationalCommerce\"}")
        })
        .unwrap_or_else(|| panic!("no rule metrics:\n{metrics}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(metrics.contains("pharos_rule_group_last_duration_seconds{rule_group="));
    assert!(metrics.contains("pharos_rule_group_rules_failing{rule_group="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_is_notified_once_across_a_restart() {
    let dir = tempdir("rules-restart");
    std::fs::write(
        dir.join("bot.rules.yaml"),
        "groups:
  - name: bot
    interval: 1s
    rules:
      - record: queue:size
        expr: max(queue_size)
      - alert: QueueBacklog
        expr: queue:size > 80
        for: 2s
        labels:
          severity: warning
        annotations:
          summary: 'queue is {{ $value }}'
",
    )
    .unwrap();
    let hook = webhook().await;
    let queue = Arc::new(AtomicU64::new(100));
    let app = app(queue.clone()).await;
    let receivers = format!(
        "receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
        hook.url()
    );
    let cfg = config(app, "bot.rules.yaml", &receivers);
    let mut p = Pharos::start(&dir, Some(&cfg)).await;

    let payload = hook
        .wait_for(30, "QueueBacklog firing", |v| {
            v["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["labels"]["alertname"] == "QueueBacklog" && a["status"] == "firing")
        })
        .await;
    let a = &payload["alerts"][0];
    assert_eq!(a["annotations"]["summary"], "queue is 100");
    assert_eq!(a["labels"]["severity"], "warning");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/rules?group=bot&rule=QueueBacklog"),
        "{a}"
    );
    // Pending for `for` before firing: startsAt is when it became active.
    let v = rules(&p, "").await;
    let r = rule(&v["data"]["groups"], "QueueBacklog");
    assert_eq!(r["state"], "firing");
    let active_at = r["alerts"][0]["activeAt"].as_str().unwrap().to_string();
    assert_eq!(
        rule(&v["data"]["groups"], "queue:size")["type"],
        "recording"
    );

    // Killed while firing, started again on the same data: the alert is derived again
    // and the store's open alert is kept, so nothing new is sent.
    let port = p.port;
    p.kill9();
    let mut p = Pharos::start_with(&dir, Some(dir.join("pharos.yaml")), port).await;
    wait_rules(&p, 30, "firing again after the restart", |g| {
        rule(g, "QueueBacklog")["state"] == "firing"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        firing_payloads(&hook, "QueueBacklog", "firing"),
        1,
        "{:#?}",
        hook.payloads()
    );
    let open = p.get("/api/v1/alerts/history").await;
    let rows: Vec<&Value> = open
        .as_array()
        .or(open["alerts"].as_array())
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == "QueueBacklog")
        .collect();
    assert_eq!(rows.len(), 1, "one stored occurrence: {open:#}");
    assert_eq!(rows[0]["state"], "firing");
    let _ = active_at;

    // The queue drains: resolved once.
    queue.store(5, Ordering::SeqCst);
    hook.wait_for(30, "QueueBacklog resolved", |v| {
        v["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["labels"]["alertname"] == "QueueBacklog" && a["status"] == "resolved")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(firing_payloads(&hook, "QueueBacklog", "resolved"), 1);
    assert_eq!(firing_payloads(&hook, "QueueBacklog", "firing"), 1);
    p.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rule_file_refuses_the_reload_with_file_line_and_field() {
    let dir = tempdir("rules-reload");
    let rules_path = dir.join("app.rules.yaml");
    std::fs::write(
        &rules_path,
        "groups:\n  - name: app\n    rules:\n      - alert: Up\n        expr: vector(1)\n",
    )
    .unwrap();
    let app = app(Arc::new(AtomicU64::new(0))).await;
    let p = Pharos::start(&dir, Some(&config(app, "app.rules.yaml", ""))).await;
    wait_rules(&p, 20, "Up firing", |g| rule(g, "Up")["state"] == "firing").await;

    std::fs::write(
        &rules_path,
        "groups:\n  - name: app\n    rules:\n      - alert: Up\n        expr: vector(1)\n      - alert: Broken\n        expr: sum(up\n",
    )
    .unwrap();
    let (code, body) = p.send(reqwest::Method::POST, "/-/reload", None).await;
    assert_eq!(code, 400, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("app.rules.yaml:7:9: groups[0].rules[1].expr"),
        "{msg}"
    );
    assert!(msg.contains("could not parse expression"), "{msg}");
    let v = rules(&p, "").await;
    assert!(
        rule(&v["data"]["groups"], "Broken").is_null(),
        "nothing applied"
    );
    assert_eq!(rule(&v["data"]["groups"], "Up")["state"], "firing");

    // `pharos check` says the same.
    let out = common::check_config(&dir.join("pharos.yaml"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app.rules.yaml:7:9: groups[0].rules[1].expr"),
        "{err}"
    );

    // Fixed: applied, the firing alert of the unchanged rule kept.
    std::fs::write(
        &rules_path,
        "groups:\n  - name: app\n    rules:\n      - alert: Up\n        expr: vector(1)\n      - record: answer\n        expr: vector(42)\n",
    )
    .unwrap();
    let (code, body) = p.send(reqwest::Method::POST, "/-/reload", None).await;
    assert_eq!(code, 200, "{body}");
    let v = wait_rules(&p, 20, "the new rule evaluated", |g| {
        rule(g, "answer")["health"] == "ok"
    })
    .await;
    assert_eq!(rule(&v["data"]["groups"], "Up")["state"], "firing");
    wait_promql(&p, "answer", 20, |r| promql_value(r) == Some(42.0)).await;
}

#[test]
fn check_rules_prints_what_promtool_prints() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["check", "rules"])
        .arg(format!("{root}/rules.example.yaml"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/rules/seed003.yaml"
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rules.example.yaml\n  SUCCESS: 8 rules found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("seed003.yaml\n  SUCCESS: 3 rules found"),
        "{stdout}"
    );

    let dir = tempdir("check-rules");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: up\n        for: 1m\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["check", "rules"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:6:9: groups[0].rules[0].for: group \"g\", rule 1, \"x\": invalid field 'for' in recording rule"),
        "{err}"
    );
}
