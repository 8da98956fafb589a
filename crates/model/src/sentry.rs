//! The records one Sentry envelope item becomes: an error event, a transaction, spans,
//! release-health counts, a cron check-in, an attachment, log records or a client report.
//! They carry what the error store and the evaluators need, whatever protocol detail
//! (envelope or `/store/` body, SDK, encoding) they came with; turning bytes into them is
//! ingest's job, keeping them the error store's.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What one envelope item became.
#[derive(Debug)]
pub enum Record {
    Event(Box<ErrorEvent>),
    Transaction(Box<Transaction>),
    /// A `span` item (span streaming, `sentry-sdk` 3.x): its spans, and a transaction for
    /// each segment span among them.
    Spans(Box<SpanBatch>),
    Sessions(Vec<SessionCounts>),
    CheckIn(CheckIn),
    Attachment(Attachment),
    Logs(Vec<LogRecord>),
    ClientReport(Vec<Discarded>),
    Feedback(Feedback),
}

#[derive(Debug, Clone)]
pub struct ErrorEvent {
    /// 32 lowercase hex characters.
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
    pub level: String,
    pub grouping: Grouping,
    pub title: String,
    pub culprit: String,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// Who it happened to: user id, else email, username or IP.
    pub user: Option<String>,
    /// Tag pairs the issue keeps distributions of: level, environment, release,
    /// server_name, transaction, then the event's own tags.
    pub tags: Vec<(String, String)>,
    /// `contexts.trace.trace_id`: links the event to the transactions and log lines of
    /// the same trace.
    pub trace_id: Option<String>,
    /// The scrubbed event as stored and shown, with `event_id` and `timestamp` filled in.
    pub payload: Value,
}

/// The grouping components of an event and their hash (32 hex characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub components: Vec<String>,
    pub hash: String,
}

/// A finished transaction: one request, task or job, with its spans.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub event_id: String,
    pub name: String,
    pub op: Option<String>,
    /// `ok`, `internal_error`, ... (from the trace context); failures are the rest.
    pub status: String,
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub trace_id: Option<String>,
    /// The id of its segment span (`contexts.trace.span_id`, or the segment span's own
    /// id): its spans in the span store are found by it.
    pub span_id: Option<String>,
    pub span_count: usize,
    /// The scrubbed transaction with its spans, as stored (for a transaction made from a
    /// segment span: that span as sent).
    pub payload: Value,
    /// A transaction event's spans for the span store: the transaction itself as the
    /// segment span, then its child spans. Empty for one made from a segment span, whose
    /// spans travel in their [`SpanBatch`].
    pub spans: Vec<Span>,
}

impl Transaction {
    /// Sentry's failure rate counts every status but these as failed.
    pub fn failed(&self) -> bool {
        !matches!(self.status.as_str(), "ok" | "cancelled" | "unknown")
    }
}

/// One span, whichever SDK sent it: a streamed `span` item's, or one of a transaction
/// event's (the transaction itself being its segment span).
#[derive(Debug, Clone)]
pub struct Span {
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// The span id of the segment (transaction) the span belongs to, when known.
    pub segment_id: Option<String>,
    pub is_segment: bool,
    pub name: String,
    pub op: Option<String>,
    /// `ok`, `error`, `internal_error`, ...
    pub status: String,
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// The scrubbed attributes as a flat object (`{"http.route": "/boom", ...}`), or the
    /// span's `data` for a transaction event's span.
    pub attributes: Value,
}

/// What one `span` item became: the spans it carried, in order, and a transaction for
/// every segment span (so the performance pages, series and alerts treat streamed and
/// transaction-event traces alike).
#[derive(Debug, Clone, Default)]
pub struct SpanBatch {
    pub spans: Vec<Span>,
    pub segments: Vec<Transaction>,
}

/// Release-health counts: one `session` update or one bucket of a `sessions` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCounts {
    pub started: DateTime<Utc>,
    pub release: String,
    pub environment: Option<String>,
    pub total: u64,
    pub exited: u64,
    pub errored: u64,
    pub crashed: u64,
    pub abnormal: u64,
}

/// A cron check-in (`sentry_sdk.crons`): drives a heartbeat monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    pub monitor_slug: String,
    pub status: CheckInStatus,
    pub duration_s: Option<f64>,
    pub environment: Option<String>,
    pub config: Option<CheckInConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckInStatus {
    InProgress,
    Ok,
    Error,
}

/// `monitor_config` as the SDK sends it on the first check-in (upsert).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckInConfig {
    pub schedule: CheckInSchedule,
    pub timezone: Option<String>,
    /// Minutes a check-in may be late.
    pub checkin_margin_min: Option<u64>,
    /// Minutes a started job may run.
    pub max_runtime_min: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckInSchedule {
    Crontab(String),
    Interval { seconds: u64 },
}

/// What an SDK reports it dropped (`client_report`): reason, category, quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Discarded {
    pub reason: String,
    pub category: String,
    pub quantity: u64,
}

/// A log record from a `log` item (Sentry structured logs), kept until the log store.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub timestamp: DateTime<Utc>,
    pub level: String,
    pub body: String,
    pub trace_id: Option<String>,
    /// The scrubbed record as sent (attributes included).
    pub payload: Value,
}

/// A file attached to an event (`attachment` items), kept up to a size limit.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub event_id: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// What a person using an app wrote about a problem: a `feedback` item (the SDKs' feedback
/// widget and `captureFeedback`), a `user_report` item or the older user-feedback
/// endpoint. The name and email are personal data: shown to the team, never logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// 32 lowercase hex characters: the feedback's own id (a report's is its event's).
    pub feedback_id: String,
    /// The error event it is about, when the SDK knew one; its issue is found through it.
    pub associated_event_id: Option<String>,
    pub message: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The page it was written on (browser SDKs).
    pub url: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub source: FeedbackSource,
}

/// How a feedback arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackSource {
    /// A `feedback` item: an event with `contexts.feedback`.
    Feedback,
    /// A `user_report` item or `POST /api/0/projects/{org}/{project}/user-feedback/`.
    UserReport,
}

impl FeedbackSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackSource::Feedback => "feedback",
            FeedbackSource::UserReport => "user_report",
        }
    }

    pub fn parse(s: &str) -> FeedbackSource {
        match s {
            "user_report" => FeedbackSource::UserReport,
            _ => FeedbackSource::Feedback,
        }
    }
}
