//! The configured receivers with their integrations (credentials as `<secret>`) and
//! recent delivery outcomes, and the test notification: sent through every integration
//! of one receiver right away, each attempt kept in the delivery log like any other.

use std::collections::BTreeMap;

use chrono::Utc;
use pharos_notify::IntegrationOutcome;
use pharos_store::{Delivery, NewDelivery};
use serde::Serialize;

use crate::{App, AppError, Caller};

/// Deliveries scanned for the "recent outcomes" of the list; a few per integration.
const RECENT_SCAN: u64 = 500;
const RECENT_PER_INTEGRATION: usize = 5;

#[derive(Serialize)]
pub struct ReceiverList {
    pub receivers: Vec<ReceiverView>,
}

#[derive(Serialize)]
pub struct ReceiverView {
    pub name: String,
    pub integrations: Vec<IntegrationView>,
}

#[derive(Serialize)]
pub struct IntegrationView {
    /// The name deliveries are logged under (`ops/slack0`).
    pub name: String,
    pub kind: &'static str,
    pub config: serde_json::Value,
    /// Newest first.
    pub recent_deliveries: Vec<Delivery>,
}

#[derive(Serialize)]
pub struct TestAnswer {
    pub receiver: String,
    /// `delivered` when every integration took it, `failed` when one did not, `not_sent`
    /// when the receiver sent nothing (it has no integrations).
    pub status: &'static str,
    pub integrations: Vec<IntegrationOutcome>,
}

impl App {
    pub async fn receivers_with_recent_deliveries(&self) -> Result<ReceiverList, AppError> {
        let recent = self
            .with_store(|s| s.list_deliveries(None, RECENT_SCAN))
            .await?;
        let mut by_integration: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for d in recent {
            let list = by_integration.entry(d.receiver.clone()).or_default();
            if list.len() < RECENT_PER_INTEGRATION {
                list.push(d);
            }
        }
        let receivers = self
            .receivers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let views = receivers
            .receiver_names()
            .map(|name| ReceiverView {
                name: name.to_string(),
                integrations: receivers
                    .integrations_of(name)
                    .unwrap_or_default()
                    .iter()
                    .map(|r| IntegrationView {
                        name: r.name().to_string(),
                        kind: r.integration(),
                        config: r.describe(),
                        recent_deliveries: by_integration.remove(r.name()).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Ok(ReceiverList { receivers: views })
    }

    /// Sends a test notification through every integration of receiver `name` now.
    pub async fn test_receiver(
        &self,
        caller: &Caller,
        name: String,
    ) -> Result<TestAnswer, AppError> {
        caller.require_admin("send test notifications")?;
        let receivers = self
            .receivers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let client = pharos_notify::http::client()
            .map_err(|e| AppError::Internal(format!("cannot make an HTTP client: {e}")))?;
        let now = Utc::now();
        let outcomes = pharos_notify::test_notification(&receivers, &name, &client, now)
            .await
            .ok_or_else(|| AppError::NotFound(format!("receiver {name:?}")))?;
        let logged = outcomes.clone();
        self.with_store(move |s| {
            for o in &logged {
                s.record_sent_delivery(
                    &NewDelivery {
                        receiver: o.integration.clone(),
                        alert_fingerprint: o.alert_fingerprint.clone(),
                        status: "firing".into(),
                        payload: o.payload.clone(),
                    },
                    o.status == "delivered",
                    o.error.as_deref(),
                    o.response_status,
                    now,
                )?;
            }
            Ok(())
        })
        .await?;
        Ok(TestAnswer {
            receiver: name,
            status: pharos_notify::overall_status(&outcomes),
            integrations: outcomes,
        })
    }
}
