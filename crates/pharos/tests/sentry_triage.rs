//! End to end for user feedback and triage: feedback items and user reports (envelope and
//! the older endpoint) stored, linked to their issue and listed; assigning, commenting and
//! merging issues as signed-in users, with the roles they need; `assigned:me`; the issue
//! page showing all of it; error alerts labelled with the event's environment, level and
//! release, routed by them. The real Python SDK sends feedback in `tests/sentry/`.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "triagepublickey0123456";

fn config() -> String {
    format!(
        r#"
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
    alerts:
      new_issue: false
  - id: 44
    name: other
    keys: ["otherpublickey01234567"]
"#
    )
}

fn browser() -> reqwest::Client {
    no_redirects()
}

async fn add_user(p: &Pharos, name: &str, role: &str) -> String {
    let password = format!("a long password for {name}");
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": name, "role": role, "password": password})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    sign_in(p, name, &password).await
}

/// A JSON request as a signed-in user (the cookie, from the server's own origin).
async fn as_user(
    p: &Pharos,
    cookie: &str,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = browser()
        .request(m, format!("{}{path}", p.url))
        .header("cookie", cookie)
        .header("origin", &p.url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn envelope(p: &Pharos, body: String) -> StatusCode {
    client()
        .post(format!("{}/api/42/envelope/", p.url))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={KEY}, sentry_version=7"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn error_event(id: &str, function: &str) -> String {
    let event = json!({
        "event_id": id, "level": "error", "platform": "python", "environment": "production",
        "exception": {"values": [{"type": "KeyError", "value": "'cart'",
            "stacktrace": {"frames": [{"module": "shop", "function": function, "in_app": true, "lineno": 3}]}}]}
    });
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n")
}

/// What `@sentry/browser`'s feedback widget sends.
fn feedback_envelope(id: &str, about: &str, message: &str) -> String {
    let feedback = json!({
        "event_id": id, "type": "feedback", "level": "info", "platform": "javascript",
        "timestamp": 1765000000.5, "environment": "production",
        "contexts": {"feedback": {"message": message, "contact_email": "ana.customer@example.com",
            "name": "Ana Customer", "url": "https://shop.example.com/cart", "source": "widget",
            "associated_event_id": about}}
    });
    // The widget's screenshot comes in the same envelope, as an attachment of the feedback.
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"feedback\"}}\n{feedback}\n{{\"type\":\"attachment\",\"length\":4,\"filename\":\"screenshot.png\",\"content_type\":\"image/png\"}}\nPNG!\n"
    )
}

async fn user_report(p: &Pharos, project: &str, auth: &str, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(format!(
            "{}/api/0/projects/acme/{project}/user-feedback/",
            p.url
        ))
        .header("Authorization", auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn feedback_lands_on_its_issue_and_issues_are_assigned_commented_and_merged() {
    let dir = tempdir("sentry-triage");
    let p = Pharos::start(&dir, Some(&config())).await;
    let (checkout, refund) = ("a".repeat(32), "b".repeat(32));
    assert_eq!(
        envelope(&p, error_event(&checkout, "checkout")).await,
        StatusCode::OK
    );
    assert_eq!(
        envelope(&p, error_event(&refund, "refund")).await,
        StatusCode::OK
    );
    let issue_of = async |event: &str| -> i64 {
        p.get(&format!("/api/v1/events/{event}")).await["issue_id"]
            .as_i64()
            .unwrap()
    };
    let (checkout_issue, refund_issue) = (issue_of(&checkout).await, issue_of(&refund).await);
    assert_ne!(checkout_issue, refund_issue);

    // Feedback: the widget's item, and a user report through the older endpoint.
    let fb = "c".repeat(32);
    assert_eq!(
        envelope(
            &p,
            feedback_envelope(&fb, &checkout, "The cart emptied itself")
        )
        .await,
        StatusCode::OK
    );
    let dsn = format!("DSN http://{KEY}@127.0.0.1:{}/42", p.port);
    let (code, answer) = user_report(
        &p,
        "shop",
        &dsn,
        json!({"event_id": refund, "name": "Bo", "email": "bo.customer@example.com", "comments": "Refund failed twice"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    assert_eq!(answer["eventID"], refund.as_str());
    // A report without its event, for another project's slug, or without a key is refused.
    let (code, answer) = user_report(&p, "shop", &dsn, json!({"comments": "x"})).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("event_id"),
        "{answer}"
    );
    let (code, _) = user_report(
        &p,
        "other",
        &dsn,
        json!({"event_id": refund, "comments": "x"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = user_report(
        &p,
        "shop",
        "Bearer nothing",
        json!({"event_id": refund, "comments": "x"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let on_checkout = p
        .get(&format!("/api/v1/issues/{checkout_issue}/feedback"))
        .await;
    assert_eq!(
        on_checkout["feedback"][0]["message"],
        "The cart emptied itself"
    );
    assert_eq!(
        on_checkout["feedback"][0]["email"],
        "ana.customer@example.com"
    );
    assert_eq!(
        on_checkout["feedback"][0]["attachments"][0]["filename"],
        "screenshot.png"
    );
    assert_eq!(
        on_checkout["feedback"][0]["url"],
        "https://shop.example.com/cart"
    );
    let listed = p.get("/api/v1/projects/42/feedback").await;
    assert_eq!(listed["total"], 2, "{listed}");
    assert_eq!(listed["feedback"][0]["source"], "user_report");
    assert_eq!(listed["feedback"][0]["issue_id"], refund_issue);

    // Triage, as people: an editor acts, a viewer may not.
    let ana = add_user(&p, "ana", "editor").await;
    let vera = add_user(&p, "vera", "viewer").await;
    let (code, body) = as_user(
        &p,
        &ana,
        Method::PUT,
        &format!("/api/v1/issues/{checkout_issue}/assignee"),
        Some(json!({"assignee": "ana"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = as_user(
        &p,
        &vera,
        Method::PUT,
        &format!("/api/v1/issues/{checkout_issue}/assignee"),
        Some(json!({"assignee": "vera"})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, body) = as_user(
        &p,
        &ana,
        Method::PUT,
        &format!("/api/v1/issues/{checkout_issue}/assignee"),
        Some(json!({"assignee": "nobody-here"})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    // The author is the signed-in user; a body naming another is refused, not believed.
    let (code, _) = as_user(
        &p,
        &ana,
        Method::POST,
        &format!("/api/v1/issues/{checkout_issue}/comments"),
        Some(json!({"text": "hi", "author": "mallory"})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, body) = as_user(
        &p,
        &ana,
        Method::POST,
        &format!("/api/v1/issues/{checkout_issue}/comments"),
        Some(json!({"text": "Looking at the cart session code"})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(body["actor"], "ana");
    let (code, _) = as_user(
        &p,
        &ana,
        Method::POST,
        &format!("/api/v1/issues/{checkout_issue}/comments"),
        Some(json!({"text": "x".repeat(10_001)})),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (_, mine) = as_user(
        &p,
        &ana,
        Method::GET,
        "/api/v1/issues?query=assigned:me",
        None,
    )
    .await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["issues"][0]["assignee"]["name"], "ana");
    let (_, theirs) = as_user(
        &p,
        &vera,
        Method::GET,
        "/api/v1/issues?query=assigned:me",
        None,
    )
    .await;
    assert_eq!(theirs["total"], 0, "{theirs}");

    // Merge refund into checkout: events, counts and feedback move; new refund events follow.
    let (code, merged) = as_user(
        &p,
        &ana,
        Method::POST,
        &format!("/api/v1/issues/{checkout_issue}/merge"),
        Some(json!({"merge": refund_issue})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{merged}");
    assert_eq!(merged["count"], 2);
    let (code, body) = p
        .send(Method::GET, &format!("/api/v1/issues/{refund_issue}"), None)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        body.to_string()
            .contains(&format!("merged into issue {checkout_issue}")),
        "{body}"
    );
    // An old link (an alert's) opens the issue it was merged into.
    let old_link = browser()
        .get(format!("{}/issues/{refund_issue}", p.url))
        .header("cookie", &ana)
        .send()
        .await
        .unwrap();
    assert_eq!(old_link.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        old_link.headers()["location"],
        format!("/issues/{checkout_issue}").as_str()
    );
    let again = "d".repeat(32);
    assert_eq!(
        envelope(&p, error_event(&again, "refund")).await,
        StatusCode::OK
    );
    assert_eq!(issue_of(&again).await, checkout_issue);
    assert_eq!(
        p.get(&format!("/api/v1/issues/{checkout_issue}")).await["count"],
        3
    );
    let fb = p
        .get(&format!("/api/v1/issues/{checkout_issue}/feedback"))
        .await;
    assert_eq!(fb["feedback"].as_array().unwrap().len(), 2, "{fb}");
    let activity = p
        .get(&format!("/api/v1/issues/{checkout_issue}/activity"))
        .await;
    let kinds: Vec<&str> = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["assigned", "comment", "merged"], "{activity}");

    // The pages: the issue shows its feedback, assignee and timeline; the project lists feedback.
    let page = browser()
        .get(format!("{}/issues/{checkout_issue}", p.url))
        .header("cookie", &ana)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for wanted in [
        "The cart emptied itself",
        "Refund failed twice",
        "Looking at the cart session code",
        "id=\"issue-assignee\"",
        "assigned it to",
        "merged issue",
    ] {
        assert!(page.contains(wanted), "issue page lacks {wanted:?}");
    }
    // A viewer reads the same page without the forms it could not use.
    let viewed = browser()
        .get(format!("{}/issues/{checkout_issue}", p.url))
        .header("cookie", &vera)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(viewed.contains("Looking at the cart session code"));
    assert!(
        !viewed.contains("/comment\"")
            && !viewed.contains("/assign\"")
            && !viewed.contains("/merge\"")
            && !viewed.contains(&format!("/issues/{checkout_issue}/status\"")),
        "a viewer is offered a form: {viewed}"
    );
    let form = browser()
        .post(format!("{}/issues/{checkout_issue}/comment", p.url))
        .header("cookie", &ana)
        .header("origin", &p.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("text=from+the+page")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    let list = browser()
        .get(format!("{}/projects/42/feedback", p.url))
        .header("cookie", &vera)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("bo.customer@example.com") && list.contains("The cart emptied itself"));

    let metrics = client()
        .get(format!("{}/metrics", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pharos_sentry_items_total{outcome="accepted",type="feedback"} 2"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("items_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Contact details are personal data: never in the log.
    let log = p.log_text();
    assert!(!log.contains("ana.customer@example.com") && !log.contains("bo.customer@example.com"));
}

fn event_in(id: &str, function: &str, environment: &str) -> String {
    let event = json!({
        "event_id": id, "level": "error", "environment": environment, "release": "shop@2.0",
        "exception": {"values": [{"type": "ValueError", "value": "bad",
            "stacktrace": {"frames": [{"module": "shop", "function": function, "in_app": true}]}}]}
    });
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n")
}

#[tokio::test]
async fn error_alerts_carry_the_events_environment_and_a_route_sends_staging_elsewhere() {
    let (ops, staging) = (webhook().await, webhook().await);
    let config = format!(
        r#"
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
    alerts:
      new_issue: true
      issue_events_per_minute: 2
receivers:
  - name: ops
    webhook_configs:
      - url: {ops}
  - name: staging
    webhook_configs:
      - url: {staging}
route:
  receiver: ops
  group_by: [alertname, issue_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['environment="staging"']
      receiver: staging
"#,
        ops = ops.url(),
        staging = staging.url()
    );
    let dir = tempdir("sentry-alert-labels");
    let p = Pharos::start(&dir, Some(&config)).await;
    assert_eq!(
        envelope(&p, event_in(&"1".repeat(32), "in_staging", "staging")).await,
        StatusCode::OK
    );
    assert_eq!(
        envelope(&p, event_in(&"2".repeat(32), "in_production", "production")).await,
        StatusCode::OK
    );

    let alert_in = |v: &Value, name: &str| -> Option<Value> {
        v["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .cloned()
    };
    let to_staging = staging
        .wait_for(15, "NewIssue to the staging receiver", |v| {
            alert_in(v, "NewIssue").is_some()
        })
        .await;
    let labels = &alert_in(&to_staging, "NewIssue").unwrap()["labels"];
    assert_eq!(labels["environment"], "staging", "{labels}");
    assert_eq!(labels["level"], "error");
    assert_eq!(labels["release"], "shop@2.0");
    let to_ops = ops
        .wait_for(15, "NewIssue to ops", |v| alert_in(v, "NewIssue").is_some())
        .await;
    assert_eq!(
        alert_in(&to_ops, "NewIssue").unwrap()["labels"]["environment"],
        "production"
    );
    assert!(
        staging.payloads().iter().all(|v| v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["labels"]["environment"] == "staging")),
        "only staging alerts reach the staging receiver"
    );

    // A rate alert takes the labels of the newest event of its issue.
    for n in 3..7 {
        let id = format!("{n:032}");
        assert_eq!(
            envelope(&p, event_in(&id, "in_staging", "staging")).await,
            StatusCode::OK
        );
    }
    let rate = staging
        .wait_for(20, "IssueRateHigh to the staging receiver", |v| {
            alert_in(v, "IssueRateHigh").is_some()
        })
        .await;
    let labels = &alert_in(&rate, "IssueRateHigh").unwrap()["labels"];
    assert_eq!(labels["environment"], "staging", "{labels}");
    assert_eq!(labels["release"], "shop@2.0");
}
