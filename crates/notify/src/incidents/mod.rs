//! Incidents: one per dispatcher group while it fires, with a timeline, acknowledgement
//! (also through a signed link in the notification), notes, resolution (by itself when
//! every alert resolved, or by hand), escalation policies, runbooks and a post-mortem
//! draft. This file holds the service and what people do to an incident; the
//! dispatcher's hook opens and resolves incidents (`hook`), the escalation loop pages
//! (`escalator`), and `views` and `on_call` are what the API and pages read.

pub mod escalation;
mod escalator;
mod hook;
pub mod links;
mod on_call;
pub mod postmortem;
pub mod runbooks;
mod settings;
mod views;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use pharos_model::clock::Clock;
use pharos_store::{IncidentEvent, IncidentRecord, Store, StoreError};
use tokio::sync::Notify;

use crate::dispatch::Integrations;
pub use crate::dispatch::{GroupSnapshot, IncidentHook};
pub use escalation::{EscalationPolicy, EscalationPolicyConfig, ONCALL_PREFIX};
pub use links::{AckLinks, LinkError};
pub use on_call::OnCallView;
pub use runbooks::{Runbook, Runbooks};
pub use settings::{IncidentConfigError, IncidentSettings};
pub use views::{IncidentDetail, NextEscalation, TimelineEntry};

/// How long an acknowledgement link in a notification works.
pub const ACK_LINK_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{0}")]
    Invalid(String),
    #[error("incident task failed: {0}")]
    Task(String),
}

#[derive(Default)]
struct Cache {
    loaded: bool,
    /// The latest incident of each group seen (`None`: the group never had one).
    by_group: HashMap<String, Option<IncidentRecord>>,
}

/// The incident service.
pub struct Incidents {
    store: Arc<Store>,
    integrations: Arc<dyn Integrations>,
    clock: Arc<dyn Clock>,
    links: AckLinks,
    settings: RwLock<Arc<IncidentSettings>>,
    external_url: RwLock<String>,
    /// Held across the store writes, so group syncs and people's actions take turns.
    cache: tokio::sync::Mutex<Cache>,
    wake: Notify,
    deliveries_waiting: Arc<Notify>,
}

impl Incidents {
    pub fn new(
        store: Arc<Store>,
        integrations: Arc<dyn Integrations>,
        deliveries_waiting: Arc<Notify>,
        clock: Arc<dyn Clock>,
        links: AckLinks,
    ) -> Arc<Incidents> {
        Arc::new(Incidents {
            store,
            integrations,
            clock,
            links,
            settings: RwLock::new(Arc::new(IncidentSettings::default())),
            external_url: RwLock::new(String::new()),
            cache: tokio::sync::Mutex::new(Cache::default()),
            wake: Notify::new(),
            deliveries_waiting,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn set_settings(&self, settings: IncidentSettings, external_url: &str) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        *self.external_url.write().unwrap_or_else(|p| p.into_inner()) = external_url.to_string();
        self.wake.notify_one();
    }

    pub fn settings(&self) -> Arc<IncidentSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn external_url(&self) -> String {
        self.external_url
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn links(&self) -> &AckLinks {
        &self.links
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, IncidentError> {
        crate::blocking::with_store(&self.store, f, IncidentError::Task).await
    }

    async fn remember(&self, record: &IncidentRecord) {
        let mut cache = self.cache.lock().await;
        if let Some(slot) = cache.by_group.get_mut(&record.group_key)
            && slot.as_ref().is_none_or(|i| i.id <= record.id)
        {
            *slot = Some(record.clone());
        }
    }

    pub async fn acknowledge(&self, id: i64, who: &str) -> Result<IncidentRecord, IncidentError> {
        let who = clean_name(who)?;
        let now = self.now();
        let record = self
            .blocking(move |s| s.acknowledge_incident(id, &who, now))
            .await?;
        self.remember(&record).await;
        Ok(record)
    }

    /// Acknowledges through a signed link; `who` is what the person typed, if anything.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
        who: Option<&str>,
    ) -> Result<IncidentRecord, IncidentError> {
        let id = self.links.verify(token, self.now())?;
        let who = match who.map(str::trim).filter(|w| !w.is_empty()) {
            Some(w) => format!("{w} (signed link)"),
            None => "someone with the signed link".to_string(),
        };
        self.acknowledge(id, &who).await
    }

    /// The incident a signed link is for, checking the link (for its confirmation page).
    pub async fn incident_for_link(&self, token: &str) -> Result<IncidentRecord, IncidentError> {
        let id = self.links.verify(token, self.now())?;
        self.blocking(move |s| s.get_incident(id)).await
    }

    pub async fn resolve(&self, id: i64, who: &str) -> Result<IncidentRecord, IncidentError> {
        let who = clean_name(who)?;
        let now = self.now();
        let record = self
            .blocking(move |s| s.resolve_incident(id, &who, now))
            .await?;
        self.remember(&record).await;
        Ok(record)
    }

    pub async fn add_note(
        &self,
        id: i64,
        who: &str,
        text: &str,
    ) -> Result<IncidentEvent, IncidentError> {
        let who = clean_name(who)?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(IncidentError::Invalid(
                "text: a note needs some text".into(),
            ));
        }
        if text.len() > 10_000 {
            return Err(IncidentError::Invalid(
                "text: a note is at most 10000 bytes".into(),
            ));
        }
        let now = self.now();
        self.blocking(move |s| s.add_incident_note(id, &who, &text, now))
            .await
    }
}

/// A person's name as given in a form or the API: trimmed, one line, not too long.
fn clean_name(who: &str) -> Result<String, IncidentError> {
    let who = who.trim();
    if who.is_empty() {
        return Err(IncidentError::Invalid("by: say who you are".into()));
    }
    if who.len() > 200 || who.contains(['\n', '\r']) {
        return Err(IncidentError::Invalid(
            "by: a name is one line of at most 200 bytes".into(),
        ));
    }
    Ok(who.to_string())
}

#[cfg(test)]
mod tests;
