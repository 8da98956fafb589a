//! Network interfaces: traffic counters (`/proc/net/dev`), each interface's properties
//! (`/sys/class/net`), the ARP table and connection tracking (node_exporter's `netdev`,
//! `netclass`, `arp` and `conntrack` collectors).

use std::collections::BTreeMap;

use super::{HostCollector, Sink, entries, number, text};

/// `/proc/net/dev`'s columns after `iface:`, named as node_exporter names them.
const NET_DEV_FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

pub(super) fn netdev(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("net/dev") else {
        return false;
    };
    for (device, fields) in parse_net_dev(&text) {
        let l = [("device", device)];
        for (key, v) in NET_DEV_FIELDS.iter().zip(fields) {
            sink.counter(
                &format!("node_network_{key}_total"),
                &format!("Network device statistic {key}."),
                &l,
                v,
            );
        }
        // Not in /proc/net/dev; node_exporter reads it over netlink, sysfs has it too.
        let nohandler = c
            .sys
            .join("class/net")
            .join(device)
            .join("statistics/rx_nohandler");
        if let Some(v) = number(&nohandler) {
            sink.counter(
                "node_network_receive_nohandler_total",
                "Network device statistic receive_nohandler.",
                &l,
                v,
            );
        }
    }
    true
}

/// `/proc/net/dev`: two header lines, then `iface: rx bytes packets errs drop … tx …`.
fn parse_net_dev(text: &str) -> Vec<(&str, Vec<f64>)> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (device, rest) = line.split_once(':')?;
            let fields: Vec<f64> = rest
                .split_ascii_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            (fields.len() >= 16).then(|| (device.trim(), fields))
        })
        .collect()
}

/// Numeric files of `/sys/class/net/<iface>` and the name node_exporter gives each.
const NETCLASS_GAUGES: [(&str, &str); 14] = [
    ("addr_assign_type", "address_assign_type"),
    ("carrier", "carrier"),
    ("dev_id", "device_id"),
    ("dormant", "dormant"),
    ("flags", "flags"),
    ("ifindex", "iface_id"),
    ("iflink", "iface_link"),
    ("link_mode", "iface_link_mode"),
    ("mtu", "mtu_bytes"),
    ("name_assign_type", "name_assign_type"),
    ("netdev_group", "net_dev_group"),
    ("tx_queue_len", "transmit_queue_length"),
    ("type", "protocol_type"),
    ("speed", "speed_bytes"),
];

const NETCLASS_COUNTERS: [(&str, &str); 3] = [
    ("carrier_changes", "carrier_changes_total"),
    ("carrier_up_count", "carrier_up_changes_total"),
    ("carrier_down_count", "carrier_down_changes_total"),
];

/// sysfs writes `flags` and `dev_id` in hexadecimal.
fn sysfs_number(dir: &std::path::Path, file: &str) -> Option<f64> {
    let s = text(&dir.join(file))?;
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => s.parse().ok(),
    }
}

pub(super) fn netclass(c: &HostCollector, sink: &mut Sink) -> bool {
    let devices = entries(&c.sys.join("class/net"));
    for (device, dir) in &devices {
        let l = [("device", device.as_str())];
        let operstate = text(&dir.join("operstate")).unwrap_or_default();
        sink.gauge(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            &l,
            if operstate == "up" { 1.0 } else { 0.0 },
        );
        let flags = sysfs_number(dir, "flags");
        let admin = match flags {
            None => "unknown",
            Some(f) if (f as i64) & 1 == 1 => "up",
            Some(_) => "down",
        };
        let read = |f: &str| text(&dir.join(f)).unwrap_or_default();
        sink.gauge(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            &[
                ("device", device.as_str()),
                ("address", &read("address")),
                ("broadcast", &read("broadcast")),
                ("duplex", &read("duplex")),
                ("operstate", &operstate),
                ("adminstate", admin),
                ("ifalias", &read("ifalias")),
            ],
            1.0,
        );
        for (file, name) in NETCLASS_GAUGES {
            // Reading `speed` or `carrier` of a link that is down fails: no series.
            let Some(mut v) = sysfs_number(dir, file) else {
                continue;
            };
            if file == "speed" {
                // Mbit/s to bytes/s; a virtual NIC's -1 is kept, as node_exporter does.
                v = (v * 1000.0 * 1000.0 / 8.0).trunc();
            }
            sink.gauge(
                &format!("node_network_{name}"),
                &format!("Network device property: {name}"),
                &l,
                v,
            );
        }
        for (file, name) in NETCLASS_COUNTERS {
            if let Some(v) = sysfs_number(dir, file) {
                sink.counter(
                    &format!("node_network_{name}"),
                    &format!("Network device property: {name}"),
                    &l,
                    v,
                );
            }
        }
    }
    !devices.is_empty()
}

/// `/proc/net/arp`: one header line, then one entry a line, the device last.
pub(super) fn arp(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("net/arp") else {
        return false;
    };
    let mut per_device: BTreeMap<&str, f64> = BTreeMap::new();
    for line in text.lines().skip(1) {
        if let Some(device) = line.split_ascii_whitespace().nth(5) {
            *per_device.entry(device).or_default() += 1.0;
        }
    }
    for (device, n) in per_device {
        sink.gauge(
            "node_arp_entries",
            "ARP entries by device",
            &[("device", device)],
            n,
        );
    }
    true
}

/// Present only when the `nf_conntrack` module is loaded.
pub(super) fn conntrack(c: &HostCollector, sink: &mut Sink) -> bool {
    let (Some(count), Some(max)) = (
        c.proc_number("sys/net/netfilter/nf_conntrack_count"),
        c.proc_number("sys/net/netfilter/nf_conntrack_max"),
    ) else {
        return false;
    };
    sink.gauge(
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
        &[],
        count,
    );
    sink.gauge(
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
        &[],
        max,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn traffic_counters_and_interface_properties() {
        let (root, c) = fixture(
            "net",
            &[
                (
                    "proc/net/dev",
                    "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n  eth0: 1000 10 1 2 0 0 0 5 2000 20 3 4 0 6 7 0\n",
                ),
                ("sys/class/net/eth0/statistics/rx_nohandler", "9\n"),
                ("sys/class/net/eth0/operstate", "up\n"),
                ("sys/class/net/eth0/flags", "0x1003\n"),
                ("sys/class/net/eth0/mtu", "1500\n"),
                ("sys/class/net/eth0/speed", "1000\n"),
                ("sys/class/net/eth0/carrier_changes", "4\n"),
                ("sys/class/net/eth0/address", "02:fc:00:00:00:01\n"),
                (
                    "proc/net/arp",
                    "IP address       HW type     Flags       HW address            Mask     Device\n192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n",
                ),
                ("proc/sys/net/netfilter/nf_conntrack_count", "3\n"),
                ("proc/sys/net/netfilter/nf_conntrack_max", "65536\n"),
            ],
        );
        let got = run(|s| netdev(&c, s) & netclass(&c, s) & arp(&c, s) & conntrack(&c, s));
        for want in [
            ("node_network_receive_bytes_total{device=eth0}", 1000.0),
            ("node_network_receive_multicast_total{device=eth0}", 5.0),
            ("node_network_transmit_colls_total{device=eth0}", 6.0),
            ("node_network_transmit_carrier_total{device=eth0}", 7.0),
            ("node_network_receive_nohandler_total{device=eth0}", 9.0),
            ("node_network_up{device=eth0}", 1.0),
            ("node_network_flags{device=eth0}", 4099.0),
            ("node_network_mtu_bytes{device=eth0}", 1500.0),
            ("node_network_speed_bytes{device=eth0}", 125_000_000.0),
            ("node_network_carrier_changes_total{device=eth0}", 4.0),
            (
                "node_network_info{address=02:fc:00:00:00:01,adminstate=up,device=eth0,operstate=up}",
                1.0,
            ),
            ("node_arp_entries{device=eth0}", 1.0),
            ("node_nf_conntrack_entries{}", 3.0),
            ("node_nf_conntrack_entries_limit{}", 65536.0),
        ] {
            assert!(
                got.contains(&(want.0.into(), want.1)),
                "{want:?} in {got:#?}"
            );
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
