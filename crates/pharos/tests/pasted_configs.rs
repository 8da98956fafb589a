//! Issue 17, "configs paste as they are", end to end against the real binary: targets
//! found by `docker_sd_configs` (a fake Docker daemon on a unix socket) and
//! `consul_sd_configs` (a fake Consul catalog on loopback) are scraped, keep their
//! targets when the API fails and say why in `/api/v1/scrape_jobs`; and Alertmanager's
//! own `simple.yml`, pasted with only its smarthost pointed at a fake SMTP server, mails
//! an alert through `global:`'s SMTP defaults.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const CONSUL_TOKEN: &str = "consul-acl-token-5b1f0e";

/// A target answering the exposition format.
async fn metrics_target() -> u16 {
    let router = Router::new().route(
        "/metrics",
        get(|| async { "# TYPE demo_value gauge\ndemo_value 42\n" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

#[derive(Default)]
struct Fake {
    /// Path and query of every request, with the token header it carried.
    requests: Mutex<Vec<(String, Option<String>)>>,
    /// Answer 500 to everything.
    broken: Mutex<bool>,
    port: u16,
}

impl Fake {
    fn record(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let token = headers
            .get("x-consul-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.requests.lock().unwrap().push((uri.to_string(), token));
        !*self.broken.lock().unwrap()
    }

    fn paths(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0.clone())
            .collect()
    }
}

/// Docker Engine's `GET /containers/json` and `GET /networks` on a unix socket: one
/// container labelled for scraping, exposing the metrics target's port on loopback, one
/// without the label.
async fn fake_docker(socket: &std::path::Path, metrics_port: u16) -> Arc<Fake> {
    let fake = Arc::new(Fake {
        port: metrics_port,
        ..Default::default()
    });
    let containers = |State(f): State<Arc<Fake>>, uri: Uri, headers: HeaderMap| async move {
        if !f.record(&uri, &headers) {
            return (StatusCode::INTERNAL_SERVER_ERROR, "daemon on fire").into_response();
        }
        let net = |ip: &str| json!({"bridge": {"NetworkID": "net1", "IPAddress": ip, "GlobalIPv6Address": ""}});
        axum::Json(json!([
            {
                "Id": "c0ffee", "Names": ["/cadvisor"], "Image": "google/cadvisor", "ImageID": "sha256:1",
                "Labels": {"prometheus-job": "cadvisor", "com.example.team": "ops"},
                "Ports": [{"IP": "0.0.0.0", "PrivatePort": f.port, "PublicPort": 18080, "Type": "tcp"},
                          {"PrivatePort": 53, "Type": "udp"}],
                "HostConfig": {"NetworkMode": "bridge"},
                "NetworkSettings": {"Networks": net("127.0.0.1")}
            },
            {
                "Id": "deadbeef", "Names": ["/db"], "Image": "postgres", "Labels": null, "Ports": [],
                "HostConfig": {"NetworkMode": "bridge"},
                "NetworkSettings": {"Networks": net("127.0.0.2")}
            }
        ]))
        .into_response()
    };
    let networks = |State(f): State<Arc<Fake>>, uri: Uri, headers: HeaderMap| async move {
        if !f.record(&uri, &headers) {
            return (StatusCode::INTERNAL_SERVER_ERROR, "daemon on fire").into_response();
        }
        axum::Json(json!([{"Id": "net1", "Name": "bridge", "Scope": "local", "Internal": false, "Ingress": false, "Labels": {}}]))
            .into_response()
    };
    let router = Router::new()
        .route("/containers/json", get(containers))
        .route("/networks", get(networks))
        .with_state(fake.clone());
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    fake
}

/// Consul's agent, catalog and health endpoints: services `web` (tagged `prod`, on the
/// metrics target's port) and `db`; every request must carry the token.
async fn fake_consul(metrics_port: u16) -> (Arc<Fake>, u16) {
    let fake = Arc::new(Fake {
        port: metrics_port,
        ..Default::default()
    });
    let agent = |State(f): State<Arc<Fake>>, uri: Uri, headers: HeaderMap| async move {
        f.record(&uri, &headers);
        axum::Json(json!({"Config": {"Datacenter": "dc1"}}))
    };
    let services = |State(f): State<Arc<Fake>>, uri: Uri, headers: HeaderMap| async move {
        if !f.record(&uri, &headers) {
            return (StatusCode::INTERNAL_SERVER_ERROR, "no leader").into_response();
        }
        axum::Json(json!({"web": ["prod", "v2"], "db": [], "consul": []})).into_response()
    };
    let health = |State(f): State<Arc<Fake>>,
                  UrlPath(name): UrlPath<String>,
                  RawQuery(_q): RawQuery,
                  uri: Uri,
                  headers: HeaderMap| async move {
        if !f.record(&uri, &headers) {
            return (StatusCode::INTERNAL_SERVER_ERROR, "no leader").into_response();
        }
        if name != "web" {
            return axum::Json(json!([])).into_response();
        }
        axum::Json(json!([{
            "Node": {"Node": "node-1", "Address": "127.0.0.1", "Datacenter": "dc1",
                     "TaggedAddresses": {"lan": "127.0.0.1"}, "Meta": {"rack": "r1"}},
            "Service": {"ID": "web-1", "Service": "web", "Tags": ["prod", "v2"], "Address": "",
                        "Port": f.port, "Meta": {"version": "1.2"}, "Namespace": "", "Partition": ""},
            "Checks": [{"CheckID": "serfHealth", "Status": "passing"},
                       {"CheckID": "service:web-1", "Status": "warning"}]
        }]))
        .into_response()
    };
    let router = Router::new()
        .route("/v1/agent/self", get(agent))
        .route("/v1/catalog/services", get(services))
        .route("/v1/health/service/{name}", get(health))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (fake, port)
}

async fn job_errors(p: &Pharos, job: &str) -> Vec<String> {
    let (_, view) = p
        .send(Method::GET, &format!("/api/v1/scrape_jobs/{job}"), None)
        .await;
    view["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn docker_and_consul_discovery_find_targets_that_get_scraped() {
    let dir = tempdir("pasted-sd");
    let metrics_port = metrics_target().await;
    let socket = dir.join("docker.sock");
    let docker = fake_docker(&socket, metrics_port).await;
    let (consul, consul_port) = fake_consul(metrics_port).await;
    // The Docker job is Prometheus's `prometheus-docker.yml` job, with a filter.
    let config = format!(
        r#"
scrape_configs:
  - job_name: "docker-containers"
    scrape_interval: 1s
    docker_sd_configs:
      - host: unix://{socket}
        refresh_interval: 1s
        filters:
          - name: label
            values: [prometheus-job]
    relabel_configs:
      - source_labels: [__meta_docker_container_label_prometheus_job]
        regex: .+
        action: keep
      - regex: __meta_docker_container_label_prometheus_(.+)
        action: labelmap
        replacement: $1
      - source_labels: [__meta_docker_container_name, __meta_docker_network_name, __meta_docker_port_public]
        target_label: where
        separator: "|"
  - job_name: consul-services
    scrape_interval: 1s
    consul_sd_configs:
      - server: 127.0.0.1:{consul_port}
        token: {CONSUL_TOKEN}
        services: [web, db]
        tags: [prod]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_consul_service]
        target_label: service
      - source_labels: [__meta_consul_dc, __meta_consul_health, __meta_consul_tags, __meta_consul_service_metadata_version, __meta_consul_metadata_rack]
        target_label: consul
        separator: "|"
"#,
        socket = socket.display()
    );
    let pharos = Pharos::start(&dir, Some(&config)).await;

    let docker_series = wait_promql(&pharos, "demo_value{job=\"cadvisor\"}", 20, |r| {
        promql_value(r) == Some(42.0)
    })
    .await;
    let metric = &docker_series["data"]["result"][0]["metric"];
    assert_eq!(metric["instance"], format!("127.0.0.1:{metrics_port}"));
    assert_eq!(metric["where"], "/cadvisor|bridge|18080");
    assert_eq!(
        metric["team"],
        Value::Null,
        "only prometheus_* labels are mapped"
    );
    let docker_paths = docker.paths();
    assert!(
        docker_paths.iter().any(|p| p
            == "/containers/json?filters=%7B%22label%22%3A%5B%22prometheus-job%22%5D%7D"),
        "{docker_paths:?}"
    );
    assert!(
        docker_paths.iter().any(|p| p == "/networks"),
        "{docker_paths:?}"
    );

    let consul_series = wait_promql(&pharos, "demo_value{job=\"consul-services\"}", 20, |r| {
        promql_value(r) == Some(42.0)
    })
    .await;
    let metric = &consul_series["data"]["result"][0]["metric"];
    assert_eq!(metric["service"], "web");
    assert_eq!(metric["consul"], "dc1|warning|,prod,v2,|1.2|r1");
    let consul_requests = consul.requests.lock().unwrap().clone();
    assert!(
        consul_requests
            .iter()
            .all(|(_, token)| token.as_deref() == Some(CONSUL_TOKEN)),
        "{consul_requests:?}"
    );
    let paths = consul.paths();
    assert!(paths.iter().any(|p| p == "/v1/agent/self"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/v1/health/service/web?dc=dc1&stale=&tag=prod")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.starts_with("/v1/health/service/db")),
        "db has no `prod` tag: {paths:?}"
    );

    // Both APIs fail: the targets stay and are scraped, the jobs say why.
    *docker.broken.lock().unwrap() = true;
    *consul.broken.lock().unwrap() = true;
    let errors = pharos
        .wait_until(
            Duration::from_secs(20),
            "both jobs to report their discovery errors",
            async || {
                let d = job_errors(&pharos, "docker-containers").await;
                let c = job_errors(&pharos, "consul-services").await;
                if d.iter()
                    .any(|e| e.contains("docker_sd_configs[0]: listing containers"))
                    && c.iter()
                        .any(|e| e.contains("consul_sd_configs[0]: listing services"))
                {
                    Ok((d, c))
                } else {
                    Err(format!("{d:?} {c:?}"))
                }
            },
        )
        .await;
    assert!(errors.0[0].contains("500"), "{errors:?}");
    for job in ["docker-containers", "consul-services"] {
        let (_, view) = pharos
            .send(Method::GET, &format!("/api/v1/scrape_jobs/{job}"), None)
            .await;
        assert_eq!(view["targets"].as_array().map(Vec::len), Some(1), "{view}");
        assert_eq!(view["targets"][0]["health"], "up", "{view}");
    }
    let (_, targets) = pharos.send(Method::GET, "/api/v1/targets", None).await;
    let pools: Vec<&str> = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["scrapePool"].as_str())
        .collect();
    assert!(pools.contains(&"docker-containers"), "{targets}");
    assert!(pools.contains(&"consul-services"), "{targets}");
    assert!(
        !pharos.log_text().contains(CONSUL_TOKEN),
        "the Consul token reached the log"
    );
}

/// A fake SMTP server that accepts everything (no TLS) and records the conversation.
async fn fake_smtp() -> (u16, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(tcp);
                let _ = r.get_mut().write_all(b"220 fake.test ESMTP\r\n").await;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end().to_string();
                    seen.lock().unwrap().push(line.clone());
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") {
                        b"250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("AUTH") {
                        b"235 2.7.0 authenticated\r\n"
                    } else if upper == "DATA" {
                        let _ = r.get_mut().write_all(b"354 go on\r\n").await;
                        let mut data = Vec::new();
                        while !data.ends_with(b"\r\n.\r\n") {
                            let mut byte = [0u8; 1];
                            if r.read_exact(&mut byte).await.is_err() {
                                return;
                            }
                            data.push(byte[0]);
                        }
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&data).into_owned());
                        b"250 2.0.0 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = r.get_mut().write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if r.get_mut().write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, lines)
}

#[tokio::test]
async fn alertmanager_simple_example_mails_through_global_smtp_defaults() {
    let dir = tempdir("pasted-am");
    let (smtp_port, smtp) = fake_smtp().await;
    let simple = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/alertmanager-examples/simple.yml"),
    )
    .unwrap();
    // Alertmanager's example as it is, but for where its smarthost is, a server without
    // STARTTLS, and a shorter first wait.
    let config = simple
        .replace(
            "'localhost:25'",
            &format!("'127.0.0.1:{smtp_port}'\n  smtp_require_tls: false"),
        )
        .replace("group_wait: 30s", "group_wait: 1s");
    assert_ne!(config, simple);
    let pharos = Pharos::start(&dir, Some(&config)).await;
    let (status, body) = pharos
        .send(
            Method::POST,
            "/api/v2/alerts",
            Some(json!([{
                "labels": {"alertname": "DiskFull", "service": "foo1", "cluster": "eu", "severity": "warning"},
                "annotations": {"summary": "disk almost full"}
            }])),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let conversation = pharos
        .wait_until(
            Duration::from_secs(20),
            "the mail to reach the fake SMTP server",
            async || {
                let lines = smtp.lock().unwrap().clone();
                if lines.iter().any(|l| l.contains("DiskFull")) {
                    Ok(lines)
                } else {
                    Err(format!("{lines:?}"))
                }
            },
        )
        .await;
    assert!(
        conversation
            .iter()
            .any(|l| l == "MAIL FROM:<alertmanager@example.org>"),
        "{conversation:?}"
    );
    assert!(
        conversation
            .iter()
            .any(|l| l == "RCPT TO:<team-X+alerts@example.org>"),
        "{conversation:?}"
    );
    assert!(
        conversation.iter().any(|l| l.starts_with("AUTH")),
        "smtp_auth_username/password were used: {conversation:?}"
    );
}
