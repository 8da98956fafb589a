//! The project's inbound filters applied to what an envelope or a user report brought:
//! filtered records are not stored. Each is counted as `filtered` in the item outcomes
//! and in the project's client outcomes (`filtered:<filter>` beside what SDKs report
//! dropped), so a filter that drops more than meant shows.

use chrono::{DateTime, Utc};
use pharos_ingest::sentry::{Discarded, Record};
use pharos_model::inbound_filters::{FilterSubject, FilteredBy};
use pharos_store::errors::IngestBatch;

use super::directory::ProjectInfo;
use crate::App;

/// The record's data category as client outcomes name it, and what the filters see of it.
fn subject(r: &Record) -> Option<(&'static str, FilterSubject<'_>, Vec<&str>)> {
    Some(match r {
        Record::Event(e) => (
            "error",
            FilterSubject {
                environment: e.environment.as_deref(),
                release: e.release.as_deref(),
                messages: &[],
            },
            // The title is `Type: value` or the message; a logged message's own text is
            // matched as well.
            std::iter::once(e.title.as_str())
                .chain(
                    e.payload
                        .get("logentry")
                        .and_then(|l| l.get("formatted").or_else(|| l.get("message")))
                        .and_then(|m| m.as_str()),
                )
                .collect(),
        ),
        Record::Transaction(t) => (
            "transaction",
            FilterSubject {
                environment: t.environment.as_deref(),
                release: t.release.as_deref(),
                messages: &[],
            },
            Vec::new(),
        ),
        Record::Feedback(f) => (
            "feedback",
            FilterSubject {
                environment: f.environment.as_deref(),
                release: f.release.as_deref(),
                messages: &[],
            },
            Vec::new(),
        ),
        _ => return None,
    })
}

impl App {
    /// The records the project's filters let through; the rest are counted.
    pub(super) fn apply_inbound_filters(
        &self,
        info: &ProjectInfo,
        records: Vec<Record>,
        received: DateTime<Utc>,
    ) -> Vec<Record> {
        if info.filters.is_empty() {
            return records;
        }
        let mut dropped: Vec<(&'static str, FilteredBy)> = Vec::new();
        let kept = records
            .into_iter()
            .filter(|r| {
                let Some((category, mut s, messages)) = subject(r) else {
                    return true;
                };
                s.messages = &messages;
                match info.filters.filtered_by(&s) {
                    Some(by) => {
                        dropped.push((category, by));
                        false
                    }
                    None => true,
                }
            })
            .collect();
        if !dropped.is_empty() {
            self.count_filtered(info, &dropped, received);
        }
        kept
    }

    fn count_filtered(
        &self,
        info: &ProjectInfo,
        dropped: &[(&'static str, FilteredBy)],
        received: DateTime<Utc>,
    ) {
        let m = &self.errors.metrics;
        let mut report: Vec<Discarded> = Vec::new();
        for (category, by) in dropped {
            let item = if *category == "error" {
                "event"
            } else {
                category
            };
            m.item(item, "filtered");
            let reason = format!("filtered:{}", by.as_str());
            match report
                .iter_mut()
                .find(|d| d.reason == reason && d.category == *category)
            {
                Some(d) => d.quantity += 1,
                None => report.push(Discarded {
                    reason,
                    category: category.to_string(),
                    quantity: 1,
                }),
            }
        }
        // Counted through the writer like an SDK's client report, without waiting: the
        // request needs no answer from it, and a flood of filtered events costs one
        // upsert per group commit.
        let batch = IngestBatch::new(info.id, received, vec![Record::ClientReport(report)]);
        if let Err(e) = self.store.errors().ingest(batch, |_| {}) {
            tracing::warn!(operation = "sentry_ingest", project = info.id, error_type = "store", error = %e, "filtered counts not stored");
        }
    }
}
