//! End to end for the trace page: a trace that crosses two services (a Sentry transaction
//! event in one project, a streamed span of another whose parent is a span of the first),
//! with an error event and a log line of the second, is one waterfall at `/traces/{id}`,
//! and the old `/logs/trace/{id}` address still shows it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const TRACE: &str = "6e0c63257de34c92bf9efcd03927272e";
const SHOP_KEY: &str = "traceshopkey0123456789";
const BILLING_KEY: &str = "tracebillingkey0123456";

const CONFIG: &str = r#"
projects:
  - id: 5
    name: shop
    keys: ["traceshopkey0123456789"]
  - id: 6
    name: billing
    keys: ["tracebillingkey0123456"]
"#;

async fn envelope(p: &Pharos, project: u32, key: &str, item_header: Value, body: Value) {
    let r = client()
        .post(format!(
            "{}/api/{project}/envelope/?sentry_key={key}",
            p.url
        ))
        .body(format!("{{}}\n{item_header}\n{body}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn page(p: &Pharos, client: &reqwest::Client, path: &str) -> reqwest::Response {
    client
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

/// The waterfall's rows: (kind, depth, text of the row without tags).
fn rows(html: &str) -> Vec<(String, usize, String)> {
    let start = html
        .find("data-testid=\"trace-waterfall\"")
        .expect("the waterfall");
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr class=\"")
        .skip(1)
        .map(|row| {
            let kind = row[..row.find('"').unwrap()]
                .split(' ')
                .next()
                .unwrap()
                .to_string();
            let depth = row
                .split("data-depth=\"")
                .nth(1)
                .and_then(|d| d[..d.find('"')?].parse().ok())
                .unwrap();
            let mut text = String::new();
            let mut in_tag = false;
            for c in row[row.find('>').unwrap() + 1..].chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            (kind, depth, text)
        })
        .collect()
}

#[tokio::test]
async fn a_trace_across_two_services_is_one_waterfall_with_its_error_and_log_line() {
    let dir = tempdir("trace-view");
    let p = Pharos::start(&dir, Some(CONFIG)).await;
    let start = chrono::Utc::now() - chrono::Duration::seconds(10);
    let at =
        |ms: i64| (start + chrono::Duration::milliseconds(ms)).timestamp_millis() as f64 / 1000.0;

    // shop (sentry-sdk 2.x): the request's transaction, with its call to billing as a span.
    envelope(
        &p,
        5,
        SHOP_KEY,
        json!({"type": "transaction"}),
        json!({
            "event_id": "7d3efb2d2a5f4e5c9bbf7c3a8a2b9c01", "type": "transaction",
            "transaction": "POST /checkout", "start_timestamp": at(0), "timestamp": at(120),
            "contexts": {"trace": {"trace_id": TRACE, "span_id": "a1a1a1a1a1a1a1a1", "op": "http.server", "status": "ok"}},
            "spans": [
                {"trace_id": TRACE, "span_id": "a2a2a2a2a2a2a2a2", "parent_span_id": "a1a1a1a1a1a1a1a1",
                 "op": "db.query", "description": "SELECT cart", "start_timestamp": at(2), "timestamp": at(8)},
                {"trace_id": TRACE, "span_id": "a3a3a3a3a3a3a3a3", "parent_span_id": "a1a1a1a1a1a1a1a1",
                 "op": "http.client", "description": "POST billing/charge", "start_timestamp": at(10), "timestamp": at(100)}
            ]
        }),
    )
    .await;
    // billing (sentry-sdk 3.x): its segment, a child of shop's client span, which failed.
    envelope(
        &p,
        6,
        BILLING_KEY,
        json!({"type": "span", "content_type": "application/vnd.sentry.items.span.v2+json"}),
        json!({"version": 2, "items": [{
            "trace_id": TRACE, "span_id": "b1b1b1b1b1b1b1b1", "parent_span_id": "a3a3a3a3a3a3a3a3",
            "name": "POST /charge", "status": "error", "is_segment": true,
            "start_timestamp": at(20), "end_timestamp": at(90),
            "attributes": {"sentry.op": {"value": "http.server", "type": "string"}}}]}),
    )
    .await;
    // ... the error it raised in that span ...
    envelope(
        &p,
        6,
        BILLING_KEY,
        json!({"type": "event"}),
        json!({
            "event_id": "9f1c2b3a4d5e4f60a1b2c3d4e5f60718", "level": "error", "timestamp": at(60),
            "exception": {"values": [{"type": "CardDeclined", "value": "card declined"}]},
            "contexts": {"trace": {"trace_id": TRACE, "span_id": "b1b1b1b1b1b1b1b1"}}
        }),
    )
    .await;
    // ... and the line it logged there.
    let line = json!({"levelname": "WARNING", "message": "charge refused for order 812",
        "trace_id": TRACE, "span_id": "b1b1b1b1b1b1b1b1"});
    let (status, body) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/logs?service=billing",
            Some(json!([line])),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let api = p
        .wait_until(Duration::from_secs(10), "the whole trace", async || {
            let v = p.get(&format!("/api/v1/traces/{TRACE}")).await;
            let n = |k: &str| v[k].as_array().map_or(0, Vec::len);
            if (n("spans"), n("events"), n("logs")) == (4, 1, 1) {
                Ok(v)
            } else {
                Err(v)
            }
        })
        .await;
    // The API keeps its fields and answers the same layout the page draws.
    assert_eq!(api["transactions"].as_array().unwrap().len(), 2, "{api}");
    let layout: Vec<(&str, u64)> = api["waterfall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        layout,
        [
            ("span", 0),
            ("span", 1),
            ("span", 1),
            ("span", 2),
            ("event", 3),
            ("log", 3)
        ],
        "{api}"
    );
    let services: Vec<&str> = api["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["shop", "billing"]);

    let r = page(&p, &client(), &format!("/traces/{TRACE}")).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let got = rows(&html);
    let expect = [
        ("wf-span", 0, "shop", "POST /checkout"),
        ("wf-span", 1, "shop", "SELECT cart"),
        ("wf-span", 1, "shop", "POST billing/charge"),
        ("wf-span", 2, "billing", "POST /charge"),
        ("wf-error", 3, "billing", "card declined"),
        ("wf-log", 3, "billing", "charge refused for order 812"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for ((kind, depth, text), (k, d, service, name)) in got.iter().zip(expect) {
        assert_eq!((kind.as_str(), *depth), (k, d), "{text}");
        assert!(text.starts_with(service), "{text} is of {service}");
        assert!(text.contains(name), "{text} is {name}");
    }
    // The failed span is marked, its bar drawn on the trace's time line.
    assert!(
        html.contains("<tr class=\"wf-span failed\" data-depth=\"2\""),
        "the failed span is marked"
    );
    assert!(html.contains("class=\"span failed\""));
    assert!(
        html.contains("href=\"/issues/"),
        "the error links to its issue"
    );
    // The summary: both services, the error, links to both transactions.
    assert!(html.contains("data-service=\"shop\"") && html.contains("data-service=\"billing\""));
    assert!(
        html.contains("<td id=\"trace-error-count\">1</td>"),
        "one error"
    );
    assert!(html.contains("/transactions?project=5&amp;period=30d&amp;name=POST+%2Fcheckout"));
    assert!(html.contains("/transactions?project=6&amp;period=30d&amp;name=POST+%2Fcharge"));

    // The old address is the same page.
    let r = page(&p, &no_redirects(), &format!("/logs/trace/{TRACE}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(rows(&r.text().await.unwrap()), got);
    // A log line of the trace links to the trace page.
    let search = page(
        &p,
        &client(),
        &format!("/logs?q=trace_id%3D{TRACE}&range=1h"),
    )
    .await;
    assert!(
        search
            .text()
            .await
            .unwrap()
            .contains(&format!("href=\"/traces/{TRACE}\""))
    );
    // A bad id is refused.
    assert_eq!(
        page(&p, &client(), "/traces/not-a-trace").await.status(),
        400
    );
}
