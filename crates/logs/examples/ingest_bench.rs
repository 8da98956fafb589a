//! Ingest and search benchmark for the log store.
//!
//! `cargo run --release -p pharos-logs --example ingest_bench -- [lines] [dir]`
//!
//! Appends `lines` (default 1,000,000) realistic JSON-logger entries (~250 bytes, 5–8
//! fields) spread over three days from 4 producer threads in batches of 1,000, waits
//! until all are searchable, then runs a fixed query set 20 times each and prints
//! lines/s, bytes per line on disk and p50/p99 per query.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pharos_logs::{LogQuery, LogSettings, LogStore, SearchRequest, TimeRange};
use pharos_model::{LogEntry, LogLevel, LogSource};
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SERVICES: [&str; 6] = [
    "bot",
    "api",
    "payments",
    "worker",
    "migrations",
    "scheduler",
];
const ENDPOINTS: [&str; 5] = [
    "/api/orders",
    "/api/users",
    "/api/payments",
    "/health",
    "/api/cart",
];
const ERRORS: [&str; 4] = ["ValueError", "KeyError", "TimeoutError", "ConnectionError"];

fn make_entry(rng: &mut Rng, t: DateTime<Utc>) -> LogEntry {
    let service = SERVICES[rng.below(6) as usize];
    let roll = rng.below(100);
    let level = match roll {
        0..=9 => LogLevel::Debug,
        10..=79 => LogLevel::Info,
        80..=91 => LogLevel::Warning,
        92..=98 => LogLevel::Error,
        _ => LogLevel::Critical,
    };
    let endpoint = ENDPOINTS[rng.below(5) as usize];
    let duration = rng.below(3000);
    let user = rng.below(100_000);
    let message = match rng.below(8) {
        0 => format!("Timeout talking to postgres after {duration} ms"),
        1 => "connection reset by peer while reading response".to_string(),
        2 => format!(
            "Decimal('{}.{}') is not JSON serializable",
            user,
            duration % 100
        ),
        3 => format!(
            "user {user} logged in from 10.0.{}.{}",
            rng.below(255),
            rng.below(255)
        ),
        4 => format!(
            "retry scheduled for job {} after timeout",
            rng.next() % 1_000_000
        ),
        5 => format!("GET {endpoint} 200 in {duration}ms"),
        6 => format!("cache miss for key session:{user}"),
        _ => format!(
            "processed batch of {} items for order {}",
            rng.below(500),
            rng.next() % 10_000_000
        ),
    };
    let mut e = LogEntry::new(service, LogSource::Http, t, message);
    e.level = Some(level);
    e.logger = Some(format!(
        "app.{}",
        ["db", "web", "tasks"][rng.below(3) as usize]
    ));
    e.host = Some(format!("web-{}", rng.below(4)));
    let status = [200, 200, 200, 201, 404, 500][rng.below(6) as usize];
    let mut fields = json!({
        "request_id": format!("{:016x}", rng.next()),
        "user_id": user,
        "endpoint": endpoint,
        "duration_ms": duration,
        "status": status,
    });
    if level >= LogLevel::Error {
        fields["error_type"] = json!(ERRORS[rng.below(4) as usize]);
    }
    if rng.below(4) == 0 {
        e.trace_id = Some(format!("{:016x}{:016x}", rng.next(), rng.next()));
    }
    e.fields = fields.as_object().cloned().unwrap_or_default();
    e
}

/// This process's user + system CPU seconds, so runs on a shared machine still compare.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lines: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir: PathBuf = args.get(2).map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pharos-logs-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let store = LogStore::open(&dir, LogSettings::default()).expect("open");
    let end = Utc::now();
    let span_ns: i64 = 3 * 86_400 * 1_000_000_000;
    let start = end - chrono::Duration::nanoseconds(span_ns);

    let producers = 4u64;
    let batch = 1000u64;
    let t0 = Instant::now();
    let cpu0 = cpu_seconds();
    let mut handles = Vec::new();
    for p in 0..producers {
        let store = store.clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (p + 1));
            let mut i = p * batch;
            let mut bytes = 0u64;
            while i < lines {
                let n = batch.min(lines - i);
                let entries: Vec<LogEntry> = (i..i + n)
                    .map(|k| {
                        let t = start
                            + chrono::Duration::nanoseconds(
                                ((k as i128 * span_ns as i128) / lines as i128) as i64,
                            );
                        make_entry(&mut rng, t)
                    })
                    .collect();
                bytes += entries
                    .iter()
                    .map(|e| serde_json::to_vec(e).map(|v| v.len()).unwrap_or(0) as u64)
                    .sum::<u64>();
                store.append_blocking(entries).expect("append");
                i += producers * batch;
            }
            bytes
        }));
    }
    let json_bytes: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("producer"))
        .sum();
    let acked = t0.elapsed();
    store.flush().expect("flush");
    let searchable = t0.elapsed();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "lines: {lines}, avg entry JSON {} bytes",
        json_bytes / lines.max(1)
    );
    println!(
        "durable (acked): {:.0} lines/s in {:.1}s; searchable: {:.0} lines/s in {:.1}s",
        lines as f64 / acked.as_secs_f64(),
        acked.as_secs_f64(),
        lines as f64 / searchable.as_secs_f64(),
        searchable.as_secs_f64()
    );
    println!(
        "cpu: {cpu:.1}s for ingest (making the entries included): {:.0} lines per cpu-second, {:.0} lines/s if 2 cores were ours",
        lines as f64 / cpu,
        2.0 * lines as f64 / cpu
    );
    // Let background merges settle before measuring disk and search.
    std::thread::sleep(Duration::from_secs(5));
    let stats = store.stats();
    println!(
        "disk: {} bytes total ({:.1} bytes/line), {} partitions, wal {} bytes, entries {}",
        stats.bytes_total,
        stats.bytes_total as f64 / lines.max(1) as f64,
        stats.partitions.len(),
        stats.wal_bytes,
        stats.entries
    );

    let all = TimeRange::new(start, end + chrono::Duration::seconds(1));
    let last_hour = TimeRange::new(
        end - chrono::Duration::hours(1),
        end + chrono::Duration::seconds(1),
    );
    let queries: Vec<(&str, TimeRange)> = vec![
        ("", all),
        ("timeout", all),
        ("service=payments level>=ERROR", all),
        ("\"connection reset\"", all),
        ("duration_ms>2990", all),
        ("user_id=4242", all),
        ("error_type=TimeoutError endpoint=/api/orders", all),
        ("{service=\"bot\"} |= \"timeout\" != \"retry\"", all),
        ("~\"Decimal.*JSON\"", last_hour),
        ("timeout OR refused -retry level>=WARNING", all),
    ];
    println!(
        "{:<48} {:>9} {:>9} {:>10}",
        "query (limit 100, first page with total)", "p50 ms", "p99 ms", "total"
    );
    for (q, range) in &queries {
        let query = LogQuery::parse(q).expect("query");
        let mut times = Vec::new();
        let mut total = None;
        for _ in 0..20 {
            let t = Instant::now();
            let page = store
                .search(&SearchRequest {
                    query: query.clone(),
                    range: *range,
                    limit: 100,
                    cursor: None,
                })
                .expect("search");
            times.push(t.elapsed());
            total = page.total;
        }
        times.sort();
        let label = if std::ptr::eq(range, &queries[8].1) {
            format!("{q} (last hour)")
        } else {
            q.to_string()
        };
        println!(
            "{:<48} {:>9.1} {:>9.1} {:>10}",
            label,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            total.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
        );
    }
    let errors = LogQuery::parse("level>=ERROR").expect("query");
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let _ = store
            .count_by(&errors, all, "error_type", 10)
            .expect("count_by");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<48} {:>9.1} {:>9.1}",
        "count_by(level>=ERROR, error_type)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let _ = store
            .count_by(&LogQuery::all(), all, "service", 10)
            .expect("count_by");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<48} {:>9.1} {:>9.1}",
        "count_by(all, service)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let _ = store
            .histogram(&LogQuery::all(), all, 100)
            .expect("histogram");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<48} {:>9.1} {:>9.1}",
        "histogram(all, 100 buckets)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    let _ = Arc::strong_count(&store);
    drop(store);
    if args.get(2).is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
