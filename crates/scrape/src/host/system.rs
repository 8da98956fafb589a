//! The machine as a whole: kernel and OS identity, clocks, entropy, load, pressure
//! stalls and the process table (node_exporter's `uname`, `os`, `time`, `timex`,
//! `entropy`, `loadavg`, `pressure`, `processes` and `kernel_hung` collectors).

use std::collections::BTreeMap;
use std::ffi::CStr;

use super::{HostCollector, Sink, entries, text};

/// `uname(2)`; its `nodename` is what the dashboards' `$nodename` variable lists.
pub(super) fn uname(c: &HostCollector, sink: &mut Sink) -> bool {
    if !c.live {
        return false;
    }
    let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
    // SAFETY: uname fills the struct it is given; checked by its return value.
    if unsafe { libc::uname(u.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: uname returned 0, so every field is a NUL-terminated string.
    let u = unsafe { u.assume_init() };
    let field = |f: &[libc::c_char]| {
        // SAFETY: the kernel NUL-terminates each utsname field within its array.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    sink.gauge(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        &[
            ("sysname", &field(&u.sysname)),
            ("release", &field(&u.release)),
            ("version", &field(&u.version)),
            ("machine", &field(&u.machine)),
            ("nodename", &field(&u.nodename)),
            ("domainname", &field(&u.domainname)),
        ],
        1.0,
    );
    true
}

/// `/etc/os-release` (or `/usr/lib/os-release`).
pub(super) fn os(c: &HostCollector, sink: &mut Sink) -> bool {
    let mut candidates = vec![c.etc.join("os-release")];
    if c.live {
        candidates.push("/usr/lib/os-release".into());
    }
    let Some(release) = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
    else {
        return false;
    };
    let env = parse_os_release(&release);
    let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
    sink.gauge(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        &[
            ("build_id", get("BUILD_ID")),
            ("id", get("ID")),
            ("id_like", get("ID_LIKE")),
            ("image_id", get("IMAGE_ID")),
            ("image_version", get("IMAGE_VERSION")),
            ("name", get("NAME")),
            ("pretty_name", get("PRETTY_NAME")),
            ("variant", get("VARIANT")),
            ("variant_id", get("VARIANT_ID")),
            ("version", get("VERSION")),
            ("version_codename", get("VERSION_CODENAME")),
            ("version_id", get("VERSION_ID")),
        ],
        1.0,
    );
    if let Some(v) = major_minor(get("VERSION_ID")).filter(|v| *v > 0.0) {
        sink.gauge(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
            &[
                ("id", get("ID")),
                ("id_like", get("ID_LIKE")),
                ("name", get("NAME")),
            ],
            v,
        );
    }
    true
}

/// `KEY=value` and `KEY="quoted value"` lines.
fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.to_string(), v.replace("\\\"", "\"")))
        })
        .collect()
}

/// `22.04.3` → 22.04, as node_exporter's `^[0-9]+\.?[0-9]*`.
fn major_minor(version: &str) -> Option<f64> {
    let int_end = version
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version.len());
    if int_end == 0 {
        return None;
    }
    let rest = &version[int_end..];
    let end = match rest.strip_prefix('.') {
        Some(frac) => {
            int_end
                + 1
                + frac
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(frac.len())
        }
        None => int_end,
    };
    version[..end].trim_end_matches('.').parse().ok()
}

pub(super) fn time(c: &HostCollector, sink: &mut Sink) -> bool {
    sink.gauge(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        &[],
        sink.now_secs,
    );
    if c.live {
        let now = sink.now_secs as libc::time_t;
        let mut tm = std::mem::MaybeUninit::<libc::tm>::uninit();
        // SAFETY: localtime_r writes the struct it is given and returns null on failure.
        if !unsafe { libc::localtime_r(&now, tm.as_mut_ptr()) }.is_null() {
            // SAFETY: localtime_r succeeded, so the struct is filled and tm_zone points to
            // a static NUL-terminated name (or is null).
            let tm = unsafe { tm.assume_init() };
            let zone = if tm.tm_zone.is_null() {
                String::new()
            } else {
                // SAFETY: non-null tm_zone is a NUL-terminated string owned by libc.
                unsafe { CStr::from_ptr(tm.tm_zone) }
                    .to_string_lossy()
                    .into_owned()
            };
            sink.gauge(
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
                &[("time_zone", &zone)],
                tm.tm_gmtoff as f64,
            );
        }
    }
    for (name, dir) in entries(&c.sys.join("devices/system/clocksource")) {
        let Some(device) = name.strip_prefix("clocksource") else {
            continue;
        };
        if let Some(available) = text(&dir.join("available_clocksource")) {
            for cs in available.split_ascii_whitespace() {
                sink.gauge(
                    "node_time_clocksource_available_info",
                    "Available clocksources read from '/sys/devices/system/clocksource'.",
                    &[("device", device), ("clocksource", cs)],
                    1.0,
                );
            }
        }
        if let Some(current) = text(&dir.join("current_clocksource")) {
            sink.gauge(
                "node_time_clocksource_current_info",
                "Current clocksource read from '/sys/devices/system/clocksource'.",
                &[("device", device), ("clocksource", &current)],
                1.0,
            );
        }
    }
    true
}

/// The kernel's clock discipline, from `adjtimex(2)` in read-only mode.
pub(super) fn timex(c: &HostCollector, sink: &mut Sink) -> bool {
    if !c.live {
        return false;
    }
    // SAFETY: an all-zero timex (modes 0) asks adjtimex to read, not to set, the clock.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid timex the call fills.
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return false;
    }
    const TIME_ERROR: i32 = 5;
    const STA_NANO: i32 = 0x2000;
    const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let gauges: [(&str, &str, f64); 13] = [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / 1e6,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / 1e6,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / 1e6,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
    ];
    for (name, help, v) in gauges {
        sink.gauge(name, help, &[], v);
    }
    let counters: [(&str, &str, f64); 4] = [
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt as f64,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt as f64,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt as f64,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt as f64,
        ),
    ];
    for (name, help, v) in counters {
        sink.counter(name, help, &[], v);
    }
    true
}

pub(super) fn entropy(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(avail) = c.proc_number("sys/kernel/random/entropy_avail") else {
        return false;
    };
    sink.gauge(
        "node_entropy_available_bits",
        "Bits of available entropy.",
        &[],
        avail,
    );
    if let Some(pool) = c.proc_number("sys/kernel/random/poolsize") {
        sink.gauge(
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            &[],
            pool,
        );
    }
    true
}

pub(super) fn loadavg(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("loadavg") else {
        return false;
    };
    let names = [
        ("node_load1", "1m load average."),
        ("node_load5", "5m load average."),
        ("node_load15", "15m load average."),
    ];
    for ((name, help), v) in names.iter().zip(text.split_ascii_whitespace()) {
        if let Ok(v) = v.parse() {
            sink.gauge(name, help, &[], v);
        }
    }
    true
}

/// `/proc/pressure/{cpu,io,memory,irq}`: `some` and `full` lines whose `total=` is in
/// microseconds (kernel 4.20 and later; irq since 6.1).
pub(super) fn pressure(c: &HostCollector, sink: &mut Sink) -> bool {
    // (resource, line, metric, help)
    const STALLS: [(&str, &str, &str, &str); 6] = [
        (
            "cpu",
            "some",
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        ),
        (
            "io",
            "some",
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        ),
        (
            "io",
            "full",
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        ),
        (
            "memory",
            "some",
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        ),
        (
            "memory",
            "full",
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        ),
        (
            "irq",
            "full",
            "node_pressure_irq_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IRQ congestion",
        ),
    ];
    let mut found = false;
    let mut files: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (resource, kind, name, help) in STALLS {
        let file = files
            .entry(resource)
            .or_insert_with(|| c.read_proc(&format!("pressure/{resource}")));
        let Some(text) = file else { continue };
        let total = text
            .lines()
            .find(|l| l.starts_with(kind))
            .and_then(|l| {
                l.split_ascii_whitespace()
                    .find_map(|f| f.strip_prefix("total="))
            })
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(us) = total {
            sink.counter(name, help, &[], us / 1e6);
            found = true;
        }
    }
    found
}

/// Every process's `/proc/<pid>/stat`: how many, in which state, with how many threads.
/// (node_exporter also counts each thread's state, which means reading every thread's
/// file; no dashboard we know uses it, so it is left out to keep collection cheap.)
pub(super) fn processes(c: &HostCollector, sink: &mut Sink) -> bool {
    let Ok(dir) = std::fs::read_dir(&c.proc) else {
        return false;
    };
    let mut pids = 0f64;
    let mut threads = 0f64;
    let mut states: BTreeMap<String, f64> = BTreeMap::new();
    let mut buf = String::new();
    for e in dir.filter_map(Result::ok) {
        let name = e.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        buf.clear();
        // A process may end between listing and reading: skipped, as node_exporter does.
        use std::io::Read;
        let Ok(mut f) = std::fs::File::open(e.path().join("stat")) else {
            continue;
        };
        if f.read_to_string(&mut buf).is_err() {
            continue;
        }
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let Some(after) = buf.rfind(')').map(|i| &buf[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = after.split_ascii_whitespace().collect();
        let (Some(state), Some(n)) = (f.first(), f.get(17)) else {
            continue;
        };
        pids += 1.0;
        threads += n.parse::<f64>().unwrap_or(0.0);
        *states.entry((*state).to_string()).or_default() += 1.0;
    }
    if pids == 0.0 {
        return false;
    }
    sink.gauge(
        "node_processes_threads",
        "Allocated threads in system",
        &[],
        threads,
    );
    if let Some(max) = c.proc_number("sys/kernel/threads-max") {
        sink.gauge(
            "node_processes_max_threads",
            "Limit of threads in the system",
            &[],
            max,
        );
    }
    for (state, n) in &states {
        sink.gauge(
            "node_processes_state",
            "Number of processes in each state.",
            &[("state", state)],
            *n,
        );
    }
    sink.gauge("node_processes_pids", "Number of PIDs", &[], pids);
    if let Some(max) = c.proc_number("sys/kernel/pid_max") {
        sink.gauge(
            "node_processes_max_processes",
            "Number of max PIDs limit",
            &[],
            max,
        );
    }
    true
}

pub(super) fn kernel_hung(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(n) = c.proc_number("sys/kernel/hung_task_detect_count") else {
        return false;
    };
    sink.counter(
        "node_kernel_hung_tasks_total",
        "Total number of tasks that have been detected as hung since the system booted.",
        &[],
        n,
    );
    true
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn pressure_processes_entropy_and_os_from_their_files() {
        let (root, c) = fixture(
            "system",
            &[
                (
                    "proc/pressure/cpu",
                    "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                ),
                (
                    "proc/pressure/io",
                    "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n",
                ),
                (
                    "proc/1/stat",
                    "1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11\n",
                ),
                (
                    "proc/42/stat",
                    "42 (my (odd) name) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 9 10 11\n",
                ),
                ("proc/sys/kernel/pid_max", "4194304\n"),
                ("proc/sys/kernel/threads-max", "15000\n"),
                ("proc/sys/kernel/random/entropy_avail", "256\n"),
                ("proc/sys/kernel/random/poolsize", "256\n"),
                ("proc/sys/kernel/hung_task_detect_count", "0\n"),
                ("proc/loadavg", "0.50 0.25 0.10 1/100 4242\n"),
                (
                    "etc/os-release",
                    "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n",
                ),
            ],
        );
        let got = run(|s| {
            pressure(&c, s)
                & processes(&c, s)
                & entropy(&c, s)
                & kernel_hung(&c, s)
                & loadavg(&c, s)
                & os(&c, s)
        });
        for want in [
            ("node_pressure_cpu_waiting_seconds_total{}", 2.5),
            ("node_pressure_io_waiting_seconds_total{}", 1.0),
            ("node_pressure_io_stalled_seconds_total{}", 0.5),
            ("node_processes_pids{}", 2.0),
            ("node_processes_threads{}", 4.0),
            ("node_processes_state{state=S}", 1.0),
            ("node_processes_state{state=R}", 1.0),
            ("node_processes_max_processes{}", 4_194_304.0),
            ("node_processes_max_threads{}", 15000.0),
            ("node_entropy_available_bits{}", 256.0),
            ("node_kernel_hung_tasks_total{}", 0.0),
            ("node_load5{}", 0.25),
            (
                "node_os_version{id=ubuntu,id_like=debian,name=Ubuntu}",
                24.04,
            ),
        ] {
            assert!(
                got.contains(&(want.0.into(), want.1)),
                "{want:?} in {got:#?}"
            );
        }
        assert!(
            !got.iter().any(|(n, _)| n.contains("memory")),
            "no memory pressure file, no memory series"
        );
        assert_eq!(major_minor("22.04.3"), Some(22.04));
        assert_eq!(major_minor("12"), Some(12.0));
        assert_eq!(major_minor("rolling"), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
