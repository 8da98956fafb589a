//! Retention: deleting whole blocks, oldest first, once they end `retention_ms` or more
//! before the newest sample (not the clock, so a store that stops receiving data keeps
//! its last data) or while the store is larger than `retention_bytes`.

use std::sync::atomic::Ordering;

use crate::error::io;
use crate::{Tsdb, TsdbError};

impl Tsdb {
    pub(crate) fn apply_retention(&self) -> Result<(), TsdbError> {
        let newest = self.max_time.load(Ordering::Relaxed);
        let mut doomed = Vec::new();
        {
            let mut blocks = self.blocks.write().expect("blocks lock");
            if let Some(r) = self.opts.retention_ms {
                blocks.retain(|b| {
                    let keep = b.meta.max_t > newest.saturating_sub(r);
                    if !keep {
                        doomed.push(b.clone());
                    }
                    keep
                });
            }
            if let Some(limit) = self.opts.retention_bytes {
                let wal = self.wal.lock().expect("wal lock").disk_bytes();
                let mut total: u64 = wal + blocks.iter().map(|b| b.disk_bytes).sum::<u64>();
                while total > limit && !blocks.is_empty() {
                    let b = blocks.remove(0);
                    total -= b.disk_bytes;
                    doomed.push(b);
                }
            }
        }
        for b in doomed {
            tracing::info!(operation = "tsdb_retention", block = %b.dir.display(), "deleting a block past retention");
            std::fs::remove_dir_all(&b.dir).map_err(io(format!("removing {}", b.dir.display())))?;
        }
        Ok(())
    }
}
