//! Retries through the real delivery path: queued in the store, sent by the worker,
//! every attempt recorded. 5xx and 429 are retried, other 4xx fail for good, and a
//! payload sent in several parts resumes after the last part that went through.

mod common;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::{FakeServer, deliveries_to_every_receiver, firing_group};
use pharos_notify::{DeliveryMetrics, DeliveryWorker, ReceiverConfig, Receivers, RetryPolicy};
use pharos_store::{DeliveryOutcome, Store};

fn temp_store(name: &str) -> Arc<Store> {
    let dir = std::env::temp_dir().join(format!(
        "pharos-notify-{name}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    Arc::new(Store::open(&dir).unwrap())
}

fn worker(store: Arc<Store>, yaml: &str, max_attempts: u32) -> (DeliveryWorker, Receivers) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let configs: Vec<ReceiverConfig> = serde_norway::from_str(yaml).unwrap();
    let receivers = Receivers::from_config(&configs, "https://pharos.example.com");
    let worker = DeliveryWorker::new(
        store,
        Arc::new(RwLock::new(receivers.clone())),
        Arc::new(tokio::sync::Notify::new()),
        RetryPolicy {
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_attempts,
        },
        DeliveryMetrics::new(&prometheus::Registry::new()).unwrap(),
    )
    .unwrap();
    (worker, receivers)
}

fn queue(store: &Store, receivers: &Receivers) {
    let alert = firing_group().alerts[0].clone();
    store.save_alert(&alert).unwrap();
    store
        .queue_notifications(
            &deliveries_to_every_receiver(receivers, &alert),
            &[],
            alert.updated_at,
        )
        .unwrap();
}

#[tokio::test]
async fn server_errors_and_429_are_retried_until_delivered() {
    let fake = FakeServer::start().await;
    let store = temp_store("retry");
    let (worker, receivers) = worker(
        store.clone(),
        &format!(
            "- name: ops\n  webhook_configs:\n    - url: {}\n",
            fake.url("/hook")
        ),
        20,
    );
    queue(&store, &receivers);
    fake.answer(503, "busy");
    fake.answer(429, "slow down");
    for expected_error in ["HTTP 503: busy", "HTTP 429: slow down"] {
        assert_eq!(worker.run_once().await, 1);
        let d = &store.list_deliveries(None, 10).unwrap()[0];
        assert_eq!(d.outcome, DeliveryOutcome::Pending);
        assert_eq!(d.last_error.as_deref(), Some(expected_error));
    }
    assert_eq!(worker.run_once().await, 1);
    let d = &store.list_deliveries(None, 10).unwrap()[0];
    assert_eq!(d.outcome, DeliveryOutcome::Delivered);
    assert_eq!(d.attempts, 3);
    assert_eq!(d.response_status, Some(200));
    assert_eq!(worker.run_once().await, 0);
    let bodies: Vec<String> = fake.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "retries send the same bytes"
    );
}

#[tokio::test]
async fn client_errors_fail_at_once() {
    let fake = FakeServer::start().await;
    let store = temp_store("permanent");
    let (worker, receivers) = worker(
        store.clone(),
        &format!(
            "- name: ops\n  slack_configs:\n    - api_url: {}\n",
            fake.url("/hook")
        ),
        20,
    );
    queue(&store, &receivers);
    fake.answer(404, "no_service");
    assert_eq!(worker.run_once().await, 1);
    let d = &store.list_deliveries(None, 10).unwrap()[0];
    assert_eq!(d.receiver, "ops");
    assert_eq!(d.outcome, DeliveryOutcome::Failed);
    assert_eq!(d.attempts, 1);
    assert_eq!(d.response_status, Some(404));
    assert_eq!(d.last_error.as_deref(), Some("HTTP 404: no_service"));
    assert_eq!(worker.run_once().await, 0);
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let fake = FakeServer::start().await;
    let store = temp_store("give-up");
    let (worker, receivers) = worker(
        store.clone(),
        &format!(
            "- name: ops\n  discord_configs:\n    - webhook_url: {}\n",
            fake.url("/hook")
        ),
        2,
    );
    queue(&store, &receivers);
    fake.answer(500, "");
    fake.answer(500, "");
    worker.run_once().await;
    worker.run_once().await;
    let d = &store.list_deliveries(None, 10).unwrap()[0];
    assert_eq!(d.outcome, DeliveryOutcome::Failed);
    assert_eq!(d.attempts, 2);
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
}

#[tokio::test]
async fn a_multi_part_payload_resumes_after_the_parts_already_sent() {
    let fake = FakeServer::start().await;
    let store = temp_store("parts");
    let (worker, receivers) = worker(
        store.clone(),
        &format!(
            "- name: ops\n  whatsapp_configs:\n    - phone_number_id: '1'\n      access_token: t\n      to: ['+1', '+2', '+3']\n      api_url: {}\n",
            fake.url("")
        ),
        20,
    );
    queue(&store, &receivers);
    fake.answer(200, "{}");
    fake.answer(502, "bad gateway");
    worker.run_once().await;
    worker.run_once().await;
    let d = &store.list_deliveries(None, 10).unwrap()[0];
    assert_eq!(d.outcome, DeliveryOutcome::Delivered);
    let to: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.json()["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(to, ["1", "2", "2", "3"]);
}
