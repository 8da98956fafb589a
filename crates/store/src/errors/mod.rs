//! The error-tracking store, `errors.db`: projects and their keys, issues with their tag,
//! user and time counts, event payloads (LZ4-compressed JSON), transactions, spans (every
//! span whatever the SDK: streamed `span` items and transaction events' spans), release-health
//! sessions, attachments, SDK logs, client reports, user feedback, and triage (assignees,
//! comments, merged issues' aliases).
//!
//! Writes go through one writer thread that commits many envelopes in one transaction
//! (group commit): a request is answered only after its transaction commits, so an
//! acknowledged event survives `kill -9`, and a burst of events costs one fsync-free WAL
//! append per batch instead of one per event.
//!
//! Counts (`issues.times_seen`, `issue_hourly`, `issue_tags`) are written in the same
//! transaction as the event and are never pruned with payloads, so they stay exact.

mod feedback;
mod issues;
mod performance;
mod projects;
mod schema;
pub use schema::ERRORS_DB_FORMAT;
pub mod search;
mod traces;
mod triage;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use chrono::{DateTime, Utc};
use pharos_model::sentry::Record;

use crate::{Db, Result, StoreError};

pub use feedback::{FeedbackAttachment, ISSUE_FEEDBACK_LIMIT, StoredFeedback};
pub use issues::{
    EventLabels, EventSummary, IssueChange, IssueDetail, IssueStatus, IssueSummary, Page,
    StoredEvent, TagCount, TagDistribution,
};
pub use performance::{
    ClientReportRow, MAX_WATERFALL_SPANS, ReleaseHealth, StoredSpan, TransactionSample,
    TransactionSummary,
};
pub use projects::{Project, ProjectKey, ProjectSource};
pub use search::{AssigneeFilter, IssueQuery};
pub use traces::{MAX_TRACE_SPANS, TraceEvent, TraceRefs, TraceTransaction};
pub use triage::{ACTIVITY_LIMIT, Activity, ActivityKind, Assignee, MAX_COMMENTS_PER_ISSUE};
pub use write::{EventOutcome, IngestOutcome};

/// How many envelopes may wait for the writer before producers are told to back off.
const QUEUE: usize = 4096;
/// Envelopes committed together at most.
const BATCH: usize = 512;

pub struct ErrorStore {
    db: Arc<Db>,
    queue: SyncSender<Job>,
}

/// What one request hands to the writer: the project and the records of its envelope.
pub struct IngestBatch {
    pub project_id: i64,
    pub received: DateTime<Utc>,
    pub(crate) records: Vec<write::Prepared>,
}

impl IngestBatch {
    /// Serialises and compresses payloads on the caller's thread, so the one writer thread
    /// only writes.
    pub fn new(project_id: i64, received: DateTime<Utc>, records: Vec<Record>) -> IngestBatch {
        IngestBatch {
            project_id,
            received,
            records: records
                .into_iter()
                .filter_map(write::Prepared::new)
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

type Reply = Box<dyn FnOnce(Result<IngestOutcome>) + Send>;

struct Job {
    batch: IngestBatch,
    reply: Reply,
}

impl ErrorStore {
    pub(crate) fn open(path: &Path) -> Result<ErrorStore> {
        let db = Arc::new(Db::open(path, |c| {
            crate::schema::apply(c, schema::MIGRATIONS)
        })?);
        let (queue, jobs) = sync_channel(QUEUE);
        let writer = db.clone();
        std::thread::Builder::new()
            .name("error-writer".into())
            .spawn(move || write_loop(&writer, jobs))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the error writer: {e}")))?;
        Ok(ErrorStore { db, queue })
    }

    /// Queues an envelope's records; `reply` runs once they are committed (or failed).
    /// `Err` at once when the queue is full: the caller answers 503 / 429.
    pub fn ingest(
        &self,
        batch: IngestBatch,
        reply: impl FnOnce(Result<IngestOutcome>) + Send + 'static,
    ) -> std::result::Result<(), StoreError> {
        match self.queue.try_send(Job {
            batch,
            reply: Box::new(reply),
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Corrupt("the error writer has stopped".into()))
            }
        }
    }

    /// Blocking convenience for tests and tools: ingest and wait for the commit.
    pub fn ingest_now(&self, batch: IngestBatch) -> Result<IngestOutcome> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.ingest(batch, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv()
            .map_err(|_| StoreError::Corrupt("the error writer has stopped".into()))?
    }

    /// A real write round-trip, for `/health/ready`: fails while the disk is full or
    /// read-only, and works again as soon as the disk does.
    pub fn check_writable(&self) -> Result<()> {
        self.write(|c| {
            c.execute("INSERT INTO meta(key, value) VALUES('ready_check', datetime('now')) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [])?;
            Ok(())
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> Result<T>) -> Result<T> {
        self.db.write(f)
    }

    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        self.db.read(f)
    }
}

fn write_loop(db: &Db, jobs: Receiver<Job>) {
    // Envelopes refused since writes started failing; logged when they fail first and when
    // they work again, not per batch: a full disk fails every one.
    let mut refused_while_failing: Option<usize> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let (inputs, replies): (Vec<IngestBatch>, Vec<Reply>) =
            batch.into_iter().map(|j| (j.batch, j.reply)).unzip();
        match db.write(|c| write::commit(c, &inputs)) {
            Ok(outcomes) => {
                if let Some(refused) = refused_while_failing.take() {
                    tracing::info!(
                        operation = "error_ingest",
                        refused,
                        "error store writes work again; events stored"
                    );
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    reply(Ok(outcome));
                }
            }
            Err(e) => {
                match &mut refused_while_failing {
                    None => {
                        tracing::error!(operation = "error_ingest", error_type = "store", error = %e, envelopes = replies.len(), "events not stored; envelopes are refused until the store can write again");
                        refused_while_failing = Some(replies.len());
                    }
                    Some(n) => *n += replies.len(),
                }
                let msg = e.to_string();
                for reply in replies {
                    reply(Err(StoreError::Corrupt(msg.clone())));
                }
            }
        }
    }
}

fn compress(json: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(json)
}

fn decompress(blob: &[u8]) -> Result<serde_json::Value> {
    let bytes = lz4_flex::decompress_size_prepended(blob)
        .map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("payload: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use pharos_ingest::sentry::{Scrubber, parse_event};
    use pharos_model::project::ProjectSpec;

    fn event(json: &str) -> Record {
        Record::Event(Box::new(
            parse_event(json.as_bytes(), None, &Scrubber::default(), Utc::now()).unwrap(),
        ))
    }

    fn project(store: &crate::Store) -> i64 {
        let spec: ProjectSpec =
            serde_json::from_str(r#"{"id": 7, "name": "bot", "keys": ["abcdef0123456789"]}"#)
                .unwrap();
        store
            .errors()
            .sync_config_projects(&[spec], Utc::now())
            .unwrap();
        7
    }

    fn exc(id: &str, func: &str, release: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","release":"{release}","environment":"production","user":{{"id":"u-{id}"}},"tags":{{"tenant_id":"acme"}},
               "exception":{{"values":[{{"type":"KeyError","value":"'x'","stacktrace":{{"frames":[{{"module":"app","function":"{func}","in_app":true,"lineno":3}}]}}}}]}}}}"#
        )
    }

    #[test]
    fn a_trace_id_finds_its_events_and_transactions() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let trace = "0123456789ABCDEF0123456789abcdef";
        let with_trace = format!(
            r#"{{"event_id":"00000000000000000000000000000009","contexts":{{"trace":{{"trace_id":"{trace}","span_id":"0123456789abcdef"}}}},"message":"boom"}}"#
        );
        let out = store
            .errors()
            .ingest_now(IngestBatch::new(
                p,
                Utc::now(),
                vec![
                    event(&with_trace),
                    event(&exc("00000000000000000000000000000001", "checkout", "1.0")),
                ],
            ))
            .unwrap();
        let found = store.errors().trace(trace).unwrap();
        assert_eq!(found.events.len(), 1);
        assert_eq!(found.events[0].event_id, "00000000000000000000000000000009");
        assert_eq!(found.events[0].issue_id, out.events[0].issue_id);
        assert!(found.transactions.is_empty());
        assert!(
            store
                .errors()
                .trace(&"f".repeat(32))
                .unwrap()
                .events
                .is_empty()
        );
    }

    /// The records of a recorded envelope, as ingest makes them.
    fn envelope(name: &str) -> Vec<Record> {
        let body = std::fs::read(format!(
            "{}/../ingest/tests/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = pharos_ingest::sentry::Envelope::parse(&body).unwrap();
        let p = pharos_ingest::sentry::process_envelope(
            &env,
            &Scrubber::default(),
            Default::default(),
            Utc::now(),
        );
        assert!(p.invalid.is_empty(), "{:?}", p.invalid);
        p.records
    }

    #[test]
    fn streamed_spans_make_a_transaction_whose_waterfall_has_children_sent_before_and_after() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        let now = Utc::now();
        // sentry-sdk 3.0 sent six children of `/fast` first here, then the segment with
        // one more child, then a failed `/boom` segment.
        let children = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                envelope("sdk3-003-span-children.envelope"),
            ))
            .unwrap();
        assert_eq!((children.spans, children.transactions.len()), (6, 0));
        let segment = errors
            .ingest_now(IngestBatch::new(p, now, envelope("sdk3-001-span.envelope")))
            .unwrap();
        assert_eq!(segment.spans, 2);
        assert_eq!(segment.transactions.len(), 1);
        assert_eq!(segment.transactions[0].0, "/fast");
        errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                envelope("sdk3-002-span-error.envelope"),
            ))
            .unwrap();
        // The same segment again (an SDK retry) is neither stored nor counted twice.
        let again = errors
            .ingest_now(IngestBatch::new(p, now, envelope("sdk3-001-span.envelope")))
            .unwrap();
        assert_eq!((again.spans, again.transactions.len()), (0, 0));

        let since = now - Duration::days(30);
        let summaries = errors.transaction_summaries(Some(p), since, now).unwrap();
        let fast = summaries.iter().find(|t| t.name == "/fast").unwrap();
        assert_eq!((fast.count, fast.failures), (1, 0));
        assert_eq!(fast.op.as_deref(), Some("http.server"));
        assert!(fast.p95_ms > 0.0);
        let boom = summaries.iter().find(|t| t.name == "/boom").unwrap();
        assert_eq!((boom.count, boom.failures), (1, 1));

        let samples = errors.slowest_transactions(p, "/fast", since, 10).unwrap();
        assert_eq!(samples.len(), 1);
        let s = &samples[0];
        assert_eq!(s.spans.len(), 7, "children from both envelopes");
        assert!(s.spans.windows(2).all(|w| w[0].start <= w[1].start));
        assert!(
            s.spans
                .iter()
                .any(|c| c.op.as_deref() == Some("db.query") && c.name == "SELECT 1")
        );
        assert_eq!(s.environment.as_deref(), Some("production"));
        assert_eq!(s.release.as_deref(), Some("shop@3.0"));

        let trace = errors.trace(s.trace_id.as_deref().unwrap()).unwrap();
        assert_eq!(trace.transactions.len(), 1);
        assert_eq!(trace.spans.len(), 8, "the segment and its seven children");

        // Spans count against the disk budget and go with their project's retention.
        assert!(errors.payload_bytes(p).unwrap() > 5_000);
        errors.prune(now + Duration::days(400)).unwrap();
        assert!(
            errors
                .trace(s.trace_id.as_deref().unwrap())
                .unwrap()
                .spans
                .is_empty()
        );
        assert_eq!(errors.payload_bytes(p).unwrap(), 0);
    }

    /// An OpenTelemetry span names its parent, not its segment: spans sent before or after
    /// their segment, or before their own parent, still end in the segment's waterfall.
    #[test]
    fn otlp_spans_find_their_segment_across_exports() {
        use pharos_ingest::otlp::traces::decode_json;
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        let now = Utc::now();
        let trace = "5b8efff798038103d269b633813fc60c";
        let t0 = now.timestamp_nanos_opt().unwrap();
        let span = |id: &str, parent: Option<&str>, start_ms: i64, kind: i64| {
            let mut s = serde_json::json!({
                "traceId": trace, "spanId": id, "name": format!("span {id}"), "kind": kind,
                "startTimeUnixNano": (t0 + start_ms * 1_000_000).to_string(),
                "endTimeUnixNano": (t0 + (start_ms + 5) * 1_000_000).to_string(),
            });
            if let Some(parent) = parent {
                s["parentSpanId"] = parent.into();
            }
            s
        };
        let export = |spans: Vec<serde_json::Value>| {
            let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
            let mut decoded =
                decode_json(body.to_string().as_bytes(), &Scrubber::default()).unwrap();
            assert!(decoded.refused.is_empty());
            let batch = std::mem::take(&mut decoded.services[0].batch);
            errors
                .ingest_now(IngestBatch::new(
                    p,
                    now,
                    vec![Record::Spans(Box::new(batch))],
                ))
                .unwrap();
        };
        // A grandchild first; then the root; then the child between them; then a child of
        // the root that names no parent known yet but the root.
        export(vec![span(
            "000000000000000c",
            Some("000000000000000b"),
            3,
            1,
        )]);
        export(vec![span("000000000000000a", None, 0, 2)]);
        export(vec![span(
            "000000000000000b",
            Some("000000000000000a"),
            1,
            1,
        )]);
        export(vec![span(
            "000000000000000d",
            Some("000000000000000a"),
            4,
            3,
        )]);
        let samples = errors
            .slowest_transactions(p, "span 000000000000000a", now - Duration::days(1), 10)
            .unwrap();
        assert_eq!(samples.len(), 1);
        let names: Vec<&str> = samples[0].spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "span 000000000000000b",
                "span 000000000000000c",
                "span 000000000000000d"
            ]
        );
    }

    #[test]
    fn a_transaction_events_spans_go_to_the_span_store() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        let now = Utc::now();
        let out = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                envelope("full-005-transaction.envelope"),
            ))
            .unwrap();
        assert_eq!((out.spans, out.transactions.len()), (3, 1));
        let samples = errors
            .slowest_transactions(p, "process-job", now - Duration::days(3650), 10)
            .unwrap();
        let s = &samples[0];
        assert_eq!(s.spans.len(), 2);
        assert!(
            s.spans
                .iter()
                .all(|c| !c.is_segment && c.segment_id == s.span_id)
        );
        assert_eq!(s.payload["spans"].as_array().unwrap().len(), 2);
    }

    fn feedback(id: &str, about: Option<&str>, message: &str) -> Record {
        Record::Feedback(pharos_model::sentry::Feedback {
            feedback_id: id.into(),
            associated_event_id: about.map(str::to_owned),
            message: message.into(),
            name: Some("Ana".into()),
            email: Some("ana@example.com".into()),
            url: None,
            environment: None,
            release: None,
            timestamp: Utc::now(),
            source: pharos_model::sentry::FeedbackSource::Feedback,
        })
    }

    #[test]
    fn feedback_follows_its_event_into_a_merged_issue_and_new_events_follow_the_alias() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        let now = Utc::now();
        let first = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![
                    event(&exc("00000000000000000000000000000001", "checkout", "1.0")),
                    event(&exc("00000000000000000000000000000002", "refund", "1.0")),
                    // Feedback about an event, and one sent before its event arrives.
                    feedback(
                        "f0000000000000000000000000000001",
                        Some("00000000000000000000000000000002"),
                        "refund broke",
                    ),
                    feedback(
                        "f0000000000000000000000000000002",
                        Some("00000000000000000000000000000003"),
                        "again",
                    ),
                    feedback("f0000000000000000000000000000003", None, "general"),
                ],
            ))
            .unwrap();
        assert_eq!(first.feedback, 3);
        let (checkout, refund) = (first.events[0].issue_id, first.events[1].issue_id);
        assert_ne!(checkout, refund);
        assert_eq!(errors.issue_feedback(refund).unwrap().len(), 1);
        assert_eq!(errors.project_feedback(p, 1, 50).unwrap().total, 3);

        // The same feedback again (an SDK retry) is stored once.
        let again = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![feedback(
                    "f0000000000000000000000000000003",
                    None,
                    "general",
                )],
            ))
            .unwrap();
        assert_eq!(again.feedback, 0);

        errors
            .assign_issue(
                refund,
                Some(&Assignee {
                    id: 4,
                    name: "ana".into(),
                }),
                "ana",
                now,
            )
            .unwrap();
        errors
            .comment_on_issue(refund, "bo", "looking", now)
            .unwrap();
        errors.merge_issues(refund, checkout, "ana", now).unwrap();
        assert!(matches!(errors.issue(refund), Err(StoreError::NotFound(_))));
        assert_eq!(errors.merged_into(refund).unwrap(), Some(checkout));
        let kept = errors.issue(checkout).unwrap();
        assert_eq!(kept.issue.count, 2);
        assert_eq!(kept.issue.users, 2);
        assert_eq!(errors.issue_events(checkout, 1, 10).unwrap().total, 2);
        assert_eq!(
            errors.issue_feedback(checkout).unwrap()[0].message,
            "refund broke"
        );
        let kinds: Vec<_> = errors
            .issue_activity(checkout)
            .unwrap()
            .iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ActivityKind::Assigned,
                ActivityKind::Comment,
                ActivityKind::Merged
            ]
        );

        // A new event of the merged fingerprint, and the feedback that waited for it.
        let later = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![
                    event(&exc("00000000000000000000000000000003", "refund", "1.0")),
                    event(&exc("00000000000000000000000000000004", "checkout", "1.0")),
                ],
            ))
            .unwrap();
        assert_eq!(later.events[0].issue_id, checkout);
        assert!(!later.events[0].new_issue);
        assert_eq!(errors.issue(checkout).unwrap().issue.count, 4);
        assert_eq!(errors.issue_feedback(checkout).unwrap().len(), 2);

        let mine = IssueQuery {
            assigned: Some(AssigneeFilter::User(4)),
            ..IssueQuery::default()
        };
        assert_eq!(
            errors.issues(&mine, 1, 10).unwrap().total,
            0,
            "the assignee went with the merged issue"
        );
        errors
            .assign_issue(
                checkout,
                Some(&Assignee {
                    id: 4,
                    name: "ana".into(),
                }),
                "ana",
                now,
            )
            .unwrap();
        assert_eq!(errors.issues(&mine, 1, 10).unwrap().total, 1);
        assert!(matches!(
            errors.merge_issues(checkout, checkout, "ana", now),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn events_group_count_dedupe_and_regress() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        let now = Utc::now();
        let first = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![
                    event(&exc("00000000000000000000000000000001", "checkout", "1.0")),
                    event(&exc("00000000000000000000000000000002", "checkout", "1.0")),
                    event(&exc("00000000000000000000000000000003", "refund", "1.0")),
                ],
            ))
            .unwrap();
        assert_eq!(first.events.iter().filter(|e| e.new_issue).count(), 2);
        let issue = first.events[0].issue_id;
        assert_eq!(first.events[1].issue_id, issue);
        // The same event_id again is stored once and counted once.
        let again = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![event(&exc(
                    "00000000000000000000000000000002",
                    "checkout",
                    "1.0",
                ))],
            ))
            .unwrap();
        assert!(again.events[0].duplicate);
        let detail = errors.issue(issue).unwrap();
        assert_eq!(detail.issue.count, 2);
        assert_eq!(detail.issue.users, 2);
        let tenant = detail.tags.iter().find(|t| t.key == "tenant_id").unwrap();
        assert_eq!((tenant.total, tenant.top[0].value.as_str()), (2, "acme"));

        // Resolved in next release: events of 1.0 do not reopen it, 1.1 does.
        errors
            .change_issue(
                issue,
                &IssueChange::Resolve {
                    in_next_release: true,
                },
                now,
            )
            .unwrap();
        let late = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![event(&exc(
                    "00000000000000000000000000000004",
                    "checkout",
                    "1.0",
                ))],
            ))
            .unwrap();
        assert!(!late.events[0].regression);
        let reg = errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![event(&exc(
                    "00000000000000000000000000000005",
                    "checkout",
                    "1.1",
                ))],
            ))
            .unwrap();
        assert!(reg.events[0].regression);
        let detail = errors.issue(issue).unwrap();
        assert_eq!(detail.issue.status, IssueStatus::Unresolved);
        assert_eq!(detail.issue.substatus.as_deref(), Some("regressed"));
        assert_eq!(detail.issue.count, 4);

        // Ignore for 2 more events.
        errors
            .change_issue(
                issue,
                &IssueChange::Ignore {
                    until: None,
                    more_events: Some(2),
                },
                now,
            )
            .unwrap();
        errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![event(&exc(
                    "00000000000000000000000000000006",
                    "checkout",
                    "1.1",
                ))],
            ))
            .unwrap();
        assert_eq!(
            errors.issue(issue).unwrap().issue.status,
            IssueStatus::Ignored
        );
        errors
            .ingest_now(IngestBatch::new(
                p,
                now,
                vec![event(&exc(
                    "00000000000000000000000000000007",
                    "checkout",
                    "1.1",
                ))],
            ))
            .unwrap();
        assert_eq!(
            errors.issue(issue).unwrap().issue.status,
            IssueStatus::Unresolved
        );

        // Search.
        let q = |s: &str| {
            errors
                .issues(&IssueQuery::parse(s).unwrap(), 1, 25)
                .unwrap()
                .total
        };
        assert_eq!(q("is:unresolved"), 2);
        assert_eq!(q("tenant_id:acme release:1.1"), 1);
        assert_eq!(q("environment:staging"), 0);
        assert_eq!(q("level:error KeyError"), 2);
        assert_eq!(q("refund"), 1);

        // The latest event comes back whole; hourly counts feed sparklines.
        let latest = errors.latest_event(issue).unwrap().unwrap();
        assert_eq!(latest.summary.event_id, "00000000000000000000000000000007");
        assert_eq!(latest.payload["tags"]["tenant_id"], "acme");
        let hours = errors
            .hourly_counts(&[issue], now - Duration::hours(2))
            .unwrap();
        assert_eq!(hours[&issue].iter().map(|(_, n)| n).sum::<i64>(), 6);

        // Pruning payloads keeps the counts exact.
        errors.prune(now + Duration::days(31)).unwrap();
        assert!(errors.latest_event(issue).unwrap().is_none());
        assert_eq!(errors.issue(issue).unwrap().issue.count, 6);
    }

    #[test]
    fn projects_keys_and_revocation() {
        let (store, _dir) = crate::temp_store();
        project(&store);
        let errors = store.errors();
        let id = errors
            .create_project("web", Some("python"), &Default::default(), Utc::now())
            .unwrap();
        assert_eq!(id, 1000);
        let key = errors.add_key(id, Some("ci"), Utc::now()).unwrap();
        errors.revoke_key(id, &key, Utc::now()).unwrap();
        let p = errors.project(id).unwrap();
        assert_eq!(p.keys.len(), 2);
        assert!(
            p.keys
                .iter()
                .any(|k| k.public_key == key && k.revoked_at.is_some())
        );
        assert!(
            errors
                .create_project("web", None, &Default::default(), Utc::now())
                .is_err()
        );
        assert_eq!(
            errors.project(7).unwrap().keys[0].public_key,
            "abcdef0123456789"
        );
        errors.delete_project(id).unwrap();
        assert!(
            errors.delete_project(7).is_err(),
            "config projects are changed in the file"
        );
    }

    #[test]
    fn events_are_stored_again_once_the_disk_takes_writes() {
        let (store, _dir) = crate::temp_store();
        let p = project(&store);
        let errors = store.errors();
        // Incompressible, so the event needs new pages.
        let big = |id: u32| {
            let mut x = u64::from(id);
            let blob: String = (0..4_000)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("{:x}", x >> 40)
                })
                .collect();
            event(&format!(
                r#"{{"event_id":"{id:032x}","message":"disk {id}","extra":{{"blob":"{blob}"}}}}"#
            ))
        };
        // SQLite's own limit on the file's size fails a commit with SQLITE_FULL, exactly
        // as a full disk does.
        errors
            .write(|c| {
                let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
                Ok(())
            })
            .unwrap();
        let full = errors.ingest_now(IngestBatch::new(p, Utc::now(), vec![big(1)]));
        assert!(full.is_err(), "the disk is full");
        errors
            .write(|c| {
                c.query_row("PRAGMA max_page_count = 1073741823", [], |_| Ok(()))?;
                Ok(())
            })
            .unwrap();
        store.check_writable().unwrap();
        let out = errors
            .ingest_now(IngestBatch::new(p, Utc::now(), vec![big(2)]))
            .unwrap();
        assert!(!out.events[0].duplicate);
        assert!(
            errors.event(Some(p), &format!("{:032x}", 1)).is_err(),
            "the refused event was not stored"
        );
        assert!(errors.event(Some(p), &format!("{:032x}", 2)).is_ok());
    }
}
