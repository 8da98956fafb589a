//! ICMP echo (ping). An unprivileged ICMP datagram socket where the system allows it
//! (`net.ipv4.ping_group_range` includes Pharos' group), a raw socket where Pharos has
//! `CAP_NET_RAW`; otherwise every check is down with what to change.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::Utc;
use pharos_model::monitor::IcmpCheck;
use pharos_model::{MonitorId, Outcome, ProbeResult};
use socket2::{Domain, Protocol, Socket, Type};

use super::down;

/// Bytes after the 8-byte ICMP header, recognised in replies.
const PAYLOAD: &[u8; 16] = b"pharos-ping-echo";

pub async fn probe_icmp(monitor: &MonitorId, check: &IcmpCheck) -> ProbeResult {
    let at = Utc::now();
    let timeout = check.timeout.as_duration();
    let what = format!("ping {}", check.host);
    let rtts = match tokio::time::timeout(timeout, ping(check, timeout)).await {
        Ok(Ok(rtts)) => rtts,
        Ok(Err(e)) => {
            return down(at, monitor, None, None, format!("{what}: {e}"));
        }
        Err(_) => {
            return down(
                at,
                monitor,
                None,
                None,
                format!(
                    "{what}: could not resolve the host within {}",
                    check.timeout
                ),
            );
        }
    };
    let (outcome, latency_ms, error) = verdict(check, &rtts);
    ProbeResult {
        monitor: monitor.clone(),
        at,
        outcome,
        latency_ms,
        status_code: None,
        error: error.map(|e| format!("{what}: {e}")),
        tls_days_left: None,
        numbers: Vec::new(),
    }
}

/// Up when every echo came back, degraded when some did, down when none did; the latency
/// is the mean round trip of the replies.
fn verdict(check: &IcmpCheck, rtts: &[Duration]) -> (Outcome, Option<f64>, Option<String>) {
    let sent = usize::from(check.count);
    if rtts.is_empty() {
        return (
            Outcome::Down,
            None,
            Some(format!(
                "no echo reply within {} ({sent} sent)",
                check.timeout
            )),
        );
    }
    let mean_ms = rtts.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / rtts.len() as f64;
    if rtts.len() < sent {
        let lost = sent - rtts.len();
        return (
            Outcome::Degraded,
            Some(mean_ms),
            Some(format!("{lost} of {sent} echo requests lost")),
        );
    }
    (Outcome::Up, Some(mean_ms), None)
}

async fn ping(check: &IcmpCheck, timeout: Duration) -> Result<Vec<Duration>, String> {
    let ip = match check.host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => tokio::net::lookup_host((check.host.as_str(), 0))
            .await
            .map_err(|e| format!("cannot resolve the host: {e}"))?
            .next()
            .map(|a| a.ip())
            .ok_or("the host name has no address")?,
    };
    let (socket, raw) = open_socket(ip)?;
    let ident: u16 = rand::random();
    let target = SocketAddr::new(ip, 0);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut sent_at = Vec::new();
    for seq in 0..u16::from(check.count) {
        let packet = echo_request(ip.is_ipv4(), ident, seq);
        sent_at.push(Instant::now());
        socket
            .send_to(&packet, target)
            .await
            .map_err(|e| format!("sending the echo request: {e}"))?;
    }
    let mut rtts: Vec<Option<Duration>> = vec![None; sent_at.len()];
    let mut buf = [0u8; 1500];
    while rtts.iter().any(Option::is_none) {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let Ok(received) = received else { break };
        let (n, from) = received.map_err(|e| format!("reading replies: {e}"))?;
        if from.ip() != ip {
            continue;
        }
        // A raw IPv4 socket hands over the IP header too; the others start at ICMP.
        let icmp = if raw && ip.is_ipv4() {
            let header = usize::from(buf[0] & 0x0F) * 4;
            buf.get(header..n).unwrap_or_default()
        } else {
            &buf[..n]
        };
        if let Some(seq) = echo_reply_seq(ip.is_ipv4(), icmp, raw.then_some(ident))
            && let Some(slot) = rtts.get_mut(usize::from(seq))
            && slot.is_none()
        {
            *slot = Some(sent_at[usize::from(seq)].elapsed());
        }
    }
    Ok(rtts.into_iter().flatten().collect())
}

/// An ICMP socket that can be used without privileges, or a raw one with them; the tokio
/// UDP type carries it, as both are read and written with `recvfrom` / `sendto`.
fn open_socket(ip: IpAddr) -> Result<(tokio::net::UdpSocket, bool), String> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => (s, true),
            Err(_) => return Err(not_permitted(&dgram)),
        },
    };
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("ICMP socket: {e}"))?;
    let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))
        .map_err(|e| format!("ICMP socket: {e}"))?;
    Ok((socket, raw))
}

/// What to change when neither kind of ICMP socket may be opened.
pub fn not_permitted(error: &std::io::Error) -> String {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let gid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Gid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_else(|| "unknown".into());
    format!(
        "ICMP sockets are not permitted ({error}): net.ipv4.ping_group_range is \"{range}\", \
         which does not include Pharos' group {gid}, and Pharos lacks CAP_NET_RAW; allow it with \
         `sysctl net.ipv4.ping_group_range=\"0 2147483647\"` or `setcap cap_net_raw+ep` on the binary"
    )
}

/// An echo request: type 8 (IPv4) or 128 (IPv6), the identifier, the sequence number and
/// [`PAYLOAD`]. The IPv4 checksum is filled in; the kernel fills in ICMPv6's.
fn echo_request(v4: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v4 { 8 } else { 128 }, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if v4 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sequence number of an echo reply to Pharos (its payload; its identifier too on a
/// raw socket, where the kernel does not sort replies by socket).
fn echo_reply_seq(v4: bool, icmp: &[u8], ident: Option<u16>) -> Option<u16> {
    let reply_type = if v4 { 0 } else { 129 };
    if icmp.len() < 8 + PAYLOAD.len()
        || icmp[0] != reply_type
        || &icmp[8..8 + PAYLOAD.len()] != PAYLOAD
    {
        return None;
    }
    if let Some(ident) = ident
        && u16::from_be_bytes([icmp[4], icmp[5]]) != ident
    {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::duration::HumanDuration;

    fn check(count: u8) -> IcmpCheck {
        IcmpCheck {
            host: "127.0.0.1".into(),
            count,
            timeout: HumanDuration::from_secs(2),
        }
    }

    #[test]
    fn an_echo_request_carries_a_valid_checksum() {
        let p = echo_request(true, 0x1234, 7);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(echo_request(false, 1, 1)[..4], [128, 0, 0, 0]);
    }

    #[test]
    fn replies_are_matched_by_type_payload_and_identifier() {
        let mut reply = echo_request(true, 0x1234, 2);
        reply[0] = 0;
        assert_eq!(echo_reply_seq(true, &reply, Some(0x1234)), Some(2));
        assert_eq!(echo_reply_seq(true, &reply, None), Some(2));
        assert_eq!(echo_reply_seq(true, &reply, Some(0x9999)), None);
        assert_eq!(echo_reply_seq(false, &reply, None), None);
        let request = echo_request(true, 0x1234, 2);
        assert_eq!(
            echo_reply_seq(true, &request, None),
            None,
            "our own request"
        );
    }

    #[test]
    fn lost_echoes_degrade_and_none_back_is_down() {
        let ms = Duration::from_millis;
        let (o, latency, e) = verdict(&check(3), &[ms(2), ms(4), ms(6)]);
        assert_eq!((o, e), (Outcome::Up, None));
        assert!((latency.unwrap() - 4.0).abs() < 1e-9);
        let (o, _, e) = verdict(&check(3), &[ms(2)]);
        assert_eq!(
            (o, e.as_deref()),
            (Outcome::Degraded, Some("2 of 3 echo requests lost"))
        );
        let (o, latency, e) = verdict(&check(3), &[]);
        assert_eq!(
            (o, latency, e.as_deref()),
            (
                Outcome::Down,
                None,
                Some("no echo reply within 2s (3 sent)")
            )
        );
    }
}
