//! [`LogStore`]: the write path and its two threads. An append is serialised by its
//! caller, handed to the WAL thread, which writes every waiting append in one group and
//! fsyncs once, publishes the batches to subscribers, answers the callers and passes them
//! on to the indexer thread. The indexer adds documents to the day's partition and
//! commits all open partitions every `commit_interval`, recording the highest sequence
//! number it has indexed in the commit payload; WAL segments at or below the committed
//! number are deleted, and on open the WAL tail beyond each partition's number is
//! indexed again. Retention runs on the indexer thread too, so no commit ever mixes
//! deletions with half-indexed batches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use pharos_model::LogEntry;
use serde::Serialize;
use tokio::sync::{broadcast, oneshot};

use crate::error::LogStoreError;
use crate::partition::{LogSchema, OpenWriter, Partition, day_of, parse_day_dir, time_ns};
use crate::retention::{RetentionReport, run_retention};
use crate::settings::LogSettings;
use crate::stats::{Counters, LogStoreStats, PartitionStats};
use crate::wal::Wal;

/// An entry larger than this (as JSON) is refused rather than stored.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// Writers idle this long are closed so a past day's partition does not hold memory.
const IDLE_WRITER: Duration = Duration::from_secs(120);

/// How many batches (one per append) may wait for the indexer before appends wait too.
/// With shippers' 1–5k-line batches this holds at most ~100k lines in memory: at 256 the
/// benchmark's burst grew the process past 1 GiB while the index caught up.
const INDEX_QUEUE: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppendReceipt {
    /// Entries now durable.
    pub accepted: usize,
    /// Entries not stored, with their index in the batch and why.
    pub refused: Vec<RefusedEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedEntry {
    pub index: usize,
    pub reason: String,
}

/// The log store. Cheap to share behind `Arc`; every method takes `&self`.
pub struct LogStore {
    pub(crate) shared: Arc<Shared>,
    wal_tx: Mutex<Option<mpsc::Sender<WalMsg>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

pub(crate) struct Shared {
    pub root: PathBuf,
    pub schema: LogSchema,
    pub partitions: RwLock<BTreeMap<NaiveDate, Arc<Partition>>>,
    pub settings: RwLock<LogSettings>,
    pub counters: Counters,
    pub wal_bytes: AtomicU64,
    broadcast: broadcast::Sender<Arc<Vec<LogEntry>>>,
    /// Why appends are failing (the WAL cannot be written), until one succeeds.
    write_failure: Mutex<Option<String>>,
    /// Why new entries are not becoming searchable, until the index recovers.
    index_failure: Mutex<Option<String>>,
    #[cfg(test)]
    pub faults: Arc<crate::faults::Faults>,
}

impl Shared {
    fn set_failure(slot: &Mutex<Option<String>>, failure: Option<String>) {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    fn failure(slot: &Mutex<Option<String>>) -> Option<String> {
        slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct Prepared {
    entries: Vec<LogEntry>,
    raws: Vec<Vec<u8>>,
    refused: Vec<RefusedEntry>,
}

type Reply<T> = oneshot::Sender<Result<T, LogStoreError>>;

enum WalMsg {
    Append(Prepared, Reply<AppendReceipt>),
    /// Passed on to the indexer once every earlier append is written.
    Index(IndexMsg),
}

enum IndexMsg {
    Batch {
        first_seq: u64,
        entries: Arc<Vec<LogEntry>>,
        raws: Vec<Vec<u8>>,
    },
    Flush(Reply<()>),
    Retention(DateTime<Utc>, Reply<RetentionReport>),
    Snapshot(PathBuf, Reply<()>),
}

impl LogStore {
    /// Opens (or creates) the store in `dir`, indexes whatever the WAL holds beyond the
    /// partitions' last commits, and starts the WAL and indexer threads.
    pub fn open(dir: &Path, settings: LogSettings) -> Result<Arc<LogStore>, LogStoreError> {
        std::fs::create_dir_all(dir).map_err(|e| LogStoreError::io(dir, e))?;
        let schema = LogSchema::new();
        let mut partitions = BTreeMap::new();
        for e in std::fs::read_dir(dir).map_err(|e| LogStoreError::io(dir, e))? {
            let e = e.map_err(|e| LogStoreError::io(dir, e))?;
            let Some(day) = e.file_name().to_str().and_then(parse_day_dir) else {
                continue;
            };
            partitions.insert(day, Arc::new(Partition::open_or_create(dir, day, &schema)?));
        }
        let committed = partitions
            .values()
            .map(|p| p.committed_seq.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let (broadcast, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            root: dir.to_path_buf(),
            schema,
            partitions: RwLock::new(partitions),
            settings: RwLock::new(settings),
            counters: Counters::default(),
            wal_bytes: AtomicU64::new(0),
            broadcast,
            write_failure: Mutex::new(None),
            index_failure: Mutex::new(None),
            #[cfg(test)]
            faults: Default::default(),
        });
        let (mut wal, records) = Wal::open(&dir.join("wal"), committed + 1)?;
        #[cfg(test)]
        {
            wal.faults = shared.faults.clone();
        }
        let mut indexer = Indexer {
            shared: shared.clone(),
            last_seq: committed,
            recovering: false,
        };
        let replayed = indexer.replay(records)?;
        if replayed > 0 {
            tracing::info!(entries = replayed, "log store indexed entries from its WAL");
        }
        let last = indexer.last_seq;
        shared.counters.durable_seq.store(last, Ordering::Relaxed);
        shared.counters.committed_seq.store(last, Ordering::Relaxed);
        wal.drop_committed(last);
        shared.wal_bytes.store(wal.bytes(), Ordering::Relaxed);

        let (wal_tx, wal_rx) = mpsc::channel();
        let (index_tx, index_rx) = mpsc::sync_channel(INDEX_QUEUE);
        let wal_thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("log-wal".into())
                .spawn(move || wal_loop(shared, wal, last + 1, wal_rx, index_tx))
                .map_err(|e| LogStoreError::io(dir, e))?
        };
        let index_thread = std::thread::Builder::new()
            .name("log-indexer".into())
            .spawn(move || indexer.run(index_rx))
            .map_err(|e| LogStoreError::io(dir, e))?;
        Ok(Arc::new(LogStore {
            shared,
            wal_tx: Mutex::new(Some(wal_tx)),
            threads: Mutex::new(vec![wal_thread, index_thread]),
        }))
    }

    /// Ok only once the entries are durable (WAL written and fsynced; appends waiting at
    /// the same time share one fsync). Refused entries are reported, the rest kept.
    pub async fn append(&self, entries: Vec<LogEntry>) -> Result<AppendReceipt, LogStoreError> {
        let rx = self.send_append(entries)?;
        rx.await.map_err(|_| LogStoreError::Closed)?
    }

    /// [`LogStore::append`] for threads outside the async runtime (it panics inside one,
    /// as `blocking_recv` does).
    pub fn append_blocking(&self, entries: Vec<LogEntry>) -> Result<AppendReceipt, LogStoreError> {
        let rx = self.send_append(entries)?;
        rx.blocking_recv().map_err(|_| LogStoreError::Closed)?
    }

    fn send_append(
        &self,
        entries: Vec<LogEntry>,
    ) -> Result<oneshot::Receiver<Result<AppendReceipt, LogStoreError>>, LogStoreError> {
        let prepared = prepare(entries);
        let (tx, rx) = oneshot::channel();
        self.send(WalMsg::Append(prepared, tx))?;
        Ok(rx)
    }

    fn send(&self, msg: WalMsg) -> Result<(), LogStoreError> {
        let guard = self.wal_tx.lock().map_err(|_| LogStoreError::Closed)?;
        let tx = guard.as_ref().ok_or(LogStoreError::Closed)?;
        tx.send(msg).map_err(|_| LogStoreError::Closed)
    }

    /// Every appended batch, after it is durable (not yet searchable): the live tail and
    /// log rules listen here. A receiver that falls 1024 batches behind gets `Lagged`.
    ///
    /// An append's accepted entries are sent as one batch before the append returns (an
    /// append that accepted none sends nothing): once it has returned Ok, every receiver
    /// subscribed before the call already holds the batch (`try_recv` sees it), and a
    /// receiver subscribed after it returned never gets it.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<LogEntry>>> {
        self.shared.broadcast.subscribe()
    }

    /// Waits until everything appended before the call is searchable. Blocking.
    pub fn flush(&self) -> Result<(), LogStoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(WalMsg::Index(IndexMsg::Flush(tx)))?;
        rx.blocking_recv().map_err(|_| LogStoreError::Closed)?
    }

    /// Writes a consistent copy of the store into `dest` (see `snapshot.rs`): every entry
    /// acknowledged before the call is in it. Blocking.
    pub fn snapshot(&self, dest: &Path) -> Result<(), LogStoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(WalMsg::Index(IndexMsg::Snapshot(dest.to_path_buf(), tx)))?;
        rx.blocking_recv().map_err(|_| LogStoreError::Closed)?
    }

    /// Applies a reloaded config: retention on the next `apply_retention`, the commit
    /// interval at once, writer memory for partitions opened from now on.
    pub fn set_settings(&self, settings: LogSettings) {
        if let Ok(mut s) = self.shared.settings.write() {
            *s = settings;
        }
    }

    pub fn settings(&self) -> LogSettings {
        self.shared
            .settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Deletes what retention no longer keeps and enforces `max_disk`. Blocking; runs on
    /// the indexer thread between commits. The binary calls it every few minutes.
    pub fn apply_retention(&self, now: DateTime<Utc>) -> Result<RetentionReport, LogStoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(WalMsg::Index(IndexMsg::Retention(now, tx)))?;
        rx.blocking_recv().map_err(|_| LogStoreError::Closed)?
    }

    pub fn stats(&self) -> LogStoreStats {
        let c = &self.shared.counters;
        let durable = c.durable_seq.load(Ordering::Relaxed);
        let committed = c.committed_seq.load(Ordering::Relaxed);
        let oldest_unindexed = c.oldest_unindexed_ns.load(Ordering::Relaxed) as i64;
        let mut stats = LogStoreStats {
            wal_bytes: self.shared.wal_bytes.load(Ordering::Relaxed),
            lines_appended: c.appended.load(Ordering::Relaxed),
            lines_refused: c.refused.load(Ordering::Relaxed),
            lines_expired: c.expired.load(Ordering::Relaxed),
            indexing_lag_entries: durable.saturating_sub(committed),
            indexing_lag_seconds: if oldest_unindexed > 0 && durable > committed {
                ((time_ns(Utc::now()) - oldest_unindexed).max(0) as f64) / 1e9
            } else {
                0.0
            },
            ..LogStoreStats::default()
        };
        for p in self.partitions() {
            let searcher = p.reader.searcher();
            let entries = searcher.num_docs();
            let bytes = p.bytes_on_disk();
            for seg in searcher.segment_readers() {
                if let Ok(col) = seg.fast_fields().i64("time") {
                    if seg.num_docs() == 0 {
                        continue;
                    }
                    let (lo, hi) = (
                        crate::partition::from_ns(col.min_value()),
                        crate::partition::from_ns(col.max_value()),
                    );
                    stats.oldest = Some(stats.oldest.map_or(lo, |o| o.min(lo)));
                    stats.newest = Some(stats.newest.map_or(hi, |n| n.max(hi)));
                }
            }
            stats.entries += entries;
            stats.bytes_total += bytes;
            stats.partitions.push(PartitionStats {
                day: p.day,
                bytes,
                entries,
            });
        }
        stats.bytes_total += stats.wal_bytes;
        stats
    }

    /// Why appends fail (the WAL cannot be written: disk full, read-only, EIO), or `None`
    /// when they succeed. While they fail the store tries a small write every second,
    /// so this clears as soon as the disk takes writes again, with or without traffic.
    pub fn write_failure(&self) -> Option<String> {
        Shared::failure(&self.shared.write_failure)
    }

    /// Why recent entries are not becoming searchable (the index cannot be written), or
    /// `None`. They are durable in the WAL meanwhile and indexed once the index recovers.
    pub fn index_failure(&self) -> Option<String> {
        Shared::failure(&self.shared.index_failure)
    }

    /// Newest day first.
    pub(crate) fn partitions(&self) -> Vec<Arc<Partition>> {
        self.shared
            .partitions
            .read()
            .map(|m| m.values().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops the threads after writing and committing everything accepted so far.
    /// Dropping the last `Arc` does the same.
    pub fn close(&self) {
        let tx = self.wal_tx.lock().ok().and_then(|mut g| g.take());
        drop(tx);
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn prepare(entries: Vec<LogEntry>) -> Prepared {
    let horizon = Utc::now() + chrono::Duration::days(1);
    let mut kept = Vec::with_capacity(entries.len());
    let mut raws = Vec::with_capacity(entries.len());
    let mut refused = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let reason = if entry.time > horizon {
            Some("time is more than a day in the future".to_string())
        } else if entry.time.timestamp_nanos_opt().is_none() {
            Some("time is outside the years 1678–2261".to_string())
        } else {
            match serde_json::to_vec(&entry) {
                Ok(raw) if raw.len() > MAX_ENTRY_BYTES => Some(format!(
                    "entry is {} bytes, more than the {MAX_ENTRY_BYTES} a log entry may have",
                    raw.len()
                )),
                Ok(raw) => {
                    raws.push(raw);
                    kept.push(entry);
                    None
                }
                Err(e) => Some(format!("entry cannot be encoded: {e}")),
            }
        };
        if let Some(reason) = reason {
            refused.push(RefusedEntry { index, reason });
        }
    }
    Prepared {
        entries: kept,
        raws,
        refused,
    }
}

fn wal_loop(
    shared: Arc<Shared>,
    mut wal: Wal,
    mut next_seq: u64,
    rx: mpsc::Receiver<WalMsg>,
    index_tx: mpsc::SyncSender<IndexMsg>,
) {
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                if Shared::failure(&shared.write_failure).is_some() {
                    // An empty record: whether the disk takes writes again, with nothing
                    // to lose if it does not.
                    let probe = wal.append(&[(next_seq, &[][..])]);
                    note_write(&shared, probe.as_ref().err());
                }
                wal.drop_committed(shared.counters.committed_seq.load(Ordering::Relaxed));
                shared.wal_bytes.store(wal.bytes(), Ordering::Relaxed);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < 4096 {
            match rx.try_recv() {
                Ok(m) => group.push(m),
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        let mut after = Vec::new();
        let mut seq = next_seq;
        for m in group {
            match m {
                WalMsg::Append(p, reply) => {
                    let first = seq;
                    seq += p.entries.len() as u64;
                    appends.push((first, p, reply));
                }
                WalMsg::Index(msg) => after.push(msg),
            }
        }
        if !appends.is_empty() {
            let records: Vec<(u64, &[Vec<u8>])> = appends
                .iter()
                .filter(|(_, p, _)| !p.entries.is_empty())
                .map(|(first, p, _)| (*first, &p.raws[..]))
                .collect();
            let written = if records.is_empty() {
                Ok(())
            } else {
                wal.append(&records)
            };
            drop(records);
            note_write(&shared, written.as_ref().err());
            match written {
                Ok(()) => {
                    next_seq = seq;
                    let c = &shared.counters;
                    c.durable_seq.store(seq - 1, Ordering::Relaxed);
                    let now = time_ns(Utc::now());
                    let _ = c.oldest_unindexed_ns.compare_exchange(
                        0,
                        now as u64,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    for (first_seq, p, reply) in appends {
                        let n = p.entries.len();
                        Counters::add(&c.appended, n as u64);
                        Counters::add(&c.refused, p.refused.len() as u64);
                        let entries = Arc::new(p.entries);
                        // Before the answer: `subscribe` promises that an append which
                        // returned Ok is already queued for every receiver.
                        if n > 0 && shared.broadcast.receiver_count() > 0 {
                            let _ = shared.broadcast.send(entries.clone());
                        }
                        let _ = reply.send(Ok(AppendReceipt {
                            accepted: n,
                            refused: p.refused,
                        }));
                        if n == 0 {
                            continue;
                        }
                        let msg = IndexMsg::Batch {
                            first_seq,
                            entries,
                            raws: p.raws,
                        };
                        if index_tx.send(msg).is_err() {
                            tracing::error!(
                                "log indexer stopped; entries stay in the WAL until restart"
                            );
                        }
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for (_, _, reply) in appends {
                        let _ = reply.send(Err(LogStoreError::Io {
                            path: shared.root.join("wal"),
                            source: std::io::Error::other(msg.clone()),
                        }));
                    }
                }
            }
        }
        for msg in after {
            let _ = index_tx.send(msg);
        }
        wal.drop_committed(shared.counters.committed_seq.load(Ordering::Relaxed));
        shared.wal_bytes.store(wal.bytes(), Ordering::Relaxed);
    }
    // Dropping `index_tx` tells the indexer to commit and stop.
}

/// Records whether the last WAL write worked, logging only the changes: a full disk
/// fails every append, and one line per append would flood the log.
fn note_write(shared: &Shared, error: Option<&LogStoreError>) {
    let before = Shared::failure(&shared.write_failure);
    match (error, before) {
        (Some(e), None) => {
            tracing::error!(operation = "log_append", error_type = "wal_write", error = %e, "log WAL write failed; appends are refused until the disk takes writes again");
            Shared::set_failure(&shared.write_failure, Some(e.to_string()));
        }
        (Some(e), Some(_)) => {
            Shared::set_failure(&shared.write_failure, Some(e.to_string()));
        }
        (None, Some(_)) => {
            tracing::info!(
                operation = "log_append",
                "log WAL writes work again; appends accepted"
            );
            Shared::set_failure(&shared.write_failure, None);
        }
        (None, None) => {}
    }
}

pub(crate) struct Indexer {
    pub shared: Arc<Shared>,
    /// Highest sequence number handed to a partition writer.
    pub last_seq: u64,
    /// An index write failed: the partitions' writers were dropped with what they held
    /// uncommitted, so everything past the last commit is indexed again from the WAL
    /// before anything else.
    recovering: bool,
}

impl Indexer {
    fn replay(&mut self, records: Vec<crate::wal::WalRecord>) -> Result<u64, LogStoreError> {
        let mut n = 0;
        for r in records {
            for (i, raw) in r.entries.into_iter().enumerate() {
                let seq = r.first_seq + i as u64;
                self.last_seq = self.last_seq.max(seq);
                let entry: LogEntry = match serde_json::from_slice(&raw) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "log WAL entry does not decode; skipped");
                        continue;
                    }
                };
                let p = self.partition(day_of(entry.time))?;
                if seq <= p.committed_seq.load(Ordering::Relaxed) {
                    continue;
                }
                self.add(&p, seq, &entry, &raw)?;
                n += 1;
            }
        }
        self.commit_all()?;
        Ok(n)
    }

    fn run(mut self, rx: mpsc::Receiver<IndexMsg>) {
        let mut last_commit = Instant::now();
        loop {
            let every = self
                .shared
                .settings
                .read()
                .map(|s| s.commit_every())
                .unwrap_or(Duration::from_secs(1));
            let wait = every.saturating_sub(last_commit.elapsed());
            match rx.recv_timeout(wait) {
                Ok(IndexMsg::Batch {
                    first_seq,
                    entries,
                    raws,
                    ..
                }) => {
                    // While recovering, the batch is in the WAL and the recovery reads it.
                    if !self.recovering
                        && let Err(e) = self.index_batch(first_seq, &entries, &raws)
                    {
                        self.index_failed(e);
                    }
                }
                Ok(IndexMsg::Flush(reply)) => {
                    let _ = reply.send(self.commit_or_recover());
                    last_commit = Instant::now();
                }
                Ok(IndexMsg::Retention(now, reply)) => {
                    let result = self
                        .commit_or_recover()
                        .and_then(|_| run_retention(&self, now));
                    if let Err(e) = &result
                        && !matches!(e, LogStoreError::Closed)
                    {
                        self.index_failed(LogStoreError::Corrupt(e.to_string()));
                    }
                    let _ = reply.send(result);
                    last_commit = Instant::now();
                }
                Ok(IndexMsg::Snapshot(dest, reply)) => {
                    let result = self.commit_or_recover().and_then(|_| {
                        let partitions: Vec<Arc<Partition>> = self
                            .shared
                            .partitions
                            .read()
                            .map(|m| m.values().cloned().collect())
                            .unwrap_or_default();
                        crate::snapshot::copy_store(&self.shared.root, &partitions, &dest)
                    });
                    let _ = reply.send(result);
                    last_commit = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_commit.elapsed() >= every {
                // Errors are logged by `index_failed`; the next interval tries again.
                let _ = self.commit_or_recover();
                last_commit = Instant::now();
                self.close_idle_writers();
            }
        }
        if let Err(e) = self.commit_or_recover() {
            tracing::error!(error = %e, "log index commit on shutdown failed; the WAL replays it");
        }
        for p in self
            .shared
            .partitions
            .read()
            .map(|m| m.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            close_writer(&p);
        }
    }

    /// Commits what was indexed, or, after a failure, indexes again from the WAL whatever
    /// no commit holds (and commits it).
    fn commit_or_recover(&mut self) -> Result<(), LogStoreError> {
        let result = if self.recovering {
            self.recover()
        } else {
            self.commit_all()
        };
        if let Err(e) = &result {
            self.index_failed(LogStoreError::Corrupt(e.to_string()));
        }
        result
    }

    /// A writer that failed is not used again: tantivy may have lost its indexing threads
    /// (after which adding a document blocks for good), and what it held uncommitted is
    /// gone. Every writer is dropped and the store switches to recovering.
    fn index_failed(&mut self, e: LogStoreError) {
        if !self.recovering {
            tracing::error!(operation = "log_index", error_type = "index_write", error = %e, "log indexing failed; new lines stay durable in the WAL and are indexed again once the index can be written");
        }
        self.recovering = true;
        Shared::set_failure(&self.shared.index_failure, Some(e.to_string()));
        for p in self
            .shared
            .partitions
            .read()
            .map(|m| m.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let writer = p.writer.lock().ok().and_then(|mut g| g.take());
            drop(writer);
        }
    }

    /// Indexes every WAL entry past the last commit that made it into no partition's
    /// commit, then commits. Entries handed over meanwhile are in the WAL too; the ones
    /// still queued are skipped when they arrive.
    fn recover(&mut self) -> Result<(), LogStoreError> {
        let committed = self.shared.counters.committed_seq.load(Ordering::Relaxed);
        let records = crate::wal::read_after(&self.shared.root.join("wal"), committed)?;
        let n = self.replay(records)?;
        self.recovering = false;
        Shared::set_failure(&self.shared.index_failure, None);
        tracing::info!(
            operation = "log_index",
            entries = n,
            "log index writable again; entries indexed from the WAL"
        );
        Ok(())
    }

    fn index_batch(
        &mut self,
        first_seq: u64,
        entries: &[LogEntry],
        raws: &[Vec<u8>],
    ) -> Result<(), LogStoreError> {
        let mut current: Option<Arc<Partition>> = None;
        for (i, (entry, raw)) in entries.iter().zip(raws).enumerate() {
            // A recovery from the WAL may have indexed it already.
            if first_seq + (i as u64) <= self.last_seq {
                continue;
            }
            let day = day_of(entry.time);
            let p = match &current {
                Some(p) if p.day == day => p.clone(),
                _ => {
                    let p = self.partition(day)?;
                    current = Some(p.clone());
                    p
                }
            };
            self.add(&p, first_seq + i as u64, entry, raw)?;
        }
        self.last_seq = self.last_seq.max(first_seq + entries.len() as u64 - 1);
        Ok(())
    }

    pub(crate) fn partition(&self, day: NaiveDate) -> Result<Arc<Partition>, LogStoreError> {
        if let Some(p) = self
            .shared
            .partitions
            .read()
            .ok()
            .and_then(|m| m.get(&day).cloned())
        {
            return Ok(p);
        }
        let mut map = self
            .shared
            .partitions
            .write()
            .map_err(|_| LogStoreError::Corrupt("partition map poisoned".into()))?;
        if let Some(p) = map.get(&day) {
            return Ok(p.clone());
        }
        let p = Arc::new(Partition::open_or_create(
            &self.shared.root,
            day,
            &self.shared.schema,
        )?);
        map.insert(day, p.clone());
        Ok(p)
    }

    fn add(
        &self,
        p: &Partition,
        seq: u64,
        entry: &LogEntry,
        raw: &[u8],
    ) -> Result<(), LogStoreError> {
        #[cfg(test)]
        if self.shared.faults.index_fails() {
            return Err(LogStoreError::io(
                &self.shared.root,
                std::io::Error::from_raw_os_error(28),
            ));
        }
        let mut guard = p
            .writer
            .lock()
            .map_err(|_| LogStoreError::Corrupt("writer lock poisoned".into()))?;
        if guard.is_none() {
            let (memory, threads) = self
                .shared
                .settings
                .read()
                .map(|s| (s.indexer_memory.0 as usize, s.indexer_threads.max(1)))
                .unwrap_or((64 << 20, 1));
            // tantivy wants at least 15 MB per thread.
            let per_thread = (memory / threads).max(15 << 20);
            let writer = p
                .index
                .writer_with_num_threads(threads, per_thread * threads)?;
            *guard = Some(OpenWriter {
                writer,
                dirty: false,
                last_used: Instant::now(),
            });
        }
        if let Some(w) = guard.as_mut() {
            w.writer
                .add_document(self.shared.schema.document(seq, entry, raw))?;
            w.dirty = true;
            w.last_used = Instant::now();
        }
        Ok(())
    }

    /// Commits every partition with new documents, the payload naming the last sequence
    /// number indexed, and makes them searchable.
    pub(crate) fn commit_all(&mut self) -> Result<(), LogStoreError> {
        let seq = self.last_seq;
        let parts: Vec<Arc<Partition>> = self
            .shared
            .partitions
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for p in parts {
            self.commit_partition(&p, seq)?;
        }
        let c = &self.shared.counters;
        c.committed_seq.fetch_max(seq, Ordering::Relaxed);
        if c.durable_seq.load(Ordering::Relaxed) <= seq {
            c.oldest_unindexed_ns.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn commit_partition(&self, p: &Partition, seq: u64) -> Result<bool, LogStoreError> {
        let mut guard = p
            .writer
            .lock()
            .map_err(|_| LogStoreError::Corrupt("writer lock poisoned".into()))?;
        let Some(w) = guard.as_mut() else {
            return Ok(false);
        };
        if !w.dirty {
            return Ok(false);
        }
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        w.dirty = false;
        p.committed_seq.fetch_max(seq, Ordering::Relaxed);
        p.reader.reload()?;
        Ok(true)
    }

    /// Opens a writer for deletions on a partition that may have none.
    pub(crate) fn with_writer<T>(
        &self,
        p: &Partition,
        f: impl FnOnce(&mut OpenWriter) -> Result<T, LogStoreError>,
    ) -> Result<T, LogStoreError> {
        let mut guard = p
            .writer
            .lock()
            .map_err(|_| LogStoreError::Corrupt("writer lock poisoned".into()))?;
        if guard.is_none() {
            let writer = p.index.writer_with_num_threads(1, 15 << 20)?;
            *guard = Some(OpenWriter {
                writer,
                dirty: false,
                last_used: Instant::now(),
            });
        }
        match guard.as_mut() {
            Some(w) => f(w),
            None => Err(LogStoreError::Closed),
        }
    }

    fn close_idle_writers(&self) {
        let parts: Vec<Arc<Partition>> = self
            .shared
            .partitions
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for p in parts {
            let idle = p
                .writer
                .lock()
                .ok()
                .and_then(|g| {
                    g.as_ref()
                        .map(|w| !w.dirty && w.last_used.elapsed() > IDLE_WRITER)
                })
                .unwrap_or(false);
            if idle {
                close_writer(&p);
            }
        }
    }
}

pub(crate) fn close_writer(p: &Partition) {
    let w = p.writer.lock().ok().and_then(|mut g| g.take());
    if let Some(w) = w
        && let Err(e) = w.writer.wait_merging_threads()
    {
        tracing::warn!(day = %p.day, error = %e, "log partition merge did not finish cleanly");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use chrono::Utc;
    use pharos_model::{LogEntry, LogSource};

    use super::LogStore;
    use crate::{LogQuery, LogSettings, SearchRequest, TimeRange};

    fn line(msg: &str) -> LogEntry {
        LogEntry::new("shop", LogSource::Http, Utc::now(), msg)
    }

    fn messages(store: &LogStore) -> Vec<String> {
        let page = store
            .search(&SearchRequest {
                query: LogQuery::parse("").unwrap(),
                range: TimeRange::new(
                    Utc::now() - chrono::Duration::days(1),
                    Utc::now() + chrono::Duration::days(1),
                ),
                limit: 100,
                cursor: None,
            })
            .unwrap();
        let mut out: Vec<String> = page.entries.into_iter().map(|s| s.entry.message).collect();
        out.sort();
        out
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < until, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn appends_are_refused_while_the_wal_cannot_be_written_and_taken_again_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogSettings::default()).unwrap();
        store.append_blocking(vec![line("before")]).unwrap();
        let faults = store.shared.faults.clone();
        faults.set_wal_short_write(Some(7));
        faults.wal_truncate_fails.store(true, Ordering::Relaxed);
        assert!(store.append_blocking(vec![line("refused")]).is_err());
        assert!(store.write_failure().is_some());
        faults.set_wal_short_write(None);
        faults.wal_truncate_fails.store(false, Ordering::Relaxed);
        wait_for("the store to notice the disk takes writes", || {
            store.write_failure().is_none()
        });
        store.append_blocking(vec![line("after")]).unwrap();
        store.close();
        drop(store);
        let store = LogStore::open(dir.path(), LogSettings::default()).unwrap();
        store.flush().unwrap();
        assert_eq!(messages(&store), vec!["after", "before"]);
    }

    #[test]
    fn a_failed_index_write_is_indexed_again_from_the_wal_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogSettings::default()).unwrap();
        store.append_blocking(vec![line("first")]).unwrap();
        store.flush().unwrap();
        let faults = store.shared.faults.clone();
        faults.index_fails.store(true, Ordering::Relaxed);
        // Durable in the WAL even though the index cannot take it.
        store
            .append_blocking(vec![line("second"), line("third")])
            .unwrap();
        assert!(store.flush().is_err());
        assert!(store.index_failure().is_some());
        faults.index_fails.store(false, Ordering::Relaxed);
        store.append_blocking(vec![line("fourth")]).unwrap();
        store.flush().unwrap();
        assert!(store.index_failure().is_none());
        assert_eq!(messages(&store), vec!["first", "fourth", "second", "third"]);
        store.close();
        drop(store);
        // Nothing indexed twice, nothing lost: the commits only ever covered what was in them.
        let store = LogStore::open(dir.path(), LogSettings::default()).unwrap();
        store.flush().unwrap();
        assert_eq!(messages(&store), vec!["first", "fourth", "second", "third"]);
    }
}
