//! Each project's quota per minute for every category it keeps (error events,
//! transactions and spans, sessions, attachment bytes, log records, check-ins, feedback),
//! and its disk budget for event payloads, spans and attachments: what is over either is
//! dropped, counted, and the
//! SDK told per category in `X-Sentry-Rate-Limits`. Nothing stored is deleted to make
//! room; only retention frees it.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pharos_ingest::sentry::{CheckIn, Record};

use super::directory::ProjectInfo;
use crate::{App, AppError};

/// What a project's quota counts, each with its own limit per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Error,
    Transaction,
    Session,
    /// Counted in bytes.
    Attachment,
    /// Counted in log records.
    Log,
    CheckIn,
    /// Feedback items and user reports.
    Feedback,
}

impl Category {
    /// Sentry's names of the category, as `X-Sentry-Rate-Limits` lists them.
    pub fn sentry_names(self) -> &'static str {
        match self {
            Category::Error => "error;default;security",
            // A span item is told apart by the SDK (category `span`), but counts as
            // transactions here: both must stop when the quota is used up.
            Category::Transaction => "transaction;span",
            Category::Session => "session",
            Category::Attachment => "attachment",
            Category::Log => "log_item",
            Category::CheckIn => "monitor",
            Category::Feedback => "feedback;user_report_v2",
        }
    }

    /// The project's limit per minute, 0 for none.
    fn limit(self, p: &ProjectInfo) -> u64 {
        let l = &p.limits;
        match self {
            Category::Error => p.rate_limit.into(),
            Category::Transaction => l.transactions_per_minute.into(),
            Category::Session => l.sessions_per_minute.into(),
            Category::Attachment => u64::from(l.attachment_mb_per_minute) * 1024 * 1024,
            Category::Log => l.logs_per_minute.into(),
            Category::CheckIn => l.check_ins_per_minute.into(),
            Category::Feedback => l.feedback_per_minute.into(),
        }
    }
}

/// Why a category is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its quota for the minute is used up.
    Quota,
    /// The project's stored payloads fill its disk budget.
    DiskBudget,
}

impl Reason {
    /// The reason code of `X-Sentry-Rate-Limits`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Quota => "quota",
            Reason::DiskBudget => "disk_budget",
        }
    }
}

/// A category refused until `retry_after_secs` from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    pub category: Category,
    pub retry_after_secs: u64,
    pub reason: Reason,
}

/// How long an SDK is asked to hold back what the disk budget refuses.
const DISK_BUDGET_RETRY_SECS: u64 = 600;
/// How often a project's stored bytes are measured while ingesting. In between, the
/// decoded size of what was let through is added: more than it takes once compressed, so
/// the estimate errs on the full side and a full estimate is measured again.
const DISK_MEASURE_SECS: i64 = 60;

/// A project's stored payload bytes as last measured, and what was let through since.
#[derive(Debug, Clone, Copy)]
struct Measured {
    at_s: i64,
    bytes: u64,
    added: u64,
}

#[derive(Debug, Default)]
pub struct DiskUsage {
    measured: Mutex<HashMap<i64, Measured>>,
}

/// What each project used of each category's quota in the current minute.
#[derive(Debug, Default)]
pub struct Quota {
    used: Mutex<HashMap<(i64, Category), (i64, u64)>>,
}

impl Quota {
    /// Takes `amount` of `category` from the project's quota for this minute, all or
    /// nothing; refused, it says when the quota refills.
    pub fn take(
        &self,
        project: &ProjectInfo,
        category: Category,
        amount: u64,
        now_s: i64,
    ) -> Result<(), OverQuota> {
        let limit = category.limit(project);
        if limit == 0 || amount == 0 {
            return Ok(());
        }
        let minute = now_s - now_s.rem_euclid(60);
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let slot = used.entry((project.id, category)).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        if slot.1.saturating_add(amount) > limit {
            return Err(OverQuota {
                category,
                retry_after_secs: (minute + 60 - now_s).max(1) as u64,
                reason: Reason::Quota,
            });
        }
        slot.1 += amount;
        Ok(())
    }
}

/// What the quota let through of an envelope's records.
pub(crate) struct Admitted {
    pub kept: Vec<Record>,
    pub check_ins: Vec<CheckIn>,
    /// Each category refused at least once, with its retry time.
    pub over: Vec<OverQuota>,
}

/// The category a record counts against and how much of it, or `None` when not counted.
fn charge(r: &Record) -> Option<(Category, u64, &'static str)> {
    Some(match r {
        Record::Event(_) => (Category::Error, 1, "event"),
        Record::Transaction(_) => (Category::Transaction, 1, "transaction"),
        // A segment with its children is one transaction, as Sentry bills a transaction
        // event with its spans: the quota means requests, whichever SDK traced them. The
        // children may come in other items; an item without a segment still costs one,
        // so spans are never free (its size is bounded by the spans per item limit).
        // Relay likewise applies transaction quotas to span items.
        Record::Spans(b) => (
            Category::Transaction,
            b.segments.len().max(1) as u64,
            "span",
        ),
        Record::Sessions(s) => (Category::Session, s.len().max(1) as u64, "session"),
        Record::Attachment(a) => (Category::Attachment, a.data.len() as u64, "attachment"),
        Record::Logs(l) => (Category::Log, l.len() as u64, "log"),
        Record::CheckIn(_) => (Category::CheckIn, 1, "check_in"),
        Record::Feedback(_) => (Category::Feedback, 1, "feedback"),
        Record::ClientReport(_) => return None,
    })
}

impl App {
    /// Takes each record from its category's quota, and error events, transactions, spans
    /// and attachments from the disk budget; the ones over are dropped and counted. Check-ins are set apart:
    /// they drive monitors, not the error store.
    /// `body_bytes` is the decoded size of the request: what the disk budget is charged
    /// until the next measurement.
    pub(crate) async fn apply_quota(
        &self,
        info: &ProjectInfo,
        records: Vec<Record>,
        received: DateTime<Utc>,
        body_bytes: usize,
    ) -> Admitted {
        let m = &self.errors.metrics;
        let now = received.timestamp();
        let mut out = Admitted {
            kept: Vec::with_capacity(records.len()),
            check_ins: Vec::new(),
            over: Vec::new(),
        };
        let stores_payloads = records.iter().any(|r| payload_category(r).is_some());
        let over_budget =
            stores_payloads && self.over_disk_budget(info, now, body_bytes as u64).await;
        for r in records {
            if over_budget && let Some(category) = payload_category(&r) {
                m.item(charge(&r).map_or("other", |c| c.2), "disk_budget");
                if !out.over.iter().any(|o| o.category == category) {
                    out.over.push(OverQuota {
                        category,
                        retry_after_secs: DISK_BUDGET_RETRY_SECS,
                        reason: Reason::DiskBudget,
                    });
                }
                continue;
            }
            if let Some((category, amount, label)) = charge(&r)
                && let Err(over) = self.errors.quota.take(info, category, amount, now)
            {
                m.item(label, "rate_limited");
                if !out.over.iter().any(|o| o.category == category) {
                    out.over.push(over);
                }
                continue;
            }
            match r {
                Record::CheckIn(c) => out.check_ins.push(c),
                other => out.kept.push(other),
            }
        }
        out
    }

    /// Whether the project's stored payloads fill its disk budget; when not, `incoming`
    /// bytes are charged to it.
    async fn over_disk_budget(&self, info: &ProjectInfo, now_s: i64, incoming: u64) -> bool {
        let budget = info.limits.disk_budget_mb.saturating_mul(1024 * 1024);
        if budget == 0 {
            return false;
        }
        let charge = |usage: &DiskUsage| {
            let mut measured = usage.measured.lock().unwrap_or_else(|p| p.into_inner());
            match measured.get_mut(&info.id) {
                Some(m)
                    if now_s - m.at_s < DISK_MEASURE_SECS
                        && m.bytes.saturating_add(m.added) < budget =>
                {
                    m.added = m.added.saturating_add(incoming);
                    Some(false)
                }
                // Measured this second: the estimate is as good as a new measurement.
                Some(m) if m.at_s == now_s => Some(true),
                _ => None,
            }
        };
        if let Some(over) = charge(&self.errors.disk_usage) {
            return over;
        }
        match self.stored_payload_bytes(info.id).await {
            Ok(used) if used >= budget => true,
            Ok(_) => {
                charge(&self.errors.disk_usage);
                false
            }
            Err(e) => {
                tracing::warn!(operation = "sentry_ingest", project = info.id, error = %e, "cannot measure the project's stored bytes");
                false
            }
        }
    }

    /// Measures the bytes a project's event payloads, spans and attachments take in the
    /// store.
    pub async fn stored_payload_bytes(&self, project: i64) -> Result<u64, AppError> {
        let used = self
            .with_store(move |s| s.errors().payload_bytes(project))
            .await?;
        self.errors
            .disk_usage
            .measured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                project,
                Measured {
                    at_s: Utc::now().timestamp(),
                    bytes: used,
                    added: 0,
                },
            );
        Ok(used)
    }
}

/// The category a record's stored payload counts against the disk budget under.
fn payload_category(r: &Record) -> Option<Category> {
    match r {
        Record::Event(_) => Some(Category::Error),
        // Both store spans with their attributes.
        Record::Transaction(_) | Record::Spans(_) => Some(Category::Transaction),
        Record::Attachment(_) => Some(Category::Attachment),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::project::ProjectLimits;

    fn project(rate_limit: u32, limits: ProjectLimits) -> ProjectInfo {
        ProjectInfo {
            id: 1,
            name: "p".into(),
            rate_limit,
            limits,
            filters: Default::default(),
        }
    }

    fn segment() -> pharos_model::sentry::Transaction {
        pharos_model::sentry::Transaction {
            event_id: "0".repeat(32),
            name: "/checkout".into(),
            op: Some("http.server".into()),
            status: "ok".into(),
            start: Utc::now(),
            duration_ms: 12.0,
            environment: None,
            release: None,
            trace_id: Some("1".repeat(32)),
            span_id: Some("2".repeat(16)),
            span_count: 0,
            payload: serde_json::Value::Null,
            spans: Vec::new(),
        }
    }

    #[test]
    fn a_segment_with_its_children_is_one_transaction_and_children_alone_cost_one() {
        use pharos_model::sentry::SpanBatch;
        let item = |segments: usize| {
            Record::Spans(Box::new(SpanBatch {
                spans: Vec::new(),
                segments: (0..segments).map(|_| segment()).collect(),
            }))
        };
        assert_eq!(charge(&item(2)), Some((Category::Transaction, 2, "span")));
        assert_eq!(charge(&item(0)), Some((Category::Transaction, 1, "span")));
        assert_eq!(payload_category(&item(1)), Some(Category::Transaction));
        assert!(
            Category::Transaction
                .sentry_names()
                .split(';')
                .any(|c| c == "span")
        );
    }

    #[test]
    fn quota_refills_each_minute() {
        let q = Quota::default();
        let p = project(3, ProjectLimits::default());
        let e = Category::Error;
        let over = |retry_after_secs| {
            Err(OverQuota {
                category: e,
                retry_after_secs,
                reason: Reason::Quota,
            })
        };
        assert_eq!(q.take(&p, e, 1, 120), Ok(()));
        assert_eq!(q.take(&p, e, 1, 120), Ok(()));
        assert_eq!(q.take(&p, e, 1, 130), Ok(()));
        assert_eq!(q.take(&p, e, 1, 130), over(50));
        assert_eq!(q.take(&p, e, 1, 150), over(30));
        assert_eq!(q.take(&p, e, 1, 180), Ok(()));
    }

    #[test]
    fn every_category_has_its_own_quota() {
        let q = Quota::default();
        let p = project(
            1,
            ProjectLimits {
                transactions_per_minute: 2,
                sessions_per_minute: 1,
                logs_per_minute: 10,
                check_ins_per_minute: 1,
                attachment_mb_per_minute: 1,
                ..ProjectLimits::default()
            },
        );
        assert_eq!(q.take(&p, Category::Error, 1, 0), Ok(()));
        assert!(q.take(&p, Category::Error, 1, 0).is_err());
        assert_eq!(q.take(&p, Category::Transaction, 2, 0), Ok(()));
        assert!(q.take(&p, Category::Transaction, 1, 0).is_err());
        assert_eq!(q.take(&p, Category::Session, 1, 0), Ok(()));
        assert!(q.take(&p, Category::Session, 1, 0).is_err());
        assert!(q.take(&p, Category::Log, 11, 0).is_err());
        assert_eq!(q.take(&p, Category::Log, 10, 0), Ok(()));
        assert_eq!(q.take(&p, Category::CheckIn, 1, 0), Ok(()));
        assert!(q.take(&p, Category::CheckIn, 1, 0).is_err());
        assert_eq!(q.take(&p, Category::Attachment, 1024 * 1024, 0), Ok(()));
        assert!(q.take(&p, Category::Attachment, 1, 0).is_err());
    }
}
