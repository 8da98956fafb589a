//! Retention: which entries have outlived their rule, and the disk budget. A day whose
//! end is older than the longest rule is deleted whole (a directory removal); otherwise
//! each rule's expired entries are deleted by query, the rule's conditions combined with
//! "no earlier rule matched" so first-match-wins holds in the index as in the config.
//! Over `max_disk`, the oldest days go first: a day without `forever` entries is removed
//! whole, a day with some keeps only those. Tantivy frees deleted documents' bytes when
//! it merges segments, so the bytes reported for deletions by query are an estimate.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tantivy::Term;
use tantivy::collector::Count;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery};

use crate::error::LogStoreError;
use crate::partition::{Partition, day_start, time_ns};
use crate::query::{FieldName, FilterValue, IndexQuery, Node};
use crate::settings::{CompareOp, Keep, RetentionRule, RetentionSettings};
use crate::stats::Counters;
use crate::store::{Indexer, close_writer};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Days removed whole.
    pub partitions_dropped: Vec<NaiveDate>,
    /// Entries deleted from days that stay.
    pub entries_deleted: u64,
    /// Bytes removed, or to be freed when the index next merges (an estimate).
    pub bytes_freed: u64,
    /// Still over `max_disk` after deleting everything not kept `forever`.
    pub over_disk_budget: bool,
}

pub(crate) fn run_retention(
    ix: &Indexer,
    now: DateTime<Utc>,
) -> Result<RetentionReport, LogStoreError> {
    let settings = ix
        .shared
        .settings
        .read()
        .map(|s| s.clone())
        .unwrap_or_default();
    let retention = &settings.retention;
    let mut report = RetentionReport::default();
    let oldest_first: Vec<Arc<Partition>> = ix
        .shared
        .partitions
        .read()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    let mut remaining = Vec::new();
    for p in oldest_first {
        let day_end = day_start(p.day) + chrono::Duration::days(1);
        if let Keep::For(d) = retention.longest()
            && day_end + to_chrono(d.as_duration()) <= now
        {
            report.bytes_freed += drop_partition(ix, &p)?;
            report.partitions_dropped.push(p.day);
            continue;
        }
        let expired = expired_query(retention, &p, now, ix);
        if let Some(q) = expired {
            let (deleted, freed) = delete_where(ix, &p, q)?;
            report.entries_deleted += deleted;
            report.bytes_freed += freed;
        }
        remaining.push(p);
    }

    if let Some(max) = settings.max_disk_bytes() {
        let mut total: u64 = remaining.iter().map(|p| p.bytes_on_disk()).sum::<u64>()
            + ix.shared.wal_bytes.load(Ordering::Relaxed);
        let forever = forever_query(retention, ix);
        for p in remaining {
            if total <= max {
                break;
            }
            let searcher = p.reader.searcher();
            let kept_forever = match &forever {
                Some(q) => searcher.search(q.as_ref(), &Count)?,
                None => 0,
            };
            let bytes = p.bytes_on_disk();
            if kept_forever == 0
                && Some(p.day)
                    != ix
                        .shared
                        .partitions
                        .read()
                        .ok()
                        .and_then(|m| m.keys().last().copied())
            {
                total = total.saturating_sub(bytes);
                report.bytes_freed += drop_partition(ix, &p)?;
                report.partitions_dropped.push(p.day);
                continue;
            }
            let not_forever: Box<dyn Query> = match &forever {
                Some(q) => Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, q.box_clone()),
                ])),
                None => Box::new(AllQuery),
            };
            let (deleted, freed) = delete_where(ix, &p, not_forever)?;
            report.entries_deleted += deleted;
            report.bytes_freed += freed;
            total = total.saturating_sub(freed);
        }
        report.over_disk_budget = total > max;
    }
    Counters::add(&ix.shared.counters.expired, report.entries_deleted);
    Ok(report)
}

fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The rule's conditions as index query; `None` when the rule matches everything.
fn rule_node(rule: &RetentionRule) -> Node {
    let mut parts = Vec::new();
    if let Some(s) = &rule.service {
        parts.push(Node::Compare {
            field: FieldName::Service,
            op: CompareOp::Eq,
            value: FilterValue::new(s.clone()),
        });
    }
    if let Some(l) = rule.level {
        parts.push(Node::Level(l));
    }
    match parts.len() {
        0 => Node::All,
        1 => parts.pop().unwrap_or_default(),
        _ => Node::And(parts),
    }
}

/// Entries whose deciding rule is rule `i` (or the default when `i == rules.len()`).
fn decided_by(rules: &[RetentionRule], i: usize) -> Node {
    let mut parts: Vec<Node> = rules[..i]
        .iter()
        .map(|r| Node::Not(Box::new(rule_node(r))))
        .collect();
    if let Some(r) = rules.get(i) {
        parts.push(rule_node(r));
    }
    Node::And(parts)
}

fn expired_query(
    r: &RetentionSettings,
    p: &Partition,
    now: DateTime<Utc>,
    ix: &Indexer,
) -> Option<Box<dyn Query>> {
    let schema = &ix.shared.schema;
    let keeps = r
        .rules
        .iter()
        .map(|rule| rule.keep)
        .chain(std::iter::once(r.default));
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (i, keep) in keeps.enumerate() {
        let Keep::For(d) = keep else {
            continue;
        };
        let cutoff = now - to_chrono(d.as_duration());
        if cutoff <= day_start(p.day) {
            continue;
        }
        let older: Box<dyn Query> = Box::new(RangeQuery::new(
            Bound::Unbounded,
            Bound::Excluded(Term::from_field_i64(schema.time, time_ns(cutoff))),
        ));
        let who = IndexQuery::from_node(&decided_by(&r.rules, i), schema);
        clauses.push((
            Occur::Should,
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, older),
                (Occur::Must, who),
            ])),
        ));
    }
    if clauses.is_empty() {
        None
    } else {
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

fn forever_query(r: &RetentionSettings, ix: &Indexer) -> Option<Box<dyn Query>> {
    let schema = &ix.shared.schema;
    let keeps = r
        .rules
        .iter()
        .map(|rule| rule.keep)
        .chain(std::iter::once(r.default));
    let clauses: Vec<(Occur, Box<dyn Query>)> = keeps
        .enumerate()
        .filter(|(_, k)| *k == Keep::Forever)
        .map(|(i, _)| {
            (
                Occur::Should,
                IndexQuery::from_node(&decided_by(&r.rules, i), schema),
            )
        })
        .collect();
    if clauses.is_empty() {
        None
    } else {
        Some(Box::new(BooleanQuery::new(clauses)))
    }
}

/// Deletes and commits; returns (entries deleted, estimated bytes freed).
fn delete_where(
    ix: &Indexer,
    p: &Partition,
    q: Box<dyn Query>,
) -> Result<(u64, u64), LogStoreError> {
    let searcher = p.reader.searcher();
    let total = searcher.num_docs();
    let n = searcher.search(q.as_ref(), &Count)? as u64;
    if n == 0 || total == 0 {
        return Ok((0, 0));
    }
    let bytes = p.bytes_on_disk();
    let seq = ix.last_seq.max(p.committed_seq.load(Ordering::Relaxed));
    ix.with_writer(p, |w| {
        w.writer.delete_query(q)?;
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        w.dirty = false;
        Ok(())
    })?;
    p.reader.reload()?;
    Ok((n, bytes.saturating_mul(n) / total.max(1)))
}

fn drop_partition(ix: &Indexer, p: &Arc<Partition>) -> Result<u64, LogStoreError> {
    if let Ok(mut m) = ix.shared.partitions.write() {
        m.remove(&p.day);
    }
    close_writer(p);
    let bytes = p.bytes_on_disk();
    std::fs::remove_dir_all(&p.dir).map_err(|e| LogStoreError::io(&p.dir, e))?;
    Ok(bytes)
}
