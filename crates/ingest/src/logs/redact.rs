//! Secrets removed from log entries before they are stored, with the error store's
//! [`Scrubber`], so a token is caught by the same rules whether it arrived in an error
//! event or a log line: values under secret-named keys, secret-shaped text in the
//! message and in string fields.

use pharos_model::LogEntry;
use serde_json::Value;

use crate::sentry::scrub::Scrubber;

/// Replaces every secret in the entry with `[Filtered]`: field values under sensitive keys
/// (at any depth), and secret-shaped text (bot tokens, API keys, bearer tokens, passwords
/// in URLs, card numbers, …) in the message and in string values. The logger, service and
/// host are names, not text a secret is written into, and are left alone.
pub fn redact(entry: &mut LogEntry, scrubber: &Scrubber) {
    if !scrubber.enabled() {
        return;
    }
    if let Some(clean) = scrubber.scrub_text(&entry.message) {
        entry.message = clean;
    }
    if !entry.fields.is_empty() {
        // The scrubber walks values; the map is moved in and out, not copied.
        let mut fields = Value::Object(std::mem::take(&mut entry.fields));
        scrubber.scrub(&mut fields);
        if let Value::Object(map) = fields {
            entry.fields = map;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::line::structure;
    use crate::sentry::scrub::{FILTERED, ScrubConfig};
    use pharos_model::LogSource;
    use serde_json::json;

    fn redacted(message: &str) -> LogEntry {
        let mut e = LogEntry::new("bot", LogSource::Http, chrono::Utc::now(), message);
        structure(&mut e);
        redact(&mut e, &Scrubber::default());
        e
    }

    #[test]
    fn seed_004_never_stores_the_bot_token_or_the_kie_key() {
        let e = redacted(
            "2025-10-06 12:00:00,123 - bot.config - INFO - Loaded TELEGRAM_BOT_TOKEN=1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3 KIE_API_KEY=kie_4f8a9b2c1d3e5f6a7b8c9d0e",
        );
        assert_eq!(
            e.message,
            "Loaded TELEGRAM_BOT_TOKEN=[Filtered] KIE_API_KEY=[Filtered]"
        );
        let e = redacted("bot 1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3 started");
        assert_eq!(e.message, "bot [Filtered] started");
        // The same secrets as JSON extras: by key name, and by shape under a harmless key.
        let e = redacted(
            r#"{"message": "startup", "TELEGRAM_BOT_TOKEN": "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3", "kie_api_key": "kie_abc", "config": {"bot": "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3", "password": 1234}, "user_id": 42, "balance": 100}"#,
        );
        assert_eq!(e.fields["TELEGRAM_BOT_TOKEN"], FILTERED);
        assert_eq!(e.fields["kie_api_key"], FILTERED);
        assert_eq!(e.fields["config"]["bot"], FILTERED);
        assert_eq!(e.fields["config"]["password"], FILTERED);
        // Seed 004 wants user ids and amounts kept.
        assert_eq!(e.fields["user_id"], 42);
        assert_eq!(e.fields["balance"], 100);
    }

    #[test]
    fn seed_002_credentials_are_caught() {
        for (line, kept) in [
            (
                "INFO:app:SENTRY_DSN=https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@o1000000000000001.ingest.us.sentry.io/2000000000000002",
                "SENTRY_DSN=[Filtered]",
            ),
            (
                "INFO:app:sentry at https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@o1000000000000001.ingest.us.sentry.io/2000000000000002",
                "sentry at https://[Filtered]@o1000000000000001.ingest.us.sentry.io/2000000000000002",
            ),
            (
                "INFO:app:SENTRY_AUTH_TOKEN=sntryu_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "SENTRY_AUTH_TOKEN=[Filtered]",
            ),
            (
                "INFO:app:using sntryu_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "using [Filtered]",
            ),
            (
                "INFO:app:UPTIMEROBOT_API_KEY=m000000000-aaaaaaaaaaaaaaaaaaaaaaaa",
                "UPTIMEROBOT_API_KEY=[Filtered]",
            ),
            (
                "INFO:app:uptimerobot key m000000000-aaaaaaaaaaaaaaaaaaaaaaaa",
                "uptimerobot key [Filtered]",
            ),
        ] {
            assert_eq!(redacted(line).message, kept, "{line}");
        }
    }

    #[test]
    fn bearer_tokens_urls_and_cards_in_messages_and_fields() {
        let e = redacted(
            r#"level=error msg="call failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x" url="postgres://app:s3cret@db:5432/x" card="4111 1111 1111 1111" order_id=12345"#,
        );
        assert_eq!(e.message, "call failed: Authorization: [Filtered]");
        assert_eq!(e.fields["url"], "postgres://[Filtered]@db:5432/x");
        assert_eq!(e.fields["card"], FILTERED);
        assert_eq!(e.fields["order_id"], 12345);
        // A traceback's local variables are text in the message, too.
        let e = redacted(
            "ERROR:app:boom\nTraceback (most recent call last):\n  File \"a.py\", line 1, in f\n    client = Client(api_key=\"sk_live_abcdef123456\")\nValueError: x",
        );
        assert!(!e.message.contains("sk_live_abcdef123456"), "{}", e.message);
    }

    #[test]
    fn clean_entries_are_untouched_and_the_switch_is_honoured() {
        let e = redacted(r#"{"message": "Order created", "order_id": "789e0123", "total": 99.99}"#);
        assert_eq!(e.message, "Order created");
        assert_eq!(
            e.fields,
            json!({"order_id": "789e0123", "total": 99.99})
                .as_object()
                .unwrap()
                .clone()
        );
        let off = Scrubber::new(&ScrubConfig {
            enabled: false,
            ..ScrubConfig::default()
        })
        .unwrap();
        let mut e = LogEntry::new(
            "s",
            LogSource::Http,
            chrono::Utc::now(),
            "password=x1234567",
        );
        redact(&mut e, &off);
        assert_eq!(e.message, "password=x1234567");
    }

    /// python-telegram-bot (v20+) logs every Bot API call through httpx at INFO:
    /// `HTTP Request: POST https://api.telegram.org/bot<token>/getUpdates "HTTP/1.1 200 OK"`.
    /// `bot1234567890` has no word boundary before the digits, so the scrubber's Telegram
    /// pattern takes an optional `bot` prefix and keeps it.
    #[test]
    fn telegram_bot_token_in_a_bot_api_url() {
        let e = redacted(
            r#"2025-10-06 12:00:00,123 - httpx - INFO - HTTP Request: POST https://api.telegram.org/bot1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3/getUpdates "HTTP/1.1 200 OK""#,
        );
        assert!(
            !e.message.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3"),
            "{}",
            e.message
        );
    }
}
