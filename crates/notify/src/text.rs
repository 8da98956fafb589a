//! The words of a notification, shared by every channel: what fired (alert name, summary,
//! description), where (instance / job / monitor / service), since when and for how long,
//! the current value, the runbook, and the links to acknowledge and to the source.
//!
//! Channels differ only in markup (Slack's mrkdwn, Telegram's HTML or MarkdownV2,
//! Discord's Markdown, email's HTML, plain text for SMS), so the text is composed here
//! once and each channel passes a [`Markup`] that escapes and decorates it.
//!
//! Durations are measured against the newest `updated_at` of the group (the moment the
//! notification was made), not the clock, so a payload rendered twice is the same payload.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels, Notification};

/// Labels that say where something happened, in the order they are shown.
const PLACE_LABELS: [&str; 4] = ["monitor", "service", "job", "instance"];

/// More alerts than this in one message are counted, not listed: a page of forty
/// near-identical blocks hides the one that matters.
pub const MAX_LISTED_ALERTS: usize = 10;

/// Longest annotation or label value shown; the rest is cut with `…`. Keeps one alert's
/// block well inside every channel's message limit.
const MAX_FIELD_CHARS: usize = 600;

/// How bad it is, from the `severity` label, or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Resolved,
    Info,
    Warning,
    Critical,
}

impl Level {
    pub fn of_alert(a: &Alert) -> Level {
        if a.state == AlertState::Resolved {
            return Level::Resolved;
        }
        match severity_word(&a.labels).as_deref() {
            Some("critical" | "error" | "page" | "high" | "fatal" | "emergency" | "alert") => {
                Level::Critical
            }
            Some("info" | "informational" | "low" | "none" | "notice" | "debug") => Level::Info,
            // No severity, or one we do not know: worth a look, not a page.
            _ => Level::Warning,
        }
    }

    /// The worst level among the firing alerts; resolved when none fires.
    pub fn of_notification(n: &Notification) -> Level {
        n.firing()
            .map(Level::of_alert)
            .max()
            .unwrap_or(Level::Resolved)
    }

    /// Seed 000's Telegram alerts: 🔴 critical, 🟠 warning, ℹ️ info, ✅ resolved.
    pub fn emoji(self) -> &'static str {
        match self {
            Level::Critical => "🔴",
            Level::Warning => "🟠",
            Level::Info => "ℹ️",
            Level::Resolved => "✅",
        }
    }

    /// Seed 001's Slack colours (critical red, warning orange, info blue), resolved green.
    pub fn color_hex(self) -> &'static str {
        match self {
            Level::Critical => "#FF0000",
            Level::Warning => "#FFA500",
            Level::Info => "#0000FF",
            Level::Resolved => "#2EB886",
        }
    }

    /// The colour as Discord wants it (an integer).
    pub fn color_int(self) -> u32 {
        u32::from_str_radix(self.color_hex().trim_start_matches('#'), 16).unwrap_or(0)
    }

    pub fn word(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Resolved => "resolved",
        }
    }
}

/// The `severity` label, lower-cased.
pub fn severity_word(labels: &Labels) -> Option<String> {
    labels
        .get("severity")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

/// One alert, as a person reads it.
#[derive(Clone, Debug)]
pub struct AlertFacts<'a> {
    pub name: &'a str,
    pub level: Level,
    pub summary: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    /// `monitor=api`, `instance=…`: the place labels the alert has.
    pub place: Vec<(&'a str, Cow<'a, str>)>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// `for 12m` while firing, `lasted 12m` once resolved.
    pub duration: String,
    pub value: Option<Cow<'a, str>>,
    pub runbook: Option<&'a str>,
    /// Where it came from (`generator_url`), when known.
    pub source: Option<&'a str>,
}

/// A whole group, as a person reads it.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// `[FIRING:2] MonitorDown` / `[RESOLVED] MonitorDown`.
    pub title: String,
    pub level: Level,
    pub firing: usize,
    pub resolved: usize,
    /// Firing first, at most [`MAX_LISTED_ALERTS`].
    pub alerts: Vec<AlertFacts<'a>>,
    /// Alerts not listed: beyond [`MAX_LISTED_ALERTS`] plus those the receiver truncated.
    pub not_listed: usize,
    pub ack_url: Option<&'a str>,
    /// Pharos's alert list.
    pub alerts_url: Option<String>,
}

impl<'a> Facts<'a> {
    pub fn of(n: &'a Notification) -> Facts<'a> {
        let as_of = n
            .alerts
            .iter()
            .map(|a| a.updated_at)
            .max()
            .unwrap_or(DateTime::UNIX_EPOCH);
        let level = Level::of_notification(n);
        let firing = n.firing().count();
        let resolved = n.resolved().count();
        let listed: Vec<AlertFacts<'a>> = n
            .firing()
            .chain(n.resolved())
            .take(MAX_LISTED_ALERTS)
            .map(|a| AlertFacts::of(a, as_of))
            .collect();
        let not_listed = n.alerts.len() - listed.len() + n.truncated_alerts;
        let external = n.external_url.trim_end_matches('/');
        Facts {
            title: title(n, firing),
            level,
            firing,
            resolved,
            alerts: listed,
            not_listed,
            ack_url: n.ack_url.as_deref().filter(|u| !u.is_empty()),
            alerts_url: (!external.is_empty()).then(|| format!("{external}/alerts")),
        }
    }

    /// The runbook when every listed alert has the same one.
    pub fn common_runbook(&self) -> Option<&'a str> {
        let first = self.alerts.first()?.runbook?;
        self.alerts
            .iter()
            .all(|a| a.runbook == Some(first))
            .then_some(first)
    }
}

fn title(n: &Notification, firing: usize) -> String {
    let mut names: Vec<&str> = Vec::new();
    for a in &n.alerts {
        if !names.contains(&a.name()) {
            names.push(a.name());
        }
    }
    let names = match names.len() {
        0 => "alert".to_string(),
        1..=3 => names.join(", "),
        k => format!("{}, {} and {} more", names[0], names[1], k - 2),
    };
    let common = n.common_labels();
    let place = PLACE_LABELS
        .iter()
        .find_map(|l| common.get(*l))
        .map(|v| format!(" on {}", cut(v, 80)))
        .unwrap_or_default();
    if n.status() == AlertState::Resolved {
        format!("[RESOLVED] {names}{place}")
    } else {
        format!("[FIRING:{firing}] {names}{place}")
    }
}

impl<'a> AlertFacts<'a> {
    pub fn of(a: &'a Alert, as_of: DateTime<Utc>) -> AlertFacts<'a> {
        let annotation = |k: &str| {
            a.annotations
                .get(k)
                .filter(|v| !v.trim().is_empty())
                .map(|v| cut(v, MAX_FIELD_CHARS))
        };
        let duration = match (a.state, a.ends_at) {
            (AlertState::Resolved, Some(end)) => {
                format!("lasted {}", human_duration(end - a.starts_at))
            }
            (AlertState::Resolved, None) => "resolved".to_string(),
            _ => format!("for {}", human_duration(as_of - a.starts_at)),
        };
        AlertFacts {
            name: a.name(),
            level: Level::of_alert(a),
            summary: annotation("summary").or_else(|| annotation("message")),
            description: annotation("description"),
            place: PLACE_LABELS
                .iter()
                .filter_map(|l| a.labels.get(*l).map(|v| (*l, cut(v, 200))))
                .collect(),
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            duration,
            value: annotation("value"),
            runbook: ["runbook_url", "runbook"]
                .iter()
                .find_map(|k| a.annotations.get(*k).or_else(|| a.labels.get(*k)))
                .map(String::as_str)
                .filter(|u| !u.is_empty()),
            source: Some(a.generator_url.as_str()).filter(|u| !u.is_empty()),
        }
    }

    /// Where, as `monitor=api, instance=…`.
    pub fn place_text(&self) -> String {
        self.place
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `12m`, `1h5m`, `3d2h`, `40s`: two units at most, the way people say it.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

pub fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// At most `max` characters, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep: String = s.chars().take(max.saturating_sub(1)).collect();
            Cow::Owned(format!("{keep}…"))
        }
    }
}

/// How one channel escapes and decorates text.
pub trait Markup {
    /// Text as it should appear, with the channel's special characters escaped.
    fn escape(&self, s: &str) -> String;
    /// `escaped` is already escaped.
    fn bold(&self, escaped: &str) -> String;
    /// A link; `text` is raw.
    fn link(&self, text: &str, url: &str) -> String;
    fn line_break(&self) -> &'static str {
        "\n"
    }
}

/// No markup at all: SMS, email's text part, Telegram without `parse_mode`.
pub struct Plain;

impl Markup for Plain {
    fn escape(&self, s: &str) -> String {
        s.to_string()
    }
    fn bold(&self, escaped: &str) -> String {
        escaped.to_string()
    }
    fn link(&self, text: &str, url: &str) -> String {
        if text == url {
            url.to_string()
        } else {
            format!("{text} ({url})")
        }
    }
}

/// HTML, for email and Telegram's `HTML` mode (which knows `<b>` and `<a>`).
pub struct Html;

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

impl Markup for Html {
    fn escape(&self, s: &str) -> String {
        html_escape(s)
    }
    fn bold(&self, escaped: &str) -> String {
        format!("<b>{escaped}</b>")
    }
    fn link(&self, text: &str, url: &str) -> String {
        format!("<a href=\"{}\">{}</a>", html_escape(url), html_escape(text))
    }
}

/// Email's HTML part: as [`Html`], with `<br>` line breaks.
pub struct EmailHtml;

impl Markup for EmailHtml {
    fn escape(&self, s: &str) -> String {
        html_escape(s)
    }
    fn bold(&self, escaped: &str) -> String {
        format!("<b>{escaped}</b>")
    }
    fn link(&self, text: &str, url: &str) -> String {
        Html.link(text, url)
    }
    fn line_break(&self) -> &'static str {
        "<br>\n"
    }
}

/// Slack's mrkdwn: only `&`, `<` and `>` are special.
pub struct SlackMrkdwn;

impl Markup for SlackMrkdwn {
    fn escape(&self, s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
    fn bold(&self, escaped: &str) -> String {
        format!("*{escaped}*")
    }
    fn link(&self, text: &str, url: &str) -> String {
        format!(
            "<{}|{}>",
            url.replace('|', "%7C"),
            self.escape(text).replace('|', "¦")
        )
    }
}

/// Telegram's MarkdownV2: every one of `_*[]()~`>#+-=|{}.!\` is escaped with `\`
/// outside entities; inside a link's URL only `)` and `\`.
pub struct TelegramMarkdownV2;

impl Markup for TelegramMarkdownV2 {
    fn escape(&self, s: &str) -> String {
        backslash_escape(s, "_*[]()~`>#+-=|{}.!\\")
    }
    fn bold(&self, escaped: &str) -> String {
        format!("*{escaped}*")
    }
    fn link(&self, text: &str, url: &str) -> String {
        let url = url.replace('\\', "\\\\").replace(')', "\\)");
        format!("[{}]({url})", self.escape(text))
    }
}

/// `s` with a backslash before every character of `special`.
fn backslash_escape(s: &str, special: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Telegram's legacy Markdown: `_`, `*`, `` ` `` and `[` escaped with `\`.
pub struct TelegramMarkdown;

impl Markup for TelegramMarkdown {
    fn escape(&self, s: &str) -> String {
        backslash_escape(s, "_*`[")
    }
    fn bold(&self, escaped: &str) -> String {
        format!("*{escaped}*")
    }
    fn link(&self, text: &str, url: &str) -> String {
        format!(
            "[{}]({})",
            self.escape(text).replace(']', ""),
            url.replace(')', "%29")
        )
    }
}

/// Discord's and Teams' Markdown.
pub struct Markdown;

impl Markup for Markdown {
    fn escape(&self, s: &str) -> String {
        // Only what starts formatting mid-line; escaping more shows as `\(` in Teams.
        backslash_escape(s, "\\*_~`|[]")
    }
    fn bold(&self, escaped: &str) -> String {
        format!("**{escaped}**")
    }
    fn link(&self, text: &str, url: &str) -> String {
        format!(
            "[{}]({})",
            self.escape(text),
            url.replace(')', "%29").replace(' ', "%20")
        )
    }
}

/// WhatsApp's formatting: `*bold*`, links found by the app itself.
pub struct WhatsApp;

impl Markup for WhatsApp {
    fn escape(&self, s: &str) -> String {
        s.to_string()
    }
    fn bold(&self, escaped: &str) -> String {
        format!("*{escaped}*")
    }
    fn link(&self, _text: &str, url: &str) -> String {
        url.to_string()
    }
}

/// The first line of a message: `🔴 [FIRING:2] MonitorDown on api`.
pub fn headline(f: &Facts<'_>, m: &dyn Markup) -> String {
    format!("{} {}", f.level.emoji(), m.bold(&m.escape(&f.title)))
}

/// One alert's block: what, where, since when, value, description, runbook, source.
pub fn alert_block(a: &AlertFacts<'_>, m: &dyn Markup) -> String {
    let mut lines = Vec::new();
    let what = match &a.summary {
        Some(s) => format!(
            "{} {} — {}",
            a.level.emoji(),
            m.bold(&m.escape(a.name)),
            m.escape(s)
        ),
        None => format!("{} {}", a.level.emoji(), m.bold(&m.escape(a.name))),
    };
    lines.push(what);
    if !a.place.is_empty() {
        lines.push(format!(
            "{} {}",
            m.bold("Where:"),
            m.escape(&a.place_text())
        ));
    }
    let when = match a.ends_at {
        Some(end) if a.level == Level::Resolved => format!(
            "{} → {} ({})",
            human_time(a.starts_at),
            human_time(end),
            a.duration
        ),
        _ => format!("{} ({})", human_time(a.starts_at), a.duration),
    };
    lines.push(format!("{} {}", m.bold("Since:"), m.escape(&when)));
    if let Some(v) = &a.value {
        lines.push(format!("{} {}", m.bold("Value:"), m.escape(v)));
    }
    if let Some(d) = &a.description {
        lines.push(format!("{} {}", m.bold("Details:"), m.escape(d)));
    }
    if let Some(r) = a.runbook {
        lines.push(format!("{} {}", m.bold("Runbook:"), m.link(r, r)));
    }
    if let Some(s) = a.source {
        lines.push(format!("{} {}", m.bold("Source:"), m.link(s, s)));
    }
    lines.join(m.line_break())
}

/// The closing lines: alerts not listed, and where to acknowledge.
pub fn footer(f: &Facts<'_>, m: &dyn Markup) -> Vec<String> {
    let mut lines = Vec::new();
    if f.not_listed > 0 {
        lines.push(m.escape(&format!("…and {} more alerts", f.not_listed)));
    }
    if let Some(ack) = f.ack_url {
        lines.push(format!("{} {}", m.bold("Acknowledge:"), m.link(ack, ack)));
    }
    if let (None, Some(all)) = (f.ack_url, &f.alerts_url) {
        lines.push(format!("{} {}", m.bold("All alerts:"), m.link(all, all)));
    }
    lines
}

/// The whole message as blocks: headline, one block per alert, footer. Channels with a
/// size limit split between blocks.
pub fn blocks(f: &Facts<'_>, m: &dyn Markup) -> Vec<String> {
    let mut out = vec![headline(f, m)];
    out.extend(f.alerts.iter().map(|a| alert_block(a, m)));
    let footer = footer(f, m);
    if !footer.is_empty() {
        out.push(footer.join(m.line_break()));
    }
    out
}

/// The whole message, blocks separated by a blank line.
pub fn body(f: &Facts<'_>, m: &dyn Markup) -> String {
    let sep = format!("{0}{0}", m.line_break());
    blocks(f, m).join(&sep)
}

/// The alerts' blocks only (no headline), for channels that put the title elsewhere.
pub fn details(f: &Facts<'_>, m: &dyn Markup) -> String {
    let sep = format!("{0}{0}", m.line_break());
    let mut parts: Vec<String> = f.alerts.iter().map(|a| alert_block(a, m)).collect();
    let footer = footer(f, m);
    if !footer.is_empty() {
        parts.push(footer.join(m.line_break()));
    }
    parts.join(&sep)
}

/// A text message of at most `max_chars` characters for SMS: headline, the first alert's
/// summary and place, how long, and the link to acknowledge (or to the source).
pub fn short(f: &Facts<'_>, max_chars: usize) -> String {
    let mut s = format!("{} {}", f.level.emoji(), f.title);
    if let Some(a) = f.alerts.first() {
        if let Some(summary) = &a.summary {
            s.push_str(": ");
            s.push_str(summary);
        } else if !a.place.is_empty() {
            s.push_str(": ");
            s.push_str(&a.place_text());
        }
        s.push_str(&format!(" ({})", a.duration));
    }
    let link = f
        .ack_url
        .map(|u| format!(" Ack: {u}"))
        .or_else(|| f.alerts_url.as_ref().map(|u| format!(" {u}")))
        .unwrap_or_default();
    let room = max_chars.saturating_sub(link.chars().count());
    // The link is what the person acts on: cut the words, never the link.
    let mut out = cut(&s, room).into_owned();
    out.push_str(&link);
    cut(&out, max_chars).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_speech() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(40)), "40s");
        assert_eq!(human_duration(d(12 * 60 + 5)), "12m");
        assert_eq!(human_duration(d(3600 + 5 * 60)), "1h5m");
        assert_eq!(human_duration(d(7200)), "2h");
        assert_eq!(human_duration(d(3 * 86_400 + 2 * 3600 + 60)), "3d2h");
        assert_eq!(human_duration(d(-5)), "0s");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo wörld", 5), "héll…");
        assert_eq!(cut("short", 5), "short");
    }

    #[test]
    fn markdown_v2_escapes_every_reserved_character() {
        let raw = "_*[]()~`>#+-=|{}.!<&\\";
        assert_eq!(
            TelegramMarkdownV2.escape(raw),
            "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!<&\\\\"
        );
        assert_eq!(Html.escape("<b>&\"x\""), "&lt;b&gt;&amp;&quot;x&quot;");
    }

    #[test]
    fn severity_picks_the_level() {
        let mut labels = Labels::new();
        let alert = |labels: &Labels, state| Alert {
            fingerprint: String::new(),
            labels: labels.clone(),
            annotations: Labels::new(),
            state,
            starts_at: DateTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: String::new(),
            updated_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(
            Level::of_alert(&alert(&labels, AlertState::Firing)),
            Level::Warning
        );
        labels.insert("severity".into(), "Critical".into());
        assert_eq!(
            Level::of_alert(&alert(&labels, AlertState::Firing)),
            Level::Critical
        );
        labels.insert("severity".into(), "info".into());
        assert_eq!(
            Level::of_alert(&alert(&labels, AlertState::Firing)),
            Level::Info
        );
        assert_eq!(
            Level::of_alert(&alert(&labels, AlertState::Resolved)),
            Level::Resolved
        );
    }
}
