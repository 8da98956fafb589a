//! The head: the recent data of every active series, each with its open chunk in memory
//! and its sealed chunks in the head chunk files, and the inverted index (label pair →
//! series ids) that selectors are answered from. Label strings are interned once in a
//! reference-counted symbol table; a series holds only symbol ids. Older data is cut into
//! blocks by compaction; the WAL rebuilds the head on start.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use pharos_model::series::{Label, LabelMatcher, LabelSet, MatchOp, Sample};

use crate::TsdbError;
use crate::chunk::{ChunkIter, XorChunk};
use crate::head_chunks::HeadChunkFiles;

/// A sealed chunk: its time range, sample count and where its bytes are in the head
/// chunk files (32 bytes, as Prometheus's memory-mapped chunk references).
pub struct SealedChunk {
    pub min_t: i64,
    pub max_t: i64,
    file: u32,
    offset: u32,
    len: u16,
    pub count: u16,
}

impl SealedChunk {
    fn seal(c: &XorChunk, files: &HeadChunkFiles) -> SealedChunk {
        let (file, offset) = files.write(c.max_time(), c.bytes());
        SealedChunk {
            min_t: c.min_time(),
            max_t: c.max_time(),
            file,
            offset,
            // 120 samples take at most 120 × 19 bytes.
            len: c.bytes().len() as u16,
            count: c.len(),
        }
    }

    /// The chunk's encoded bytes, read into `buf`.
    pub fn bytes<'a>(
        &self,
        files: &HeadChunkFiles,
        buf: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], TsdbError> {
        buf.resize(self.len as usize, 0);
        files.read(self.file, self.offset, buf)?;
        Ok(buf)
    }
}

#[derive(Default)]
pub struct SeriesData {
    pub sealed: Vec<SealedChunk>,
    pub open: XorChunk,
}

impl SeriesData {
    /// Newest sample time and value bits (for out-of-order and duplicate checks).
    pub fn last(&self) -> Option<(i64, u64)> {
        self.open.last()
    }

    /// Appends a sample after the newest one, sealing the open chunk when it is full.
    pub fn append(&mut self, t: i64, v: f64, files: &HeadChunkFiles) {
        if self.open.is_full() {
            // Exact growth: a series seals a chunk every half hour at a 15 s interval,
            // and spare capacity would be paid by every series.
            self.sealed.reserve_exact(1);
            self.sealed.push(SealedChunk::seal(&self.open, files));
            self.open = XorChunk::with_capacity(self.open.bytes().len() + 8);
        }
        self.open.append(t, v);
    }

    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.is_empty()
    }

    /// Drops samples before `cut` (they are in a block now). Chunks straddling the cut
    /// are re-encoded, so the head never holds a sample twice with a block.
    pub fn truncate_before(&mut self, cut: i64, files: &HeadChunkFiles) {
        self.sealed.retain(|c| c.max_t >= cut);
        self.sealed.shrink_to_fit();
        if let Some(first) = self.sealed.first()
            && first.min_t < cut
        {
            let mut buf = Vec::new();
            let mut c = XorChunk::new();
            match first.bytes(files, &mut buf) {
                Ok(bytes) => {
                    for s in ChunkIter::new(bytes, first.count).filter(|s| s.t >= cut) {
                        c.append(s.t, s.v);
                    }
                }
                Err(e) => {
                    tracing::warn!(operation = "tsdb_truncate", error = %e, "dropping an unreadable head chunk");
                }
            }
            if c.is_empty() {
                self.sealed.remove(0);
            } else {
                self.sealed[0] = SealedChunk::seal(&c, files);
            }
        }
        if !self.open.is_empty() && self.open.min_time() < cut {
            let mut c = XorChunk::new();
            for s in self.open.iter().filter(|s| s.t >= cut) {
                c.append(s.t, s.v);
            }
            self.open = c;
        }
    }

    /// Calls `f(count, bytes)` for every chunk, oldest first (the WAL checkpoint).
    pub fn for_each_chunk(
        &self,
        files: &HeadChunkFiles,
        mut f: impl FnMut(u16, &[u8]),
    ) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        for c in &self.sealed {
            f(c.count, c.bytes(files, &mut buf)?);
        }
        if !self.open.is_empty() {
            f(self.open.len(), self.open.bytes());
        }
        Ok(())
    }

    pub fn samples(
        &self,
        mint: i64,
        maxt: i64,
        files: &HeadChunkFiles,
        out: &mut Vec<Sample>,
    ) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        for c in &self.sealed {
            if c.max_t >= mint && c.min_t <= maxt {
                let bytes = c.bytes(files, &mut buf)?;
                out.extend(ChunkIter::new(bytes, c.count).filter(|s| s.t >= mint && s.t <= maxt));
            }
        }
        let o = &self.open;
        if !o.is_empty() && o.max_time() >= mint && o.min_time() <= maxt {
            out.extend(o.iter().filter(|s| s.t >= mint && s.t <= maxt));
        }
        Ok(())
    }

    /// Whether any sample lies in `[mint, maxt]` (judged by chunk time ranges).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.sealed
            .iter()
            .any(|c| c.max_t >= mint && c.min_t <= maxt)
            || (!self.open.is_empty()
                && self.open.max_time() >= mint
                && self.open.min_time() <= maxt)
    }

    pub fn min_time(&self) -> Option<i64> {
        self.sealed
            .first()
            .map(|c| c.min_t)
            .or_else(|| (!self.open.is_empty()).then(|| self.open.min_time()))
    }

    /// Heap bytes outside the struct itself.
    pub fn heap_bytes(&self) -> usize {
        self.sealed.capacity() * size_of::<SealedChunk>() + self.open.heap_bytes()
    }

    pub fn chunks(&self) -> usize {
        self.sealed.len() + !self.open.is_empty() as usize
    }

    pub fn sample_count(&self) -> u64 {
        self.sealed.iter().map(|c| c.count as u64).sum::<u64>() + self.open.len() as u64
    }
}

pub struct MemSeries {
    pub id: u64,
    /// Symbol ids: name, value, name, value … in label-name order.
    labels: Box<[u32]>,
    /// When the series was created (wall clock ms), for the "fastest-growing" view.
    pub created_ms: i64,
    /// Whether the WAL holds this series' record. An appender creates series before it
    /// commits (and may never commit), so the first commit with a sample of the series
    /// writes the record, whoever created it.
    pub logged: AtomicBool,
    pub data: Mutex<SeriesData>,
}

impl MemSeries {
    fn label_syms(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.labels.chunks_exact(2).map(|p| (p[0], p[1]))
    }
}

/// Interned label strings, reference-counted by the series using them; freed ids are
/// reused, so label churn does not grow the table without bound.
#[derive(Default)]
pub struct Symbols {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
    refs: Vec<u32>,
    free: Vec<u32>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            self.refs[id as usize] += 1;
            return id;
        }
        let a: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = a.clone();
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.strings.push(a.clone());
                self.refs.push(1);
                (self.strings.len() - 1) as u32
            }
        };
        self.ids.insert(a, id);
        id
    }

    fn release(&mut self, id: u32) {
        let r = &mut self.refs[id as usize];
        *r -= 1;
        if *r == 0 {
            let s = std::mem::replace(&mut self.strings[id as usize], Arc::from(""));
            self.ids.remove(&s);
            self.free.push(id);
        }
    }

    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    /// Every string in use, sorted (a block's symbol table).
    pub fn sorted(&self) -> Vec<String> {
        let mut v: Vec<String> = self.ids.keys().map(|s| s.to_string()).collect();
        v.sort_unstable();
        v
    }

    fn heap_bytes(&self) -> usize {
        let strings: usize = self
            .strings
            .iter()
            .map(|s| (16 + s.len()).next_multiple_of(8))
            .sum();
        strings
            + hash_map_bytes(&self.ids)
            + self.strings.capacity() * size_of::<Arc<str>>()
            + self.refs.capacity() * 4
            + self.free.capacity() * 4
    }
}

/// A hash map's table: its slots and one control byte each.
fn hash_map_bytes<K, V>(m: &HashMap<K, V>) -> usize {
    m.capacity() * (size_of::<(K, V)>() + 1)
}

/// Series by id and by label hash, the postings, and the symbols they all refer to.
#[derive(Default)]
pub struct Index {
    pub symbols: Symbols,
    pub series: HashMap<u64, Arc<MemSeries>>,
    /// Label hash → the first series with it; more in `collisions` (rare).
    by_hash: HashMap<u64, u64>,
    collisions: HashMap<u64, Vec<u64>>,
    /// Name symbol → value symbol → series ids (ascending).
    pub postings: HashMap<u32, HashMap<u32, Vec<u64>>>,
    pub next_id: u64,
}

pub fn hash_labels(labels: &LabelSet) -> u64 {
    // A fixed-key hasher: the same labels hash the same across threads and runs.
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(labels)
}

impl Index {
    fn same_labels(&self, s: &MemSeries, labels: &LabelSet) -> bool {
        s.labels.len() == 2 * labels.len()
            && s.label_syms()
                .zip(labels.iter())
                .all(|((n, v), l)| self.symbols.get(n) == l.name && self.symbols.get(v) == l.value)
    }

    pub fn get(&self, hash: u64, labels: &LabelSet) -> Option<&Arc<MemSeries>> {
        let first = self.by_hash.get(&hash)?;
        std::iter::once(first)
            .chain(self.collisions.get(&hash).into_iter().flatten())
            .filter_map(|id| self.series.get(id))
            .find(|s| self.same_labels(s, labels))
    }

    /// Orders two series as their label sets order.
    pub fn cmp_labels(&self, a: &MemSeries, b: &MemSeries) -> std::cmp::Ordering {
        let key = |(n, v): (u32, u32)| (self.symbols.get(n), self.symbols.get(v));
        a.label_syms().map(key).cmp(b.label_syms().map(key))
    }

    /// The series' labels as a label set (allocates: for answers, not for appends).
    pub fn labels(&self, s: &MemSeries) -> LabelSet {
        LabelSet::from_sorted(
            s.label_syms()
                .map(|(n, v)| Label {
                    name: self.symbols.get(n).to_string(),
                    value: self.symbols.get(v).to_string(),
                })
                .collect(),
        )
    }

    /// Inserts a series; `id` is given on WAL replay, otherwise the next free one.
    pub fn insert(
        &mut self,
        hash: u64,
        labels: &LabelSet,
        id: Option<u64>,
        now_ms: i64,
    ) -> Arc<MemSeries> {
        let id = id.unwrap_or(self.next_id + 1);
        self.next_id = self.next_id.max(id);
        let mut syms = Vec::with_capacity(labels.len() * 2);
        for l in labels.iter() {
            let n = self.symbols.intern(&l.name);
            let v = self.symbols.intern(&l.value);
            syms.extend([n, v]);
            let ids = self.postings.entry(n).or_default().entry(v).or_default();
            // Ids only grow, except on replay of a checkpoint; keep the list sorted.
            match ids.last() {
                Some(&last) if last > id => {
                    if let Err(p) = ids.binary_search(&id) {
                        ids.insert(p, id);
                    }
                }
                _ => ids.push(id),
            }
        }
        let s = Arc::new(MemSeries {
            id,
            labels: syms.into_boxed_slice(),
            created_ms: now_ms,
            logged: AtomicBool::new(false),
            data: Mutex::new(SeriesData::default()),
        });
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(hash).or_default().push(id);
            }
        }
        self.series.insert(id, s.clone());
        s
    }

    pub fn remove(&mut self, id: u64) {
        let Some(s) = self.series.remove(&id) else {
            return;
        };
        let hash = hash_labels(&self.labels(&s));
        if self.by_hash.get(&hash) == Some(&id) {
            self.by_hash.remove(&hash);
            // Promote a colliding series, if any.
            if let Some(v) = self.collisions.get_mut(&hash) {
                let next = v.remove(0);
                if v.is_empty() {
                    self.collisions.remove(&hash);
                }
                self.by_hash.insert(hash, next);
            }
        } else if let Some(v) = self.collisions.get_mut(&hash) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.collisions.remove(&hash);
            }
        }
        for (n, v) in s.label_syms() {
            if let Some(values) = self.postings.get_mut(&n) {
                if let Some(ids) = values.get_mut(&v) {
                    if let Ok(p) = ids.binary_search(&id) {
                        ids.remove(p);
                    }
                    if ids.is_empty() {
                        values.remove(&v);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&n);
                }
            }
            self.symbols.release(n);
            self.symbols.release(v);
        }
    }

    /// The postings of one matcher that cannot match a missing label: the list of its
    /// value for `=`, the union over the matching values otherwise.
    fn matcher_postings(&self, m: &LabelMatcher) -> Vec<u64> {
        let Some(values) = self
            .symbols
            .lookup(&m.name)
            .and_then(|n| self.postings.get(&n))
        else {
            return Vec::new();
        };
        if m.op == MatchOp::Equal {
            return self
                .symbols
                .lookup(&m.value)
                .and_then(|v| values.get(&v))
                .cloned()
                .unwrap_or_default();
        }
        let mut ids: Vec<u64> = values
            .iter()
            .filter(|(v, _)| m.matches(self.symbols.get(**v)))
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Ids of the series matching every matcher, ascending. The postings of the matchers
    /// that need the label to be present are intersected; the rest are checked per series.
    pub fn select(&self, matchers: &[LabelMatcher]) -> Vec<u64> {
        let mut lists: Vec<Vec<u64>> = matchers
            .iter()
            .filter(|m| !m.matches_empty())
            .map(|m| self.matcher_postings(m))
            .collect();
        let candidates = if lists.is_empty() {
            let mut all: Vec<u64> = self.series.keys().copied().collect();
            all.sort_unstable();
            all
        } else {
            lists.sort_by_key(Vec::len);
            let mut it = lists.into_iter();
            let first = it.next().unwrap_or_default();
            it.fold(first, |acc, l| intersect(&acc, &l))
        };
        let resolved: Vec<(Option<u32>, &LabelMatcher)> = matchers
            .iter()
            .map(|m| (self.symbols.lookup(&m.name), m))
            .collect();
        candidates
            .into_iter()
            .filter(|id| {
                self.series.get(id).is_some_and(|s| {
                    resolved.iter().all(|(name, m)| {
                        let value = name
                            .and_then(|n| s.label_syms().find(|(sn, _)| *sn == n))
                            .map(|(_, v)| self.symbols.get(v))
                            .unwrap_or("");
                        m.matches(value)
                    })
                })
            })
            .collect()
    }

    /// Estimated heap bytes of the index, the symbols and every series (struct, labels,
    /// chunk list, open chunk); sealed chunks on disk are not counted.
    pub fn heap_bytes(&self) -> usize {
        // An allocation's bookkeeping in a typical malloc.
        const ALLOC: usize = 16;
        let mut total = self.symbols.heap_bytes()
            + hash_map_bytes(&self.series)
            + hash_map_bytes(&self.by_hash)
            + hash_map_bytes(&self.collisions)
            + hash_map_bytes(&self.postings);
        for values in self.postings.values() {
            total += hash_map_bytes(values);
            total += values
                .values()
                .map(|ids| ids.capacity() * 8 + ALLOC)
                .sum::<usize>();
        }
        for s in self.series.values() {
            // Arc counts + the struct, the label slice, the chunk list and open chunk.
            total += 16 + size_of::<MemSeries>() + ALLOC;
            total += s.labels.len() * 4 + ALLOC;
            let d = s.data.lock().expect("series lock");
            total += d.heap_bytes() + 2 * ALLOC;
        }
        total
    }
}

/// Intersection of two ascending id lists.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The head: index under one lock, each series' data under its own, sealed chunks in
/// the head chunk files.
pub struct Head {
    pub index: RwLock<Index>,
    pub files: HeadChunkFiles,
}

impl Head {
    pub fn new(files: HeadChunkFiles) -> Head {
        Head {
            index: RwLock::default(),
            files,
        }
    }

    pub fn get_or_create(
        &self,
        labels: &LabelSet,
        now_ms: i64,
        max_series: usize,
    ) -> Result<(Arc<MemSeries>, bool), usize> {
        let hash = hash_labels(labels);
        if let Some(s) = self
            .index
            .read()
            .expect("head index lock")
            .get(hash, labels)
        {
            return Ok((s.clone(), false));
        }
        let mut idx = self.index.write().expect("head index lock");
        if let Some(s) = idx.get(hash, labels) {
            return Ok((s.clone(), false));
        }
        if idx.series.len() >= max_series {
            return Err(idx.series.len());
        }
        Ok((idx.insert(hash, labels, None, now_ms), true))
    }

    pub fn by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.index
            .read()
            .expect("head index lock")
            .series
            .get(&id)
            .cloned()
    }

    /// Drops head data before `cut` and the series left empty that no appender holds
    /// (an appender's uncommitted samples keep their series).
    pub fn truncate(&self, cut: i64) {
        let mut idx = self.index.write().expect("head index lock");
        let mut empty = Vec::new();
        for s in idx.series.values() {
            let mut d = s.data.lock().expect("series lock");
            d.truncate_before(cut, &self.files);
            // The index holds one reference; any other is an appender's (or a query's).
            if d.is_empty() && Arc::strong_count(s) == 1 {
                empty.push(s.id);
            }
        }
        for id in empty {
            idx.remove(id);
        }
        self.files.drop_before(cut);
    }

    /// Marks a series' record as written to the WAL.
    pub fn mark_logged(s: &MemSeries) {
        s.logged.store(true, Ordering::Relaxed);
    }
}
