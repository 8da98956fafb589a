//! The exporting process's own `process_*` series. node_exporter reports its own CPU,
//! memory and file descriptors under the node job, and dashboards chart them as "the
//! exporter"; here the exporter is Pharos, so these describe the Pharos process.

use super::{HostCollector, Sink};

pub(super) fn process(c: &HostCollector, sink: &mut Sink) {
    let me = c.proc.join("self");
    if let Ok(stat) = std::fs::read_to_string(me.join("stat"))
        && let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..])
    {
        // Fields after `(comm)`: state is 0, utime 11, stime 12, starttime 19, vsize 20,
        // rss 21.
        let f: Vec<f64> = after
            .split_ascii_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        if f.len() > 21 {
            sink.counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                &[],
                (f[11] + f[12]) * c.seconds_per_tick,
            );
            sink.gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                &[],
                f[20],
            );
            // SAFETY: sysconf only reads a system constant.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
            sink.gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                &[],
                f[21] * page,
            );
            let boot = c.read_proc("stat").and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            if let Some(boot) = boot {
                sink.gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    &[],
                    boot + f[19] * c.seconds_per_tick,
                );
            }
        }
    }
    if let Ok(fds) = std::fs::read_dir(me.join("fd")) {
        sink.gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            &[],
            fds.count() as f64,
        );
    }
    if let Ok(limits) = std::fs::read_to_string(me.join("limits")) {
        for (row, name, help) in [
            (
                "Max open files",
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            (
                "Max address space",
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
            ),
        ] {
            let soft = limits
                .lines()
                .find_map(|l| l.strip_prefix(row))
                .and_then(|rest| rest.split_ascii_whitespace().next());
            // "unlimited" is reported as the largest 64-bit value, as Go's client does.
            let v = match soft {
                Some("unlimited") => u64::MAX as f64,
                Some(v) => match v.parse() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
                None => continue,
            };
            sink.gauge(name, help, &[], v);
        }
    }
}
