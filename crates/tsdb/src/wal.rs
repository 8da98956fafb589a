//! The write-ahead log: what the head holds, in the order it was committed, so a restart
//! (or `kill -9`) rebuilds the head exactly. Segment files `wal/00000001` … hold records
//! `[kind u8][length u32 LE][crc32 u32 LE][payload]`. A commit writes its records with one
//! `write(2)` before it returns; the page cache outlives the process, and a periodic
//! `fsync` bounds what a machine crash can take. A write that fails (disk full, EIO) is
//! cut back to the last good record before anything else is written, so a refused commit
//! never lies torn in front of acknowledged ones; the next commit simply tries again.
//!
//! Truncation writes a checkpoint (the head's series and chunks as they are) into a new
//! segment and deletes the older ones.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pharos_model::series::{Label, LabelSet};

use crate::TsdbError;
use crate::codec::{Reader, put_str, put_varint, unzigzag, zigzag};
use crate::error::io;

pub const SEGMENT_BYTES: u64 = 128 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Kind {
    Series = 1,
    Samples = 2,
    /// A whole chunk (checkpoint): series id, count, encoded bytes.
    Chunk = 3,
    /// Samples with ids as deltas and integral values as varints (see `add_samples`).
    CompactSamples = 4,
}

/// One decoded record.
pub enum Record {
    Series { id: u64, labels: LabelSet },
    Samples(Vec<(u64, i64, f64)>),
    Chunk { id: u64, count: u16, bytes: Vec<u8> },
}

pub struct Wal {
    dir: PathBuf,
    file: File,
    segment: u64,
    size: u64,
    buf: Vec<u8>,
    pub dirty: bool,
    last_sync: Instant,
    /// A write error met while buffering, reported by the next `flush`.
    error: Option<TsdbError>,
    /// A write failed part-way and the torn bytes past `size` could not be cut off yet;
    /// nothing is written until they are, or replay would stop at them and drop what
    /// follows.
    torn: bool,
    /// Why the last write failed, until one succeeds.
    pub(crate) write_failure: Option<String>,
    /// The last failure and when, kept after a success: on a full disk small writes can
    /// still fit in a file's last block while the others fail, so one success does not
    /// mean the disk takes writes again.
    pub(crate) last_failure: Option<(Instant, String)>,
    #[cfg(test)]
    pub(crate) faults: Faults,
}

/// Write failures the tests switch on and off, as a full or read-only disk would cause.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Faults {
    /// Every write puts at most this many bytes on disk, then fails with ENOSPC.
    pub short_write: Option<usize>,
    /// Cutting a torn tail fails (as on a file system remounted read-only).
    pub truncate_fails: bool,
}

/// How long a commit may stay only in the page cache: a machine crash (not a process
/// crash, which the page cache survives) loses at most this much.
pub const SYNC_EVERY: Duration = Duration::from_secs(5);

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TsdbError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let e = e.map_err(io("reading the WAL directory"))?;
        if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl Wal {
    /// Opens the WAL in `dir`, replaying every record through `apply`; a torn or corrupt
    /// record ends the replay of its segment (with a warning), as after a crash mid-write.
    pub fn open(dir: &Path, mut apply: impl FnMut(Record)) -> Result<Wal, TsdbError> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let segs = segments(dir)?;
        for (_, path) in &segs {
            let mut data = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(io(format!("reading {}", path.display())))?;
            let good = replay(&data, &mut apply);
            if good < data.len() {
                tracing::warn!(
                    operation = "wal_replay",
                    segment = %path.display(),
                    dropped_bytes = data.len() - good,
                    "torn or corrupt record at the end of a WAL segment; later bytes dropped"
                );
                // Cut the tail so that new records do not follow garbage.
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(good as u64))
                    .map_err(io(format!("truncating {}", path.display())))?;
            }
        }
        let segment = segs.last().map(|(n, _)| *n).unwrap_or(1);
        let path = dir.join(format!("{segment:08}"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            segment,
            size,
            buf: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
            error: None,
            torn: false,
            write_failure: None,
            last_failure: None,
            #[cfg(test)]
            faults: Faults::default(),
        })
    }

    fn record(&mut self, kind: Kind, payload: &[u8]) {
        self.buf.push(kind as u8);
        self.buf
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.buf.extend_from_slice(payload);
        // A checkpoint of a big head (or a huge batch) is written as it goes, not held.
        if self.buf.len() > 256 << 10
            && self.error.is_none()
            && let Err(e) = self.flush()
        {
            self.error = Some(e);
        }
    }

    pub fn add_series(&mut self, id: u64, labels: &LabelSet) {
        let mut p = Vec::with_capacity(64);
        put_varint(&mut p, id);
        put_varint(&mut p, labels.len() as u64);
        for l in labels.iter() {
            put_str(&mut p, &l.name);
            put_str(&mut p, &l.value);
        }
        self.record(Kind::Series, &p);
    }

    /// A batch of samples. A scrape's samples share a timestamp and mostly have
    /// consecutive ids and integral values (counters, `up`), so per sample: the id as a
    /// delta from the previous one, the time as a delta from the first with one bit
    /// saying whether the value follows as an integer varint or as its 8 raw bytes.
    /// About 4 bytes instead of 17 for a typical counter.
    pub fn add_samples(&mut self, samples: &[(u64, i64, f64)]) {
        if samples.is_empty() {
            return;
        }
        let mut p = Vec::with_capacity(samples.len() * 8);
        put_varint(&mut p, samples.len() as u64);
        let base = samples[0].1;
        p.extend_from_slice(&base.to_le_bytes());
        let mut prev_id = 0u64;
        for &(id, t, v) in samples {
            put_varint(&mut p, zigzag(id.wrapping_sub(prev_id) as i64));
            prev_id = id;
            let d = zigzag(t.wrapping_sub(base));
            match integral(v) {
                Some(i) => {
                    put_varint(&mut p, (d << 1) | 1);
                    put_varint(&mut p, zigzag(i));
                }
                None => {
                    put_varint(&mut p, d << 1);
                    p.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        self.record(Kind::CompactSamples, &p);
    }

    pub fn add_chunk(&mut self, id: u64, count: u16, bytes: &[u8]) {
        let mut p = Vec::with_capacity(bytes.len() + 12);
        put_varint(&mut p, id);
        p.extend_from_slice(&count.to_le_bytes());
        p.extend_from_slice(bytes);
        self.record(Kind::Chunk, &p);
    }

    /// Writes the buffered records (one `write(2)`), cutting a new segment when the
    /// current one is full. On failure the records are dropped (the caller reports the
    /// commit failed, so they must not reach the disk later) and any partly written
    /// record is cut off, so the next write follows the last good record.
    pub fn flush(&mut self) -> Result<(), TsdbError> {
        if let Some(e) = self.error.take() {
            self.buf.clear();
            let failed = Err(e);
            self.note_write(&failed);
            return failed;
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.write_buf();
        self.note_write(&written);
        self.buf.clear();
        // A checkpoint or a huge batch must not pin its buffer for good.
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        written
    }

    /// Keeps the failure for the readiness check and logs only changes: a full disk fails
    /// every commit, and a line per commit would flood the log.
    fn note_write(&mut self, written: &Result<(), TsdbError>) {
        if let Err(e) = written {
            self.last_failure = Some((Instant::now(), e.to_string()));
        }
        match (written, &self.write_failure) {
            (Err(e), None) => {
                tracing::error!(operation = "wal_write", error_type = "wal_write", error = %e, "metrics WAL write failed; commits are refused until the disk takes writes again");
                self.write_failure = Some(e.to_string());
            }
            (Err(e), Some(_)) => self.write_failure = Some(e.to_string()),
            (Ok(()), Some(_)) => {
                tracing::info!(operation = "wal_write", "metrics WAL writes work again");
                self.write_failure = None;
            }
            (Ok(()), None) => {}
        }
    }

    fn write_buf(&mut self) -> Result<(), TsdbError> {
        self.cut_torn_tail()?;
        if self.size > 0 && self.size + self.buf.len() as u64 > SEGMENT_BYTES {
            self.next_segment()?;
        }
        if let Err(e) = self.write_all() {
            self.torn = true;
            if let Err(cut) = self.cut_torn_tail() {
                tracing::warn!(operation = "wal_write", error = %cut, "cannot cut a partly written WAL record yet; the next write tries again");
            }
            return Err(TsdbError::Io {
                context: "writing the WAL".into(),
                source: e,
            });
        }
        self.size += self.buf.len() as u64;
        self.dirty = true;
        Ok(())
    }

    fn write_all(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.faults.short_write {
            self.file.write_all(&self.buf[..n.min(self.buf.len())])?;
            return Err(std::io::Error::from_raw_os_error(28));
        }
        self.file.write_all(&self.buf)
    }

    /// Truncates the segment back to its last good record after a failed write.
    fn cut_torn_tail(&mut self) -> Result<(), TsdbError> {
        if !self.torn {
            return Ok(());
        }
        #[cfg(test)]
        if self.faults.truncate_fails {
            return Err(TsdbError::Io {
                context: "cutting a partly written WAL record".into(),
                source: std::io::Error::from_raw_os_error(30),
            });
        }
        self.file
            .set_len(self.size)
            .map_err(io("cutting a partly written WAL record"))?;
        self.torn = false;
        Ok(())
    }

    fn next_segment(&mut self) -> Result<(), TsdbError> {
        self.file.sync_data().map_err(io("syncing the WAL"))?;
        let path = self.dir.join(format!("{:08}", self.segment + 1));
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        self.segment += 1;
        self.size = 0;
        Ok(())
    }

    /// The segment in use and how many of its bytes hold flushed records.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.segment, self.size)
    }

    pub fn sync(&mut self) -> Result<(), TsdbError> {
        if self.dirty {
            self.file.sync_data().map_err(io("syncing the WAL"))?;
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Syncs when the last sync is older than [`SYNC_EVERY`].
    pub fn sync_if_due(&mut self) -> Result<(), TsdbError> {
        if self.dirty && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Starts a fresh segment, lets `write` fill it with a checkpoint of the head, then
    /// deletes every older segment.
    /// When `write` returns false (it could not read the head), the older segments are
    /// kept: replaying them after the checkpoint repeats samples, which replay skips.
    pub fn checkpoint(&mut self, write: impl FnOnce(&mut Wal) -> bool) -> Result<(), TsdbError> {
        self.flush()?;
        self.next_segment()?;
        let first_new = self.segment;
        let complete = write(self);
        self.flush()?;
        if !complete {
            return Ok(());
        }
        self.file.sync_data().map_err(io("syncing the WAL"))?;
        for (n, path) in segments(&self.dir)? {
            if n < first_new {
                fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
            }
        }
        Ok(())
    }

    pub fn disk_bytes(&self) -> u64 {
        segments(&self.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, p)| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// The value as an integer when converting back gives the same bits (so not -0.0,
/// NaN, or anything beyond 2^53).
fn integral(v: f64) -> Option<i64> {
    let i = v as i64;
    (v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 && (i as f64).to_bits() == v.to_bits())
        .then_some(i)
}

/// Replays records; returns how many bytes were good.
fn replay(data: &[u8], apply: &mut impl FnMut(Record)) -> usize {
    let mut pos = 0;
    while pos + 9 <= data.len() {
        let kind = data[pos];
        let len = u32::from_le_bytes(data[pos + 1..pos + 5].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[pos + 5..pos + 9].try_into().unwrap());
        let Some(payload) = data.get(pos + 9..pos + 9 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(record) = decode(kind, payload) else {
            break;
        };
        apply(record);
        pos += 9 + len;
    }
    pos
}

fn decode(kind: u8, payload: &[u8]) -> Option<Record> {
    let mut c = Reader::new(payload);
    match kind {
        k if k == Kind::Series as u8 => {
            let id = c.varint()?;
            let n = c.varint()? as usize;
            let mut labels = Vec::with_capacity(n.min(256));
            for _ in 0..n {
                labels.push(Label {
                    name: c.string()?,
                    value: c.string()?,
                });
            }
            Some(Record::Series {
                id,
                labels: LabelSet::new(labels.into_iter().map(|l| (l.name, l.value))),
            })
        }
        k if k == Kind::Samples as u8 => {
            let n = c.varint()? as usize;
            let base = c.u64_le()? as i64;
            let mut out = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                let id = c.varint()?;
                let z = c.varint()?;
                let d = unzigzag(z);
                let v = f64::from_bits(c.u64_le()?);
                out.push((id, base.wrapping_add(d), v));
            }
            Some(Record::Samples(out))
        }
        k if k == Kind::CompactSamples as u8 => {
            let n = c.varint()? as usize;
            let base = c.u64_le()? as i64;
            let mut out = Vec::with_capacity(n.min(1 << 20));
            let mut id = 0u64;
            for _ in 0..n {
                id = id.wrapping_add(unzigzag(c.varint()?) as u64);
                let tv = c.varint()?;
                let t = base.wrapping_add(unzigzag(tv >> 1));
                let v = if tv & 1 == 1 {
                    unzigzag(c.varint()?) as f64
                } else {
                    f64::from_bits(c.u64_le()?)
                };
                out.push((id, t, v));
            }
            Some(Record::Samples(out))
        }
        k if k == Kind::Chunk as u8 => {
            let id = c.varint()?;
            let count = u16::from_le_bytes(c.take(2)?.try_into().ok()?);
            let bytes = payload[c.pos..].to_vec();
            Some(Record::Chunk { id, count, bytes })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pharos-tsdb-wal-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn replayed_samples(dir: &Path) -> Vec<(u64, i64, f64)> {
        let mut out = Vec::new();
        Wal::open(dir, |r| {
            if let Record::Samples(s) = r {
                out.extend(s);
            }
        })
        .unwrap();
        out
    }

    fn commit(wal: &mut Wal, t: i64) -> Result<(), TsdbError> {
        wal.add_samples(&[(1, t, t as f64)]);
        wal.flush()
    }

    #[test]
    fn a_write_that_failed_part_way_is_cut_off_and_later_commits_replay() {
        let dir = temp_dir("short-write");
        let mut wal = Wal::open(&dir, |_| {}).unwrap();
        wal.add_series(1, &LabelSet::new([("__name__", "up")]));
        commit(&mut wal, 1000).unwrap();
        wal.faults.short_write = Some(5);
        assert!(commit(&mut wal, 2000).is_err());
        wal.faults.short_write = None;
        assert!(wal.write_failure.is_some());
        commit(&mut wal, 3000).unwrap();
        assert_eq!(wal.write_failure, None);
        drop(wal);
        let times: Vec<i64> = replayed_samples(&dir).iter().map(|s| s.1).collect();
        assert_eq!(
            times,
            vec![1000, 3000],
            "the refused commit is not replayed and the acknowledged one after it is"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_that_cannot_be_cut_yet_blocks_writes_until_it_can() {
        let dir = temp_dir("truncate-fails");
        let mut wal = Wal::open(&dir, |_| {}).unwrap();
        commit(&mut wal, 1000).unwrap();
        wal.faults.short_write = Some(3);
        wal.faults.truncate_fails = true;
        assert!(commit(&mut wal, 2000).is_err());
        wal.faults.short_write = None;
        assert!(
            commit(&mut wal, 3000).is_err(),
            "nothing may follow a torn record"
        );
        wal.faults.truncate_fails = false;
        commit(&mut wal, 4000).unwrap();
        drop(wal);
        let times: Vec<i64> = replayed_samples(&dir).iter().map(|s| s.1).collect();
        assert_eq!(times, vec![1000, 4000]);
        let _ = fs::remove_dir_all(&dir);
    }
}
