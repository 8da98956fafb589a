//! Accepting what Sentry SDKs send (`/api/<project>/envelope/` and `/store/`): the DSN key
//! checked before the body is decoded ([`admission`]), the body decoded within its size
//! cap, items scrubbed and turned into records, the project's quotas ([`quota`]), the
//! durable commit to the error store, then what follows from it: issue signals for the
//! alert evaluator, SDK logs into the log store, cron check-ins driving heartbeat monitors,
//! and the ingest counters.

pub mod admission;
pub mod checkin;
pub mod directory;
mod filters;
mod metrics;
pub mod quota;
pub mod user_report;

use std::sync::{Arc, RwLock};

use chrono::Utc;
use pharos_evaluate::IssueSignal;
use pharos_ingest::sentry::{self, Envelope, Limits, Processed, Record, Scrubber};
use pharos_store::errors::{EventLabels, IngestBatch, IngestOutcome};
use tokio::sync::mpsc::UnboundedSender;

use crate::{App, AppError, Caller};
use admission::DecodeSlots;
use directory::{Directory, ProjectInfo};
pub use metrics::IngestMetrics;
use quota::{DiskUsage, OverQuota, Quota};

/// The largest request body accepted, compressed or decoded (Sentry's envelope limit is
/// larger, but a small team's SDKs never come near this).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub use pharos_ingest::sentry::NOT_KEPT_CATEGORIES;

/// Error-tracking ingest state: the project keys, the scrubber, limits and quota.
pub struct ErrorIngest {
    pub directory: RwLock<Directory>,
    pub scrubber: RwLock<Arc<Scrubber>>,
    pub limits: Limits,
    pub quota: Quota,
    pub disk_usage: DiskUsage,
    pub signals: UnboundedSender<IssueSignal>,
    pub metrics: IngestMetrics,
    pub decoding: DecodeSlots,
    /// Held while a check-in may create a monitor, so the per-project cap holds.
    pub check_in_monitors: tokio::sync::Mutex<()>,
    /// Held while an OTLP export may create a service's project (`crate::otlp_traces`).
    pub service_projects: tokio::sync::Mutex<()>,
    /// Uploaded JavaScript source maps and their cache (`crate::source_maps`).
    pub source_maps: crate::source_maps::SourceMaps,
}

impl ErrorIngest {
    pub fn new(signals: UnboundedSender<IssueSignal>, metrics: IngestMetrics) -> ErrorIngest {
        ErrorIngest {
            directory: RwLock::new(Directory::default()),
            scrubber: RwLock::new(Arc::new(Scrubber::default())),
            limits: Limits::default(),
            quota: Quota::default(),
            disk_usage: DiskUsage::default(),
            signals,
            metrics,
            decoding: DecodeSlots::default(),
            check_in_monitors: tokio::sync::Mutex::new(()),
            service_projects: tokio::sync::Mutex::new(()),
            source_maps: Default::default(),
        }
    }

    pub fn set_scrubber(&self, s: Scrubber) {
        *self.scrubber.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
    }

    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.scrubber
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the key directory after a change of projects or keys.
    pub fn set_projects(&self, projects: &[pharos_store::errors::Project]) {
        for p in projects {
            self.metrics.known_project(&p.name);
        }
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) =
            Directory::from_projects(projects);
    }
}

/// Which of Sentry's two ingest endpoints a body came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Endpoint {
    Envelope,
    Store,
}

/// One request to an ingest endpoint, as the SDK sent it.
pub struct SentryRequest<B> {
    pub endpoint: Endpoint,
    /// The project id from the URL, unparsed.
    pub project: String,
    pub content_encoding: Option<String>,
    /// `X-Sentry-Auth` or `Authorization`.
    pub auth_header: Option<String>,
    /// The URL's query string (`sentry_key=` from browser SDKs).
    pub query: Option<String>,
    pub body: B,
}

/// An accepted request: the id to answer with, and the categories of it that were over
/// the project's quota.
#[derive(Debug)]
pub struct SentryAccepted {
    pub id: Option<String>,
    pub over_quota: Vec<OverQuota>,
}

/// A refused request, with the categories over quota the SDK should still be told.
#[derive(Debug)]
pub struct SentryRefused {
    pub error: AppError,
    pub over_quota: Vec<OverQuota>,
}

impl From<AppError> for SentryRefused {
    fn from(error: AppError) -> SentryRefused {
        SentryRefused {
            error,
            over_quota: Vec::new(),
        }
    }
}

impl App {
    /// Re-reads projects and keys after a change.
    pub async fn refresh_projects(&self) -> Result<(), AppError> {
        let projects = self.with_store(|s| s.errors().projects()).await?;
        self.errors.set_projects(&projects);
        Ok(())
    }

    /// Accepts one Sentry ingest request. Answers once every record is committed; the
    /// caller is the project whose DSN key the request carries.
    pub async fn accept_sentry<B: AsRef<[u8]> + Send + 'static>(
        &self,
        request: SentryRequest<B>,
    ) -> Result<SentryAccepted, SentryRefused> {
        let started = std::time::Instant::now();
        let m = &self.errors.metrics;
        let refuse = |outcome: &str, error: AppError| {
            m.envelope(outcome);
            SentryRefused::from(error)
        };
        // The key first: nothing of a body is decoded for a request without a good one.
        let info = self.sentry_caller(
            request.endpoint,
            &request.project,
            request.content_encoding.as_deref(),
            request.auth_header.as_deref(),
            request.query.as_deref(),
            request.body.as_ref(),
        )?;
        let data = self
            .decode_sentry_body(request.content_encoding, request.body)
            .await?;
        let received = Utc::now();
        let envelope = match request.endpoint {
            Endpoint::Envelope => Some(
                Envelope::parse(&data)
                    .map_err(|e| refuse("invalid", AppError::invalid(e.to_string())))?,
            ),
            Endpoint::Store => None,
        };
        let caller = Caller::ProjectKey { project: info.id };
        let scrubber = self.errors.scrubber();
        let (mut processed, id_from_header) = match &envelope {
            Some(env) => (
                sentry::process_envelope(env, &scrubber, self.errors.limits, received),
                env.event_id().map(str::to_owned),
            ),
            None => {
                let mut p = Processed::default();
                match sentry::process_store_body(&data, &scrubber, received) {
                    Ok(r) => p.records.push(r),
                    Err(sentry::EventError::TooLarge) => p.too_large = true,
                    Err(e) => return Err(refuse("invalid", AppError::invalid(e.to_string()))),
                }
                (p, None)
            }
        };
        if processed.too_large {
            return Err(refuse(
                "too_large",
                AppError::TooLarge(format!(
                    "an event is larger than {} bytes",
                    sentry::MAX_EVENT_BYTES
                )),
            ));
        }
        for ty in &processed.skipped {
            m.item(ty, "skipped");
        }
        // Counted one by one, logged once per reason: a span item may refuse a thousand
        // spans for the same reason.
        let mut reasons: Vec<(&str, &str, usize)> = Vec::new();
        for (ty, reason) in &processed.invalid {
            m.item(ty, "invalid");
            match reasons.iter_mut().find(|(t, r, _)| t == ty && r == reason) {
                Some(seen) => seen.2 += 1,
                None => reasons.push((ty, reason, 1)),
            }
        }
        for (ty, reason, count) in reasons {
            tracing::info!(operation = "sentry_ingest", project = info.id, item = %ty, count, error_type = "invalid_item", error = %reason, "envelope item dropped");
        }

        // JavaScript frames mapped through uploaded source maps before they group.
        self.symbolicate_records(info.id, &mut processed.records)
            .await?;
        let Processed {
            records, framing, ..
        } = processed;
        let records = self.apply_inbound_filters(&info, records, received);
        let quota::Admitted {
            kept,
            check_ins,
            over: over_quota,
        } = self.apply_quota(&info, records, received, data.len()).await;
        let answer_id = kept
            .iter()
            .find_map(|r| match r {
                Record::Event(e) => Some(e.event_id.clone()),
                Record::Transaction(t) => Some(t.event_id.clone()),
                _ => None,
            })
            .or(id_from_header);
        if let Some(retry) = over_quota.iter().map(|o| o.retry_after_secs).max()
            && kept.is_empty()
            && check_ins.is_empty()
        {
            m.envelope("rate_limited");
            return Err(SentryRefused {
                error: AppError::RateLimited {
                    message: "project quota exceeded".into(),
                    retry_after_secs: retry,
                },
                over_quota,
            });
        }

        // Structured logs also go to the log store, searchable beside every other line.
        let sdk_logs: Vec<pharos_model::LogEntry> = match &self.logs {
            Some(_) => kept
                .iter()
                .filter_map(|r| match r {
                    Record::Logs(l) => Some(l.clone()),
                    _ => None,
                })
                .flat_map(|l| pharos_ingest::logs::sentry::to_entries(l, &info.name, received))
                .collect(),
            None => Vec::new(),
        };
        if !kept.is_empty() {
            self.commit_records(&info, received, kept).await?;
        }
        if let Some(logs) = &self.logs
            && !sdk_logs.is_empty()
        {
            let decoded = pharos_model::DecodedLogs {
                entries: sdk_logs,
                rejected: Vec::new(),
            };
            if let Err(e) = logs.accept("sentry", decoded).await {
                tracing::warn!(operation = "sentry_ingest", project = info.id, error_type = "log_store", error = %e, "SDK logs not added to the log store");
            }
        }
        for c in check_ins {
            let outcome = self.apply_check_in(&caller, &info, c).await;
            m.item("check_in", outcome.as_str());
        }
        m.latency(started.elapsed().as_secs_f64());

        if let Some(f) = framing {
            // Items before the break were kept; the SDK cannot fix the rest by retrying.
            m.envelope("invalid");
            tracing::info!(operation = "sentry_ingest", project = info.id, error_type = "framing", error = %f, "envelope cut short");
            return Err(SentryRefused {
                error: AppError::invalid(f.to_string()),
                over_quota,
            });
        }
        m.envelope("accepted");
        Ok(SentryAccepted {
            id: answer_id,
            over_quota,
        })
    }

    /// Commits the records through the error store's writer, counts them and tells the
    /// alert evaluator about new and regressed issues.
    pub(crate) async fn commit_records(
        &self,
        info: &ProjectInfo,
        received: chrono::DateTime<Utc>,
        kept: Vec<Record>,
    ) -> Result<IngestOutcome, SentryRefused> {
        let m = &self.errors.metrics;
        let counts: Vec<(&'static str, String)> = kept.iter().map(record_label).collect();
        let (sessions, crashed) = kept
            .iter()
            .filter_map(|r| match r {
                Record::Sessions(list) => Some(list),
                _ => None,
            })
            .flatten()
            .fold((0, 0), |(t, c), s| {
                (t + s.total, c + s.crashed + s.abnormal)
            });
        let batch = IngestBatch::new(info.id, received, kept);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Err(e) = self.store.errors().ingest(batch, move |r| {
            let _ = tx.send(r);
        }) {
            m.envelope("unavailable");
            tracing::warn!(operation = "sentry_ingest", project = info.id, error_type = "store", error = %e, "envelope refused");
            return Err(
                AppError::Unavailable("Pharos is busy storing events; try again".into()).into(),
            );
        }
        let outcome = match rx.await {
            Ok(Ok(o)) => o,
            _ => {
                m.envelope("unavailable");
                return Err(
                    AppError::Unavailable("events could not be stored; try again".into()).into(),
                );
            }
        };
        for (ty, _) in &counts {
            m.item(ty, "accepted");
        }
        m.record(info, &outcome, &counts);
        if sessions > 0 || crashed > 0 {
            m.sessions(info, sessions, crashed);
        }
        for e in outcome.events.iter().filter(|e| !e.duplicate) {
            let event = || EventLabels {
                level: e.level.clone(),
                environment: e.environment.clone(),
                release: e.release.clone(),
            };
            let signal = if e.new_issue {
                Some(IssueSignal::New {
                    project: info.id,
                    issue: e.issue_id,
                    event: event(),
                })
            } else if e.regression {
                Some(IssueSignal::Regression {
                    project: info.id,
                    issue: e.issue_id,
                    event: event(),
                })
            } else {
                None
            };
            if let Some(s) = signal {
                let _ = self.errors.signals.send(s);
            }
        }
        Ok(outcome)
    }
}

fn record_label(r: &Record) -> (&'static str, String) {
    match r {
        Record::Event(e) => ("event", e.level.clone()),
        Record::Transaction(_) => ("transaction", String::new()),
        Record::Spans(_) => ("span", String::new()),
        Record::Sessions(_) => ("session", String::new()),
        Record::CheckIn(_) => ("check_in", String::new()),
        Record::Attachment(_) => ("attachment", String::new()),
        Record::Logs(_) => ("log", String::new()),
        Record::Feedback(f) => ("feedback", f.source.as_str().to_string()),
        Record::ClientReport(d) => (
            "client_report",
            d.iter().map(|d| d.quantity).sum::<u64>().to_string(),
        ),
    }
}
