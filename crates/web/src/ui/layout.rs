//! The page shell, the stylesheet, and small pieces every page uses: state badges,
//! percentages, relative times and the SVG response-time charts (no JavaScript needed).

use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use pharos_model::MonitorState;

const CSS: &str = include_str!("pharos.css");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// Which item of the navigation is current.
#[derive(Clone, Copy, PartialEq)]
pub enum Nav {
    Overview,
    Issues,
    Performance,
    Projects,
    Alerts,
    NewMonitor,
    None,
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
            }
            body {
                header.top {
                    a.brand href="/" { "Pharos" }
                    nav {
                        a href="/" class=[(nav == Nav::Overview).then_some("current")] { "Monitors" }
                        a href="/issues" class=[(nav == Nav::Issues).then_some("current")] { "Issues" }
                        a href="/transactions" class=[(nav == Nav::Performance).then_some("current")] { "Performance" }
                        a href="/alerts" class=[(nav == Nav::Alerts).then_some("current")] { "Alerts" }
                        a href="/monitors/new" class=[(nav == Nav::NewMonitor).then_some("current")] { "Add monitor" }
                        a href="/projects" class=[(nav == Nav::Projects).then_some("current")] { "Projects" }
                        a href="/status" { "Status page" }
                    }
                    @if signed_in {
                        form.logout method="post" action="/logout" { button type="submit" { "Sign out" } }
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

/// A small response-time line, oldest point first. Failed checks are red ticks.
pub fn sparkline(points: &[(Option<f64>, bool)], width: u32, height: u32) -> Markup {
    chart(points, width, height, false)
}

/// The monitor page's larger chart, with a scale.
pub fn latency_chart(points: &[(Option<f64>, bool)], width: u32, height: u32) -> Markup {
    chart(points, width, height, true)
}

fn chart(points: &[(Option<f64>, bool)], width: u32, height: u32, scale: bool) -> Markup {
    let measured = points.iter().any(|(v, _)| v.is_some());
    let max = points
        .iter()
        .filter_map(|(v, _)| *v)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = points.len().max(2) as f64;
    let (w, h) = (width as f64, height as f64);
    let pad = if scale { 14.0 } else { 2.0 };
    let x = |i: usize| (i as f64) * (w - 2.0) / (n - 1.0) + 1.0;
    let y = |v: f64| h - pad - (v / max) * (h - pad - 2.0);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, (v, _))| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect();
    let label = format!(
        "Response time, last {} checks, max {}",
        points.len(),
        millis(Some(max))
    );
    html! {
        svg.chart width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" aria-label=(label) {
            title { (label) }
            @if points.is_empty() {
                text x="4" y=(h / 2.0) class="empty" { "no checks yet" }
            }
            polyline points=(line.join(" ")) fill="none" class="line" {}
            // A single point makes no line; show it as a dot.
            @if line.len() == 1 {
                @let (cx, cy) = line[0].split_once(',').unwrap_or(("0", "0"));
                circle cx=(cx) cy=(cy) r="2" class="dot" {}
            }
            @for (i, (_, up)) in points.iter().enumerate() {
                @if !up {
                    line x1=(format!("{:.1}", x(i))) x2=(format!("{:.1}", x(i))) y1="0" y2=(h) class="fail" {}
                }
            }
            @if scale && measured {
                text x="2" y="10" class="scale" { (millis(Some(max))) }
                text x="2" y=(h - 2.0) class="scale" { "0" }
            }
        }
    }
}
