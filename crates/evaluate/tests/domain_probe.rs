//! Domain expiry monitors against a loopback RDAP service that, like rdap.org, redirects
//! `domain/<name>` to a "registry" path answering the RDAP domain object.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use pharos_evaluate::probe::{HttpProber, probe_domain};
use pharos_model::{MonitorCheck, MonitorSpec, Outcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `/rdap/domain/<name>` → 302 → `/registry/domain/<name>` with an expiration date
/// `days` from now (`None`: 404). Keeps the request lines it was sent.
async fn rdap_server(days: Option<i64>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_string();
                seen.lock().unwrap().push(line.clone());
                let path = line.split(' ').nth(1).unwrap_or_default();
                let reply = if let Some(name) = path.strip_prefix("/rdap/domain/") {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: /registry/domain/{name}\r\nContent-Length: 0\r\n\r\n"
                    )
                } else if let (Some(name), Some(days)) =
                    (path.strip_prefix("/registry/domain/"), days)
                {
                    let expires =
                        (Utc::now() + Duration::days(days) + Duration::hours(1)).to_rfc3339();
                    let body = format!(
                        r#"{{"objectClassName":"domain","ldhName":"{name}","events":[{{"eventAction":"registration","eventDate":"2001-01-01T00:00:00Z"}},{{"eventAction":"expiration","eventDate":"{expires}"}}]}}"#
                    );
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/rdap+json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
                };
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, lines)
}

async fn probe(addr: SocketAddr, name: &str) -> ProbeResult {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
        "name": "domain",
        "domain": {"name": name, "rdap_server": format!("http://{addr}/rdap"), "expiry_warning_days": 30}
    }))
    .unwrap();
    let MonitorCheck::Domain(check) = &spec.check else {
        panic!("not a domain check")
    };
    let prober = HttpProber::new().unwrap();
    probe_domain(&spec.id, check, prober.rdap_client()).await
}

#[tokio::test]
async fn a_domain_far_from_expiry_is_up_with_its_days_left() {
    let (addr, lines) = rdap_server(Some(200)).await;
    let r = probe(addr, "Example.com").await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    assert_eq!(r.numbers, [("days_left".to_string(), 200.0)]);
    assert_eq!(
        lines.lock().unwrap().as_slice(),
        [
            "GET /rdap/domain/example.com HTTP/1.1",
            "GET /registry/domain/example.com HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn a_domain_within_the_warning_is_degraded() {
    let (addr, _) = rdap_server(Some(10)).await;
    let r = probe(addr, "example.com").await;
    assert_eq!(r.outcome, Outcome::Degraded);
    let error = r.error.unwrap();
    assert!(
        error.starts_with("domain example.com: registration expires in 10 days ("),
        "{error}"
    );
    assert!(error.ends_with("; warning at 30 days)"), "{error}");
}

#[tokio::test]
async fn an_expired_domain_is_down() {
    let (addr, _) = rdap_server(Some(-3)).await;
    let r = probe(addr, "example.com").await;
    assert_eq!(r.outcome, Outcome::Down);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .starts_with("domain example.com: registration expired 3 days ago"),
        "{:?}",
        r.error
    );
    assert_eq!(r.numbers, [("days_left".to_string(), -3.0)]);
}

#[tokio::test]
async fn an_unknown_domain_is_down_with_the_reason() {
    let (addr, _) = rdap_server(None).await;
    let r = probe(addr, "example.com").await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(
        r.error.as_deref(),
        Some(
            "domain example.com: the registry does not know this domain (RDAP 404): not registered, or mistyped"
        )
    );
}
