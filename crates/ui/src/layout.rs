//! The page shell, the stylesheet, and small pieces every page uses: state badges,
//! percentages and relative times. Charts live in [`super::chart`].

use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use pharos_model::MonitorState;

pub use super::chart::{latency_chart, sparkline};

const CSS: &str = include_str!("pharos.css");
const FAVICON: &str = include_str!("favicon.svg");
const NAV_SCRIPT: &str = include_str!("nav.js");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// The icon browsers ask every page for (`/favicon.ico` too, so that request is no 404).
pub async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
}

/// Keeps the current item of a sideways-scrolling navigation bar (on a phone) in view.
pub async fn nav_script() -> impl IntoResponse {
    javascript(NAV_SCRIPT)
}

/// A script embedded in the binary, served with a cache lifetime like the stylesheet.
pub fn javascript(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

/// Which item of the navigation is current.
#[derive(Clone, Copy, PartialEq)]
pub enum Nav {
    Overview,
    Issues,
    Performance,
    Logs,
    LogRules,
    LogStorage,
    Projects,
    Alerts,
    Silences,
    Receivers,
    Rules,
    Slos,
    Metrics,
    Dashboards,
    NewMonitor,
    Incidents,
    StatusPages,
    OnCall,
    Users,
    Tokens,
    None,
}

impl Nav {
    /// The top-level section a page belongs to; sections with several pages get a second
    /// row of links, so the top row stays one line on a laptop screen.
    fn section(self) -> Nav {
        match self {
            Nav::Silences | Nav::Receivers | Nav::Rules | Nav::Slos => Nav::Alerts,
            Nav::NewMonitor => Nav::Overview,
            Nav::Dashboards => Nav::Metrics,
            Nav::LogRules | Nav::LogStorage => Nav::Logs,
            Nav::Users | Nav::Tokens => Nav::Projects,
            Nav::StatusPages => Nav::Incidents,
            other => other,
        }
    }
}

/// The pages under a section, for the second row.
fn section_pages(section: Nav) -> &'static [(Nav, &'static str, &'static str)] {
    match section {
        Nav::Overview => &[
            (Nav::Overview, "/", "Overview"),
            (Nav::NewMonitor, "/monitors/new", "Add monitor"),
        ],
        Nav::Metrics => &[
            (Nav::Metrics, "/metrics/explore", "Explore"),
            (Nav::Dashboards, "/dashboards", "Dashboards"),
        ],
        Nav::Logs => &[
            (Nav::Logs, "/logs", "Search"),
            (Nav::LogRules, "/logs/rules", "Rules"),
            (Nav::LogStorage, "/logs/storage", "Storage"),
        ],
        Nav::Alerts => &[
            (Nav::Alerts, "/alerts", "Alerts"),
            (Nav::Silences, "/silences", "Silences"),
            (Nav::Rules, "/rules", "Rules"),
            (Nav::Slos, "/slos", "SLOs"),
            (Nav::Receivers, "/receivers", "Receivers"),
        ],
        Nav::Incidents => &[
            (Nav::Incidents, "/incidents", "Incidents"),
            (Nav::StatusPages, "/status-pages", "Status pages"),
        ],
        Nav::Projects => &[
            (Nav::Projects, "/projects", "Projects"),
            (Nav::Users, "/settings/users", "Users"),
            (Nav::Tokens, "/settings/tokens", "API tokens"),
        ],
        _ => &[],
    }
}

pub fn page(title: &str, nav: Nav, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pharos" }
                link rel="stylesheet" href="/assets/pharos.css";
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
                script src="/assets/nav.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Pharos" }
                    nav.main {
                        @for (item, href, label) in [
                            (Nav::Overview, "/", "Monitors"),
                            (Nav::Issues, "/issues", "Issues"),
                            (Nav::Performance, "/transactions", "Performance"),
                            (Nav::Logs, "/logs", "Logs"),
                            (Nav::Metrics, "/metrics/explore", "Metrics"),
                            (Nav::Alerts, "/alerts", "Alerts"),
                            (Nav::Incidents, "/incidents", "Incidents"),
                            (Nav::OnCall, "/oncall", "On call"),
                            (Nav::Projects, "/projects", "Projects"),
                        ] {
                            a href=(href) class=[(nav.section() == item).then_some("current")] { (label) }
                        }
                    }
                    a.status-link href="/status" { "Status page" }
                    @if signed_in {
                        form.logout method="post" action="/logout" { button type="submit" { "Sign out" } }
                    }
                }
                @let pages = section_pages(nav.section());
                @if !pages.is_empty() {
                    nav.sub {
                        @for (item, href, label) in pages {
                            a href=(href) class=[(nav == *item).then_some("current")] { (label) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn state_badge(state: MonitorState) -> Markup {
    let label = match state {
        MonitorState::Up => "Up",
        MonitorState::Down => "Down",
        MonitorState::Degraded => "Degraded",
        MonitorState::Paused => "Paused",
        MonitorState::Unknown => "Pending",
    };
    html! { span class={ "badge " (state.as_str()) } data-state=(state.as_str()) { (label) } }
}

/// `"firing"` → `"Firing"`, for labels people read.
pub fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn percent(v: Option<f64>) -> String {
    match v {
        Some(p) if p >= 99.995 => "100%".into(),
        Some(p) if p <= 0.0 => "0%".into(),
        Some(p) => format!("{p:.2}%"),
        None => "–".into(),
    }
}

pub fn millis(v: Option<f64>) -> String {
    match v {
        Some(ms) if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
        None => "–".into(),
    }
}

/// "3 min ago", with the exact time in a tooltip.
pub fn ago(t: Option<DateTime<Utc>>) -> Markup {
    let Some(t) = t else { return html! { "never" } };
    let secs = (Utc::now() - t).num_seconds();
    let text = match secs {
        s if s < 0 => "just now".to_string(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    };
    html! { time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) { (text) } }
}

#[cfg(test)]
mod tests {
    /// Every block of the stylesheet is closed where it should be: a `}` lost when two
    /// sections meet (a merge) silently moves every rule after it into a `@media` block.
    #[test]
    fn the_stylesheet_closes_each_block_before_the_next_comment_section() {
        let mut depth = 0i32;
        let mut in_comment = false;
        for (n, line) in super::CSS.lines().enumerate() {
            // A comment at the start of a line opens a section; indented ones sit in blocks.
            if line.starts_with("/*") && !in_comment {
                assert_eq!(
                    depth,
                    0,
                    "pharos.css:{}: a section starts inside a block",
                    n + 1
                );
            }
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (in_comment, c) {
                    (false, '/') if chars.peek() == Some(&'*') => {
                        chars.next();
                        in_comment = true;
                    }
                    (true, '*') if chars.peek() == Some(&'/') => {
                        chars.next();
                        in_comment = false;
                    }
                    (false, '{') => depth += 1,
                    (false, '}') => depth -= 1,
                    _ => {}
                }
                assert!(depth >= 0, "pharos.css:{}: a `}}` closes nothing", n + 1);
            }
        }
        assert_eq!(depth, 0, "pharos.css: a block is never closed");
    }
}
