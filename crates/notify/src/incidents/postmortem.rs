//! The post-mortem draft: Markdown written from an incident and its timeline (summary,
//! impact window, timeline, who was notified, time to acknowledge and resolve, open
//! questions) for a person to finish.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use pharos_model::AlertState;
use pharos_store::{IncidentRecord, IncidentState};

use super::TimelineEntry;

/// `4m 12s`, `2h 5m`, `3d 4h`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes, secs) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Markdown-safe inline text: characters that would start markup are escaped.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What one receiver was sent during the incident.
#[derive(Default)]
struct Sent {
    count: usize,
    delivered: usize,
    failed: usize,
    first: Option<DateTime<Utc>>,
}

pub fn draft(incident: &IncidentRecord, timeline: &[TimelineEntry], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let first_start = incident.alerts.iter().map(|a| a.starts_at).min();
    let last_end = if incident
        .alerts
        .iter()
        .any(|a| a.state == AlertState::Firing)
    {
        None
    } else {
        incident.alerts.iter().filter_map(|a| a.ends_at).max()
    };
    let _ = writeln!(
        out,
        "# Post-mortem: {} (incident #{})\n",
        md(&incident.title),
        incident.id
    );
    let _ = writeln!(
        out,
        "*Draft written by Pharos from the incident's timeline at {}. Check it and fill in the blanks before sharing.*\n",
        time(now)
    );

    let _ = writeln!(out, "## Summary\n");
    let names: Vec<String> = {
        let mut n: Vec<String> = incident
            .alerts
            .iter()
            .map(|a| a.name().to_string())
            .collect();
        n.sort();
        n.dedup();
        n
    };
    let _ = writeln!(
        out,
        "{} alert(s) ({}) of severity **{}** fired for the group `{}`. The incident is **{}**.\n",
        incident.alerts.len(),
        md(&names.join(", ")),
        md(&incident.severity),
        incident.group_key.replace('`', "'"),
        incident.state.as_str()
    );

    let _ = writeln!(out, "## Impact window\n");
    if let Some(start) = first_start {
        let _ = writeln!(out, "- First alert started: {}", time(start));
    }
    let _ = writeln!(
        out,
        "- Incident opened (first notification): {}",
        time(incident.opened_at)
    );
    if let Some(start) = first_start {
        let _ = writeln!(
            out,
            "- Time to detect: {}",
            human_duration(incident.opened_at - start)
        );
    }
    match last_end {
        Some(end) => {
            let _ = writeln!(out, "- Last alert resolved: {}", time(end));
            if let Some(start) = first_start {
                let _ = writeln!(out, "- Impact lasted: {}", human_duration(end - start));
            }
        }
        None => {
            let _ = writeln!(out, "- Alerts still firing at {}", time(now));
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Acknowledgement and resolution\n");
    match (incident.acknowledged_at, &incident.acknowledged_by) {
        (Some(at), who) => {
            let _ = writeln!(
                out,
                "- Acknowledged by {} at {} ({} after the incident opened)",
                md(who.as_deref().unwrap_or("someone")),
                time(at),
                human_duration(at - incident.opened_at)
            );
        }
        _ => {
            let _ = writeln!(out, "- Nobody acknowledged the incident");
        }
    }
    match incident.resolved_at {
        Some(at) => {
            let by = match &incident.resolved_by {
                Some(who) => format!("by {}", md(who)),
                None => "automatically when every alert resolved".to_string(),
            };
            let _ = writeln!(
                out,
                "- Resolved {by} at {} (time to resolve: {})",
                time(at),
                human_duration(at - incident.opened_at)
            );
        }
        None => {
            let _ = writeln!(out, "- Not resolved yet");
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Who was notified\n");
    let mut by_receiver: BTreeMap<&str, Sent> = BTreeMap::new();
    for e in timeline.iter().filter(|e| e.kind == "notified") {
        let Some(r) = e.receiver.as_deref() else {
            continue;
        };
        let entry = by_receiver.entry(r).or_default();
        entry.count += 1;
        match e.outcome.as_deref() {
            Some("delivered") => entry.delivered += 1,
            Some("failed") => entry.failed += 1,
            _ => {}
        }
        entry.first = Some(entry.first.map_or(e.at, |t| t.min(e.at)));
    }
    if by_receiver.is_empty() {
        let _ = writeln!(out, "- No notification was sent");
    }
    for (r, s) in &by_receiver {
        let _ = writeln!(
            out,
            "- {}: {} notification(s), {} delivered, {} failed{}",
            md(r),
            s.count,
            s.delivered,
            s.failed,
            s.first
                .map(|t| format!(", first at {}", time(t)))
                .unwrap_or_default()
        );
    }
    let escalations: Vec<&TimelineEntry> =
        timeline.iter().filter(|e| e.kind == "escalated").collect();
    for e in &escalations {
        let _ = writeln!(out, "- Escalated at {}: {}", time(e.at), md(&e.text));
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Timeline\n");
    for e in timeline {
        let who = e
            .actor
            .as_deref()
            .map(|a| format!(" ({})", md(a)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {} — {}{who}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            md(&e.text)
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Root cause\n\n_To be written._\n");
    let _ = writeln!(out, "## Open questions\n");
    let _ = writeln!(out, "- What caused {}?", md(&names.join(" and ")));
    if let Some(start) = first_start
        && incident.opened_at - start > chrono::Duration::minutes(5)
    {
        let _ = writeln!(
            out,
            "- Detection took {}: can the alert fire sooner?",
            human_duration(incident.opened_at - start)
        );
    }
    if incident.acknowledged_at.is_none() {
        let _ = writeln!(
            out,
            "- Nobody acknowledged: did the notifications reach the right people?"
        );
    }
    if !escalations.is_empty() {
        let _ = writeln!(
            out,
            "- The incident escalated {} time(s): why did the first level not respond in time?",
            escalations.len()
        );
    }
    if by_receiver.values().any(|v| v.failed > 0) {
        let _ = writeln!(
            out,
            "- Some notifications failed: is every receiver's configuration still right?"
        );
    }
    if incident.state != IncidentState::Resolved {
        let _ = writeln!(
            out,
            "- The incident is not resolved yet: what is left to do?"
        );
    }
    let _ = writeln!(out, "- What would keep this from happening again?\n");
    let _ = writeln!(out, "## Action items\n\n- [ ] \n");
    out
}
