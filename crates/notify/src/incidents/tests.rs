//! Incidents and escalation with a clock moved by hand.

use std::collections::BTreeMap;
use std::path::Path;

use pharos_model::clock::ManualClock;
use pharos_model::{Alert, AlertState, Labels, Notification};
use pharos_store::IncidentState;

use super::*;
use crate::oncall::ScheduleConfig;
use crate::{BoxFuture, Receiver, SendError};

struct Recording(String);

impl Receiver for Recording {
    fn name(&self) -> &str {
        &self.0
    }
    fn payload_for(&self, n: &Notification) -> Option<String> {
        serde_json::to_string(n).ok()
    }
    fn send<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        _part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async { Ok(200) })
    }
}

struct Fixed(Vec<&'static str>);

impl Integrations for Fixed {
    fn integrations(&self, receiver: &str) -> Vec<Arc<dyn Receiver>> {
        self.0
            .iter()
            .filter(|n| **n == receiver)
            .map(|n| Arc::new(Recording(n.to_string())) as Arc<dyn Receiver>)
            .collect()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Setup {
    dir: std::path::PathBuf,
    store: Arc<Store>,
    clock: Arc<ManualClock>,
    incidents: Arc<Incidents>,
}

const SETTINGS: &str = "
escalation_policies:
  - name: page
    steps:
      - {after: 5m, receivers: ['oncall:primary']}
    repeat: 1
oncall:
  - name: primary
    timezone: Europe/Berlin
    rotation: {every: 1w, handoff: 'mon 09:00', start: '2025-03-10'}
    people:
      - {name: alice, receivers: [level2]}
      - {name: bob, receivers: [level3]}
";

#[derive(serde::Deserialize)]
struct Sections {
    escalation_policies: Vec<EscalationPolicyConfig>,
    oncall: Vec<ScheduleConfig>,
}

fn settings() -> IncidentSettings {
    let s: Sections = serde_norway::from_str(SETTINGS).unwrap();
    IncidentSettings::from_config(
        &s.escalation_policies,
        &s.oncall,
        &BTreeMap::new(),
        None,
        Path::new("."),
        &["level1".into(), "level2".into(), "level3".into()],
    )
    .unwrap()
}

fn start(dir: &Path, store: Arc<Store>, clock: Arc<ManualClock>) -> Arc<Incidents> {
    let incidents = Incidents::new(
        store,
        Arc::new(Fixed(vec!["level1", "level2", "level3"])),
        Arc::new(Notify::new()),
        clock,
        AckLinks::load_or_create(dir).unwrap(),
    );
    incidents.set_settings(settings(), "http://pharos.test");
    incidents
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!(
        "pharos-incidents-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let store = Arc::new(Store::open(&dir).unwrap());
    let clock = Arc::new(ManualClock::new(t0()));
    let incidents = start(&dir, store.clone(), clock.clone());
    Setup {
        dir,
        store,
        clock,
        incidents,
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn alert(name: &str, state: AlertState, at: DateTime<Utc>) -> Alert {
    let mut labels = Labels::new();
    labels.insert("alertname".into(), name.into());
    labels.insert("severity".into(), "critical".into());
    Alert {
        fingerprint: Alert::fingerprint_of(&labels),
        labels,
        annotations: Labels::new(),
        state,
        starts_at: at,
        ends_at: (state == AlertState::Resolved).then_some(at),
        generator_url: String::new(),
        updated_at: at,
    }
}

fn group(alerts: Vec<Alert>, due: bool) -> GroupSnapshot {
    let mut labels = Labels::new();
    labels.insert("alertname".into(), "MonitorDown".into());
    GroupSnapshot {
        key: "{}:{alertname=\"MonitorDown\"}".into(),
        labels,
        receiver: "level1".into(),
        escalation: Some("page".into()),
        alerts,
        muted: Vec::new(),
        due,
    }
}

fn sent_to(store: &Store, receiver: &str) -> usize {
    store
        .list_deliveries(None, 1000)
        .unwrap()
        .iter()
        .filter(|d| d.receiver == receiver)
        .count()
}

impl Setup {
    async fn at(&self, offset_secs: i64) {
        self.clock
            .set(t0() + chrono::Duration::seconds(offset_secs));
        self.incidents.escalate().await.unwrap();
    }

    async fn open(&self) -> (i64, String) {
        let firing = alert(
            "MonitorDown",
            AlertState::Firing,
            t0() - chrono::Duration::seconds(30),
        );
        // Not yet due: nothing opens before the group's first notification.
        let links = self
            .incidents
            .sync_groups(vec![group(vec![firing.clone()], false)], t0())
            .await
            .unwrap();
        assert!(links.is_empty());
        let links = self
            .incidents
            .sync_groups(vec![group(vec![firing], true)], t0())
            .await
            .unwrap();
        let link = links.values().next().expect("an ack link").clone();
        let open = self.store.unresolved_incidents().unwrap();
        assert_eq!(open.len(), 1);
        (open[0].id, link)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn no_ack_escalates_at_exactly_five_minutes_and_repeats() {
    let s = setup("escalate");
    let (id, _) = s.open().await;
    let inc = s.store.get_incident(id).unwrap();
    assert_eq!(inc.title, "MonitorDown");
    assert_eq!(inc.severity, "critical");
    // The route's receiver is level 1: the dispatcher notifies it, not escalation.
    assert_eq!(inc.escalation_step, 1);
    s.at(0).await;
    s.at(299).await;
    assert_eq!(sent_to(&s.store, "level2"), 0);
    // 2025-03-10 12:05 UTC: alice (level2) is on call.
    s.at(300).await;
    assert_eq!(sent_to(&s.store, "level2"), 1);
    s.at(301).await;
    assert_eq!(sent_to(&s.store, "level2"), 1, "a step goes out once");
    // The pass is 10 minutes: level 1 again at 10m, level 2 again at 15m, then done.
    s.at(599).await;
    assert_eq!(sent_to(&s.store, "level1"), 0);
    s.at(600).await;
    assert_eq!(sent_to(&s.store, "level1"), 1);
    s.at(900).await;
    assert_eq!(sent_to(&s.store, "level2"), 2);
    s.at(3600).await;
    assert_eq!(sent_to(&s.store, "level1") + sent_to(&s.store, "level2"), 3);

    let payload = &s.store.list_deliveries(None, 10).unwrap()[0].payload;
    let n: Notification = serde_json::from_str(payload).unwrap();
    assert!(
        n.ack_url
            .as_deref()
            .unwrap_or("")
            .starts_with("http://pharos.test/ack/")
    );
    let detail = s.incidents.detail(id).await.unwrap();
    let escalated: Vec<&str> = detail
        .timeline
        .iter()
        .filter(|e| e.kind == "escalated")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(escalated.len(), 3, "{escalated:?}");
    assert!(
        escalated[0].contains("oncall:primary (alice)"),
        "{escalated:?}"
    );
    assert_eq!(
        detail
            .timeline
            .iter()
            .filter(|e| e.kind == "notified")
            .count(),
        3
    );
}

#[tokio::test]
async fn ack_before_five_minutes_means_no_level_two() {
    let s = setup("ack");
    let (id, link) = s.open().await;
    s.at(120).await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let acked = s
        .incidents
        .acknowledge_by_link(&token, Some("alice"))
        .await
        .unwrap();
    assert_eq!(acked.state, IncidentState::Acknowledged);
    assert_eq!(
        acked.acknowledged_by.as_deref(),
        Some("alice (signed link)")
    );
    s.at(300).await;
    s.at(3600).await;
    assert_eq!(sent_to(&s.store, "level2"), 0);
    assert_eq!(sent_to(&s.store, "level1"), 0);
    assert!(
        s.incidents
            .detail(id)
            .await
            .unwrap()
            .next_escalation
            .is_none()
    );
}

#[tokio::test]
async fn restart_does_not_resend_a_step() {
    let s = setup("restart");
    s.open().await;
    s.at(300).await;
    assert_eq!(sent_to(&s.store, "level2"), 1);
    let again = start(&s.dir, s.store.clone(), s.clock.clone());
    again.escalate().await.unwrap();
    assert_eq!(sent_to(&s.store, "level2"), 1);
    // The link key survived too.
    let token = s
        .incidents
        .links()
        .token(1, t0() + chrono::Duration::hours(1));
    assert_eq!(again.links().verify(&token, t0()), Ok(1));
}

#[tokio::test]
async fn resolves_when_every_alert_resolved_and_reopens_on_a_new_firing() {
    let s = setup("resolve");
    let (id, _) = s.open().await;
    let started = t0() - chrono::Duration::seconds(30);
    let mut resolved = alert(
        "MonitorDown",
        AlertState::Resolved,
        t0() + chrono::Duration::seconds(90),
    );
    resolved.starts_at = started;
    let links = s
        .incidents
        .sync_groups(
            vec![group(vec![resolved], true)],
            t0() + chrono::Duration::seconds(90),
        )
        .await
        .unwrap();
    // The resolution notification still links to the incident.
    assert_eq!(links.len(), 1);
    let inc = s.store.get_incident(id).unwrap();
    assert_eq!(inc.state, IncidentState::Resolved);
    assert!(inc.resolved_by.is_none());
    s.at(300).await;
    assert_eq!(sent_to(&s.store, "level2"), 0);
    // The group empties out; it fires again later: a new incident.
    s.incidents
        .sync_groups(Vec::new(), t0() + chrono::Duration::seconds(100))
        .await
        .unwrap();
    let again = alert(
        "MonitorDown",
        AlertState::Firing,
        t0() + chrono::Duration::hours(1),
    );
    s.incidents
        .sync_groups(
            vec![group(vec![again], true)],
            t0() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let open = s.store.unresolved_incidents().unwrap();
    assert_eq!(open.len(), 1);
    assert_ne!(open[0].id, id);
    let kinds: Vec<String> = s
        .incidents
        .detail(id)
        .await
        .unwrap()
        .timeline
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["alert_firing", "opened", "alert_resolved", "resolved"]
    );
    let draft = s.incidents.postmortem(id).await.unwrap();
    assert!(draft.contains("## Impact window"), "{draft}");
    assert!(draft.contains("Nobody acknowledged"), "{draft}");
    assert!(draft.contains("Resolved automatically"), "{draft}");
}

#[tokio::test]
async fn resolved_by_hand_stays_resolved_while_the_same_alerts_fire() {
    let s = setup("manual");
    let (id, _) = s.open().await;
    s.incidents.resolve(id, "bob").await.unwrap();
    let firing = alert(
        "MonitorDown",
        AlertState::Firing,
        t0() - chrono::Duration::seconds(30),
    );
    s.incidents
        .sync_groups(
            vec![group(vec![firing], true)],
            t0() + chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    assert!(s.store.unresolved_incidents().unwrap().is_empty());
    s.at(300).await;
    assert_eq!(sent_to(&s.store, "level2"), 0);
    let err = s.incidents.acknowledge(id, "carol").await.unwrap_err();
    assert!(err.to_string().contains("already resolved"), "{err}");
    s.incidents
        .add_note(id, "bob", "restarted the worker")
        .await
        .unwrap();
    assert!(s.incidents.add_note(id, "bob", "  ").await.is_err());
}

#[tokio::test]
async fn expired_and_tampered_links_acknowledge_nothing() {
    let s = setup("links");
    let (id, link) = s.open().await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let tampered = token.replacen(&format!("{id}."), &format!("{}.", id + 1), 1);
    assert!(matches!(
        s.incidents.acknowledge_by_link(&tampered, None).await,
        Err(IncidentError::Link(LinkError::Invalid))
    ));
    s.clock.set(t0() + ACK_LINK_TTL);
    assert!(matches!(
        s.incidents.acknowledge_by_link(&token, None).await,
        Err(IncidentError::Link(LinkError::Expired))
    ));
    assert_eq!(s.store.get_incident(id).unwrap().state, IncidentState::Open);
}

/// Regression: without a `route:` section every receiver has its own route and group for
/// the same alerts, and each group opened an incident of its own.
#[tokio::test]
async fn groups_of_the_implicit_routes_share_one_incident() {
    let s = setup("implicit");
    let firing = alert("MonitorDown", AlertState::Firing, t0());
    let per_receiver = |receiver: &str| {
        let mut g = group(vec![firing.clone()], true);
        g.receiver = receiver.into();
        g.escalation = None;
        g
    };
    let links = s
        .incidents
        .sync_groups(vec![per_receiver("chat"), per_receiver("mail")], t0())
        .await
        .unwrap();
    assert_eq!(s.store.unresolved_incidents().unwrap().len(), 1);
    // Links are by group key, which both receivers' groups share: both carry the link.
    assert_eq!(links.len(), 1);
    assert!(links.contains_key(&per_receiver("chat").key));

    // The dispatcher gives the implicit routes' groups of one alert that shared key.
    let mut d = crate::dispatch::Dispatch::new(crate::dispatch::Routing::every_receiver(&[
        "chat".to_string(),
        "mail".to_string(),
    ]));
    d.insert(firing.clone(), None, t0());
    let snapshots = d.snapshots(t0());
    assert_eq!(snapshots.len(), 2, "one group per receiver");
    assert_eq!(snapshots[0].key, snapshots[1].key);
}
