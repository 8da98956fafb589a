//! An Uptime Kuma backup (`{"version", "notificationList", "monitorList"}`, as its
//! Settings → Backup exports it): monitors by type, their groups, tags and retries, and
//! the notifications they use as receivers with a route per monitor.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value;

use super::{Imported, duration, map};

#[derive(Deserialize)]
struct Backup {
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "notificationList")]
    notifications: Vec<Notification>,
    #[serde(default, rename = "monitorList")]
    monitors: Vec<Json>,
}

#[derive(Deserialize)]
struct Notification {
    id: i64,
    name: String,
    /// The notification's settings, a JSON document in a string.
    config: String,
    #[serde(default, rename = "isDefault")]
    is_default: Option<Json>,
}

pub fn convert(text: &str) -> Result<Imported, String> {
    let backup: Backup = serde_json::from_str(text)
        .map_err(|e| format!("not an Uptime Kuma backup (JSON with monitorList): {e}"))?;
    let mut out = Imported::default();
    if let Some(v) = &backup.version {
        out.notes.push(format!("an Uptime Kuma {v} backup"));
    }
    let mut receivers: BTreeMap<i64, String> = BTreeMap::new();
    let mut receiver_configs = Vec::new();
    let mut default_receivers = Vec::new();
    for n in &backup.notifications {
        let config: Json = serde_json::from_str(&n.config).unwrap_or_default();
        for (field, what) in [
            ("smtpSecure", "TLS mode (smtpSecure)"),
            ("ntfyAuthenticationMethod", "authentication"),
            ("ntfyusername", "user name and password"),
            ("webhookAdditionalHeaders", "extra headers"),
            (
                "webhookContentType",
                "content type (Pharos sends Alertmanager's JSON)",
            ),
        ] {
            let set = match &config[field] {
                Json::String(v) => !v.is_empty() && v != "none" && v != "json",
                Json::Bool(b) => *b,
                Json::Null => false,
                _ => true,
            };
            if set {
                out.not_carried(format!("notification \"{}\": its {what}", n.name));
            }
        }
        match receiver(&mut out, &n.name, &config) {
            Some(r) => {
                receivers.insert(n.id, n.name.clone());
                if n.is_default.as_ref().is_some_and(truthy) {
                    default_receivers.push(n.name.clone());
                }
                receiver_configs.push(r);
            }
            None => out.not_carried(format!(
                "notification \"{}\" of type {}: no such receiver in Pharos",
                n.name,
                config["type"].as_str().unwrap_or("?")
            )),
        }
    }
    let groups: BTreeMap<i64, String> = backup
        .monitors
        .iter()
        .filter(|m| m["type"] == "group")
        .filter_map(|m| Some((m["id"].as_i64()?, m["name"].as_str()?.to_string())))
        .collect();
    let mut monitors = Vec::new();
    let mut routes = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for m in &backup.monitors {
        let name = m["name"].as_str().unwrap_or("unnamed").to_string();
        let kind = m["type"].as_str().unwrap_or("?");
        if kind == "group" {
            continue;
        }
        let Some(check) = check(&mut out, &name, kind, m) else {
            continue;
        };
        let id = unique_id(&mut ids, &name);
        let mut monitor = map([
            ("name", Value::String(name.clone())),
            ("id", Value::String(id.clone())),
            (
                "interval",
                m["interval"].as_u64().map(duration).unwrap_or(Value::Null),
            ),
            (
                "failures_before_down",
                m["maxretries"]
                    .as_u64()
                    .map(|n| Value::from(n + 1))
                    .unwrap_or(Value::Null),
            ),
            ("description", string(&m["description"])),
            (
                "group",
                m["parent"]
                    .as_i64()
                    .and_then(|p| groups.get(&p))
                    .map(|g| Value::String(g.clone()))
                    .unwrap_or(Value::Null),
            ),
            ("tags", tags(&m["tags"])),
            (
                "paused",
                if m["active"].as_bool() == Some(false) || m["active"] == 0 {
                    Value::Bool(true)
                } else {
                    Value::Null
                },
            ),
        ]);
        if let Value::Mapping(mm) = &mut monitor {
            mm.insert(Value::String(check.0.into()), check.1);
        }
        if truthy(&m["upsideDown"]) {
            out.not_carried(format!(
                "monitor \"{name}\": upside-down mode (up when the check fails)"
            ));
        }
        // Pharos checks at one interval and notifies through routes' repeat_interval.
        let interval = m["interval"].as_u64();
        if m["retryInterval"]
            .as_u64()
            .is_some_and(|r| Some(r) != interval)
        {
            out.not_carried(format!(
                "monitor \"{name}\": its retry interval (Pharos re-checks at the interval)"
            ));
        }
        if m["resendInterval"].as_u64().is_some_and(|r| r > 0) {
            out.not_carried(format!(
                "monitor \"{name}\": resending every {} checks (set the route's repeat_interval)",
                m["resendInterval"]
            ));
        }
        monitors.push(super::hide_monitor_credentials(&mut out, monitor));
        let used: Vec<String> = m["notificationIDList"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, on)| truthy(on))
                    .filter_map(|(k, _)| {
                        k.parse::<i64>()
                            .ok()
                            .and_then(|k| receivers.get(&k))
                            .cloned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        for receiver in used {
            routes.push(map([
                (
                    "matchers",
                    Value::Sequence(vec![Value::String(format!("monitor=\"{id}\""))]),
                ),
                ("receiver", Value::String(receiver)),
                ("continue", Value::Bool(true)),
            ]));
        }
    }
    if !monitors.is_empty() {
        out.section("monitors", Value::Sequence(monitors));
    }
    if !receiver_configs.is_empty() {
        let fallback = default_receivers.first().cloned();
        receiver_configs.push(map([("name", Value::String("kuma-none".into()))]));
        out.section("receivers", Value::Sequence(receiver_configs));
        out.section(
            "route",
            map([
                (
                    "receiver",
                    Value::String(fallback.unwrap_or_else(|| "kuma-none".into())),
                ),
                (
                    "group_by",
                    Value::Sequence(vec![Value::String("monitor".into())]),
                ),
                ("routes", Value::Sequence(routes)),
            ]),
        );
    }
    Ok(out)
}

/// The check a monitor type maps to, as the key and value of the monitor's check field.
fn check(out: &mut Imported, name: &str, kind: &str, m: &Json) -> Option<(&'static str, Value)> {
    let timeout = m["timeout"]
        .as_f64()
        .filter(|t| *t > 0.0)
        .map(|t| duration(t.ceil() as u64))
        .unwrap_or(Value::Null);
    match kind {
        "http" | "keyword" | "json-query" => {
            let mut headers = serde_norway::Mapping::new();
            if let Some(h) = m["headers"]
                .as_str()
                .and_then(|h| serde_json::from_str::<serde_json::Map<String, Json>>(h).ok())
            {
                for (k, v) in h {
                    let value = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    headers.insert(Value::String(k), Value::String(value));
                }
            }
            // Kuma sends the credentials as Basic only with that method (older backups
            // have no method and mean Basic); NTLM and OAuth have no match in Pharos.
            match m["authMethod"].as_str() {
                Some("ntlm") | Some("oauth2-cc") => out.not_carried(format!(
                    "monitor \"{name}\": {} authentication",
                    m["authMethod"].as_str().unwrap_or_default()
                )),
                Some("basic") | None | Some("") => {
                    if let (Some(user), Some(pass)) = (
                        m["basic_auth_user"].as_str().filter(|u| !u.is_empty()),
                        m["basic_auth_pass"].as_str(),
                    ) {
                        use base64::Engine;
                        let token = base64::engine::general_purpose::STANDARD
                            .encode(format!("{user}:{pass}"));
                        headers.insert(
                            Value::String("Authorization".into()),
                            Value::String(format!("Basic {token}")),
                        );
                    }
                }
                Some(other) => {
                    out.not_carried(format!("monitor \"{name}\": {other} authentication"))
                }
            }
            let mut keyword = Value::Null;
            let mut keyword_absent = Value::Null;
            if kind == "keyword" {
                let k = string(&m["keyword"]);
                if truthy(&m["invertKeyword"]) {
                    keyword_absent = k;
                } else {
                    keyword = k;
                }
            }
            let mut assertions = Value::Null;
            if kind == "json-query" {
                let path = m["jsonPath"].as_str().unwrap_or_default();
                let expected = m["expectedValue"].as_str().unwrap_or_default();
                let simple = !path.is_empty()
                    && path
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.".contains(c));
                if simple {
                    let literal = if expected.parse::<f64>().is_ok()
                        || expected == "true"
                        || expected == "false"
                    {
                        expected.to_string()
                    } else {
                        format!("{expected:?}")
                    };
                    assertions =
                        Value::Sequence(vec![Value::String(format!("{path} == {literal}"))]);
                } else {
                    out.not_carried(format!("monitor \"{name}\": JSON query {path:?} (JSONata; Pharos asserts dotted paths): carried as a plain HTTP check"));
                }
            }
            let expected: Vec<Value> = m["accepted_statuscodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str())
                        .map(|c| Value::String(c.into()))
                        .collect()
                })
                .unwrap_or_default();
            if m["proxyId"].as_i64().is_some() {
                out.not_carried(format!(
                    "monitor \"{name}\": its proxy (set http.proxy_url by hand)"
                ));
            }
            Some((
                "http",
                map([
                    ("url", string(&m["url"])),
                    (
                        "method",
                        m["method"]
                            .as_str()
                            .filter(|v| !v.eq_ignore_ascii_case("GET"))
                            .map(|v| Value::String(v.to_ascii_uppercase()))
                            .unwrap_or(Value::Null),
                    ),
                    (
                        "headers",
                        if headers.is_empty() {
                            Value::Null
                        } else {
                            Value::Mapping(headers)
                        },
                    ),
                    (
                        "body",
                        m["body"]
                            .as_str()
                            .filter(|b| !b.is_empty())
                            .map(|b| Value::String(b.into()))
                            .unwrap_or(Value::Null),
                    ),
                    ("timeout", timeout),
                    (
                        "follow_redirects",
                        if m["maxredirects"] == 0 {
                            Value::Bool(false)
                        } else {
                            Value::Null
                        },
                    ),
                    (
                        "expected_status",
                        if expected.is_empty() {
                            Value::Null
                        } else {
                            Value::Sequence(expected)
                        },
                    ),
                    ("keyword", keyword),
                    ("keyword_absent", keyword_absent),
                    ("json_assertions", assertions),
                    (
                        "tls_skip_verify",
                        if truthy(&m["ignoreTls"]) {
                            Value::Bool(true)
                        } else {
                            Value::Null
                        },
                    ),
                    (
                        "tls_expiry_warning_days",
                        if truthy(&m["expiryNotification"]) {
                            Value::from(14)
                        } else {
                            Value::Null
                        },
                    ),
                ]),
            ))
        }
        "port" => Some((
            "tcp",
            map([
                (
                    "address",
                    Value::String(format!(
                        "{}:{}",
                        m["hostname"].as_str().unwrap_or_default(),
                        m["port"].as_u64().unwrap_or_default()
                    )),
                ),
                ("timeout", timeout),
            ]),
        )),
        "ping" => Some(("icmp", map([("host", string(&m["hostname"]))]))),
        "dns" => {
            let port = m["port"].as_u64().filter(|p| *p != 53);
            let resolver = m["dns_resolve_server"].as_str().map(|s| match port {
                Some(p) => Value::String(format!("{s}:{p}")),
                None => Value::String(s.into()),
            });
            Some((
                "dns",
                map([
                    ("name", string(&m["hostname"])),
                    ("record_type", string(&m["dns_resolve_type"])),
                    ("resolver", resolver.unwrap_or(Value::Null)),
                ]),
            ))
        }
        "push" => {
            let period = m["interval"].as_u64().unwrap_or(60);
            out.notes.push(format!(
                "monitor \"{name}\": a push monitor is a heartbeat; its clients now request <pharos>/ping/<token> instead of /api/push/<token>, and <pharos>/ping/<token>/fail instead of ?status=down"
            ));
            Some((
                "heartbeat",
                map([
                    ("period", duration(period)),
                    (
                        "grace",
                        duration(m["retryInterval"].as_u64().unwrap_or(period).max(1)),
                    ),
                    ("token", string(&m["pushToken"])),
                ]),
            ))
        }
        "grpc-keyword" => {
            out.not_carried(format!("monitor \"{name}\": gRPC keyword checks (Pharos checks gRPC health instead; add a grpc monitor by hand)"));
            None
        }
        other => {
            out.not_carried(format!(
                "monitor \"{name}\" of type {other}: no such monitor in Pharos"
            ));
            None
        }
    }
}

/// A notification as a receiver, its secrets kept out of the config.
fn receiver(out: &mut Imported, name: &str, c: &Json) -> Option<Value> {
    let s = |k: &str| c[k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
    let mut secret = |what: &str, value: Option<String>| {
        value.map(|v| Value::String(out.secret(&format!("{name}_{what}"), &v)))
    };
    let (key, config) = match c["type"].as_str()? {
        "telegram" => (
            "telegram_configs",
            map([
                ("bot_token", secret("bot_token", s("telegramBotToken"))?),
                ("chat_id", Value::String(s("telegramChatID")?)),
            ]),
        ),
        "slack" => (
            "slack_configs",
            map([
                ("api_url", secret("webhook_url", s("slackwebhookURL"))?),
                (
                    "channel",
                    s("slackchannel").map(Value::String).unwrap_or(Value::Null),
                ),
            ]),
        ),
        "discord" => (
            "discord_configs",
            map([(
                "webhook_url",
                secret("webhook_url", s("discordWebhookUrl"))?,
            )]),
        ),
        "teams" => (
            "msteams_configs",
            map([("webhook_url", secret("webhook_url", s("webhookUrl"))?)]),
        ),
        "mattermost" => (
            "mattermost_configs",
            map([
                (
                    "webhook_url",
                    secret("webhook_url", s("mattermostWebhookUrl"))?,
                ),
                (
                    "channel",
                    s("mattermostchannel")
                        .map(Value::String)
                        .unwrap_or(Value::Null),
                ),
            ]),
        ),
        "webhook" => (
            "webhook_configs",
            map([("url", secret("url", s("webhookURL"))?)]),
        ),
        "pagerduty" => (
            "pagerduty_configs",
            map([(
                "routing_key",
                secret("routing_key", s("pagerdutyIntegrationKey"))?,
            )]),
        ),
        "pushover" => (
            "pushover_configs",
            map([
                ("user_key", secret("user_key", s("pushoveruserkey"))?),
                ("token", secret("app_token", s("pushoverapptoken"))?),
            ]),
        ),
        "ntfy" => (
            "ntfy_configs",
            map([
                (
                    "url",
                    Value::String(s("ntfyserverurl").unwrap_or_else(|| "https://ntfy.sh".into())),
                ),
                ("topic", Value::String(s("ntfytopic")?)),
                (
                    "token",
                    secret("token", s("ntfyaccesstoken")).unwrap_or(Value::Null),
                ),
            ]),
        ),
        "smtp" => {
            let port = c["smtpPort"].as_u64().unwrap_or(587);
            (
                "email_configs",
                map([
                    ("to", Value::String(s("smtpTo")?)),
                    ("from", Value::String(s("smtpFrom")?)),
                    (
                        "smarthost",
                        Value::String(format!("{}:{port}", s("smtpHost")?)),
                    ),
                    (
                        "auth_username",
                        s("smtpUsername").map(Value::String).unwrap_or(Value::Null),
                    ),
                    (
                        "auth_password",
                        secret("smtp_password", s("smtpPassword")).unwrap_or(Value::Null),
                    ),
                ]),
            )
        }
        "matrix" => (
            "matrix_configs",
            map([
                ("homeserver_url", Value::String(s("homeserverUrl")?)),
                ("room_id", Value::String(s("internalRoomId")?)),
                ("access_token", secret("access_token", s("accessToken"))?),
            ]),
        ),
        _ => return None,
    };
    Some(map([
        ("name", Value::String(name.to_string())),
        (key, Value::Sequence(vec![config])),
    ]))
}

fn unique_id(taken: &mut std::collections::HashSet<String>, name: &str) -> String {
    let mut base: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base = base
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if base.is_empty() {
        base = "monitor".into();
    }
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn tags(tags: &Json) -> Value {
    let list: Vec<Value> = tags
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    let name = t["name"].as_str()?;
                    Some(match t["value"].as_str().filter(|v| !v.is_empty()) {
                        Some(v) => Value::String(format!("{name}:{v}")),
                        None => Value::String(name.into()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        Value::Null
    } else {
        Value::Sequence(list)
    }
}

fn string(v: &Json) -> Value {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.into()))
        .unwrap_or(Value::Null)
}

/// Uptime Kuma stores booleans as `true`, `1` or `"1"` depending on the database.
fn truthy(v: &Json) -> bool {
    matches!(v, Json::Bool(true)) || v.as_i64() == Some(1) || v.as_str() == Some("1")
}
