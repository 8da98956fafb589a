//! Scrubbing: secrets become `[Filtered]` before anything is stored. The Python SDK's own
//! scrubber matches exact key names only, so this one matches key names by substring and
//! string values by shape, everywhere in the payload.

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex, RegexSet};
use serde_json::Value;

use crate::IngestError;

pub const FILTERED: &str = "[Filtered]";

/// How secrets look in free text. Each pattern's first and second groups (if any) are
/// kept before and after `[Filtered]`, which replaces the rest of the match.
const VALUE_PATTERNS: &[&str] = &[
    // `name = value` / `name: value` where the name says secret (source lines, log text,
    // env dumps): `secret_token = "hunter2"`, `Authorization: Bearer …`, `DB_PASSWORD=…`.
    r"(?i)\b([\w.\-]*(?:password|passwd|secret|token|api[_\-]?key|credential|private[_\-]?key|authorization|dsn|cookie|sessionid)[\w.\-]*['\x22]?\s*[=:]\s*['\x22]?)(?:(?:bearer|basic)\s+)?[^\s'\x22,;&\[]+",
    // Bearer and Basic credentials in headers or messages.
    r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*",
    // Credentials in URLs, Sentry DSNs included: scheme://key@host, scheme://user:pass@host.
    r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s:'\x22]+(?::[^/@\s'\x22]*)?(@)",
    // Sentry user and org auth tokens.
    r"\bsntry[us]_[A-Za-z0-9+/=_\-]{20,}",
    // Telegram bot tokens: <bot id>:<35 characters>, also inside Bot API URLs
    // (`api.telegram.org/bot<token>/getUpdates`, which httpx logs at INFO).
    r"\b(bot)?\d{6,12}:[A-Za-z0-9_\-]{30,}",
    // AWS access key ids, and secret keys where they are named.
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
    r"(?i)(aws.{0,20}?(?:secret|key).{0,20}?[=:]\s*['\x22]?)[A-Za-z0-9/+=]{40}",
    // UptimeRobot and similar "m123456789-abcdef…" API keys.
    r"\b[mu]\d{6,12}-[0-9a-f]{24,}\b",
    // Private key blocks.
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
];

/// Words and literals at least one of which every built-in value pattern contains (or a run
/// of digits, checked apart). A string holding none of them is skipped without running the
/// regular expressions: most strings of an event (file names, source lines, `repr`s) are.
const VALUE_HINTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "credential",
    "private_key",
    "private-key",
    "privatekey",
    "authorization",
    "dsn",
    "cookie",
    "sessionid",
    "bearer",
    "basic",
    "://",
    "sntry",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "anpa",
    "anva",
    "aipa",
    "aws",
    "-----begin",
];

/// Substrings of key names whose values are secrets (`secret_token`, `X-TENANT-API-KEY`,
/// `Set-Cookie`, `DB_PASSWORD`), in the spellings keys use (`api_key`, `API-KEY`, `apiKey`)
/// so that keys are matched, case-insensitively, without normalising each one.
const KEY_SPELLINGS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "auth",
    "credential",
    "private_key",
    "private-key",
    "privatekey",
    "bearer",
    "dsn",
    "cookie",
    "sessionid",
    "session_id",
    "session-id",
];

/// Card numbers: 13 to 19 digits, optionally grouped by spaces or dashes; checked with
/// Luhn so that ids and timestamps are left alone.
const CARD_PATTERN: &str = r"\b[3-6]\d{3}(?:[ \-]?\d){9,15}\b";

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrubConfig {
    /// Scrubbing is on unless turned off explicitly.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// More key-name substrings to treat as secret.
    #[serde(default)]
    pub keys: Vec<String>,
    /// More regular expressions; a match becomes `[Filtered]`.
    #[serde(default)]
    pub patterns: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            enabled: true,
            keys: Vec::new(),
            patterns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Scrubber {
    enabled: bool,
    /// Extra key substrings from the config, normalised (lowercase, no `_ - . space`).
    keys: Vec<String>,
    key_spellings: AhoCorasick,
    value_hints: AhoCorasick,
    /// With extra patterns every string is a candidate: their literals are unknown.
    extra_patterns: bool,
    patterns: Vec<Regex>,
    /// All of `patterns` in one automaton: most strings match none, and one pass says so.
    any: RegexSet,
    card: Regex,
}

impl Default for Scrubber {
    fn default() -> Self {
        Scrubber::new(&ScrubConfig::default()).expect("built-in patterns compile")
    }
}

impl Scrubber {
    /// Builds a scrubber; `Err` names the extra pattern that does not compile.
    pub fn new(config: &ScrubConfig) -> Result<Scrubber, IngestError> {
        let mut patterns: Vec<Regex> = VALUE_PATTERNS
            .iter()
            .map(|p| Regex::new(p).expect("built-in pattern"))
            .collect();
        for p in &config.patterns {
            patterns.push(Regex::new(p).map_err(|source| IngestError::ScrubPattern {
                pattern: p.clone(),
                source,
            })?);
        }
        let any =
            RegexSet::new(patterns.iter().map(Regex::as_str)).expect("patterns compiled alone");
        let ac = |words: &[&str]| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(words)
                .expect("literal words")
        };
        Ok(Scrubber {
            any,
            enabled: config.enabled,
            keys: config.keys.iter().map(|k| normalise_key(k)).collect(),
            key_spellings: ac(KEY_SPELLINGS),
            value_hints: ac(VALUE_HINTS),
            extra_patterns: !config.patterns.is_empty(),
            patterns,
            card: Regex::new(CARD_PATTERN).expect("card pattern"),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn is_sensitive_key(&self, key: &str) -> bool {
        if self.key_spellings.is_match(key) {
            return true;
        }
        if self.keys.is_empty() {
            return false;
        }
        let k = normalise_key(key);
        self.keys.iter().any(|s| k.contains(s.as_str()))
    }

    /// Scrubs a whole payload in place.
    pub fn scrub(&self, value: &mut Value) {
        if self.enabled {
            self.walk(value);
        }
    }

    fn walk(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_sensitive_key(k) {
                        filter(v);
                    } else if k == "query_string" {
                        self.scrub_query(v);
                    } else {
                        self.walk(v);
                    }
                }
            }
            Value::Array(items) => {
                // Header and cookie lists come as [name, value] pairs.
                if let [Value::String(name), v] = items.as_mut_slice()
                    && self.is_sensitive_key(name)
                {
                    filter(v);
                    return;
                }
                for v in items {
                    self.walk(v);
                }
            }
            Value::String(s) => {
                if let Some(clean) = self.scrub_text(s) {
                    *s = clean;
                }
            }
            _ => {}
        }
    }

    /// `query_string` is a string (`a=1&token=x`) or a list of pairs.
    fn scrub_query(&self, v: &mut Value) {
        if let Value::String(q) = v {
            if q.contains('=') {
                let clean: Vec<String> = q
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, _)) if self.is_sensitive_key(k) => format!("{k}={FILTERED}"),
                        _ => pair.to_string(),
                    })
                    .collect();
                *q = clean.join("&");
            }
        }
        self.walk(v);
    }

    /// The text with every secret-shaped part replaced, or `None` when nothing matched.
    pub fn scrub_text(&self, s: &str) -> Option<String> {
        if s.len() < 8 {
            return None;
        }
        let (run, digits) = digit_runs(s);
        // Telegram and UptimeRobot keys hold a run of 6+ digits, card numbers 13+ digits.
        if !self.extra_patterns && run < 6 && digits < 13 && !self.value_hints.is_match(s) {
            return None;
        }
        let mut out: Option<String> = None;
        let matched = self.any.matches(s);
        for re in matched.iter().map(|i| &self.patterns[i]) {
            let cur = out.as_deref().unwrap_or(s);
            if re.is_match(cur) {
                out = Some(
                    re.replace_all(cur, |c: &Captures| {
                        let keep = |i| c.get(i).map_or("", |m| m.as_str());
                        format!("{}{FILTERED}{}", keep(1), keep(2))
                    })
                    .into_owned(),
                );
            }
        }
        let cur = out.as_deref().unwrap_or(s);
        if digits >= 13 && self.card.is_match(cur) {
            let replaced = self.card.replace_all(cur, |c: &Captures| {
                let m = c.get(0).map_or("", |m| m.as_str());
                if luhn(m) {
                    FILTERED.to_string()
                } else {
                    m.to_string()
                }
            });
            if replaced != cur {
                out = Some(replaced.into_owned());
            }
        }
        out
    }
}

fn filter(v: &mut Value) {
    if !v.is_null() {
        *v = Value::String(FILTERED.into());
    }
}

fn normalise_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The longest run of ASCII digits and the number of digits in all.
fn digit_runs(s: &str) -> (usize, usize) {
    let (mut best, mut cur, mut all) = (0, 0, 0);
    for b in s.bytes() {
        if b.is_ascii_digit() {
            cur += 1;
            all += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    (best, all)
}

fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_by_substring_everywhere() {
        let mut v = json!({
            "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"x": "0", "secret_token": "'hunter2'"}}]}}]},
            "request": {"headers": {"Authorization": "Bearer abc", "X-TENANT-API-KEY": "k-1", "Accept": "*/*", "Cookie": "a=b"},
                        "query_string": "page=2&access_token=xyz", "cookies": {"sid": "1"}},
            "extra": {"DB_PASSWORD": "p", "nested": {"stripe_api_key": 12345, "ok": "fine"}},
            "breadcrumbs": {"values": [{"data": {"auth_header": "x"}}]},
            "contexts": {"app": {"private_key": "k"}},
            "headers_list": [["Set-Cookie", "s=1"], ["Accept", "x"]],
        });
        Scrubber::default().scrub(&mut v);
        let s = v.to_string();
        for secret in [
            "hunter2",
            "Bearer abc",
            "k-1",
            "a=b",
            "xyz",
            "\"p\"",
            "12345",
            "s=1",
        ] {
            assert!(!s.contains(secret), "{secret} left in {s}");
        }
        assert_eq!(v["request"]["headers"]["Accept"], "*/*");
        assert_eq!(
            v["request"]["query_string"],
            "page=2&access_token=[Filtered]"
        );
        assert_eq!(v["extra"]["nested"]["ok"], "fine");
        assert_eq!(
            v["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["x"],
            "0"
        );
    }

    #[test]
    fn values_by_shape() {
        let s = Scrubber::default();
        let cases = [
            (
                "card 4111 1111 1111 1111 declined",
                "card [Filtered] declined",
            ),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
                "Authorization: [Filtered]",
            ),
            (
                "sent with bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
                "sent with bearer [Filtered]",
            ),
            (
                "    secret_token = \"hunter2\"  # noqa",
                "    secret_token = \"[Filtered]\"  # noqa",
            ),
            ("login password: abc", "login password: [Filtered]"),
            (
                "dsn https://0f1e2d3c4b5a69788796a5b4c3d2e1f0@o1.ingest.sentry.io/2",
                "dsn https://[Filtered]@o1.ingest.sentry.io/2",
            ),
            (
                "postgres://app:s3cret@db:5432/x",
                "postgres://[Filtered]@db:5432/x",
            ),
            (
                "SENTRY_AUTH_TOKEN=sntryu_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "SENTRY_AUTH_TOKEN=[Filtered]",
            ),
            (
                "bot 1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3 failed",
                "bot [Filtered] failed",
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [Filtered] used"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [Filtered]",
            ),
            (
                "UPTIMEROBOT m000000000-aaaaaaaaaaaaaaaaaaaaaaaa",
                "UPTIMEROBOT [Filtered]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(s.scrub_text(input).as_deref(), Some(want), "{input}");
        }
        for clean in [
            "division by zero",
            "order 1234 took 1795333730933 ms",
            "event 5b16fd0b4b944d4abc07deb75942731d",
            "/srv/app/client.py",
        ] {
            assert_eq!(s.scrub_text(clean), None, "{clean}");
        }
    }

    #[test]
    fn extra_config_and_off_switch() {
        let s = Scrubber::new(&ScrubConfig {
            enabled: true,
            keys: vec!["tenant_pin".into()],
            patterns: vec![r"INV-\d{6}".into()],
        })
        .unwrap();
        let mut v = json!({"TenantPin": "1", "m": "invoice INV-123456 failed"});
        s.scrub(&mut v);
        assert_eq!(v["TenantPin"], FILTERED);
        assert_eq!(v["m"], "invoice [Filtered] failed");
        let off = Scrubber::new(&ScrubConfig {
            enabled: false,
            ..ScrubConfig::default()
        })
        .unwrap();
        let mut v = json!({"password": "x"});
        off.scrub(&mut v);
        assert_eq!(v["password"], "x");
        let bad = Scrubber::new(&ScrubConfig {
            enabled: true,
            keys: vec![],
            patterns: vec!["(".into()],
        })
        .unwrap_err();
        let regex_error = std::error::Error::source(&bad).expect("the regex error");
        assert_eq!(bad.to_string(), format!("pattern \"(\": {regex_error}"));
    }
}

#[cfg(test)]
pub(crate) fn census(s: &Scrubber, v: &Value, out: &mut (usize, usize, usize, usize)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.0 += 1;
                if !s.is_sensitive_key(k) {
                    census(s, x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| census(s, x, out)),
        Value::String(t) => {
            out.1 += 1;
            out.3 += t.len();
            let (run, digits) = digit_runs(t);
            if t.len() >= 8 && (run >= 6 || digits >= 13 || s.value_hints.is_match(t.as_str())) {
                out.2 += 1;
            }
        }
        _ => {}
    }
}
