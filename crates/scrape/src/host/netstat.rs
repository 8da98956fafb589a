//! The kernel's protocol counters and socket tables: `/proc/net/netstat`, `snmp` and
//! `snmp6`, `sockstat`, `softnet_stat`, and the TCP and UDP socket lists
//! (node_exporter's `netstat`, `sockstat`, `softnet`, `tcpstat` and `udp_queues`
//! collectors).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{HostCollector, Kind, Sink};

/// node_exporter's default `--collector.netstat.fields`.
static NETSTAT_FIELDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
    )
    .expect("a valid regex")
});

pub(super) fn netstat(c: &HostCollector, sink: &mut Sink) -> bool {
    let (Some(netstat), Some(snmp)) = (c.read_proc("net/netstat"), c.read_proc("net/snmp")) else {
        return false;
    };
    // (protocol, field) → value; a later file wins, as node_exporter merges them.
    let mut stats: BTreeMap<(String, String), f64> = BTreeMap::new();
    for text in [&netstat, &snmp] {
        parse_header_value_pairs(text, &mut stats);
    }
    if let Some(snmp6) = c.read_proc("net/snmp6") {
        for line in snmp6.lines() {
            let mut f = line.split_ascii_whitespace();
            let (Some(key), Some(v)) = (f.next(), f.next()) else {
                continue;
            };
            let Some(six) = key.find('6') else { continue };
            if let Ok(v) = v.parse() {
                let (protocol, field) = key.split_at(six + 1);
                stats.insert((protocol.to_string(), field.to_string()), v);
            }
        }
    }
    for ((protocol, field), v) in stats {
        let key = format!("{protocol}_{field}");
        if !NETSTAT_FIELDS.is_match(&key) {
            continue;
        }
        sink.add(
            Kind::Untyped,
            &format!("node_netstat_{key}"),
            &format!("Statistic {protocol}{field}."),
            &[],
            v,
        );
    }
    true
}

/// `Tcp: RtoAlgorithm RtoMin …` followed by `Tcp: 1 200 …`: a header line and a value
/// line per protocol.
fn parse_header_value_pairs(text: &str, out: &mut BTreeMap<(String, String), f64>) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let mut names = names.split_ascii_whitespace();
        let mut values = values.split_ascii_whitespace();
        let (Some(protocol), Some(_)) = (names.next(), values.next()) else {
            continue;
        };
        let protocol = protocol.trim_end_matches(':');
        for (name, v) in names.zip(values) {
            if let Ok(v) = v.parse() {
                out.insert((protocol.to_string(), name.to_string()), v);
            }
        }
    }
}

pub(super) fn sockstat(c: &HostCollector, sink: &mut Sink) -> bool {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let mut found = false;
    for (file, ipv6) in [("net/sockstat", false), ("net/sockstat6", true)] {
        let Some(text) = c.read_proc(file) else {
            continue;
        };
        found = true;
        for line in text.lines() {
            let Some((protocol, rest)) = line.split_once(':') else {
                continue;
            };
            let pairs: Vec<&str> = rest.split_ascii_whitespace().collect();
            let pairs: Vec<(&str, f64)> = pairs
                .chunks(2)
                .filter_map(|p| Some((p[0], p.get(1)?.parse().ok()?)))
                .collect();
            if protocol == "sockets" {
                if let (false, Some((_, used))) = (ipv6, pairs.iter().find(|(k, _)| *k == "used")) {
                    sink.gauge(
                        "node_sockstat_sockets_used",
                        "Number of IPv4 sockets in use.",
                        &[],
                        *used,
                    );
                }
                continue;
            }
            let mut emit = |state: &str, v: f64| {
                sink.gauge(
                    &format!("node_sockstat_{protocol}_{state}"),
                    &format!("Number of {protocol} sockets in state {state}."),
                    &[],
                    v,
                );
            };
            // node_exporter's order: inuse, orphan, tw, alloc, mem, memory, mem_bytes.
            for state in ["inuse", "orphan", "tw", "alloc", "mem", "memory"] {
                if let Some((_, v)) = pairs.iter().find(|(k, _)| *k == state) {
                    emit(state, *v);
                }
            }
            if let Some((_, pages)) = pairs.iter().find(|(k, _)| *k == "mem") {
                emit("mem_bytes", pages * page);
            }
        }
    }
    found
}

/// `/proc/net/softnet_stat`: one line per CPU of hexadecimal counters.
pub(super) fn softnet(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("net/softnet_stat") else {
        return false;
    };
    for (line_no, line) in text.lines().enumerate() {
        let f: Vec<u64> = line
            .split_ascii_whitespace()
            .filter_map(|v| u64::from_str_radix(v, 16).ok())
            .collect();
        if f.len() < 9 {
            continue;
        }
        // Kernels since 5.10 write the CPU's number in the 13th column.
        let cpu = if f.len() >= 13 {
            f[12].to_string()
        } else {
            line_no.to_string()
        };
        let l = [("cpu", cpu.as_str())];
        let counters: [(usize, &str, &str); 6] = [
            (
                0,
                "node_softnet_processed_total",
                "Number of processed packets",
            ),
            (1, "node_softnet_dropped_total", "Number of dropped packets"),
            (
                2,
                "node_softnet_times_squeezed_total",
                "Number of times processing packets ran out of quota",
            ),
            (
                8,
                "node_softnet_cpu_collision_total",
                "Number of collision occur while obtaining device lock while transmitting",
            ),
            (
                9,
                "node_softnet_received_rps_total",
                "Number of times cpu woken up received_rps",
            ),
            (
                10,
                "node_softnet_flow_limit_count_total",
                "Number of times flow limit has been reached",
            ),
        ];
        for (i, name, help) in counters {
            // node_exporter reports 0 for the columns an older kernel lacks.
            sink.counter(name, help, &l, f.get(i).copied().unwrap_or(0) as f64);
        }
        sink.gauge(
            "node_softnet_backlog_len",
            "Softnet backlog status",
            &l,
            f.get(11).copied().unwrap_or(0) as f64,
        );
    }
    true
}

const TCP_STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// `/proc/net/tcp` and `tcp6`: sockets by state, and the bytes queued in them.
/// (node_exporter asks netlink for the same table.)
pub(super) fn tcpstat(c: &HostCollector, sink: &mut Sink) -> bool {
    let mut counts = [0f64; TCP_STATES.len()];
    let (mut tx, mut rx) = (0f64, 0f64);
    let mut found = false;
    for file in ["net/tcp", "net/tcp6"] {
        let Some(text) = c.read_proc(file) else {
            continue;
        };
        found = true;
        for line in text.lines().skip(1) {
            let mut f = line.split_ascii_whitespace().skip(3);
            let (Some(state), Some(queues)) = (f.next(), f.next()) else {
                continue;
            };
            if let Some(n) = usize::from_str_radix(state, 16)
                .ok()
                .and_then(|s| counts.get_mut(s.wrapping_sub(1)))
            {
                *n += 1.0;
            }
            let (t, r) = hex_queues(queues);
            tx += t;
            rx += r;
        }
    }
    if !found {
        return false;
    }
    let help = "Number of connection states.";
    // node_exporter leaves out the states no socket is in; every state is reported
    // here, so a quiet machine's "TCP Stat Transient" panel shows zeros, not "No data".
    for (state, n) in TCP_STATES.iter().zip(counts) {
        sink.gauge("node_tcp_connection_states", help, &[("state", state)], n);
    }
    sink.gauge(
        "node_tcp_connection_states",
        help,
        &[("state", "rx_queued_bytes")],
        rx,
    );
    sink.gauge(
        "node_tcp_connection_states",
        help,
        &[("state", "tx_queued_bytes")],
        tx,
    );
    true
}

/// `tx_queue:rx_queue` in hexadecimal.
fn hex_queues(field: &str) -> (f64, f64) {
    let (t, r) = field.split_once(':').unwrap_or(("0", "0"));
    let n = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0) as f64;
    (n(t), n(r))
}

/// `/proc/net/udp` and `udp6`: bytes queued in UDP sockets, by direction.
pub(super) fn udp_queues(c: &HostCollector, sink: &mut Sink) -> bool {
    let mut found = false;
    for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
        let Some(text) = c.read_proc(file) else {
            continue;
        };
        found = true;
        let (mut tx, mut rx) = (0f64, 0f64);
        for line in text.lines().skip(1) {
            if let Some(q) = line.split_ascii_whitespace().nth(4) {
                let (t, r) = hex_queues(q);
                tx += t;
                rx += r;
            }
        }
        let help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
        sink.gauge("node_udp_queues", help, &[("queue", "tx"), ("ip", ip)], tx);
        sink.gauge("node_udp_queues", help, &[("queue", "rx"), ("ip", ip)], rx);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn protocol_counters_sockets_and_queues() {
        let (root, c) = fixture(
            "netstat",
            &[
                (
                    "proc/net/netstat",
                    "TcpExt: SyncookiesSent ListenDrops PruneCalled\nTcpExt: 1 2 3\nIpExt: InOctets OutOctets\nIpExt: 100 200\n",
                ),
                (
                    "proc/net/snmp",
                    "Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab InErrs\nTcp: 1 -1 5 2 0\nUdp: InDatagrams NoPorts\nUdp: 7 1\n",
                ),
                (
                    "proc/net/snmp6",
                    "Ip6InOctets    300\nUdp6InDatagrams 4\nIp6InDelivers 9\n",
                ),
                (
                    "proc/net/sockstat",
                    "sockets: used 23\nTCP: inuse 2 orphan 0 tw 5 alloc 2 mem 3\nFRAG: inuse 0 memory 0\n",
                ),
                ("proc/net/sockstat6", "TCP6: inuse 1\n"),
                (
                    "proc/net/softnet_stat",
                    "0000000a 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000001\n",
                ),
                (
                    "proc/net/tcp",
                    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000010 00:00000000 00000000  1000        0 1\n   1: 0100007F:1F90 0100007F:C350 01 00000020:00000000 00:00000000 00000000  1000        0 2\n",
                ),
                (
                    "proc/net/udp",
                    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  1: 00000000:0044 00000000:0000 07 00000000:00000100 00:00000000 00000000     0        0 1 2 0 0\n",
                ),
            ],
        );
        let got = run(|s| {
            netstat(&c, s) & sockstat(&c, s) & softnet(&c, s) & tcpstat(&c, s) & udp_queues(&c, s)
        });
        // SAFETY: sysconf only reads a system constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
        for want in [
            ("node_netstat_TcpExt_SyncookiesSent{}", 1.0),
            ("node_netstat_TcpExt_ListenDrops{}", 2.0),
            ("node_netstat_IpExt_InOctets{}", 100.0),
            ("node_netstat_Tcp_ActiveOpens{}", 5.0),
            ("node_netstat_Tcp_CurrEstab{}", 2.0),
            ("node_netstat_Tcp_InErrs{}", 0.0),
            ("node_netstat_Udp_NoPorts{}", 1.0),
            ("node_netstat_Ip6_InOctets{}", 300.0),
            ("node_netstat_Udp6_InDatagrams{}", 4.0),
            ("node_sockstat_sockets_used{}", 23.0),
            ("node_sockstat_TCP_tw{}", 5.0),
            ("node_sockstat_TCP_mem_bytes{}", 3.0 * page),
            ("node_sockstat_FRAG_memory{}", 0.0),
            ("node_sockstat_TCP6_inuse{}", 1.0),
            ("node_softnet_processed_total{cpu=1}", 10.0),
            ("node_softnet_received_rps_total{cpu=1}", 3.0),
            ("node_softnet_flow_limit_count_total{cpu=1}", 4.0),
            ("node_softnet_backlog_len{cpu=1}", 5.0),
            ("node_tcp_connection_states{state=listen}", 1.0),
            ("node_tcp_connection_states{state=established}", 1.0),
            ("node_tcp_connection_states{state=syn_sent}", 0.0),
            ("node_tcp_connection_states{state=rx_queued_bytes}", 16.0),
            ("node_tcp_connection_states{state=tx_queued_bytes}", 32.0),
            ("node_udp_queues{ip=v4,queue=rx}", 256.0),
        ] {
            assert!(
                got.contains(&(want.0.into(), want.1)),
                "{want:?} in {got:#?}"
            );
        }
        for unwanted in ["PruneCalled", "RtoAlgorithm", "MaxConn", "Ip6_InDelivers"] {
            assert!(!got.iter().any(|(n, _)| n.contains(unwanted)), "{unwanted}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
