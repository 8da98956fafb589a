//! ICMP monitors against loopback. Where the system allows neither unprivileged ICMP
//! sockets nor raw ones, the test checks that the check is down with what to change, and
//! says that the echo itself was not tried.

use pharos_evaluate::probe::probe_icmp;
use pharos_model::{MonitorCheck, MonitorSpec, Outcome, ProbeResult};
use socket2::{Domain, Protocol, Socket, Type};

fn icmp_permitted(v6: bool) -> bool {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    Socket::new(domain, Type::DGRAM, Some(protocol)).is_ok()
        || Socket::new(domain, Type::RAW, Some(protocol)).is_ok()
}

async fn probe(host: &str) -> ProbeResult {
    let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
        "name": "ping", "icmp": {"host": host, "count": 3, "timeout": "2s"}
    }))
    .unwrap();
    let MonitorCheck::Icmp(check) = &spec.check else {
        panic!("not an icmp check")
    };
    probe_icmp(&spec.id, check).await
}

#[tokio::test]
async fn loopback_answers_every_echo() {
    let r = probe("127.0.0.1").await;
    if !icmp_permitted(false) {
        eprintln!(
            "SKIPPED the echo: this system allows neither unprivileged ICMP sockets nor raw ones"
        );
        assert_eq!(r.outcome, Outcome::Down);
        let error = r.error.unwrap();
        assert!(error.contains("net.ipv4.ping_group_range is"), "{error}");
        return;
    }
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    let ms = r.latency_ms.unwrap();
    assert!(ms > 0.0 && ms < 2000.0, "{ms}");
}

#[tokio::test]
async fn ipv6_loopback_answers_too() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() || !icmp_permitted(true) {
        eprintln!("SKIPPED: no IPv6 loopback, or no ICMPv6 sockets allowed");
        return;
    }
    let r = probe("::1").await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
}
