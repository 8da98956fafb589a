//! CPU time, the kernel's counters of `/proc/stat`, interrupts per CPU, scheduler
//! statistics and frequency scaling (node_exporter's `cpu`, `stat`, `interrupts`,
//! `schedstat` and `cpufreq` collectors).

use super::{HostCollector, Sink, entries, number, text};

const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

pub(super) fn cpu(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(stat) = c.read_proc("stat") else {
        return false;
    };
    parse_cpu(&stat, c.seconds_per_tick, sink);
    true
}

fn parse_cpu(text: &str, seconds_per_tick: f64, sink: &mut Sink) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|k| k.strip_prefix("cpu"))
            .filter(|c| !c.is_empty())
        else {
            // The `cpu` total line: node_exporter reports per-CPU lines only.
            continue;
        };
        let ticks: Vec<f64> = fields.filter_map(|v| v.parse().ok()).collect();
        for (mode, t) in CPU_MODES.iter().zip(&ticks) {
            sink.counter(
                "node_cpu_seconds_total",
                "Seconds the CPUs spent in each mode.",
                &[("cpu", cpu), ("mode", mode)],
                t * seconds_per_tick,
            );
        }
        // Guest time is also counted in user and nice; node_exporter shows it apart.
        for (mode, t) in ["user", "nice"].iter().zip(ticks.iter().skip(8)) {
            sink.counter(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
                &[("cpu", cpu), ("mode", mode)],
                t * seconds_per_tick,
            );
        }
    }
}

pub(super) fn stat(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("stat") else {
        return false;
    };
    parse_stat(&text, sink);
    true
}

fn parse_stat(text: &str, sink: &mut Sink) {
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let Some(v) = fields.next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        match key {
            "intr" => sink.counter(
                "node_intr_total",
                "Total number of interrupts serviced.",
                &[],
                v,
            ),
            "ctxt" => sink.counter(
                "node_context_switches_total",
                "Total number of context switches.",
                &[],
                v,
            ),
            "btime" => sink.gauge(
                "node_boot_time_seconds",
                "Node boot time, in unixtime.",
                &[],
                v,
            ),
            "processes" => sink.counter("node_forks_total", "Total number of forks.", &[], v),
            "procs_running" => sink.gauge(
                "node_procs_running",
                "Number of processes in runnable state.",
                &[],
                v,
            ),
            "procs_blocked" => sink.gauge(
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                &[],
                v,
            ),
            _ => {}
        }
    }
}

/// `/proc/interrupts`: a header of CPU names, then `name: count per CPU, info, devices`.
/// (Off by default in node_exporter; on here because dashboards chart it.)
pub(super) fn interrupts(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("interrupts") else {
        return false;
    };
    parse_interrupts(&text, sink);
    true
}

fn parse_interrupts(text: &str, sink: &mut Sink) {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return };
    let cpus = header.split_ascii_whitespace().count();
    for line in lines {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        // ERR and MIS have one column only; node_exporter leaves them out.
        if parts.len() < cpus + 1 {
            continue;
        }
        let (info, devices) = if name.parse::<u64>().is_ok() {
            (parts[cpus].to_string(), parts[cpus + 1..].join(" "))
        } else {
            (parts[cpus..].join(" "), String::new())
        };
        for (cpu, v) in parts[..cpus].iter().enumerate() {
            // An interrupt that never fired on a CPU is left out (node_exporter's
            // `--no-collector.interrupts.include-zeros`): on a many-core machine most
            // pairs are zero, and each would be a series.
            let Ok(v) = v.parse::<f64>() else { continue };
            if v == 0.0 {
                continue;
            }
            sink.counter(
                "node_interrupts_total",
                "Interrupt details.",
                &[
                    ("cpu", &cpu.to_string()),
                    ("type", name),
                    ("info", &info),
                    ("devices", &devices),
                ],
                v,
            );
        }
    }
}

/// `/proc/schedstat`: `cpuN` lines whose 7th to 9th numbers are the nanoseconds spent
/// running, the nanoseconds spent waiting, and the timeslices run.
pub(super) fn schedstat(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("schedstat") else {
        return false;
    };
    let mut found = false;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(cpu) = f.next().and_then(|k| k.strip_prefix("cpu")) else {
            continue;
        };
        let n: Vec<f64> = f.filter_map(|v| v.parse().ok()).collect();
        if n.len() < 9 {
            continue;
        }
        let l = [("cpu", cpu)];
        sink.counter(
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            &l,
            n[6] / 1e9,
        );
        sink.counter(
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            &l,
            n[7] / 1e9,
        );
        sink.counter(
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            &l,
            n[8],
        );
        found = true;
    }
    found
}

/// `/sys/devices/system/cpu/cpuN/cpufreq`: frequencies in kHz (absent in most VMs).
pub(super) fn cpufreq(c: &HostCollector, sink: &mut Sink) -> bool {
    const FILES: [(&str, &str, &str); 6] = [
        (
            "cpuinfo_cur_freq",
            "node_cpu_frequency_hertz",
            "Current CPU thread frequency in hertz.",
        ),
        (
            "cpuinfo_min_freq",
            "node_cpu_frequency_min_hertz",
            "Minimum CPU thread frequency in hertz.",
        ),
        (
            "cpuinfo_max_freq",
            "node_cpu_frequency_max_hertz",
            "Maximum CPU thread frequency in hertz.",
        ),
        (
            "scaling_cur_freq",
            "node_cpu_scaling_frequency_hertz",
            "Current scaled CPU thread frequency in hertz.",
        ),
        (
            "scaling_min_freq",
            "node_cpu_scaling_frequency_min_hertz",
            "Minimum scaled CPU thread frequency in hertz.",
        ),
        (
            "scaling_max_freq",
            "node_cpu_scaling_frequency_max_hertz",
            "Maximum scaled CPU thread frequency in hertz.",
        ),
    ];
    let mut found = false;
    for (name, dir) in entries(&c.sys.join("devices/system/cpu")) {
        let Some(cpu) = name
            .strip_prefix("cpu")
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let freq = dir.join("cpufreq");
        for (file, metric, help) in FILES {
            if let Some(khz) = number(&freq.join(file)) {
                sink.gauge(metric, help, &[("cpu", cpu)], khz * 1000.0);
                found = true;
            }
        }
        if let Some(current) = text(&freq.join("scaling_governor")) {
            let available = text(&freq.join("scaling_available_governors")).unwrap_or_default();
            let mut governors: Vec<&str> = available.split_ascii_whitespace().collect();
            if !governors.contains(&current.as_str()) {
                governors.push(&current);
            }
            for g in governors {
                sink.gauge(
                    "node_cpu_scaling_governor",
                    "Current enabled CPU frequency governor.",
                    &[("cpu", cpu), ("governor", g)],
                    if g == current { 1.0 } else { 0.0 },
                );
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn cpu_seconds_per_cpu_and_mode_from_ticks() {
        let stat = "cpu  10 0 20 300 0 0 0 0 0 0\ncpu0 5 0 10 150 1 2 3 4 7 0\ncpu1 5 0 10 150 0 0 0 0 0 0\nintr 42 1 2\nctxt 999\nbtime 1700000000\nprocesses 77\nprocs_running 3\n";
        let got = run(|s| {
            parse_cpu(stat, 0.01, s);
            parse_stat(stat, s);
            true
        });
        assert!(got.contains(&("node_cpu_seconds_total{cpu=0,mode=idle}".into(), 1.5)));
        assert!(got.contains(&("node_cpu_seconds_total{cpu=0,mode=steal}".into(), 0.04)));
        assert!(got.contains(&("node_cpu_guest_seconds_total{cpu=0,mode=user}".into(), 0.07)));
        assert!(
            !got.iter().any(|(n, _)| n.contains("cpu=,")),
            "no total line"
        );
        assert_eq!(
            got.iter()
                .filter(|(n, _)| n.starts_with("node_cpu_seconds"))
                .count(),
            16
        );
        assert!(got.contains(&("node_context_switches_total{}".into(), 999.0)));
        assert!(got.contains(&("node_intr_total{}".into(), 42.0)));
        assert!(got.contains(&("node_forks_total{}".into(), 77.0)));
        assert!(got.contains(&("node_boot_time_seconds{}".into(), 1_700_000_000.0)));
        assert!(got.contains(&("node_procs_running{}".into(), 3.0)));
    }

    #[test]
    fn interrupts_per_cpu_with_info_and_devices() {
        let text = "           CPU0       CPU1\n  0:         40          0   IO-APIC   2-edge      timer\n 24:          5          7  PCI-MSI 49152-edge      virtio0-config\nNMI:          1          2   Non-maskable interrupts\nERR:          0\n";
        let got = run(|s| {
            parse_interrupts(text, s);
            true
        });
        assert!(got.contains(&(
            "node_interrupts_total{cpu=1,devices=49152-edge virtio0-config,info=PCI-MSI,type=24}".into(),
            7.0
        )));
        assert!(got.contains(&(
            "node_interrupts_total{cpu=0,info=Non-maskable interrupts,type=NMI}".into(),
            1.0
        )));
        // ERR has no per-CPU columns; the timer's zero on CPU 1 is left out.
        assert_eq!(got.len(), 5, "{got:?}");
    }

    #[test]
    fn schedstat_and_cpufreq_from_their_files() {
        let (root, c) = fixture(
            "sched",
            &[
                (
                    "proc/schedstat",
                    "version 15\ntimestamp 1\ncpu0 0 0 0 0 0 0 2000000000 500000000 30\ndomain0 3 1 2 3\n",
                ),
                (
                    "sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq",
                    "1800000\n",
                ),
                (
                    "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
                    "powersave\n",
                ),
                (
                    "sys/devices/system/cpu/cpu1/cpufreq/scaling_available_governors",
                    "performance powersave\n",
                ),
            ],
        );
        let got = run(|s| schedstat(&c, s) && cpufreq(&c, s));
        assert!(got.contains(&("node_schedstat_running_seconds_total{cpu=0}".into(), 2.0)));
        assert!(got.contains(&("node_schedstat_waiting_seconds_total{cpu=0}".into(), 0.5)));
        assert!(got.contains(&("node_schedstat_timeslices_total{cpu=0}".into(), 30.0)));
        assert!(got.contains(&("node_cpu_scaling_frequency_hertz{cpu=1}".into(), 1.8e9)));
        assert!(got.contains(&(
            "node_cpu_scaling_governor{cpu=1,governor=performance}".into(),
            0.0
        )));
        assert!(got.contains(&(
            "node_cpu_scaling_governor{cpu=1,governor=powersave}".into(),
            1.0
        )));
        std::fs::remove_dir_all(root).unwrap();
    }
}
