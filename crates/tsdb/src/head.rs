//! The head: the recent data of every active series in memory, in compressed chunks,
//! with the inverted index (label pair → series ids) that selectors are answered from.
//! Older data is cut into blocks by compaction; the WAL rebuilds the head on start.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use pharos_model::series::{LabelMatcher, LabelSet, MatchOp, Sample};

use crate::chunk::{ChunkIter, XorChunk};

/// A sealed chunk: encoded bytes and its time range.
pub struct SealedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u16,
    pub bytes: Box<[u8]>,
}

impl SealedChunk {
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(&self.bytes, self.count)
    }
}

#[derive(Default)]
pub struct SeriesData {
    pub sealed: Vec<SealedChunk>,
    pub open: Option<XorChunk>,
    /// Newest sample time and value (for out-of-order and duplicate checks).
    pub last: Option<(i64, u64)>,
}

impl SeriesData {
    pub fn append(&mut self, t: i64, v: f64) {
        let open = self.open.get_or_insert_with(XorChunk::new);
        if open.is_full() {
            let full = std::mem::replace(open, XorChunk::new());
            self.sealed.push(SealedChunk {
                min_t: full.min_time(),
                max_t: full.max_time(),
                count: full.len(),
                bytes: full.bytes().to_vec().into_boxed_slice(),
            });
        }
        let open = self.open.as_mut().expect("just set");
        open.append(t, v);
        self.last = Some((t, v.to_bits()));
    }

    /// Drops samples before `cut` (they are in a block now). Chunks straddling the cut
    /// are re-encoded, so the head never holds a sample twice with a block.
    pub fn truncate_before(&mut self, cut: i64) {
        self.sealed.retain(|c| c.max_t >= cut);
        if let Some(first) = self.sealed.first()
            && first.min_t < cut
        {
            let mut c = XorChunk::new();
            for s in first.iter().filter(|s| s.t >= cut) {
                c.append(s.t, s.v);
            }
            self.sealed[0] = SealedChunk {
                min_t: c.min_time(),
                max_t: c.max_time(),
                count: c.len(),
                bytes: c.bytes().to_vec().into_boxed_slice(),
            };
        }
        if let Some(o) = &self.open
            && !o.is_empty()
            && o.min_time() < cut
        {
            let mut c = XorChunk::new();
            for s in o.iter().filter(|s| s.t >= cut) {
                c.append(s.t, s.v);
            }
            self.open = Some(c);
        }
    }

    pub fn samples(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        for c in &self.sealed {
            if c.max_t >= mint && c.min_t <= maxt {
                out.extend(c.iter().filter(|s| s.t >= mint && s.t <= maxt));
            }
        }
        if let Some(o) = &self.open
            && !o.is_empty()
            && o.max_time() >= mint
            && o.min_time() <= maxt
        {
            out.extend(o.iter().filter(|s| s.t >= mint && s.t <= maxt));
        }
    }

    pub fn min_time(&self) -> Option<i64> {
        self.sealed.first().map(|c| c.min_t).or_else(|| {
            self.open
                .as_ref()
                .filter(|o| !o.is_empty())
                .map(|o| o.min_time())
        })
    }

    pub fn heap_bytes(&self) -> usize {
        self.sealed
            .iter()
            .map(|c| c.bytes.len() + std::mem::size_of::<SealedChunk>())
            .sum::<usize>()
            + self
                .open
                .as_ref()
                .map(|o| o.heap_bytes() + std::mem::size_of::<XorChunk>())
                .unwrap_or(0)
    }

    pub fn chunks(&self) -> usize {
        self.sealed.len()
            + self
                .open
                .as_ref()
                .map(|o| !o.is_empty() as usize)
                .unwrap_or(0)
    }

    pub fn sample_count(&self) -> u64 {
        self.sealed.iter().map(|c| c.count as u64).sum::<u64>()
            + self.open.as_ref().map(|o| o.len() as u64).unwrap_or(0)
    }
}

pub struct MemSeries {
    pub id: u64,
    pub labels: LabelSet,
    /// When the series was created (wall clock ms), for the "fastest-growing" view.
    pub created_ms: i64,
    pub data: Mutex<SeriesData>,
}

#[derive(Default)]
pub struct Index {
    pub series: HashMap<u64, Arc<MemSeries>>,
    by_hash: HashMap<u64, Vec<u64>>,
    /// name → value → ids (ascending).
    pub postings: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    pub next_id: u64,
}

pub fn hash_labels(labels: &LabelSet) -> u64 {
    // A fixed-key hasher: the same labels hash the same across threads and runs.
    let mut h =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    labels.hash(&mut h);
    h.finish()
}

impl Index {
    pub fn get(&self, hash: u64, labels: &LabelSet) -> Option<&Arc<MemSeries>> {
        self.by_hash
            .get(&hash)?
            .iter()
            .filter_map(|id| self.series.get(id))
            .find(|s| &s.labels == labels)
    }

    /// Inserts a series; `id` is given on WAL replay, otherwise the next free one.
    pub fn insert(
        &mut self,
        hash: u64,
        labels: LabelSet,
        id: Option<u64>,
        now_ms: i64,
    ) -> Arc<MemSeries> {
        let id = id.unwrap_or(self.next_id + 1);
        self.next_id = self.next_id.max(id);
        for l in labels.iter() {
            let ids = self
                .postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default();
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
            labels,
            created_ms: now_ms,
            data: Mutex::new(SeriesData::default()),
        });
        self.by_hash.entry(hash).or_default().push(id);
        self.series.insert(id, s.clone());
        s
    }

    pub fn remove(&mut self, id: u64) {
        let Some(s) = self.series.remove(&id) else {
            return;
        };
        let hash = hash_labels(&s.labels);
        if let Some(v) = self.by_hash.get_mut(&hash) {
            v.retain(|x| *x != id);
            if v.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        for l in s.labels.iter() {
            if let Some(values) = self.postings.get_mut(&l.name) {
                if let Some(ids) = values.get_mut(&l.value) {
                    ids.retain(|x| *x != id);
                    if ids.is_empty() {
                        values.remove(&l.value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&l.name);
                }
            }
        }
    }

    /// Ids of the series matching every matcher.
    pub fn select(&self, matchers: &[LabelMatcher]) -> Vec<u64> {
        let candidates = candidates(&self.postings, matchers).unwrap_or_else(|| {
            let mut all: Vec<u64> = self.series.keys().copied().collect();
            all.sort_unstable();
            all
        });
        candidates
            .into_iter()
            .filter(|id| {
                self.series
                    .get(id)
                    .is_some_and(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)))
            })
            .collect()
    }
}

/// A narrowed candidate list from the postings (the smallest from any matcher that
/// cannot match an empty value), or `None` when every matcher matches the empty value.
pub fn candidates(
    postings: &BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    matchers: &[LabelMatcher],
) -> Option<Vec<u64>> {
    let mut best: Option<Vec<u64>> = None;
    for m in matchers {
        if m.matches_empty() {
            continue;
        }
        let Some(values) = postings.get(&m.name) else {
            return Some(Vec::new());
        };
        let list: Vec<u64> = match m.op {
            MatchOp::Equal => values.get(&m.value).cloned().unwrap_or_default(),
            _ => {
                let mut ids: Vec<u64> = values
                    .iter()
                    .filter(|(v, _)| m.matches(v))
                    .flat_map(|(_, ids)| ids.iter().copied())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }
        };
        if best.as_ref().is_none_or(|b| list.len() < b.len()) {
            best = Some(list);
        }
    }
    best
}

/// The head: index under one lock, each series' data under its own.
#[derive(Default)]
pub struct Head {
    pub index: RwLock<Index>,
}

impl Head {
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
        Ok((idx.insert(hash, labels.clone(), None, now_ms), true))
    }

    pub fn by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.index
            .read()
            .expect("head index lock")
            .series
            .get(&id)
            .cloned()
    }
}
