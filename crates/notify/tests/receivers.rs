//! Every HTTP channel against a fake server on loopback: the exact request it receives
//! (method, path, headers, auth, body), for a firing group of two alerts and for the same
//! group resolved. Bodies are snapshots in `snapshots/` for a reviewer to read.

mod common;

use std::sync::Arc;

use common::{FakeServer, client, deliveries_to_every_receiver, firing_group, resolved_group};
use pharos_notify::{Receiver, ReceiverConfig, Receivers, send_parts};

fn receiver(yaml: &str) -> Arc<dyn Receiver> {
    let config: ReceiverConfig = serde_norway::from_str(yaml).unwrap();
    let mut built = config.build("https://pharos.example.com");
    assert_eq!(built.len(), 1);
    built.remove(0)
}

async fn deliver(r: &Arc<dyn Receiver>, n: &pharos_model::Notification) -> u16 {
    let payload = r.payload_for(n).expect("a payload");
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    result.unwrap()
}

fn pretty(body: &str) -> String {
    serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(body).unwrap()).unwrap()
}

#[tokio::test]
async fn slack_gets_a_coloured_attachment() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nslack_configs:\n  - api_url: {}\n    channel: '#ops'\n    send_resolved: true\n",
        fake.url("/services/T000/B000/XXXX")
    ));
    assert_eq!(r.name(), "ops");
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/services/T000/B000/XXXX");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[0].json()["attachments"][0]["color"], "#FF0000");
    assert_eq!(reqs[1].json()["attachments"][0]["color"], "#2EB886");
    insta::assert_snapshot!("slack_firing", pretty(&reqs[0].body));
    insta::assert_snapshot!("slack_resolved", pretty(&reqs[1].body));
}

#[tokio::test]
async fn slack_leaves_resolved_out_by_default_as_alertmanager() {
    let r = receiver("name: ops\nslack_configs:\n  - api_url: http://127.0.0.1:9/x\n");
    assert!(r.payload_for(&resolved_group()).is_none());
}

#[tokio::test]
async fn telegram_posts_send_message_with_the_token_in_the_path() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\ntelegram_configs:\n  - bot_token: '123456:ABC-DEF'\n    chat_id: -1001234567890\n    api_url: {}\n    message_thread_id: 7\n",
        fake.url("")
    ));
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/bot123456:ABC-DEF/sendMessage");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    let body = reqs[0].json();
    assert_eq!(body["chat_id"], -1001234567890i64);
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["message_thread_id"], 7);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("🔴 <b>[FIRING:2] MonitorDown on invoice-bot</b>")
    );
    assert!(reqs[1].json()["text"].as_str().unwrap().starts_with("✅ "));
    insta::assert_snapshot!("telegram_firing_text", body["text"].as_str().unwrap());
    insta::assert_snapshot!("telegram_firing", pretty(&reqs[0].body));
    insta::assert_snapshot!(
        "telegram_resolved_text",
        reqs[1].json()["text"].as_str().unwrap()
    );
}

fn nasty_group() -> pharos_model::Notification {
    let nasty = "_*[]()~`>#+-=|{}.!<&";
    let a = common::alert(
        &[
            ("alertname", "Odd_Name*"),
            ("job", nasty),
            ("severity", "warning"),
        ],
        &[
            ("summary", nasty),
            ("runbook_url", "https://wiki.example.com/a_(b)"),
        ],
        pharos_model::AlertState::Firing,
    );
    pharos_model::Notification::single("ops", &a, "https://pharos.example.com")
}

#[test]
fn telegram_escapes_every_special_character() {
    let html = receiver("name: ops\ntelegram_configs:\n  - bot_token: t\n    chat_id: 1\n");
    let body: Vec<serde_json::Value> =
        serde_json::from_str(&html.payload_for(&nasty_group()).unwrap()).unwrap();
    insta::assert_snapshot!("telegram_escaped_html", body[0]["text"].as_str().unwrap());
    let v2 = receiver(
        "name: ops\ntelegram_configs:\n  - bot_token: t\n    chat_id: '@pharos_alerts'\n    parse_mode: MarkdownV2\n",
    );
    let body: Vec<serde_json::Value> =
        serde_json::from_str(&v2.payload_for(&nasty_group()).unwrap()).unwrap();
    assert_eq!(body[0]["chat_id"], "@pharos_alerts");
    assert_eq!(body[0]["parse_mode"], "MarkdownV2");
    let text = body[0]["text"].as_str().unwrap();
    insta::assert_snapshot!("telegram_escaped_markdown_v2", text);
    // Outside entities, every reserved character is preceded by a backslash.
    let mut chars = text.chars().peekable();
    let mut in_url = false;
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
            prev = ' ';
            continue;
        }
        if prev == ']' && c == '(' {
            in_url = true;
        } else if in_url && c == ')' {
            in_url = false;
        } else if !in_url {
            assert!(
                !"_[]()~`>#+-=|{}.!".contains(c) || c == '[' || c == ']' || c == '(',
                "unescaped {c:?} in {text}"
            );
        }
        prev = c;
    }
}

#[tokio::test]
async fn telegram_splits_long_groups_and_a_retry_resends_only_the_rest() {
    let mut n = firing_group();
    let template = n.alerts[0].clone();
    n.alerts.clear();
    for i in 0..10 {
        let mut a = template.clone();
        a.labels.insert("instance".into(), format!("worker-{i}"));
        a.annotations.insert("description".into(), "x".repeat(590));
        n.alerts.push(a);
    }
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\ntelegram_configs:\n  - bot_token: t\n    chat_id: 1\n    api_url: {}\n",
        fake.url("")
    ));
    let payload = r.payload_for(&n).unwrap();
    let parts = r.parts(&payload);
    assert!(parts.len() >= 2, "{} parts", parts.len());
    for (i, p) in parts.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(p).unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(text.encode_utf16().count() <= 4096);
        assert!(
            text.starts_with(&format!("({}/{}) ", i + 1, parts.len())),
            "{text}"
        );
    }
    // The second message fails: the first is not sent again on the retry.
    fake.answer(200, "{\"ok\":true}");
    fake.answer(500, "{\"ok\":false}");
    let (first, sent) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert!(first.is_err());
    assert_eq!(sent, 1);
    let (second, sent) = send_parts(r.as_ref(), &client(), &payload, sent).await;
    assert_eq!(second.unwrap(), 200);
    assert_eq!(sent, parts.len());
    let texts: Vec<String> = fake
        .requests()
        .iter()
        .map(|q| q.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), parts.len() + 1);
    assert!(texts[0].starts_with("(1/"));
    assert!(texts[1].starts_with("(2/"));
    assert!(
        texts[2].starts_with("(2/"),
        "the retry starts at the failed part"
    );
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_with_one_dedup_key() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\npagerduty_configs:\n  - routing_key: R0UT1NGKEY\n    url: {}\n    component: bot\n    details:\n      team: payments\n",
        fake.url("/v2/enqueue")
    ));
    let firing_payload = r.payload_for(&firing_group()).unwrap();
    assert!(
        !firing_payload.contains("R0UT1NGKEY"),
        "no credential in the stored payload"
    );
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/v2/enqueue");
    let trigger = reqs[0].json();
    let resolve = reqs[1].json();
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    insta::assert_snapshot!("pagerduty_trigger", pretty(&reqs[0].body));
    insta::assert_snapshot!("pagerduty_resolve", pretty(&reqs[1].body));
}

/// Alertmanager's `service_key` (Events API v1, as in its `simple.yml` example) was
/// refused as an unknown field; it sends v1 events keyed by `incident_key`.
#[tokio::test]
async fn pagerduty_service_key_sends_events_api_v1() {
    let fake = FakeServer::start().await;
    let yaml = format!(
        "name: ops\npagerduty_configs:\n  - service_key: S3RV1CEKEY\n    url: {}\n",
        fake.url("/generic/2010-04-15/create_event.json")
    );
    let config: ReceiverConfig = serde_norway::from_str(&yaml).unwrap();
    config.check().unwrap();
    let r = receiver(&yaml);
    assert!(
        !r.payload_for(&firing_group())
            .unwrap()
            .contains("S3RV1CEKEY")
    );
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    let (trigger, resolve) = (reqs[0].json(), reqs[1].json());
    assert_eq!(trigger["service_key"], "S3RV1CEKEY");
    assert_eq!(trigger["event_type"], "trigger");
    assert!(
        trigger["description"].as_str().unwrap().contains("[FIRING"),
        "{trigger}"
    );
    assert_eq!(resolve["event_type"], "resolve");
    assert_eq!(trigger["incident_key"], resolve["incident_key"]);
    assert!(trigger.get("routing_key").is_none());

    let both: ReceiverConfig = serde_norway::from_str(
        "name: p\npagerduty_configs:\n  - {service_key: a, routing_key: b}\n",
    )
    .unwrap();
    assert_eq!(both.check().unwrap_err().0, "pagerduty_configs[0]");
}

#[test]
fn pagerduty_summary_is_cut_at_1024_characters() {
    let mut n = firing_group();
    n.alerts[0]
        .annotations
        .insert("summary".into(), "y".repeat(5000));
    let r = receiver("name: ops\npagerduty_configs:\n  - routing_key: k\n");
    let v: serde_json::Value = serde_json::from_str(&r.payload_for(&n).unwrap()).unwrap();
    assert!(v["payload"]["summary"].as_str().unwrap().chars().count() <= 1024);
}

#[tokio::test]
async fn webhook_sends_alertmanager_v4_with_max_alerts() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nwebhook_configs:\n  - url: {}\n    max_alerts: 1\n    headers:\n      Authorization: Bearer hook-secret\n",
        fake.url("/alerts")
    ));
    deliver(&r, &firing_group()).await;
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/alerts");
    assert_eq!(req.header("authorization"), Some("Bearer hook-secret"));
    let body = req.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["truncatedAlerts"], 1);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    insta::assert_snapshot!("webhook_firing", pretty(&req.body));
}

#[tokio::test]
async fn discord_gets_an_embed() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\ndiscord_configs:\n  - webhook_url: {}\n",
        fake.url("/api/webhooks/1/tok")
    ));
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/api/webhooks/1/tok");
    assert_eq!(reqs[0].json()["embeds"][0]["color"], 0xFF0000);
    insta::assert_snapshot!("discord_firing", pretty(&reqs[0].body));
    insta::assert_snapshot!("discord_resolved", pretty(&reqs[1].body));
}

#[tokio::test]
async fn teams_gets_a_message_card() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nmsteams_configs:\n  - webhook_url: {}\n",
        fake.url("/webhookb2/abc")
    ));
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs[0].path, "/webhookb2/abc");
    assert_eq!(reqs[0].json()["@type"], "MessageCard");
    insta::assert_snapshot!("msteams_firing", pretty(&reqs[0].body));
    insta::assert_snapshot!("msteams_resolved", pretty(&reqs[1].body));
}

#[tokio::test]
async fn whatsapp_sends_one_text_per_recipient_with_a_bearer_token() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nwhatsapp_configs:\n  - phone_number_id: '1098765'\n    access_token: EAAG-token\n    to: ['+4915112345678', '+4915187654321']\n    api_url: {}\n",
        fake.url("/v21.0")
    ));
    deliver(&r, &firing_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    for q in &reqs {
        assert_eq!(q.method, "POST");
        assert_eq!(q.path, "/v21.0/1098765/messages");
        assert_eq!(q.header("authorization"), Some("Bearer EAAG-token"));
        assert_eq!(q.json()["messaging_product"], "whatsapp");
    }
    assert_eq!(reqs[0].json()["to"], "4915112345678");
    assert_eq!(reqs[1].json()["to"], "4915187654321");
    insta::assert_snapshot!("whatsapp_firing", pretty(&reqs[0].body));
}

#[tokio::test]
async fn twilio_posts_a_short_form_encoded_sms_with_basic_auth() {
    let fake = FakeServer::start().await;
    fake.answer(201, "{\"sid\":\"SM1\"}");
    let r = receiver(&format!(
        "name: ops\ntwilio_configs:\n  - account_sid: AC123\n    auth_token: twilio-token\n    from: '+15017122661'\n    to: '+15558675310'\n    api_url: {}\n",
        fake.url("")
    ));
    assert_eq!(deliver(&r, &firing_group()).await, 201);
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(
        req.header("authorization"),
        Some("Basic QUMxMjM6dHdpbGlvLXRva2Vu")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form[0], ("To".into(), "+15558675310".into()));
    assert_eq!(form[1], ("From".into(), "+15017122661".into()));
    let body = &form[2].1;
    assert!(body.chars().count() <= 320, "{}", body.chars().count());
    assert!(
        body.ends_with("Ack: https://pharos.example.com/ack/3f9a2c"),
        "{body}"
    );
    insta::assert_snapshot!("twilio_firing_sms", body);
    let resolved = r.payload_for(&resolved_group()).unwrap();
    let resolved: Vec<String> = serde_json::from_str(&resolved).unwrap();
    let text: String = url::form_urlencoded::parse(resolved[0].as_bytes())
        .find(|(k, _)| k == "Body")
        .unwrap()
        .1
        .into_owned();
    insta::assert_snapshot!("twilio_resolved_sms", text);
}

#[tokio::test]
async fn error_answers_are_classified_and_explained() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nslack_configs:\n  - api_url: {}\n",
        fake.url("/hook")
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    for (status, retry) in [
        (500, true),
        (503, true),
        (429, true),
        (408, true),
        (400, false),
        (404, false),
    ] {
        fake.answer(status, "invalid_token");
        let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
        match result {
            Err(pharos_notify::SendError::Retryable { status: s, reason }) => {
                assert!(retry, "{status} retried");
                assert_eq!(s, Some(status));
                assert_eq!(reason, format!("HTTP {status}: invalid_token"));
            }
            Err(pharos_notify::SendError::Permanent { status: s, .. }) => {
                assert!(!retry, "{status} not retried");
                assert_eq!(s, Some(status));
            }
            Ok(_) => panic!("{status} delivered"),
        }
    }
}

#[test]
fn integrations_are_named_by_kind_and_index_and_describe_hides_secrets() {
    let yaml = r#"
- name: ops
  slack_configs:
    - api_url: https://hooks.slack.com/services/T0/B0/SECRETPATH
  telegram_configs:
    - bot_token: "123:SECRETTOKEN"
      chat_id: 42
    - bot_token: "456:SECRETTOKEN"
      chat_id: 43
  email_configs:
    - to: ops@example.com
      from: pharos@example.com
      smarthost: smtp.example.com:587
      auth_username: pharos
      auth_password: SECRETPASS
- name: pager
  pagerduty_configs:
    - routing_key: SECRETKEY
"#;
    let configs: Vec<ReceiverConfig> = serde_norway::from_str(yaml).unwrap();
    let receivers = Receivers::from_config(&configs, "https://pharos.example.com");
    assert_eq!(
        receivers.names().collect::<Vec<_>>(),
        [
            "ops/email0",
            "ops/slack0",
            "ops/telegram0",
            "ops/telegram1",
            "pager"
        ]
    );
    let shown: Vec<String> = receivers
        .integrations_of("ops")
        .unwrap()
        .iter()
        .chain(receivers.integrations_of("pager").unwrap())
        .map(|r| r.describe().to_string())
        .collect();
    let all = shown.join("\n");
    assert!(!all.contains("SECRET"), "{all}");
    assert!(
        all.contains("\"api_url\":\"https://hooks.slack.com/<secret>\""),
        "{all}"
    );
    assert!(all.contains("\"auth_password\":\"<secret>\""), "{all}");
    assert!(all.contains("\"routing_key\":\"<secret>\""), "{all}");
    // A route to every receiver: one delivery per integration.
    let deliveries = deliveries_to_every_receiver(&receivers, &firing_group().alerts[0]);
    let names: Vec<&str> = deliveries.iter().map(|d| d.receiver.as_str()).collect();
    assert_eq!(
        names,
        [
            "ops/slack0",
            "ops/telegram0",
            "ops/telegram1",
            "ops/email0",
            "pager"
        ]
    );
}

#[test]
fn config_errors_name_the_field() {
    let err = |yaml: &str| {
        serde_norway::from_str::<ReceiverConfig>(yaml)
            .unwrap_err()
            .to_string()
    };
    let e = err("name: p\npagerduty_configs:\n  - servce_key: x\n");
    assert!(e.contains("unknown field `servce_key`"), "{e}");
    let e = err("name: p\nslack_configs:\n  - api_url: https://x/y\n    title: '{{ .Status '\n");
    assert!(
        e.contains("not a valid template: template: title:1:1: unclosed action"),
        "{e}"
    );
    let e = err("name: p\nntfy_configs:\n  - topic: t\n    message: '{{ .Status | nosuch }}'\n");
    assert!(
        e.contains("not a valid template: template: message:1:"),
        "{e}"
    );
    assert!(e.contains("nosuch"), "{e}");
    let e = err(
        "name: p\nwebhook_configs:\n  - url: https://x/y\n    body_template: '{{ $labels.x }}'\n",
    );
    assert!(
        e.contains("not a valid template: template: body_template:1:"),
        "{e}"
    );
    assert!(e.contains("undefined variable"), "{e}");
    let e = err(
        "name: p\nemail_configs:\n  - to: a@x\n    from: b@y\n    smarthost: smtp.example.com\n",
    );
    assert!(e.contains("needs a port"), "{e}");
    let e = err("name: p\ntelegram_configs:\n  - bot_token: t\n    chat_id: general\n");
    assert!(e.contains("neither a numeric chat id"), "{e}");
    let e = err(
        "name: p\ntelegram_configs:\n  - bot_token: t\n    chat_id: 1\n    parse_mode: markdown\n",
    );
    assert!(e.contains("not a Telegram parse mode"), "{e}");
    let e = err("name: p\ndiscord_configs:\n  - webhook_url: 'not a url SECRETTOKEN'\n");
    assert!(!e.contains("SECRETTOKEN"), "{e}");
}

#[tokio::test]
async fn test_notification_goes_through_every_integration_and_reports_each() {
    let ok = FakeServer::start().await;
    let broken = FakeServer::start().await;
    broken.answer(
        403,
        "{\"ok\":false,\"description\":\"Forbidden: bot was blocked by the user\"}",
    );
    let yaml = format!(
        "- name: ops\n  slack_configs:\n    - api_url: {}\n  telegram_configs:\n    - bot_token: t\n      chat_id: 1\n      api_url: {}\n",
        ok.url("/hook"),
        broken.url("")
    );
    let configs: Vec<ReceiverConfig> = serde_norway::from_str(&yaml).unwrap();
    let receivers = Receivers::from_config(&configs, "https://pharos.example.com");
    let outcomes = pharos_notify::test_notification(&receivers, "ops", &client(), common::t(10, 0))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].integration, "ops/slack0");
    assert_eq!(outcomes[0].status, "delivered");
    assert_eq!(outcomes[0].response_status, Some(200));
    assert_eq!(outcomes[1].integration, "ops/telegram0");
    assert_eq!(outcomes[1].status, "failed");
    assert_eq!(outcomes[1].response_status, Some(403));
    assert_eq!(
        outcomes[1].error.as_deref(),
        Some("HTTP 403: {\"ok\":false,\"description\":\"Forbidden: bot was blocked by the user\"}")
    );
    let slack = ok.only_request().json();
    assert!(
        slack["attachments"][0]["title"]
            .as_str()
            .unwrap()
            .contains("PharosTestNotification")
    );
    assert!(
        pharos_notify::test_notification(&receivers, "nobody", &client(), common::t(10, 0))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_test_notification_to_a_receiver_with_no_integrations_does_not_say_delivered() {
    let configs: Vec<ReceiverConfig> = serde_norway::from_str("- name: blackhole\n").unwrap();
    let receivers = Receivers::from_config(&configs, "https://pharos.example.com");
    let outcomes =
        pharos_notify::test_notification(&receivers, "blackhole", &client(), common::t(10, 0))
            .await
            .unwrap();
    assert!(outcomes.is_empty());
    assert_eq!(pharos_notify::overall_status(&outcomes), "not_sent");
}

/// What the API shows and what the delivery queue stores must not hold `secret`.
fn assert_secret_kept(r: &Arc<dyn Receiver>, secret: &str) {
    let shown = r.describe().to_string();
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("<secret>"), "{shown}");
    for n in [firing_group(), resolved_group()] {
        if let Some(payload) = r.payload_for(&n) {
            assert!(!payload.contains(secret), "{payload}");
        }
    }
}

#[tokio::test]
async fn ntfy_publishes_json_to_the_server_root_with_the_topic_and_a_bearer_token() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nntfy_configs:\n  - url: {}\n    topic: pharos-alerts-7f3a\n    tags: [prod]\n    token: tk_NTFYSECRET\n",
        fake.url("")
    ));
    assert_eq!(r.integration(), "ntfy");
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer tk_NTFYSECRET")
    );
    let body = reqs[0].json();
    assert_eq!(body["topic"], "pharos-alerts-7f3a");
    assert_eq!(body["title"], "[FIRING:2] MonitorDown on invoice-bot");
    assert_eq!(body["priority"], 5);
    assert_eq!(body["tags"], serde_json::json!(["rotating_light", "prod"]));
    assert_eq!(body["click"], "https://pharos.example.com/ack/3f9a2c");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Invoice bot is not responding")
    );
    let resolved = reqs[1].json();
    assert_eq!(resolved["priority"], 2);
    assert_eq!(resolved["tags"][0], "white_check_mark");
    insta::assert_snapshot!("ntfy_firing", pretty(&reqs[0].body));
    assert_secret_kept(&r, "tk_NTFYSECRET");
}

#[tokio::test]
async fn ntfy_takes_a_fixed_priority_by_word_and_refuses_a_wrong_one() {
    let r = receiver("name: ops\nntfy_configs:\n  - topic: t\n    priority: low\n");
    let body: serde_json::Value =
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap();
    assert_eq!(body["priority"], 2);
    let e = serde_norway::from_str::<ReceiverConfig>(
        "name: ops\nntfy_configs:\n  - topic: t\n    priority: 9\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not an ntfy priority"), "{e}");
}

#[tokio::test]
async fn pushover_posts_a_form_with_token_and_user_and_emergency_priority_when_firing() {
    let fake = FakeServer::start().await;
    fake.answer(200, "{\"status\":1,\"request\":\"r1\"}");
    let r = receiver(&format!(
        "name: ops\npushover_configs:\n  - user_key: USERSECRET\n    token: APPSECRET\n    api_url: {}\n    sound: siren\n",
        fake.url("/1/messages.json")
    ));
    assert_eq!(r.integration(), "pushover");
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/1/messages.json");
    assert_eq!(
        reqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = |body: &str| -> std::collections::BTreeMap<String, String> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    };
    let firing = form(&reqs[0].body);
    assert_eq!(firing["token"], "APPSECRET");
    assert_eq!(firing["user"], "USERSECRET");
    assert_eq!(firing["title"], "[FIRING:2] MonitorDown on invoice-bot");
    assert_eq!(firing["priority"], "2");
    assert_eq!(firing["retry"], "60");
    assert_eq!(firing["expire"], "3600");
    assert_eq!(firing["sound"], "siren");
    assert_eq!(firing["html"], "1");
    assert_eq!(firing["url"], "https://pharos.example.com/ack/3f9a2c");
    assert!(firing["message"].contains("Invoice bot is not responding"));
    assert!(firing["message"].chars().count() <= 1024);
    let resolved = form(&reqs[1].body);
    assert_eq!(resolved["priority"], "0");
    assert!(!resolved.contains_key("retry"));
    assert!(resolved["title"].starts_with("[RESOLVED]"));
    assert_secret_kept(&r, "APPSECRET");
    assert_secret_kept(&r, "USERSECRET");
}

#[tokio::test]
async fn opsgenie_creates_an_alert_when_firing_and_closes_it_by_alias_when_resolved() {
    let fake = FakeServer::start().await;
    fake.answer(202, "{\"result\":\"Request will be processed\"}");
    fake.answer(202, "{\"result\":\"Request will be processed\"}");
    let r = receiver(&format!(
        "name: ops\nopsgenie_configs:\n  - api_key: OPSGENIESECRET\n    api_url: {}/\n    responders:\n      - name: sre\n        type: team\n    tags: 'prod, billing'\n",
        fake.url("")
    ));
    assert_eq!(r.integration(), "opsgenie");
    assert_eq!(deliver(&r, &firing_group()).await, 202);
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    let alias = pharos_notify::receivers::opsgenie::alias(&firing_group().group_key);
    assert_eq!(alias.len(), 64);

    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v2/alerts");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(
        reqs[0].header("authorization"),
        Some("GenieKey OPSGENIESECRET")
    );
    let create = reqs[0].json();
    assert_eq!(create["alias"], alias.as_str());
    assert_eq!(create["message"], "[FIRING:2] MonitorDown on invoice-bot");
    assert_eq!(create["priority"], "P1");
    assert_eq!(create["source"], "Pharos");
    assert_eq!(create["details"]["monitor"], "invoice-bot");
    assert_eq!(
        create["responders"],
        serde_json::json!([{ "name": "sre", "type": "team" }])
    );
    assert_eq!(create["tags"], serde_json::json!(["prod", "billing"]));
    assert!(
        create["description"]
            .as_str()
            .unwrap()
            .contains("GET /health timed out")
    );

    assert_eq!(reqs[1].method, "POST");
    assert_eq!(
        reqs[1].path,
        format!("/v2/alerts/{alias}/close?identifierType=alias")
    );
    assert_eq!(
        reqs[1].header("authorization"),
        Some("GenieKey OPSGENIESECRET")
    );
    assert_eq!(reqs[1].json()["source"], "Pharos");
    insta::assert_snapshot!("opsgenie_create", pretty(&reqs[0].body));
    assert_secret_kept(&r, "OPSGENIESECRET");

    let e = serde_norway::from_str::<ReceiverConfig>(
        "name: ops\nopsgenie_configs:\n  - api_key: k\n    priority: urgent\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("P1 to P5"), "{e}");
}

#[tokio::test]
async fn mattermost_gets_a_coloured_attachment_on_its_webhook() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nmattermost_configs:\n  - webhook_url: {}\n    channel: ops-alerts\n    username: pharos\n",
        fake.url("/hooks/MMSECRETKEY")
    ));
    assert_eq!(r.integration(), "mattermost");
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/hooks/MMSECRETKEY");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    let body = reqs[0].json();
    assert_eq!(body["channel"], "ops-alerts");
    assert_eq!(body["username"], "pharos");
    let a = &body["attachments"][0];
    assert_eq!(a["color"], "#FF0000");
    assert_eq!(a["title"], "[FIRING:2] MonitorDown on invoice-bot");
    assert_eq!(a["title_link"], "https://pharos.example.com/alerts");
    assert!(
        a["text"]
            .as_str()
            .unwrap()
            .contains("Invoice bot is not responding")
    );
    assert_eq!(reqs[1].json()["attachments"][0]["color"], "#2EB886");
    insta::assert_snapshot!("mattermost_firing", pretty(&reqs[0].body));
    assert_secret_kept(&r, "MMSECRETKEY");
}

#[tokio::test]
async fn google_chat_posts_text_threaded_by_group() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\ngooglechat_configs:\n  - url: '{}'\n",
        fake.url("/v1/spaces/AAAA/messages?key=GCKEY&token=GCSECRETTOKEN")
    ));
    assert_eq!(r.integration(), "googlechat");
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].path,
        "/v1/spaces/AAAA/messages?key=GCKEY&token=GCSECRETTOKEN&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
    );
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    let body = reqs[0].json();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("🔴 *[FIRING:2] MonitorDown on invoice-bot*"),
        "{text}"
    );
    assert!(
        text.contains("<https://pharos.example.com/ack/3f9a2c|"),
        "{text}"
    );
    let thread = body["thread"]["threadKey"].as_str().unwrap();
    assert_eq!(reqs[1].json()["thread"]["threadKey"], thread);
    assert!(reqs[1].json()["text"].as_str().unwrap().starts_with("✅ "));
    insta::assert_snapshot!("googlechat_firing_text", text);
    assert_secret_kept(&r, "GCSECRETTOKEN");

    let unthreaded = receiver(&format!(
        "name: ops\ngooglechat_configs:\n  - url: '{}'\n    threaded: false\n",
        fake.url("/v1/spaces/AAAA/messages?key=K&token=T")
    ));
    deliver(&unthreaded, &firing_group()).await;
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.path, "/v1/spaces/AAAA/messages?key=K&token=T");
    assert!(last.json().get("thread").is_none());
}

#[tokio::test]
async fn matrix_puts_a_room_message_with_a_stable_transaction_id() {
    let fake = FakeServer::start().await;
    fake.answer(500, "{\"errcode\":\"M_UNKNOWN\"}");
    let r = receiver(&format!(
        "name: ops\nmatrix_configs:\n  - homeserver_url: {}\n    room_id: '!AbCdEf:example.com'\n    access_token: syt_MATRIXSECRET\n",
        fake.url("")
    ));
    assert_eq!(r.integration(), "matrix");
    let payload = r.payload_for(&firing_group()).unwrap();
    // The first try fails; the retry sends the same transaction id, so the homeserver
    // can tell a repeat from a new message.
    let (first, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert!(first.is_err());
    let (second, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert_eq!(second.unwrap(), 200);
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "PUT");
    let prefix = "/_matrix/client/v3/rooms/!AbCdEf:example.com/send/m.room.message/";
    assert!(reqs[0].path.starts_with(prefix), "{}", reqs[0].path);
    let txn = &reqs[0].path[prefix.len()..];
    assert!(txn.starts_with("pharos-"), "{txn}");
    assert_eq!(reqs[1].path, reqs[0].path);
    assert!(reqs[2].path.starts_with(prefix));
    assert_ne!(reqs[2].path, reqs[0].path);
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer syt_MATRIXSECRET")
    );
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    let body = reqs[0].json();
    assert_eq!(body["msgtype"], "m.text");
    assert_eq!(body["format"], "org.matrix.custom.html");
    assert!(
        body["body"]
            .as_str()
            .unwrap()
            .starts_with("🔴 [FIRING:2] MonitorDown on invoice-bot")
    );
    assert!(
        body["formatted_body"]
            .as_str()
            .unwrap()
            .starts_with("🔴 <b>[FIRING:2] MonitorDown on invoice-bot</b>")
    );
    assert!(reqs[2].json()["body"].as_str().unwrap().starts_with("✅ "));
    assert_secret_kept(&r, "syt_MATRIXSECRET");

    let e = serde_norway::from_str::<ReceiverConfig>(
        "name: ops\nmatrix_configs:\n  - room_id: '#ops:example.com'\n    access_token: t\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a Matrix room id"), "{e}");
}

#[tokio::test]
async fn slack_title_and_text_are_alertmanager_templates() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nslack_configs:\n  - api_url: {}\n    title: '[{{{{ .Status | toUpper }}}}:{{{{ len .Alerts.Firing }}}}] {{{{ .CommonLabels.alertname }}}} ({{{{ .Receiver }}}})'\n    text: '{{{{ range .Alerts }}}}{{{{ .Labels.severity }}}}: {{{{ .Annotations.summary }}}}; {{{{ end }}}}{{{{ range .CommonLabels.SortedPairs }}}}{{{{ .Name }}}}={{{{ .Value }}}} {{{{ end }}}}'\n    color: '{{{{ if eq .Status \"firing\" }}}}danger{{{{ else }}}}good{{{{ end }}}}'\n    send_resolved: true\n",
        fake.url("/hook")
    ));
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    let a = &reqs[0].json()["attachments"][0];
    assert_eq!(a["title"], "[FIRING:2] MonitorDown (ops)");
    assert_eq!(
        a["text"],
        "critical: Invoice bot is not responding; warning: Webhook info answers 503; alertname=MonitorDown monitor=invoice-bot "
    );
    assert_eq!(a["color"], "danger");
    let resolved = &reqs[1].json()["attachments"][0];
    assert_eq!(resolved["title"], "[RESOLVED:0] MonitorDown (ops)");
    assert_eq!(resolved["color"], "good");
    // The API shows the template's source.
    assert_eq!(
        r.describe()["color"],
        "{{ if eq .Status \"firing\" }}danger{{ else }}good{{ end }}"
    );
}

#[tokio::test]
async fn a_template_that_fails_while_rendering_falls_back_to_pharos_text() {
    let r = receiver(
        "name: ops\nntfy_configs:\n  - topic: t\n    title: '{{ (index .Alerts 7).Status }}'\n    message: 'fine {{ .Status }}'\n",
    );
    let body: serde_json::Value =
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap();
    assert_eq!(body["title"], "[FIRING:2] MonitorDown on invoice-bot");
    assert_eq!(body["message"], "fine firing");
}

#[tokio::test]
async fn opsgenie_and_pushover_fields_are_templates() {
    let r = receiver(
        "name: ops\nopsgenie_configs:\n  - api_key: k\n    message: '{{ .CommonLabels.monitor }} is down'\n    description: '{{ .CommonAnnotations.runbook_url }}'\n    source: '{{ .ExternalURL }}'\n",
    );
    let req: serde_json::Value =
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap();
    assert_eq!(req["body"]["message"], "invoice-bot is down");
    assert_eq!(
        req["body"]["description"],
        "https://wiki.example.com/runbooks/invoice-bot"
    );
    assert_eq!(req["body"]["source"], "https://pharos.example.com");
    let r = receiver(
        "name: ops\npushover_configs:\n  - user_key: u\n    token: t\n    title: '{{ .Status }} {{ .GroupLabels.alertname }}'\n",
    );
    let params: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&r.payload_for(&resolved_group()).unwrap()).unwrap();
    assert_eq!(params["title"], "resolved MonitorDown");
    assert_eq!(params["html"], "1");
    let r = receiver(
        "name: ops\npushover_configs:\n  - user_key: u\n    token: t\n    message: '<b>{{ .Status }}</b>'\n    html: true\n",
    );
    let params: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap();
    assert_eq!(params["message"], "<b>firing</b>");
    assert_eq!(params["html"], "1");
}

#[tokio::test]
async fn webhook_body_template_sends_a_custom_json_body() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\nwebhook_configs:\n  - url: {}\n    body_template: |\n      {{\"title\": {{{{ toJson .CommonLabels.alertname }}}}, \"status\": {{{{ toJson .Status }}}}, \"firing\": {{{{ len .Alerts.Firing }}}}, \"summaries\": [{{{{ range $i, $a := .Alerts }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ toJson $a.Annotations.description }}}}{{{{ end }}}}], \"labels\": {{{{ toJson .GroupLabels }}}}, \"ack\": {{{{ toJson .AckURL }}}}}}\n",
        fake.url("/custom")
    ));
    deliver(&r, &firing_group()).await;
    let req = fake.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/custom");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        serde_json::json!({
            "title": "MonitorDown",
            "status": "firing",
            "firing": 2,
            "summaries": ["GET /health timed out after 10s (3 checks in a row)", ""],
            "labels": {"alertname": "MonitorDown"},
            "ack": "https://pharos.example.com/ack/3f9a2c",
        })
    );
}

#[tokio::test]
async fn webhook_body_template_that_fails_sends_the_alertmanager_payload() {
    let r = receiver(
        "name: ops\nwebhook_configs:\n  - url: http://127.0.0.1:9/x\n    body_template: '{{ (index .Alerts 9).Status }}'\n",
    );
    let body: serde_json::Value =
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap();
    assert_eq!(body["version"], "4");
}

#[tokio::test]
async fn discord_teams_and_telegram_take_alertmanager_templates() {
    let json = |r: &Arc<dyn Receiver>| -> serde_json::Value {
        serde_json::from_str(&r.payload_for(&firing_group()).unwrap()).unwrap()
    };
    let discord = receiver(
        "name: ops\ndiscord_configs:\n  - webhook_url: https://discord.example/x\n    title: '{{ .Status }}: {{ .CommonLabels.alertname }}'\n    message: '{{ len .Alerts }} alerts'\n",
    );
    let embed = &json(&discord)["embeds"][0];
    assert_eq!(embed["title"], "firing: MonitorDown");
    assert_eq!(embed["description"], "2 alerts");
    let teams = receiver(
        "name: ops\nmsteams_configs:\n  - webhook_url: https://teams.example/x\n    title: 'T {{ .GroupLabels.alertname }}'\n    summary: 'S {{ .Status }}'\n    text: '{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}'\n",
    );
    let card = json(&teams);
    assert_eq!(card["title"], "T MonitorDown");
    assert_eq!(card["summary"], "S firing");
    assert_eq!(
        card["text"],
        "https://bot.example.com/health https://bot.example.com/webhook-info "
    );

    let fake = FakeServer::start().await;
    let telegram = receiver(&format!(
        "name: ops\ntelegram_configs:\n  - bot_token: 't0k'\n    chat_id: 42\n    api_url: {}\n    message: '<b>{{{{ .Status | toUpper }}}}</b> {{{{ .CommonAnnotations.runbook_url }}}}'\n",
        fake.url("")
    ));
    deliver(&telegram, &firing_group()).await;
    let req = fake.only_request();
    assert_eq!(req.path, "/bott0k/sendMessage");
    assert_eq!(
        req.json()["text"],
        "<b>FIRING</b> https://wiki.example.com/runbooks/invoice-bot"
    );
    assert_eq!(req.json()["parse_mode"], "HTML");
}

#[tokio::test]
async fn pagerduty_description_client_and_details_are_templates() {
    let fake = FakeServer::start().await;
    let r = receiver(&format!(
        "name: ops\npagerduty_configs:\n  - routing_key: k\n    url: {}\n    description: '{{{{ template \"pagerduty.default.description\" . }}}}'\n    client: 'Pharos ({{{{ .Receiver }}}})'\n    client_url: '{{{{ .ExternalURL }}}}/alerts'\n    source: '{{{{ .CommonLabels.monitor }}}}-host'\n    details:\n      firing: '{{{{ template \"pagerduty.default.instances\" .Alerts.Firing }}}}'\n      team: payments\n",
        fake.url("/v2/enqueue")
    ));
    deliver(&r, &firing_group()).await;
    let e = fake.only_request().json();
    assert_eq!(
        e["payload"]["summary"],
        "[FIRING:2] MonitorDown (invoice-bot)"
    );
    assert_eq!(e["payload"]["source"], "invoice-bot-host");
    assert_eq!(e["client"], "Pharos (ops)");
    assert_eq!(e["client_url"], "https://pharos.example.com/alerts");
    assert_eq!(e["payload"]["custom_details"]["team"], "payments");
    let firing = e["payload"]["custom_details"]["firing"].as_str().unwrap();
    assert!(
        firing.starts_with("Labels:\n - alertname = MonitorDown\n"),
        "{firing}"
    );
    // The API shows the sources.
    assert_eq!(r.describe()["client"], "Pharos ({{ .Receiver }})");
}

#[tokio::test]
async fn matrix_whatsapp_and_twilio_messages_are_templates() {
    let fake = FakeServer::start().await;
    let matrix = receiver(&format!(
        "name: ops\nmatrix_configs:\n  - homeserver_url: {}\n    room_id: '!AbCdEf:example.com'\n    access_token: t\n    message: '{{{{ .Status }}}}: {{{{ .CommonLabels.monitor }}}}'\n",
        fake.url("")
    ));
    deliver(&matrix, &firing_group()).await;
    let body = fake.only_request().json();
    assert_eq!(body["body"], "firing: invoice-bot");
    assert!(body.get("formatted_body").is_none(), "{body}");
    let fake = FakeServer::start().await;
    let matrix = receiver(&format!(
        "name: ops\nmatrix_configs:\n  - homeserver_url: {}\n    room_id: '!AbCdEf:example.com'\n    access_token: t\n    message: 'plain'\n    html: '<b>{{{{ .Status }}}}</b>'\n",
        fake.url("")
    ));
    deliver(&matrix, &firing_group()).await;
    let body = fake.only_request().json();
    assert_eq!(body["body"], "plain");
    assert_eq!(body["format"], "org.matrix.custom.html");
    assert_eq!(body["formatted_body"], "<b>firing</b>");

    let fake = FakeServer::start().await;
    let whatsapp = receiver(&format!(
        "name: ops\nwhatsapp_configs:\n  - phone_number_id: '1'\n    access_token: t\n    to: '+4915112345678'\n    api_url: {}\n    message: '*{{{{ .CommonLabels.alertname }}}}* {{{{ len .Alerts.Firing }}}} firing'\n",
        fake.url("")
    ));
    deliver(&whatsapp, &firing_group()).await;
    assert_eq!(
        fake.only_request().json()["text"]["body"],
        "*MonitorDown* 2 firing"
    );

    let fake = FakeServer::start().await;
    fake.answer(201, "{}");
    let twilio = receiver(&format!(
        "name: ops\ntwilio_configs:\n  - account_sid: AC1\n    auth_token: t\n    from: '+15017122661'\n    to: '+15558675310'\n    api_url: {}\n    message: '{{{{ .Status | toUpper }}}} {{{{ .CommonLabels.monitor }}}} {{{{ .AckURL }}}}'\n",
        fake.url("")
    ));
    deliver(&twilio, &firing_group()).await;
    let req = fake.only_request();
    let body: String = url::form_urlencoded::parse(req.body.as_bytes())
        .find(|(k, _)| k == "Body")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        body,
        "FIRING invoice-bot https://pharos.example.com/ack/3f9a2c"
    );
}
