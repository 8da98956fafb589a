//! One group-commit batch: events grouped into issues (with regressions and counts),
//! transactions, spans, sessions, attachments, logs and client reports, all in one
//! transaction.

use std::collections::HashMap;

use pharos_model::sentry::{
    Attachment, Discarded, ErrorEvent, Feedback, LogRecord, Record, SessionCounts, Span,
    Transaction,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{IngestBatch, compress};
use crate::{Result, ms};

/// A record with its payload already serialised and compressed.
pub(crate) enum Prepared {
    Event(Box<ErrorEvent>, Vec<u8>),
    Transaction(Box<Transaction>, Vec<u8>, Vec<PreparedSpan>),
    /// A `span` item: its spans, and each segment's transaction with its payload.
    Spans(Vec<PreparedSpan>, Vec<(Transaction, Vec<u8>)>),
    Sessions(Vec<SessionCounts>),
    Attachment(Attachment),
    Logs(Vec<LogRecord>),
    ClientReport(Vec<Discarded>),
    Feedback(Feedback),
}

impl Prepared {
    pub(crate) fn new(r: Record) -> Option<Prepared> {
        Some(match r {
            Record::Event(mut e) => {
                let payload = std::mem::take(&mut e.payload);
                let blob = compress(&serde_json::to_vec(&payload).unwrap_or_default());
                Prepared::Event(e, blob)
            }
            Record::Transaction(mut t) => {
                let payload = std::mem::take(&mut t.payload);
                let blob = compress(&serde_json::to_vec(&payload).unwrap_or_default());
                let spans = std::mem::take(&mut t.spans)
                    .into_iter()
                    .map(PreparedSpan::new)
                    .collect();
                Prepared::Transaction(t, blob, spans)
            }
            Record::Spans(batch) => {
                let batch = *batch;
                let segments = batch
                    .segments
                    .into_iter()
                    .map(|mut t| {
                        let payload = std::mem::take(&mut t.payload);
                        let blob = compress(&serde_json::to_vec(&payload).unwrap_or_default());
                        (t, blob)
                    })
                    .collect();
                Prepared::Spans(
                    batch.spans.into_iter().map(PreparedSpan::new).collect(),
                    segments,
                )
            }
            Record::Sessions(s) => Prepared::Sessions(s),
            Record::Attachment(a) => Prepared::Attachment(a),
            Record::Logs(l) => Prepared::Logs(l),
            Record::ClientReport(d) => Prepared::ClientReport(d),
            Record::Feedback(f) => Prepared::Feedback(f),
            // Check-ins drive monitors; they are not stored here.
            Record::CheckIn(_) => return None,
        })
    }
}

/// A span with its attributes serialised (compact JSON), ready for the writer.
pub(crate) struct PreparedSpan {
    span: Span,
    attributes: String,
}

impl PreparedSpan {
    fn new(mut span: Span) -> PreparedSpan {
        let attributes = std::mem::take(&mut span.attributes).to_string();
        PreparedSpan { span, attributes }
    }
}

/// What became of one event.
#[derive(Debug, Clone, Serialize)]
pub struct EventOutcome {
    pub event_id: String,
    pub issue_id: i64,
    pub level: String,
    /// The event's environment and release, for the labels of the alerts it raises.
    pub environment: Option<String>,
    pub release: Option<String>,
    pub new_issue: bool,
    /// The event reopened a resolved issue.
    pub regression: bool,
    /// Already stored (same `event_id`): not counted again.
    pub duplicate: bool,
}

/// What became of one envelope.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestOutcome {
    pub events: Vec<EventOutcome>,
    pub transactions: Vec<(String, f64, bool)>,
    /// Spans stored (a span already stored is not counted again).
    pub spans: usize,
    pub sessions: usize,
    pub attachments: usize,
    pub logs: usize,
    pub feedback: usize,
}

struct IssueState {
    id: i64,
    status: String,
    substatus: Option<String>,
    resolved_in_release: Option<String>,
    ignore_until: Option<i64>,
    ignore_until_count: Option<i64>,
    times_seen: i64,
    users: i64,
    title: String,
    culprit: String,
    level: String,
    last_seen: i64,
    last_release: Option<String>,
    last_event_id: Option<String>,
    first_release: Option<String>,
}

#[derive(Default)]
struct TagAgg {
    count: i64,
    first: i64,
    last: i64,
}

pub(crate) fn commit(c: &mut Connection, batches: &[IngestBatch]) -> Result<Vec<IngestOutcome>> {
    let tx = c.transaction()?;
    let mut issue_of_hash: HashMap<(i64, String), i64> = HashMap::new();
    let mut issues: HashMap<i64, IssueState> = HashMap::new();
    let mut tags: HashMap<(i64, String, String), TagAgg> = HashMap::new();
    let mut hourly: HashMap<(i64, i64), i64> = HashMap::new();
    let mut minutely: HashMap<(i64, i64), i64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut out = IngestOutcome::default();
        let received = ms(batch.received);
        for record in &batch.records {
            match record {
                Prepared::Event(e, blob) => {
                    let key = (batch.project_id, e.grouping.hash.clone());
                    let mut new_issue = false;
                    // Keyed by issue id: a merged issue's hash and its own lead to one state.
                    let id = match issue_of_hash.get(&key) {
                        Some(id) => *id,
                        None => {
                            let state = match load_issue(&tx, batch.project_id, &e.grouping.hash)? {
                                Some(s) => s,
                                None => {
                                    new_issue = true;
                                    create_issue(&tx, batch.project_id, e)?
                                }
                            };
                            let id = state.id;
                            issues.entry(id).or_insert(state);
                            issue_of_hash.insert(key, id);
                            id
                        }
                    };
                    let issue = issues.get_mut(&id).expect("just inserted");
                    let at = ms(e.timestamp);
                    let inserted = tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO events(project_id, event_id, issue_id, timestamp, received, level, environment, release, payload, trace_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        )?
                        .execute(params![batch.project_id, e.event_id, issue.id, at, received, e.level, e.environment, e.release, blob, e.trace_id])?;
                    if inserted == 0 {
                        out.events.push(EventOutcome {
                            event_id: e.event_id.clone(),
                            issue_id: issue.id,
                            level: e.level.clone(),
                            environment: e.environment.clone(),
                            release: e.release.clone(),
                            new_issue: false,
                            regression: false,
                            duplicate: true,
                        });
                        continue;
                    }
                    let regression = count_event(issue, e, at, received);
                    if let Some(user) = &e.user {
                        let added = tx
                            .prepare_cached(
                                "INSERT OR IGNORE INTO issue_users(issue_id, user) VALUES(?1, ?2)",
                            )?
                            .execute(params![issue.id, user])?;
                        issue.users += added as i64;
                    }
                    for (k, v) in &e.tags {
                        let t = tags
                            .entry((issue.id, k.clone(), v.clone()))
                            .or_insert(TagAgg {
                                count: 0,
                                first: at,
                                last: at,
                            });
                        t.count += 1;
                        t.first = t.first.min(at);
                        t.last = t.last.max(at);
                    }
                    // Counts are bucketed by arrival: an SDK's clock may be off, and rate
                    // alerts are about what arrives now.
                    *hourly
                        .entry((issue.id, received - received.rem_euclid(3_600_000)))
                        .or_default() += 1;
                    *minutely
                        .entry((issue.id, received - received.rem_euclid(60_000)))
                        .or_default() += 1;
                    out.events.push(EventOutcome {
                        event_id: e.event_id.clone(),
                        issue_id: issue.id,
                        level: e.level.clone(),
                        environment: e.environment.clone(),
                        release: e.release.clone(),
                        new_issue,
                        regression,
                        duplicate: false,
                    });
                }
                Prepared::Transaction(t, blob, spans) => {
                    insert_transaction(&tx, batch.project_id, received, t, blob, &mut out)?;
                    insert_spans(&tx, batch.project_id, received, spans, &mut out)?;
                }
                Prepared::Spans(spans, segments) => {
                    for (t, blob) in segments {
                        insert_transaction(&tx, batch.project_id, received, t, blob, &mut out)?;
                    }
                    insert_spans(&tx, batch.project_id, received, spans, &mut out)?;
                    link_segments(&tx, batch.project_id, spans)?;
                }
                Prepared::Sessions(list) => {
                    for s in list {
                        let hour = ms(s.started) - ms(s.started).rem_euclid(3_600_000);
                        tx.prepare_cached(
                            "INSERT INTO sessions(project_id, release, environment, hour, total, exited, errored, crashed, abnormal) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                             ON CONFLICT(project_id, release, environment, hour) DO UPDATE SET total = total + excluded.total, exited = exited + excluded.exited, errored = errored + excluded.errored, crashed = crashed + excluded.crashed, abnormal = abnormal + excluded.abnormal",
                        )?
                        .execute(params![batch.project_id, s.release, s.environment.as_deref().unwrap_or(""), hour, s.total as i64, s.exited as i64, s.errored as i64, s.crashed as i64, s.abnormal as i64])?;
                        out.sessions += 1;
                    }
                }
                Prepared::Attachment(a) => {
                    tx.prepare_cached(
                        "INSERT INTO attachments(project_id, event_id, filename, content_type, size, data, received) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![batch.project_id, a.event_id, a.filename, a.content_type, a.data.len() as i64, a.data, received])?;
                    out.attachments += 1;
                }
                Prepared::Logs(logs) => {
                    for l in logs {
                        tx.prepare_cached(
                            "INSERT INTO sentry_logs(project_id, timestamp, level, body, trace_id, payload) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![batch.project_id, ms(l.timestamp), l.level, l.body, l.trace_id, l.payload.to_string()])?;
                        out.logs += 1;
                    }
                }
                Prepared::Feedback(f) => {
                    out.feedback += super::feedback::insert(&tx, batch.project_id, f, received)?;
                }
                Prepared::ClientReport(list) => {
                    let day = received - received.rem_euclid(86_400_000);
                    for d in list {
                        tx.prepare_cached(
                            "INSERT INTO client_reports(project_id, day, reason, category, quantity) VALUES(?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT(project_id, day, reason, category) DO UPDATE SET quantity = quantity + excluded.quantity",
                        )?
                        .execute(params![batch.project_id, day, d.reason, d.category, d.quantity as i64])?;
                    }
                }
            }
        }
        outcomes.push(out);
    }
    for issue in issues.values() {
        tx.prepare_cached(
            "UPDATE issues SET status = ?2, substatus = ?3, resolved_in_release = ?4, ignore_until = ?5, ignore_until_count = ?6, times_seen = ?7, users = ?8, title = ?9, culprit = ?10, level = ?11, last_seen = ?12, last_release = ?13, last_event_id = ?14, first_release = ?15 WHERE id = ?1",
        )?
        .execute(params![issue.id, issue.status, issue.substatus, issue.resolved_in_release, issue.ignore_until, issue.ignore_until_count, issue.times_seen, issue.users, issue.title, issue.culprit, issue.level, issue.last_seen, issue.last_release, issue.last_event_id, issue.first_release])?;
    }
    for ((issue, key, value), t) in &tags {
        tx.prepare_cached(
            "INSERT INTO issue_tags(issue_id, key, value, times_seen, first_seen, last_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen, first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
        )?
        .execute(params![issue, key, value, t.count, t.first, t.last])?;
    }
    for (table, counts) in [("issue_hourly", &hourly), ("issue_minutely", &minutely)] {
        let column = if table == "issue_hourly" {
            "hour"
        } else {
            "minute"
        };
        let sql = format!(
            "INSERT INTO {table}(issue_id, {column}, count) VALUES(?1, ?2, ?3) ON CONFLICT(issue_id, {column}) DO UPDATE SET count = count + excluded.count"
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        for ((issue, bucket), n) in counts.iter() {
            stmt.execute(params![issue, bucket, n])?;
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Stores a transaction (once per event id) and counts it for the transaction series.
fn insert_transaction(
    tx: &Connection,
    project: i64,
    received: i64,
    t: &Transaction,
    blob: &[u8],
    out: &mut IngestOutcome,
) -> Result<()> {
    let n = tx.prepare_cached(
        "INSERT OR IGNORE INTO transactions(project_id, event_id, name, op, status, start, duration_ms, environment, release, trace_id, span_count, received, payload, span_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![project, t.event_id, t.name, t.op, t.status, ms(t.start), t.duration_ms, t.environment, t.release, t.trace_id, t.span_count as i64, received, blob, t.span_id])?;
    if n > 0 {
        out.transactions
            .push((t.name.clone(), t.duration_ms, t.failed()));
    }
    Ok(())
}

/// Stores spans; one already stored (same trace, span and project) is kept as it was, so
/// an SDK's retry or a resent transaction adds nothing.
fn insert_spans(
    tx: &Connection,
    project: i64,
    received: i64,
    spans: &[PreparedSpan],
    out: &mut IngestOutcome,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO spans(project_id, trace_id, span_id, parent_span_id, segment_id, is_segment, name, op, status, start_us, duration_ms, environment, release, attributes, received) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for p in spans {
        let s = &p.span;
        out.spans += stmt.execute(params![
            project,
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.segment_id,
            s.is_segment,
            s.name,
            s.op,
            s.status,
            s.start.timestamp_micros(),
            s.duration_ms,
            s.environment,
            s.release,
            p.attributes,
            received
        ])?;
    }
    Ok(())
}

/// Links spans to their segment across batches, for spans that do not name it (an
/// OpenTelemetry span knows only its parent): an exporter sends a long request's children
/// before the request's own span has ended, and a child's parent may come after the
/// child. A span without a segment takes its parent's; a span with one passes it down to
/// the spans stored below it without one. Spans that name their segment (every Sentry
/// SDK's) find no such spans, so for them this is one indexed look-up per trace.
fn link_segments(tx: &Connection, project: i64, spans: &[PreparedSpan]) -> Result<()> {
    let mut unlinked = tx.prepare_cached(
        "SELECT 1 FROM spans WHERE trace_id = ?1 AND project_id = ?2 AND segment_id IS NULL AND is_segment = 0 LIMIT 1",
    )?;
    let mut segment_of = tx.prepare_cached(
        "SELECT segment_id FROM spans WHERE trace_id = ?1 AND span_id = ?2 AND project_id = ?3 AND segment_id IS NOT NULL",
    )?;
    let mut set = tx.prepare_cached(
        "UPDATE spans SET segment_id = ?4 WHERE trace_id = ?1 AND span_id = ?2 AND project_id = ?3 AND segment_id IS NULL",
    )?;
    // Depth-bounded, as the decoder's walk up the parents is.
    let mut adopt = tx.prepare_cached(
        "WITH RECURSIVE below(span_id, depth) AS (
             SELECT ?2, 0
             UNION SELECT s.span_id, below.depth + 1 FROM spans s JOIN below ON s.parent_span_id = below.span_id
             WHERE s.trace_id = ?1 AND s.project_id = ?3 AND s.segment_id IS NULL AND s.is_segment = 0 AND below.depth < 128)
         UPDATE spans SET segment_id = ?4
         WHERE trace_id = ?1 AND project_id = ?3 AND segment_id IS NULL AND is_segment = 0
           AND span_id IN (SELECT span_id FROM below)",
    )?;
    // Whether each trace of the batch has spans without a segment: linking only removes them.
    let mut traces: Vec<(&str, bool)> = Vec::new();
    for p in spans {
        let s = &p.span;
        let has_unlinked = match traces.iter().find(|(t, _)| *t == s.trace_id) {
            Some((_, u)) => *u,
            None => {
                let u = unlinked.exists(params![s.trace_id, project])?;
                traces.push((&s.trace_id, u));
                u
            }
        };
        if !has_unlinked {
            continue;
        }
        let segment = match (&s.segment_id, &s.parent_span_id) {
            (Some(segment), _) => segment.clone(),
            (None, Some(parent)) => {
                let found: Option<String> = segment_of
                    .query_row(params![s.trace_id, parent, project], |r| r.get(0))
                    .optional()?;
                let Some(segment) = found else { continue };
                set.execute(params![s.trace_id, s.span_id, project, segment])?;
                segment
            }
            (None, None) => continue,
        };
        adopt.execute(params![s.trace_id, s.span_id, project, segment])?;
    }
    Ok(())
}

/// Counts one new event on its issue; `true` when it reopened a resolved issue.
fn count_event(issue: &mut IssueState, e: &ErrorEvent, at: i64, received: i64) -> bool {
    issue.times_seen += 1;
    if at >= issue.last_seen {
        issue.last_seen = at;
        issue.title = e.title.clone();
        issue.culprit = e.culprit.clone();
        issue.level = e.level.clone();
        issue.last_event_id = Some(e.event_id.clone());
        if e.release.is_some() {
            issue.last_release = e.release.clone();
        }
    }
    if issue.first_release.is_none() {
        issue.first_release = e.release.clone();
    }
    match issue.status.as_str() {
        "resolved" => {
            // "Resolved in next release": events from the release it was resolved in
            // (or without a release) are expected stragglers, not a regression.
            let regressed = match (&issue.resolved_in_release, &e.release) {
                (Some(resolved), Some(release)) => release != resolved,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if regressed {
                issue.status = "unresolved".into();
                issue.substatus = Some("regressed".into());
                issue.resolved_in_release = None;
            }
            regressed
        }
        "ignored" => {
            let time_up = issue.ignore_until.is_some_and(|t| received >= t);
            let count_up = issue
                .ignore_until_count
                .is_some_and(|n| issue.times_seen >= n);
            if time_up || count_up {
                issue.status = "unresolved".into();
                issue.substatus = Some("escalating".into());
                issue.ignore_until = None;
                issue.ignore_until_count = None;
            }
            false
        }
        _ => false,
    }
}

/// The issue of a fingerprint hash: its own, or the issue it was merged into.
fn load_issue(c: &Connection, project: i64, hash: &str) -> Result<Option<IssueState>> {
    Ok(c.prepare_cached(
        "SELECT id, status, substatus, resolved_in_release, ignore_until, ignore_until_count, times_seen, users, title, culprit, level, last_seen, last_release, last_event_id, first_release FROM issues WHERE id = coalesce((SELECT issue_id FROM issue_aliases WHERE project_id = ?1 AND hash = ?2), (SELECT id FROM issues WHERE project_id = ?1 AND hash = ?2))",
    )?
    .query_row(params![project, hash], |r| {
        Ok(IssueState {
            id: r.get(0)?,
            status: r.get(1)?,
            substatus: r.get(2)?,
            resolved_in_release: r.get(3)?,
            ignore_until: r.get(4)?,
            ignore_until_count: r.get(5)?,
            times_seen: r.get(6)?,
            users: r.get(7)?,
            title: r.get(8)?,
            culprit: r.get(9)?,
            level: r.get(10)?,
            last_seen: r.get(11)?,
            last_release: r.get(12)?,
            last_event_id: r.get(13)?,
            first_release: r.get(14)?,
        })
    })
    .optional()?)
}

fn create_issue(c: &Connection, project: i64, e: &ErrorEvent) -> Result<IssueState> {
    let at = ms(e.timestamp);
    c.prepare_cached(
        "INSERT INTO issues(project_id, hash, title, culprit, level, status, substatus, first_seen, last_seen, times_seen, first_release, last_release) VALUES(?1, ?2, ?3, ?4, ?5, 'unresolved', 'new', ?6, ?6, 0, ?7, ?7)",
    )?
    .execute(params![project, e.grouping.hash, e.title, e.culprit, e.level, at, e.release])?;
    Ok(IssueState {
        id: c.last_insert_rowid(),
        status: "unresolved".into(),
        substatus: Some("new".into()),
        resolved_in_release: None,
        ignore_until: None,
        ignore_until_count: None,
        times_seen: 0,
        users: 0,
        title: e.title.clone(),
        culprit: e.culprit.clone(),
        level: e.level.clone(),
        last_seen: at,
        last_release: e.release.clone(),
        last_event_id: None,
        first_release: e.release.clone(),
    })
}
