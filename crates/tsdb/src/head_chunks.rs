//! Files holding the head's sealed chunks, so that a series keeps only its open chunk in
//! memory (as Prometheus's memory-mapped head chunks). They are a cache, not a source of
//! truth: the WAL (and its checkpoints) holds every head sample, so the files are emptied
//! on open and rebuilt by the replay, and need no fsync. A file is deleted once every
//! chunk in it is older than the head's lower bound. When the disk refuses a write, the
//! chunks are kept in memory under the same kind of reference instead, and the disk is
//! tried again every [`RETRY_DISK_AFTER`], so a disk that was full for a while does not
//! leave every later chunk in memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::TsdbError;

/// Where a new file starts; small enough that truncation frees space soon.
const FILE_BYTES: u64 = 64 << 20;

/// How long after a failed write chunks go to memory before the disk is tried again.
pub const RETRY_DISK_AFTER: Duration = Duration::from_secs(60);

/// The "file" number of chunks kept in memory; their offset is a key in `in_memory`.
const IN_MEMORY: u32 = u32::MAX;

pub struct HeadChunkFiles {
    dir: PathBuf,
    readers: RwLock<HashMap<u32, Arc<File>>>,
    writer: Mutex<Writer>,
    #[cfg(test)]
    fail_writes: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Writer {
    current: Option<(u32, Arc<File>)>,
    size: u64,
    next_seq: u32,
    /// Newest sample time in each file.
    max_t: BTreeMap<u32, i64>,
    /// When a write last failed; chunks go to memory until [`RETRY_DISK_AFTER`] later.
    failed_at: Option<Instant>,
    /// Chunks kept in memory: key → (newest sample time, bytes).
    in_memory: HashMap<u32, (i64, Box<[u8]>)>,
    next_key: u32,
}

impl HeadChunkFiles {
    /// Opens `dir`, deleting what an earlier run left there.
    pub fn open(dir: &Path) -> Result<HeadChunkFiles, TsdbError> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|source| TsdbError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        Ok(HeadChunkFiles {
            dir: dir.to_path_buf(),
            readers: RwLock::default(),
            writer: Mutex::default(),
            #[cfg(test)]
            fail_writes: Default::default(),
        })
    }

    /// Stores a sealed chunk; returns (file, offset) to read it back with.
    pub fn write(&self, max_t: i64, bytes: &[u8]) -> (u32, u32) {
        let mut w = self.writer.lock().expect("head chunk writer lock");
        if w.failed_at.is_none_or(|t| t.elapsed() >= RETRY_DISK_AFTER) {
            match self.try_write(&mut w, max_t, bytes) {
                Ok(at) => {
                    if w.failed_at.take().is_some() {
                        tracing::info!(
                            operation = "tsdb_head_chunks",
                            "head chunks are written to disk again"
                        );
                    }
                    return at;
                }
                Err(e) => {
                    if w.failed_at.is_none() {
                        tracing::warn!(operation = "tsdb_head_chunks", error = %e, "cannot write head chunks to disk; keeping them in memory and trying the disk again every minute");
                    }
                    w.failed_at = Some(Instant::now());
                }
            }
        }
        let mut key = w.next_key;
        while w.in_memory.contains_key(&key) {
            key = key.wrapping_add(1);
        }
        w.next_key = key.wrapping_add(1);
        w.in_memory.insert(key, (max_t, bytes.into()));
        (IN_MEMORY, key)
    }

    fn try_write(&self, w: &mut Writer, max_t: i64, bytes: &[u8]) -> std::io::Result<(u32, u32)> {
        #[cfg(test)]
        if self.fail_writes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        if w.current.is_none() || w.size + bytes.len() as u64 > FILE_BYTES {
            let seq = w.next_seq;
            let file = Arc::new(
                OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(self.dir.join(format!("{seq:08}")))?,
            );
            self.readers
                .write()
                .expect("head chunk readers lock")
                .insert(seq, file.clone());
            w.current = Some((seq, file));
            w.size = 0;
            w.next_seq += 1;
        }
        let (seq, file) = w.current.as_ref().expect("just opened");
        let seq = *seq;
        file.write_all_at(bytes, w.size)?;
        let offset = w.size as u32;
        w.size += bytes.len() as u64;
        let m = w.max_t.entry(seq).or_insert(max_t);
        *m = (*m).max(max_t);
        Ok((seq, offset))
    }

    pub fn read(&self, file: u32, offset: u32, buf: &mut [u8]) -> Result<(), TsdbError> {
        if file == IN_MEMORY {
            let w = self.writer.lock().expect("head chunk writer lock");
            if let Some((_, b)) = w.in_memory.get(&offset)
                && b.len() == buf.len()
            {
                buf.copy_from_slice(b);
                return Ok(());
            }
            return Err(TsdbError::Corrupt {
                path: self.dir.display().to_string(),
                message: "a head chunk kept in memory is missing".into(),
            });
        }
        let f = self
            .readers
            .read()
            .expect("head chunk readers lock")
            .get(&file)
            .cloned();
        let path = || self.dir.join(format!("{file:08}")).display().to_string();
        let Some(f) = f else {
            return Err(TsdbError::Corrupt {
                path: path(),
                message: "a head chunk refers to a deleted file".into(),
            });
        };
        f.read_exact_at(buf, offset as u64)
            .map_err(|source| TsdbError::Io {
                context: format!("reading {}", path()),
                source,
            })
    }

    /// Deletes the files whose chunks all end before `cut`, and starts a new file so that
    /// the current one can go at a later cut.
    pub fn drop_before(&self, cut: i64) {
        let mut w = self.writer.lock().expect("head chunk writer lock");
        w.current = None;
        w.in_memory.retain(|_, (max_t, _)| *max_t >= cut);
        let doomed: Vec<u32> = w
            .max_t
            .iter()
            .filter(|(_, m)| **m < cut)
            .map(|(s, _)| *s)
            .collect();
        let mut readers = self.readers.write().expect("head chunk readers lock");
        for seq in doomed {
            w.max_t.remove(&seq);
            readers.remove(&seq);
            let _ = fs::remove_file(self.dir.join(format!("{seq:08}")));
        }
    }

    /// Bytes of chunks kept in memory (after a write error).
    pub fn heap_bytes(&self) -> usize {
        let w = self.writer.lock().expect("head chunk writer lock");
        w.in_memory.values().map(|(_, b)| b.len() + 48).sum()
    }

    pub fn disk_bytes(&self) -> u64 {
        let readers = self.readers.read().expect("head chunk readers lock");
        readers
            .values()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn chunks_go_back_to_disk_once_a_failed_disk_takes_writes_again() {
        let dir = std::env::temp_dir().join(format!("pharos-head-chunks-{}", std::process::id()));
        let files = HeadChunkFiles::open(&dir).unwrap();
        files.fail_writes.store(true, Ordering::Relaxed);
        let (file, _) = files.write(1, b"first");
        assert_eq!(file, IN_MEMORY, "the disk is full");
        files.fail_writes.store(false, Ordering::Relaxed);
        // As if the retry interval has passed since the failure.
        files.writer.lock().unwrap().failed_at = Some(Instant::now() - RETRY_DISK_AFTER);
        let (file, offset) = files.write(2, b"second");
        assert_ne!(file, IN_MEMORY, "written to disk again");
        let mut buf = [0u8; 6];
        files.read(file, offset, &mut buf).unwrap();
        assert_eq!(&buf, b"second");
        let _ = fs::remove_dir_all(&dir);
    }
}
