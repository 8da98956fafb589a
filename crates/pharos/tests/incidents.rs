//! Incidents and escalation on the real binary: a monitor goes down, its group's incident
//! opens and level 1 is told with a signed acknowledgement link; level 2 (the person on
//! call) is told after the escalation delay; a kill -9 and restart sends nothing again;
//! acknowledging through the link stops the policy's repeats; the incident resolves when
//! the monitor recovers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::Value;

/// Seconds from the incident's opening to level 2, and the policy's pass (6s + 6s): the
/// repeat would tell level 1 again at 12s and level 2 at 18s. The kill -9, the restart and
/// the acknowledgement must fit between level 2 (6s) and the repeat (12s): with 4s steps
/// a debug binary restarting on a loaded CI machine met the repeat, which rightly told
/// level 1 a second time.
const ESCALATE_AFTER_SECS: u64 = 6;

fn config(target: &Target, level1: &Webhook, level2: &Webhook) -> String {
    format!(
        r#"
monitors:
  - name: API health
    interval: 1s
    failures_before_down: 1
    http:
      url: {health}
      timeout: 2s
receivers:
  - name: level1
    webhook_configs: [{{url: "{l1}"}}]
  - name: level2
    webhook_configs: [{{url: "{l2}"}}]
route:
  receiver: level1
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  escalation: page
escalation_policies:
  - name: page
    steps:
      - after: {ESCALATE_AFTER_SECS}s
        receivers: ['oncall:primary']
    repeat: 2
oncall:
  - name: primary
    timezone: Europe/Berlin
    rotation: {{every: 1w, handoff: 'mon 09:00'}}
    people:
      - {{name: alice, receivers: [level2]}}
"#,
        health = target.url("/health"),
        l1 = level1.url(),
        l2 = level2.url(),
    )
}

fn firing(v: &Value) -> bool {
    v["status"] == "firing"
}

async fn incidents(p: &Pharos, query: &str) -> Vec<Value> {
    p.get(&format!("/api/v1/incidents{query}")).await["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_ack_link_restart_and_resolution() {
    let dir = tempdir("incidents");
    let target = target().await;
    let level1 = webhook().await;
    let level2 = webhook().await;
    let conf = config(&target, &level1, &level2);
    let mut pharos = Pharos::start(&dir, Some(&conf)).await;

    target.set(Mode::Error500);
    let first = level1.wait_for(20, "level 1 firing", firing).await;
    let told_level1 = Instant::now();
    let ack_url = first["ackURL"]
        .as_str()
        .expect("the level-1 payload carries the signed acknowledgement link")
        .to_string();
    assert!(
        ack_url.starts_with(&format!("{}/ack/", pharos.url)),
        "{ack_url}"
    );

    let open = incidents(&pharos, "?state=open").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    let id = open[0]["id"].as_i64().unwrap();
    assert_eq!(open[0]["title"], "MonitorDown: API health");
    // The incident page names the group in labels people read, not its raw key.
    let page = pharos.page(&format!("/incidents/{id}")).await;
    assert!(page.contains("MonitorDown: API health"), "{page}");
    assert!(page.contains("alertname=MonitorDown"), "{page}");
    assert!(!page.contains(">{}:{"), "no raw group key: {page}");
    // A token is not a person: its holder is asked their name, once for every action.
    assert_eq!(page.matches("name=\"by\"").count(), 1, "{page}");
    for action in ["/ack", "/resolve", "/notes"] {
        assert!(
            page.contains(&format!("/incidents/{id}{action}")),
            "{action}: {page}"
        );
    }
    assert_eq!(open[0]["escalation"], "page");
    assert!(level2.payloads().is_empty(), "level 2 is not told at once");

    // Level 2 is whoever the schedule has on call, told after the escalation delay.
    let escalated = level2.wait_for(15, "level 2 firing", firing).await;
    let waited = told_level1.elapsed();
    assert!(
        waited >= Duration::from_millis(ESCALATE_AFTER_SECS * 1000 - 700),
        "level 2 was told {waited:?} after level 1"
    );
    assert_eq!(escalated["receiver"], "level2");
    assert!(
        escalated["ackURL"]
            .as_str()
            .is_some_and(|u| u.contains("/ack/"))
    );

    // A crash and restart between the steps: nothing already sent goes again.
    pharos.kill9();
    let port = pharos.port;
    let config_path = pharos.config.clone();
    drop(pharos);
    let pharos = Pharos::start_with(&dir, config_path, port).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let since_level1 = told_level1.elapsed();
    assert!(
        since_level1 < Duration::from_secs(2 * ESCALATE_AFTER_SECS),
        "the restart took until {since_level1:?} after level 1: the policy's repeat is due, \
         so this run cannot tell a repeat from a notification sent twice"
    );
    assert_eq!(level1.payloads().iter().filter(|v| firing(v)).count(), 1);
    assert_eq!(level2.payloads().len(), 1);

    // The link's page changes nothing by being fetched (link previews); its button does.
    let anonymous = client();
    let page = anonymous.get(&ack_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Acknowledge incident"), "{html}");
    let detail = pharos.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["state"], "open");
    let tampered = ack_url.replacen(&format!("/ack/{id}."), &format!("/ack/{}.", id + 1), 1);
    let refused = anonymous
        .post(&tampered)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("by=mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let acked = anonymous
        .post(&ack_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("by=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status(), 200);
    let detail = pharos.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["state"], "acknowledged", "{detail:#}");
    assert_eq!(detail["acknowledged_by"], "alice (signed link)");
    assert!(detail["next_escalation"].is_null());

    // The policy's repeats (level 1 at 12s, level 2 at 18s) do not happen.
    let quiet_until = told_level1 + Duration::from_secs(3 * ESCALATE_AFTER_SECS + 2);
    tokio::time::sleep(quiet_until.saturating_duration_since(Instant::now())).await;
    assert_eq!(level1.payloads().iter().filter(|v| firing(v)).count(), 1);
    assert_eq!(level2.payloads().len(), 1);

    // Recovery resolves the incident by itself.
    target.set(Mode::Healthy);
    level1
        .wait_for(20, "level 1 resolved", |v| v["status"] == "resolved")
        .await;
    let detail = pharos
        .wait_until(
            Duration::from_secs(10),
            &format!("incident {id} to be resolved"),
            async || {
                let d = pharos.get(&format!("/api/v1/incidents/{id}")).await;
                if d["state"] == "resolved" {
                    Ok(d)
                } else {
                    Err(format!("{d:#}"))
                }
            },
        )
        .await;
    assert_eq!(detail["state"], "resolved", "{detail:#}");
    assert!(detail["resolved_by"].is_null());
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "opened",
        "alert_firing",
        "escalated",
        "acknowledged",
        "alert_resolved",
        "resolved",
        "notified",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let escalated_text = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalated")
        .map(|e| e["text"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(
        escalated_text.contains("oncall:primary (alice)"),
        "{escalated_text}"
    );

    // History: searchable by label and note, filtered by state.
    let (status, _) = pharos
        .send(
            Method::POST,
            &format!("/api/v1/incidents/{id}/notes"),
            Some(serde_json::json!({"by": "alice", "text": "Target restarted by the on-call engineer"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(incidents(&pharos, "?q=restarted+on-call").await.len(), 1);

    // Who a change is recorded as comes from the credential: a token may say for whom it
    // acts, a signed-in person is always themselves.
    let (status, _) = pharos
        .send(
            Method::POST,
            "/api/v1/users",
            Some(serde_json::json!({"name": "erin", "role": "editor", "password": "a long editor password"})),
        )
        .await;
    assert_eq!(status, 201);
    let cookie = sign_in(&pharos, "erin", "a long editor password").await;
    let page = no_redirects()
        .get(format!("{}/incidents/{id}", pharos.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Add note"), "{page}");
    assert!(
        !page.contains("name=\"by\""),
        "a person is not asked their name: {page}"
    );
    let r = no_redirects()
        .post(format!("{}/api/v1/incidents/{id}/notes", pharos.url))
        .header("cookie", &cookie)
        .header("origin", &pharos.url)
        .json(&serde_json::json!({"by": "mallory", "text": "noted by a person"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let detail = pharos.get(&format!("/api/v1/incidents/{id}")).await;
    let author_of = |text: &str| {
        detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(text)))
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let by_person = author_of("noted by a person");
    assert!(
        by_person.contains("erin") && !by_person.contains("mallory"),
        "{by_person}"
    );
    let by_token = author_of("Target restarted");
    assert!(by_token.contains("alice (via admin)"), "{by_token}");
    assert_eq!(
        incidents(&pharos, "?q=MonitorDown&state=resolved")
            .await
            .len(),
        1
    );
    assert_eq!(incidents(&pharos, "?q=nothing-like-this").await.len(), 0);
    assert_eq!(incidents(&pharos, "?state=open").await.len(), 0);

    // The post-mortem draft and the pages.
    let r = client()
        .get(format!("{}/api/v1/incidents/{id}/postmortem", pharos.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let draft = r.text().await.unwrap();
    assert!(draft.contains("Acknowledged by alice"), "{draft}");
    assert!(draft.contains("## Open questions"), "{draft}");
    for path in [
        format!("/incidents/{id}"),
        "/incidents".into(),
        "/oncall".into(),
    ] {
        let r = client()
            .get(format!("{}{path}", pharos.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("MonitorDown") || html.contains("alice"),
            "{path}: {html}"
        );
    }
    let oncall = pharos.get("/api/v1/oncall/primary").await;
    assert_eq!(oncall["current"]["person"], "alice");
}

#[tokio::test]
async fn escalation_config_errors_name_file_line_and_field() {
    let dir = tempdir("incidents-config");
    let path = dir.join("pharos.yaml");
    std::fs::write(
        &path,
        r#"receivers:
  - name: level1
route:
  receiver: level1
  escalation: missing
escalation_policies:
  - name: page
    steps:
      - after: 5m
        receivers: ['oncall:nobody']
"#,
    )
    .unwrap();
    let out = common::check_config(&path);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("pharos.yaml:10:")
            && text.contains("escalation_policies[0].steps[0].receivers[0]"),
        "{text}"
    );
}
