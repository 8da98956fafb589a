//! The converters on documented inputs: what each carries, what it names as not carried,
//! and that the result checks as a Pharos config.

use super::*;

const KUMA: &str = include_str!("../../tests/fixtures/import/uptime-kuma-backup.json");
const HEALTHCHECKS: &str = include_str!("../../tests/fixtures/import/healthchecks-checks.json");

/// The written config, parsed as `pharos serve` would with the secrets in the environment.
fn check(imported: &Imported) -> crate::config::Config {
    let yaml = render("", imported).unwrap();
    let env = |name: &str| {
        imported
            .secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    crate::config::Config::parse(&yaml, Path::new("pharos.yaml"), &env)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

#[test]
fn an_uptime_kuma_backup_carries_every_monitor_or_names_it() {
    let imported = convert(Format::UptimeKuma, KUMA).unwrap();
    let config = check(&imported);
    let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "API health",
            "Shop keyword",
            "Maintenance banner",
            "Status JSON",
            "Postgres",
            "Router",
            "MX records",
            "Nightly job",
            "Admin panel"
        ]
    );
    let not = imported.not_carried.join("\n");
    assert!(not.contains("monitor \"Redis\" of type redis"), "{not}");
    assert!(
        not.contains("notification \"Gotify box\" of type gotify"),
        "{not}"
    );
    assert!(not.contains("\"Admin panel\": upside-down"), "{not}");
    assert!(not.contains("\"Nightly job\": its retry interval"), "{not}");
    assert!(
        !not.contains("\"Postgres\": its retry interval"),
        "same as the interval: {not}"
    );
    // Every monitor of the backup but its group is carried or named.
    let kuma: serde_json::Value = serde_json::from_str(KUMA).unwrap();
    for m in kuma["monitorList"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        assert!(
            m["type"] == "group" || names.contains(&name) || not.contains(&format!("\"{name}\"")),
            "{name} neither carried nor named"
        );
    }

    let api = &config.monitors[0];
    assert_eq!(api.group.as_deref(), Some("Backend"));
    assert_eq!(
        api.failures_before_down, 3,
        "maxretries 2: down on the third failure"
    );
    assert_eq!(api.tags, ["region:eu"]);
    let yaml = render("", &imported).unwrap();
    assert!(
        !yaml.contains("api-health-secret")
            && !yaml.contains("hunter2")
            && !yaml.contains("ABC-kuma-bot-token"),
        "secrets stay out of the config:\n{yaml}"
    );
    assert!(yaml.contains("keyword_absent: Maintenance"), "{yaml}");
    assert!(yaml.contains("database.status == \"ok\""), "{yaml}");
    assert!(
        !yaml.contains("Kum4PushT0ken"),
        "a heartbeat token is a credential:\n{yaml}"
    );
    assert!(
        imported.secrets.iter().any(|(_, v)| v == "Kum4PushT0ken"),
        "kept for the .env"
    );
    assert!(yaml.contains("paused: true"), "{yaml}");
    // Routes send each monitor to the notifications it used in Kuma.
    assert_eq!(
        config.receivers.len(),
        3,
        "Telegram, Slack and the catch-all"
    );
    assert!(
        yaml.contains("monitor=\\\"api-health\\\"") || yaml.contains("monitor=\"api-health\""),
        "{yaml}"
    );
}

#[test]
fn a_healthchecks_export_carries_periods_schedules_grace_and_tokens() {
    let imported = convert(Format::Healthchecks, HEALTHCHECKS).unwrap();
    let config = check(&imported);
    assert_eq!(config.monitors.len(), 3);
    let yaml = render("", &imported).unwrap();
    for expected in [
        "period: 1h",
        "grace: 10m",
        "schedule: 15 5 * * *",
        "timezone: Europe/Riga",
        "grace: 20m",
        "id: database-backup",
        "paused: true",
    ] {
        assert!(yaml.contains(expected), "{expected} in:\n{yaml}");
    }
    assert_eq!(config.monitors[0].tags, ["backup", "fs"]);
    assert!(!yaml.contains("31365bce"), "{yaml}");
    assert!(
        imported
            .secrets
            .iter()
            .any(|(_, v)| v == "31365bce-8da9-4729-8ff3-aaa71d56b712")
    );
    let not = imported.not_carried.join("\n");
    assert!(
        not.contains("\"Database Backup\": failure keywords"),
        "{not}"
    );
    assert!(not.contains("\"Database Backup\": only POST"), "{not}");
    assert!(not.contains("integrations"), "{not}");
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("\"Paused cron\": no ping URL")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn prometheus_and_alertmanager_configs_carry_their_sections_and_name_the_rest() {
    let imported = convert(
        Format::Prometheus,
        "global:\n  scrape_interval: 15s\nalerting:\n  alertmanagers: []\nremote_write:\n  - url: http://x\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n",
    )
    .unwrap();
    assert_eq!(check(&imported).scrape_configs.len(), 1);
    let not = imported.not_carried.join("\n");
    assert!(
        not.contains("alerting:") && not.contains("remote_write:"),
        "{not}"
    );

    let imported = convert(
        Format::Alertmanager,
        "global:\n  resolve_timeout: 5m\nroute:\n  receiver: web\nreceivers:\n  - name: web\n    webhook_configs:\n      - url: http://127.0.0.1:5001/\n",
    )
    .unwrap();
    assert_eq!(check(&imported).receivers.len(), 1);
    assert!(
        imported.not_carried.is_empty(),
        "{:?}",
        imported.not_carried
    );
    assert!(
        imported.sections.contains_key("global"),
        "Alertmanager's global defaults are read"
    );
}

/// Review finding: `${` in a value from the imported file was expanded from Pharos's
/// environment when the config loaded, so a monitor URL could carry out a secret.
#[test]
fn references_in_imported_values_stay_literal() {
    let export = r#"{"checks": [{"name": "x ${ADMIN_TOKEN}\nscrape_configs: []", "slug": "x", "tags": "", "desc": "${SMTP_PASSWORD}", "grace": 60, "timeout": 60, "status": "up", "channels": "", "ping_url": "https://hc-ping.com/abcdef0123"}]}"#;
    let imported = convert(Format::Healthchecks, export).unwrap();
    let yaml = render("", &imported).unwrap();
    assert!(yaml.contains("$${SMTP_PASSWORD}"), "{yaml}");
    let config = crate::config::Config::parse(&yaml, Path::new("pharos.yaml"), &|name: &str| {
        imported
            .secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| Some(format!("LEAKED-{name}")))
    })
    .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(
        config.monitors[0].description.as_deref(),
        Some("${SMTP_PASSWORD}")
    );
    assert!(!format!("{:?}", config.monitors).contains("LEAKED"));
    assert_eq!(
        comment_text("a\nscrape_configs: []\u{2028}b"),
        "a scrape_configs: [] b"
    );
}

#[test]
fn env_values_read_alike_by_systemd_and_the_shell() {
    assert_eq!(
        env_value(r#"it's "$HOME" `x` \ ok"#),
        r#""it's \"\$HOME\" \`x\` \\ ok""#
    );
    let mut imported = Imported::default();
    assert_eq!(
        imported.secret("pharos token", "x"),
        "${IMPORTED_PHAROS_TOKEN}",
        "never Pharos's own variables"
    );
}
