//! Status pages end to end with the real binary: two pages from the config, one reached by
//! path and by its own host name; only listed components show; an incident posted through
//! the API with its updates appears on the page and in the Atom feed; a maintenance shows
//! its component under maintenance; badges exist only for listed components; what a
//! caller sends is bounded and checked.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn config(target: &Target, closed_port: u16) -> String {
    format!(
        r#"
monitors:
  - id: api
    name: api-internal-name
    interval: 1s
    http:
      url: {health}
  - id: checkout
    name: Checkout
    interval: 1s
    tcp:
      address: 127.0.0.1:{closed_port}
  - id: billing-db
    name: Billing database
    interval: 1s
    http:
      url: {health}
web:
  status_pages:
    - slug: public
      title: Acme status
      description: Everything our customers use.
      hosts: [status.acme.test]
      components:
        - monitor: api
          name: Public API
          description: REST and webhooks
      groups:
        - name: Shop
          components:
            - monitor: checkout
    - slug: eu
      title: Acme EU
      components:
        - monitor: api
          name: EU API
"#,
        health = target.url("/health"),
    )
}

/// Posts an incident or maintenance on the `public` page with the admin token.
async fn post_incident(p: &Pharos, post: serde_json::Value) -> (StatusCode, serde_json::Value) {
    p.send(
        Method::POST,
        "/api/v1/status-pages/public/incidents",
        Some(post),
    )
    .await
}

/// A public page as a visitor without credentials sees it.
async fn visit(p: &Pharos, path: &str, host: Option<&str>) -> (StatusCode, String, String) {
    let mut req = client().get(format!("{}{path}", p.url));
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let r = req.send().await.unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, r.text().await.unwrap())
}

/// Polls a public page until it contains every one of `wanted` (views are reused for a
/// few seconds, and monitors need a check or two to settle).
async fn wait_page(p: &Pharos, path: &str, wanted: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        let (status, _, body) = visit(p, path, None).await;
        if status == StatusCode::OK && wanted.iter().all(|w| body.contains(w)) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} never showed {wanted:?}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_pages_by_path_and_host_with_incidents_maintenance_feed_and_badges() {
    let dir = tempdir("status-pages");
    let target = target().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, free_port()))).await;
    pharos
        .wait_monitor("checkout", 15, |m| state(m) == "down")
        .await;
    pharos.wait_monitor("api", 15, |m| state(m) == "up").await;

    // --- the first page at /status and at /status/public; the second at /status/eu
    let page = wait_page(
        &pharos,
        "/status",
        &["Acme status", "Public API", "Checkout", "Partial outage"],
    )
    .await;
    assert!(page.contains("REST and webhooks"), "{page}");
    assert!(page.contains(">Shop<"), "the group heading: {page}");
    for hidden in [
        "Billing database",
        "billing-db",
        "api-internal-name",
        "127.0.0.1",
    ] {
        assert!(!page.contains(hidden), "{hidden} shown: {page}");
    }
    // 90 bars per component, today's with its uptime in the tooltip.
    assert_eq!(page.matches("class=\"bar ").count(), 180, "{page}");
    assert!(page.contains("% uptime, "), "{page}");
    let (status, _, by_slug) = visit(&pharos, "/status/public", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_slug.contains("Acme status"));
    let eu = wait_page(&pharos, "/status/eu", &["Acme EU", "EU API"]).await;
    assert!(!eu.contains("Checkout"), "{eu}");
    let (status, _, _) = visit(&pharos, "/status/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // --- by host name: `/` on the page's host is the page, not the (private) overview
    let (status, _, by_host) = visit(&pharos, "/", Some("status.acme.test")).await;
    assert_eq!(status, StatusCode::OK, "{by_host}");
    assert!(by_host.contains("Acme status") && by_host.contains("Public API"));
    let (status, _, _) = visit(&pharos, "/", Some("Status.Acme.Test:8080")).await;
    assert_eq!(status, StatusCode::OK);
    let other = no_redirects()
        .get(format!("{}/", pharos.url))
        .header("host", "other.acme.test")
        .send()
        .await
        .unwrap();
    assert!(
        other.status().is_redirection(),
        "another host gets the sign-in: {}",
        other.status()
    );

    // --- an incident through the API: refused without a credential, checked, then shown
    let incident = json!({
        "title": "Elevated API errors",
        "status": "investigating",
        "message": "We are looking into failed API requests.",
        "components": [{"component": "api", "impact": "major_outage"}],
    });
    let anonymous = client()
        .post(format!(
            "{}/api/v1/status-pages/public/incidents",
            pharos.url
        ))
        .json(&incident)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let (status, body) = post_incident(
        &pharos,
        json!({"title": "x", "message": "y", "components": [{"component": "billing-db"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "components[0].component", "{body}");
    let (status, body) =
        post_incident(&pharos, json!({"title": "t".repeat(201), "message": "y"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "title", "{body}");
    let (status, body) =
        post_incident(&pharos, json!({"title": "x", "message": "m".repeat(5001)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, created) = post_incident(&pharos, incident).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let updates = format!("/api/v1/status-pages/public/incidents/{id}/updates");
    let (status, body) = pharos
        .send(
            Method::POST,
            &updates,
            Some(json!({"status": "identified", "message": "A bad deploy; rolling back."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = pharos
        .send(
            Method::POST,
            &updates,
            Some(json!({"status": "completed", "message": "not an incident status"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The API monitor is up, but the incident says major outage.
    let page = wait_page(
        &pharos,
        "/status/public",
        &[
            "Elevated API errors",
            "We are looking into failed API requests.",
            "A bad deploy; rolling back.",
            "Major outage",
        ],
    )
    .await;
    assert!(page.contains("data-testid=\"active\""), "{page}");
    let api_row = page
        .split("data-component=\"api\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        api_row
            .split("</div>")
            .next()
            .unwrap_or_default()
            .contains("Outage")
            || api_row.contains("state-major_outage"),
        "{api_row}"
    );
    // Not on the other page.
    let eu = wait_page(&pharos, "/status/eu", &["EU API"]).await;
    assert!(!eu.contains("Elevated API errors"));

    // Resolved: it moves to the history.
    let (status, _) = pharos
        .send(
            Method::POST,
            &updates,
            Some(json!({"status": "resolved", "message": "Rolled back; all requests succeed."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, post) = pharos
        .send(
            Method::GET,
            &format!("/api/v1/status-pages/public/incidents/{id}"),
            None,
        )
        .await;
    assert_eq!(post["updates"].as_array().unwrap().len(), 3, "{post}");
    assert!(post["resolved_at"].is_string(), "{post}");
    let page = wait_page(
        &pharos,
        "/status/public",
        &["Rolled back; all requests succeed."],
    )
    .await;
    let history = page.split("data-testid=\"history\"").nth(1).unwrap();
    assert!(history.contains("Elevated API errors"), "{page}");
    assert!(!page.contains("data-testid=\"active\""), "{page}");

    // --- the Atom feed, by path and by host
    let (status, content_type, feed) = visit(&pharos, "/status/public/feed.atom", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/atom+xml; charset=utf-8");
    assert!(feed.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    assert!(feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    assert!(
        feed.contains(&format!("<id>{}/status/public</id>", pharos.url)),
        "{feed}"
    );
    assert!(feed.contains("<updated>"));
    assert!(feed.contains(&format!(
        "<id>{}/status/public#incident-{id}</id>",
        pharos.url
    )));
    assert!(
        feed.contains("<title>Elevated API errors [Resolved]</title>"),
        "{feed}"
    );
    assert!(feed.contains("A bad deploy; rolling back."), "{feed}");
    assert!(
        feed.contains("Public API"),
        "components by their public name: {feed}"
    );
    assert_eq!(feed.matches("<entry>").count(), 1);
    let (_, _, by_host) = visit(&pharos, "/feed.atom", Some("status.acme.test")).await;
    assert_eq!(by_host.matches("<entry>").count(), 1);

    // --- maintenance: under way now on the failing checkout, one more to come
    let now = chrono::Utc::now();
    let (status, body) = post_incident(
        &pharos,
        json!({
            "kind": "maintenance",
            "title": "Payment provider migration",
            "message": "Checkout is paused while we move providers.",
            "components": [{"component": "checkout"}],
            "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_incident(
        &pharos,
        json!({
            "kind": "maintenance",
            "title": "Database upgrade",
            "message": "A short read-only window.",
            "starts_at": (now + chrono::Duration::days(2)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::days(2) + chrono::Duration::hours(1)).to_rfc3339(),
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_incident(
        &pharos,
        json!({"kind": "maintenance", "title": "x", "message": "y"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a maintenance needs its window: {body}"
    );
    let page = wait_page(
        &pharos,
        "/status/public",
        &[
            "Payment provider migration",
            "Under maintenance",
            "Database upgrade",
        ],
    )
    .await;
    // The checkout's monitor is down, yet the page says maintenance, not outage.
    assert!(page.contains("Maintenance in progress"), "{page}");
    assert!(!page.contains("Partial outage"), "{page}");
    let upcoming = page.split("data-testid=\"upcoming\"").nth(1).unwrap();
    assert!(upcoming.contains("Database upgrade"), "{page}");
    // The maintenance mutes the checkout's alerts as an alert maintenance window does, and
    // still does after a reload (windows are read again from the store).
    assert_eq!(pharos.monitor("checkout").await["in_maintenance"], true);
    assert_eq!(pharos.monitor("api").await["in_maintenance"], false);
    let (status, body) = pharos.send(Method::POST, "/-/reload", None).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(pharos.monitor("checkout").await["in_maintenance"], true);

    // --- badges: listed components only, SVG with a short cache
    let badge = client()
        .get(format!(
            "{}/status/public/badge/checkout/status.svg",
            pharos.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(badge.status().as_u16(), 200);
    assert_eq!(
        badge.headers()["content-type"].to_str().unwrap(),
        "image/svg+xml; charset=utf-8"
    );
    assert_eq!(
        badge.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=60"
    );
    let svg = badge.text().await.unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(
        svg.contains("Under maintenance") && svg.contains("Checkout"),
        "{svg}"
    );
    let (status, _, svg) = visit(
        &pharos,
        "/status/public/badge/api/uptime.svg?period=7d",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(svg.contains("uptime 7d") && svg.contains('%'), "{svg}");
    let (status, _, _) = visit(&pharos, "/badge/api/status.svg", Some("status.acme.test")).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/status/public/badge/billing-db/status.svg",
        "/status/eu/badge/checkout/uptime.svg",
    ] {
        let (status, _, _) = visit(&pharos, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _, _) = visit(
        &pharos,
        "/status/public/badge/api/uptime.svg?period=1y",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // --- delete: gone from the page and the API
    let (status, _) = pharos
        .send(
            Method::DELETE,
            &format!("/api/v1/status-pages/public/incidents/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = pharos
        .send(
            Method::GET,
            &format!("/api/v1/status-pages/public/incidents/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = pharos
        .send(Method::GET, "/api/v1/status-pages/public/incidents", None)
        .await;
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2, "{list}");
}

/// With no components a page claims nothing: not "All systems operational".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_components_says_it_is_not_set_up() {
    let dir = tempdir("status-pages-empty");
    let pharos = Pharos::start(&dir, Some("web:\n  status_pages:\n    - slug: empty\n")).await;
    let (status, _, page) = visit(&pharos, "/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("This status page is not set up yet"),
        "{page}"
    );
    assert!(!page.contains("All systems operational"), "{page}");
    let (status, _, feed) = visit(&pharos, "/status/empty/feed.atom", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        feed.contains("<feed") && !feed.contains("<entry>"),
        "{feed}"
    );
}

/// A `status:write` token posts on status pages and nothing else; a `read` token cannot
/// post; a token posting for a person records who.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_write_token_posts_and_does_nothing_else() {
    let dir = tempdir("status-pages-scope");
    let pharos = Pharos::start(
        &dir,
        Some(
            "monitors:\n  - id: api\n    name: API\n    heartbeat: {period: 1d}\nweb:\n  status_pages:\n    - slug: main\n      components: [{monitor: api}]\n",
        ),
    )
    .await;
    let token = |scope: &'static str| {
        let p = &pharos;
        async move {
            let (status, t) = p
                .send(
                    Method::POST,
                    "/api/v1/tokens",
                    Some(json!({"name": format!("{scope} bot"), "scopes": [scope]})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{t}");
            t["secret"].as_str().unwrap().to_string()
        }
    };
    let poster = token("status:write").await;
    let reader = token("read").await;
    let post = |secret: String| {
        let url = format!("{}/api/v1/status-pages/main/incidents", pharos.url);
        async move {
            client()
                .post(url)
                .bearer_auth(secret)
                .json(
                    &json!({"title": "Login errors", "message": "Investigating.", "by": "ana",
                              "components": [{"component": "api", "impact": "partial_outage"}]}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(post(reader.clone()).await.status().as_u16(), 403);
    let r = post(poster.clone()).await;
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        created["updates"][0]["author"],
        "ana (via token status:write bot)"
    );
    // The poster reads nothing else.
    let monitors = client()
        .get(format!("{}/api/v1/monitors", pharos.url))
        .bearer_auth(&poster)
        .send()
        .await
        .unwrap();
    assert_eq!(monitors.status().as_u16(), 403);
    let page = wait_page(&pharos, "/status/main", &["Login errors", "Partial outage"]).await;
    assert!(page.contains("Investigating."), "{page}");
}

/// An alert maintenance window (`/api/v1/maintenance`) shows its monitors under
/// maintenance on the status pages: customers see what the team muted alerts for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_maintenance_window_shows_on_the_status_page() {
    let dir = tempdir("status-pages-muted");
    let target = target().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, free_port()))).await;
    pharos
        .wait_monitor("checkout", 15, |m| state(m) == "down")
        .await;
    wait_page(&pharos, "/status/public", &["Partial outage"]).await;
    let now = chrono::Utc::now();
    let (status, body) = pharos
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(json!({
                "name": "provider switch",
                "monitors": ["checkout"],
                "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let page = wait_page(
        &pharos,
        "/status/public",
        &["Under maintenance", "Maintenance in progress"],
    )
    .await;
    assert!(!page.contains("Partial outage"), "{page}");
}

/// Behind a reverse proxy that sends its own `Host` (nginx's default), a trusted proxy's
/// `X-Forwarded-Host` picks the page; anyone else's is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_status_host_in_x_forwarded_host() {
    let forwarded = |p: &Pharos| {
        no_redirects()
            .get(format!("{}/", p.url))
            .header("x-forwarded-host", "status.acme.test")
            .send()
    };
    let target = target().await;
    let closed = free_port();

    let dir = tempdir("status-pages-untrusted-proxy");
    let pharos = Pharos::start(&dir, Some(&config(&target, closed))).await;
    let r = forwarded(&pharos).await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    drop(pharos);

    let dir = tempdir("status-pages-trusted-proxy");
    let behind_proxy =
        config(&target, closed).replace("\nweb:\n", "\nweb:\n  trusted_proxies: [127.0.0.0/8]\n");
    let pharos = Pharos::start(&dir, Some(&behind_proxy)).await;
    let r = forwarded(&pharos).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Acme status"), "{page}");
}

/// The team page's update form changes which components an incident affects, and how.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_form_changes_the_affected_components() {
    let dir = tempdir("status-pages-affected");
    let target = target().await;
    let pharos = Pharos::start(&dir, Some(&config(&target, free_port()))).await;
    let (status, created) = post_incident(
        &pharos,
        json!({
            "title": "Slow API", "message": "Looking.",
            "components": [{"component": "api", "impact": "partial_outage"}],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let html = pharos.page("/status-pages").await;
    assert!(html.contains("name=\"impact-checkout\""), "{html}");

    let r = no_redirects()
        .post(format!(
            "{}/status-pages/public/incidents/{id}/updates",
            pharos.url
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("status", "identified"),
            ("message", "The checkout is down too."),
            ("components_shown", "1"),
            ("impact-api", ""),
            ("impact-checkout", "major_outage"),
        ]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let (_, post) = pharos
        .send(
            Method::GET,
            &format!("/api/v1/status-pages/public/incidents/{id}"),
            None,
        )
        .await;
    assert_eq!(
        post["components"],
        json!([{"component": "checkout", "impact": "major_outage"}]),
        "{post}"
    );
    assert_eq!(post["updates"].as_array().unwrap().len(), 2, "{post}");
}
