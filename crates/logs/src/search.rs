//! What a reader asks the store and what it gets back: searches newest first with cursor
//! paging, counts by field, histograms by level, one entry by id.

use chrono::{DateTime, Utc};
use pharos_model::{LogEntry, LogLevel};
use serde::Serialize;

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{TantivyDocument, Term};

use crate::collect::{Buckets, Newest, Recheck, ValueCounts, add_buckets};
use crate::error::LogStoreError;
use crate::partition::{
    LogSchema, Partition, day_of, day_start, from_ns, raw_field_bytes, time_ns,
};
use crate::query::{FieldName, IndexQuery, LogQuery};
use crate::store::LogStore;

/// `[start, end)`. Callers pick the default (the UI's is the last hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl TimeRange {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> TimeRange {
        TimeRange { start, end }
    }

    /// The last `d` before `now`.
    pub fn last(d: chrono::Duration, now: DateTime<Utc>) -> TimeRange {
        TimeRange {
            start: now - d,
            end: now,
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    pub(crate) fn check(&self) -> Result<(), LogStoreError> {
        if self.end < self.start {
            return Err(LogStoreError::BadRange);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: LogQuery,
    pub range: TimeRange,
    /// Entries per page; capped at [`MAX_PAGE`].
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The largest page a search returns.
pub const MAX_PAGE: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    /// Newest first; ties on `time` in reverse order of arrival.
    pub entries: Vec<StoredLog>,
    /// Set when there may be more entries; pass it back for the next page.
    pub next_cursor: Option<String>,
    /// How many entries match in the whole range; given on the first page only, and only
    /// when the index answers the query without re-checking entries one by one.
    pub total: Option<u64>,
}

/// An entry with the id that finds it again (`GET /api/v1/logs/<id>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredLog {
    pub id: String,
    pub entry: LogEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldCount {
    /// The field's value as text (numbers as JSON writes them).
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub range: TimeRange,
    pub step_seconds: f64,
    pub buckets: Vec<HistogramBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBucket {
    pub start: DateTime<Utc>,
    pub total: u64,
    /// Only levels with entries, lowest first; `level: null` for lines without a level.
    pub by_level: Vec<LevelCount>,
}

impl HistogramBucket {
    pub fn count(&self, level: Option<LogLevel>) -> u64 {
        self.by_level
            .iter()
            .find(|c| c.level == level)
            .map(|c| c.count)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LevelCount {
    pub level: Option<LogLevel>,
    pub count: u64,
}

/// `<time ns>-<seq>`: the time finds the partition, the sequence number the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogId {
    pub time_ns: i64,
    pub seq: u64,
}

impl LogId {
    pub(crate) fn encode(self) -> String {
        format!("{}-{}", self.time_ns, self.seq)
    }

    pub(crate) fn decode(s: &str) -> Option<LogId> {
        let (t, q) = s.rsplit_once('-')?;
        Some(LogId {
            time_ns: t.parse().ok()?,
            seq: q.parse().ok()?,
        })
    }
}

impl LogStore {
    /// Newest first, `limit` per page, continuing after `cursor`. Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, LogStoreError> {
        req.range.check()?;
        let limit = req.limit.clamp(1, MAX_PAGE);
        let before = match &req.cursor {
            Some(c) => Some(LogId::decode(c).ok_or_else(|| LogStoreError::BadCursor(c.clone()))?),
            None => None,
        };
        let schema = &self.shared.schema;
        let iq = IndexQuery::build(&req.query, schema);
        let recheck = (!iq.exact).then(|| Recheck {
            query: Arc::new(req.query.clone()),
            raw: schema.raw,
        });
        let start_ns = time_ns(req.range.start);
        let mut end_ns = time_ns(req.range.end);
        if let Some(b) = before {
            // Inclusive of the cursor's time: entries sharing it are told apart by seq.
            end_ns = end_ns.min(b.time_ns.saturating_add(1));
        }
        let mut total = (before.is_none() && iq.exact).then_some(0u64);
        let mut hits: Vec<(i64, u64, LogEntry)> = Vec::new();
        for p in self.partitions_between(start_ns, end_ns) {
            let need = limit + 1 - hits.len().min(limit + 1);
            if need == 0 && total.is_none() {
                break;
            }
            let searcher = p.reader.searcher();
            let q = within(iq.query.box_clone(), schema, start_ns, end_ns);
            if need == 0 {
                if let Some(t) = total.as_mut() {
                    *t += searcher.search(&q, &Count)? as u64;
                }
                continue;
            }
            let newest = Newest {
                limit: need,
                before,
                recheck: recheck.clone(),
            };
            let found = match total.as_mut() {
                Some(t) => {
                    let (found, n) = searcher.search(&q, &(newest, Count))?;
                    *t += n as u64;
                    found
                }
                None => searcher.search(&q, &newest)?,
            };
            for (t, s, addr) in found {
                let doc: TantivyDocument = searcher.doc(addr)?;
                if let Some(entry) = decode_entry(&doc, schema.raw) {
                    hits.push((t, s, entry));
                }
            }
        }
        let next_cursor = if hits.len() > limit {
            hits.truncate(limit);
            hits.last().map(|(t, s, _)| {
                LogId {
                    time_ns: *t,
                    seq: *s,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(SearchPage {
            entries: hits
                .into_iter()
                .map(|(t, s, entry)| StoredLog {
                    id: LogId { time_ns: t, seq: s }.encode(),
                    entry,
                })
                .collect(),
            next_cursor,
            total,
        })
    }

    /// "Count errors by type": the `limit` most frequent values of `field` among matching
    /// entries, most frequent first. `field` is `service`, `level`, `logger`, `source`,
    /// `host`, `trace_id`, `request_id` or any field name (`error_type`, `http.status`).
    /// Entries without the field are not counted.
    pub fn count_by(
        &self,
        query: &LogQuery,
        range: TimeRange,
        field: &str,
        limit: usize,
    ) -> Result<Vec<FieldCount>, LogStoreError> {
        range.check()?;
        let schema = &self.shared.schema;
        let iq = IndexQuery::build(query, schema);
        let name = FieldName::from_name(field);
        let column = match name {
            FieldName::Service => Some("service"),
            FieldName::Logger => Some("logger"),
            FieldName::Host => Some("host"),
            FieldName::Source => Some("source"),
            _ => None,
        };
        let collector = ValueCounts {
            field: name,
            column,
            recheck: Recheck {
                query: Arc::new(query.clone()),
                raw: schema.raw,
            },
            must_recheck: !iq.exact,
        };
        let (start_ns, end_ns) = (time_ns(range.start), time_ns(range.end));
        let mut counts: HashMap<String, u64> = HashMap::new();
        for p in self.partitions_between(start_ns, end_ns) {
            let q = within(iq.query.box_clone(), schema, start_ns, end_ns);
            for (k, v) in p.reader.searcher().search(&q, &collector)? {
                *counts.entry(k).or_insert(0) += v;
            }
        }
        let mut out: Vec<FieldCount> = counts
            .into_iter()
            .map(|(value, count)| FieldCount { value, count })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        out.truncate(limit);
        Ok(out)
    }

    /// Matching entries per time bucket (1 to 1000 of them), split by level.
    pub fn histogram(
        &self,
        query: &LogQuery,
        range: TimeRange,
        buckets: usize,
    ) -> Result<Histogram, LogStoreError> {
        range.check()?;
        let buckets = buckets.clamp(1, 1000);
        let schema = &self.shared.schema;
        let iq = IndexQuery::build(query, schema);
        let (start_ns, end_ns) = (time_ns(range.start), time_ns(range.end));
        // Saturating: a range near the ends of the nanosecond clock must not overflow.
        let span = end_ns.saturating_sub(start_ns).max(1);
        let step_ns = span / buckets as i64 + i64::from(span % buckets as i64 != 0);
        let collector = Buckets {
            start_ns,
            step_ns,
            buckets,
            recheck: (!iq.exact).then(|| Recheck {
                query: Arc::new(query.clone()),
                raw: schema.raw,
            }),
        };
        let mut counts = vec![[0u64; 8]; buckets];
        for p in self.partitions_between(start_ns, end_ns) {
            let q = within(iq.query.box_clone(), schema, start_ns, end_ns);
            add_buckets(&mut counts, &p.reader.searcher().search(&q, &collector)?);
        }
        Ok(Histogram {
            range,
            step_seconds: step_ns as f64 / 1e9,
            buckets: counts
                .into_iter()
                .enumerate()
                .map(|(i, c)| HistogramBucket {
                    start: from_ns(start_ns.saturating_add(step_ns.saturating_mul(i as i64))),
                    total: c.iter().sum(),
                    by_level: c
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| **n > 0)
                        .map(|(l, n)| LevelCount {
                            level: if l == 0 {
                                None
                            } else {
                                LogLevel::from_rank(l as u8 - 1)
                            },
                            count: *n,
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// One entry by the id a search gave.
    pub fn get(&self, id: &str) -> Result<Option<StoredLog>, LogStoreError> {
        let lid = LogId::decode(id).ok_or_else(|| LogStoreError::BadId(id.to_string()))?;
        let day = day_of(from_ns(lid.time_ns));
        let Some(p) = self
            .shared
            .partitions
            .read()
            .ok()
            .and_then(|m| m.get(&day).cloned())
        else {
            return Ok(None);
        };
        let schema = &self.shared.schema;
        let searcher = p.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_u64(schema.seq, lid.seq),
            IndexRecordOption::Basic,
        );
        let found = searcher.search(
            &q,
            &Newest {
                limit: 1,
                before: None,
                recheck: None,
            },
        )?;
        for (t, _, addr) in found {
            if t != lid.time_ns {
                continue;
            }
            let doc: TantivyDocument = searcher.doc(addr)?;
            return Ok(decode_entry(&doc, schema.raw).map(|entry| StoredLog {
                id: id.to_string(),
                entry,
            }));
        }
        Ok(None)
    }

    /// Partitions whose day overlaps `[start_ns, end_ns)`, newest first.
    pub(crate) fn partitions_between(&self, start_ns: i64, end_ns: i64) -> Vec<Arc<Partition>> {
        self.partitions()
            .into_iter()
            .filter(|p| {
                let d0 = time_ns(day_start(p.day));
                let d1 = time_ns(day_start(p.day) + chrono::Duration::days(1));
                d0 < end_ns && start_ns < d1
            })
            .collect()
    }
}

pub(crate) fn within(
    q: Box<dyn Query>,
    schema: &LogSchema,
    start_ns: i64,
    end_ns: i64,
) -> BooleanQuery {
    let range = RangeQuery::new(
        Bound::Included(Term::from_field_i64(schema.time, start_ns)),
        Bound::Excluded(Term::from_field_i64(schema.time, end_ns)),
    );
    BooleanQuery::new(vec![(Occur::Must, q), (Occur::Must, Box::new(range))])
}

pub(crate) fn decode_entry(doc: &TantivyDocument, raw: Field) -> Option<LogEntry> {
    let bytes = raw_field_bytes(doc, raw)?;
    match serde_json::from_slice(bytes) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(error = %e, "stored log entry does not decode; skipped");
            None
        }
    }
}
