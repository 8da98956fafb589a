//! End to end for inbound filters: events of a filtered environment, release or message
//! are answered 200 and not stored, counted as `filtered` in the item outcomes and the
//! project's client outcomes; a config project's filters come from `pharos.yaml`, an API
//! project's are changed through the API, and a bad pattern is refused naming its field.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "filterspublickey012345";

fn config() -> String {
    format!(
        r#"
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
    filters:
      environments: [development]
      releases: ["*-dev"]
      error_messages: ["*ConnectionResetError*", "re:^Timeout after \\d+s$"]
"#
    )
}

async fn send(p: &Pharos, project: i64, key: &str, id: &str, event: Value) -> StatusCode {
    let body = format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n");
    client()
        .post(format!("{}/api/{project}/envelope/", p.url))
        .header(
            "X-Sentry-Auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn stored(p: &Pharos, id: &str) -> bool {
    let (code, _) = p
        .send(Method::GET, &format!("/api/v1/events/{id}"), None)
        .await;
    code == StatusCode::OK
}

#[tokio::test]
async fn filtered_events_are_counted_not_stored() {
    let dir = tempdir("sentry-filters");
    let p = Pharos::start(&dir, Some(&config())).await;
    let cases = [
        (
            "1",
            json!({"message": "in dev", "environment": "development"}),
            false,
        ),
        (
            "2",
            json!({"message": "a dev build", "release": "shop@2.0-dev"}),
            false,
        ),
        (
            "3",
            json!({"exception": {"values": [{"type": "OSError", "value": "ConnectionResetError(104)"}]}}),
            false,
        ),
        ("4", json!({"message": "Timeout after 30s"}), false),
        (
            "5",
            json!({"message": "Timeout after 30 s", "environment": "production", "release": "shop@2.0"}),
            true,
        ),
    ];
    for (n, event, kept) in &cases {
        let id = n.repeat(32);
        assert_eq!(
            send(&p, 42, KEY, &id, event.clone()).await,
            StatusCode::OK,
            "event {n}"
        );
        assert_eq!(stored(&p, &id).await, *kept, "event {n}: {event}");
    }
    let reports = p
        .wait_until(
            std::time::Duration::from_secs(10),
            "filtered counts",
            async || {
                let v = p.get("/api/v1/projects/42/client-reports").await;
                let total: u64 = v["discarded"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        r["reason"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("filtered:"))
                    })
                    .map(|r| r["quantity"].as_u64().unwrap_or(0))
                    .sum();
                if total == 4 {
                    Ok(v)
                } else {
                    Err(format!("{total} filtered so far: {v}"))
                }
            },
        )
        .await;
    let text = reports.to_string();
    for reason in [
        "filtered:environment",
        "filtered:release",
        "filtered:error_message",
    ] {
        assert!(text.contains(reason), "{reason} in {text}");
    }
    let metrics = client()
        .get(format!("{}/metrics", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pharos_sentry_items_total{outcome="filtered",type="event"} 4"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("items_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // An API project's filters change through the API; a bad pattern names its field.
    let (code, created) = p
        .send(
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "api-made"})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let key = created["keys"][0]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = p
        .send(
            Method::PATCH,
            &format!("/api/v1/projects/{id}"),
            Some(json!({"filters": {"error_messages": ["re:(unclosed"]}})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("error_messages[0]"), "{body}");
    let (code, body) = p
        .send(
            Method::PATCH,
            &format!("/api/v1/projects/{id}"),
            Some(json!({"filters": {"environments": ["staging"]}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["filters"]["environments"], json!(["staging"]));
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    assert_eq!(
        send(
            &p,
            id,
            &key,
            &a,
            json!({"message": "x", "environment": "staging"})
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        send(
            &p,
            id,
            &key,
            &b,
            json!({"message": "x", "environment": "production"})
        )
        .await,
        StatusCode::OK
    );
    assert!(!stored(&p, &a).await && stored(&p, &b).await);
    // The config project's filters are the file's.
    let (code, _) = p
        .send(
            Method::PATCH,
            "/api/v1/projects/42",
            Some(json!({"filters": {}})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let page = client()
        .get(format!("{}/projects/{id}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Change the inbound filters") && page.contains("staging"));
}
