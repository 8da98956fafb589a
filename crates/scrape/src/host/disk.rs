//! Block devices: `/proc/diskstats` (node_exporter's `diskstats` collector).

use super::{HostCollector, Sink};

/// `/proc/diskstats`: `major minor name` then the kernel's I/O counters (see the
/// kernel's `Documentation/admin-guide/iostats.rst`); sectors are 512 bytes whatever
/// the device's own sector size.
pub(super) fn diskstats(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("diskstats") else {
        return false;
    };
    parse_diskstats(&text, sink);
    true
}

/// (field index, name, help, counter?, scale).
type Field = (usize, &'static str, &'static str, bool, f64);

const FIELDS: &[Field] = &[
    (
        3,
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        true,
        1.0,
    ),
    (
        4,
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        true,
        1.0,
    ),
    (
        5,
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        true,
        512.0,
    ),
    (
        6,
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        true,
        0.001,
    ),
    (
        7,
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        true,
        1.0,
    ),
    (
        8,
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        true,
        1.0,
    ),
    (
        9,
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        true,
        512.0,
    ),
    (
        10,
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        true,
        0.001,
    ),
    (
        11,
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        false,
        1.0,
    ),
    (
        12,
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        true,
        0.001,
    ),
    (
        13,
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        true,
        0.001,
    ),
    // Kernel 4.18 and later.
    (
        14,
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        true,
        1.0,
    ),
    (
        15,
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        true,
        1.0,
    ),
    (
        16,
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        true,
        1.0,
    ),
    (
        17,
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        true,
        0.001,
    ),
    // Kernel 5.5 and later.
    (
        18,
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        true,
        1.0,
    ),
    (
        19,
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        true,
        0.001,
    ),
];

fn parse_diskstats(text: &str, sink: &mut Sink) {
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let device = f[2];
        // node_exporter's default exclusion: partitions, loop, RAM and floppy devices
        // double-count or mean nothing for a dashboard.
        if device.starts_with("loop")
            || device.starts_with("ram")
            || device.starts_with("zram")
            || device.starts_with("fd")
            || is_partition(device)
        {
            continue;
        }
        let l = [("device", device)];
        for (i, name, help, counter, scale) in FIELDS {
            let Some(v) = f.get(*i).and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            if *counter {
                sink.counter(name, help, &l, v * scale);
            } else {
                sink.gauge(name, help, &l, v * scale);
            }
        }
    }
}

/// `sda1`, `vda2`, `nvme0n1p1`, `mmcblk0p1` are partitions; `sda`, `nvme0n1`, `dm-0` are not.
fn is_partition(device: &str) -> bool {
    let digits = device.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits.len() == device.len() {
        return false;
    }
    if device.starts_with("nvme") || device.starts_with("mmcblk") {
        return digits.ends_with('p');
    }
    (device.starts_with("sd")
        || device.starts_with("vd")
        || device.starts_with("xvd")
        || device.starts_with("hd"))
        && digits.len() > 2
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::tests::run;
    use super::*;

    #[test]
    fn disks_without_partitions_with_discards_and_flushes() {
        let disks = "   8       0 sda 100 3 2048 50 200 4 4096 70 0 300 400 5 6 7 8 9 10\n   8       1 sda1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n 259 0 nvme0n1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n 259 1 nvme0n1p1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n   7 0 loop0 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n";
        let got = run(|s| {
            parse_diskstats(disks, s);
            true
        });
        assert!(got.contains(&(
            "node_disk_read_bytes_total{device=sda}".into(),
            2048.0 * 512.0
        )));
        assert!(got.contains(&("node_disk_io_time_seconds_total{device=sda}".into(), 0.3)));
        assert!(got.contains(&("node_disk_writes_merged_total{device=sda}".into(), 4.0)));
        assert!(got.contains(&("node_disk_discarded_sectors_total{device=sda}".into(), 7.0)));
        assert!(got.contains(&("node_disk_flush_requests_total{device=sda}".into(), 9.0)));
        assert!(got.contains(&(
            "node_disk_flush_requests_time_seconds_total{device=sda}".into(),
            0.01
        )));
        let devices: BTreeSet<&str> = got
            .iter()
            .map(|(n, _)| n.split("device=").nth(1).unwrap().trim_end_matches('}'))
            .collect();
        assert_eq!(devices, BTreeSet::from(["nvme0n1", "sda"]));
    }
}
