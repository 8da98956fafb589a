//! The monitor page on the real binary: a monitor goes down and comes back, and its page
//! shows that outage (start, end, duration) in the outage table and shaded on the 24 h
//! response-time chart, offers the range picker, and pages back through its history.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;

async fn page(p: &Pharos, path: &str) -> String {
    let r = client()
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "GET {path}: {}", r.status());
    r.text().await.unwrap()
}

/// Sends the edit form of monitor `id` with `pairs`, as the browser does.
async fn post_edit(p: &Pharos, id: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/monitors/{id}/edit", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap()
}

/// The value of `attr="…"` in the first tag of `html` that has it.
fn attr<'a>(html: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!("{attr}=\"");
    let start = html.find(&key)? + key.len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len])
}

/// The text of the first `<td class="{class}">` in `html`.
fn cell<'a>(html: &'a str, class: &str) -> &'a str {
    let key = format!("<td class=\"{class}\">");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in {html}"))
        + key.len();
    let len = html[start..].find("</td>").unwrap();
    &html[start..start + len]
}

fn at(v: &Value) -> DateTime<Utc> {
    v["at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_shows_with_its_start_end_and_duration() {
    let dir = tempdir("monitor_page");
    let target = target().await;
    let config = format!(
        "monitors:\n  - id: shop\n    name: Shop\n    interval: 1s\n    http:\n      url: {}\n",
        target.url("/health")
    );
    let p = Pharos::start(&dir, Some(&config)).await;
    p.wait_monitor("shop", 30, |m| state(m) == "up").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    target.set(Mode::Error500);
    p.wait_monitor("shop", 30, |m| state(m) == "down").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    target.set(Mode::Healthy);
    p.wait_monitor("shop", 30, |m| state(m) == "up").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // What the checks say: the first failed check, and the first that passed after it.
    let results = p.get("/api/v1/monitors/shop/results?limit=500").await;
    let mut rows = results["results"].as_array().unwrap().clone();
    rows.reverse();
    let first_down = rows.iter().position(|r| r["outcome"] == "down").unwrap();
    let back_up = first_down
        + rows[first_down..]
            .iter()
            .position(|r| r["outcome"] != "down")
            .unwrap();
    let (start, end) = (at(&rows[first_down]), at(&rows[back_up]));

    let html = page(&p, "/monitors/shop").await;
    let outages: Vec<&str> = html.split("data-testid=\"outage\"").skip(1).collect();
    assert_eq!(outages.len(), 1, "one outage on the page: {html}");
    let row = outages[0];
    assert_eq!(
        cell(row, "start"),
        start.format("%Y-%m-%d %H:%M:%S").to_string()
    );
    assert_eq!(
        cell(row, "end"),
        end.format("%Y-%m-%d %H:%M:%S").to_string()
    );
    let secs = (end - start).num_seconds();
    assert!((2..60).contains(&secs), "outage of {secs} s");
    assert_eq!(cell(row, "num duration"), format!("{secs} s"));
    let failed = back_up - first_down;
    assert!(
        row.contains(&format!("<td class=\"num\">{failed}</td>")),
        "{row}"
    );

    // The 24 h chart: a time axis, the response-time line, the outage shaded with its
    // times in the tooltip.
    let chart_start = html
        .find("<svg class=\"timeseries\"")
        .expect("a time-axis chart");
    let chart = &html[chart_start..chart_start + html[chart_start..].find("</svg>").unwrap()];
    assert_eq!(
        attr(chart, "aria-label"),
        Some("Response time and failures, last 24h")
    );
    assert!(chart.contains("<path class=\"series\""), "{chart}");
    assert!(chart.contains("class=\"axis\""), "{chart}");
    let shaded = chart
        .find("<rect class=\"span outage\"")
        .expect("the outage shaded");
    assert!(
        chart[shaded..].contains(&format!(
            "Down from {} to {} UTC",
            start.format("%Y-%m-%d %H:%M:%S"),
            end.format("%Y-%m-%d %H:%M:%S")
        )),
        "{chart}"
    );
    // The picker marks the range shown; another range is one link away.
    assert!(
        html.contains("href=\"/monitors/shop?range=24h\" class=\"current\""),
        "{html}"
    );
    let week = page(&p, "/monitors/shop?range=7d").await;
    assert!(week.contains("Response time and failures, last 7d"));
    assert!(week.contains("href=\"/monitors/shop?range=7d\" class=\"current\""));
    // A range before the outage has none.
    let before = (start - chrono::Duration::seconds(1)).timestamp();
    let early = page(&p, &format!("/monitors/shop?range=1h&end={before}")).await;
    assert!(early.contains("data-testid=\"no-outages\""), "{early}");
    let long_ago = (start - chrono::Duration::hours(2)).timestamp();
    let empty = page(&p, &format!("/monitors/shop?range=1h&end={long_ago}")).await;
    assert!(empty.contains("no checks in this range"), "{empty}");

    // History pages back: the page before the newest check starts with the one after it.
    let newest = rows.last().unwrap();
    let second = &rows[rows.len() - 2];
    let older = page(
        &p,
        &format!("/monitors/shop?before={}", at(newest).timestamp_millis()),
    )
    .await;
    let history = &older[older.find("<table class=\"history\"").unwrap()..];
    let first_row = cell(history, "small");
    assert_eq!(
        first_row,
        at(second).format("%Y-%m-%d %H:%M:%S").to_string()
    );
    assert!(older.contains("← Newest"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edit_form_changes_every_field_it_shows_and_keeps_the_rest() {
    let dir = tempdir("monitor_edit");
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/monitors",
            Some(serde_json::json!({
                "id": "shop", "name": "Shop", "interval": "30s",
                "http": {"url": "http://127.0.0.1:9/health", "keyword": "ok",
                         "headers": {"Accept": "text/plain"}},
                "labels": {"team": "web"}
            })),
        )
        .await;
    assert!(code.is_success(), "{code} {body}");

    // The form shows the monitor as it is.
    let html = page(&p, "/monitors/shop/edit").await;
    assert!(html.contains("action=\"/monitors/shop/edit\""), "{html}");
    assert!(
        html.contains("value=\"http://127.0.0.1:9/health\""),
        "{html}"
    );
    assert!(html.contains("value=\"ok\""), "{html}");
    assert!(html.contains("value=\"30s\""), "{html}");

    let r = post_edit(
        &p,
        "shop",
        &[
            ("name", "Shop front"),
            ("kind", "http"),
            ("url", "http://127.0.0.1:9/ready"),
            ("method", "HEAD"),
            ("expected_status", "200, 204"),
            ("keyword", ""),
            ("json_assertion", "status == \"ok\"\nready == true"),
            ("interval", "15s"),
            ("failures_before_down", "3"),
            ("group", "Website"),
            ("tags", "prod, shop"),
            ("description", "The public shop"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/monitors/shop");
    let m = p.monitor("shop").await;
    let spec = &m["spec"];
    assert_eq!(spec["name"], "Shop front");
    assert_eq!(spec["interval"], "15s");
    assert_eq!(spec["failures_before_down"], 3);
    assert_eq!(spec["group"], "Website");
    assert_eq!(spec["tags"], serde_json::json!(["prod", "shop"]));
    assert_eq!(spec["description"], "The public shop");
    let http = &spec["http"];
    assert_eq!(http["url"], "http://127.0.0.1:9/ready");
    assert_eq!(http["method"], "HEAD");
    assert_eq!(
        http["expected_status"].as_array().unwrap().len(),
        2,
        "{http}"
    );
    assert_eq!(
        http["json_assertions"].as_array().unwrap().len(),
        2,
        "{http}"
    );
    // Emptied fields are removed; what the form does not show is kept.
    assert!(http.get("keyword").is_none_or(Value::is_null), "{http}");
    assert_eq!(http["headers"]["Accept"], "text/plain");
    assert_eq!(spec["labels"]["team"], "web");
    // The list's search finds it by tag and group, and shows both.
    for (search, found) in [("PROD", 1), ("website", 1), ("nothing-like-it", 0)] {
        let list = p.get(&format!("/api/v1/monitors?search={search}")).await;
        let monitors = list["monitors"].as_array().unwrap();
        assert_eq!(monitors.len(), found, "{search}: {list}");
        if found == 1 {
            assert_eq!(monitors[0]["tags"], serde_json::json!(["prod", "shop"]));
            assert_eq!(monitors[0]["group"], "Website");
        }
    }

    // Another kind of check replaces the old one; a bad value shows the form again.
    let r = post_edit(
        &p,
        "shop",
        &[
            ("name", "Shop front"),
            ("kind", "tcp"),
            ("address", "127.0.0.1:9"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let spec = &p.monitor("shop").await["spec"];
    assert_eq!(spec["tcp"]["address"], "127.0.0.1:9");
    assert!(spec.get("http").is_none_or(Value::is_null), "{spec}");
    assert!(spec.get("group").is_none_or(Value::is_null), "{spec}");
    let r = post_edit(
        &p,
        "shop",
        &[
            ("name", "Shop front"),
            ("kind", "tcp"),
            ("address", "127.0.0.1:9"),
            ("interval", "soon"),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("interval"), "{text}");
    assert!(text.contains("action=\"/monitors/shop/edit\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edit_form_changes_headers_body_labels_and_alerting_options() {
    let dir = tempdir("monitor_edit_options");
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/monitors",
            Some(serde_json::json!({
                "id": "shop", "name": "Shop",
                "http": {"url": "http://127.0.0.1:9/health", "proxy_url": "http://127.0.0.1:3128",
                         "headers": {"Accept": "text/plain", "Authorization": "Bearer s3cret-value",
                                     "X-Old": "1"}},
                "labels": {"team": "web", "tier": "1"}
            })),
        )
        .await;
    assert!(code.is_success(), "{code} {body}");

    // The form shows the headers (the credential redacted) and labels.
    let html = page(&p, "/monitors/shop/edit").await;
    assert!(html.contains("Accept: text/plain"), "{html}");
    assert!(html.contains("Authorization: &lt;redacted&gt;"), "{html}");
    assert!(!html.contains("s3cret-value"), "{html}");
    assert!(html.contains("team=web"), "{html}");

    let r = post_edit(&p, "shop", &[
        ("name", "Shop"),
        ("kind", "http"),
        ("url", "http://127.0.0.1:9/health"),
        ("method", "POST"),
        (
            "headers",
            "Accept: application/json\nAuthorization: <redacted>\nContent-Type: application/json",
        ),
        ("body", "{\"ping\": true}"),
        ("timeout", "3s"),
        ("keyword_absent", "maintenance"),
        ("degraded_after", "1s"),
        ("tls_expiry_warning_days", "7"),
        ("labels", "team=shop\nsev=page"),
        ("successes_before_up", "2"),
        ("down_after", "2m"),
    ])
    .await;
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    let spec = &p.monitor("shop").await["spec"];
    let http = &spec["http"];
    assert_eq!(
        http["headers"],
        serde_json::json!({"Accept": "application/json", "Authorization": "<redacted>",
                           "Content-Type": "application/json"}),
        "{http}"
    );
    assert_eq!(http["body"], "{\"ping\": true}");
    assert_eq!(http["timeout"], "3s");
    assert_eq!(http["follow_redirects"], false);
    assert_eq!(http["keyword_absent"], "maintenance");
    assert_eq!(http["degraded_after"], "1s");
    assert_eq!(http["tls_expiry_warning_days"], 7);
    // What the form does not show is kept.
    assert_eq!(http["proxy_url"], "http://127.0.0.1:3128/");
    assert_eq!(
        spec["labels"],
        serde_json::json!({"team": "shop", "sev": "page"})
    );
    assert_eq!(spec["successes_before_up"], 2);
    assert_eq!(spec["down_after"], "2m");
    // `<redacted>` sent back keeps the stored credential (the PATCH path web_surface
    // checks), and no answer shows it.
    let exported = p.get("/api/v1/monitors/shop").await;
    assert!(!exported.to_string().contains("s3cret-value"), "{exported}");

    // A line that is not a pair gets a clear error and the form again.
    let r = post_edit(
        &p,
        "shop",
        &[
            ("name", "Shop"),
            ("kind", "http"),
            ("url", "http://127.0.0.1:9/health"),
            ("headers", "Accept application/json"),
            ("labels", ""),
        ],
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("Headers, line 1"), "{text}");
    assert!(text.contains("action=\"/monitors/shop/edit\""), "{text}");
}
