//! Host metrics: the machine Pharos runs on, read from `/proc` and `statvfs`, as series
//! with node_exporter's names and units, so dashboards and rules written for
//! `node_exporter` (CPU, memory, disk space, network, load) work on Pharos unchanged.
//!
//! Only Linux's `/proc` is read; on another system, or in a container that hides a file,
//! the families whose files are missing are left out and the rest are still reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pharos_model::series::{LabelSet, METRIC_NAME};

/// One value of a host metric family, with its labels (without `job` / `instance`).
#[derive(Clone, Debug, PartialEq)]
pub struct HostSample {
    pub labels: LabelSet,
    pub value: f64,
}

/// Reads host metrics from a proc filesystem (normally `/proc`).
pub struct HostCollector {
    proc: PathBuf,
    /// Seconds per clock tick of `/proc/stat`'s CPU counters.
    seconds_per_tick: f64,
}

/// Filesystems whose sizes mean nothing to a person watching disk space
/// (node_exporter leaves out the same kinds by default).
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
    "nfsd",
    "ramfs",
];

impl Default for HostCollector {
    fn default() -> Self {
        HostCollector::new(Path::new("/proc"))
    }
}

impl HostCollector {
    pub fn new(proc: &Path) -> Self {
        // SAFETY: sysconf only reads a system constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        HostCollector {
            proc: proc.to_path_buf(),
            seconds_per_tick: if ticks > 0 { 1.0 / ticks as f64 } else { 0.01 },
        }
    }

    /// Every family that can be read now. `now_secs` is the time reported as
    /// `node_time_seconds`.
    pub fn collect(&self, now_secs: f64) -> Vec<HostSample> {
        let mut out = Vec::with_capacity(256);
        let mut push = |name: &str, labels: &[(&str, &str)], value: f64| {
            out.push(HostSample {
                labels: LabelSet::new(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .chain([(METRIC_NAME.to_string(), name.to_string())]),
                ),
                value,
            });
        };
        push("node_time_seconds", &[], now_secs);
        if let Some(text) = self.read("stat") {
            parse_stat(&text, self.seconds_per_tick, &mut push);
        }
        if let Some(text) = self.read("meminfo") {
            parse_meminfo(&text, &mut push);
        }
        if let Some(text) = self.read("loadavg") {
            parse_loadavg(&text, &mut push);
        }
        if let Some(text) = self.read("net/dev") {
            parse_net_dev(&text, &mut push);
        }
        if let Some(text) = self.read("diskstats") {
            parse_diskstats(&text, &mut push);
        }
        if let Some(text) = self.read("mounts") {
            for m in parse_mounts(&text) {
                if let Some(fs) = statvfs(std::path::Path::new(&m.mountpoint)) {
                    let l = [
                        ("device", m.device.as_str()),
                        ("fstype", m.fstype.as_str()),
                        ("mountpoint", m.mountpoint.as_str()),
                    ];
                    push("node_filesystem_size_bytes", &l, fs.size);
                    push("node_filesystem_free_bytes", &l, fs.free);
                    push("node_filesystem_avail_bytes", &l, fs.avail);
                    push("node_filesystem_files", &l, fs.files);
                    push("node_filesystem_files_free", &l, fs.files_free);
                    push(
                        "node_filesystem_readonly",
                        &l,
                        if fs.readonly { 1.0 } else { 0.0 },
                    );
                }
            }
        }
        out
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.proc.join(file)).ok()
    }
}

type Push<'a> = dyn FnMut(&str, &[(&str, &str)], f64) + 'a;

const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

fn parse_stat(text: &str, seconds_per_tick: f64, push: &mut Push) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu").filter(|c| !c.is_empty()) {
            // Per-CPU lines only, as node_exporter: the `cpu` total is their sum.
            for (mode, v) in CPU_MODES.iter().zip(fields) {
                if let Ok(ticks) = v.parse::<f64>() {
                    push(
                        "node_cpu_seconds_total",
                        &[("cpu", cpu), ("mode", mode)],
                        ticks * seconds_per_tick,
                    );
                }
            }
            continue;
        }
        let value = fields.next().and_then(|v| v.parse::<f64>().ok());
        let name = match key {
            "ctxt" => "node_context_switches_total",
            "intr" => "node_intr_total",
            "btime" => "node_boot_time_seconds",
            "processes" => "node_forks_total",
            "procs_running" => "node_procs_running",
            "procs_blocked" => "node_procs_blocked",
            _ => continue,
        };
        if let Some(v) = value {
            push(name, &[], v);
        }
    }
}

/// `MemTotal: 16 kB` → `node_memory_MemTotal_bytes`; `Active(anon)` → `Active_anon`.
fn parse_meminfo(text: &str, push: &mut Push) {
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(Ok(mut v)) = parts.next().map(str::parse::<f64>) else {
            continue;
        };
        let unit = parts.next();
        if unit == Some("kB") {
            v *= 1024.0;
        }
        let key: String = key
            .chars()
            .filter(|c| *c != ')')
            .map(|c| if c == '(' { '_' } else { c })
            .collect();
        let name = match unit {
            Some(_) => format!("node_memory_{key}_bytes"),
            None => format!("node_memory_{key}"),
        };
        push(&name, &[], v);
    }
}

fn parse_loadavg(text: &str, push: &mut Push) {
    let names = ["node_load1", "node_load5", "node_load15"];
    for (name, v) in names.iter().zip(text.split_ascii_whitespace()) {
        if let Ok(v) = v.parse() {
            push(name, &[], v);
        }
    }
}

/// `/proc/net/dev`: two header lines, then `iface: rx bytes packets errs drop … tx …`.
fn parse_net_dev(text: &str, push: &mut Push) {
    const RECEIVE: [(usize, &str); 4] = [
        (0, "node_network_receive_bytes_total"),
        (1, "node_network_receive_packets_total"),
        (2, "node_network_receive_errs_total"),
        (3, "node_network_receive_drop_total"),
    ];
    const TRANSMIT: [(usize, &str); 4] = [
        (8, "node_network_transmit_bytes_total"),
        (9, "node_network_transmit_packets_total"),
        (10, "node_network_transmit_errs_total"),
        (11, "node_network_transmit_drop_total"),
    ];
    for line in text.lines().skip(2) {
        let Some((device, rest)) = line.split_once(':') else {
            continue;
        };
        let device = device.trim();
        let fields: Vec<f64> = rest
            .split_ascii_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() < 16 {
            continue;
        }
        for (i, name) in RECEIVE.iter().chain(TRANSMIT.iter()) {
            push(name, &[("device", device)], fields[*i]);
        }
    }
}

/// `/proc/diskstats`: `major minor name reads merged sectors_read ms writes merged
/// sectors_written ms in_flight io_ms weighted_ms …`; sectors are 512 bytes whatever the
/// device's own sector size.
fn parse_diskstats(text: &str, push: &mut Push) {
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let device = f[2];
        // Partitions, loop and RAM devices double-count or mean nothing for a dashboard.
        if device.starts_with("loop") || device.starts_with("ram") || is_partition(device) {
            continue;
        }
        let n = |i: usize| f[i].parse::<f64>().unwrap_or(0.0);
        let l = [("device", device)];
        push("node_disk_reads_completed_total", &l, n(3));
        push("node_disk_read_bytes_total", &l, n(5) * 512.0);
        push("node_disk_read_time_seconds_total", &l, n(6) / 1000.0);
        push("node_disk_writes_completed_total", &l, n(7));
        push("node_disk_written_bytes_total", &l, n(9) * 512.0);
        push("node_disk_write_time_seconds_total", &l, n(10) / 1000.0);
        push("node_disk_io_now", &l, n(11));
        push("node_disk_io_time_seconds_total", &l, n(12) / 1000.0);
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

#[derive(Debug, PartialEq)]
struct Mount {
    device: String,
    mountpoint: String,
    fstype: String,
}

fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut seen = BTreeSet::new();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let (device, mountpoint, fstype) = (f.next()?, f.next()?, f.next()?);
            if PSEUDO_FILESYSTEMS.contains(&fstype)
                || mountpoint.starts_with("/proc")
                || mountpoint.starts_with("/sys")
            {
                return None;
            }
            // /proc/mounts escapes spaces and tabs in paths as octal.
            let mountpoint = unescape_octal(mountpoint);
            seen.insert(mountpoint.clone()).then(|| Mount {
                device: unescape_octal(device),
                mountpoint,
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct FsStats {
    size: f64,
    free: f64,
    avail: f64,
    files: f64,
    files_free: f64,
    readonly: bool,
}

/// Bytes free for unprivileged users on the file system holding `dir` (the readiness
/// check's disk test).
pub fn available_bytes(dir: &std::path::Path) -> Option<u64> {
    statvfs(dir).map(|fs| fs.avail as u64)
}

fn statvfs(path: &std::path::Path) -> Option<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `s` is written by the call before we
    // read it (checked by the return value).
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let s = unsafe { s.assume_init() };
    let frag = s.f_frsize as f64;
    Some(FsStats {
        size: s.f_blocks as f64 * frag,
        free: s.f_bfree as f64 * frag,
        avail: s.f_bavail as f64 * frag,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
        readonly: s.f_flag & libc::ST_RDONLY != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_with(f: impl FnOnce(&mut Push)) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        let mut push = |name: &str, labels: &[(&str, &str)], v: f64| {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push((format!("{name}{{{}}}", l.join(",")), v));
        };
        f(&mut push);
        out
    }

    #[test]
    fn cpu_seconds_per_cpu_and_mode_from_ticks() {
        let stat = "cpu  10 0 20 300 0 0 0 0 0 0\ncpu0 5 0 10 150 1 2 3 4 0 0\ncpu1 5 0 10 150 0 0 0 0 0 0\nctxt 999\nbtime 1700000000\nprocs_running 3\n";
        let got = collect_with(|p| parse_stat(stat, 0.01, p));
        assert!(got.contains(&("node_cpu_seconds_total{cpu=0,mode=idle}".into(), 1.5)));
        assert!(got.contains(&("node_cpu_seconds_total{cpu=0,mode=steal}".into(), 0.04)));
        assert!(
            !got.iter().any(|(n, _)| n.contains("cpu=,")),
            "no total line"
        );
        assert_eq!(
            got.iter()
                .filter(|(n, _)| n.starts_with("node_cpu"))
                .count(),
            16
        );
        assert!(got.contains(&("node_context_switches_total{}".into(), 999.0)));
        assert!(got.contains(&("node_boot_time_seconds{}".into(), 1_700_000_000.0)));
        assert!(got.contains(&("node_procs_running{}".into(), 3.0)));
    }

    #[test]
    fn meminfo_names_and_bytes_as_node_exporter() {
        let text = "MemTotal:       16000 kB\nMemAvailable:    8000 kB\nActive(anon):      10 kB\nHugePages_Total:       0\n";
        let got = collect_with(|p| parse_meminfo(text, p));
        assert_eq!(
            got,
            vec![
                ("node_memory_MemTotal_bytes{}".into(), 16_384_000.0),
                ("node_memory_MemAvailable_bytes{}".into(), 8_192_000.0),
                ("node_memory_Active_anon_bytes{}".into(), 10_240.0),
                ("node_memory_HugePages_Total{}".into(), 0.0),
            ]
        );
    }

    #[test]
    fn network_and_disks_without_partitions() {
        let net = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n";
        let got = collect_with(|p| parse_net_dev(net, p));
        assert!(got.contains(&(
            "node_network_receive_bytes_total{device=eth0}".into(),
            1000.0
        )));
        assert!(got.contains(&("node_network_transmit_drop_total{device=eth0}".into(), 4.0)));
        let disks = "   8       0 sda 100 0 2048 50 200 0 4096 70 0 300 400 0 0 0 0\n   8       1 sda1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n 259 0 nvme0n1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n 259 1 nvme0n1p1 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n   7 0 loop0 1 0 8 1 1 0 8 1 0 1 1 0 0 0 0\n";
        let got = collect_with(|p| parse_diskstats(disks, p));
        assert!(got.contains(&(
            "node_disk_read_bytes_total{device=sda}".into(),
            2048.0 * 512.0
        )));
        assert!(got.contains(&("node_disk_io_time_seconds_total{device=sda}".into(), 0.3)));
        let devices: BTreeSet<&str> = got
            .iter()
            .map(|(n, _)| n.split("device=").nth(1).unwrap().trim_end_matches('}'))
            .collect();
        assert_eq!(devices, BTreeSet::from(["nvme0n1", "sda"]));
    }

    #[test]
    fn mounts_skip_pseudo_filesystems_and_unescape_paths() {
        let text = "proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw 0 0\n/dev/vdb /mnt/my\\040disk xfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vda1 / ext4 rw 0 0\n";
        let got = parse_mounts(text);
        assert_eq!(
            got.iter()
                .map(|m| m.mountpoint.as_str())
                .collect::<Vec<_>>(),
            vec!["/", "/mnt/my disk", "/run"]
        );
    }

    #[test]
    fn the_real_proc_gives_cpu_memory_and_a_root_filesystem() {
        if !Path::new("/proc/stat").exists() {
            eprintln!("skipped: no /proc on this system");
            return;
        }
        let got = HostCollector::default().collect(1.0);
        let has = |name: &str| got.iter().any(|s| s.labels.metric_name() == Some(name));
        for name in [
            "node_cpu_seconds_total",
            "node_memory_MemTotal_bytes",
            "node_memory_MemAvailable_bytes",
            "node_load1",
            "node_filesystem_avail_bytes",
            "node_network_receive_bytes_total",
        ] {
            assert!(has(name), "{name} missing");
        }
        assert!(got.iter().any(|s| s.labels.get("mountpoint") == Some("/")
            && s.labels.metric_name() == Some("node_filesystem_size_bytes")
            && s.value > 0.0));
    }
}
