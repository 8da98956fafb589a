//! What a log rule's alert says: its labels (which make one alert per rule, pattern and
//! service), annotations (the matched line, how many, over what window) and the link to
//! the log explorer showing the lines that raised it.

use chrono::{DateTime, SecondsFormat, Utc};
use pharos_model::{Alert, AlertState, HumanDuration, Labels};
use pharos_template::query_escape;

use super::config::{LogRule, LogRuleKind};

/// Marks a generator URL as a log rule's; how alerts are recognised after a restart.
pub(crate) const EXPLORER_PATH: &str = "/logs?q=";
/// Longest line kept in an alert or the status; the rest is cut at a character boundary.
pub const LINE_LIMIT: usize = 512;

/// The labels of the alert for one pattern (`slot`) of `rule` in `service`.
pub(crate) fn labels(rule: &LogRule, slot: usize, service: &str) -> Labels {
    let mut l = Labels::new();
    l.insert("alertname".into(), rule.name().to_string());
    let severity = match rule.patterns.get(slot) {
        Some(p) => {
            l.insert("pattern".into(), p.text.clone());
            p.severity.clone()
        }
        None => rule.severity.clone(),
    };
    l.insert("severity".into(), severity);
    l.insert("service".into(), service.to_string());
    for (k, v) in &rule.spec.labels {
        l.entry(k.clone()).or_insert_with(|| v.clone());
    }
    l
}

/// What the engine knows about a key when its alert fires.
pub(crate) struct Firing<'a> {
    pub slot: usize,
    pub service: &'a str,
    /// Matches in the window; `capped` when the engine stopped counting there.
    pub count: usize,
    pub capped: bool,
    pub line: &'a str,
    pub now: DateTime<Utc>,
}

pub(crate) fn firing_alert(rule: &LogRule, f: &Firing<'_>, external_url: &str) -> Alert {
    let labels = labels(rule, f.slot, f.service);
    let window = HumanDuration(rule.window);
    let count = if f.capped {
        format!("{}+", f.count)
    } else {
        f.count.to_string()
    };
    let pattern = rule.patterns.get(f.slot).map(|p| p.text.as_str());
    let summary = match (rule.kind, pattern) {
        (LogRuleKind::Forbidden, Some(p)) => {
            format!("Forbidden log pattern {p:?} in {}", f.service)
        }
        (LogRuleKind::Threshold, _) | (_, None) => format!(
            "{count} lines at {} or above in {window} from {} (limit {})",
            rule.min_level.map(|l| l.as_str()).unwrap_or("any level"),
            f.service,
            rule.max
        ),
        (_, Some(p)) => format!(
            "{p:?} logged {count} times in {window} by {} (limit {})",
            f.service, rule.max
        ),
    };
    let mut annotations = Labels::new();
    annotations.insert("summary".into(), summary);
    annotations.insert(
        "description".into(),
        format!("Last matching line: {}", f.line),
    );
    annotations.insert("line".into(), f.line.to_string());
    annotations.insert("count".into(), count.clone());
    annotations.insert("window".into(), window.to_string());
    annotations.insert("value".into(), count);
    for (k, v) in &rule.spec.annotations {
        annotations.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let from = f.now - chrono::Duration::from_std(rule.window).unwrap_or_default();
    Alert {
        fingerprint: Alert::fingerprint_of(&labels),
        labels,
        annotations,
        state: AlertState::Firing,
        starts_at: f.now,
        ends_at: None,
        generator_url: explorer_url(external_url, rule, pattern, f.service, from, f.now),
        updated_at: f.now,
    }
}

pub(crate) fn resolved(mut alert: Alert, now: DateTime<Utc>) -> Alert {
    alert.state = AlertState::Resolved;
    alert.ends_at = Some(now);
    alert.updated_at = now;
    alert
}

/// The log explorer's query for the lines a rule counts. The search language is the log
/// store's; this is its filter syntax as planned (`service=bot level>=ERROR`) with the
/// pattern as a `/regex/` term, and the one place to change should it differ.
pub fn explorer_query(rule: &LogRule, pattern: Option<&str>, service: &str) -> String {
    let mut terms = vec![format!("service={}", quote_if_needed(service))];
    if let Some(l) = rule.min_level {
        terms.push(format!("level>={}", l.as_str()));
    }
    if let Some(l) = &rule.spec.logger {
        terms.push(format!("logger={}", quote_if_needed(l)));
    }
    if let Some(p) = pattern {
        terms.push(format!("/{}/", p.replace('/', "\\/")));
    }
    terms.join(" ")
}

/// `/logs?q=…&from=…&to=…` under `external_url`, times in RFC 3339.
pub fn explorer_url(
    external_url: &str,
    rule: &LogRule,
    pattern: Option<&str>,
    service: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> String {
    format!(
        "{}{EXPLORER_PATH}{}&from={}&to={}",
        external_url.trim_end_matches('/'),
        query_escape(&explorer_query(rule, pattern, service)),
        query_escape(&from.to_rfc3339_opts(SecondsFormat::Secs, true)),
        query_escape(&ceil_to_second(to).to_rfc3339_opts(SecondsFormat::Secs, true)),
    )
}

/// Whole seconds read better in a link; the end rounds up so the line that fired the
/// alert, a fraction of a second before, stays inside the range.
fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    if t.timestamp_subsec_nanos() == 0 {
        t
    } else {
        DateTime::from_timestamp(t.timestamp() + 1, 0).unwrap_or(t)
    }
}

fn quote_if_needed(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// Cuts `line` to [`LINE_LIMIT`] bytes at a character boundary, into `out` (reusing its
/// buffer: this runs for every matching line).
pub(crate) fn keep_line(out: &mut String, line: &str) {
    out.clear();
    if line.len() <= LINE_LIMIT {
        out.push_str(line);
        return;
    }
    let mut end = LINE_LIMIT;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&line[..end]);
    out.push('…');
}
