//! DNS monitors against a small authoritative server on loopback (UDP, and TCP for answers
//! that do not fit), written here so the test needs no network and no other resolver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use pharos_evaluate::probe::probe_dns;
use pharos_model::monitor::DnsCheck;
use pharos_model::{MonitorCheck, MonitorSpec, Outcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server does for one (name, type).
#[derive(Clone)]
enum Zone {
    Records(Vec<Vec<u8>>),
    NxDomain,
    /// Answers truncated and empty over UDP, in full over TCP.
    TcpOnly(Vec<Vec<u8>>),
    Silent,
}

struct Server {
    addr: SocketAddr,
    /// (name, type) of every question received, UDP and TCP alike.
    asked: Arc<Mutex<Vec<(String, u16)>>>,
}

fn question(query: &[u8]) -> (String, u16, usize) {
    let mut pos = 12;
    let mut labels = Vec::new();
    while query[pos] != 0 {
        let len = usize::from(query[pos]);
        labels.push(String::from_utf8_lossy(&query[pos + 1..pos + 1 + len]).into_owned());
        pos += 1 + len;
    }
    let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
    (labels.join("."), qtype, pos + 5)
}

fn answer(query: &[u8], rcode: u8, truncated: bool, qtype: u16, records: &[Vec<u8>]) -> Vec<u8> {
    let (_, _, end) = question(query);
    let mut out = query[..end].to_vec();
    out[2] = 0x81 | if truncated { 0x02 } else { 0 };
    out[3] = 0x80 | rcode;
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    out[10..12].copy_from_slice(&[0, 0]);
    for data in records {
        out.extend_from_slice(&[0xC0, 12]);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in name.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

async fn start(zones: HashMap<(&'static str, u16), Zone>) -> Server {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let zones = Arc::new(zones);
    let lookup = {
        let asked = asked.clone();
        move |query: &[u8], over_tcp: bool| -> Option<Vec<u8>> {
            let (name, qtype, _) = question(query);
            asked.lock().unwrap().push((name.clone(), qtype));
            let zone = zones
                .get(&(name.as_str(), qtype))
                .cloned()
                .unwrap_or(Zone::Records(Vec::new()));
            match zone {
                Zone::Records(r) => Some(answer(query, 0, false, qtype, &r)),
                Zone::NxDomain => Some(answer(query, 3, false, qtype, &[])),
                Zone::TcpOnly(r) if over_tcp => Some(answer(query, 0, false, qtype, &r)),
                Zone::TcpOnly(_) => Some(answer(query, 0, true, qtype, &[])),
                Zone::Silent => None,
            }
        }
    };
    let udp_lookup = lookup.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Some(reply) = udp_lookup(&buf[..n], false) {
                let _ = udp.send_to(&reply, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let len = stream.read_u16().await.unwrap();
            let mut query = vec![0u8; usize::from(len)];
            stream.read_exact(&mut query).await.unwrap();
            if let Some(reply) = lookup(&query, true) {
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                stream.write_all(&framed).await.unwrap();
            }
        }
    });
    Server { addr, asked }
}

async fn server() -> Server {
    let mx = [&[0, 10][..], &name_bytes("mx1.example.test")].concat();
    let txt = [&[11][..], b"v=spf1 -all"].concat();
    start(HashMap::from([
        (
            ("example.test", 1),
            Zone::Records(vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]]),
        ),
        (("example.test", 15), Zone::Records(vec![mx])),
        (("example.test", 16), Zone::Records(vec![txt])),
        (("missing.test", 1), Zone::NxDomain),
        (("slow.test", 1), Zone::Silent),
        (("big.test", 1), Zone::TcpOnly(vec![vec![198, 51, 100, 7]])),
    ]))
    .await
}

async fn probe(server: &Server, dns: serde_json::Value) -> ProbeResult {
    let mut dns = dns;
    dns["resolver"] = server.addr.to_string().into();
    let spec: MonitorSpec =
        serde_json::from_value(serde_json::json!({"name": "dns", "dns": dns})).unwrap();
    let MonitorCheck::Dns(check) = &spec.check else {
        panic!("not a dns check")
    };
    let check: &DnsCheck = check;
    probe_dns(&spec.id, check).await
}

#[tokio::test]
async fn an_a_record_among_the_expected_is_up_with_its_latency() {
    let s = server().await;
    let r = probe(
        &s,
        serde_json::json!({"name": "Example.Test.", "expected": ["192.0.2.2", "192.0.2.9"]}),
    )
    .await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    assert!(r.latency_ms.is_some_and(|ms| ms >= 0.0));
    assert_eq!(
        s.asked.lock().unwrap().as_slice(),
        [("example.test".to_string(), 1)]
    );
}

#[tokio::test]
async fn match_all_names_the_value_that_is_missing() {
    let s = server().await;
    let r = probe(&s, serde_json::json!({"name": "example.test", "expected": ["192.0.2.1", "192.0.2.9"], "match": "all"})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(
        r.error.as_deref(),
        Some(
            format!(
                "DNS A example.test at {}: answered 192.0.2.1, 192.0.2.2; 192.0.2.9 missing",
                s.addr
            )
            .as_str()
        )
    );
    let r = probe(&s, serde_json::json!({"name": "example.test", "expected": ["192.0.2.1", "192.0.2.2"], "match": "all"})).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error);
}

#[tokio::test]
async fn other_record_types_are_asked_for_and_compared() {
    let s = server().await;
    let r = probe(&s, serde_json::json!({"name": "example.test", "record_type": "MX", "expected": ["mx1.example.test."]})).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error);
    let r = probe(&s, serde_json::json!({"name": "example.test", "record_type": "TXT", "expected": ["v=spf1 -all"]})).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error);
    let r = probe(&s, serde_json::json!({"name": "example.test", "record_type": "MX", "expected": ["mx2.example.test"]})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .ends_with("answered 10 mx1.example.test; expected one of mx2.example.test"),
        "{:?}",
        r.error
    );
    let asked: Vec<u16> = s.asked.lock().unwrap().iter().map(|(_, t)| *t).collect();
    assert_eq!(asked, [15, 16, 15]);
}

#[tokio::test]
async fn no_records_and_no_such_name_are_down_with_the_reason() {
    let s = server().await;
    let r = probe(
        &s,
        serde_json::json!({"name": "example.test", "record_type": "AAAA"}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(
        r.error.as_deref(),
        Some(format!("DNS AAAA example.test at {}: no AAAA records", s.addr).as_str())
    );
    let r = probe(&s, serde_json::json!({"name": "missing.test"})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .ends_with("the resolver answered NXDOMAIN (no such name)"),
        "{:?}",
        r.error
    );
}

#[tokio::test]
async fn a_silent_resolver_is_down_after_the_timeout() {
    let s = server().await;
    let started = std::time::Instant::now();
    let r = probe(
        &s,
        serde_json::json!({"name": "slow.test", "timeout": "300ms"}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Down);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .ends_with("no answer within 300ms"),
        "{:?}",
        r.error
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let s = server().await;
    let r = probe(
        &s,
        serde_json::json!({"name": "big.test", "expected": ["198.51.100.7"]}),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error);
    assert_eq!(
        s.asked.lock().unwrap().len(),
        2,
        "once over UDP, once over TCP"
    );
}

#[tokio::test]
async fn nothing_listening_is_down_not_a_hang() {
    // A UDP port nobody answers on: ICMP port unreachable or the timeout, both down.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    drop(socket);
    let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
        "name": "dns", "dns": {"name": "example.test", "resolver": addr.to_string(), "timeout": "1s"}
    }))
    .unwrap();
    let MonitorCheck::Dns(check) = &spec.check else {
        panic!()
    };
    let r = probe_dns(&spec.id, check).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .starts_with(&format!("DNS A example.test at {addr}: ")),
        "{:?}",
        r.error
    );
}
