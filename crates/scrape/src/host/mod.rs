//! Host metrics: the machine Pharos runs on, read from `/proc`, `/sys` and a few system
//! calls, as series with node_exporter's names, labels, types and HELP texts, so
//! dashboards and rules written for `node_exporter` (Grafana's "Node Exporter Full",
//! the usual alert rules) work on Pharos unchanged.
//!
//! One file per family of node_exporter's Linux collectors: `cpu` (cpu, stat,
//! interrupts, schedstat, cpufreq), `memory` (meminfo, vmstat), `disk` (diskstats),
//! `filesystem` (filesystem, filefd), `network` (netdev, netclass, arp, conntrack),
//! `netstat` (netstat, sockstat, softnet, tcpstat, udp_queues), `system` (uname, os,
//! time, timex, entropy, loadavg, pressure, processes, kernel_hung), `hwmon` (hwmon,
//! thermal_zone, powersupplyclass) and `exporter` (the `process_*` series of the
//! exporting process, Pharos itself, as node_exporter reports its own).
//!
//! A file that is missing (no conntrack module, no hwmon, a container that hides
//! `/proc/schedstat`) leaves its collector's series out and its
//! `node_scrape_collector_success` at 0; it is never an error.

mod cpu;
mod disk;
mod exporter;
mod filesystem;
mod hwmon;
mod memory;
mod netstat;
mod network;
mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pharos_model::series::{LabelSet, METRIC_NAME};

use crate::metadata::MetricMetadata;

/// One value of a host metric family, with its labels (without `job` / `instance`).
#[derive(Clone, Debug, PartialEq)]
pub struct HostSample {
    pub labels: LabelSet,
    pub value: f64,
}

/// One collection: the samples, and the TYPE / HELP of every family among them (for
/// `/api/v1/metadata`).
#[derive(Debug, Default)]
pub struct HostMetrics {
    pub samples: Vec<HostSample>,
    pub families: BTreeMap<String, MetricMetadata>,
}

/// Reads host metrics from a proc and a sys filesystem (normally `/proc` and `/sys`).
pub struct HostCollector {
    proc: PathBuf,
    sys: PathBuf,
    /// `/etc`, for `os-release`.
    etc: PathBuf,
    /// Seconds per clock tick of `/proc/stat`'s CPU counters.
    seconds_per_tick: f64,
    /// Whether system calls (statvfs, uname, adjtimex) describe the machine whose
    /// files are read; false for the fixtures of unit tests.
    live: bool,
}

/// A collector: node_exporter's name for it and the function that fills the sink;
/// `false` when it found nothing to report.
type Collector = (&'static str, fn(&HostCollector, &mut Sink) -> bool);

/// In node_exporter's order (alphabetical), which is also the order of the
/// `node_scrape_collector_*` series.
const COLLECTORS: &[Collector] = &[
    ("arp", network::arp),
    ("conntrack", network::conntrack),
    ("cpu", cpu::cpu),
    ("cpufreq", cpu::cpufreq),
    ("diskstats", disk::diskstats),
    ("entropy", system::entropy),
    ("filefd", filesystem::filefd),
    ("filesystem", filesystem::filesystem),
    ("hwmon", hwmon::hwmon),
    ("interrupts", cpu::interrupts),
    ("kernel_hung", system::kernel_hung),
    ("loadavg", system::loadavg),
    ("meminfo", memory::meminfo),
    ("netclass", network::netclass),
    ("netdev", network::netdev),
    ("netstat", netstat::netstat),
    ("os", system::os),
    ("powersupplyclass", hwmon::powersupplyclass),
    ("pressure", system::pressure),
    ("processes", system::processes),
    ("schedstat", cpu::schedstat),
    ("sockstat", netstat::sockstat),
    ("softnet", netstat::softnet),
    ("stat", cpu::stat),
    ("tcpstat", netstat::tcpstat),
    ("thermal_zone", hwmon::thermal_zone),
    ("time", system::time),
    ("timex", system::timex),
    ("udp_queues", netstat::udp_queues),
    ("uname", system::uname),
    ("vmstat", memory::vmstat),
];

impl Default for HostCollector {
    fn default() -> Self {
        HostCollector {
            live: true,
            ..HostCollector::new(Path::new("/proc"), Path::new("/sys"), Path::new("/etc"))
        }
    }
}

impl HostCollector {
    /// A collector over other roots (fixtures); system calls are not made.
    pub fn new(proc: &Path, sys: &Path, etc: &Path) -> Self {
        // SAFETY: sysconf only reads a system constant.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        HostCollector {
            proc: proc.to_path_buf(),
            sys: sys.to_path_buf(),
            etc: etc.to_path_buf(),
            seconds_per_tick: if ticks > 0 { 1.0 / ticks as f64 } else { 0.01 },
            live: false,
        }
    }

    /// Every family that can be read now. `now_secs` is the time reported as
    /// `node_time_seconds`.
    pub fn collect(&self, now_secs: f64) -> HostMetrics {
        let mut sink = Sink {
            now_secs,
            ..Sink::default()
        };
        let mut ran = Vec::with_capacity(COLLECTORS.len());
        for (name, collect) in COLLECTORS {
            let start = Instant::now();
            let found = collect(self, &mut sink);
            ran.push((*name, start.elapsed().as_secs_f64(), found));
        }
        for (name, seconds, found) in ran {
            let l = [("collector", name)];
            sink.gauge(
                "node_scrape_collector_duration_seconds",
                "node_exporter: Duration of a collector scrape.",
                &l,
                seconds,
            );
            sink.gauge(
                "node_scrape_collector_success",
                "node_exporter: Whether a collector succeeded.",
                &l,
                if found { 1.0 } else { 0.0 },
            );
        }
        exporter::process(self, &mut sink);
        HostMetrics {
            samples: sink.samples,
            families: sink.families,
        }
    }

    fn read_proc(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.proc.join(file)).ok()
    }

    /// A file under `/proc` holding one number (`/proc/sys/...`).
    fn proc_number(&self, file: &str) -> Option<f64> {
        number(&self.proc.join(file))
    }
}

/// A file holding one number, as sysfs and `/proc/sys` write them.
fn number(path: &Path) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A one-line text file, trimmed.
fn text(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    Some(s.trim().to_string())
}

/// The entries of a directory, sorted by name; empty when it is missing.
fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

/// Prometheus's metric type, as `/api/v1/metadata` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "unknown",
        }
    }
}

/// What the collectors fill: samples, and the type and help of each family the first
/// time it is seen.
#[derive(Default)]
struct Sink {
    samples: Vec<HostSample>,
    families: BTreeMap<String, MetricMetadata>,
    now_secs: f64,
}

impl Sink {
    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(Kind::Gauge, name, help, labels, value);
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.add(Kind::Counter, name, help, labels, value);
    }

    fn add(&mut self, kind: Kind, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        if !self.families.contains_key(name) {
            self.families.insert(
                name.to_string(),
                MetricMetadata {
                    kind: kind.as_str().to_string(),
                    help: help.to_string(),
                    unit: String::new(),
                },
            );
        }
        self.samples.push(HostSample {
            labels: LabelSet::new(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .chain([(METRIC_NAME.to_string(), name.to_string())]),
            ),
            value,
        });
    }
}

/// Bytes free for unprivileged users on the file system holding `dir` (the readiness
/// check's disk test).
pub fn available_bytes(dir: &Path) -> Option<u64> {
    filesystem::statvfs(dir).map(|fs| fs.avail as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples as `name{k=v,...}` strings, for short assertions.
    pub(super) fn run(f: impl FnOnce(&mut Sink) -> bool) -> Vec<(String, f64)> {
        let mut sink = Sink::default();
        f(&mut sink);
        sink.samples
            .iter()
            .map(|s| {
                let name = s.labels.metric_name().unwrap_or_default().to_string();
                let l: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME)
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                (format!("{name}{{{}}}", l.join(",")), s.value)
            })
            .collect()
    }

    /// A fixture tree: `files` written under a temporary root (one per test `name`), with
    /// a collector whose proc, sys and etc are its `proc`, `sys` and `etc` folders.
    pub(super) fn fixture(name: &str, files: &[(&str, &str)]) -> (PathBuf, HostCollector) {
        let root = std::env::temp_dir().join(format!("pharos-host-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for (path, content) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let c = HostCollector::new(&root.join("proc"), &root.join("sys"), &root.join("etc"));
        (root, c)
    }

    #[test]
    fn missing_files_leave_their_families_out_and_report_no_success() {
        let (root, c) = fixture("empty", &[]);
        let got = c.collect(5.0);
        let names: std::collections::BTreeSet<&str> = got
            .samples
            .iter()
            .filter_map(|s| s.labels.metric_name())
            .filter(|n| n.starts_with("node_") && !n.starts_with("node_scrape_"))
            .collect();
        // Only the clock needs no file.
        assert_eq!(names, ["node_time_seconds"].into());
        let failed = got
            .samples
            .iter()
            .filter(|s| {
                s.labels.metric_name() == Some("node_scrape_collector_success") && s.value == 0.0
            })
            .count();
        assert_eq!(failed, COLLECTORS.len() - 1);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn every_family_has_a_type_and_help() {
        let got = HostCollector::default().collect(1.0);
        for s in &got.samples {
            let name = s.labels.metric_name().unwrap();
            let meta = &got.families[name];
            assert!(!meta.help.is_empty() && !meta.kind.is_empty(), "{name}");
        }
        // As node_exporter's own end-to-end fixture declares them (every family both
        // have in common was compared once against `collector/fixtures/e2e-output.txt`).
        for (name, kind, help) in [
            (
                "node_cpu_seconds_total",
                "counter",
                "Seconds the CPUs spent in each mode.",
            ),
            (
                "node_memory_MemTotal_bytes",
                "gauge",
                "Memory information field MemTotal_bytes.",
            ),
            ("node_netstat_Tcp_InSegs", "unknown", "Statistic TcpInSegs."),
            (
                "node_vmstat_pgfault",
                "unknown",
                "/proc/vmstat information field pgfault.",
            ),
            (
                "node_network_receive_bytes_total",
                "counter",
                "Network device statistic receive_bytes.",
            ),
            (
                "node_uname_info",
                "gauge",
                "Labeled system information as provided by the uname system call.",
            ),
        ] {
            let Some(meta) = got.families.get(name) else {
                panic!("{name} missing");
            };
            assert_eq!(
                (meta.kind.as_str(), meta.help.as_str()),
                (kind, help),
                "{name}"
            );
        }
    }

    /// The real machine: what the "Node Exporter Full" dashboard needs first, and the
    /// cost of one collection (printed; run with `--nocapture` to see it). On the 2-core
    /// VPS this was written on (about 110 processes, 4 network interfaces), one
    /// collection of about 500 samples took 7 ms of CPU in an unoptimised test build,
    /// 13–20 ms of wall time with other builds running.
    #[test]
    fn the_real_proc_gives_cpu_memory_uname_and_a_root_filesystem() {
        if !Path::new("/proc/stat").exists() {
            eprintln!("skipped: no /proc on this system");
            return;
        }
        // CPU time of this thread (user + system), which other builds on a shared
        // machine do not inflate as they do wall time.
        fn thread_cpu() -> std::time::Duration {
            let mut u = std::mem::MaybeUninit::<libc::rusage>::uninit();
            // SAFETY: getrusage fills the struct it is given; checked by its return value.
            assert_eq!(
                unsafe { libc::getrusage(libc::RUSAGE_THREAD, u.as_mut_ptr()) },
                0
            );
            // SAFETY: getrusage returned 0.
            let u = unsafe { u.assume_init() };
            let t = |tv: libc::timeval| {
                std::time::Duration::from_micros(tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64)
            };
            t(u.ru_utime) + t(u.ru_stime)
        }
        let c = HostCollector::default();
        c.collect(1.0);
        let runs = 20;
        let (start, start_cpu) = (Instant::now(), thread_cpu());
        for _ in 0..runs {
            c.collect(1.0);
        }
        let (each, each_cpu) = (start.elapsed() / runs, (thread_cpu() - start_cpu) / runs);
        let got = c.collect(1.0);
        let mut slowest: Vec<(&str, f64)> = got
            .samples
            .iter()
            .filter(|s| s.labels.metric_name() == Some("node_scrape_collector_duration_seconds"))
            .map(|s| (s.labels.get("collector").unwrap_or(""), s.value))
            .collect();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        eprintln!(
            "one host collection: {each:?} wall, {each_cpu:?} CPU, {} samples, {} families; slowest: {:?}",
            got.samples.len(),
            got.families.len(),
            &slowest[..5]
        );
        assert!(
            each_cpu < std::time::Duration::from_millis(250),
            "one collection took {each_cpu:?} of CPU"
        );
        let has = |name: &str| {
            got.samples
                .iter()
                .any(|s| s.labels.metric_name() == Some(name))
        };
        for name in [
            "node_cpu_seconds_total",
            "node_memory_MemTotal_bytes",
            "node_memory_MemAvailable_bytes",
            "node_load1",
            "node_filesystem_avail_bytes",
            "node_network_receive_bytes_total",
            "node_uname_info",
            "node_boot_time_seconds",
            "node_time_seconds",
            "node_vmstat_pgfault",
            "node_netstat_Tcp_InSegs",
            "node_sockstat_sockets_used",
            "node_filefd_allocated",
            "node_processes_pids",
            "node_timex_sync_status",
            "process_cpu_seconds_total",
        ] {
            assert!(has(name), "{name} missing");
        }
        assert!(
            got.samples
                .iter()
                .any(|s| s.labels.get("mountpoint") == Some("/")
                    && s.labels.metric_name() == Some("node_filesystem_size_bytes")
                    && s.value > 0.0)
        );
        let uname = got
            .samples
            .iter()
            .find(|s| s.labels.metric_name() == Some("node_uname_info"))
            .unwrap();
        assert_eq!(uname.labels.get("sysname"), Some("Linux"));
        assert!(uname.labels.get("nodename").is_some_and(|n| !n.is_empty()));
    }
}
