//! The one path every evaluator takes with an alert change: store it, then hand the
//! stored change to the dispatcher, and log it. Monitors, error tracking, Prometheus
//! rules and log rules differ only in when they call it.

use std::sync::Arc;

use pharos_model::{Alert, StoredAlertHandler};
use pharos_store::Store;

/// Stores alert changes and then tells the dispatcher: one way, store first.
pub struct AlertSink {
    store: Arc<Store>,
    dispatcher: Arc<dyn StoredAlertHandler>,
}

impl AlertSink {
    pub fn new(store: Arc<Store>, dispatcher: Arc<dyn StoredAlertHandler>) -> Arc<AlertSink> {
        Arc::new(AlertSink { store, dispatcher })
    }

    /// Stores one change and, when it notifies, hands it to the dispatcher. `context`
    /// names what raised it (a monitor id, a rule group) in the log lines. Returns whether
    /// the change was stored.
    pub async fn publish(&self, alert: Alert, notify: bool, context: &str) -> bool {
        let name = alert.name().to_string();
        let state = alert.state;
        let stored = self.store_all(vec![(alert, notify)]).await;
        match stored {
            Ok(()) => {
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
            Err(e) => {
                tracing::error!(operation = "alert", alertname = name, source = context, error = %e, "cannot save alert");
                false
            }
        }
    }

    /// [`AlertSink::publish`] for many changes at once (a rule group's evaluation),
    /// stored in one transaction. Each change says whether it notifies (a pending alert,
    /// or one that resolves without ever having fired, is stored but routed nowhere).
    /// Returns whether they were stored.
    pub async fn publish_all(&self, changes: Vec<(Alert, bool)>, context: &str) -> bool {
        if changes.is_empty() {
            return true;
        }
        let count = changes.len();
        match self.store_all(changes).await {
            Ok(()) => {
                tracing::info!(
                    operation = "alert",
                    source = context,
                    changes = count,
                    "{count} alert change(s) stored"
                );
                true
            }
            Err(e) => {
                tracing::error!(operation = "alert", source = context, error = %e, "cannot save alerts");
                false
            }
        }
    }

    async fn store_all(&self, changes: Vec<(Alert, bool)>) -> Result<(), crate::EvaluateError> {
        let store = self.store.clone();
        let changes = tokio::task::spawn_blocking(move || {
            let alerts: Vec<&Alert> = changes.iter().map(|(alert, _)| alert).collect();
            store.save_alerts(&alerts).map(|()| changes)
        })
        .await
        .map_err(|e| crate::EvaluateError::Task(e.to_string()))??;
        for (alert, _) in changes.iter().filter(|(_, notify)| *notify) {
            self.dispatcher.alert_stored(alert);
        }
        Ok(())
    }
}

/// A dispatcher that routes nothing, for evaluator tests that look only at the store.
#[cfg(test)]
pub(crate) struct NoDispatcher;

#[cfg(test)]
impl StoredAlertHandler for NoDispatcher {
    fn alert_stored(&self, _: &Alert) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Utc;
    use pharos_model::AlertState;

    use super::*;

    /// Records whether each change it is handed is already in the store.
    struct CheckingDispatcher {
        store: Arc<Store>,
        seen: Mutex<Vec<(String, bool)>>,
    }

    impl StoredAlertHandler for CheckingDispatcher {
        fn alert_stored(&self, alert: &Alert) {
            let stored = self
                .store
                .open_alert(&alert.fingerprint)
                .unwrap()
                .is_some_and(|o| o.alert.state == alert.state);
            self.seen
                .lock()
                .unwrap()
                .push((alert.name().to_string(), stored));
        }
    }

    fn alert(name: &str, state: AlertState) -> Alert {
        let labels: pharos_model::Labels = [("alertname".to_string(), name.to_string())]
            .into_iter()
            .collect();
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Default::default(),
            state,
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            updated_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_dispatcher_is_handed_only_stored_changes_that_notify() {
        let dir = std::env::temp_dir().join(format!("pharos-alert-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(Store::open(&dir).unwrap());
        let dispatcher = Arc::new(CheckingDispatcher {
            store: store.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let sink = AlertSink::new(store.clone(), dispatcher.clone());
        assert!(
            sink.publish(alert("Down", AlertState::Firing), true, "test")
                .await
        );
        assert!(
            sink.publish_all(
                vec![
                    (alert("Slow", AlertState::Pending), false),
                    (alert("Full", AlertState::Firing), true),
                ],
                "test",
            )
            .await
        );
        assert_eq!(
            *dispatcher.seen.lock().unwrap(),
            [("Down".to_string(), true), ("Full".to_string(), true)]
        );
        assert_eq!(store.open_alert_counts().unwrap(), (1, 2));
        drop(sink);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
