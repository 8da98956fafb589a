//! Rules over time: a reload keeps the state of unchanged rules, open alerts from before a
//! restart are adopted or resolved, and the task stores alerts and counts lagged batches.

use pharos_model::Alert;
use tokio::sync::broadcast;

use super::*;

#[test]
fn reload_keeps_state_of_unchanged_rules_and_resolves_changed_and_removed_ones() {
    let yaml = r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
- name: burst
  kind: threshold
  max: 0
  per: 1m
- name: gone
  kind: forbidden
  patterns: ["Webhook timeout"]
"#;
    let e = engine(yaml);
    e.observe(&[
        line("bot", Some(LogLevel::Error), "Queue full", 0),
        line("bot", Some(LogLevel::Error), "Webhook timeout", 0),
    ]);
    let mut got = e.tick(0);
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(got.len(), 3);

    e.engine.set_rules(rules(
        r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
- name: burst
  kind: threshold
  max: 5
  per: 1m
"#,
    ));
    let changes = e.engine.tick(at(1));
    assert!(changes.iter().all(|(a, _)| a.ends_at == Some(at(1))));
    let mut got: Vec<_> = changes
        .into_iter()
        .map(|(a, _)| {
            let l = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
            (
                a.state,
                l("alertname"),
                l("pattern"),
                l("severity"),
                l("service"),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(
        got,
        vec![
            resolved("burst", "", "critical", "bot"),
            resolved("gone", "Webhook timeout", "critical", "bot"),
        ],
        "the unchanged rule keeps its alert without a new notification"
    );
    let status = e.engine.status();
    assert_eq!(status[0].state, "firing");
    assert_eq!(status[0].matches_total, 1);
    assert_eq!(status[1].matches_total, 0, "a changed rule starts over");
}

#[test]
fn open_alerts_from_before_a_restart_are_adopted_or_resolved() {
    let yaml = r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
  resolve_after: 1m
- name: burst
  kind: threshold
  max: 10
  per: 2m
"#;
    let before = engine(yaml);
    before.observe(&[line("bot", None, "Queue full", 0)]);
    let mut open: Vec<Alert> = before
        .engine
        .tick(at(0))
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let mut stray = open[0].clone();
    stray
        .labels
        .insert("pattern".into(), "Removed pattern".into());
    stray.fingerprint = Alert::fingerprint_of(&stray.labels);
    open.push(stray);
    let mut unrelated = open[0].clone();
    unrelated.generator_url = "http://pharos/issues/4".into();
    unrelated
        .labels
        .insert("alertname".into(), "NewIssue".into());
    open.push(unrelated);

    let after = engine(yaml);
    let resolved_now = after.engine.adopt(open, at(100));
    assert_eq!(resolved_now.len(), 1);
    assert_eq!(
        resolved_now[0].0.labels.get("pattern").unwrap(),
        "Removed pattern"
    );
    assert_eq!(resolved_now[0].0.state, AlertState::Resolved);
    // Held for one window from the restart, then resolved without a match.
    assert_eq!(after.tick(101), vec![]);
    assert_eq!(after.engine.status()[0].state, "firing");
    assert_eq!(
        after.tick(160),
        vec![resolved("forbidden", "Queue full", "critical", "bot")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_stores_alerts_and_counts_lagged_batches() {
    let (engine, _sink) = engine_with(
        "- name: forbidden\n  kind: forbidden\n  patterns: [\"Queue full\"]\n",
        Duration::from_secs(15),
    );
    let (tx, rx) = broadcast::channel::<Arc<Vec<LogEntry>>>(1);
    let now = Utc::now();
    let batch = |m: &str| Arc::new(vec![LogEntry::new("bot", LogSource::Http, now, m)]);
    // The receiver is one batch deep: two of these three are skipped.
    tx.send(batch("nothing")).unwrap();
    tx.send(batch("nothing")).unwrap();
    tx.send(batch("Queue full")).unwrap();
    let task = tokio::spawn(engine.clone().run(rx));
    let store = engine.store.clone();
    let mut stored = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = store.clone();
        stored = tokio::task::spawn_blocking(move || s.list_alerts(None, 10))
            .await
            .unwrap()
            .unwrap();
        if !stored.is_empty() {
            break;
        }
    }
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].alert.name(), "forbidden");
    assert!(stored[0].alert.generator_url.contains("/logs?q="));
    assert_eq!(engine.lagged_batches(), 2);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
