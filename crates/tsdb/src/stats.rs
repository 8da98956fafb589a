//! What the store reports about itself: sizes, sample counts and compactions for
//! `/metrics` and the UI, and the cardinality report that shows which metrics and labels
//! the series come from.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::Tsdb;
use pharos_model::clock::now_ms;

/// Numbers the store reports about itself (exported on `/metrics` and in the UI).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub head_series: usize,
    pub head_chunks: usize,
    pub head_samples: u64,
    pub head_min_time: Option<i64>,
    pub head_max_time: Option<i64>,
    pub blocks: usize,
    pub block_samples: u64,
    /// WAL + blocks, bytes on disk.
    pub disk_bytes: u64,
    /// Bytes of block chunk data (values and time columns) divided by block samples.
    pub bytes_per_sample: f64,
    /// Estimated heap bytes of the head (series, index, symbols, open chunks) and of the
    /// blocks' in-memory indexes, divided by head series.
    pub memory_per_series: f64,
    pub wal_bytes: u64,
    pub compactions: u64,
    pub samples_appended_total: u64,
}

/// Cardinality: where the series come from.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cardinality {
    /// (metric name, series count), most first.
    pub metrics: Vec<(String, usize)>,
    /// (label name, distinct values), most first.
    pub labels: Vec<(String, usize)>,
    /// (`name=value`, series count), most first.
    pub label_pairs: Vec<(String, usize)>,
    /// (metric name, series created in the last hour), most first.
    pub growing: Vec<(String, usize)>,
    pub total_series: usize,
}

impl Tsdb {
    pub fn stats(&self) -> Stats {
        let idx = self.head.index.read().expect("head index lock");
        let mut st = Stats::default();
        let mut min_t: Option<i64> = None;
        for s in idx.series.values() {
            let d = s.data.lock().expect("series lock");
            st.head_chunks += d.chunks();
            st.head_samples += d.sample_count();
            if let Some(m) = d.min_time() {
                min_t = Some(min_t.map_or(m, |x: i64| x.min(m)));
            }
        }
        st.head_series = idx.series.len();
        let head_heap = idx.heap_bytes() + self.head.files.heap_bytes();
        drop(idx);
        st.head_min_time = min_t;
        let max = self.head_max_time.load(Ordering::Relaxed);
        st.head_max_time = (max != i64::MIN).then_some(max);
        let blocks = self.blocks.read().expect("blocks lock");
        let heap = head_heap + blocks.iter().map(|b| b.heap_bytes()).sum::<usize>();
        st.memory_per_series = if st.head_series == 0 {
            0.0
        } else {
            heap as f64 / st.head_series as f64
        };
        st.blocks = blocks.len();
        st.block_samples = blocks.iter().map(|b| b.meta.samples).sum();
        let chunk_bytes: u64 = blocks
            .iter()
            .map(|b| b.meta.chunk_bytes + b.meta.times_bytes)
            .sum();
        st.bytes_per_sample = if st.block_samples == 0 {
            0.0
        } else {
            chunk_bytes as f64 / st.block_samples as f64
        };
        st.wal_bytes = self.wal.lock().expect("wal lock").disk_bytes();
        st.disk_bytes = st.wal_bytes
            + self.head.files.disk_bytes()
            + blocks.iter().map(|b| b.disk_bytes).sum::<u64>();
        st.compactions = self.compactions.load(Ordering::Relaxed);
        st.samples_appended_total = self.appended.load(Ordering::Relaxed);
        st
    }

    /// The top `limit` entries of each list.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let idx = self.head.index.read().expect("head index lock");
        let sym = |id: u32| idx.symbols.get(id).to_string();
        let top = |mut v: Vec<(String, usize)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let name_sym = idx.symbols.lookup(pharos_model::series::METRIC_NAME);
        let by_name = name_sym.and_then(|n| idx.postings.get(&n));
        let metrics: Vec<(String, usize)> = by_name
            .map(|vals| vals.iter().map(|(v, ids)| (sym(*v), ids.len())).collect())
            .unwrap_or_default();
        let hour_ago = now_ms() - 3_600_000;
        let mut growing: HashMap<String, usize> = HashMap::new();
        if let Some(vals) = by_name {
            for (v, ids) in vals {
                let n = ids
                    .iter()
                    .filter(|id| idx.series.get(id).is_some_and(|s| s.created_ms >= hour_ago))
                    .count();
                if n > 0 {
                    growing.insert(sym(*v), n);
                }
            }
        }
        let labels: Vec<(String, usize)> = idx
            .postings
            .iter()
            .map(|(n, v)| (sym(*n), v.len()))
            .collect();
        let pairs: Vec<(String, usize)> = idx
            .postings
            .iter()
            .filter(|(n, _)| Some(**n) != name_sym)
            .flat_map(|(n, vals)| {
                vals.iter()
                    .map(move |(v, ids)| (format!("{}={}", sym(*n), sym(*v)), ids.len()))
            })
            .collect();
        Cardinality {
            total_series: idx.series.len(),
            metrics: top(metrics),
            labels: top(labels),
            label_pairs: top(pairs),
            growing: top(growing.into_iter().collect()),
        }
    }
}

/// Gauges the store reports about itself on `/metrics`, refreshed after each maintenance.
pub struct TsdbMetrics {
    series: prometheus::IntGauge,
    memory_per_series: prometheus::Gauge,
    bytes_per_sample: prometheus::Gauge,
    disk: prometheus::IntGauge,
    appended: prometheus::IntGauge,
}

impl TsdbMetrics {
    pub fn new(registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let m = TsdbMetrics {
            series: prometheus::IntGauge::new(
                "pharos_tsdb_head_series",
                "Active series in the metrics store's head.",
            )?,
            memory_per_series: prometheus::Gauge::new(
                "pharos_tsdb_memory_per_series_bytes",
                "Estimated heap bytes per active series (labels, chunks, index).",
            )?,
            bytes_per_sample: prometheus::Gauge::new(
                "pharos_tsdb_bytes_per_sample",
                "Bytes of chunk data per sample in the store's blocks.",
            )?,
            disk: prometheus::IntGauge::new(
                "pharos_tsdb_disk_bytes",
                "Bytes on disk: WAL and blocks.",
            )?,
            appended: prometheus::IntGauge::new(
                "pharos_tsdb_samples_appended",
                "Samples appended since the start.",
            )?,
        };
        registry.register(Box::new(m.series.clone()))?;
        registry.register(Box::new(m.memory_per_series.clone()))?;
        registry.register(Box::new(m.bytes_per_sample.clone()))?;
        registry.register(Box::new(m.disk.clone()))?;
        registry.register(Box::new(m.appended.clone()))?;
        Ok(m)
    }

    pub fn observe(&self, st: &Stats) {
        self.series.set(st.head_series as i64);
        self.memory_per_series.set(st.memory_per_series);
        self.bytes_per_sample.set(st.bytes_per_sample);
        self.disk.set(st.disk_bytes as i64);
        self.appended.set(st.samples_appended_total as i64);
    }
}
