//! The tantivy collectors behind search, counts and histograms. Each reads the `time`,
//! `seq` and `level` fast columns; when the index query was only a superset, each
//! candidate is loaded from the docstore and re-checked with the in-memory matcher.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use pharos_model::LogEntry;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::schema::Field;
use tantivy::store::StoreReader;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader, TantivyDocument};

use crate::query::{FieldName, LogQuery};
use crate::search::LogId;

/// Re-checks candidates against the query; `None` when the index was exact.
#[derive(Clone)]
pub(crate) struct Recheck {
    pub query: Arc<LogQuery>,
    pub raw: Field,
}

pub(crate) struct SegmentRecheck {
    query: Arc<LogQuery>,
    raw: Field,
    store: StoreReader,
}

impl Recheck {
    fn for_segment(&self, seg: &SegmentReader) -> tantivy::Result<SegmentRecheck> {
        Ok(SegmentRecheck {
            query: self.query.clone(),
            raw: self.raw,
            store: seg.get_store_reader(16)?,
        })
    }
}

impl SegmentRecheck {
    fn entry(&self, doc: DocId) -> Option<LogEntry> {
        let d: TantivyDocument = self.store.get(doc).ok()?;
        let raw = crate::partition::raw_field_bytes(&d, self.raw)?;
        serde_json::from_slice(raw).ok()
    }

    fn passes(&self, doc: DocId) -> bool {
        self.entry(doc).is_some_and(|e| self.query.matches(&e))
    }
}

/// The newest `limit` documents strictly before `before`, by (time, seq).
pub(crate) struct Newest {
    pub limit: usize,
    pub before: Option<LogId>,
    pub recheck: Option<Recheck>,
}

pub(crate) struct NewestSegment {
    limit: usize,
    before: Option<(i64, u64)>,
    recheck: Option<SegmentRecheck>,
    time: Column<i64>,
    seq: Column<u64>,
    segment: SegmentOrdinal,
    heap: BinaryHeap<Reverse<(i64, u64, DocId)>>,
}

pub(crate) type Hit = (i64, u64, DocAddress);

impl Collector for Newest {
    type Fruit = Vec<Hit>;
    type Child = NewestSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<NewestSegment> {
        Ok(NewestSegment {
            limit: self.limit,
            before: self.before.map(|b| (b.time_ns, b.seq)),
            recheck: self
                .recheck
                .as_ref()
                .map(|r| r.for_segment(reader))
                .transpose()?,
            time: reader.fast_fields().i64("time")?,
            seq: reader.fast_fields().u64("seq")?,
            segment,
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        let mut all: Vec<Hit> = fruits.into_iter().flatten().collect();
        all.sort_unstable_by_key(|h| std::cmp::Reverse((h.0, h.1)));
        all.truncate(self.limit);
        Ok(all)
    }
}

impl SegmentCollector for NewestSegment {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.limit == 0 {
            return;
        }
        let key = (
            self.time.first(doc).unwrap_or(i64::MIN),
            self.seq.first(doc).unwrap_or(0),
        );
        if self.before.is_some_and(|b| key >= b) {
            return;
        }
        if self.heap.len() >= self.limit
            && let Some(Reverse(min)) = self.heap.peek()
            && key <= (min.0, min.1)
        {
            return;
        }
        if let Some(r) = &self.recheck
            && !r.passes(doc)
        {
            return;
        }
        self.heap.push(Reverse((key.0, key.1, doc)));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Vec<Hit> {
        let seg = self.segment;
        self.heap
            .into_iter()
            .map(|Reverse((t, s, d))| (t, s, DocAddress::new(seg, d)))
            .collect()
    }
}

/// Counts per time bucket and level (index 0: no level, 1..=7: rank + 1).
pub(crate) struct Buckets {
    pub start_ns: i64,
    pub step_ns: i64,
    pub buckets: usize,
    pub recheck: Option<Recheck>,
}

pub(crate) type BucketCounts = Vec<[u64; 8]>;

pub(crate) struct BucketsSegment {
    start_ns: i64,
    step_ns: i64,
    counts: BucketCounts,
    time: Column<i64>,
    level: Column<u64>,
    recheck: Option<SegmentRecheck>,
}

impl Collector for Buckets {
    type Fruit = BucketCounts;
    type Child = BucketsSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<BucketsSegment> {
        Ok(BucketsSegment {
            start_ns: self.start_ns,
            step_ns: self.step_ns.max(1),
            counts: vec![[0; 8]; self.buckets],
            time: reader.fast_fields().i64("time")?,
            level: reader.fast_fields().u64("level")?,
            recheck: self
                .recheck
                .as_ref()
                .map(|r| r.for_segment(reader))
                .transpose()?,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<BucketCounts>) -> tantivy::Result<BucketCounts> {
        let mut out = vec![[0; 8]; self.buckets];
        for f in fruits {
            add_buckets(&mut out, &f);
        }
        Ok(out)
    }
}

pub(crate) fn add_buckets(into: &mut BucketCounts, from: &BucketCounts) {
    for (a, b) in into.iter_mut().zip(from) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
}

impl SegmentCollector for BucketsSegment {
    type Fruit = BucketCounts;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(t) = self.time.first(doc) else {
            return;
        };
        let i = (t.saturating_sub(self.start_ns) / self.step_ns) as usize;
        if t < self.start_ns || i >= self.counts.len() {
            return;
        }
        if let Some(r) = &self.recheck
            && !r.passes(doc)
        {
            return;
        }
        let level = (self.level.first(doc).unwrap_or(0) as usize).min(7);
        self.counts[i][level] += 1;
    }

    fn harvest(self) -> BucketCounts {
        self.counts
    }
}

/// Counts by a field's value: from a fast column for the built-in text fields and the
/// level, else from each matching entry.
pub(crate) struct ValueCounts {
    pub field: FieldName,
    pub column: Option<&'static str>,
    pub recheck: Recheck,
    /// False when the index answered the query exactly: no per-document check needed.
    pub must_recheck: bool,
}

pub(crate) enum ValueCountsSegment {
    Column {
        column: Option<StrColumn>,
        ords: HashMap<u64, u64>,
        recheck: Option<SegmentRecheck>,
    },
    Level {
        level: Column<u64>,
        counts: [u64; 8],
        recheck: Option<SegmentRecheck>,
    },
    /// A field of `fields` read from its JSON fast columns (one per value type).
    Json {
        columns: Vec<tantivy::columnar::DynamicColumn>,
        ords: Vec<HashMap<u64, u64>>,
        values: HashMap<String, u64>,
    },
    Entries {
        field: FieldName,
        recheck: SegmentRecheck,
        must_recheck: bool,
        counts: HashMap<String, u64>,
    },
}

impl Collector for ValueCounts {
    type Fruit = HashMap<String, u64>;
    type Child = ValueCountsSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<ValueCountsSegment> {
        let recheck = || -> tantivy::Result<Option<SegmentRecheck>> {
            if self.must_recheck {
                Ok(Some(self.recheck.for_segment(reader)?))
            } else {
                Ok(None)
            }
        };
        Ok(match (&self.field, self.column) {
            (FieldName::Level, _) => ValueCountsSegment::Level {
                level: reader.fast_fields().u64("level")?,
                counts: [0; 8],
                recheck: recheck()?,
            },
            (_, Some(name)) => ValueCountsSegment::Column {
                column: reader.fast_fields().str(name)?,
                ords: HashMap::new(),
                recheck: recheck()?,
            },
            (FieldName::Other(path), None) if !self.must_recheck => {
                let mut columns = Vec::new();
                for handle in reader
                    .fast_fields()
                    .dynamic_column_handles(&format!("fields.{path}"))?
                {
                    columns.push(handle.open()?);
                }
                ValueCountsSegment::Json {
                    ords: vec![HashMap::new(); columns.len()],
                    columns,
                    values: HashMap::new(),
                }
            }
            (field, None) => ValueCountsSegment::Entries {
                field: field.clone(),
                recheck: self.recheck.for_segment(reader)?,
                must_recheck: self.must_recheck,
                counts: HashMap::new(),
            },
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<HashMap<String, u64>>,
    ) -> tantivy::Result<HashMap<String, u64>> {
        let mut out = HashMap::new();
        for f in fruits {
            for (k, v) in f {
                *out.entry(k).or_insert(0) += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for ValueCountsSegment {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        match self {
            ValueCountsSegment::Column {
                column,
                ords,
                recheck,
            } => {
                if recheck.as_ref().is_some_and(|r| !r.passes(doc)) {
                    return;
                }
                if let Some(c) = column {
                    for ord in c.term_ords(doc) {
                        *ords.entry(ord).or_insert(0) += 1;
                    }
                }
            }
            ValueCountsSegment::Level {
                level,
                counts,
                recheck,
            } => {
                if recheck.as_ref().is_some_and(|r| !r.passes(doc)) {
                    return;
                }
                let l = (level.first(doc).unwrap_or(0) as usize).min(7);
                counts[l] += 1;
            }
            ValueCountsSegment::Json {
                columns,
                ords,
                values,
            } => {
                use tantivy::columnar::DynamicColumn as C;
                let mut add = |k: String| *values.entry(k).or_insert(0) += 1;
                for (col, ords) in columns.iter().zip(ords.iter_mut()) {
                    match col {
                        C::Str(c) => {
                            for ord in c.term_ords(doc) {
                                *ords.entry(ord).or_insert(0) += 1;
                            }
                        }
                        C::I64(c) => c.values_for_doc(doc).for_each(|v| add(v.to_string())),
                        C::U64(c) => c.values_for_doc(doc).for_each(|v| add(v.to_string())),
                        C::F64(c) => c
                            .values_for_doc(doc)
                            .for_each(|v| add(serde_json::Value::from(v).to_string())),
                        C::Bool(c) => c.values_for_doc(doc).for_each(|v| add(v.to_string())),
                        _ => {}
                    }
                }
            }
            ValueCountsSegment::Entries {
                field,
                recheck,
                must_recheck,
                counts,
            } => {
                let Some(entry) = recheck.entry(doc) else {
                    return;
                };
                if *must_recheck && !recheck.query.matches(&entry) {
                    return;
                }
                crate::query::for_each_value(&entry, field, &mut |v| {
                    let key = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => return,
                        other => other.to_string(),
                    };
                    *counts.entry(key).or_insert(0) += 1;
                });
            }
        }
    }

    fn harvest(self) -> HashMap<String, u64> {
        match self {
            ValueCountsSegment::Column { column, ords, .. } => {
                let mut out = HashMap::new();
                if let Some(c) = column {
                    let mut s = String::new();
                    for (ord, n) in ords {
                        s.clear();
                        if c.ord_to_str(ord, &mut s).unwrap_or(false) {
                            *out.entry(s.clone()).or_insert(0) += n;
                        }
                    }
                }
                out
            }
            ValueCountsSegment::Level { counts, .. } => counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| {
                    let name = if i == 0 {
                        String::new()
                    } else {
                        pharos_model::LogLevel::from_rank(i as u8 - 1)
                            .map(|l| l.as_str().to_string())
                            .unwrap_or_default()
                    };
                    (name, *n)
                })
                .filter(|(k, _)| !k.is_empty())
                .collect(),
            ValueCountsSegment::Json {
                columns,
                ords,
                mut values,
            } => {
                let mut s = String::new();
                for (col, ords) in columns.iter().zip(ords) {
                    if let tantivy::columnar::DynamicColumn::Str(c) = col {
                        for (ord, n) in ords {
                            s.clear();
                            if c.ord_to_str(ord, &mut s).unwrap_or(false) {
                                *values.entry(s.clone()).or_insert(0) += n;
                            }
                        }
                    }
                }
                values
            }
            ValueCountsSegment::Entries { counts, .. } => counts,
        }
    }
}

/// Every candidate's `(time, seq, address)`, up to `cap` over all segments: LogQL reads
/// each candidate itself, so the index only narrows and no document is loaded here. `seen`
/// counts every candidate; above `cap` the caller reports too many.
pub(crate) struct AllHits {
    pub cap: usize,
    pub seen: Arc<std::sync::atomic::AtomicUsize>,
}

pub(crate) struct AllHitsSegment {
    cap: usize,
    seen: Arc<std::sync::atomic::AtomicUsize>,
    time: Column<i64>,
    seq: Column<u64>,
    segment: SegmentOrdinal,
    hits: Vec<Hit>,
}

impl Collector for AllHits {
    type Fruit = Vec<Hit>;
    type Child = AllHitsSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<AllHitsSegment> {
        Ok(AllHitsSegment {
            cap: self.cap,
            seen: self.seen.clone(),
            time: reader.fast_fields().i64("time")?,
            seq: reader.fast_fields().u64("seq")?,
            segment,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for AllHitsSegment {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= self.cap {
            return;
        }
        let t = self.time.first(doc).unwrap_or(i64::MIN);
        let s = self.seq.first(doc).unwrap_or(0);
        self.hits.push((t, s, DocAddress::new(self.segment, doc)));
    }

    fn harvest(self) -> Vec<Hit> {
        self.hits
    }
}
