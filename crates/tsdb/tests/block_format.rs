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
