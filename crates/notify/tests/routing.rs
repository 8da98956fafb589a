//! Routing checked against Alertmanager's documented behaviour: which receiver gets an
//! alert (the example configuration of Alertmanager's docs), grouping timers driven by an
//! explicit clock, inhibition, silences (recurring too), time intervals in a time zone,
//! the daily digest, and the notification log surviving a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use pharos_model::{Alert, AlertState, Labels, Notification, StoredAlertHandler};
use pharos_notify::dispatch::{
    Dispatch, Dispatcher, InhibitRuleConfig, Integrations, ManualClock, NamedTimeIntervalConfig,
    PostedAlert, RouteConfig, Routing, Silence,
};
use pharos_notify::{BoxFuture, Receiver, SendError};
use pharos_store::{SilenceMatcher, SilenceRecord, Store};
use serde_json::{Value, json};

/// A receiver that renders the group as JSON and never sends.
struct Fake {
    name: String,
    send_resolved: bool,
}

impl Receiver for Fake {
    fn name(&self) -> &str {
        &self.name
    }
    fn integration(&self) -> &'static str {
        "fake"
    }
    fn describe(&self) -> Value {
        json!({})
    }
    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.send_resolved {
            return None;
        }
        let alerts: Vec<Value> = n
            .alerts
            .iter()
            .map(|a| json!({"name": a.name(), "status": a.state.as_str(), "labels": a.labels}))
            .collect();
        Some(json!({"receiver": n.receiver, "groupKey": n.group_key, "groupLabels": n.group_labels, "alerts": alerts}).to_string())
    }
    fn send<'a>(
        &'a self,
        _: &'a reqwest::Client,
        _: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async { Ok(200) })
    }
}

struct Fakes(BTreeMap<String, Arc<dyn Receiver>>);

impl Integrations for Fakes {
    fn integrations(&self, receiver: &str) -> Vec<Arc<dyn Receiver>> {
        self.0.get(receiver).cloned().into_iter().collect()
    }
}

fn fakes(names: &[&str]) -> Fakes {
    Fakes(
        names
            .iter()
            .map(|n| {
                let r: Arc<dyn Receiver> = Arc::new(Fake {
                    name: n.to_string(),
                    send_resolved: !n.ends_with("-quiet"),
                });
                (n.to_string(), r)
            })
            .collect(),
    )
}

#[derive(serde::Deserialize, Default)]
struct Sections {
    route: Option<RouteConfig>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    time_intervals: Vec<NamedTimeIntervalConfig>,
    #[serde(default)]
    receivers: Vec<BTreeMap<String, String>>,
}

fn routing(yaml: &str) -> Routing {
    let s: Sections = serde_norway::from_str(yaml).unwrap();
    let receivers: Vec<String> = s.receivers.iter().map(|r| r["name"].clone()).collect();
    Routing::from_config(
        s.route.as_ref(),
        &s.inhibit_rules,
        &s.time_intervals,
        &[],
        &receivers,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(pairs: &[(&str, &str)], state: AlertState, at: DateTime<Utc>) -> Alert {
    let labels = labels(pairs);
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

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Flushes what is due and returns the payloads sent, marking the flushes stored.
fn flush(d: &mut Dispatch, now: DateTime<Utc>, i: &dyn Integrations) -> Vec<Value> {
    let mut out = Vec::new();
    for f in d.flush_due(now, i) {
        for del in &f.deliveries {
            out.push(serde_json::from_str(&del.payload).unwrap());
        }
        d.flushed(&f);
    }
    out
}

/// The example configuration from Alertmanager's documentation (doc/examples/simple.yml),
/// routing part.
const DOCS_EXAMPLE: &str = r#"
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]
receivers:
  - name: team-X-mails
  - name: team-X-pager
  - name: team-Y-mails
  - name: team-Y-pager
  - name: team-DB-pager
"#;

/// Labels of an alert and the receivers it must reach.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn docs_example_routes_alerts_to_the_documented_receivers() {
    let r = routing(DOCS_EXAMPLE);
    let cases: &[Case] = &[
        (&[("service", "foo1")], &["team-X-mails"]),
        (
            &[("service", "baz"), ("severity", "critical")],
            &["team-X-pager"],
        ),
        (
            &[("service", "files"), ("severity", "warning")],
            &["team-Y-mails"],
        ),
        (
            &[("service", "files"), ("severity", "critical")],
            &["team-Y-pager"],
        ),
        (&[("service", "database")], &["team-DB-pager"]),
        // continue: true on the first child lets the second one match too.
        (
            &[("service", "database"), ("owner", "team-X")],
            &["team-X-pager"],
        ),
        (
            &[("service", "database"), ("owner", "team-Y")],
            &["team-Y-pager"],
        ),
        (&[("service", "unknown")], &["team-X-mails"]),
        (&[], &["team-X-mails"]),
    ];
    for (l, want) in cases {
        assert_eq!(r.receivers_for(&labels(l)), *want, "labels {l:?}");
    }
    // Timers and group_by are inherited unless the child sets them.
    let db = r.routes_for(&labels(&[("service", "database"), ("owner", "team-Y")]));
    let node = &r.routes[db[0]];
    assert_eq!(node.group_wait, Duration::from_secs(30));
    assert_eq!(node.repeat_interval, Some(Duration::from_secs(3 * 3600)));
    assert_eq!(
        node.group_by,
        pharos_notify::dispatch::GroupBy::Labels(vec![
            "alertname".into(),
            "cluster".into(),
            "database".into()
        ])
    );
    assert_eq!(node.key, r#"{}/{service="database"}/{owner="team-Y"}"#);
}

#[test]
fn continue_sends_to_every_matching_branch() {
    let r = routing(
        r#"
route:
  receiver: default
  routes:
    - matchers: ['team="db"']
      receiver: db
      continue: true
    - matchers: ['severity="critical"']
      receiver: pager
receivers: [{name: default}, {name: db}, {name: pager}]
"#,
    );
    assert_eq!(
        r.receivers_for(&labels(&[("team", "db"), ("severity", "critical")])),
        ["db", "pager"]
    );
    assert_eq!(r.receivers_for(&labels(&[("team", "db")])), ["db"]);
    assert_eq!(r.receivers_for(&labels(&[("team", "web")])), ["default"]);
}

#[test]
fn config_errors_name_the_field() {
    let s: Sections = serde_norway::from_str(
        "route:\n  receiver: a\n  routes:\n    - receiver: nope\n    - matchers: ['x=~\"(\"']\n",
    )
    .unwrap();
    let e = Routing::from_config(s.route.as_ref(), &[], &[], &[], &["a".into()]).unwrap_err();
    assert_eq!(e.field, "route.routes[0].receiver");
    let s: Sections =
        serde_norway::from_str("route:\n  receiver: a\n  routes:\n    - matchers: ['x=~\"(\"']\n")
            .unwrap();
    let e = Routing::from_config(s.route.as_ref(), &[], &[], &[], &["a".into()]).unwrap_err();
    assert_eq!(e.field, "route.routes[0].matchers[0]");
    let s: Sections = serde_norway::from_str(
        "route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [night]\n",
    )
    .unwrap();
    let e = Routing::from_config(s.route.as_ref(), &[], &[], &[], &["a".into()]).unwrap_err();
    assert_eq!(e.field, "route.routes[0].mute_time_intervals[0]");
    let s: Sections = serde_norway::from_str("route:\n  group_by: ['...']\n").unwrap();
    let e = Routing::from_config(s.route.as_ref(), &[], &[], &[], &["a".into()]).unwrap_err();
    assert_eq!(e.field, "route.receiver");
}

const TIMERS: &str = r#"
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers: [{name: ops}]
"#;

#[test]
fn group_wait_then_one_notification_of_two_alerts_then_interval_batches_and_repeat() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(TIMERS));
    let t = t0();
    d.insert(
        alert(&[("alertname", "Down"), ("i", "1")], AlertState::Firing, t),
        None,
        t,
    );
    d.insert(
        alert(
            &[("alertname", "Down"), ("i", "2")],
            AlertState::Firing,
            t + secs(10),
        ),
        None,
        t + secs(10),
    );
    assert!(
        flush(&mut d, t + secs(29), &ints).is_empty(),
        "still in group_wait"
    );
    let sent = flush(&mut d, t + secs(30), &ints);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(sent[0]["groupKey"], r#"{}:{alertname="Down"}"#);

    // A third alert waits for the group interval, then goes with the other two.
    d.insert(
        alert(
            &[("alertname", "Down"), ("i", "3")],
            AlertState::Firing,
            t + secs(60),
        ),
        None,
        t + secs(60),
    );
    assert!(flush(&mut d, t + secs(60), &ints).is_empty());
    assert!(flush(&mut d, t + secs(329), &ints).is_empty());
    let sent = flush(&mut d, t + secs(330), &ints);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["alerts"].as_array().unwrap().len(), 3);

    // Nothing changed: quiet until the repeat interval has passed.
    let mut now = t + secs(330);
    let mut repeats = Vec::new();
    while now < t + secs(5 * 3600) {
        now += secs(300);
        if !flush(&mut d, now, &ints).is_empty() {
            repeats.push(now);
        }
    }
    assert_eq!(
        repeats,
        vec![t + secs(330 + 4 * 3600)],
        "one repeat after 4h"
    );

    // One resolves: notified once at the next interval, then dropped from the group.
    let r = now + secs(10);
    d.insert(
        alert(
            &[("alertname", "Down"), ("i", "1")],
            AlertState::Resolved,
            r,
        ),
        None,
        r,
    );
    let sent = flush(&mut d, now + secs(300), &ints);
    assert_eq!(sent.len(), 1);
    let statuses: Vec<&str> = sent[0]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["firing", "firing", "resolved"]);
    assert!(flush(&mut d, now + secs(600), &ints).is_empty());
    let group = d.groups.values().next().unwrap();
    assert_eq!(group.alerts.len(), 2);
}

#[test]
fn all_resolved_is_sent_once_and_the_group_goes_away() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(TIMERS));
    let t = t0();
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Firing, t),
        None,
        t,
    );
    assert_eq!(flush(&mut d, t + secs(30), &ints).len(), 1);
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Resolved, t + secs(40)),
        None,
        t + secs(40),
    );
    let sent = flush(&mut d, t + secs(330), &ints);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["alerts"][0]["status"], "resolved");
    assert!(d.groups.is_empty());
    assert!(flush(&mut d, t + secs(5000), &ints).is_empty());
}

#[test]
fn resolved_before_the_first_flush_is_never_sent() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(TIMERS));
    let t = t0();
    d.insert(
        alert(&[("alertname", "Blip")], AlertState::Firing, t),
        None,
        t,
    );
    d.insert(
        alert(&[("alertname", "Blip")], AlertState::Resolved, t + secs(5)),
        None,
        t + secs(5),
    );
    assert!(flush(&mut d, t + secs(30), &ints).is_empty());
}

#[test]
fn group_by_all_labels_makes_one_group_per_alert() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(
        "route:\n  receiver: ops\n  group_by: ['...']\n  group_wait: 1s\nreceivers: [{name: ops}]\n",
    ));
    let t = t0();
    d.insert(
        alert(&[("alertname", "A"), ("x", "1")], AlertState::Firing, t),
        None,
        t,
    );
    d.insert(
        alert(&[("alertname", "A"), ("x", "2")], AlertState::Firing, t),
        None,
        t,
    );
    assert_eq!(flush(&mut d, t + secs(1), &ints).len(), 2);
}

#[test]
fn without_a_route_every_receiver_gets_every_change_at_once() {
    let ints = fakes(&["a", "b"]);
    let mut d = Dispatch::new(Routing::every_receiver(&["a".into(), "b".into()]));
    let t = t0();
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Firing, t),
        None,
        t,
    );
    let sent = flush(&mut d, t, &ints);
    assert_eq!(sent.len(), 2);
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Resolved, t + secs(1)),
        None,
        t + secs(1),
    );
    assert_eq!(flush(&mut d, t + secs(1), &ints).len(), 2);
    // No repeats in this mode.
    d.insert(
        alert(&[("alertname", "Other")], AlertState::Firing, t + secs(2)),
        None,
        t + secs(2),
    );
    assert_eq!(flush(&mut d, t + secs(2), &ints).len(), 2);
    assert!(flush(&mut d, t + secs(86_400), &ints).is_empty());
}

#[test]
fn send_resolved_false_gets_no_resolved_notification() {
    let ints = fakes(&["ops-quiet"]);
    let mut d = Dispatch::new(routing(
        "route:\n  receiver: ops-quiet\n  group_wait: 1s\nreceivers: [{name: ops-quiet}]\n",
    ));
    let t = t0();
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Firing, t),
        None,
        t,
    );
    assert_eq!(flush(&mut d, t + secs(1), &ints).len(), 1);
    d.insert(
        alert(&[("alertname", "Down")], AlertState::Resolved, t + secs(2)),
        None,
        t + secs(2),
    );
    assert!(flush(&mut d, t + secs(400), &ints).is_empty());
    assert!(d.groups.is_empty());
}

#[test]
fn a_down_database_inhibits_the_alerts_that_follow_from_it() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(
        r#"
route: {receiver: ops, group_by: ['...'], group_wait: 1s}
inhibit_rules:
  - source_matchers: ['alertname="DatabaseDown"']
    target_matchers: ['severity=~"warning|error"']
    equal: [cluster]
receivers: [{name: ops}]
"#,
    ));
    let t = t0();
    let db = alert(
        &[
            ("alertname", "DatabaseDown"),
            ("cluster", "eu"),
            ("severity", "critical"),
        ],
        AlertState::Firing,
        t,
    );
    let api = alert(
        &[
            ("alertname", "ErrorRateHigh"),
            ("cluster", "eu"),
            ("severity", "error"),
        ],
        AlertState::Firing,
        t,
    );
    let other = alert(
        &[
            ("alertname", "ErrorRateHigh"),
            ("cluster", "us"),
            ("severity", "error"),
        ],
        AlertState::Firing,
        t,
    );
    for a in [&db, &api, &other] {
        d.insert(a.clone(), None, t);
    }
    assert_eq!(
        d.suppression(&api, t).inhibited_by,
        vec![db.fingerprint.clone()]
    );
    assert!(d.suppression(&other, t).inhibited_by.is_empty());
    let sent = flush(&mut d, t + secs(1), &ints);
    let names: Vec<String> = sent
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["alerts"][0]["name"], p["alerts"][0]["labels"]["cluster"]
            )
        })
        .collect();
    assert_eq!(sent.len(), 2, "{names:?}");
    assert!(
        !names.contains(&"\"ErrorRateHigh\"/\"eu\"".to_string()),
        "{names:?}"
    );
}

fn silence(
    id: &str,
    matchers: &[(&str, &str, bool)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    schedule: Option<Value>,
) -> Silence {
    Silence::new(SilenceRecord {
        id: id.into(),
        matchers: matchers
            .iter()
            .map(|(n, v, re)| SilenceMatcher {
                name: n.to_string(),
                value: v.to_string(),
                is_regex: *re,
                is_equal: true,
            })
            .collect(),
        starts_at: from,
        ends_at: to,
        updated_at: from,
        created_by: "test".into(),
        comment: "test".into(),
        time_intervals: schedule,
    })
    .unwrap()
}

#[test]
fn silenced_alerts_are_not_notified_until_the_silence_ends() {
    let ints = fakes(&["ops"]);
    let mut d = Dispatch::new(routing(
        "route: {receiver: ops, group_wait: 1s, group_interval: 1m}\nreceivers: [{name: ops}]\n",
    ));
    let t = t0();
    d.silences.push(silence(
        "s1",
        &[("alertname", "Deploy.*", true)],
        t,
        t + secs(600),
        None,
    ));
    let a = alert(&[("alertname", "DeployFailed")], AlertState::Firing, t);
    d.insert(a.clone(), None, t);
    assert_eq!(d.suppression(&a, t).silenced_by, vec!["s1".to_string()]);
    assert!(flush(&mut d, t + secs(1), &ints).is_empty());
    assert!(flush(&mut d, t + secs(61), &ints).is_empty());
    // Expired: the next interval notifies.
    let mut n = 0;
    let mut now = t + secs(61);
    while now < t + secs(700) {
        now += secs(60);
        n += flush(&mut d, now, &ints).len();
    }
    assert_eq!(n, 1);
}

#[test]
fn a_recurring_silence_mutes_every_night_in_its_time_zone() {
    let night = json!([{"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": "Europe/Berlin"}]);
    let t = t0();
    let s = silence(
        "backup",
        &[("job", "backup", false)],
        t,
        t + chrono::Duration::days(365),
        Some(night),
    );
    let l = labels(&[("job", "backup")]);
    // Berlin is UTC+2 in July: 02:30 local is 00:30 UTC.
    assert!(s.mutes(&l, Utc.with_ymd_and_hms(2024, 7, 2, 0, 30, 0).unwrap()));
    assert!(!s.mutes(&l, Utc.with_ymd_and_hms(2024, 7, 2, 2, 30, 0).unwrap()));
    // In winter (UTC+1) the same local hour is 01:30 UTC.
    assert!(s.mutes(&l, Utc.with_ymd_and_hms(2024, 12, 2, 1, 30, 0).unwrap()));
    assert!(!s.mutes(&l, Utc.with_ymd_and_hms(2024, 12, 2, 0, 30, 0).unwrap()));
    assert!(!s.mutes(
        &labels(&[("job", "web")]),
        Utc.with_ymd_and_hms(2024, 7, 2, 0, 30, 0).unwrap()
    ));
}

#[test]
fn routes_mute_outside_working_hours_across_a_time_zone() {
    let ints = fakes(&["ops", "pager"]);
    let mut d = Dispatch::new(routing(
        r#"
route:
  receiver: pager
  group_wait: 1s
  routes:
    - matchers: ['severity="warning"']
      receiver: ops
      active_time_intervals: [office]
time_intervals:
  - name: office
    time_intervals:
      - times: [{start_time: "09:00", end_time: "18:00"}]
        weekdays: ['monday:friday']
        location: America/New_York
receivers: [{name: ops}, {name: pager}]
"#,
    ));
    // 10:00 UTC on a Monday is 06:00 in New York: outside office hours.
    let t = t0();
    d.insert(
        alert(
            &[("alertname", "DiskFilling"), ("severity", "warning")],
            AlertState::Firing,
            t,
        ),
        None,
        t,
    );
    assert!(flush(&mut d, t + secs(1), &ints).is_empty());
    // 13:00 UTC is 09:00 in New York: the next interval notifies.
    let mut now = t + secs(1);
    let mut first = None;
    while first.is_none() && now < t + secs(6 * 3600) {
        now += secs(300);
        if !flush(&mut d, now, &ints).is_empty() {
            first = Some(now);
        }
    }
    let first = first.expect("notified once office hours start");
    assert!(
        first >= Utc.with_ymd_and_hms(2024, 7, 1, 13, 0, 0).unwrap(),
        "{first}"
    );
    assert!(
        first < Utc.with_ymd_and_hms(2024, 7, 1, 13, 6, 0).unwrap(),
        "{first}"
    );
}

#[test]
fn warnings_go_out_once_a_day_in_a_digest() {
    let ints = fakes(&["oncall", "digest"]);
    let mut d = Dispatch::new(routing(
        r#"
route:
  receiver: oncall
  group_wait: 1s
  routes:
    - matchers: ['severity="warning"']
      receiver: digest
      digest: {at: "09:00", timezone: Europe/Berlin}
receivers: [{name: oncall}, {name: digest}]
"#,
    ));
    let t = t0(); // 12:00 in Berlin
    d.insert(
        alert(
            &[("alertname", "SlowResponse"), ("severity", "warning")],
            AlertState::Firing,
            t,
        ),
        None,
        t,
    );
    d.insert(
        alert(
            &[("alertname", "DiskFilling"), ("severity", "warning")],
            AlertState::Firing,
            t + secs(60),
        ),
        None,
        t + secs(60),
    );
    d.insert(
        alert(
            &[("alertname", "SlowResponse"), ("severity", "warning")],
            AlertState::Resolved,
            t + secs(120),
        ),
        None,
        t + secs(120),
    );
    d.insert(
        alert(
            &[("alertname", "Down"), ("severity", "critical")],
            AlertState::Firing,
            t,
        ),
        None,
        t,
    );
    let sent = flush(&mut d, t + secs(1), &ints);
    assert_eq!(sent.len(), 1, "the critical one at once");
    assert_eq!(sent[0]["receiver"], "oncall");
    // The critical alert repeats to on-call meanwhile; only digests are looked at here.
    let digests = |sent: Vec<Value>| -> Vec<Value> {
        sent.into_iter()
            .filter(|p| p["receiver"] == "digest")
            .collect()
    };
    let next_morning = Utc.with_ymd_and_hms(2024, 7, 2, 7, 0, 0).unwrap(); // 09:00 CEST
    assert!(digests(flush(&mut d, next_morning - secs(1), &ints)).is_empty());
    let sent = digests(flush(&mut d, next_morning, &ints));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["alerts"].as_array().unwrap().len(),
        2,
        "{:#}",
        sent[0]
    );
    // Still firing the day after: in the next digest, alone.
    let sent = digests(flush(
        &mut d,
        next_morning + chrono::Duration::days(1),
        &ints,
    ));
    assert_eq!(sent[0]["alerts"].as_array().unwrap().len(), 1);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pharos-routing-{name}-{}", rand_suffix()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn the_notification_log_survives_a_restart_without_renotifying() {
    let dir = temp_dir("restart");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let config = "route: {receiver: ops, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}\nreceivers: [{name: ops}]\n";
    let start = |clock: Arc<ManualClock>| {
        let store = Arc::new(Store::open(&dir).unwrap());
        let d = Dispatcher::new(
            store.clone(),
            Arc::new(fakes(&["ops"])),
            Arc::new(tokio::sync::Notify::new()),
            clock,
        );
        d.set_routing(routing(config), "http://pharos");
        (store, d)
    };
    let (store, d) = start(clock.clone());
    d.restore().await.unwrap();
    d.post_alerts(vec![
        PostedAlert {
            labels: labels(&[("alertname", "Down"), ("i", "1")]),
            ..Default::default()
        },
        PostedAlert {
            labels: labels(&[("alertname", "Down"), ("i", "2")]),
            ..Default::default()
        },
    ])
    .await
    .unwrap();
    d.tick().await.unwrap();
    assert!(
        store.list_deliveries(None, 10).unwrap().is_empty(),
        "group_wait"
    );
    clock.advance(Duration::from_secs(30));
    d.tick().await.unwrap();
    let sent = store.list_deliveries(None, 10).unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alert_fingerprint, r#"{}:{alertname="Down"}"#);
    drop(d);
    drop(store);

    // Restart a minute later: the group is rebuilt and flushed at once, but the log says
    // both alerts were already notified.
    clock.advance(Duration::from_secs(60));
    let (store, d) = start(clock.clone());
    d.restore().await.unwrap();
    d.tick().await.unwrap();
    assert_eq!(
        store.list_deliveries(None, 10).unwrap().len(),
        1,
        "nothing sent twice"
    );
    assert_eq!(d.alerts().len(), 2);
    // Prometheus keeps posting; then the alerts stop coming and lapse after resolve_timeout.
    clock.advance(Duration::from_secs(6 * 60));
    d.tick().await.unwrap();
    d.tick().await.unwrap();
    let sent = store.list_deliveries(None, 10).unwrap();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0].status, "resolved");
    drop(d);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_stored_alert_change_handed_over_is_notified() {
    let dir = temp_dir("stored");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = Arc::new(Store::open(&dir).unwrap());
    let d = Dispatcher::new(
        store.clone(),
        Arc::new(fakes(&["ops"])),
        Arc::new(tokio::sync::Notify::new()),
        clock.clone(),
    );
    d.set_routing(Routing::every_receiver(&["ops".into()]), "");
    let a = alert(
        &[("alertname", "Down")],
        AlertState::Firing,
        clock.now_for_test(),
    );
    store.save_alert(&a).unwrap();
    d.alert_stored(&a);
    d.tick().await.unwrap();
    assert_eq!(store.list_deliveries(None, 10).unwrap().len(), 1);
    drop(d);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

trait NowForTest {
    fn now_for_test(&self) -> DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> DateTime<Utc> {
        use pharos_notify::dispatch::Clock;
        self.now()
    }
}
