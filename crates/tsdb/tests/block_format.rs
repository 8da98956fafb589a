//! Blocks written by earlier versions stay readable: `fixtures/block-format-3` is a block
//! written by the format-3 writer (XOR and scaled-decimal chunks with their times inline,
//! no `times` file) from `fixture_series()`'s samples (`Tsdb::maintain` with 1 h blocks at
//! commit 9a17543), checked sample by sample, bits included.

use std::path::{Path, PathBuf};

use pharos_model::series::{LabelMatcher, LabelSet, MatchOp, Sample, SeriesSource, stale_marker};
use pharos_tsdb::{Options, Tsdb};

const HOUR: i64 = 3_600_000;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pharos-tsdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::new(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
}

/// The fixture's series over its hour: every kind of value the format-3 writer coded
/// differently.
fn fixture_series() -> Vec<(LabelSet, Vec<Sample>)> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let specials = [
        f64::NAN,
        stale_marker(),
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.5,
    ];
    let (mut counter, mut cpu) = (0.0, 0.0f64);
    let mut out: Vec<(LabelSet, Vec<Sample>)> = ["counter", "cpu", "float", "special"]
        .iter()
        .map(|k| (ls(&[("__name__", "fixture"), ("kind", k)]), Vec::new()))
        .collect();
    for i in 0..240 {
        let t = i * 15_000 + (next() % 4) as i64;
        counter += (next() % 30) as f64;
        cpu = ((cpu + (next() % 500) as f64 / 100.0) * 100.0).round() / 100.0;
        let float = f64::from_bits(next() >> 2);
        let special = specials[i as usize % specials.len()];
        for (s, v) in out.iter_mut().zip([counter, cpu, float, special]) {
            s.1.push(Sample { t, v });
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

#[test]
fn format_3_blocks_still_read() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block-format-3");
    let dir = tempdir("format3");
    copy_dir(&fixture, &dir.join("blocks/0-3600000-0"));
    let db = Tsdb::open(&dir, Options::default()).unwrap();
    assert_eq!(db.stats().blocks, 1);
    for (labels, want) in fixture_series() {
        let matchers: Vec<LabelMatcher> = labels
            .iter()
            .map(|l| LabelMatcher::new(&l.name, MatchOp::Equal, &l.value).unwrap())
            .collect();
        let got = db.select(&matchers, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.len(), 1, "{labels:?}");
        assert_eq!(bits(&got[0].samples), bits(&want), "{labels:?}");
    }
}

/// A format-3 block merged with format-4 ones: the old samples come through a
/// re-encoding unchanged, and the merged block shares one time column among the series
/// that have the same times.
#[test]
fn format_3_blocks_merge_into_format_4() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block-format-3");
    let dir = tempdir("format3-merge");
    copy_dir(&fixture, &dir.join("blocks/0-3600000-0"));
    let db = Tsdb::open(
        &dir,
        Options {
            block_duration_ms: HOUR,
            retention_ms: None,
            ..Options::default()
        },
    )
    .unwrap();
    let series = fixture_series();
    let later = |i: i64| Sample {
        t: HOUR + i * 15_000,
        v: (i % 17) as f64 * 0.5,
    };
    for step in 0..4 * 240 {
        let mut app = db.appender();
        for (l, _) in &series {
            let s = later(step);
            app.append(l, s.t, s.v).unwrap();
        }
        app.commit().unwrap();
    }
    db.maintain().unwrap();
    let merged = dir.join("blocks/0-10800000-0/meta.json");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&merged).expect("merged block")).unwrap();
    assert_eq!(
        (meta["format"].as_u64(), meta["level"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(meta["samples"].as_u64(), Some(4 * (240 + 2 * 240)));
    // The four series have the same times: one column per chunk span (two), not four.
    assert!(meta["times_bytes"].as_u64().unwrap() < 200, "{meta}");
    for (labels, mut want) in series {
        want.extend((0..2 * 240).map(later));
        let matchers: Vec<LabelMatcher> = labels
            .iter()
            .map(|l| LabelMatcher::new(&l.name, MatchOp::Equal, &l.value).unwrap())
            .collect();
        let got = db.select(&matchers, 0, 3 * HOUR - 1).unwrap();
        assert_eq!(bits(&got[0].samples), bits(&want), "{labels:?}");
    }
}

/// Queries read samples, so identical samples give identical answers: every value shape
/// the block coder tells apart, from several targets with their own jittered times, with
/// resets, churn and staleness markers, comes back bit for bit after cuts and merges.
#[test]
fn every_sample_survives_blocks_and_merges_bit_for_bit() {
    let dir = tempdir("bit-for-bit");
    let db = Tsdb::open(
        &dir,
        Options {
            block_duration_ms: HOUR,
            retention_ms: None,
            ..Options::default()
        },
    )
    .unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let kinds = [
        "counter",
        "cpu",
        "float",
        "sum",
        "nan_gauge",
        "const",
        "neg_zero",
        "pages",
        "late",
        "dies",
    ];
    let mut truth: Vec<(LabelSet, Vec<Sample>)> = Vec::new();
    for target in 0..3 {
        for k in kinds {
            let l = ls(&[("__name__", k), ("instance", &target.to_string())]);
            truth.push((l, Vec::new()));
        }
    }
    let mut state = vec![0.0f64; truth.len()];
    let steps = 10 * 240;
    for step in 0..steps {
        let mut app = db.appender();
        for target in 0..3 {
            let t = step * 15_000 + target * 5_000 + (next() % 4) as i64;
            for (j, k) in kinds.iter().enumerate() {
                let i = target as usize * kinds.len() + j;
                let r = next();
                let v = &mut state[i];
                let value = match *k {
                    "counter" if step % 700 == 699 => 0.0,
                    "counter" => *v + (r % 9) as f64,
                    "cpu" => ((*v + (r % 300) as f64 / 100.0) * 100.0).round() / 100.0,
                    "float" => f64::from_bits(r >> 2),
                    "sum" => *v + (r % 1000) as f64 * 0.0137,
                    "nan_gauge" if r % 5 == 0 => f64::NAN,
                    "nan_gauge" => (r % 50) as f64,
                    "const" => 1048576.0,
                    "neg_zero" if r % 2 == 0 => -0.0,
                    "neg_zero" => 0.0,
                    "pages" => *v + ((r % 129) as f64 - 64.0) * 4096.0,
                    "late" if step < 1000 => continue,
                    "late" => (step % 13) as f64,
                    "dies" if step > 1500 => continue,
                    "dies" if step == 1500 => stale_marker(),
                    _ => (r % 3) as f64,
                };
                *v = value;
                app.append(&truth[i].0, t, value).unwrap();
                truth[i].1.push(Sample { t, v: value });
            }
        }
        app.commit().unwrap();
        if step % 240 == 239 {
            db.maintain().unwrap();
        }
    }
    let st = db.stats();
    assert!(st.compactions >= 9, "{st:?}");
    let levels: Vec<u64> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| {
            let meta = std::fs::read(e.unwrap().path().join("meta.json")).unwrap();
            serde_json::from_slice::<serde_json::Value>(&meta).unwrap()["level"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        levels,
        [3],
        "nine hours cut, merged by threes, and merged again"
    );
    for (labels, want) in truth {
        let matchers: Vec<LabelMatcher> = labels
            .iter()
            .map(|l| LabelMatcher::new(&l.name, MatchOp::Equal, &l.value).unwrap())
            .collect();
        let got = db.select(&matchers, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got.len(), 1, "{labels:?}");
        assert_eq!(bits(&got[0].samples), bits(&want), "{labels:?}");
    }
}
