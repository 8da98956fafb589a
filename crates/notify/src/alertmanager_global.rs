//! Alertmanager's `global:` defaults for receivers (`smtp_smarthost`, `smtp_from`,
//! `slack_api_url`, `pagerduty_url`, `resolve_timeout`, …), applied as Alertmanager
//! applies them: to every integration of the matching kind that does not set the field
//! itself (a receiver's own field wins).
//!
//! In `pharos.yaml` these keys sit in the one `global:` section beside Prometheus's (the
//! two share no key), so both tools' files paste as they are. The defaults are filled in
//! before the receivers are read into types, so a receiver without `from` is valid when
//! `global.smtp_from` is set, and refused with a hint to it when not.

use std::collections::BTreeMap;

use pharos_model::HumanDuration;
use serde_norway::Value;

/// Global key → (integration list, field of each integration it is the default of).
const DEFAULTS: &[(&str, &str, &str)] = &[
    ("smtp_smarthost", "email_configs", "smarthost"),
    ("smtp_from", "email_configs", "from"),
    ("smtp_hello", "email_configs", "hello"),
    ("smtp_auth_username", "email_configs", "auth_username"),
    ("smtp_auth_password", "email_configs", "auth_password"),
    ("smtp_require_tls", "email_configs", "require_tls"),
    ("smtp_tls_config", "email_configs", "tls_config"),
    ("smtp_force_implicit_tls", "email_configs", "implicit_tls"),
    ("slack_api_url", "slack_configs", "api_url"),
    ("pagerduty_url", "pagerduty_configs", "url"),
    ("opsgenie_api_url", "opsgenie_configs", "api_url"),
    ("opsgenie_api_key", "opsgenie_configs", "api_key"),
    ("telegram_api_url", "telegram_configs", "api_url"),
    ("telegram_bot_token", "telegram_configs", "bot_token"),
    (
        "mattermost_webhook_url",
        "mattermost_configs",
        "webhook_url",
    ),
];

/// Keys Alertmanager has that Pharos reads and does not use, with why.
const UNUSED: &[(&str, &str)] = &[
    (
        "http_config",
        "Pharos's receivers have no `http_config`; each uses its own HTTP client",
    ),
    (
        "smtp_auth_password_file",
        "write the password, or ${ENV_VAR}, in `smtp_auth_password`",
    ),
    (
        "smtp_auth_secret",
        "Pharos authenticates to SMTP with PLAIN or LOGIN, not CRAM-MD5",
    ),
    (
        "smtp_auth_secret_file",
        "Pharos authenticates to SMTP with PLAIN or LOGIN, not CRAM-MD5",
    ),
    (
        "smtp_auth_identity",
        "Pharos authenticates to SMTP with the user name only",
    ),
    (
        "slack_api_url_file",
        "write the URL, or ${ENV_VAR}, in `slack_api_url`",
    ),
    (
        "slack_app_token",
        "Pharos posts to Slack through incoming webhooks (`slack_api_url`)",
    ),
    (
        "slack_app_token_file",
        "Pharos posts to Slack through incoming webhooks (`slack_api_url`)",
    ),
    (
        "slack_app_url",
        "Pharos posts to Slack through incoming webhooks (`slack_api_url`)",
    ),
    (
        "opsgenie_api_key_file",
        "write the key, or ${ENV_VAR}, in `opsgenie_api_key`",
    ),
    (
        "telegram_bot_token_file",
        "write the token, or ${ENV_VAR}, in `telegram_bot_token`",
    ),
    (
        "mattermost_webhook_url_file",
        "write the URL, or ${ENV_VAR}, in `mattermost_webhook_url`",
    ),
    ("wechat_api_url", "Pharos has no WeChat receiver"),
    ("wechat_api_secret", "Pharos has no WeChat receiver"),
    ("wechat_api_secret_file", "Pharos has no WeChat receiver"),
    ("wechat_api_corp_id", "Pharos has no WeChat receiver"),
    ("victorops_api_url", "Pharos has no VictorOps receiver"),
    ("victorops_api_key", "Pharos has no VictorOps receiver"),
    ("victorops_api_key_file", "Pharos has no VictorOps receiver"),
    ("webex_api_url", "Pharos has no Webex receiver"),
    ("rocketchat_api_url", "Pharos has no Rocket.Chat receiver"),
    ("rocketchat_token", "Pharos has no Rocket.Chat receiver"),
    (
        "rocketchat_token_file",
        "Pharos has no Rocket.Chat receiver",
    ),
    ("rocketchat_token_id", "Pharos has no Rocket.Chat receiver"),
    (
        "rocketchat_token_id_file",
        "Pharos has no Rocket.Chat receiver",
    ),
    ("jira_api_url", "Pharos has no Jira receiver"),
];

/// The Alertmanager keys of `global:`, as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertmanagerGlobal {
    values: BTreeMap<String, Value>,
    /// `resolve_timeout`: an alert posted without `endsAt` resolves after this.
    pub resolve_timeout: Option<HumanDuration>,
}

impl AlertmanagerGlobal {
    /// Whether `key` is one of Alertmanager's `global:` keys.
    pub fn is_key(key: &str) -> bool {
        key == "resolve_timeout"
            || DEFAULTS.iter().any(|(k, _, _)| *k == key)
            || UNUSED.iter().any(|(k, _)| *k == key)
    }

    /// Reads the Alertmanager keys of `global:` (each passed [`is_key`](Self::is_key));
    /// an error starts with the key at fault.
    pub fn from_keys(keys: BTreeMap<String, Value>) -> Result<AlertmanagerGlobal, String> {
        let mut g = AlertmanagerGlobal::default();
        for (k, v) in keys {
            if v.is_null() {
                continue;
            }
            if k == "resolve_timeout" {
                let d: HumanDuration =
                    serde_norway::from_value(v).map_err(|e| format!("resolve_timeout: {e}"))?;
                g.resolve_timeout = Some(d);
            } else {
                g.values.insert(k, v);
            }
        }
        Ok(g)
    }

    /// The keys that are set and that Pharos does not use, with why.
    pub fn unused_keys(&self) -> Vec<(&'static str, &'static str)> {
        UNUSED
            .iter()
            .filter(|(k, _)| self.values.contains_key(*k))
            .copied()
            .collect()
    }

    /// Fills the defaults into one receiver as written (`name`, `email_configs`, …):
    /// every integration of a matching kind that lacks the field gets the global value.
    pub fn apply(&self, receiver: &mut Value) {
        let Value::Mapping(r) = receiver else { return };
        for (key, list, field) in DEFAULTS {
            let Some(default) = self.values.get(*key) else {
                continue;
            };
            let Some(Value::Sequence(items)) = r.get_mut(*list) else {
                continue;
            };
            for item in items {
                if let Value::Mapping(m) = item
                    && m.get(*field).is_none_or(Value::is_null)
                {
                    m.insert(Value::String((*field).into()), default.clone());
                }
            }
        }
    }

    /// The global key that gives `list[].field` a default, for an error that says where
    /// else the field could be set.
    pub fn key_for(list: &str, field: &str) -> Option<&'static str> {
        DEFAULTS
            .iter()
            .find(|(_, l, f)| *l == list && *f == field)
            .map(|(k, _, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_own_field_wins_over_the_global_one() {
        let keys: BTreeMap<String, Value> = serde_norway::from_str(
            "smtp_from: am@example.org\nsmtp_smarthost: 'mail:25'\nsmtp_require_tls: false\nslack_api_url: https://hooks.example/x\nwechat_api_url: https://wechat/\n",
        )
        .unwrap();
        let g = AlertmanagerGlobal::from_keys(keys).unwrap();
        let mut r: Value = serde_norway::from_str(
            "name: team\nemail_configs:\n  - to: a@example.org\n  - to: b@example.org\n    from: own@example.org\nslack_configs:\n  - channel: '#x'\n",
        )
        .unwrap();
        g.apply(&mut r);
        let email = &r["email_configs"];
        assert_eq!(email[0]["from"], Value::from("am@example.org"));
        assert_eq!(email[1]["from"], Value::from("own@example.org"));
        assert_eq!(email[0]["smarthost"], Value::from("mail:25"));
        assert_eq!(email[1]["require_tls"], Value::from(false));
        assert_eq!(
            r["slack_configs"][0]["api_url"],
            Value::from("https://hooks.example/x")
        );
        assert_eq!(
            g.unused_keys(),
            [("wechat_api_url", "Pharos has no WeChat receiver")]
        );
        let typed: crate::ReceiverConfig = serde_norway::from_value(r).unwrap();
        assert_eq!(typed.email_configs[0].smarthost.port, 25);
    }
}
