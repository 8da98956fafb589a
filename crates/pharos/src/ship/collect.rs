//! The reading side: one thread that turns stdin or the followed files into entries and
//! appends them to the spool (one fsync per batch) before anything else. Tailed files'
//! offsets travel in the same spool write as their lines, so a restart neither repeats
//! nor skips a line.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Result;
use pharos_ingest::logs::multiline::MultilineGrouper;

use super::spool::{Entry, FileOffset, Labels, SpoolWriter};
use super::tail::Tailer;
use super::{Clock, QUIET_FLUSH, Shared};

const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A stdin line longer than this is cut, so input without newlines cannot exhaust memory.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Appends `pending` (and the files' offsets) to the spool. On failure (disk full) the
/// entries stay in `pending` and reading pauses until a later attempt succeeds: nothing
/// read is dropped.
struct Spooler<'a> {
    writer: SpoolWriter,
    shared: &'a Shared,
    pending: Vec<Entry>,
    failing_since: Option<Instant>,
    last_files: Option<Vec<FileOffset>>,
}

impl Spooler<'_> {
    fn write(&mut self, files: Option<Vec<FileOffset>>) -> bool {
        let files_changed = files.is_some() && files != self.last_files;
        if self.pending.is_empty() && !files_changed {
            return true;
        }
        match self.writer.append(&self.pending, files.clone()) {
            Ok(end) => {
                if self.failing_since.take().is_some() {
                    eprintln!("pharos ship: the spool is writable again");
                }
                self.pending.clear();
                self.last_files = files;
                self.shared.publish(end);
                true
            }
            Err(e) => {
                if self.failing_since.is_none() {
                    eprintln!(
                        "pharos ship: cannot write the spool ({e:#}); reading is paused until it can"
                    );
                    self.failing_since = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_secs(1));
                false
            }
        }
    }
}

/// Follows files until a signal. An entry the grouper still holds when stopping stays
/// unread (its offset is not committed), so the next run reads it whole.
pub fn files(writer: SpoolWriter, shared: &Shared, mut tailer: Tailer) -> Result<()> {
    let mut clock = Clock::default();
    let mut spooler = Spooler {
        writer,
        shared,
        pending: Vec::new(),
        failing_since: None,
        last_files: None,
    };
    while !shared.stopping() {
        if !spooler.pending.is_empty() {
            spooler.write(Some(tailer.checkpoint()));
            continue;
        }
        let more = tailer.poll(&mut clock, &mut spooler.pending);
        spooler.write(Some(tailer.checkpoint()));
        if !more {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    // One last try for entries read but not yet spooled (their offsets are not committed
    // either, so if it fails the next run reads them again).
    spooler.write(Some(tailer.checkpoint()));
    shared.finish_input(std::time::Duration::ZERO);
    Ok(())
}

enum StdinEvent {
    Line(String),
    End(Option<std::io::Error>),
}

fn read_stdin(tx: SyncSender<StdinEvent>) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(StdinEvent::End(Some(e)));
                return;
            }
        };
        if buf.is_empty() {
            if !line.is_empty() {
                let _ = tx.send(StdinEvent::Line(to_text(&line)));
            }
            let _ = tx.send(StdinEvent::End(None));
            return;
        }
        let room = MAX_LINE_BYTES - line.len();
        let (take, complete) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), buf.len() >= room),
        };
        line.extend_from_slice(&buf[..take]);
        input.consume(take);
        if complete {
            if tx.send(StdinEvent::Line(to_text(&line))).is_err() {
                return;
            }
            line.clear();
        }
    }
}

fn to_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// Reads stdin until it ends (or a signal), then flushes the last entry and hands the
/// sender `drain` to deliver everything.
pub fn stdin(
    writer: SpoolWriter,
    shared: &Shared,
    labels: Labels,
    batch_lines: usize,
    drain: Duration,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel(batch_lines.max(64));
    // Blocking on stdin happens in its own thread, so a quiet pipe never delays the
    // quiet-flush of a pending entry or the reaction to a signal.
    std::thread::Builder::new()
        .name("ship-stdin-read".into())
        .spawn(move || read_stdin(tx))?;
    let mut spooler = Spooler {
        writer,
        shared,
        pending: Vec::new(),
        failing_since: None,
        last_files: None,
    };
    let mut source = StdinSource {
        grouper: MultilineGrouper::new(),
        labels,
        clock: Clock::default(),
        pending_t: 0,
        last_line_at: Instant::now(),
    };
    let mut ended = false;
    while !ended && !shared.stopping() {
        if !spooler.pending.is_empty() && !spooler.write(None) {
            continue;
        }
        ended = source.receive(&rx, batch_lines, &mut spooler.pending);
        if source.grouper.pending() && (ended || source.last_line_at.elapsed() >= QUIET_FLUSH) {
            source.flush(&mut spooler.pending);
        }
        spooler.write(None);
    }
    source.flush(&mut spooler.pending);
    while !spooler.write(None) && !shared.stopping() {}
    shared.finish_input(if ended { drain } else { Duration::ZERO });
    Ok(())
}

struct StdinSource {
    grouper: MultilineGrouper,
    labels: Labels,
    clock: Clock,
    pending_t: u64,
    last_line_at: Instant,
}

impl StdinSource {
    /// Takes what stdin has now (waiting up to a poll interval for the first line), up to
    /// a batch. Returns true once stdin has ended.
    fn receive(
        &mut self,
        rx: &Receiver<StdinEvent>,
        batch_lines: usize,
        out: &mut Vec<Entry>,
    ) -> bool {
        let mut event = match rx.recv_timeout(POLL_INTERVAL) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => return true,
        };
        let mut taken = 0;
        loop {
            match event {
                StdinEvent::Line(text) => self.push(text, out),
                StdinEvent::End(error) => {
                    if let Some(e) = error {
                        eprintln!("pharos ship: cannot read stdin: {e}");
                    }
                    return true;
                }
            }
            taken += 1;
            if taken >= batch_lines {
                return false;
            }
            event = match rx.try_recv() {
                Ok(e) => e,
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            };
        }
    }

    fn push(&mut self, text: String, out: &mut Vec<Entry>) {
        let was_pending = self.grouper.pending();
        let t = self.clock.next();
        match self.grouper.push(&text) {
            Some(done) => {
                out.push(Entry {
                    t: self.pending_t,
                    labels: self.labels.clone(),
                    line: done,
                });
                self.pending_t = t;
            }
            None if !was_pending => self.pending_t = t,
            None => {}
        }
        self.last_line_at = Instant::now();
    }

    fn flush(&mut self, out: &mut Vec<Entry>) {
        if let Some(done) = self.grouper.flush() {
            out.push(Entry {
                t: self.pending_t,
                labels: self.labels.clone(),
                line: done,
            });
        }
    }
}
