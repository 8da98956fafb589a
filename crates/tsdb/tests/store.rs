//! The store end to end through its public API: append semantics, queries, WAL replay
//! (clean, torn, and after SIGKILL of a writer process), compaction into blocks, retention.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pharos_model::series::{LabelMatcher, LabelSet, MatchOp, Sample, SeriesSource, stale_marker};
use pharos_tsdb::{AppendError, Options, Tsdb};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pharos-tsdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
}

fn m(name: &str, op: MatchOp, v: &str) -> LabelMatcher {
    LabelMatcher::new(name, op, v).unwrap()
}

fn all(db: &Tsdb, name: &str) -> Vec<Sample> {
    let r = db
        .select(&[m("__name__", MatchOp::Equal, name)], i64::MIN, i64::MAX)
        .unwrap();
    r.into_iter().flat_map(|s| s.samples).collect()
}

#[test]
fn append_semantics_are_prometheus_s() {
    let dir = tempdir("semantics");
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    let up = ls(&[("__name__", "up"), ("job", "a")]);
    let mut app = db.appender();
    let r = app.append(&up, 1000, 1.0).unwrap();
    app.append_ref(r, 2000, 1.0).unwrap();
    assert_eq!(app.append_ref(r, 1500, 1.0), Err(AppendError::OutOfOrder));
    assert_eq!(app.append_ref(r, 2000, 0.0), Err(AppendError::Duplicate));
    assert_eq!(
        app.append_ref(r, 2000, 1.0),
        Ok(()),
        "same time and value is accepted silently"
    );
    app.append_ref(r, 3000, stale_marker()).unwrap();
    let sum = app.commit().unwrap();
    assert_eq!(
        (
            sum.appended,
            sum.out_of_order,
            sum.duplicate,
            sum.new_series
        ),
        (3, 1, 1, 1)
    );
    let got = all(&db, "up");
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].v.to_bits(), stale_marker().to_bits());
    // Across commits too.
    let mut app = db.appender();
    assert_eq!(app.append(&up, 2500, 1.0), Err(AppendError::OutOfOrder));
    assert!(matches!(
        app.append(&LabelSet::default(), 1, 1.0),
        Err(AppendError::InvalidLabels(_))
    ));
    app.commit().unwrap();

    let limited = Tsdb::open(
        &tempdir("limit"),
        Options {
            max_series: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let mut app = limited.appender();
    app.append(&ls(&[("__name__", "a")]), 1, 1.0).unwrap();
    app.append(&ls(&[("__name__", "b")]), 1, 1.0).unwrap();
    let e = app.append(&ls(&[("__name__", "c")]), 1, 1.0).unwrap_err();
    assert!(e.to_string().contains("max_series"), "{e}");
    app.commit().unwrap();
}

#[test]
fn selectors_and_label_apis() {
    let dir = tempdir("select");
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    let mut app = db.appender();
    for (path, code) in [("/a", "200"), ("/a", "500"), ("/b", "200"), ("/c", "404")] {
        let l = ls(&[
            ("__name__", "http_requests_total"),
            ("path", path),
            ("code", code),
        ]);
        for i in 0..10 {
            app.append(&l, i * 15_000, i as f64).unwrap();
        }
    }
    app.append(&ls(&[("__name__", "up"), ("job", "x")]), 0, 1.0)
        .unwrap();
    app.commit().unwrap();
    let name = m("__name__", MatchOp::Equal, "http_requests_total");
    let q = |ms: Vec<LabelMatcher>| db.series(&ms, i64::MIN, i64::MAX).unwrap().len();
    assert_eq!(q(vec![name.clone()]), 4);
    assert_eq!(q(vec![name.clone(), m("code", MatchOp::Regex, "2..")]), 2);
    assert_eq!(
        q(vec![name.clone(), m("code", MatchOp::NotRegex, "2..")]),
        2
    );
    assert_eq!(q(vec![name.clone(), m("path", MatchOp::NotEqual, "/a")]), 2);
    assert_eq!(
        q(vec![m("job", MatchOp::Equal, "")]),
        4,
        "missing label matches empty"
    );
    assert_eq!(q(vec![m("__name__", MatchOp::Regex, ".+")]), 5);
    let r = db
        .select(
            &[name.clone(), m("path", MatchOp::Equal, "/b")],
            30_000,
            60_000,
        )
        .unwrap();
    assert_eq!(
        r[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![30_000, 45_000, 60_000]
    );
    assert_eq!(
        db.label_values("code", std::slice::from_ref(&name), i64::MIN, i64::MAX)
            .unwrap(),
        vec!["200", "404", "500"]
    );
    assert_eq!(
        db.label_names(&[], i64::MIN, i64::MAX).unwrap(),
        vec!["__name__", "code", "job", "path"]
    );
    assert!(
        db.series(&[name], 1_000_000, 2_000_000).unwrap().is_empty(),
        "no samples in range, no series"
    );
    let c = db.cardinality(10);
    assert_eq!(c.metrics[0], ("http_requests_total".to_string(), 4));
    assert_eq!(c.total_series, 5);
}

#[test]
fn wal_replay_restores_the_head_and_survives_a_torn_tail() {
    let dir = tempdir("replay");
    {
        let db = Tsdb::open(&dir, Options::default()).unwrap();
        for batch in 0..5 {
            let mut app = db.appender();
            for s in 0..50 {
                let l = ls(&[("__name__", "m"), ("s", &s.to_string())]);
                app.append(&l, batch * 1000, (batch * s) as f64).unwrap();
            }
            app.commit().unwrap();
        }
        // Dropped without close: like a crash after the last commit returned.
    }
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    assert_eq!(all(&db, "m").len(), 250);
    drop(db);
    // Tear the last record.
    let seg = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    assert_eq!(
        all(&db, "m").len(),
        200,
        "the torn batch is dropped, the rest kept"
    );
    // And appending after a torn tail works and replays.
    let mut app = db.appender();
    app.append(&ls(&[("__name__", "m"), ("s", "0")]), 10_000, 1.0)
        .unwrap();
    app.commit().unwrap();
    drop(db);
    assert_eq!(
        all(&Tsdb::open(&dir, Options::default()).unwrap(), "m").len(),
        201
    );
}

#[test]
fn out_of_bounds_is_half_a_block_span_behind_the_newest_sample() {
    let db = Tsdb::open(&tempdir("bounds"), Options::default()).unwrap();
    let hour = 3_600_000;
    let a = ls(&[("__name__", "a")]);
    let b = ls(&[("__name__", "b")]);
    let mut app = db.appender();
    app.append(&a, 10 * hour, 1.0).unwrap();
    // An empty head takes anything; within the batch the bound is the committed head's.
    app.append(&b, 0, 1.0).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    assert_eq!(
        app.append(&b, 9 * hour - 1, 1.0),
        Err(AppendError::OutOfBounds),
        "an hour (half of 2 h) behind the newest sample is too old"
    );
    app.append(&b, 9 * hour, 2.0).unwrap();
    let sum = app.commit().unwrap();
    assert_eq!((sum.appended, sum.out_of_bounds), (1, 1));
}

#[test]
fn a_corrupt_wal_tail_is_dropped_not_fatal() {
    let dir = tempdir("corrupt");
    {
        let db = Tsdb::open(&dir, Options::default()).unwrap();
        for batch in 0..3 {
            let mut app = db.appender();
            app.append(&ls(&[("__name__", "c")]), batch * 1000, 1.5)
                .unwrap();
            app.commit().unwrap();
        }
    }
    let seg = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    assert_eq!(
        all(&db, "c").len(),
        2,
        "the record failing its CRC is dropped"
    );
}

/// Regression: series records were written only by the appender that created the
/// series, so samples another appender committed first (or alone, when the creator was
/// dropped) referred to a series the WAL did not know, and were lost on replay.
#[test]
fn samples_of_a_series_created_by_an_uncommitted_appender_survive_replay() {
    let dir = tempdir("creator");
    let l = ls(&[("__name__", "shared"), ("job", "x")]);
    {
        let db = Tsdb::open(&dir, Options::default()).unwrap();
        let mut creator = db.appender();
        let r = creator.append(&l, 1000, 1.0).unwrap();
        let mut other = db.appender();
        other.append_ref(r, 2000, 2.0).unwrap();
        other.commit().unwrap();
        drop(creator);
    }
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    let got = all(&db, "shared");
    assert_eq!(got, vec![Sample { t: 2000, v: 2.0 }]);
}

#[test]
fn queries_run_while_another_thread_appends() {
    let db = std::sync::Arc::new(Tsdb::open(&tempdir("concurrent"), Options::default()).unwrap());
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for step in 0..300i64 {
                let mut app = db.appender();
                for s in 0..50 {
                    let l = ls(&[("__name__", "cc"), ("s", &s.to_string())]);
                    app.append(&l, step * 15_000, step as f64).unwrap();
                }
                app.commit().unwrap();
            }
        })
    };
    let mut seen = 0;
    while !writer.is_finished() {
        let r = db
            .select(&[m("__name__", MatchOp::Equal, "cc")], 0, i64::MAX)
            .unwrap();
        for s in &r {
            // Every answer is a consistent prefix: times strictly increasing, values = steps.
            assert!(s.samples.windows(2).all(|w| w[1].t == w[0].t + 15_000));
            assert!(s.samples.iter().all(|x| x.v * 15_000.0 == x.t as f64));
            seen = seen.max(s.samples.len());
        }
    }
    writer.join().unwrap();
    assert_eq!(all(&db, "cc").len(), 50 * 300);
    assert!(seen > 0);
}

const CHILD_ENV: &str = "PHAROS_TSDB_KILL_CHILD_DIR";

/// Run as a child by `committed_samples_survive_sigkill`: appends forever, printing the
/// number of committed batches after each commit.
#[test]
fn kill_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Tsdb::open(Path::new(&dir), Options::default()).unwrap();
    let l = ls(&[("__name__", "k")]);
    for i in 0.. {
        let mut app = db.appender();
        app.append(&l, i * 1000, i as f64).unwrap();
        app.commit().unwrap();
        println!("committed {i}");
    }
}

#[test]
fn committed_samples_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    let dir = tempdir("kill");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = -1i64;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            last = n.parse().unwrap();
            if last >= 2000 {
                break;
            }
        }
    }
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, 9) };
    child.wait().unwrap();
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    let got = all(&db, "k");
    assert!(
        got.len() as i64 > last,
        "acknowledged {} samples, found {}",
        last + 1,
        got.len()
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    fn malloc_trim(pad: usize) -> i32;
}

fn fill(db: &Tsdb, series: usize, from: i64, to: i64, step: i64) {
    let labels: Vec<LabelSet> = (0..series)
        .map(|s| ls(&[("__name__", "g"), ("s", &s.to_string())]))
        .collect();
    let mut refs = Vec::new();
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        if refs.is_empty() {
            for l in &labels {
                refs.push(app.append(l, t, (t / step) as f64).unwrap());
            }
        } else {
            for r in &refs {
                app.append_ref(*r, t, (t / step) as f64).unwrap();
            }
        }
        app.commit().unwrap();
        t += step;
    }
}

#[test]
fn compaction_cuts_blocks_and_queries_span_head_and_blocks() {
    let dir = tempdir("compact");
    let hour = 3_600_000;
    let opts = Options {
        block_duration_ms: hour,
        retention_ms: None,
        ..Options::default()
    };
    let db = Tsdb::open(&dir, opts.clone()).unwrap();
    fill(&db, 20, 0, 10 * hour, 15_000);
    db.maintain().unwrap();
    let st = db.stats();
    assert!(st.blocks >= 1 && st.compactions >= 6, "{st:?}");
    assert!(st.bytes_per_sample < 1.5, "{st:?}");
    assert!(
        st.head_samples < 20 * 2 * 240 + 20 * 240,
        "head truncated: {st:?}"
    );
    let check = |db: &Tsdb| {
        let r = db
            .select(&[m("s", MatchOp::Equal, "7")], 0, 10 * hour)
            .unwrap();
        assert_eq!(r.len(), 1);
        let s = &r[0].samples;
        assert_eq!(s.len(), 2400, "every sample once");
        assert!(s.windows(2).all(|w| w[1].t - w[0].t == 15_000));
        assert_eq!(s[100].v, 100.0);
    };
    check(&db);
    // Out of bounds: older than the head's lower limit.
    let mut app = db.appender();
    assert_eq!(
        app.append(&ls(&[("__name__", "g"), ("s", "new")]), 0, 1.0),
        Err(AppendError::OutOfBounds)
    );
    drop(app);
    drop(db);
    // Reopen: blocks load, the WAL checkpoint restores the head.
    let db = Tsdb::open(&dir, opts).unwrap();
    check(&db);
}

#[test]
fn merged_blocks_keep_series_that_come_and_go() {
    let dir = tempdir("merge");
    let hour = 3_600_000;
    let opts = Options {
        block_duration_ms: hour,
        retention_ms: None,
        ..Options::default()
    };
    let db = Tsdb::open(&dir, opts.clone()).unwrap();
    let (a, b, c) = (
        ls(&[("__name__", "churn"), ("s", "always")]),
        ls(&[("__name__", "churn"), ("s", "early")]),
        ls(&[("__name__", "churn"), ("s", "late")]),
    );
    let mut t = 0;
    while t < 12 * hour {
        let mut app = db.appender();
        app.append(&a, t, 1.0).unwrap();
        if t < 3 * hour / 2 {
            app.append(&b, t, 2.0).unwrap();
        }
        if t >= 5 * hour {
            app.append(&c, t, 3.5).unwrap();
        }
        app.commit().unwrap();
        t += 60_000;
        if t % hour == 0 {
            db.maintain().unwrap();
        }
    }
    let st = db.stats();
    assert!(
        st.blocks <= 6 && st.compactions > st.blocks as u64,
        "blocks merged: {st:?}"
    );
    let check = |db: &Tsdb| {
        let count = |s: &str| {
            db.select(&[m("s", MatchOp::Equal, s)], 0, i64::MAX)
                .unwrap()[0]
                .samples
                .len()
        };
        assert_eq!(count("always"), 12 * 60);
        assert_eq!(count("early"), 90);
        assert_eq!(count("late"), 7 * 60);
        assert_eq!(
            db.label_values("s", &[], 0, hour).unwrap(),
            vec!["always", "early"]
        );
        assert_eq!(
            db.label_values("s", &[], 6 * hour, 7 * hour).unwrap(),
            vec!["always", "late"]
        );
    };
    check(&db);
    drop(db);
    check(&Tsdb::open(&dir, opts).unwrap());
}

#[test]
fn retention_by_time_and_size_deletes_old_blocks() {
    let hour = 3_600_000;
    let dir = tempdir("retention");
    let db = Tsdb::open(
        &dir,
        Options {
            block_duration_ms: hour,
            retention_ms: Some(3 * hour),
            ..Options::default()
        },
    )
    .unwrap();
    fill(&db, 5, 0, 12 * hour, 60_000);
    db.maintain().unwrap();
    let oldest = db
        .select(&[m("s", MatchOp::Equal, "1")], 0, i64::MAX)
        .unwrap()[0]
        .samples[0]
        .t;
    assert!(
        oldest >= 12 * hour - 5 * hour,
        "old data deleted: oldest {oldest}"
    );
    let dir = tempdir("retention-size");
    let db = Tsdb::open(
        &dir,
        Options {
            block_duration_ms: hour,
            retention_ms: None,
            retention_bytes: Some(40_000),
            ..Options::default()
        },
    )
    .unwrap();
    fill(&db, 20, 0, 12 * hour, 60_000);
    db.maintain().unwrap();
    assert!(db.stats().disk_bytes <= 40_000, "{:?}", db.stats());
}

/// Resident memory of this process (bytes), from /proc.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A scrape-like workload: 10,000 series, one sample each every 15 s, values shaped like
/// real metrics: integer counters moving by varying amounts, float counters with two
/// decimals (CPU seconds), random-walk gauges, and constants (`up`, info metrics).
#[test]
#[ignore = "benchmark: cargo test --release -p pharos-tsdb -- --ignored --nocapture ingest_bench"]
fn ingest_bench() {
    let dir = tempdir("bench");
    let hour = 3_600_000;
    let n = 10_000;
    let labels: Vec<LabelSet> = (0..n)
        .map(|i| {
            ls(&[
                ("__name__", &format!("metric_{}", i % 100)),
                ("instance", &format!("host-{}:9100", i % 50)),
                ("job", "node"),
                ("path", &format!("/api/v1/resource/{}", i / 100)),
            ])
        })
        .collect();
    let mut values: Vec<f64> = vec![0.0; n];
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let rss_before = rss_bytes();
    let db = Tsdb::open(
        &dir,
        Options {
            block_duration_ms: 2 * hour,
            retention_ms: None,
            ..Options::default()
        },
    )
    .unwrap();
    let mut refs = Vec::new();
    let mut append_secs = 0.0;
    let mut samples = 0u64;
    let steps = 8 * 240; // eight hours at 15 s
    let mut peak_rss = 0;
    let mut first_rss = 0;
    for step in 0..steps {
        let t = 1_700_000_000_000 + step as i64 * 15_000;
        for (i, v) in values.iter_mut().enumerate() {
            let r = next();
            *v = match i % 10 {
                0..=3 => *v + (r % 20) as f64,
                4 | 5 => ((*v + (r % 300) as f64 / 100.0) * 100.0).round() / 100.0,
                6 | 7 => ((*v as i64) + (r % 2001) as i64 - 1000) as f64,
                _ => 1.0,
            };
        }
        let start = Instant::now();
        let mut app = db.appender();
        if refs.is_empty() {
            for (l, v) in labels.iter().zip(&values) {
                refs.push(app.append(l, t, *v).unwrap());
            }
        } else {
            for (r, v) in refs.iter().zip(&values) {
                app.append_ref(*r, t, *v).unwrap();
            }
        }
        app.commit().unwrap();
        append_secs += start.elapsed().as_secs_f64();
        samples += n as u64;
        if step == 0 {
            first_rss = rss_bytes().saturating_sub(rss_before);
        }
        if step % 240 == 239 {
            peak_rss = peak_rss.max(rss_bytes());
            db.maintain().unwrap();
            if std::env::var_os("INGEST_BENCH_VERBOSE").is_some() {
                let st = db.stats();
                println!(
                    "  {} h: {} blocks, head {} samples, {:.0} bytes/series estimated, {:.0} resident",
                    (step + 1) / 240,
                    st.blocks,
                    st.head_samples,
                    st.memory_per_series,
                    rss_bytes().saturating_sub(rss_before) as f64 / n as f64
                );
            }
        }
    }
    db.maintain().unwrap();
    let st = db.stats();
    let rss = rss_bytes().saturating_sub(rss_before);
    // What the allocator keeps of freed memory (compaction's buffers) is in `rss`; what
    // the store holds is about what is left after handing that back.
    // SAFETY: glibc's malloc_trim only releases free memory.
    unsafe { malloc_trim(0) };
    let trimmed = rss_bytes().saturating_sub(rss_before);
    let blocks_bytes = dir_bytes(&dir.join("blocks"));
    println!(
        "ingest_bench: {n} series x {steps} samples (8 h at 15 s): {:.2} M samples/s appended and committed (one thread)",
        samples as f64 / append_secs / 1e6
    );
    println!(
        "ingest_bench: blocks: {} samples, {:.3} bytes/sample of chunk data, {:.3} bytes/sample with index and meta",
        st.block_samples,
        st.bytes_per_sample,
        blocks_bytes as f64 / st.block_samples.max(1) as f64
    );
    println!(
        "ingest_bench: disk {} KiB in all (WAL {} KiB, head chunk files and blocks the rest): {:.3} bytes per sample ingested",
        st.disk_bytes / 1024,
        st.wal_bytes / 1024,
        st.disk_bytes as f64 / samples as f64
    );
    println!(
        "ingest_bench: memory per series: {:.0} bytes resident after the first sample; {:.0} bytes estimated by stats(), {:.0} bytes resident now ({:.0} after malloc_trim), {:.0} at the peak (RSS growth / series, head {} samples)",
        first_rss as f64 / n as f64,
        st.memory_per_series,
        rss as f64 / n as f64,
        trimmed as f64 / n as f64,
        peak_rss.saturating_sub(rss_before) as f64 / n as f64,
        st.head_samples
    );
}

/// A budget refusing past `max` samples, counting what it was charged.
struct Budget {
    charged: usize,
    max: usize,
}

impl pharos_model::series::LoadBudget for Budget {
    fn charge(&mut self, samples: usize) -> Result<(), pharos_model::series::SelectError> {
        self.charged += samples;
        if self.charged > self.max {
            return Err(pharos_model::series::SelectError::Limit("too many".into()));
        }
        Ok(())
    }
}

#[test]
fn a_selection_stops_at_the_series_its_budget_refuses() {
    let dir = tempdir("budget");
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    let mut app = db.appender();
    for i in 0..50 {
        let l = ls(&[("__name__", "x"), ("i", &i.to_string())]);
        for k in 0..100 {
            app.append(&l, k * 1000, k as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let x = [m("__name__", MatchOp::Equal, "x")];
    let mut budget = Budget {
        charged: 0,
        max: 1000,
    };
    let err = db
        .select_within(&x, i64::MIN, i64::MAX, &mut budget)
        .unwrap_err();
    assert_eq!(err.to_string(), "too many");
    assert_eq!(budget.charged, 1100, "decoding stopped at the 11th series");

    let mut budget = Budget {
        charged: 0,
        max: usize::MAX,
    };
    let r = db
        .select_within(&x, i64::MIN, i64::MAX, &mut budget)
        .unwrap();
    assert_eq!((r.len(), budget.charged), (50, 5000));
}

/// A snapshot taken while another thread keeps committing opens to every sample committed
/// before it began, from blocks and from the WAL alike, and the live store goes on.
#[test]
fn a_snapshot_under_appends_holds_every_sample_committed_before_it() {
    let dir = tempdir("snapshot");
    let opts = Options {
        block_duration_ms: 10_000,
        retention_ms: None,
        ..Options::default()
    };
    let db = std::sync::Arc::new(Tsdb::open(&dir, opts.clone()).unwrap());
    let series = ls(&[("__name__", "requests"), ("job", "api")]);
    let mut app = db.appender();
    for t in 0..60 {
        app.append(&series, t * 1000, t as f64).unwrap();
    }
    app.commit().unwrap();
    db.maintain().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop, series) = (db.clone(), stop.clone(), series.clone());
        std::thread::spawn(move || {
            let mut t = 60;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut app = db.appender();
                app.append(&series, t * 1000, t as f64).unwrap();
                app.commit().unwrap();
                t += 1;
            }
        })
    };
    let before = all(&db, "requests").len();
    let copy = tempdir("snapshot-copy");
    db.snapshot(&copy).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        std::fs::read_dir(copy.join("blocks")).unwrap().count() > 0,
        "the test means to copy blocks too"
    );
    let restored = Tsdb::open(&copy, opts).unwrap();
    let got = all(&restored, "requests");
    assert!(
        got.len() >= before,
        "{} samples, {before} committed before",
        got.len()
    );
    for (i, s) in got.iter().enumerate() {
        assert_eq!(
            (s.t, s.v),
            (i as i64 * 1000, i as f64),
            "samples in order, none lost"
        );
    }
    let mut app = db.appender();
    app.append(&series, 10_000_000, 1.0).unwrap();
    app.commit().unwrap();
}
