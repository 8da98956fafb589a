//! The spool: every entry `pharos ship` reads is appended here, and fsynced, before
//! anything else happens to it, so a Pharos that is down, a full network or a `kill -9`
//! loses nothing. The sender drains it in order and moves a durable cursor only after
//! Pharos answered 2xx.
//!
//! Layout of the spool directory:
//! - `segments/<20-digit number>.jsonl`: append-only segments, one JSON record a line,
//!   each line either an entry (`{"entry":{"t":<ns>,"labels":{..},"line":".."}}`) or a
//!   checkpoint of the tailed files' offsets (`{"offsets":{"seq":N,"files":[..]}}`)
//!   written in the same `write` + `fsync` as the entries it accounts for, so offsets and
//!   entries can never disagree after a crash.
//! - `cursor`: `{"segment":S,"offset":O}`, the first byte not yet delivered; replaced
//!   atomically (temp file, fsync, rename) after each 2xx.
//! - `offsets.json`: the latest checkpoint, also kept apart so it survives the deletion of
//!   delivered segments.
//! - `LOCK`: held (OS file lock) by the one `pharos ship` using this directory.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// A segment is closed and a new one started once it passes this size, so delivered data
/// is given back to the disk while a long-running ship keeps going.
const SEGMENT_MAX_BYTES: u64 = 8 << 20;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// When it was read, Unix nanoseconds; the line's own timestamp, parsed by Pharos,
    /// wins over this one.
    pub t: u64,
    pub labels: Labels,
    pub line: String,
}

/// Where one tailed file has been read up to, as far as the spool holds its lines.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileOffset {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    /// Fingerprint of the file's first `head_len` bytes: tells a file rewritten in place
    /// (copytruncate) or a reused inode from the file we were reading.
    pub head_len: u64,
    pub head_hash: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub seq: u64,
    pub files: Vec<FileOffset>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Entry(Entry),
    Offsets(Checkpoint),
}

/// A position in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Keeps the directory locked for as long as it lives.
pub struct SpoolLock {
    _file: File,
}

pub fn lock(dir: &Path) -> Result<SpoolLock> {
    std::fs::create_dir_all(dir.join("segments"))
        .with_context(|| format!("cannot create the spool directory {}", dir.display()))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .with_context(|| format!("cannot open {}", dir.join("LOCK").display()))?;
    match file.try_lock() {
        Ok(()) => Ok(SpoolLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `pharos ship` is using the spool directory {}; give each one its own \
             --spool-dir (or its own --service)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", dir.display()))
        }
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join("segments").join(format!("{segment:020}.jsonl"))
}

/// The segments present, in order.
fn segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let listing = std::fs::read_dir(dir.join("segments"))
        .with_context(|| format!("cannot list {}", dir.join("segments").display()))?;
    for item in listing {
        let name = item?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".jsonl").and_then(|s| s.parse().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes `bytes` to `path` so that after a crash the file holds either the old or the
/// new content, never a mix.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// The appending side, owned by the reading thread.
pub struct SpoolWriter {
    dir: PathBuf,
    segment: u64,
    file: File,
    len: u64,
    checkpoint_seq: u64,
}

impl SpoolWriter {
    /// Opens the last segment, cutting off a torn tail (a record half-written when the
    /// process died: it was never fsynced, so nothing relied on it), and returns the
    /// newest checkpoint of file offsets.
    pub fn open(dir: &Path) -> Result<(SpoolWriter, Checkpoint)> {
        let mut checkpoint: Checkpoint = match std::fs::read(dir.join("offsets.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => Checkpoint::default(),
        };
        let existing = segments(dir)?;
        let segment = existing.last().copied().unwrap_or(1);
        let path = segment_path(dir, segment);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut valid_len = 0u64;
        {
            let mut reader = BufReader::new(&mut file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line)?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                match serde_json::from_slice::<Record>(&line) {
                    Ok(Record::Offsets(c)) if c.seq > checkpoint.seq => checkpoint = c,
                    Ok(_) => {}
                    Err(_) => break,
                }
                valid_len += n as u64;
            }
        }
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let checkpoint_seq = checkpoint.seq;
        Ok((
            SpoolWriter {
                dir: dir.to_path_buf(),
                segment,
                file,
                len: valid_len,
                checkpoint_seq,
            },
            checkpoint,
        ))
    }

    /// Appends `entries` (and, for tailed files, where their reading now stands) and
    /// fsyncs. Returns the new durable end.
    pub fn append(
        &mut self,
        entries: &[Entry],
        files: Option<Vec<FileOffset>>,
    ) -> Result<Position> {
        if entries.is_empty() && files.is_none() {
            return Ok(self.end());
        }
        if self.len >= SEGMENT_MAX_BYTES {
            self.start_segment(self.segment + 1)?;
        }
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, &Record::Entry(e.clone()))?;
            buf.push(b'\n');
        }
        let checkpoint = files.map(|files| {
            self.checkpoint_seq += 1;
            Checkpoint {
                seq: self.checkpoint_seq,
                files,
            }
        });
        if let Some(c) = &checkpoint {
            serde_json::to_writer(&mut buf, &Record::Offsets(c.clone()))?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .context("cannot write to the spool")?;
        self.file.sync_data().context("cannot fsync the spool")?;
        self.len += buf.len() as u64;
        if let Some(c) = checkpoint {
            // The segment already holds this checkpoint durably; this copy only outlives
            // the segment's deletion, so it does not need to be written every time.
            if c.seq % 64 == 1 || self.len >= SEGMENT_MAX_BYTES {
                self.save_offsets(&c)?;
            }
        }
        Ok(self.end())
    }

    fn save_offsets(&self, c: &Checkpoint) -> Result<()> {
        replace_file(&self.dir.join("offsets.json"), &serde_json::to_vec(c)?)
    }

    fn start_segment(&mut self, segment: u64) -> Result<()> {
        let path = segment_path(&self.dir, segment);
        // A leftover of that number (a crash mid-roll) holds nothing delivered-to-be: empty
        // it first. The OS refuses truncate and append in one open, so these are two.
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        File::open(self.dir.join("segments"))?.sync_all()?;
        self.file = file;
        self.segment = segment;
        self.len = 0;
        Ok(())
    }

    pub fn end(&self) -> Position {
        Position {
            segment: self.segment,
            offset: self.len,
        }
    }
}

/// One entry read back, with the position just after it.
pub struct Spooled {
    pub entry: Entry,
    pub end: Position,
}

/// The draining side, owned by the sender.
pub struct SpoolReader {
    dir: PathBuf,
    cursor: Position,
}

impl SpoolReader {
    pub fn open(dir: &Path) -> Result<SpoolReader> {
        let cursor = match std::fs::read(dir.join("cursor")) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                eprintln!(
                    "pharos ship: {} is damaged ({e}); sending the spool from its start \
                     (Pharos may get some entries twice)",
                    dir.join("cursor").display()
                );
                Position::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Position::default(),
            Err(e) => return Err(e).context("cannot read the spool cursor"),
        };
        let mut reader = SpoolReader {
            dir: dir.to_path_buf(),
            cursor,
        };
        // A cursor before the first segment present (first start, or segments deleted
        // after a delivery whose cursor write was lost) starts at that segment.
        if let Some(&first) = segments(dir)?.first()
            && reader.cursor.segment < first
        {
            reader.cursor = Position {
                segment: first,
                offset: 0,
            };
        }
        Ok(reader)
    }

    /// Up to `max` entries from the cursor, never past `durable_end` and never across a
    /// segment boundary (a batch is delivered or not as a whole segment-local range).
    /// Moves on to the next segment, deleting the delivered one, when the cursor is at the
    /// end of a closed segment.
    pub fn read(&mut self, max: usize, durable_end: Position) -> Result<Vec<Spooled>> {
        loop {
            if self.cursor >= durable_end {
                return Ok(Vec::new());
            }
            let limit = if self.cursor.segment == durable_end.segment {
                durable_end.offset
            } else {
                u64::MAX
            };
            let out = self.read_segment(max, limit)?;
            if !out.is_empty() || self.cursor.segment >= durable_end.segment {
                return Ok(out);
            }
            // The segment is closed and holds nothing more to send.
            let next = segments(&self.dir)?
                .into_iter()
                .find(|&s| s > self.cursor.segment)
                .unwrap_or(durable_end.segment);
            self.commit(Position {
                segment: next,
                offset: 0,
            })?;
        }
    }

    fn read_segment(&mut self, max: usize, limit: u64) -> Result<Vec<Spooled>> {
        let path = segment_path(&self.dir, self.cursor.segment);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut reader = BufReader::new(file);
        reader.seek(SeekFrom::Start(self.cursor.offset))?;
        let mut reader = reader.take(limit.saturating_sub(self.cursor.offset));
        let mut offset = self.cursor.offset;
        let mut out = Vec::new();
        let mut line = Vec::new();
        let mut skipped_to = None;
        while out.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            offset += n as u64;
            let end = Position {
                segment: self.cursor.segment,
                offset,
            };
            match serde_json::from_slice::<Record>(&line) {
                Ok(Record::Entry(entry)) => out.push(Spooled { entry, end }),
                Ok(Record::Offsets(_)) => skipped_to = Some(end),
                Err(e) => {
                    eprintln!(
                        "pharos ship: skipping a damaged spool record ({n} bytes at {}:{}): {e}",
                        path.display(),
                        offset - n as u64
                    );
                    skipped_to = Some(end);
                }
            }
        }
        // Checkpoints alone at the cursor are passed over, so an idle spool reads as empty.
        if out.is_empty()
            && let Some(end) = skipped_to
        {
            self.cursor = end;
        }
        Ok(out)
    }

    /// Records durably that everything before `to` was delivered (or refused for good).
    ///
    /// Rename without fsync: between Pharos's 2xx and this rename a `kill -9` makes the
    /// next run send the batch again, so the window is kept to a rename. A power loss may
    /// leave the cursor behind or damaged; both mean entries sent twice, never lost.
    pub fn commit(&mut self, to: Position) -> Result<()> {
        let path = self.dir.join("cursor");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&to)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        let old = self.cursor.segment;
        self.cursor = to;
        if to.segment > old {
            for s in segments(&self.dir)? {
                if s < to.segment {
                    let _ = std::fs::remove_file(segment_path(&self.dir, s));
                }
            }
        }
        Ok(())
    }

    /// Entries from the cursor to the end of the spool, for the exit message.
    pub fn count_remaining(&self) -> Result<u64> {
        let mut n = 0;
        for s in segments(&self.dir)? {
            if s < self.cursor.segment {
                continue;
            }
            let mut reader = BufReader::new(File::open(segment_path(&self.dir, s))?);
            if s == self.cursor.segment {
                reader.seek(SeekFrom::Start(self.cursor.offset))?;
            }
            let mut line = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                if line.starts_with(b"{\"entry\"") {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> Entry {
        Entry {
            t: 1,
            labels: Labels::from([("service".to_string(), "x".to_string())]),
            line: line.to_string(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pharos-ship-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("segments")).unwrap();
        dir
    }

    #[test]
    fn ship_spool_torn_tail_is_cut_and_cursor_survives_reopen() {
        let dir = temp_dir("torn");
        let (mut w, _) = SpoolWriter::open(&dir).unwrap();
        let end = w.append(&[entry("a"), entry("b")], None).unwrap();
        drop(w);
        let seg = segment_path(&dir, 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"entry\":{\"t\":1,\"lab").unwrap();
        drop(f);
        let (mut w, _) = SpoolWriter::open(&dir).unwrap();
        assert_eq!(w.end(), end);
        let end = w.append(&[entry("c")], None).unwrap();

        let mut r = SpoolReader::open(&dir).unwrap();
        let got = r.read(2, end).unwrap();
        assert_eq!(
            got.iter()
                .map(|s| s.entry.line.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        r.commit(got[1].end).unwrap();
        let r = SpoolReader::open(&dir).unwrap();
        assert_eq!(r.count_remaining().unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ship_spool_rolls_to_a_new_segment_and_reads_across_it() {
        let dir = temp_dir("roll");
        let (mut w, _) = SpoolWriter::open(&dir).unwrap();
        let line = "x".repeat(64 * 1024);
        let batch: Vec<Entry> = (0..16).map(|_| entry(&line)).collect();
        let mut end = w.end();
        // 9 batches of 1 MiB: past the 8 MiB segment size.
        for _ in 0..9 {
            end = w.append(&batch, None).unwrap();
        }
        assert!(end.segment > 1, "{end:?}");
        let mut r = SpoolReader::open(&dir).unwrap();
        let mut total = 0;
        loop {
            let got = r.read(100, end).unwrap();
            if got.is_empty() {
                break;
            }
            total += got.len();
            r.commit(got.last().unwrap().end).unwrap();
        }
        assert_eq!(total, 9 * 16);
    }

    #[test]
    fn ship_spool_newest_checkpoint_wins() {
        let dir = temp_dir("ckpt");
        let (mut w, c) = SpoolWriter::open(&dir).unwrap();
        assert_eq!(c.seq, 0);
        let file = |offset| FileOffset {
            path: "/x".into(),
            dev: 1,
            ino: 2,
            offset,
            head_len: 0,
            head_hash: 0,
        };
        w.append(&[entry("a")], Some(vec![file(10)])).unwrap();
        w.append(&[entry("b")], Some(vec![file(20)])).unwrap();
        drop(w);
        let (_, c) = SpoolWriter::open(&dir).unwrap();
        assert_eq!(c.files, vec![file(20)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
