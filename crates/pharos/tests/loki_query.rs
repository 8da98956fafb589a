//! Grafana's Loki data source reading Pharos's logs through the real binary: lines pushed
//! through `/loki/api/v1/push`, then the requests Grafana sends (as its source builds
//! them: `pkg/tsdb/loki/api.go` for queries, `LanguageProvider.ts` and `datasource.ts`
//! for labels, series and the size estimate, `healthcheck.go` for "Save & test"), each
//! answer checked against Pharos's own log search API for the same lines.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Pharos, TOKEN, client, tempdir, url_escape};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create_token(p: &Pharos, scopes: &[&str]) -> String {
    let (code, body) = p
        .send(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": format!("grafana {scopes:?}"), "scopes": scopes})),
        )
        .await;
    assert_eq!(code.as_u16(), 201, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

/// A GET as Grafana's Loki data source sends it: basic auth with the token as password.
async fn grafana_get(
    p: &Pharos,
    token: &str,
    path: &str,
    params: &[(&str, String)],
) -> (StatusCode, String) {
    let qs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = client()
        .get(format!("{}{path}?{}", p.url, common::form(&qs)))
        .basic_auth("grafana", Some(token))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn grafana_json(p: &Pharos, token: &str, path: &str, params: &[(&str, String)]) -> Value {
    let (status, text) = grafana_get(p, token, path, params).await;
    assert_eq!(status, StatusCode::OK, "{path} {params:?}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "success", "{v}");
    v
}

/// Every line of a streams answer, newest first as Grafana shows them.
fn stream_lines(v: &Value) -> Vec<String> {
    assert_eq!(v["data"]["resultType"], "streams", "{v}");
    let mut all: Vec<(i128, String)> = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for pair in s["values"].as_array().unwrap() {
            let t: i128 = pair[0].as_str().unwrap().parse().unwrap();
            all.push((t, pair[1].as_str().unwrap().to_string()));
        }
    }
    all.sort_by_key(|a| std::cmp::Reverse(a.0));
    all.into_iter().map(|(_, l)| l).collect()
}

/// Messages of a search, newest first.
async fn search(p: &Pharos, q: &str, from: i64, to: i64, limit: usize) -> Vec<String> {
    let v = p
        .get(&format!(
            "/api/v1/logs?q={}&from={from}&to={to}&limit={limit}",
            url_escape(q)
        ))
        .await;
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn grafana_reads_pushed_logs_through_the_loki_query_api() {
    let dir = tempdir("loki-query");
    let p = Pharos::start(&dir, None).await;
    let token = create_token(&p, &["read"]).await;

    let now = chrono::Utc::now().timestamp();
    let ns = |secs_ago: i64| ((now - secs_ago) as i128 * 1_000_000_000).to_string();
    let push = json!({"streams": [
        {"stream": {"service": "shop", "level": "error", "env": "prod"}, "values": [
            [ns(50), "payment failed: card declined"],
            [ns(40), "payment failed: timeout talking to bank"],
            [ns(10), "Timeout in checkout"],
        ]},
        {"stream": {"service": "shop", "level": "info"}, "values": [
            [ns(45), "GET /cart status=200 took_ms=12"],
            [ns(30), "GET /pay status=503 took_ms=900"],
            [ns(5), "order 7 paid"],
        ]},
        {"stream": {"job": "mailer", "level": "warning"}, "values": [
            [ns(20), "smtp slow"],
        ]},
    ]});
    let r = client()
        .post(format!("{}/loki/api/v1/push", p.url))
        .bearer_auth(TOKEN)
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let (from, to) = (now - 3600, now + 1);
    p.wait_until(
        Duration::from_secs(10),
        "the pushed lines to be searchable",
        async || search(&p, "", from, to, 100).await.len() == 7,
    )
    .await;

    // Explore's log query: Grafana's backend sends query, direction, limit, start/end in
    // nanoseconds and step in milliseconds.
    let range = |q: &str, limit: usize, direction: &str| {
        vec![
            ("query", q.to_string()),
            ("direction", direction.to_string()),
            ("limit", limit.to_string()),
            ("start", (from as i128 * 1_000_000_000).to_string()),
            ("end", (to as i128 * 1_000_000_000).to_string()),
            ("step", "15000ms".to_string()),
        ]
    };
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"}"#, 1000, "backward"),
    )
    .await;
    assert_eq!(
        stream_lines(&v),
        search(&p, "service=shop", from, to, 100).await
    );
    let stream = &v["data"]["result"][0]["stream"];
    assert_eq!(stream["service"], "shop", "{v}");
    assert!(
        v["data"]["stats"]["summary"]["totalLinesProcessed"]
            .as_u64()
            .unwrap()
            >= 6
    );

    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(
            r#"{service="shop", level=~"error|warning"}"#,
            1000,
            "backward",
        ),
    )
    .await;
    assert_eq!(
        stream_lines(&v),
        search(&p, "service=shop level=ERROR", from, to, 100).await
    );
    let with_env: Vec<_> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stream"]["env"] == "prod")
        .collect();
    assert_eq!(
        with_env.len(),
        1,
        "a pushed label shows as a stream label: {v}"
    );

    // The label that named the service selects too (job → service), as pushed.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{job="mailer"}"#, 1000, "backward"),
    )
    .await;
    assert_eq!(stream_lines(&v), vec!["smtp slow"]);

    // Line filters are case-sensitive substrings; parsers make fields labels.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"} |= "timeout""#, 1000, "backward"),
    )
    .await;
    assert_eq!(
        stream_lines(&v),
        vec!["payment failed: timeout talking to bank"]
    );
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(
            r#"{service="shop"} | logfmt | status >= 500 | line_format "{{.took_ms}}ms""#,
            1000,
            "backward",
        ),
    )
    .await;
    assert_eq!(stream_lines(&v), vec!["900ms"]);

    // limit and direction: the newest two backward, the oldest two forward.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"}"#, 2, "backward"),
    )
    .await;
    assert_eq!(
        stream_lines(&v),
        search(&p, "service=shop", from, to, 2).await
    );
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"}"#, 2, "forward"),
    )
    .await;
    let mut oldest = search(&p, "service=shop", from, to, 100).await;
    oldest.reverse();
    oldest.truncate(2);
    oldest.reverse();
    assert_eq!(stream_lines(&v), oldest);

    // A metric query over the logs gives the counts the log API gives.
    let counts = p
        .get(&format!(
            "/api/v1/logs/counts?q=service%3Dshop&by=level&from={from}&to={to}"
        ))
        .await;
    let want: BTreeMap<String, f64> = counts["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_lowercase(),
                c["count"].as_f64().unwrap(),
            )
        })
        .collect();
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum by (level) (count_over_time({service="shop"}[1h]))"#.to_string(),
            ),
            ("time", (to as i128 * 1_000_000_000).to_string()),
            // Above the bound for log queries, which does not concern a metric query.
            ("limit", "10000".to_string()),
        ],
    )
    .await;
    assert_eq!(v["data"]["resultType"], "vector", "{v}");
    let got: BTreeMap<String, f64> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["level"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Over values a parser read: the two logfmt lines took 12 and 900 ms.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"avg_over_time({service="shop"} | logfmt | unwrap took_ms [1h]) by (service)"#
                    .to_string(),
            ),
            ("time", (to as i128 * 1_000_000_000).to_string()),
        ],
    )
    .await;
    assert_eq!(
        v["data"]["result"][0]["metric"],
        json!({"service": "shop"}),
        "{v}"
    );
    assert_eq!(v["data"]["result"][0]["value"][1], "456", "{v}");
    // The logs volume histogram Grafana draws above the lines.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"sum by (level, detected_level) (count_over_time({service="shop"} | drop __error__[1m]))"#, 1000, "backward"),
    )
    .await;
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    let total: f64 = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(total >= 6.0, "every line counted in at least one step: {v}");

    // "Save & test": vector(1)+vector(1) as an instant query at 4 s.
    let v = grafana_json(
        &p,
        &token,
        "/loki/api/v1/query",
        &[
            ("query", "vector(1)+vector(1)".to_string()),
            ("time", "4000000000".to_string()),
        ],
    )
    .await;
    // Grafana means 4 s in nanoseconds; ten digits read as seconds in Loki, and the check
    // only looks at the value.
    assert_eq!(v["data"]["result"][0]["value"][1], "2", "{v}");

    // The query editor: label names, values, series, the size estimate.
    let span = || {
        vec![
            ("start", (from as i128 * 1_000_000_000).to_string()),
            ("end", (to as i128 * 1_000_000_000).to_string()),
        ]
    };
    let v = grafana_json(&p, &token, "/loki/api/v1/labels", &span()).await;
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"service") && names.contains(&"level") && names.contains(&"env"),
        "{v}"
    );
    let v = grafana_json(&p, &token, "/loki/api/v1/label/service/values", &span()).await;
    assert_eq!(v["data"], json!(["mailer", "shop"]));
    let mut q = span();
    q.push(("query", r#"{level="error"}"#.to_string()));
    let v = grafana_json(&p, &token, "/loki/api/v1/label/service/values", &q).await;
    assert_eq!(v["data"], json!(["shop"]));
    let mut q = span();
    q.push(("match[]", r#"{service="shop"}"#.to_string()));
    let v = grafana_json(&p, &token, "/loki/api/v1/series", &q).await;
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["service"] == "shop"),
        "{v}"
    );
    let mut q = span();
    q.push(("query", r#"{service="shop"}"#.to_string()));
    let (status, text) = grafana_get(&p, &token, "/loki/api/v1/index/stats", &q).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["entries"], 6, "{stats}");

    // Bad LogQL and requests over the bounds: 400 with Loki's plain-text message.
    let (status, text) = grafana_get(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"} | nonsense"#, 100, "backward"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("parse error") && text.contains("nonsense"),
        "{text}"
    );
    let (status, text) = grafana_get(
        &p,
        &token,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"}"#, 100_000, "backward"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("max entries limit"), "{text}");
    let mut fine = range(r#"count_over_time({service="shop"}[1m])"#, 100, "backward");
    fine[5].1 = "1ms".into();
    let (status, text) = grafana_get(&p, &token, "/loki/api/v1/query_range", &fine).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("maximum resolution"), "{text}");
    let (status, text) = grafana_get(
        &p,
        &token,
        "/loki/api/v1/query",
        &[("query", r#"{service="shop"}"#.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("instant query"), "{text}");

    // These are reads: no credential is refused, and so is a token that may only push.
    let r = client()
        .get(format!("{}/loki/api/v1/labels", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let pusher = create_token(&p, &["logs:write"]).await;
    let (status, _) = grafana_get(
        &p,
        &pusher,
        "/loki/api/v1/query_range",
        &range(r#"{service="shop"}"#, 10, "backward"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // POST with a form, as logcli and Grafana's older proxy send it.
    let r = client()
        .post(format!("{}/loki/api/v1/query_range", p.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(common::form(
            &range(r#"{job="mailer"}"#, 10, "backward")
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(stream_lines(&v), vec!["smtp slow"]);
}

/// Live mode: Grafana opens `/loki/api/v1/tail` over WebSocket (through its proxy, with
/// the data source's credential); the lines already stored come first, then new ones.
#[tokio::test]
async fn tail_over_websocket_sends_stored_then_new_lines() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempdir("loki-tail");
    let p = Pharos::start(&dir, None).await;
    let token = create_token(&p, &["read"]).await;
    let push = |line: &str, service: &str| {
        let ns = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap()
            .to_string();
        json!({"streams": [{"stream": {"service": service, "level": "error"}, "values": [[ns, line]]}]})
    };
    let send = async |body: Value| {
        let r = client()
            .post(format!("{}/loki/api/v1/push", p.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    };
    send(push("stored before the tail", "tailed")).await;
    p.wait_until(
        Duration::from_secs(10),
        "the first line to be searchable",
        async || {
            search(
                &p,
                "service=tailed",
                chrono::Utc::now().timestamp() - 60,
                chrono::Utc::now().timestamp() + 1,
                10,
            )
            .await
            .len()
                == 1
        },
    )
    .await;

    let url = format!(
        "ws://127.0.0.1:{}/loki/api/v1/tail?query={}&limit=10",
        p.port,
        url_escape(r#"{service="tailed"} != "ignored""#)
    );
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let next_lines = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Vec<String> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a tail message within 10 s")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                return v["streams"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| s["values"].as_array().unwrap().clone())
                    .map(|v| v[1].as_str().unwrap().to_string())
                    .collect();
            }
        }
    };
    assert_eq!(next_lines(&mut ws).await, vec!["stored before the tail"]);
    send(push("ignored by the filter", "tailed")).await;
    send(push("another service", "other")).await;
    send(push("new while tailing", "tailed")).await;
    assert_eq!(next_lines(&mut ws).await, vec!["new while tailing"]);

    // A metric query cannot be tailed, and the tail is a read like the others.
    let r = client()
        .get(format!(
            "{}/loki/api/v1/tail?query={}",
            p.url,
            url_escape(r#"count_over_time({service="tailed"}[1m])"#)
        ))
        .bearer_auth(&token)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .get(format!(
            "{}/loki/api/v1/tail?query=%7Ba%3D%22b%22%7D",
            p.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
