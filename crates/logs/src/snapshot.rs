//! A consistent copy of the log store while it takes appends. It runs on the indexer
//! thread, after every append sent before it is in the WAL (the WAL thread passes the
//! request on in order) and after a commit of every partition, so the copied indexes hold
//! every entry acknowledged before the snapshot began; the WAL is copied too, so entries
//! acknowledged while the copy ran are indexed again when the copy is opened.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::LogStoreError;
use crate::partition::Partition;

/// The store's format: what its WAL records and index schema look like. A store written
/// in a newer format is refused by the binary before it opens anything.
pub const STORE_FORMAT: u32 = 1;

/// A merge may finish while a partition is copied and delete the files it replaced; the
/// copy then starts over from the new commit, at most this many times.
const ATTEMPTS: usize = 5;

/// Copies each partition's committed index files (hard links where `dest` is on the same
/// file system: tantivy never rewrites a segment file) and the WAL into `dest`.
pub(crate) fn copy_store(
    root: &Path,
    partitions: &[Arc<Partition>],
    dest: &Path,
) -> Result<(), LogStoreError> {
    fs::create_dir_all(dest).map_err(|e| LogStoreError::io(dest, e))?;
    for p in partitions {
        let to = dest.join(p.dir.file_name().unwrap_or_default());
        copy_partition(p, &to)?;
    }
    let wal = root.join("wal");
    let wal_dest = dest.join("wal");
    fs::create_dir_all(&wal_dest).map_err(|e| LogStoreError::io(&wal_dest, e))?;
    let entries = match fs::read_dir(&wal) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LogStoreError::io(&wal, e)),
    };
    for entry in entries {
        let from = entry.map_err(|e| LogStoreError::io(&wal, e))?.path();
        let to = wal_dest.join(from.file_name().unwrap_or_default());
        match copy_synced(&from, &to) {
            Ok(()) => {}
            // Its entries were committed and the segment dropped meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogStoreError::io(&from, e)),
        }
    }
    Ok(())
}

fn copy_partition(p: &Partition, to: &Path) -> Result<(), LogStoreError> {
    let mut last_missing = None;
    for _ in 0..ATTEMPTS {
        let _ = fs::remove_dir_all(to);
        fs::create_dir_all(to).map_err(|e| LogStoreError::io(to, e))?;
        // A committed segment's files are named by its id: `<id>.idx`, `<id>.store`,
        // `<id>.<opstamp>.del`, … (tantivy does not list them publicly).
        let segments = segment_ids(p)?;
        let mut files: Vec<PathBuf> = fs::read_dir(&p.dir)
            .map_err(|e| LogStoreError::io(&p.dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| PathBuf::from(e.file_name()))
            .filter(|name| {
                let name = name.to_string_lossy();
                !name.ends_with(".temp") && segments.iter().any(|id| name.starts_with(id.as_str()))
            })
            .collect();
        files.push(PathBuf::from("meta.json"));
        let mut missing = None;
        for file in files {
            let from = p.dir.join(&file);
            match fs::hard_link(&from, to.join(&file))
                .or_else(|_| copy_synced(&from, &to.join(&file)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing = Some(from);
                    break;
                }
                Err(e) => return Err(LogStoreError::io(&from, e)),
            }
        }
        match missing {
            // The same segments after the copy: the copied meta.json names these files.
            None if segment_ids(p)? == segments => return Ok(()),
            None => last_missing = Some(p.dir.join("meta.json")),
            Some(m) => last_missing = Some(m),
        }
    }
    Err(LogStoreError::Corrupt(format!(
        "the index of {} kept changing while it was copied ({} vanished); try again",
        p.dir.display(),
        last_missing.unwrap_or_default().display()
    )))
}

fn segment_ids(p: &Partition) -> Result<Vec<String>, LogStoreError> {
    Ok(p.index
        .load_metas()?
        .segments
        .iter()
        .map(|s| s.id().uuid_string())
        .collect())
}

fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut out = File::create(to)?;
    std::io::copy(&mut File::open(from)?, &mut out)?;
    out.flush()?;
    out.sync_all()
}
