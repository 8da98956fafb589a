//! A consistent copy of the store while it takes appends: every block as it is (blocks
//! never change once written) and the WAL up to the last commit, so the copy opens to
//! every sample committed before the snapshot began. The maintenance lock keeps
//! compaction, retention and WAL checkpoints from removing files while they are copied.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::io;
use crate::{Tsdb, TsdbError};

/// The store's format: the block format it writes. A store written in a newer format is
/// refused by the binary before it opens anything.
pub const STORE_FORMAT: u32 = crate::block::FORMAT;

impl Tsdb {
    /// Writes the snapshot into `dest` (made if missing; it must hold no other store).
    /// Blocks are hard-linked where `dest` is on the same file system, copied otherwise.
    pub fn snapshot(&self, dest: &Path) -> Result<(), TsdbError> {
        let _no_maintenance = self.maintenance.lock().expect("maintenance lock");
        let (segment, size) = {
            let mut wal = self.wal.lock().expect("wal lock");
            wal.flush()?;
            wal.dirty = true;
            wal.sync()?;
            wal.position()
        };
        let blocks_dest = dest.join("blocks");
        fs::create_dir_all(&blocks_dest)
            .map_err(io(format!("creating {}", blocks_dest.display())))?;
        for block in self.blocks.read().expect("blocks lock").iter() {
            let Some(name) = block.dir.file_name() else {
                continue;
            };
            let to = blocks_dest.join(name);
            fs::create_dir_all(&to).map_err(io(format!("creating {}", to.display())))?;
            for entry in
                fs::read_dir(&block.dir).map_err(io(format!("reading {}", block.dir.display())))?
            {
                let from = entry.map_err(io("reading a block directory"))?.path();
                let file = to.join(from.file_name().unwrap_or_default());
                link_or_copy(&from, &file).map_err(io(format!(
                    "copying {} to {}",
                    from.display(),
                    file.display()
                )))?;
            }
        }
        let wal_dest = dest.join("wal");
        fs::create_dir_all(&wal_dest).map_err(io(format!("creating {}", wal_dest.display())))?;
        let wal_dir = self.dir.join("wal");
        for entry in fs::read_dir(&wal_dir).map_err(io(format!("reading {}", wal_dir.display())))? {
            let from = entry.map_err(io("reading the WAL directory"))?.path();
            let Some(n) = from
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            // Segments after the one in use at the snapshot hold only later commits.
            if n > segment {
                continue;
            }
            let limit = if n == segment { size } else { u64::MAX };
            let to = wal_dest.join(from.file_name().unwrap_or_default());
            copy_prefix(&from, &to, limit).map_err(io(format!(
                "copying {} to {}",
                from.display(),
                to.display()
            )))?;
        }
        Ok(())
    }
}

/// Blocks are never written again once made, so a hard link is a copy that costs nothing.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(|_| ()))
}

/// The first `limit` bytes of `from`, synced: the WAL's file in use grows while it is read.
fn copy_prefix(from: &Path, to: &Path, limit: u64) -> std::io::Result<()> {
    let mut out = File::create(to)?;
    std::io::copy(&mut File::open(from)?.take(limit), &mut out)?;
    out.flush()?;
    out.sync_all()
}
