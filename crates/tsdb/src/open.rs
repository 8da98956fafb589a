//! Opening and closing the store: [`Options`], loading the blocks (and clearing what an
//! interrupted write or merge left behind), and replaying the WAL into the head so that
//! every acknowledged commit is there again after a crash.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use crate::block::Block;
use crate::error::io;
use pharos_model::clock::now_ms;

use crate::head::{self, Head};
use crate::head_chunks::HeadChunkFiles;
use crate::wal::{Record, Wal};
use crate::{Tsdb, TsdbError, chunk};

/// Store options; every limit has a default that suits a small team's machine.
#[derive(Clone, Debug)]
pub struct Options {
    /// Delete blocks whose newest sample is older than this (ms). `None`: keep forever.
    pub retention_ms: Option<i64>,
    /// Delete oldest blocks while the data on disk is larger than this. `None`: no limit.
    pub retention_bytes: Option<u64>,
    /// Time span of a block cut from the head (ms); Prometheus uses 2 h.
    pub block_duration_ms: i64,
    /// The most series the head may hold; appends creating more fail with a limit error.
    pub max_series: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_ms: Some(15 * 24 * 3600 * 1000),
            retention_bytes: None,
            block_duration_ms: 2 * 3600 * 1000,
            max_series: 1_000_000,
        }
    }
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`, replaying the WAL.
    pub fn open(dir: &Path, opts: Options) -> Result<Tsdb, TsdbError> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir)
            .map_err(io(format!("creating {}", blocks_dir.display())))?;
        let mut blocks = Vec::new();
        for e in std::fs::read_dir(&blocks_dir).map_err(io("reading the blocks directory"))? {
            let path = e.map_err(io("reading the blocks directory"))?.path();
            if !path.join("meta.json").exists() {
                // An interrupted write or merge: the data is still in its sources.
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            match Block::open(&path) {
                Ok(b) => blocks.push(Arc::new(b)),
                // Refusing to start would make the newer data unreachable too; the
                // directory stays for inspection.
                Err(e) => tracing::error!(
                    operation = "tsdb_open",
                    block = %path.display(),
                    error = %e,
                    "skipping a block that cannot be read"
                ),
            }
        }
        blocks.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
        // Blocks that a finished merge replaced but could not delete are covered by a
        // bigger block of a higher level: drop them.
        let covered: Vec<usize> = (0..blocks.len())
            .filter(|&i| {
                blocks.iter().enumerate().any(|(j, o)| {
                    j != i
                        && o.meta.level > blocks[i].meta.level
                        && o.meta.min_t <= blocks[i].meta.min_t
                        && o.meta.max_t >= blocks[i].meta.max_t
                })
            })
            .collect();
        for i in covered.into_iter().rev() {
            let b = blocks.remove(i);
            let _ = std::fs::remove_dir_all(&b.dir);
        }
        let min_valid = blocks
            .iter()
            .map(|b| b.meta.max_t)
            .max()
            .unwrap_or(i64::MIN);
        let head = Head::new(HeadChunkFiles::open(&dir.join("chunks_head"))?);
        let mut max_time = i64::MIN;
        let wal = {
            let mut idx = head.index.write().expect("head index lock");
            let files = &head.files;
            let now = now_ms();
            let mut aliases: HashMap<u64, u64> = HashMap::new();
            Wal::open(&dir.join("wal"), |r| match r {
                Record::Series { id, labels } => {
                    let hash = head::hash_labels(&labels);
                    match idx.get(hash, &labels) {
                        None => Head::mark_logged(&idx.insert(hash, &labels, Some(id), now)),
                        // The same labels under an older id (the series was dropped and
                        // created again while old segments were kept): one series.
                        Some(s) if s.id != id => {
                            aliases.insert(id, s.id);
                        }
                        Some(_) => {}
                    }
                }
                Record::Samples(samples) => {
                    for (id, t, v) in samples {
                        let id = aliases.get(&id).copied().unwrap_or(id);
                        if let Some(s) = idx.series.get(&id) {
                            let mut d = s.data.lock().expect("series lock");
                            if d.last().is_none_or(|(lt, _)| t > lt) && t >= min_valid {
                                d.append(t, v, files);
                                max_time = max_time.max(t);
                            }
                        }
                    }
                }
                Record::Chunk { id, count, bytes } => {
                    let id = aliases.get(&id).copied().unwrap_or(id);
                    if let Some(s) = idx.series.get(&id) {
                        let mut d = s.data.lock().expect("series lock");
                        for smp in chunk::ChunkIter::new(&bytes, count) {
                            if d.last().is_none_or(|(lt, _)| smp.t > lt) {
                                d.append(smp.t, smp.v, files);
                                max_time = max_time.max(smp.t);
                            }
                        }
                    }
                }
            })?
        };
        let max_block = blocks
            .iter()
            .map(|b| b.meta.max_t - 1)
            .max()
            .unwrap_or(i64::MIN);
        Ok(Tsdb {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal: Mutex::new(wal),
            blocks: RwLock::new(blocks),
            min_valid: AtomicI64::new(min_valid),
            max_time: AtomicI64::new(max_time.max(max_block)),
            head_max_time: AtomicI64::new(max_time),
            appended: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            maintenance: Mutex::new(()),
        })
    }

    /// Why the last WAL write failed (disk full, read-only, EIO), or `None` once a write
    /// succeeds again; commits are refused meanwhile and nothing else needs resetting.
    pub fn write_failure(&self) -> Option<String> {
        self.wal.lock().expect("wal lock").write_failure.clone()
    }

    /// A WAL write failure within the last `within` (the readiness check's view), even if a
    /// write succeeded since: writes that alternate between failing and succeeding are a
    /// full disk, not a recovered one.
    pub fn recent_write_failure(&self, within: std::time::Duration) -> Option<String> {
        let wal = self.wal.lock().expect("wal lock");
        wal.write_failure.clone().or_else(|| {
            wal.last_failure
                .as_ref()
                .filter(|(at, _)| at.elapsed() < within)
                .map(|(_, e)| e.clone())
        })
    }

    /// Flushes and syncs the WAL (called on shutdown).
    pub fn close(&self) -> Result<(), TsdbError> {
        let mut w = self.wal.lock().expect("wal lock");
        w.flush()?;
        w.dirty = true;
        w.sync()
    }
}
