//! Logs end to end through the real binary: syslog over TLS and octet-counted TCP, Loki's
//! protobuf push, OTLP/JSON, a log line leading to the error event of its trace, a
//! forbidden-pattern rule firing and resolving with a link the explorer answers, and a
//! bad `logs:` section refused with its line. The real Python clients are in `tests/logs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Pharos, TOKEN, client, free_port, tempdir, url_escape};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Polls a log search until `pred` holds on its entries (the index commits about once a
/// second).
async fn wait_logs(p: &Pharos, q: &str, secs: u64, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("search {q:?} to match"),
        async || {
            let v = p
                .get(&format!("/api/v1/logs?since=24h&q={}", url_escape(q)))
                .await;
            let entries = v["entries"].as_array().cloned().unwrap_or_default();
            if pred(&entries) { Ok(entries) } else { Err(v) }
        },
    )
    .await
}

fn self_signed() -> (rcgen::CertifiedKey<rcgen::KeyPair>, String, String) {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = key.cert.pem();
    let key_pem = key.signing_key.serialize_pem();
    (key, cert_pem, key_pem)
}

#[tokio::test]
async fn syslog_over_tls_and_octet_counted_tcp() {
    let dir = tempdir("logs-syslog");
    let (certified, cert_pem, key_pem) = self_signed();
    std::fs::write(dir.join("cert.pem"), cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), key_pem).unwrap();
    let (tcp_port, tls_port) = (free_port(), free_port());
    let config = format!(
        "logs:\n  syslog:\n    tcp: 127.0.0.1:{tcp_port}\n    tls:\n      listen: 127.0.0.1:{tls_port}\n      cert_file: {}\n      key_file: {}\n",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    let p = Pharos::start(&dir, Some(&config)).await;

    // Octet counting (RFC 6587) with two frames in one write, then a newline-framed one.
    let now = chrono::Utc::now();
    let at = |secs: i64| {
        (now - chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let m1 = format!(
        "<11>1 {} web-1 billing 42 - - payment failed for order 7",
        at(3)
    );
    let m2 = format!(
        "<14>1 {} web-1 billing 42 - [req@1 request_id=\"r-77\"] order 7 paid",
        at(2)
    );
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port))
        .await
        .unwrap();
    let framed = format!("{} {m1}{} {m2}", m1.len(), m2.len());
    tcp.write_all(framed.as_bytes()).await.unwrap();
    let bsd_time = now.format("%b %e %H:%M:%S");
    tcp.write_all(format!("<12>{bsd_time} web-1 worker[9]: queue is slow\n").as_bytes())
        .await
        .unwrap();
    tcp.shutdown().await.unwrap();

    // TLS (RFC 5425 framing is octet counting too).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
        .await
        .unwrap();
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), stream)
        .await
        .unwrap();
    let m3 = format!(
        "<10>1 {} web-2 secure-app - - - Database connection lost",
        at(1)
    );
    tls.write_all(format!("{} {m3}", m3.len()).as_bytes())
        .await
        .unwrap();
    tls.shutdown().await.unwrap();

    let billing = wait_logs(&p, "service=billing", 15, |e| e.len() == 2).await;
    assert_eq!(billing[0]["message"], "order 7 paid");
    assert_eq!(billing[0]["level"], "INFO");
    assert_eq!(billing[0]["fields"]["request_id"], "r-77");
    assert_eq!(billing[1]["level"], "ERROR");
    assert_eq!(billing[1]["host"], "web-1");
    let worker = wait_logs(&p, "service=worker", 10, |e| e.len() == 1).await;
    assert_eq!(worker[0]["level"], "WARNING");
    let secure = wait_logs(&p, "\"connection lost\"", 10, |e| e.len() == 1).await;
    assert_eq!(secure[0]["service"], "secure-app");
    assert_eq!(secure[0]["level"], "CRITICAL");
    assert_eq!(secure[0]["source"], "syslog");
    let metrics = client()
        .get(format!("{}/metrics", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pharos_log_lines_received_total{source=\"syslog\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn loki_protobuf_and_otlp_json_and_partial_refusals() {
    use pharos_ingest::logs::loki::{EntryAdapter, PushRequest, StreamAdapter, encode_protobuf};
    let dir = tempdir("logs-protocols");
    let p = Pharos::start(&dir, None).await;
    let now = chrono::Utc::now();
    let ts = |secs_ago: i64| {
        let t = now - chrono::Duration::seconds(secs_ago);
        Some(pharos_ingest::logs::loki::Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        })
    };
    let body = encode_protobuf(&PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{service_name="promtail-app", level="warn", env="prod"}"#.into(),
            entries: vec![
                EntryAdapter {
                    timestamp: ts(2),
                    line: br#"{"message": "cache miss storm", "tenant_id": "acme"}"#.to_vec(),
                    structured_metadata: vec![],
                },
                EntryAdapter {
                    timestamp: ts(1),
                    line: b"plain text \xff with a bad byte".to_vec(),
                    structured_metadata: vec![],
                },
            ],
            hash: 0,
        }],
    });
    let r = client()
        .post(format!("{}/loki/api/v1/push", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let got = wait_logs(&p, "service=promtail-app", 10, |e| e.len() == 2).await;
    assert_eq!(got[1]["message"], "cache miss storm");
    assert_eq!(got[1]["level"], "WARNING");
    assert_eq!(got[1]["fields"]["tenant_id"], "acme");
    assert_eq!(got[1]["fields"]["env"], "prod");
    assert!(
        got[0]["fields"]["_pharos_warning"].is_string(),
        "{}",
        got[0]
    );

    // Garbage as protobuf: a clear 400, and what was stored stays.
    let r = client()
        .post(format!("{}/loki/api/v1/push", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-protobuf")
        .body(&b"definitely not snappy"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("error"), "{text}");

    // Loki JSON with one bad timestamp: the rest is stored, the answer says how many were not.
    let ns = now.timestamp_nanos_opt().unwrap().to_string();
    let r = client()
        .post(format!("{}/loki/api/v1/push", p.url))
        .bearer_auth(TOKEN)
        .json(&json!({"streams": [{"stream": {"service": "partial"}, "values": [[ns, "kept line"], ["yesterday", "refused line"]]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["x-pharos-rejected"], "1");
    wait_logs(&p, "service=partial", 10, |e| e.len() == 1).await;

    // OTLP/JSON as the OpenTelemetry Collector sends it.
    let otlp = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"scope": {"name": "checkout.payments"}, "logRecords": [{
            "timeUnixNano": ns,
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "card declined"},
            "traceId": "5b8efff798038103d269b633813fc60c",
            "attributes": [{"key": "order_id", "value": {"intValue": "812"}}]
        }]}]
    }]});
    let r = client()
        .post(format!("{}/v1/logs", p.url))
        .bearer_auth(TOKEN)
        .json(&otlp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = wait_logs(&p, "service=checkout level>=ERROR", 10, |e| e.len() == 1).await;
    assert_eq!(got[0]["logger"], "checkout.payments");
    assert_eq!(got[0]["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(got[0]["fields"]["order_id"], 812);

    // No token, no logs.
    let r = client()
        .post(format!("{}/api/v1/logs?service=x", p.url))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_log_line_leads_to_the_error_event_of_its_trace() {
    let dir = tempdir("logs-trace");
    let key = "0123456789abcdef0123456789abcdef";
    let config = format!("projects:\n  - id: 5\n    name: bot\n    keys: [\"{key}\"]\n");
    let p = Pharos::start(&dir, Some(&config)).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let event = json!({
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "level": "error",
        "exception": {"values": [{"type": "KeyError", "value": "'balance'"}]},
        "contexts": {"trace": {"trace_id": trace, "span_id": "00f067aa0ba902b7"}}
    });
    let envelope = format!(
        "{{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}}\n{{\"type\":\"event\"}}\n{event}\n"
    );
    let r = client()
        .post(format!("{}/api/5/envelope/?sentry_key={key}", p.url))
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let line = json!({"levelname": "ERROR", "name": "bot.balance",
        "message": "balance lookup failed", "trace_id": trace, "user_id": 123});
    let (status, body) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/logs?service=bot",
            Some(json!([line])),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let found = p
        .wait_until(
            Duration::from_secs(10),
            "the trace to be complete",
            async || {
                let v = p.get(&format!("/api/v1/traces/{trace}")).await;
                if v["logs"].as_array().is_some_and(|l| !l.is_empty())
                    && v["events"].as_array().is_some_and(|e| !e.is_empty())
                {
                    Ok(v)
                } else {
                    Err(v)
                }
            },
        )
        .await;
    assert_eq!(
        found["events"][0]["event_id"],
        "9ec79c33ec9942ab8353589fcb2e04dc"
    );
    assert!(found["events"][0]["issue_id"].as_i64().unwrap() > 0);
    assert_eq!(found["logs"][0]["message"], "balance lookup failed");
    let (status, _) = p
        .send(reqwest::Method::GET, "/api/v1/traces/not-a-trace", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_forbidden_pattern_fires_then_resolves_and_links_to_its_lines() {
    let dir = tempdir("logs-rules");
    let config = r#"
logs:
  rules:
    - name: forbidden_log_patterns
      kind: forbidden
      resolve_after: 2s
      patterns:
        - {pattern: "Decimal.*is not JSON serializable", severity: P0}
        - "Queue full"
"#;
    let p = Pharos::start(&dir, Some(config)).await;
    let (status, _) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/logs?service=bot",
            Some(json!([format!(
                "{} - bot.api - ERROR - TypeError: Object of type Decimal is not JSON serializable",
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%S,%3f")
            )])),
        )
        .await;
    assert_eq!(status, 200);
    let firing =
        |a: &Value| a["labels"]["alertname"] == "forbidden_log_patterns" && a["state"] == "firing";
    let alert = p
        .wait_until(
            Duration::from_secs(10),
            "forbidden_log_patterns to fire",
            async || {
                let v = p.get("/api/v1/alerts/history").await;
                v["alerts"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| firing(a)))
                    .cloned()
                    .ok_or(v)
            },
        )
        .await;
    assert_eq!(alert["labels"]["severity"], "P0");
    assert_eq!(alert["labels"]["service"], "bot");
    // The alert's link opens the explorer on a query the search language accepts.
    let link = alert["generator_url"].as_str().unwrap();
    let query = url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    wait_logs(&p, &query, 10, |e| e.len() == 1).await;
    // The explorer opened from the link shows the alert's window (its `from`/`to`), not
    // the last hour: the range picker holds the window's length and end.
    let path = &link[link.find("/logs?").unwrap()..];
    let page = p.page(path).await;
    let to = url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        page.contains(&format!(
            "name=\"end\" value=\"{}\"",
            to.trim_end_matches('Z')
        )),
        "the link's end ({to}) in the picker: {page}"
    );
    assert!(
        !page.contains("<option value=\"1h\" selected"),
        "not the default hour"
    );

    p.wait_until(
        Duration::from_secs(15),
        "forbidden_log_patterns to resolve",
        async || {
            let v = p.get("/api/v1/alerts/history").await;
            let resolved = v["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["labels"]["alertname"] == "forbidden_log_patterns" && a["state"] == "resolved"
                }) && !a.iter().any(&firing)
            });
            if resolved { Ok(()) } else { Err(v) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_bad_logs_section_is_refused_with_its_line() {
    let dir = tempdir("logs-bad-config");
    let path = dir.join("pharos.yaml");
    std::fs::write(
        &path,
        "logs:\n  rules:\n    - name: burst\n      kind: threshold\n      per: 10m\n",
    )
    .unwrap();
    let out = common::check_config(&path);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pharos.yaml:"), "{err}");
    assert!(err.contains("max"), "{err}");
}
