//! The write-ahead log that makes an append durable before tantivy has seen it:
//! segments `<dir>/wal/<first seq>.wal` of records `[len u32][crc32 u32][payload]`,
//! payload `[first seq u64][count u32]([len u32][entry JSON])*`, one record per append,
//! one `fdatasync` per group of appends. Replay stops at the first torn or corrupt record
//! of the last segment and cuts the file there, so the next write follows good data. A
//! write that fails (disk full, EIO) is cut off the same way before anything else is
//! written, so the store takes appends again as soon as the disk does.
//! Segments are removed once every entry in them is committed to a partition.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::LogStoreError;

const SEGMENT_BYTES: u64 = 64 << 20;
const HEADER: usize = 8;

pub(crate) struct WalRecord {
    pub first_seq: u64,
    pub entries: Vec<Vec<u8>>,
}

pub(crate) struct Wal {
    dir: PathBuf,
    /// Closed segments, oldest first: (first seq, path, bytes).
    closed: Vec<(u64, PathBuf, u64)>,
    active: File,
    active_first: u64,
    active_path: PathBuf,
    active_bytes: u64,
    /// Highest sequence number written, 0 before the first write.
    last_written: u64,
    buf: Vec<u8>,
    /// A write failed part-way and the bytes past `active_bytes` could not be cut off
    /// yet; nothing is written until they are, or replay would stop there.
    torn: bool,
    #[cfg(test)]
    pub(crate) faults: std::sync::Arc<crate::faults::Faults>,
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

impl Wal {
    /// Reads every record and opens a fresh segment starting at `next_seq` (at least one
    /// past the last record read).
    pub(crate) fn open(
        dir: &Path,
        min_next_seq: u64,
    ) -> Result<(Wal, Vec<WalRecord>), LogStoreError> {
        std::fs::create_dir_all(dir).map_err(|e| LogStoreError::io(dir, e))?;
        let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .map_err(|e| LogStoreError::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name.strip_suffix(".wal")?.parse::<u64>().ok()?;
                Some((seq, e.path()))
            })
            .collect();
        segments.sort();
        let mut records = Vec::new();
        let mut closed = Vec::new();
        let mut next_seq = min_next_seq;
        let count = segments.len();
        for (i, (first, path)) in segments.into_iter().enumerate() {
            let data = std::fs::read(&path).map_err(|e| LogStoreError::io(&path, e))?;
            let (good, recs) = decode_records(&data);
            if good < data.len() {
                if i + 1 == count {
                    tracing::warn!(path = %path.display(), kept = good, dropped = data.len() - good,
                        "log WAL ends in a torn or corrupt record; cutting it off");
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| LogStoreError::io(&path, e))?;
                    f.set_len(good as u64)
                        .map_err(|e| LogStoreError::io(&path, e))?;
                    f.sync_all().map_err(|e| LogStoreError::io(&path, e))?;
                } else {
                    tracing::error!(path = %path.display(), offset = good,
                        "log WAL segment is corrupt in the middle; entries after this offset are lost");
                }
            }
            for r in &recs {
                next_seq = next_seq.max(r.first_seq + r.entries.len() as u64);
            }
            records.extend(recs);
            closed.push((first, path, good as u64));
        }
        let active_path = dir.join(segment_name(next_seq));
        let active = open_segment(&active_path)?;
        // A leftover empty segment with the same name is the one we reopened.
        closed.retain(|(_, p, _)| *p != active_path);
        sync_dir(dir);
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                closed,
                active,
                active_first: next_seq,
                active_path,
                active_bytes: 0,
                last_written: next_seq.saturating_sub(1),
                buf: Vec::with_capacity(1 << 20),
                torn: false,
                #[cfg(test)]
                faults: Default::default(),
            },
            records,
        ))
    }

    /// Writes the records and waits for the disk. `first_seq` must be the next sequence
    /// number in order; the caller owns numbering.
    pub(crate) fn append(&mut self, records: &[(u64, &[Vec<u8>])]) -> Result<(), LogStoreError> {
        self.cut_torn_tail()?;
        if self.active_bytes >= SEGMENT_BYTES
            && let Some((first, _)) = records.first()
        {
            self.roll(*first)?;
        }
        self.buf.clear();
        for (first_seq, entries) in records {
            encode_record(&mut self.buf, *first_seq, entries);
        }
        if let Err(e) = self.write_buf() {
            // Cut a partial record off, or replay would stop there and lose what follows.
            self.torn = true;
            if let Err(cut) = self.cut_torn_tail() {
                tracing::warn!(error = %cut, "cannot cut a partly written log WAL record yet; the next append tries again");
            }
            return Err(LogStoreError::io(&self.active_path, e));
        }
        self.active_bytes += self.buf.len() as u64;
        if let Some((first, entries)) = records.last() {
            self.last_written = self.last_written.max(first + entries.len() as u64 - 1);
        }
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::with_capacity(1 << 20);
        }
        Ok(())
    }

    fn write_buf(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.faults.wal_short_write() {
            self.active.write_all(&self.buf[..n.min(self.buf.len())])?;
            return Err(std::io::Error::from_raw_os_error(28));
        }
        self.active.write_all(&self.buf)?;
        self.active.sync_data()
    }

    fn cut_torn_tail(&mut self) -> Result<(), LogStoreError> {
        if !self.torn {
            return Ok(());
        }
        #[cfg(test)]
        if self.faults.wal_truncate_fails() {
            return Err(LogStoreError::io(
                &self.active_path,
                std::io::Error::from_raw_os_error(30),
            ));
        }
        self.active
            .set_len(self.active_bytes)
            .map_err(|e| LogStoreError::io(&self.active_path, e))?;
        self.torn = false;
        Ok(())
    }

    fn roll(&mut self, next_first: u64) -> Result<(), LogStoreError> {
        let path = self.dir.join(segment_name(next_first));
        let file = open_segment(&path)?;
        sync_dir(&self.dir);
        let old_path = std::mem::replace(&mut self.active_path, path);
        self.closed
            .push((self.active_first, old_path, self.active_bytes));
        self.active = file;
        self.active_first = next_first;
        self.active_bytes = 0;
        Ok(())
    }

    /// Removes closed segments whose entries are all at or below `committed_seq`.
    pub(crate) fn drop_committed(&mut self, committed_seq: u64) {
        let mut keep_from = 0;
        for i in 0..self.closed.len() {
            let next_first = self
                .closed
                .get(i + 1)
                .map(|c| c.0)
                .unwrap_or(self.active_first);
            if next_first == 0 || next_first - 1 > committed_seq {
                break;
            }
            keep_from = i + 1;
        }
        for (_, path, _) in self.closed.drain(..keep_from) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove a committed log WAL segment");
            }
        }
        // A quiet store still gets its WAL emptied: roll so the active segment can go too.
        if self.closed.is_empty()
            && self.active_bytes > 0
            && !self.torn
            && self.last_written <= committed_seq
            && self.roll(self.last_written + 1).is_ok()
        {
            self.drop_committed(committed_seq);
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.closed.iter().map(|c| c.2).sum::<u64>() + self.active_bytes
    }
}

/// The records holding entries past `after_seq`, read from the segments on disk while
/// the WAL thread keeps writing: a record being written shows as a torn tail and ends
/// that segment's read, and it was not handed to the indexer yet either.
pub(crate) fn read_after(dir: &Path, after_seq: u64) -> Result<Vec<WalRecord>, LogStoreError> {
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| LogStoreError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = name.strip_suffix(".wal")?.parse::<u64>().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for (_, path) in segments {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // Removed since the listing: everything in it was committed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LogStoreError::io(&path, e)),
        };
        let (_, records) = decode_records(&data);
        out.extend(
            records
                .into_iter()
                .filter(|r| r.first_seq + r.entries.len() as u64 > after_seq + 1),
        );
    }
    Ok(out)
}

fn open_segment(path: &Path) -> Result<File, LogStoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| LogStoreError::io(path, e))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(crate) fn encode_record(out: &mut Vec<u8>, first_seq: u64, entries: &[Vec<u8>]) {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER]);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    let payload_len = (out.len() - start - HEADER) as u32;
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The records up to the first bad one, and how many bytes were good.
pub(crate) fn decode_records(data: &[u8]) -> (usize, Vec<WalRecord>) {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos + HEADER <= data.len() {
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap_or_default());
        let Some(payload) = data.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        if len < 12 || crc32fast::hash(payload) != crc {
            break;
        }
        let Some(record) = decode_payload(payload) else {
            break;
        };
        out.push(record);
        pos += HEADER + len;
    }
    (pos, out)
}

fn decode_payload(p: &[u8]) -> Option<WalRecord> {
    let first_seq = u64::from_le_bytes(p.get(0..8)?.try_into().ok()?);
    let count = u32::from_le_bytes(p.get(8..12)?.try_into().ok()?) as usize;
    let mut pos = 12;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let len = u32::from_le_bytes(p.get(pos..pos + 4)?.try_into().ok()?) as usize;
        entries.push(p.get(pos + 4..pos + 4 + len)?.to_vec());
        pos += 4 + len;
    }
    Some(WalRecord { first_seq, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_and_writing_continues_after_good_data() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        {
            let (mut wal, recs) = Wal::open(&wal_dir, 1).unwrap();
            assert!(recs.is_empty());
            wal.append(&[(1, &[b"a".to_vec(), b"b".to_vec()][..])])
                .unwrap();
            wal.append(&[(3, &[b"c".to_vec()][..])]).unwrap();
        }
        // Tear the last record in half, as a crash mid-write would.
        let seg = wal_dir.join(segment_name(1));
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 3).unwrap();
        drop(f);
        let (mut wal, recs) = Wal::open(&wal_dir, 1).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].entries, vec![b"a".to_vec(), b"b".to_vec()]);
        wal.append(&[(3, &[b"d".to_vec()][..])]).unwrap();
        drop(wal);
        let (_, recs) = Wal::open(&wal_dir, 1).unwrap();
        let all: Vec<_> = recs.iter().flat_map(|r| r.entries.clone()).collect();
        assert_eq!(all, vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn a_flipped_bit_ends_replay_there() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, &[b"x".to_vec()]);
        encode_record(&mut buf, 2, &[b"y".to_vec()]);
        let (good, recs) = decode_records(&buf);
        assert_eq!((good, recs.len()), (buf.len(), 2));
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let (_, recs) = decode_records(&buf);
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn committed_segments_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 1).unwrap();
        wal.append(&[(1, &[b"a".to_vec()][..])]).unwrap();
        wal.append(&[(2, &[b"b".to_vec()][..])]).unwrap();
        // Regression: a segment holding entries past the committed number was removed.
        wal.drop_committed(1);
        drop(wal);
        let (mut wal, recs) = Wal::open(dir.path(), 1).unwrap();
        assert_eq!(recs.len(), 2);
        wal.drop_committed(2);
        assert_eq!(wal.bytes(), 0);
        wal.append(&[(3, &[b"a".to_vec()][..])]).unwrap();
        assert!(wal.bytes() > 0);
        wal.drop_committed(3);
        assert_eq!(wal.bytes(), 0);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "only the fresh active segment remains");
    }

    #[test]
    fn a_torn_write_that_could_not_be_cut_at_once_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 1).unwrap();
        wal.append(&[(1, &[b"before".to_vec()][..])]).unwrap();
        wal.faults.set_wal_short_write(Some(7));
        wal.faults
            .wal_truncate_fails
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(wal.append(&[(2, &[b"refused".to_vec()][..])]).is_err());
        wal.faults.set_wal_short_write(None);
        wal.faults
            .wal_truncate_fails
            .store(false, std::sync::atomic::Ordering::Relaxed);
        wal.append(&[(2, &[b"after".to_vec()][..])]).unwrap();
        drop(wal);
        let (_, recs) = Wal::open(dir.path(), 1).unwrap();
        let all: Vec<_> = recs.iter().flat_map(|r| r.entries.clone()).collect();
        assert_eq!(all, vec![b"before".to_vec(), b"after".to_vec()]);
    }
}
