//! The store through its public API: appends, searches and paging, every query form
//! checked against the in-memory matcher, counts, histograms, retention, and durability
//! across a real `kill -9`.

// The end-to-end tests' polling helper, shared rather than copied.
#[path = "../../pharos/tests/common/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use pharos_logs::{
    ByteSize, Keep, LogQuery, LogSettings, LogStore, RetentionRule, SearchRequest, TimeRange,
};
use pharos_model::{HumanDuration, LogEntry, LogLevel, LogSource};
use serde_json::json;
use wait::wait_until;

fn entry(
    t: DateTime<Utc>,
    service: &str,
    level: Option<LogLevel>,
    msg: &str,
    fields: serde_json::Value,
) -> LogEntry {
    let mut e = LogEntry::new(service, LogSource::Http, t, msg);
    e.level = level;
    e.fields = fields.as_object().cloned().unwrap_or_default();
    e
}

fn open(dir: &Path) -> Arc<LogStore> {
    LogStore::open(dir, LogSettings::default()).unwrap()
}

fn all_time() -> TimeRange {
    TimeRange::new(
        Utc.timestamp_opt(0, 0).unwrap(),
        Utc::now() + chrono::Duration::days(2),
    )
}

fn search_all(store: &LogStore, q: &str) -> Vec<LogEntry> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchRequest {
                query: LogQuery::parse(q).unwrap(),
                range: all_time(),
                limit: 7,
                cursor: cursor.take(),
            })
            .unwrap();
        out.extend(page.entries.into_iter().map(|s| s.entry));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// A varied day of lines from three services.
fn sample(now: DateTime<Utc>) -> Vec<LogEntry> {
    let services = ["bot", "api", "payments"];
    let levels = [
        None,
        Some(LogLevel::Debug),
        Some(LogLevel::Info),
        Some(LogLevel::Warning),
        Some(LogLevel::Error),
        Some(LogLevel::Critical),
    ];
    let messages = [
        "Timeout talking to database after 30s",
        "connection reset by peer",
        "Decimal is not JSON serializable",
        "user logged in",
        "retry scheduled: timeout",
        "GET /api/orders 200",
    ];
    (0..240)
        .map(|i| {
            let error_type = ["ValueError", "KeyError", "TypeError"][i % 3];
            let status = [200, 404, 500][i % 3];
            let mut fields = json!({
                "user_id": if i % 3 == 0 { json!(123) } else { json!(format!("{}", 100 + i % 5)) },
                "duration_ms": (i * 37) % 2000,
                "endpoint": format!("/api/{}", ["orders", "users"][i % 2]),
                "error_type": error_type,
                "ok": i % 2 == 0,
                "http": {"status": status},
            });
            if i % 10 == 0 {
                fields["request_id"] = json!(format!("req-{i}"));
            }
            let mut e = entry(
                // Some lines share a timestamp, as second-precision sources produce.
                now - chrono::Duration::seconds((i / 2) as i64),
                services[i % 3],
                levels[i % 6],
                messages[i % 6],
                fields,
            );
            e.logger = Some(format!("app.{}", ["db", "web"][i % 2]));
            e.host = Some("web-1".into());
            if i % 4 == 0 {
                e.trace_id = Some(format!("{:032x}", i));
            }
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_are_searchable_newest_first_with_paging() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = Utc::now();
    let entries = sample(now);
    let receipt = store.append(entries[..100].to_vec()).await.unwrap();
    assert_eq!(receipt.accepted, 100);
    store.append(entries[100..].to_vec()).await.unwrap();

    // Visible without an explicit flush within the commit interval.
    wait_until(
        Duration::from_secs(5),
        "all 240 entries to be searchable",
        async || {
            let s = store.clone();
            let page = tokio::task::spawn_blocking(move || {
                s.search(&SearchRequest {
                    query: LogQuery::all(),
                    range: all_time(),
                    limit: 10,
                    cursor: None,
                })
            })
            .await
            .unwrap()
            .unwrap();
            if page.total == Some(240) {
                Ok(())
            } else {
                Err(format!("total {:?}", page.total))
            }
        },
    )
    .await;

    let s = store.clone();
    let got = tokio::task::spawn_blocking(move || search_all(&s, ""))
        .await
        .unwrap();
    assert_eq!(got.len(), 240);
    assert!(
        got.windows(2).all(|w| w[0].time >= w[1].time),
        "newest first"
    );
    // Ties on time come back newest-appended first, and paging neither repeats nor skips.
    let messages: BTreeSet<_> = got
        .iter()
        .map(|e| {
            (
                e.time,
                e.fields["user_id"].to_string(),
                e.fields["duration_ms"].to_string(),
            )
        })
        .collect();
    assert_eq!(messages.len(), 240);

    let st = store.stats();
    assert_eq!(st.entries, 240);
    assert_eq!(st.lines_appended, 240);
    assert!(st.bytes_total > 0);
    assert_eq!(st.indexing_lag_entries, 0);
}

#[test]
fn every_query_form_agrees_with_the_in_memory_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = Utc::now();
    let entries = sample(now);
    store.append_blocking(entries.clone()).unwrap();
    store.flush().unwrap();
    let cases = [
        ("", 240),
        ("timeout", 80),
        ("TIMEOUT database", 40),
        ("\"connection reset\"", 40),
        ("\"reset connection\"", 0),
        ("service=bot", 80),
        ("service!=bot", 160),
        ("level>=WARNING", 120),
        ("level>=warn", 120),
        ("level=ERROR", 40),
        ("level<INFO", 40),
        ("level!=ERROR", 200),
        ("user_id=123", 80),
        ("user_id=101", 32),
        ("duration_ms>1000", 108),
        ("duration_ms>=1500", 56),
        ("duration_ms<100", 11),
        ("endpoint=/api/orders", 120),
        ("endpoint=~\"ord\"", 120),
        ("error_type=KeyError", 80),
        ("http.status>=500", 80),
        ("ok=true", 120),
        ("~\"Decimal.*JSON\"", 40),
        ("-timeout", 160),
        ("NOT timeout", 160),
        ("timeout OR reset", 120),
        ("(timeout OR reset) service=api", 80),
        ("timeout -retry", 40),
        ("trace_id=00000000000000000000000000000004", 1),
        ("request_id=req-10", 1),
        ("logger=app.db", 120),
        ("source=http", 240),
        ("host=web-1 level>=ERROR", 80),
        (
            "{service=\"bot\", level=\"ERROR\"} |= \"timeout\" != \"retry\"",
            0,
        ),
        ("{service=~\"bot|api\"} |~ \"Decimal.*JSON\"", 0),
        ("{service!=\"payments\"} !~ \"^GET\"", 160),
        ("message=~\"^user\"", 40),
        ("service=~\"^pay\" level>=ERROR", 40),
        // Regexes whose literal text narrows the candidates through the term dictionary:
        // runs inside tokens, across tokens, case-insensitive, alternations.
        ("~\"imeou\"", 80),
        ("~\"conn.*reset by\"", 40),
        ("~\"is not JSON serial\"", 40),
        ("~\"(?i)DECIMAL\"", 40),
        ("~\"Decimal|reset\"", 80),
        ("~\"/api/ord(ers)+ 200\"", 40),
        ("~\"timeout$\"", 40),
    ];
    for (q, _) in cases {
        let query = LogQuery::parse(q).unwrap();
        let mut want: Vec<_> = entries
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        let mut got = search_all(&store, q);
        let key = |e: &LogEntry| serde_json::to_string(e).unwrap();
        want.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(
            got.len(),
            want.len(),
            "{q}: store {} vs matcher {}",
            got.len(),
            want.len()
        );
        assert!(got == want, "{q}: different entries");
    }
    // The matcher itself is right on hand-counted cases.
    for (q, n) in cases {
        if n > 0 {
            let query = LogQuery::parse(q).unwrap();
            assert_eq!(
                entries.iter().filter(|e| query.matches(e)).count(),
                n,
                "{q}"
            );
        }
    }
}

#[test]
fn count_by_and_histogram() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = Utc::now();
    let entries = sample(now);
    store.append_blocking(entries.clone()).unwrap();
    store.flush().unwrap();
    let errors = LogQuery::parse("level>=ERROR").unwrap();
    let by_type = store
        .count_by(&errors, all_time(), "error_type", 10)
        .unwrap();
    let n = |v: &str, counts: &[pharos_logs::FieldCount]| {
        counts.iter().find(|c| c.value == v).map(|c| c.count)
    };
    // i % 6 ∈ {4, 5} are errors: i%3 = 1 (KeyError) or 2 (TypeError).
    assert_eq!(n("KeyError", &by_type), Some(40));
    assert_eq!(n("TypeError", &by_type), Some(40));
    assert_eq!(n("ValueError", &by_type), None);
    let by_service = store
        .count_by(&LogQuery::all(), all_time(), "service", 2)
        .unwrap();
    assert_eq!(by_service.len(), 2);
    assert_eq!(by_service[0].count, 80);
    let by_level = store
        .count_by(&LogQuery::all(), all_time(), "level", 10)
        .unwrap();
    assert_eq!(n("CRITICAL", &by_level), Some(40));
    let regex = LogQuery::parse("~\"^Timeout\"").unwrap();
    let by_logger = store.count_by(&regex, all_time(), "logger", 10).unwrap();
    assert_eq!(
        by_logger,
        vec![pharos_logs::FieldCount {
            value: "app.db".into(),
            count: 40
        }]
    );
    let by_status = store
        .count_by(&LogQuery::all(), all_time(), "http.status", 10)
        .unwrap();
    assert_eq!(n("500", &by_status), Some(80));

    let range = TimeRange::new(
        now - chrono::Duration::seconds(119),
        now + chrono::Duration::seconds(1),
    );
    let h = store.histogram(&LogQuery::all(), range, 12).unwrap();
    assert_eq!(h.buckets.len(), 12);
    assert_eq!(h.buckets.iter().map(|b| b.total).sum::<u64>(), 240);
    assert_eq!(
        h.buckets
            .iter()
            .map(|b| b.count(Some(LogLevel::Critical)))
            .sum::<u64>(),
        40
    );
    assert_eq!(h.buckets.iter().map(|b| b.count(None)).sum::<u64>(), 40);
    let h = store.histogram(&regex, range, 4).unwrap();
    assert_eq!(h.buckets.iter().map(|b| b.total).sum::<u64>(), 40);
}

#[test]
fn get_by_id_and_refusals_and_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rx = store.subscribe();
    let now = Utc::now();
    let future = entry(
        now + chrono::Duration::days(3),
        "bot",
        None,
        "from the future",
        json!({}),
    );
    let huge = entry(now, "bot", None, &"x".repeat(2 << 20), json!({}));
    let ok = entry(
        now,
        "bot",
        Some(LogLevel::Info),
        "hello there",
        json!({"k": "v"}),
    );
    let r = store
        .append_blocking(vec![future, ok.clone(), huge])
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        r.refused.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![0, 2]
    );
    let batch = rx.try_recv().unwrap();
    assert_eq!(batch.as_slice(), std::slice::from_ref(&ok));
    store.flush().unwrap();
    let page = store
        .search(&SearchRequest {
            query: LogQuery::parse("hello").unwrap(),
            range: all_time(),
            limit: 10,
            cursor: None,
        })
        .unwrap();
    let id = page.entries[0].id.clone();
    assert_eq!(store.get(&id).unwrap().unwrap().entry, ok);
    assert!(store.get("1-999999").unwrap().is_none());
    assert!(store.get("nonsense").is_err());
    assert_eq!(store.stats().lines_refused, 2);
}

fn days_ago(now: DateTime<Utc>, d: i64) -> DateTime<Utc> {
    now - chrono::Duration::days(d)
}

#[test]
fn retention_per_service_level_and_forever() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = Utc::now();
    let mut batch = Vec::new();
    for d in [40, 10, 1] {
        for svc in ["payments", "migrations", "bot"] {
            batch.push(entry(
                days_ago(now, d),
                svc,
                Some(LogLevel::Info),
                "line",
                json!({}),
            ));
        }
        batch.push(entry(
            days_ago(now, d),
            "bot",
            Some(LogLevel::Critical),
            "boom",
            json!({}),
        ));
    }
    store.append_blocking(batch).unwrap();
    store.flush().unwrap();
    let day = |d: u64| Keep::For(HumanDuration::from_secs(d * 86_400));
    let mut settings = LogSettings::default();
    settings.retention.rules = vec![
        RetentionRule {
            service: Some("migrations".into()),
            level: None,
            keep: day(30),
        },
        RetentionRule {
            service: Some("payments".into()),
            level: None,
            keep: Keep::Forever,
        },
        RetentionRule {
            service: None,
            level: Some(">=CRITICAL".parse().unwrap()),
            keep: day(30),
        },
    ];
    store.set_settings(settings.clone());
    let report = store.apply_retention(now).unwrap();
    assert!(
        report.partitions_dropped.is_empty(),
        "payments keeps day -40"
    );
    let left = |q: &str| {
        let mut v: Vec<(i64, String, String)> = search_all(&store, q)
            .into_iter()
            .map(|e| ((now - e.time).num_days(), e.service, e.message))
            .collect();
        v.sort();
        v
    };
    let got = left("");
    let want: Vec<(i64, String, String)> = vec![
        (1, "bot".into(), "boom".into()),
        (1, "bot".into(), "line".into()),
        (1, "migrations".into(), "line".into()),
        (1, "payments".into(), "line".into()),
        (10, "bot".into(), "boom".into()),
        (10, "migrations".into(), "line".into()),
        (10, "payments".into(), "line".into()),
        (40, "payments".into(), "line".into()),
    ];
    assert_eq!(got, want);
    assert_eq!(report.entries_deleted, 4);

    // Without a forever rule the 40-day-old partition goes whole.
    settings.retention.rules.remove(1);
    store.set_settings(settings.clone());
    let report = store.apply_retention(now).unwrap();
    assert_eq!(
        report.partitions_dropped,
        vec![days_ago(now, 40).date_naive()]
    );
    assert!(
        !dir.path()
            .join(days_ago(now, 40).format("%Y-%m-%d").to_string())
            .exists()
    );
    assert_eq!(left("").len(), (7 - 1));

    // A disk budget nothing fits in removes everything not kept forever.
    settings.retention.rules = vec![RetentionRule {
        service: Some("payments".into()),
        level: None,
        keep: Keep::Forever,
    }];
    settings.max_disk = Some(ByteSize(1));
    store.set_settings(settings);
    let report = store.apply_retention(now).unwrap();
    assert!(report.over_disk_budget);
    assert!(
        left("").iter().all(|(_, s, _)| s == "payments"),
        "{:?}",
        left("")
    );
    assert!(!left("").is_empty());
}

/// Run by `acknowledged_appends_survive_kill_9` in a child process, which it then kills.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("PHAROS_LOGS_CRASH_DIR") else {
        return;
    };
    let settings = LogSettings {
        commit_interval: HumanDuration::from_secs(3600),
        ..LogSettings::default()
    };
    let store = LogStore::open(Path::new(&dir), settings).unwrap();
    let now = Utc::now();
    let first: Vec<_> = (0..50)
        .map(|i| entry(now, "bot", None, &format!("committed {i}"), json!({})))
        .collect();
    store.append_blocking(first).unwrap();
    store.flush().unwrap();
    for i in 0..10 {
        let batch: Vec<_> = (0..100)
            .map(|k| entry(now, "bot", None, &format!("acked {i} {k}"), json!({})))
            .collect();
        store.append_blocking(batch).unwrap();
    }
    println!("ACKED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("PHAROS_LOGS_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = false;
    for line in BufReader::new(stdout).lines() {
        // libtest prints "test crash_child ... " before the test's own output.
        if line.unwrap().trim_end().ends_with("ACKED") {
            acked = true;
            break;
        }
    }
    assert!(acked, "child never acknowledged");
    child.kill().unwrap(); // SIGKILL: no destructors, no commit
    child.wait().unwrap();

    let store = open(dir.path());
    store.flush().unwrap();
    let got = search_all(&store, "");
    assert_eq!(got.len(), 1050, "every acknowledged entry, none twice");
    assert_eq!(search_all(&store, "acked").len(), 1000);
    drop(store);
    // And again: a clean reopen neither loses nor duplicates.
    let store = open(dir.path());
    assert_eq!(search_all(&store, "").len(), 1050);
}

/// A snapshot taken while appends keep arriving opens to every entry acknowledged before
/// it began (two days' partitions, so more than one index is copied), and the live store
/// goes on taking appends.
#[test]
fn a_snapshot_under_appends_holds_every_entry_acknowledged_before_it() {
    let dir = std::env::temp_dir().join(format!("pharos-logs-snapshot-{}", std::process::id()));
    let copy = dir.with_extension("copy");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&copy);
    let store = open(&dir);
    let now = Utc::now();
    let mut before = Vec::new();
    for day in [now - chrono::Duration::days(1), now] {
        let batch: Vec<LogEntry> = (0..200)
            .map(|i| {
                entry(
                    day,
                    "api",
                    Some(LogLevel::Info),
                    &format!("before snapshot {i}"),
                    json!({}),
                )
            })
            .collect();
        before.extend(batch.clone());
        store.append_blocking(batch).unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let e = entry(
                    Utc::now(),
                    "api",
                    None,
                    &format!("during snapshot {i}"),
                    json!({}),
                );
                store.append_blocking(vec![e]).unwrap();
                i += 1;
            }
        })
    };
    store.snapshot(&copy).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    store
        .append_blocking(vec![entry(now, "api", None, "after snapshot", json!({}))])
        .unwrap();
    store.close();

    let restored = open(&copy);
    let found = search_all(&restored, "\"before snapshot\"");
    assert_eq!(
        found.len(),
        before.len(),
        "every entry acknowledged before the snapshot"
    );
    assert!(search_all(&restored, "\"after snapshot\"").is_empty());
    restored.close();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&copy);
}
