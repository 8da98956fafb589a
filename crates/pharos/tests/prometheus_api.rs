//! The rest of Prometheus's HTTP API with the real binary: `/api/v1/alerts` in
//! Prometheus's shape (Pharos's own alert search at `/api/v1/alerts/history`),
//! `/api/v1/status/{config,flags,runtimeinfo,buildinfo}`, `/api/v1/format_query`,
//! `/api/v1/parse_query`, `/api/v1/scrape_pools` and `/federate`, each behind the read
//! permission. With Debian's `prometheus` (`$PROMETHEUS_BIN`, else on `PATH`), a real
//! Prometheus federates from Pharos with `honor_labels: true` and the series are queried
//! back from it, its answers to `/api/v1/alerts` and `/api/v1/format_query` for the same
//! rules and queries are compared with Pharos's, `promtool query instant` reads Pharos
//! and `promtool check config` accepts the config Pharos prints; without them those parts
//! print "skipped".

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An app's `/metrics`: a gauge, a counter, and a label value that needs escaping.
async fn app() -> std::net::SocketAddr {
    let router = Router::new().route(
        "/metrics",
        get(|| async {
            "# TYPE shop_queue_size gauge\n\
             shop_queue_size{queue=\"orders\"} 42\n\
             shop_queue_size{queue=\"refunds\",path=\"C:\\\\tmp \\\"x\\\"\"} 7\n\
             # TYPE shop_orders_total counter\n\
             shop_orders_total 1234\n"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// One alert firing at once, one pending for an hour, one never active.
const RULES: &str = "groups:
  - name: shop
    interval: 1s
    rules:
      - alert: QueueNotEmpty
        expr: shop_queue_size{queue=\"orders\"} > 10
        labels:
          severity: warning
        annotations:
          summary: 'queue {{ $labels.queue }} holds {{ $value }}'
      - alert: QueueStuck
        expr: shop_queue_size > 1
        for: 1h
      - alert: NeverFires
        expr: shop_queue_size > 1000
";

fn config(app: std::net::SocketAddr, rule_file: &Path) -> String {
    format!(
        "global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    site: lab
metrics:
  self_scrape_interval: 0s
  host_metrics_interval: 0s
scrape_configs:
  - job_name: shop
    basic_auth:
      username: scraper
      password: hunter2-do-not-print
    static_configs:
      - targets: ['{app}']
rule_files:
  - {}
",
        rule_file.display()
    )
}

async fn start(name: &str) -> (PathBuf, Pharos, std::net::SocketAddr) {
    let dir = tempdir(name);
    let rules = dir.join("shop.rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let addr = app().await;
    let p = Pharos::start(&dir, Some(&config(addr, &rules))).await;
    (dir, p, addr)
}

async fn get_status(p: &Pharos, path: &str) -> (StatusCode, String) {
    let r = client()
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn wait_alerts(p: &Pharos) -> Vec<Value> {
    p.wait_until(
        Duration::from_secs(30),
        "QueueNotEmpty firing and QueueStuck pending",
        async || {
            let v = p.get("/api/v1/alerts").await;
            let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
            let has = |name: &str, state: &str| {
                alerts
                    .iter()
                    .any(|a| a["labels"]["alertname"] == name && a["state"] == state)
            };
            if has("QueueNotEmpty", "firing") && has("QueueStuck", "pending") {
                Ok(alerts)
            } else {
                Err(v)
            }
        },
    )
    .await
}

#[tokio::test]
async fn alerts_answer_in_prometheus_shape_and_pharos_list_moves_to_history() {
    let (_dir, p, _) = start("prom-alerts").await;
    let alerts = wait_alerts(&p).await;
    let firing = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "QueueNotEmpty")
        .unwrap();
    assert_eq!(firing["labels"]["severity"], "warning", "{firing:#}");
    assert_eq!(firing["labels"]["queue"], "orders");
    assert_eq!(firing["annotations"]["summary"], "queue orders holds 42");
    // The value is a string as Go's %e writes it; activeAt is RFC 3339.
    assert_eq!(firing["value"], "4.2e+01");
    let active_at = firing["activeAt"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(active_at).is_ok(),
        "{active_at}"
    );
    assert!(firing.get("keepFiringSince").is_none(), "{firing:#}");
    let keys: Vec<&String> = firing.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["activeAt", "annotations", "labels", "state", "value"],
        "{firing:#}"
    );
    // Two QueueStuck series pending, nothing of NeverFires.
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a["labels"]["alertname"] == "QueueStuck")
            .count(),
        2,
        "{alerts:#?}"
    );
    assert!(
        !alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "NeverFires")
    );

    // Pharos's own list, searchable, keeps its shape under its new path.
    let own = p
        .get("/api/v1/alerts/history?alertname=QueueNotEmpty")
        .await;
    assert_eq!(own["page"], 1, "{own:#}");
    assert!(
        own["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "QueueNotEmpty"),
        "{own:#}"
    );

    // The read permission, as /api/v1/query.
    let anonymous = client()
        .get(format!("{}/api/v1/alerts", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn status_endpoints_answer_as_prometheus() {
    let (dir, p, addr) = start("prom-status").await;

    let config = p.get("/api/v1/status/config").await;
    assert_eq!(config["status"], "success");
    let yaml = config["data"]["yaml"].as_str().unwrap();
    assert!(!yaml.contains("hunter2"), "{yaml}");
    let parsed: serde_json::Value = serde_norway::from_str(yaml).unwrap();
    assert_eq!(parsed["global"]["scrape_interval"], "1s", "{yaml}");
    assert_eq!(parsed["global"]["external_labels"]["site"], "lab", "{yaml}");
    let job = &parsed["scrape_configs"][0];
    assert_eq!(job["job_name"], "shop", "{yaml}");
    assert_eq!(job["basic_auth"]["password"], "<secret>", "{yaml}");
    assert_eq!(job["basic_auth"]["username"], "scraper", "{yaml}");
    assert_eq!(
        job["static_configs"][0]["targets"][0],
        addr.to_string(),
        "{yaml}"
    );
    assert_eq!(job["scrape_timeout"], "1s", "{yaml}");
    assert!(
        parsed["rule_files"][0]
            .as_str()
            .unwrap()
            .ends_with("shop.rules.yml"),
        "{yaml}"
    );

    let flags = p.get("/api/v1/status/flags").await["data"].clone();
    assert_eq!(flags["storage.tsdb.retention.time"], "15d", "{flags:#}");
    assert_eq!(flags["web.listen-address"], format!("127.0.0.1:{}", p.port));
    assert_eq!(flags["query.lookback-delta"], "5m");
    assert_eq!(flags["query.timeout"], "2m");
    assert_eq!(
        flags["config.file"],
        dir.join("pharos.yaml").display().to_string()
    );

    let info = p.get("/api/v1/status/runtimeinfo").await["data"].clone();
    assert_eq!(info["reloadConfigSuccess"], true, "{info:#}");
    assert_eq!(info["storageRetention"], "15d");
    assert_eq!(info["corruptionCount"], 0);
    assert!(info["goroutineCount"].as_u64().unwrap() > 0, "{info:#}");
    assert!(info["GOMAXPROCS"].as_u64().unwrap() > 0, "{info:#}");
    assert!(!info["CWD"].as_str().unwrap().is_empty());
    let started = info["startTime"].as_str().unwrap().to_string();
    let loaded = info["lastConfigTime"].as_str().unwrap().to_string();
    chrono::DateTime::parse_from_rfc3339(&started).unwrap();
    chrono::DateTime::parse_from_rfc3339(&loaded).unwrap();
    // A refused reload: the last good config's time stays.
    std::fs::write(dir.join("pharos.yaml"), "scrape_configs: [{job_name: }\n").unwrap();
    let (code, _) = p.send(reqwest::Method::POST, "/-/reload", None).await;
    assert!(code.is_client_error() || code.is_server_error(), "{code}");
    let info = p.get("/api/v1/status/runtimeinfo").await["data"].clone();
    assert_eq!(info["reloadConfigSuccess"], false, "{info:#}");
    assert_eq!(info["lastConfigTime"], loaded.as_str());
    assert_eq!(info["startTime"], started.as_str());

    let build = p.get("/api/v1/status/buildinfo").await;
    assert!(build["data"]["version"].is_string(), "{build:#}");

    let pools = p.get("/api/v1/scrape_pools").await;
    assert_eq!(
        pools,
        json!({"status": "success", "data": {"scrapePools": ["shop"]}})
    );

    for path in [
        "/api/v1/status/config",
        "/api/v1/status/flags",
        "/api/v1/status/runtimeinfo",
        "/api/v1/scrape_pools",
        "/api/v1/format_query?query=up",
        "/api/v1/parse_query?query=up",
        "/federate?match[]=up",
    ] {
        let r = client()
            .get(format!("{}{path}", p.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn format_and_parse_query() {
    let dir = tempdir("prom-format");
    let p = Pharos::start(&dir, None).await;
    let pretty = p
        .get(&format!(
            "/api/v1/format_query?query={}",
            url_escape("sum(rate(x[5m]))by(a)")
        ))
        .await;
    assert_eq!(
        pretty,
        json!({"status": "success", "data": "sum by (a) (rate(x[5m]))"})
    );
    // POST with a form body, as Prometheus's UI sends it.
    let r = client()
        .post(format!("{}/api/v1/format_query", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("query", "up{job='a'}  >bool   1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"], "up{job=\"a\"} > bool 1", "{v:#}");

    let (code, bad) = p
        .send(
            reqwest::Method::GET,
            "/api/v1/format_query?query=sum(",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{bad:#}");
    assert_eq!(bad["status"], "error");
    assert_eq!(bad["errorType"], "bad_data");

    let tree = p
        .get(&format!(
            "/api/v1/parse_query?query={}",
            url_escape("rate(http_requests_total{code=\"500\"}[5m]) / 2")
        ))
        .await["data"]
        .clone();
    assert_eq!(tree["type"], "binaryExpr", "{tree:#}");
    assert_eq!(tree["op"], "/");
    // A vector and a scalar: no matching, as Prometheus.
    assert_eq!(tree["matching"], Value::Null, "{tree:#}");
    assert_eq!(tree["rhs"], json!({"type": "numberLiteral", "val": "2"}));
    let call = &tree["lhs"];
    assert_eq!(call["type"], "call");
    assert_eq!(call["func"]["name"], "rate");
    assert_eq!(call["func"]["argTypes"], json!(["matrix"]));
    assert_eq!(call["func"]["returnType"], "vector");
    let m = &call["args"][0];
    assert_eq!(m["type"], "matrixSelector");
    assert_eq!(m["name"], "http_requests_total");
    assert_eq!(m["range"], 300_000);
    assert_eq!(
        m["matchers"],
        json!([
            {"name": "code", "type": "=", "value": "500"},
            {"name": "__name__", "type": "=", "value": "http_requests_total"}
        ])
    );
    let (code, bad) = p
        .send(
            reqwest::Method::GET,
            "/api/v1/parse_query?query=rate(",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{bad:#}");
}

/// The samples of a federation answer: `name{labels}` → (value, timestamp).
fn federated_lines(text: &str) -> Vec<(String, f64, i64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut parts = l.rsplitn(3, ' ');
            let ts = parts.next().unwrap().parse().unwrap();
            let v = parts.next().unwrap().parse().unwrap();
            (parts.next().unwrap().to_string(), v, ts)
        })
        .collect()
}

#[tokio::test]
async fn federate_answers_the_latest_samples_as_exposition_text() {
    let (_dir, p, addr) = start("prom-federate").await;
    wait_promql(&p, "shop_orders_total", 20, |r| {
        promql_value(r) == Some(1234.0)
    })
    .await;

    let (code, text) = get_status(&p, "/federate").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    let (code, text) = get_status(&p, "/federate?match[]=%7Bbroken").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");

    let r = client()
        .get(format!(
            "{}/federate?match[]={}&match[]={}",
            p.url,
            url_escape("{job=\"shop\",__name__=~\"shop_.*\"}"),
            url_escape("shop_orders_total")
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let text = r.text().await.unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("# TYPE"))
            .collect::<Vec<_>>(),
        [
            "# TYPE shop_orders_total untyped",
            "# TYPE shop_queue_size untyped"
        ],
        "{text}"
    );
    let lines = federated_lines(&text);
    let now = chrono::Utc::now().timestamp_millis();
    // Each series once (two selectors match shop_orders_total), with its own job and
    // instance, then the external label.
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0].0,
        format!("shop_orders_total{{instance=\"{addr}\",job=\"shop\",site=\"lab\"}}")
    );
    assert_eq!(lines[0].1, 1234.0);
    assert!(now - lines[0].2 < 60_000, "{text}");
    assert!(
        text.contains(r#"path="C:\\tmp \"x\"""#),
        "label values escaped: {text}"
    );
}

// ---------------------------------------------------------------------------------------
// Against the real Prometheus

struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

async fn start_prometheus(bin: &Path, dir: &Path, config: &str) -> Prometheus {
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let log = dir.join("prometheus.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    wait_until_with(
        Duration::from_secs(60),
        "prometheus to become ready",
        async || match client().get(format!("{}/-/ready", p.url)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        },
        || std::fs::read_to_string(&p.log).unwrap_or_default(),
    )
    .await;
    p
}

async fn prometheus_get(p: &Prometheus, path: &str) -> Value {
    client()
        .get(format!("{}{path}", p.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_real_prometheus_federates_from_pharos() {
    let Some(bin) = tool("prometheus", "PROMETHEUS_BIN") else {
        eprintln!("skipped: no prometheus binary ($PROMETHEUS_BIN or on PATH)");
        return;
    };
    let (dir, p, addr) = start("prom-real").await;
    wait_promql(&p, "shop_queue_size", 20, |r| {
        r.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    // Federating Pharos's `shop` job, and evaluating the same rules over what it gets.
    let prometheus = start_prometheus(
        &bin,
        &dir,
        &format!(
            "global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{{job=\"shop\"}}']
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ['127.0.0.1:{port}']
",
            rules = dir.join("shop.rules.yml").display(),
            port = p.port,
        ),
    )
    .await;

    // The series come back with their own job and instance (honor_labels), and
    // Pharos's external label.
    let result = wait_until_with(
        Duration::from_secs(30),
        "prometheus to hold the federated shop_queue_size",
        async || {
            let v = prometheus_get(
                &prometheus,
                &format!("/api/v1/query?query={}", url_escape("shop_queue_size")),
            )
            .await;
            match v["data"]["result"].as_array() {
                Some(r) if r.len() == 2 => Ok(r.clone()),
                _ => Err(v),
            }
        },
        || std::fs::read_to_string(&prometheus.log).unwrap_or_default(),
    )
    .await;
    let orders = result
        .iter()
        .find(|s| s["metric"]["queue"] == "orders")
        .unwrap();
    assert_eq!(
        orders["metric"],
        json!({
            "__name__": "shop_queue_size",
            "job": "shop",
            "instance": addr.to_string(),
            "queue": "orders",
            "site": "lab",
        })
    );
    assert_eq!(orders["value"][1], "42");
    let refunds = result
        .iter()
        .find(|s| s["metric"]["queue"] == "refunds")
        .unwrap();
    assert_eq!(refunds["metric"]["path"], "C:\\tmp \"x\"");
    let up = prometheus_get(
        &prometheus,
        &format!("/api/v1/query?query={}", url_escape("up{job=\"federate\"}")),
    )
    .await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up:#}");

    // The same rules over the same series: Prometheus's /api/v1/alerts and Pharos's
    // answer alike (times and order aside).
    let theirs = wait_until_with(
        Duration::from_secs(30),
        "prometheus's alerts",
        async || {
            let v = prometheus_get(&prometheus, "/api/v1/alerts").await;
            match v["data"]["alerts"].as_array() {
                Some(a) if a.len() == 3 => Ok(v),
                _ => Err(v),
            }
        },
        || std::fs::read_to_string(&prometheus.log).unwrap_or_default(),
    )
    .await;
    wait_alerts(&p).await;
    let ours = p.get("/api/v1/alerts").await;
    assert_eq!(
        comparable_alerts(&ours),
        comparable_alerts(&theirs),
        "pharos: {ours:#}\nprometheus: {theirs:#}"
    );

    // Prometheus's formatter and Pharos's lay queries out alike.
    for q in [
        "sum(rate(x[5m]))by(a)",
        "sum by (job, instance) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job, instance) (rate(http_requests_total[5m])) > 0.05",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[10m])))",
        "max_over_time(deriv(rate(distance_covered_meters_total[1m])[5m:1m])[10m:])",
        "a + on(x) group_left(y) b offset 5m",
    ] {
        let path = format!("/api/v1/format_query?query={}", url_escape(q));
        let theirs = prometheus_get(&prometheus, &path).await;
        let ours = p.get(&path).await;
        assert_eq!(ours, theirs, "format_query {q}");
    }

    // promtool reads Pharos as a Prometheus (the token as the basic-auth password).
    if let Some(promtool) = tool("promtool", "PROMTOOL_BIN") {
        let out = Command::new(&promtool)
            .args(["query", "instant"])
            .arg(format!("http://pharos:{TOKEN}@127.0.0.1:{}", p.port))
            .arg("shop_queue_size{queue=\"orders\"}")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("=> 42 @["), "{stdout}");
        assert!(stdout.contains("queue=\"orders\""), "{stdout}");
        // The config Pharos prints is one Prometheus itself accepts, once the fields
        // Prometheus 3 added (which Debian's 2.42 does not know) are taken out.
        let printed_yaml = p.get("/api/v1/status/config").await["data"]["yaml"]
            .as_str()
            .unwrap()
            .to_string();
        let mut config: Value = serde_norway::from_str(&printed_yaml).unwrap();
        config["global"]
            .as_object_mut()
            .unwrap()
            .remove("scrape_protocols");
        for job in config["scrape_configs"].as_array_mut().unwrap() {
            let job = job.as_object_mut().unwrap();
            for v3 in [
                "scrape_protocols",
                "track_timestamps_staleness",
                "enable_compression",
            ] {
                assert!(job.remove(v3).is_some(), "{v3}: {printed_yaml}");
            }
        }
        let yaml = serde_norway::to_string(&config).unwrap();
        let printed = dir.join("printed.yml");
        std::fs::write(&printed, &yaml).unwrap();
        let out = Command::new(promtool)
            .args(["check", "config"])
            .arg(&printed)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{yaml}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("skipped promtool: not on PATH");
    }
}

/// An `/api/v1/alerts` answer without the times and the external label the federated
/// series carry, sorted: what two servers evaluating the same rules over the same series
/// agree on.
fn comparable_alerts(v: &Value) -> Vec<Value> {
    assert_eq!(v["status"], "success", "{v:#}");
    let mut out: Vec<Value> = v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.clone();
            let o = a.as_object_mut().unwrap();
            assert!(o.remove("activeAt").is_some(), "{v:#}");
            if let Some(labels) = o.get_mut("labels").and_then(Value::as_object_mut) {
                labels.remove("site");
            }
            a
        })
        .collect();
    out.sort_by_key(|a| a.to_string());
    out
}
