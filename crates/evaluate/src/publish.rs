//! The one path every evaluator takes with an alert change: ask the router for its
//! notifications, store the change and those notifications in one transaction, wake the
//! delivery worker when something was queued, and log the change. Monitors, error
//! tracking and Prometheus rules differ only in when they call it.

use std::sync::Arc;

use pharos_model::Alert;
use pharos_store::Store;
use tokio::sync::Notify;

use crate::AlertRouter;

/// Stores `alert`; with `router`, its notifications too. `context` names what raised it
/// (a monitor id, a rule group) in the log lines. Returns whether the change was stored.
pub async fn publish_alert(
    store: &Arc<Store>,
    router: Option<&AlertRouter>,
    deliveries_waiting: &Notify,
    alert: Alert,
    context: &str,
) -> bool {
    let deliveries = router.map(|r| r(&alert)).unwrap_or_default();
    let queued = !deliveries.is_empty();
    let name = alert.name().to_string();
    let state = alert.state;
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.save_alert(&alert, &deliveries)).await {
        Ok(Ok(_)) => {
            if queued {
                deliveries_waiting.notify_one();
            }
            tracing::info!(
                operation = "alert",
                alertname = name,
                source = context,
                state = state.as_str(),
                "alert {name} {}",
                state.as_str()
            );
            true
        }
        Ok(Err(e)) => {
            tracing::error!(operation = "alert", alertname = name, source = context, error_type = "store", error = %e, "cannot save alert");
            false
        }
        Err(e) => {
            tracing::error!(operation = "alert", alertname = name, source = context, error = %e, "alert task failed");
            false
        }
    }
}

/// [`publish_alert`] for many changes at once (a rule group's evaluation), stored in one
/// transaction. Each change says whether it notifies. Returns whether they were stored.
pub async fn publish_alerts(
    store: &Arc<Store>,
    router: &AlertRouter,
    deliveries_waiting: &Notify,
    changes: Vec<(Alert, bool)>,
    context: &str,
) -> bool {
    if changes.is_empty() {
        return true;
    }
    let batch: Vec<(Alert, Vec<pharos_store::NewDelivery>)> = changes
        .into_iter()
        .map(|(alert, notify)| {
            let deliveries = if notify { router(&alert) } else { Vec::new() };
            (alert, deliveries)
        })
        .collect();
    let queued = batch.iter().any(|(_, d)| !d.is_empty());
    let count = batch.len();
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.save_alerts(&batch)).await {
        Ok(Ok(())) => {
            if queued {
                deliveries_waiting.notify_one();
            }
            tracing::info!(
                operation = "alert",
                source = context,
                changes = count,
                "{count} alert change(s) stored"
            );
            true
        }
        Ok(Err(e)) => {
            tracing::error!(operation = "alert", source = context, error_type = "store", error = %e, "cannot save alerts");
            false
        }
        Err(e) => {
            tracing::error!(operation = "alert", source = context, error = %e, "alert task failed");
            false
        }
    }
}
