//! `/status/<slug>/badge/<component>/status.svg` and `…/uptime.svg?period=30d`: shields.io
//! style badges of a component a page lists (any other name is a 404, so a badge shows
//! only what the page already shows).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use pharos_app::status_pages::ComponentState;
use pharos_web::{PublicPage, SharedState};
use serde::Deserialize;

use super::feed::escape;
use super::{not_found, page_named};
use crate::guard;

#[derive(Deserialize)]
pub struct UptimeQuery {
    /// `24h`, `1d`, `7d`, `30d` (the default) or `90d`.
    #[serde(default)]
    period: Option<String>,
}

pub async fn status(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, component)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if let Err(r) = guard(&state, &caller, Some(PublicPage::Status), &uri) {
        return r;
    }
    let Some(page) = page_named(&state, &slug) else {
        return not_found();
    };
    match state.component_badge(&page, &component, 1).await {
        Ok(b) => svg(&b.name, b.state.label(), state_colour(b.state)),
        Err(e) => failed(e),
    }
}

pub async fn uptime(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, component)): Path<(String, String)>,
    q: Result<Query<UptimeQuery>, axum::extract::rejection::QueryRejection>,
    uri: Uri,
) -> Response {
    if let Err(r) = guard(&state, &caller, Some(PublicPage::Status), &uri) {
        return r;
    }
    let Some(page) = page_named(&state, &slug) else {
        return not_found();
    };
    let period = q.ok().and_then(|q| q.0.period);
    let Some(days) = period_days(period.as_deref().unwrap_or("30d")) else {
        return (
            StatusCode::BAD_REQUEST,
            "period: one of 24h, 1d, 7d, 30d, 90d",
        )
            .into_response();
    };
    match state.component_badge(&page, &component, days).await {
        Ok(b) => {
            let label = format!("uptime {}", period.as_deref().unwrap_or("30d"));
            let (text, colour) = match b.uptime {
                None => ("no data".to_string(), GREY),
                Some(u) => (crate::layout::percent(Some(u * 100.0)), uptime_colour(u)),
            };
            svg(&label, &text, colour)
        }
        Err(e) => failed(e),
    }
}

fn period_days(p: &str) -> Option<u32> {
    match p {
        "24h" | "1d" => Some(1),
        "7d" => Some(7),
        "30d" => Some(30),
        "90d" => Some(90),
        _ => None,
    }
}

fn failed(e: pharos_app::AppError) -> Response {
    let e: pharos_web::api::ApiError = e.into();
    (e.status, e.message).into_response()
}

const GREEN: &str = "#4c1";
const YELLOW: &str = "#dfb317";
const ORANGE: &str = "#fe7d37";
const RED: &str = "#e05d44";
const BLUE: &str = "#007ec6";
const GREY: &str = "#9f9f9f";

fn state_colour(s: ComponentState) -> &'static str {
    match s {
        ComponentState::Operational => GREEN,
        ComponentState::DegradedPerformance => YELLOW,
        ComponentState::PartialOutage => ORANGE,
        ComponentState::MajorOutage => RED,
        ComponentState::UnderMaintenance => BLUE,
        ComponentState::Paused | ComponentState::Unknown => GREY,
    }
}

fn uptime_colour(u: f64) -> &'static str {
    match u {
        u if u >= 0.999 => GREEN,
        u if u >= 0.99 => YELLOW,
        u if u >= 0.95 => ORANGE,
        _ => RED,
    }
}

/// Width of `text` in Verdana 11px, near enough for a badge (shields.io measures it).
fn text_width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ' ' | '|' | '!' | '\'' => 4,
            'm' | 'w' | 'M' | 'W' | '%' => 10,
            c if c.is_ascii_uppercase() || c.is_ascii_digit() => 8,
            _ => 7,
        })
        .sum()
}

/// A flat two-part badge. Badges change with the component, so caches may keep one a
/// minute.
fn svg(label: &str, message: &str, colour: &str) -> Response {
    let label: String = label.chars().take(60).collect();
    let lw = text_width(&label) + 10;
    let mw = text_width(message) + 10;
    let w = lw + mw;
    let (l, m) = (escape(&label), escape(message));
    let body = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {m}"><title>{l}: {m}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{l}</text><text x="{mx}" y="14">{m}</text></g></svg>"##,
        lx = lw / 2,
        mx = lw + mw / 2,
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        body,
    )
        .into_response()
}
