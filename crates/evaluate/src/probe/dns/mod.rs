//! DNS checks: one query to the chosen resolver over UDP (again over TCP when the answer
//! is truncated), up when the answer is NOERROR with records of the type asked for and the
//! expected values among them.

mod wire;

use std::net::SocketAddr;
use std::time::Instant;

use chrono::Utc;
use pharos_model::monitor::{DnsCheck, DnsMatch, DnsRecordType, parse_resolver};
use pharos_model::{MonitorId, Outcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::down;
use wire::{Answer, decode_answer, encode_query, rcode_name};

/// Where the system's resolver is configured.
const RESOLV_CONF: &str = "/etc/resolv.conf";

pub async fn probe_dns(monitor: &MonitorId, check: &DnsCheck) -> ProbeResult {
    let at = Utc::now();
    let resolver = match resolver_of(check).await {
        Ok(r) => r,
        Err(e) => {
            return down(at, monitor, None, None, e);
        }
    };
    let what = format!(
        "DNS {} {} at {resolver}",
        check.record_type,
        if check.name.is_empty() {
            "."
        } else {
            &check.name
        }
    );
    let started = Instant::now();
    let timeout = check.timeout.as_duration();
    let answer = match tokio::time::timeout(timeout, query(resolver, check)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return down(at, monitor, None, None, format!("{what}: {e}"));
        }
        Err(_) => {
            return down(
                at,
                monitor,
                Some(timeout.as_secs_f64() * 1000.0),
                None,
                format!("{what}: no answer within {}", check.timeout),
            );
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match judge(check, &answer) {
        Ok(()) => ProbeResult {
            monitor: monitor.clone(),
            at,
            outcome: Outcome::Up,
            latency_ms: Some(latency_ms),
            status_code: None,
            error: None,
            tls_days_left: None,
            numbers: Vec::new(),
        },
        Err(e) => down(at, monitor, Some(latency_ms), None, format!("{what}: {e}")),
    }
}

/// The monitor's resolver, or the first `nameserver` of `/etc/resolv.conf`.
async fn resolver_of(check: &DnsCheck) -> Result<SocketAddr, String> {
    if let Some(r) = &check.resolver {
        return parse_resolver(r).map_err(|e| e.to_string());
    }
    let conf = tokio::fs::read_to_string(RESOLV_CONF)
        .await
        .map_err(|e| format!("no dns.resolver set and {RESOLV_CONF} cannot be read: {e}"))?;
    first_nameserver(&conf)
        .ok_or_else(|| format!("no dns.resolver set and {RESOLV_CONF} names no usable nameserver"))
}

fn first_nameserver(conf: &str) -> Option<SocketAddr> {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| parse_resolver(rest.trim()).ok())
}

#[derive(Debug, thiserror::Error)]
enum QueryError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Malformed(#[from] wire::MalformedAnswer),
}

async fn query(resolver: SocketAddr, check: &DnsCheck) -> Result<Answer, QueryError> {
    let id: u16 = rand::random();
    let message = encode_query(id, &check.name, check.record_type.code());
    let answer = query_udp(resolver, id, &message).await?;
    if answer.truncated {
        return query_tcp(resolver, id, &message).await;
    }
    Ok(answer)
}

async fn query_udp(resolver: SocketAddr, id: u16, message: &[u8]) -> Result<Answer, QueryError> {
    let local: SocketAddr = if resolver.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(resolver).await?;
    socket.send(message).await?;
    let mut buf = vec![0u8; 65_535];
    // A connected socket only hears the resolver; a late answer to an earlier query (another
    // id) is skipped. The caller's timeout bounds the wait.
    loop {
        let n = socket.recv(&mut buf).await?;
        match decode_answer(&buf[..n]) {
            Ok(a) if a.id == id => return Ok(a),
            Ok(_) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

async fn query_tcp(resolver: SocketAddr, id: u16, message: &[u8]) -> Result<Answer, QueryError> {
    let mut stream = tokio::net::TcpStream::connect(resolver).await?;
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    let answer = decode_answer(&buf)?;
    if answer.id != id {
        return Err(wire::MalformedAnswer("answer to another query").into());
    }
    Ok(answer)
}

/// Whether the answer is what the monitor expects; the reason in words when it is not.
fn judge(check: &DnsCheck, answer: &Answer) -> Result<(), String> {
    if answer.rcode != 0 {
        return Err(format!(
            "the resolver answered {}",
            rcode_name(answer.rcode)
        ));
    }
    let values: Vec<&str> = answer
        .records
        .iter()
        .filter(|(t, _)| *t == check.record_type.code())
        .map(|(_, v)| v.as_str())
        .collect();
    if values.is_empty() {
        let others: Vec<&str> = answer.records.iter().map(|(_, v)| v.as_str()).collect();
        return Err(if others.is_empty() {
            format!("no {} records", check.record_type)
        } else {
            format!(
                "no {} records (the answer holds {})",
                check.record_type,
                others.join(", ")
            )
        });
    }
    if check.expected.is_empty() {
        return Ok(());
    }
    let found = |e: &String| values.iter().any(|v| matches(check.record_type, e, v));
    let missing: Vec<&str> = check
        .expected
        .iter()
        .filter(|e| !found(e))
        .map(String::as_str)
        .collect();
    let ok = match check.match_mode {
        DnsMatch::Any => missing.len() < check.expected.len(),
        DnsMatch::All => missing.is_empty(),
    };
    if ok {
        return Ok(());
    }
    Err(match check.match_mode {
        DnsMatch::Any => format!(
            "answered {}; expected one of {}",
            values.join(", "),
            check.expected.join(", ")
        ),
        DnsMatch::All => format!(
            "answered {}; {} missing",
            values.join(", "),
            missing.join(", ")
        ),
    })
}

/// Whether an expected value names an answered one: addresses as addresses, names without
/// regard to case or a final dot, MX / SRV / SOA by their whole text or by the host name
/// alone, TXT and CAA exactly.
fn matches(kind: DnsRecordType, expected: &str, value: &str) -> bool {
    let expected = expected.trim();
    let name = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    match kind {
        DnsRecordType::A | DnsRecordType::Aaaa => expected
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| value.parse() == Ok(ip)),
        DnsRecordType::Cname | DnsRecordType::Ns | DnsRecordType::Ptr => name(expected) == value,
        DnsRecordType::Mx | DnsRecordType::Srv => {
            let host = value.rsplit(' ').next().unwrap_or(value);
            let e = name(expected);
            e == host || e.split_whitespace().eq(value.split_whitespace())
        }
        DnsRecordType::Soa => {
            let host = value.split(' ').next().unwrap_or(value);
            let e = name(expected);
            e == host || e.split_whitespace().eq(value.split_whitespace())
        }
        DnsRecordType::Txt | DnsRecordType::Caa => expected == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_usable_nameserver_is_the_default_resolver() {
        let conf = "# generated\nsearch example.com\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(first_nameserver(conf), Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(first_nameserver("options ndots:5\n"), None);
    }

    #[test]
    fn expected_values_match_as_people_write_them() {
        use DnsRecordType::*;
        assert!(matches(A, " 192.0.2.1 ", "192.0.2.1"));
        assert!(matches(Aaaa, "2001:DB8:0::1", "2001:db8::1"));
        assert!(!matches(A, "192.0.2.10", "192.0.2.1"));
        assert!(matches(Cname, "Target.Example.com.", "target.example.com"));
        assert!(matches(Mx, "mx1.example.com", "10 mx1.example.com"));
        assert!(matches(Mx, "10 MX1.example.com.", "10 mx1.example.com"));
        assert!(!matches(Mx, "20 mx1.example.com", "10 mx1.example.com"));
        assert!(matches(Txt, "v=spf1 -all", "v=spf1 -all"));
        assert!(!matches(Txt, "V=SPF1 -all", "v=spf1 -all"));
    }
}
