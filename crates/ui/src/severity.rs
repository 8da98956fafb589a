//! The one mapping from a `severity` label to what people see, used by every page that
//! shows one (alerts, incidents, rules, log rules): critical and error red, warning amber,
//! info blue, anything else grey. The colours are the `.sev-*` classes in `pharos.css`.

use maud::{Markup, html};

/// The colour class of a severity (`critical`, `warning`, …), case-insensitive; names
/// that Alertmanager users and PagerDuty give the same levels fold into the four.
pub fn class(severity: &str) -> &'static str {
    match severity.trim().to_ascii_lowercase().as_str() {
        "critical" | "error" | "page" | "fatal" | "emergency" | "alert" | "high" | "p1" => {
            "sev-critical"
        }
        "warning" | "warn" | "medium" | "p2" | "p3" => "sev-warning",
        "info" | "informational" | "notice" | "low" | "p4" | "p5" => "sev-info",
        _ => "sev-none",
    }
}

/// A severity as a small coloured tag; nothing for an empty one.
pub fn tag(severity: &str) -> Markup {
    html! {
        @if !severity.trim().is_empty() {
            span class={ "sev " (class(severity)) } data-severity=(severity) { (severity) }
        }
    }
}

/// The tag of a label set's `severity`, if it has one.
pub fn of_labels<'a, I>(labels: I) -> Markup
where
    I: IntoIterator<Item = (&'a String, &'a String)>,
{
    match labels.into_iter().find(|(k, _)| k.as_str() == "severity") {
        Some((_, v)) => tag(v),
        None => html! {},
    }
}

#[cfg(test)]
mod tests {
    use super::class;

    #[test]
    fn one_colour_per_level() {
        for (s, want) in [
            ("critical", "sev-critical"),
            ("error", "sev-critical"),
            ("Critical", "sev-critical"),
            ("warning", "sev-warning"),
            ("info", "sev-info"),
            ("none", "sev-none"),
            ("", "sev-none"),
            ("ticket", "sev-none"),
        ] {
            assert_eq!(class(s), want, "{s}");
        }
    }
}
