//! End to end for OpenTelemetry traces: the OpenTelemetry Python SDK's protobuf export
//! through Sentry's per-project OTLP endpoint (the DSN key), an OTLP/JSON export of two
//! services through `POST /v1/traces` with a `traces:write` token (a project made per
//! new service), both under Performance beside the Sentry SDKs' transactions; and the bad
//! inputs: a bad span refused alone as a partial success, an unreadable body, a wrong key,
//! a token without the scope.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "otlptracespublickey0123";

fn config() -> String {
    format!(
        r#"
projects:
  - id: 7
    name: gateway
    keys: ["{KEY}"]
"#
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../ingest/tests/fixtures/traces/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn create_token(p: &Pharos, scopes: &[&str]) -> String {
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "otel collector", "scopes": scopes})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

fn nanos(offset_ms: i64) -> String {
    let now = chrono::Utc::now() - chrono::Duration::seconds(5);
    (now + chrono::Duration::milliseconds(offset_ms))
        .timestamp_nanos_opt()
        .unwrap()
        .to_string()
}

fn attr(key: &str, value: Value) -> Value {
    match value {
        Value::String(s) => json!({"key": key, "value": {"stringValue": s}}),
        Value::Number(n) => json!({"key": key, "value": {"intValue": n.to_string()}}),
        v => json!({"key": key, "value": {"stringValue": v.to_string()}}),
    }
}

/// An OTLP/JSON export: `checkout` serves a request and calls `billing`, which serves it
/// under the remote parent; one of `billing`'s spans has no trace id.
fn two_services(trace: &str) -> Value {
    json!({"resourceSpans": [
        {"resource": {"attributes": [attr("service.name", json!("checkout")), attr("service.version", json!("1.2.0"))]},
         "scopeSpans": [{"scope": {"name": "checkout.web"}, "spans": [
            {"traceId": trace, "spanId": "a000000000000001", "name": "POST /pay", "kind": 2,
             "startTimeUnixNano": nanos(0), "endTimeUnixNano": nanos(120),
             "attributes": [attr("http.request.method", json!("POST")), attr("http.response.status_code", json!(200))]},
            {"traceId": trace, "spanId": "a000000000000002", "parentSpanId": "a000000000000001",
             "name": "POST billing", "kind": 3, "flags": 256,
             "startTimeUnixNano": nanos(10), "endTimeUnixNano": nanos(100),
             "attributes": [attr("http.request.method", json!("POST"))]}
         ]}]},
        {"resource": {"attributes": [attr("service.name", json!("billing"))]},
         "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": "b000000000000001", "parentSpanId": "a000000000000002",
             "name": "POST /charge", "kind": 2, "flags": 768,
             "startTimeUnixNano": nanos(20), "endTimeUnixNano": nanos(90),
             "status": {"code": 2, "message": "card declined"},
             "attributes": [attr("http.request.method", json!("POST")), attr("http.response.status_code", json!(402))]},
            {"spanId": "b000000000000002", "startTimeUnixNano": nanos(30), "endTimeUnixNano": nanos(40)}
         ]}]}
    ]})
}

/// `POST /v1/traces` with the OTLP/JSON `body`, as a collector with `token` sends it.
async fn export(p: &Pharos, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = client().post(format!("{}/v1/traces", p.url)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn transactions(p: &Pharos, project: i64) -> Value {
    p.get(&format!("/api/v1/transactions?project={project}&period=1h"))
        .await
}

#[tokio::test]
async fn otlp_spans_from_the_python_sdk_and_a_collector_join_the_span_store() {
    let dir = tempdir("otlp-traces");
    let p = Pharos::start(&dir, Some(&config())).await;
    let c = client();

    // sentry-sdk's OTLPIntegration: protobuf to the DSN's OTLP endpoint, key in X-Sentry-Auth;
    // the project's answer and page name that endpoint.
    let endpoint = p.get("/api/v1/projects/7").await["otlp_traces_endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        endpoint,
        format!("{}/api/7/integration/otlp/v1/traces/", p.url)
    );
    let page = p.page("/projects/7").await;
    assert!(
        page.contains(&format!("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={endpoint}")),
        "{page}"
    );
    assert!(page.contains(&format!("sentry_key={KEY}")));
    let r = c
        .post(&endpoint)
        .header("content-type", "application/x-protobuf")
        .header(
            "X-Sentry-Auth",
            format!(
                "Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.75.0"
            ),
        )
        .body(fixture("otlp-python-sdk.pb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-protobuf",
        "the answer in the request's encoding"
    );
    assert!(
        r.bytes().await.unwrap().is_empty(),
        "no partial success: every span kept"
    );
    let trace = p
        .get("/api/v1/traces/5b8efff798038103d269b633813fc60c")
        .await;
    let spans = trace["spans"].as_array().unwrap();
    // The export's fourth span, `POST /checkout`, is a trace of its own.
    assert_eq!(spans.len(), 3, "{trace}");
    assert!(spans.iter().all(|s| s["project_id"] == 7), "{trace}");
    let server = spans
        .iter()
        .find(|s| s["name"] == "GET /orders/{id}")
        .unwrap();
    assert_eq!(server["op"], "http.server");
    assert_eq!(server["is_segment"], true);
    assert_eq!(server["environment"], "production");
    let names: Vec<&str> = trace["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GET /orders/{id}"], "{trace}");

    // Wrong key, no key, garbage: clear refusals.
    let r = c
        .post(format!("{}/api/7/integration/otlp/v1/traces", p.url))
        .header("content-type", "application/x-protobuf")
        .header("X-Sentry-Auth", "Sentry sentry_key=wrongwrongwrong")
        .body(fixture("otlp-python-sdk.pb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(format!("{}/api/7/integration/otlp/v1/traces", p.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(format!(
            "{}/api/7/integration/otlp/v1/traces?sentry_key={KEY}",
            p.url
        ))
        .header("content-type", "application/x-protobuf")
        .body(&b"\xff\xff\xff not protobuf"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("not an OTLP traces request in protobuf"),
        "{text}"
    );

    // An OpenTelemetry collector with a token: two services, two new projects.
    let logs_only = create_token(&p, &["logs:write"]).await;
    let token = create_token(&p, &["traces:write"]).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let body = two_services(trace_id);
    let r = export(&p, Some(&logs_only), &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = export(&p, None, &body).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = export(&p, Some(&token), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1", "{answer}");
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("resourceSpans[1].scopeSpans[0].spans[1]: span without a valid traceId"),
        "{answer}"
    );
    // The same export again makes no second project.
    let r = export(&p, Some(&token), &body).await;
    assert_eq!(r.status(), StatusCode::OK);

    let projects = p.get("/api/v1/projects").await;
    let list = projects
        .as_array()
        .or_else(|| projects["projects"].as_array())
        .unwrap();
    let id_of = |name: &str| {
        let found: Vec<&Value> = list.iter().filter(|p| p["name"] == name).collect();
        assert_eq!(found.len(), 1, "one project named {name}: {projects}");
        found[0]["id"].as_i64().unwrap()
    };
    let checkout = id_of("checkout");
    let billing = id_of("billing");

    let t = transactions(&p, checkout).await;
    let pay = &t["transactions"][0];
    assert_eq!(pay["name"], "POST /pay", "{t}");
    assert_eq!(pay["op"], "http.server");
    assert_eq!(pay["count"], 1, "a resent export is not counted twice: {t}");
    assert!((pay["p50_ms"].as_f64().unwrap() - 120.0).abs() < 1.0, "{t}");
    let t = transactions(&p, billing).await;
    let charge = &t["transactions"][0];
    assert_eq!(
        charge["name"], "POST /charge",
        "a remote parent makes a transaction: {t}"
    );
    assert_eq!(charge["failures"], 1, "{t}");

    let trace = p.get(&format!("/api/v1/traces/{trace_id}")).await;
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{trace}");
    let charge_span = spans.iter().find(|s| s["name"] == "POST /charge").unwrap();
    assert_eq!(
        charge_span["status"], "invalid_argument",
        "HTTP 402 on an error span"
    );
    assert_eq!(charge_span["parent_span_id"], "a000000000000002");
    assert_eq!(charge_span["project_id"], billing);
    assert_eq!(
        charge_span["attributes"]["otel.status_description"],
        "card declined"
    );

    // Counted like every span.
    let metrics = c
        .get(format!("{}/metrics", p.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pharos_transactions_total") && l.contains("POST /charge")),
        "{metrics}"
    );
}
