//! Appending samples: an [`Appender`] batches them and refuses, one sample at a time,
//! what Prometheus would refuse; its commit makes the batch durable in the WAL before
//! queries can see it, so an acknowledged batch survives a crash.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pharos_model::series::LabelSet;

use pharos_model::clock::now_ms;

use crate::head::{Head, MemSeries};
use crate::{Tsdb, TsdbError};

/// A handle to a series in the head, valid until the store is closed. Scrape loops cache
/// it per exposed line so that repeated appends skip label hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesRef(pub u64);

/// Why one sample was refused; the rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("duplicate sample for timestamp")]
    Duplicate,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("series limit reached: the store holds {0} series (limit `max_series`)")]
    TooManySeries(usize),
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
}

/// What a commit did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitSummary {
    pub appended: usize,
    pub out_of_order: usize,
    pub duplicate: usize,
    pub out_of_bounds: usize,
    pub too_many_series: usize,
    pub new_series: usize,
}

impl Tsdb {
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            db: self,
            pending: Vec::new(),
            last: HashMap::new(),
            summary: CommitSummary::default(),
            now: now_ms(),
        }
    }

    /// Samples older than this are out of bounds: before the newest block's end (they
    /// would belong to a written block) or, as in Prometheus, more than half a block span
    /// before the head's newest sample.
    fn min_appendable_time(&self) -> i64 {
        let blocks = self.min_valid.load(Ordering::Relaxed);
        match self.head_max_time.load(Ordering::Relaxed) {
            i64::MIN => blocks,
            head_max => blocks.max(head_max.saturating_sub(self.opts.block_duration_ms / 2)),
        }
    }
}

/// A batch of samples, applied by [`Appender::commit`].
pub struct Appender<'a> {
    db: &'a Tsdb,
    pending: Vec<(Arc<MemSeries>, i64, f64)>,
    /// Newest time and value bits per series in this batch.
    last: HashMap<u64, (i64, u64)>,
    summary: CommitSummary,
    now: i64,
}

impl Appender<'_> {
    /// Queues a sample, creating the series if new. Errors are per sample.
    pub fn append(&mut self, labels: &LabelSet, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(self.count(AppendError::InvalidLabels("empty label set".into())));
        }
        if t < self.db.min_appendable_time() {
            return Err(self.count(AppendError::OutOfBounds));
        }
        let (series, created) =
            match self
                .db
                .head
                .get_or_create(labels, self.now, self.db.opts.max_series)
            {
                Ok(x) => x,
                Err(n) => return Err(self.count(AppendError::TooManySeries(n))),
            };
        if created {
            self.summary.new_series += 1;
        }
        let r = SeriesRef(series.id);
        self.queue(series, t, v).map(|_| r)
    }

    /// Queues a sample for a series known by reference (from an earlier `append`).
    /// A reference to a series the head has dropped (it had no sample for a block span)
    /// is refused as `InvalidLabels`: append by labels again.
    pub fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError> {
        if t < self.db.min_appendable_time() {
            return Err(self.count(AppendError::OutOfBounds));
        }
        let Some(s) = self.db.head.by_id(series.0) else {
            return Err(AppendError::InvalidLabels(format!(
                "unknown series reference {}",
                series.0
            )));
        };
        self.queue(s, t, v)
    }

    fn count(&mut self, e: AppendError) -> AppendError {
        match e {
            AppendError::OutOfOrder => self.summary.out_of_order += 1,
            AppendError::Duplicate => self.summary.duplicate += 1,
            AppendError::OutOfBounds => self.summary.out_of_bounds += 1,
            AppendError::TooManySeries(_) => self.summary.too_many_series += 1,
            AppendError::InvalidLabels(_) => {}
        }
        e
    }

    fn queue(&mut self, s: Arc<MemSeries>, t: i64, v: f64) -> Result<(), AppendError> {
        let last = match self.last.get(&s.id) {
            Some(l) => Some(*l),
            None => s.data.lock().expect("series lock").last(),
        };
        if let Some((lt, lv)) = last {
            if t < lt {
                return Err(self.count(AppendError::OutOfOrder));
            }
            if t == lt {
                if lv == v.to_bits() {
                    return Ok(());
                }
                return Err(self.count(AppendError::Duplicate));
            }
        }
        self.last.insert(s.id, (t, v.to_bits()));
        self.pending.push((s, t, v));
        Ok(())
    }

    /// Writes the batch to the WAL, then makes it visible to queries.
    pub fn commit(mut self) -> Result<CommitSummary, TsdbError> {
        if self.pending.is_empty() {
            return Ok(self.summary);
        }
        let mut wal = self.db.wal.lock().expect("wal lock");
        // Series records before their samples, for every series the WAL has not seen,
        // whichever appender created it.
        let mut unlogged: Vec<&MemSeries> = Vec::new();
        for (s, _, _) in &self.pending {
            if !s.logged.load(Ordering::Relaxed) && !unlogged.iter().any(|u| u.id == s.id) {
                unlogged.push(s);
            }
        }
        if !unlogged.is_empty() {
            let idx = self.db.head.index.read().expect("head index lock");
            for s in &unlogged {
                wal.add_series(s.id, &idx.labels(s));
            }
        }
        let records: Vec<(u64, i64, f64)> = self
            .pending
            .iter()
            .map(|(s, t, v)| (s.id, *t, *v))
            .collect();
        wal.add_samples(&records);
        wal.flush()?;
        for s in unlogged {
            Head::mark_logged(s);
        }
        let mut max_t = i64::MIN;
        let files = &self.db.head.files;
        for (s, t, v) in self.pending.drain(..) {
            let mut d = s.data.lock().expect("series lock");
            // Another appender may have written this series since the check; replay
            // skips the sample the same way.
            if d.last().is_some_and(|(lt, _)| t <= lt) {
                self.summary.out_of_order += 1;
                continue;
            }
            d.append(t, v, files);
            max_t = max_t.max(t);
            self.summary.appended += 1;
        }
        wal.sync_if_due()?;
        drop(wal);
        self.db.max_time.fetch_max(max_t, Ordering::Relaxed);
        self.db.head_max_time.fetch_max(max_t, Ordering::Relaxed);
        self.db
            .appended
            .fetch_add(self.summary.appended as u64, Ordering::Relaxed);
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use pharos_model::series::{LabelMatcher, LabelSet, MatchOp, SeriesSource};

    use crate::{Options, Tsdb};

    fn times(db: &Tsdb) -> Vec<i64> {
        let m = LabelMatcher::new("__name__", MatchOp::Equal, "up").unwrap();
        db.select(&[m], i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .flat_map(|s| s.samples)
            .map(|s| s.t)
            .collect()
    }

    #[test]
    fn commits_work_again_once_the_disk_takes_writes_and_replay_keeps_them() {
        let dir =
            std::env::temp_dir().join(format!("pharos-tsdb-disk-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Tsdb::open(&dir, Options::default()).unwrap();
        let up = LabelSet::new([("__name__", "up"), ("job", "pharos")]);
        db.wal.lock().unwrap().faults.short_write = Some(4);
        let mut app = db.appender();
        app.append(&up, 1000, 1.0).unwrap();
        assert!(app.commit().is_err(), "the disk is full");
        assert!(db.write_failure().is_some());
        db.wal.lock().unwrap().faults.short_write = None;
        let mut app = db.appender();
        app.append(&up, 2000, 1.0).unwrap();
        app.commit().unwrap();
        assert_eq!(db.write_failure(), None);
        // The readiness check still sees the failure for a while: one success after a
        // failure may be a small write that fit in the file's last block of a full disk.
        assert!(
            db.recent_write_failure(std::time::Duration::from_secs(60))
                .is_some()
        );
        assert!(db.recent_write_failure(std::time::Duration::ZERO).is_none());
        assert_eq!(times(&db), vec![2000]);
        db.close().unwrap();
        drop(db);
        let db = Tsdb::open(&dir, Options::default()).unwrap();
        assert_eq!(
            times(&db),
            vec![2000],
            "the acknowledged sample, and its series, replay"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
