//! Following files by polling: glob patterns expanded again on every poll (new files are
//! picked up), each file followed by (device, inode) rather than by name, so a renamed
//! file (Python's `RotatingFileHandler`, logrotate's `create`) is read to its end before
//! its successor, a file truncated in place (logrotate's `copytruncate`) starts again at
//! 0 after what was left in its copy is read, and where reading stands survives a restart
//! through the spool's checkpoints.
//!
//! Polling every 250 ms rather than inotify: the same code on every filesystem (NFS,
//! bind mounts, overlay), no lost events to recover from, and the cost is one `stat` per
//! file and one 256-byte read per file per poll.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pharos_ingest::logs::multiline::MultilineGrouper;

use super::spool::{Entry, FileOffset, Labels};
use super::{Clock, QUIET_FLUSH};

/// A file renamed or deleted under us is read as long as it keeps growing (an application
/// that has not reopened its log yet still writes there), then let go.
const ROTATED_LINGER: Duration = Duration::from_secs(3);

/// A line longer than this is cut into pieces of this size, so a file without newlines
/// cannot exhaust memory.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Read per file per poll at most; the collector polls again at once when this was hit.
const MAX_READ_PER_POLL: u64 = 8 << 20;

/// The fingerprint covers this many bytes from the start of the file.
const HEAD_BYTES: u64 = 256;

struct TailedFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    file: File,
    labels: Labels,
    /// Bytes of the file turned into lines so far.
    read_offset: u64,
    grouper: MultilineGrouper,
    /// Where the entry still held by the grouper starts, and when its first line was read.
    pending_start: u64,
    pending_t: u64,
    last_line_at: Instant,
    head_len: u64,
    head_hash: u64,
    /// The name now points elsewhere, or nowhere: read to the end, then let go.
    rotated: bool,
    last_size: u64,
    last_growth: Instant,
}

pub struct Tailer {
    patterns: Vec<String>,
    base_labels: Labels,
    files: Vec<TailedFile>,
    /// Offsets from the previous run, used when a file is first seen.
    saved: Vec<FileOffset>,
    /// No previous run and no --from-beginning: files present at start are read from
    /// their end, as `tail -f` does.
    start_at_end: bool,
    warned_empty: Vec<bool>,
    /// When the previous poll looked: a sibling written since then that we never saw was
    /// rotated in and out between two polls.
    last_poll: Option<std::time::SystemTime>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read_head(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    let n = read_fully_at(file, &mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}

fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl TailedFile {
    fn open(
        path: &Path,
        labels: Labels,
        offset: u64,
        clock: &Clock,
    ) -> std::io::Result<TailedFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let head = read_head(&file, HEAD_BYTES.min(meta.len()))?;
        Ok(TailedFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            file,
            labels,
            read_offset: offset,
            grouper: MultilineGrouper::new(),
            pending_start: offset,
            pending_t: clock.peek(),
            last_line_at: Instant::now(),
            head_len: head.len() as u64,
            head_hash: fnv1a(&head),
            rotated: false,
            last_size: meta.len(),
            last_growth: Instant::now(),
        })
    }

    /// Whether the file still starts with the bytes it started with; extends the
    /// fingerprint while the file is shorter than [`HEAD_BYTES`].
    fn head_matches(&mut self, size: u64) -> std::io::Result<bool> {
        if size < self.head_len {
            return Ok(false);
        }
        let head = read_head(&self.file, HEAD_BYTES.min(size))?;
        if (head.len() as u64) < self.head_len
            || fnv1a(&head[..self.head_len as usize]) != self.head_hash
        {
            return Ok(false);
        }
        self.head_len = head.len() as u64;
        self.head_hash = fnv1a(&head);
        Ok(true)
    }

    /// Where a restart must resume: before the entry the grouper still holds, since that
    /// entry is not in the spool yet.
    fn committed_offset(&self) -> u64 {
        if self.grouper.pending() {
            self.pending_start
        } else {
            self.read_offset
        }
    }

    fn checkpoint(&self) -> FileOffset {
        FileOffset {
            path: self.path.clone(),
            dev: self.dev,
            ino: self.ino,
            offset: self.committed_offset(),
            head_len: self.head_len,
            head_hash: self.head_hash,
        }
    }

    fn entry(&self, t: u64, line: String) -> Entry {
        Entry {
            t,
            labels: self.labels.clone(),
            line,
        }
    }

    fn push_line(
        &mut self,
        text: String,
        line_start: u64,
        now: Instant,
        clock: &mut Clock,
        out: &mut Vec<Entry>,
    ) {
        let was_pending = self.grouper.pending();
        let t = clock.next();
        match self.grouper.push(&text) {
            Some(done) => {
                out.push(self.entry(self.pending_t, done));
                self.pending_start = line_start;
                self.pending_t = t;
            }
            None if !was_pending => {
                self.pending_start = line_start;
                self.pending_t = t;
            }
            None => {}
        }
        self.last_line_at = now;
    }

    fn flush(&mut self, out: &mut Vec<Entry>) {
        if let Some(done) = self.grouper.flush() {
            out.push(self.entry(self.pending_t, done));
        }
        self.pending_start = self.read_offset;
    }

    /// Reads what was appended since the last poll. Returns true when it stopped at the
    /// per-poll cap with more to read.
    fn read_new(
        &mut self,
        now: Instant,
        clock: &mut Clock,
        out: &mut Vec<Entry>,
    ) -> std::io::Result<bool> {
        let size = self.file.metadata()?.len();
        if size != self.last_size {
            self.last_size = size;
            self.last_growth = now;
        }
        let stop_at = size.min(self.read_offset + MAX_READ_PER_POLL);
        let mut buf = Vec::new();
        while self.read_offset < stop_at {
            let want = (stop_at - self.read_offset).min(MAX_LINE_BYTES as u64) as usize;
            buf.resize(want, 0);
            let n = read_fully_at(&self.file, &mut buf, self.read_offset)?;
            buf.truncate(n);
            if buf.is_empty() {
                break;
            }
            let complete = match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if buf.len() >= MAX_LINE_BYTES => buf.len(),
                // The writer is gone (renamed away and quiet): its last line will not be
                // finished, so it is taken as it is.
                None if self.rotated && now.duration_since(self.last_growth) >= QUIET_FLUSH => {
                    buf.len()
                }
                None => break,
            };
            for line in buf[..complete].split_inclusive(|&b| b == b'\n') {
                let start = self.read_offset;
                self.read_offset += line.len() as u64;
                let text = line.strip_suffix(b"\n").unwrap_or(line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                self.push_line(
                    String::from_utf8_lossy(text).into_owned(),
                    start,
                    now,
                    clock,
                    out,
                );
            }
        }
        // A renamed file read to its end goes out whole at once: its successor's lines,
        // under the same filename label, must not overtake its last entry.
        let drained = self.rotated && self.read_offset == size;
        if self.grouper.pending()
            && (drained || now.duration_since(self.last_line_at) >= QUIET_FLUSH)
        {
            self.flush(out);
        }
        Ok(self.read_offset < size && self.read_offset >= stop_at)
    }
}

impl Tailer {
    pub fn new(
        patterns: Vec<String>,
        base_labels: Labels,
        saved: Vec<FileOffset>,
        from_beginning: bool,
        first_run: bool,
    ) -> Tailer {
        let n = patterns.len();
        Tailer {
            patterns,
            base_labels,
            files: Vec::new(),
            saved,
            start_at_end: first_run && !from_beginning,
            warned_empty: vec![false; n],
            last_poll: None,
        }
    }

    fn labels_for(&self, path: &Path) -> Labels {
        let mut labels = self.base_labels.clone();
        labels
            .entry("filename".to_string())
            .or_insert_with(|| path.display().to_string());
        labels
    }

    /// Where to start reading a file seen for the first time.
    fn start_offset(&self, file: &TailedFile, size: u64) -> u64 {
        if let Some(saved) = self
            .saved
            .iter()
            .find(|s| s.dev == file.dev && s.ino == file.ino)
        {
            // The same inode with other first bytes is a reused inode or a file rewritten
            // while we were stopped: all of it is new.
            let same = saved.head_len <= file.head_len
                && read_head(&file.file, saved.head_len)
                    .map(|h| fnv1a(&h) == saved.head_hash)
                    .unwrap_or(false);
            if same && saved.offset <= size {
                return saved.offset;
            }
            return 0;
        }
        if self.start_at_end { size } else { 0 }
    }

    fn open(&mut self, path: &Path, clock: &Clock) -> Option<TailedFile> {
        let labels = self.labels_for(path);
        let mut file = match TailedFile::open(path, labels, 0, clock) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("pharos ship: cannot read {}: {e}", path.display());
                return None;
            }
        };
        let offset = self.start_offset(&file, file.last_size);
        file.read_offset = offset;
        file.pending_start = offset;
        Some(file)
    }

    /// Files of the previous run that no pattern names any more (renamed while we were
    /// stopped): looked for by inode in their directory and read from where we were.
    fn reopen_renamed(&mut self, clock: &Clock) {
        let saved = std::mem::take(&mut self.saved);
        for s in &saved {
            if self.files.iter().any(|f| f.dev == s.dev && f.ino == s.ino) {
                continue;
            }
            let Some(dir) = s.path.parent() else { continue };
            let found = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .find(|e| {
                    e.metadata()
                        .map(|m| m.dev() == s.dev && m.ino() == s.ino && m.is_file())
                        .unwrap_or(false)
                });
            let Some(found) = found else {
                if s.offset > 0 {
                    eprintln!(
                        "pharos ship: {} was rotated away and deleted while pharos ship was \
                         stopped; lines written after offset {} are lost",
                        s.path.display(),
                        s.offset
                    );
                }
                continue;
            };
            let labels = self.labels_for(&s.path);
            if let Ok(mut f) = TailedFile::open(&found.path(), labels, s.offset, clock) {
                let same = s.head_len <= f.head_len
                    && read_head(&f.file, s.head_len)
                        .map(|h| fnv1a(&h) == s.head_hash)
                        .unwrap_or(false);
                if same && s.offset <= f.last_size {
                    f.path = s.path.clone();
                    f.rotated = true;
                    self.files.insert(0, f);
                }
            }
        }
        self.saved = saved;
    }

    /// In copytruncate, logrotate copied the file before truncating it: what we had not
    /// read yet is in the copy, a sibling whose first bytes are ours and that is at least
    /// as long as what we had read.
    fn copy_of(&self, f: &TailedFile) -> Option<PathBuf> {
        let dir = f.path.parent()?;
        let name = f.path.file_name()?.to_string_lossy().into_owned();
        let mut best: Option<(PathBuf, std::time::SystemTime)> = None;
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let candidate = e.file_name().to_string_lossy().into_owned();
            if candidate == name || !candidate.starts_with(&name) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() || meta.ino() == f.ino || meta.len() < f.read_offset {
                continue;
            }
            let Ok(file) = File::open(e.path()) else {
                continue;
            };
            let same = read_head(&file, f.head_len)
                .map(|h| fnv1a(&h) == f.head_hash)
                .unwrap_or(false);
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if same && best.as_ref().is_none_or(|(_, t)| modified > *t) {
                best = Some((e.path(), modified));
            }
        }
        best.map(|(p, _)| p)
    }

    /// One poll: notice new, renamed and truncated files, read what was appended. Returns
    /// true when a file had more to read than one poll takes.
    pub fn poll(&mut self, clock: &mut Clock, out: &mut Vec<Entry>) -> bool {
        let now = Instant::now();
        let polled_at = std::time::SystemTime::now();
        let present = self.matching_files();
        let mut rotated_now = Vec::new();
        for f in &mut self.files {
            let named = present.iter().any(|(_, d, n)| *d == f.dev && *n == f.ino);
            if f.rotated == named {
                f.rotated = !named;
                f.last_growth = now;
                if f.rotated {
                    rotated_now.push(f.path.clone());
                }
            }
        }
        // Files that lived under the followed name only between two polls (two rotations
        // in one poll): read them, oldest first, before the file that now has the name.
        for path in rotated_now {
            for f in self.rotated_between_polls(&path, &present, clock) {
                self.files.push(f);
            }
        }
        self.last_poll = Some(polled_at);
        for (path, dev, ino) in &present {
            if self.files.iter().any(|f| f.dev == *dev && f.ino == *ino) {
                continue;
            }
            if let Some(f) = self.open(path, clock) {
                self.files.push(f);
            }
        }
        // Only files present at the very first poll start at their end.
        self.start_at_end = false;
        if !self.saved.is_empty() {
            self.reopen_renamed(clock);
            self.saved.clear();
        }

        let mut i = 0;
        while i < self.files.len() {
            if let Some(copy) = self.restart_if_rewritten(i, now, out) {
                // The copy holds the older lines: it is read first.
                self.files.insert(i, copy);
                i += 1;
            }
            i += 1;
        }

        let mut more = false;
        let mut keep = Vec::with_capacity(self.files.len());
        for mut f in std::mem::take(&mut self.files) {
            match f.read_new(now, clock, out) {
                Ok(m) => more |= m,
                Err(e) => eprintln!("pharos ship: cannot read {}: {e}", f.path.display()),
            }
            if f.rotated && now.duration_since(f.last_growth) >= ROTATED_LINGER {
                f.flush(out);
            } else {
                keep.push(f);
            }
        }
        self.files = keep;
        more
    }

    /// Siblings of a followed file (`app.log.1`, `app.log.2`, not compressed ones) that
    /// we never saw and that were written since the previous poll: in a fast double
    /// rotation, the file that was `app.log` for less than a poll. Labelled with the
    /// followed name, read from their start, and let go once drained.
    fn rotated_between_polls(
        &self,
        followed: &Path,
        present: &[(PathBuf, u64, u64)],
        clock: &Clock,
    ) -> Vec<TailedFile> {
        let Some(since) = self.last_poll else {
            return Vec::new();
        };
        let (Some(dir), Some(name)) = (followed.parent(), followed.file_name()) else {
            return Vec::new();
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let Ok(listing) = std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) else {
            return Vec::new();
        };
        let mut found: Vec<(std::time::SystemTime, PathBuf)> = listing
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file_name = e.file_name().to_string_lossy().into_owned();
                let compressed = [".gz", ".bz2", ".xz", ".zst", ".zip"]
                    .iter()
                    .any(|ext| file_name.ends_with(ext));
                if !file_name.starts_with(&prefix) || compressed {
                    return None;
                }
                let m = e.metadata().ok()?;
                let known = self
                    .files
                    .iter()
                    .any(|f| f.dev == m.dev() && f.ino == m.ino())
                    || present
                        .iter()
                        .any(|(_, d, n)| *d == m.dev() && *n == m.ino());
                let modified = m.modified().ok()?;
                (m.is_file() && !known && modified >= since).then(|| (modified, e.path()))
            })
            .collect();
        found.sort();
        found
            .into_iter()
            .filter_map(|(_, path)| {
                let mut f = TailedFile::open(&path, self.labels_for(followed), 0, clock).ok()?;
                f.rotated = true;
                Some(f)
            })
            .collect()
    }

    /// The regular files the patterns name now, each inode once.
    fn matching_files(&mut self) -> Vec<(PathBuf, u64, u64)> {
        let mut present: Vec<(PathBuf, u64, u64)> = Vec::new();
        for (i, pattern) in self.patterns.iter().enumerate() {
            let paths = pharos_scrape::discovery::expand_pattern(pattern, Path::new("."));
            if paths.is_empty() && !self.warned_empty[i] {
                eprintln!("pharos ship: no file matches {pattern} yet; waiting for one");
                self.warned_empty[i] = true;
            }
            for p in paths {
                if let Ok(m) = std::fs::metadata(&p)
                    && m.is_file()
                    && !present
                        .iter()
                        .any(|(_, d, n)| *d == m.dev() && *n == m.ino())
                {
                    present.push((p, m.dev(), m.ino()));
                }
            }
        }
        present
    }

    /// A file shorter than what we read, or whose first bytes changed, was truncated (and
    /// maybe written again) in place: it is read again from 0. What we had not read of
    /// the old content is taken from logrotate's copy when there is one, returned to be
    /// read before the file.
    fn restart_if_rewritten(
        &mut self,
        i: usize,
        now: Instant,
        out: &mut Vec<Entry>,
    ) -> Option<TailedFile> {
        let f = &mut self.files[i];
        let size = f.file.metadata().ok()?.len();
        // A file renamed away is only drained; what happens to it later (logrotate
        // compressing or overwriting old copies) is no longer the log being written.
        if f.rotated || size >= f.read_offset && f.head_matches(size).unwrap_or(true) {
            return None;
        }
        let copy_path = self.copy_of(&self.files[i]);
        let f = &mut self.files[i];
        let copy = copy_path.as_ref().and_then(|c| {
            let mut t =
                TailedFile::open(c, f.labels.clone(), f.read_offset, &Clock::default()).ok()?;
            t.path = f.path.clone();
            t.grouper = std::mem::take(&mut f.grouper);
            t.pending_start = f.pending_start;
            t.pending_t = f.pending_t;
            t.last_line_at = f.last_line_at;
            t.rotated = true;
            t.last_growth = now;
            Some(t)
        });
        match (&copy, &copy_path) {
            (Some(_), Some(c)) => eprintln!(
                "pharos ship: {} was truncated; reading the rest of it from {} first",
                f.path.display(),
                c.display()
            ),
            _ => {
                eprintln!(
                    "pharos ship: {} was truncated; reading it from the start",
                    f.path.display()
                );
                // Lines read from the old content are complete: they go out as they are.
                f.flush(out);
            }
        }
        let head = read_head(&f.file, HEAD_BYTES.min(size)).unwrap_or_default();
        f.head_len = head.len() as u64;
        f.head_hash = fnv1a(&head);
        f.read_offset = 0;
        f.pending_start = 0;
        f.last_size = size;
        f.last_growth = now;
        copy
    }

    /// Where every followed file stands, for the spool checkpoint.
    pub fn checkpoint(&self) -> Vec<FileOffset> {
        self.files.iter().map(TailedFile::checkpoint).collect()
    }
}
