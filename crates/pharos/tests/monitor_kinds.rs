//! The monitor kinds beyond http / tcp / heartbeat, end to end: made through the API, probed
//! by the real binary against loopback servers, read back as results and series.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use reqwest::Method;
use serde_json::json;

/// A resolver answering every A question with the address held in the returned cell.
async fn dns_responder() -> (SocketAddr, Arc<AtomicU32>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let answer = Arc::new(AtomicU32::new(u32::from_be_bytes([192, 0, 2, 10])));
    let current = answer.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let query = &buf[..n];
            // The question: the name's labels, then type and class.
            let mut end = 12;
            while end < n && query[end] != 0 {
                end += 1 + usize::from(query[end]);
            }
            end += 5;
            if end > n {
                continue;
            }
            let mut reply = query[..end].to_vec();
            reply[2] = 0x81;
            reply[3] = 0x80;
            reply[6..8].copy_from_slice(&[0, 1]);
            reply[10..12].copy_from_slice(&[0, 0]);
            reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
            reply.extend_from_slice(&current.load(Ordering::SeqCst).to_be_bytes());
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (addr, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_monitor_made_through_the_api_follows_its_resolver() {
    let dir = tempdir("dns-monitor");
    let (resolver, answer) = dns_responder().await;
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Service DNS", "interval": "1s", "dns": {
                "name": "svc.example.test", "resolver": resolver.to_string(),
                "expected": ["192.0.2.10"]}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let m = p
        .wait_monitor("service-dns", 15, |m| state(m) == "up")
        .await;
    assert_eq!(m["type"], "dns", "{m}");

    answer.store(u32::from_be_bytes([192, 0, 2, 99]), Ordering::SeqCst);
    p.wait_monitor("service-dns", 15, |m| state(m) == "down")
        .await;
    let results = p.get("/api/v1/monitors/service-dns/results?limit=1").await;
    let error = results["results"][0]["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        format!(
            "DNS A svc.example.test at {resolver}: answered 192.0.2.99; expected one of 192.0.2.10"
        ),
        "{results}"
    );
    wait_promql(
        &p,
        r#"probe_success{monitor_id="service-dns", type="dns"}"#,
        15,
        |r| promql_value(r) == Some(0.0),
    )
    .await;

    // A bad field is refused with its name, as for the other kinds.
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Bad DNS", "dns": {"name": "example.com", "resolver": "dns.google"}})),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not an IP address"),
        "{body}"
    );
}

/// An RDAP service answering every `domain/<name>` with an expiration 10 days away.
async fn rdap_service() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let expires =
                    (chrono::Utc::now() + chrono::Duration::days(10) + chrono::Duration::hours(1))
                        .to_rfc3339();
                let body = format!(
                    r#"{{"objectClassName":"domain","events":[{{"eventAction":"expiration","eventDate":"{expires}"}}]}}"#
                );
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rdap+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_monitor_checks_at_once_and_records_its_days_left() {
    let dir = tempdir("domain-monitor");
    let rdap = rdap_service().await;
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Our domain", "domain": {
                "name": "example.com", "rdap_server": format!("http://{rdap}/")}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    // Checked once at creation, though its interval is 12h.
    let m = p
        .wait_monitor("our-domain", 15, |m| state(m) == "degraded")
        .await;
    assert_eq!(m["type"], "domain", "{m}");
    let results = p.get("/api/v1/monitors/our-domain/results?limit=1").await;
    let error = results["results"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("domain example.com: registration expires in 10 days"),
        "{results}"
    );
    wait_promql(
        &p,
        r#"probe_domain_expiry_days{monitor_id="our-domain"}"#,
        15,
        |r| promql_value(r) == Some(10.0),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_monitor_reaches_loopback_or_says_what_to_allow() {
    let dir = tempdir("icmp-monitor");
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Loopback", "interval": "1s", "icmp": {"host": "127.0.0.1"}})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let m = p
        .wait_monitor("loopback", 15, |m| ["up", "down"].contains(&state(m)))
        .await;
    let permitted = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::ICMPV4),
    )
    .is_ok()
        || socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::ICMPV4),
        )
        .is_ok();
    if permitted {
        assert_eq!(state(&m), "up", "{m}");
    } else {
        eprintln!("SKIPPED the echo: no ICMP sockets allowed on this system");
        let results = p.get("/api/v1/monitors/loopback/results?limit=1").await;
        let error = results["results"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("net.ipv4.ping_group_range"), "{results}");
    }
}
