//! Compaction: cutting the head's oldest block span into a block, then checkpointing the
//! WAL down to what the head still holds, and merging finished blocks into larger ones so
//! that long-range queries and retention deal with few blocks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pharos_model::series::LabelSet;

use crate::block::{self, Block, BlockWriter};
use crate::error::io;
use crate::head::MemSeries;
use crate::query::sort_dedup;
use crate::{Tsdb, TsdbError};

impl Tsdb {
    /// Cuts head data older than a block span into blocks, merges blocks, applies
    /// retention, truncates the WAL. Cheap when there is nothing to do; the binary calls it
    /// every minute from a blocking thread.
    pub fn maintain(&self) -> Result<(), TsdbError> {
        let _one_at_a_time = self.maintenance.lock().expect("maintenance lock");
        self.wal.lock().expect("wal lock").sync()?;
        while self.cut_block()? {}
        self.merge_blocks()?;
        self.apply_retention()?;
        Ok(())
    }

    fn head_min_time(&self) -> Option<i64> {
        let idx = self.head.index.read().expect("head index lock");
        idx.series
            .values()
            .filter_map(|s| s.data.lock().expect("series lock").min_time())
            .min()
    }

    /// Writes the oldest block-span of the head into a block when the head spans more
    /// than 1.5 block spans (as Prometheus does), then truncates head and WAL.
    fn cut_block(&self) -> Result<bool, TsdbError> {
        let span = self.opts.block_duration_ms.max(1);
        let Some(hmin) = self.head_min_time() else {
            return Ok(false);
        };
        let hmin = hmin.max(self.min_valid.load(Ordering::SeqCst));
        let hmax = self.max_time.load(Ordering::Relaxed);
        if hmax - hmin <= span * 3 / 2 {
            return Ok(false);
        }
        let bmin = hmin.div_euclid(span) * span;
        let bmax = bmin + span;
        // Labels are compared through the symbols rather than materialised all at once:
        // the head may hold millions of series.
        let (symbols, series) = {
            let idx = self.head.index.read().expect("head index lock");
            let mut series: Vec<Arc<MemSeries>> = idx.series.values().cloned().collect();
            series.sort_unstable_by(|a, b| idx.cmp_labels(a, b));
            (idx.symbols.sorted(), series)
        };
        let mut w = BlockWriter::create(&self.dir.join("blocks"), bmin, bmax, 1, symbols)?;
        let mut samples = Vec::new();
        for s in series {
            samples.clear();
            s.data.lock().expect("series lock").samples(
                bmin,
                bmax - 1,
                &self.head.files,
                &mut samples,
            )?;
            if !samples.is_empty() {
                let labels = self.head.index.read().expect("head index lock").labels(&s);
                w.add_series(&labels, &samples)?;
            }
        }
        let written = w.finish()?;
        if let Some(dir) = written {
            let b = Arc::new(Block::open(&dir)?);
            let mut blocks = self.blocks.write().expect("blocks lock");
            blocks.push(b);
            blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
        }
        self.min_valid.fetch_max(bmax, Ordering::SeqCst);
        self.truncate_head(bmax)?;
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Drops head data before `cut` (now in blocks), removes series left empty, and
    /// rewrites the WAL as a checkpoint of what remains.
    fn truncate_head(&self, cut: i64) -> Result<(), TsdbError> {
        // The WAL lock keeps commits out until the checkpoint holds everything they wrote.
        let mut wal = self.wal.lock().expect("wal lock");
        self.head.truncate(cut);
        let idx = self.head.index.read().expect("head index lock");
        let files = &self.head.files;
        let mut failed = Ok(());
        wal.checkpoint(|w| {
            let mut ids: Vec<&u64> = idx.series.keys().collect();
            ids.sort();
            for id in ids {
                let s = &idx.series[id];
                // A series no commit has written yet gets its record with its first sample.
                if !s.logged.load(Ordering::Relaxed) {
                    continue;
                }
                w.add_series(s.id, &idx.labels(s));
                let d = s.data.lock().expect("series lock");
                if let Err(e) =
                    d.for_each_chunk(files, |count, bytes| w.add_chunk(s.id, count, bytes))
                {
                    failed = Err(e);
                    return false;
                }
            }
            true
        })?;
        failed
    }

    /// Merges adjacent blocks into ranges three times larger (6 h, 18 h, 54 h … from 2 h
    /// blocks), up to a tenth of the retention or 31 days, once a range is complete.
    fn merge_blocks(&self) -> Result<(), TsdbError> {
        let base = self.opts.block_duration_ms.max(1);
        let cap = self
            .opts
            .retention_ms
            .map(|r| r / 10)
            .unwrap_or(i64::MAX)
            .min(31 * 86_400_000);
        let mut range = base * 3;
        let mut level = 2;
        while range <= cap {
            let snapshot: Vec<Arc<Block>> = self.blocks.read().expect("blocks lock").clone();
            let mut groups: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
            for b in snapshot {
                let start = b.meta.min_t.div_euclid(range) * range;
                if b.meta.max_t <= start + range {
                    groups.entry(start).or_default().push(b);
                }
            }
            let limit = self.min_valid.load(Ordering::SeqCst);
            for (start, group) in groups {
                if group.len() < 2 || start + range > limit {
                    continue;
                }
                self.merge(&group, start, start + range, level)?;
            }
            range *= 3;
            level += 1;
        }
        Ok(())
    }

    fn merge(
        &self,
        group: &[Arc<Block>],
        min_t: i64,
        max_t: i64,
        level: u32,
    ) -> Result<(), TsdbError> {
        let mut w = BlockWriter::create(
            &self.dir.join("blocks"),
            min_t,
            max_t,
            level,
            block::union_symbols(group.iter().map(|b| &**b)),
        )?;
        // A k-way merge over the blocks' series, each block in label order.
        let mut cursors: Vec<(usize, u32, Option<LabelSet>)> = group
            .iter()
            .enumerate()
            .map(|(i, b)| (i, 0, (b.series_count() > 0).then(|| b.labels(0))))
            .collect();
        let mut samples = Vec::new();
        while let Some(smallest) = cursors.iter().filter_map(|c| c.2.clone()).min() {
            samples.clear();
            for (i, id, labels) in cursors.iter_mut() {
                if labels.as_ref() != Some(&smallest) {
                    continue;
                }
                let b = &group[*i];
                b.samples(*id, i64::MIN, i64::MAX, &mut samples)?;
                *id += 1;
                *labels = (*id < b.series_count()).then(|| b.labels(*id));
            }
            sort_dedup(&mut samples);
            w.add_series(&smallest, &samples)?;
        }
        let merged = match w.finish()? {
            Some(dir) => Some(Arc::new(Block::open(&dir)?)),
            None => None,
        };
        let mut blocks = self.blocks.write().expect("blocks lock");
        blocks.retain(|b| !group.iter().any(|g| Arc::ptr_eq(g, b)));
        blocks.extend(merged);
        blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
        drop(blocks);
        for g in group {
            std::fs::remove_dir_all(&g.dir).map_err(io(format!("removing {}", g.dir.display())))?;
        }
        self.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
