//! A healthchecks.io API export (`GET /api/v3/checks/`: `{"checks": [...]}`): each check
//! a heartbeat monitor with its period or cron schedule and time zone, grace, tags and
//! description, keeping the UUID of its ping URL as the token so a job only changes host.

use serde_json::Value as Json;
use serde_norway::Value;

use super::{Imported, duration, map};

pub fn convert(text: &str) -> Result<Imported, String> {
    let export: Json = serde_json::from_str(text)
        .map_err(|e| format!("not a healthchecks.io API export (JSON): {e}"))?;
    let checks = export["checks"]
        .as_array()
        .ok_or("not a healthchecks.io API export: no \"checks\" list (save the answer of GET /api/v3/checks/)")?;
    let mut out = Imported::default();
    let mut monitors = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for c in checks {
        let name = c["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or("unnamed")
            .to_string();
        let grace = c["grace"].as_u64().unwrap_or(3600);
        let (period, schedule, timezone) = match c["schedule"].as_str().filter(|s| !s.is_empty()) {
            Some(cron) => (
                Value::Null,
                Value::String(cron.into()),
                c["tz"]
                    .as_str()
                    .filter(|tz| *tz != "UTC")
                    .map(|tz| Value::String(tz.into()))
                    .unwrap_or(Value::Null),
            ),
            None => (
                duration(c["timeout"].as_u64().unwrap_or(86_400)),
                Value::Null,
                Value::Null,
            ),
        };
        // The UUID at the end of the ping URL; read-only keys export `unique_key` instead.
        let token = c["ping_url"]
            .as_str()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.into()));
        if token.is_none() {
            out.notes.push(format!(
                "check \"{name}\": no ping URL in the export (a read-only API key hides it): Pharos makes a new token"
            ));
        }
        for (field, what) in [
            ("start_kw", "start keywords"),
            ("success_kw", "success keywords"),
            ("failure_kw", "failure keywords"),
            ("subject", "email subject filter"),
            ("subject_fail", "email failure subject filter"),
        ] {
            if c[field].as_str().is_some_and(|v| !v.is_empty()) {
                out.not_carried(format!("check \"{name}\": {what} ({field})"));
            }
        }
        if c["methods"] == "POST" {
            out.not_carried(format!(
                "check \"{name}\": only POST counts as a ping (Pharos takes every method)"
            ));
        }
        let slug = c["slug"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(&name);
        let id = unique_id(&mut ids, slug);
        let tags: Vec<Value> = c["tags"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .map(|t| Value::String(t.into()))
            .collect();
        let monitor = map([
            ("name", Value::String(name.clone())),
            ("id", Value::String(id)),
            (
                "description",
                c["desc"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(|d| Value::String(d.into()))
                    .unwrap_or(Value::Null),
            ),
            (
                "tags",
                if tags.is_empty() {
                    Value::Null
                } else {
                    Value::Sequence(tags)
                },
            ),
            (
                "paused",
                if c["status"] == "paused" {
                    Value::Bool(true)
                } else {
                    Value::Null
                },
            ),
            (
                "heartbeat",
                map([
                    ("period", period),
                    ("schedule", schedule),
                    ("timezone", timezone),
                    ("grace", duration(grace)),
                    ("token", token.unwrap_or(Value::Null)),
                ]),
            ),
        ]);
        monitors.push(super::hide_monitor_credentials(&mut out, monitor));
    }
    if checks
        .iter()
        .any(|c| c["channels"].as_str().is_some_and(|v| !v.is_empty()))
    {
        out.not_carried(
            "the checks' integrations (channels): the API export names them without their settings; add receivers by hand",
        );
    }
    out.section("monitors", Value::Sequence(monitors));
    Ok(out)
}

fn unique_id(taken: &mut std::collections::HashSet<String>, name: &str) -> String {
    let base: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let base = if base.is_empty() {
        "check".to_string()
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}
