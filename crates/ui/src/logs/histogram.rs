//! The histogram over the search's range: one bar per time step, stacked by level with
//! the most severe at the bottom, each bar a link that zooms the search into its time,
//! and a legend of the levels' totals that filters by level. Inline SVG like
//! `ui/chart.rs`; its time-axis helpers are private to that file, so the few lines of
//! tick placement are here again.

use maud::{Markup, html};
use pharos_logs::Histogram;
use pharos_model::LogLevel;

use super::entry::level_class;
use super::{View, seconds};
use crate::chart::nice_ticks;
use crate::units;

const WIDTH: f64 = 1100.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 20.0;

/// Bottom of the stack first: the lines people look for stay on the baseline.
const STACK: [Option<LogLevel>; 8] = [
    Some(LogLevel::Critical),
    Some(LogLevel::Error),
    Some(LogLevel::Warning),
    Some(LogLevel::Notice),
    Some(LogLevel::Info),
    Some(LogLevel::Debug),
    Some(LogLevel::Trace),
    None,
];

pub fn chart(h: &Histogram, view: &View) -> Markup {
    let n = h.buckets.len().max(1);
    let step_ms = (h.step_seconds * 1000.0).round().max(1.0) as i64;
    let start_ms = h.range.start.timestamp_millis();
    let end_ms = start_ms.saturating_add(step_ms.saturating_mul(n as i64));
    let max = h.buckets.iter().map(|b| b.total).max().unwrap_or(0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let ticks = nice_ticks(0.0, (max as f64).max(1.0), 3)
        .into_iter()
        .filter(|t| t.fract() == 0.0)
        .collect::<Vec<_>>();
    let top = ticks.last().copied().unwrap_or(1.0).max(1.0);
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let bw = plot_w / n as f64;
    let gap = if bw > 4.0 { 1.0 } else { 0.0 };
    let x_of = |t: i64| LEFT + (t - start_ms) as f64 / (end_ms - start_ms) as f64 * plot_w;
    let totals: Vec<(Option<LogLevel>, u64)> = STACK
        .iter()
        .map(|l| (*l, h.buckets.iter().map(|b| b.count(*l)).sum()))
        .filter(|(_, c)| *c > 0)
        .collect();
    let label = format!(
        "Matching lines per {}, by level",
        pharos_app::dashboards::variables::duration(step_ms)
    );
    html! {
        div.chartbox.log-histogram data-testid="histogram" {
            svg.timeseries viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) preserveAspectRatio="xMidYMid meet" {
                title { (label) }
                @for v in &ticks {
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{:.1}", y(*v))) y2=(format!("{:.1}", y(*v))) {}
                    text.axis x=(LEFT - 6.0) y=(format!("{:.1}", y(*v) + 4.0)) text-anchor="end" { (units::short(*v, Some(0))) }
                }
                @for (t, text) in time_labels(start_ms, end_ms) {
                    text.axis x=(format!("{:.1}", x_of(t))) y=(HEIGHT - 5.0) text-anchor="middle" { (text) }
                }
                line.base x1=(LEFT) x2=(WIDTH - RIGHT) y1=(TOP + plot_h) y2=(TOP + plot_h) {}
                @if max == 0 {
                    text.empty x=(LEFT + plot_w / 2.0) y=(TOP + plot_h / 2.0) text-anchor="middle" { "no lines in this range" }
                }
                @for (i, b) in h.buckets.iter().enumerate() {
                    @if b.total > 0 {
                        @let x = LEFT + i as f64 * bw;
                        @let bar_start = b.start.timestamp_millis();
                        a href=(zoom(view, bar_start, step_ms)) {
                            title { (bar_title(b, step_ms)) }
                            // Full height and invisible, so a short bar is still easy to hit.
                            rect.hit x=(format!("{x:.1}")) y=(TOP) width=(format!("{:.1}", bw)) height=(plot_h) {}
                            @for (level, below, c) in stacked(b) {
                                @let (y0, y1) = (y(below as f64), y((below + c) as f64));
                                rect class={ "lvl-" (level_class(level)) } x=(format!("{x:.1}")) y=(format!("{y1:.1}")) width=(format!("{:.1}", (bw - gap).max(0.5))) height=(format!("{:.1}", (y0 - y1).max(0.5))) {}
                            }
                        }
                    }
                }
            }
            ul.legend.level-legend {
                @for (level, count) in &totals {
                    li {
                        span class={ "swatch lvl-" (level_class(*level)) } {}
                        @match level {
                            Some(l) => { a href=(view.with_filter("level", l.as_str())) { (l.as_str()) } }
                            None => { span.label { "no level" } }
                        }
                        span.last.muted { (count) }
                    }
                }
            }
        }
    }
}

/// A bar's pieces: each level present, with the count stacked below it and its own.
fn stacked(b: &pharos_logs::HistogramBucket) -> Vec<(Option<LogLevel>, u64, u64)> {
    let mut below = 0;
    let mut out = Vec::new();
    for level in STACK {
        let c = b.count(level);
        if c > 0 {
            out.push((level, below, c));
            below += c;
        }
    }
    out
}

fn bar_title(b: &pharos_logs::HistogramBucket, step_ms: i64) -> String {
    let end = b.start + chrono::Duration::milliseconds(step_ms);
    let mut s = format!(
        "{} – {} UTC: {} line{}",
        b.start.format("%m-%d %H:%M:%S"),
        end.format("%H:%M:%S"),
        b.total,
        if b.total == 1 { "" } else { "s" }
    );
    for level in STACK {
        let c = b.count(level);
        if c > 0 {
            s.push_str(&format!(
                "\n{}: {c}",
                level.map_or("no level", |l| l.as_str())
            ));
        }
    }
    s.push_str("\nClick to zoom in");
    s
}

/// The same search over one bar's time.
fn zoom(view: &View, bar_start_ms: i64, step_ms: i64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if !view.query.is_empty() {
        s.append_pair("q", view.query);
    }
    s.append_pair(
        "range",
        &pharos_app::dashboards::variables::duration(step_ms.max(1000)),
    );
    s.append_pair("end", &seconds(bar_start_ms + step_ms.max(1000)));
    if let Some(b) = view.by {
        s.append_pair("by", b);
    }
    format!("/logs?{}", s.finish())
}

/// About seven labels on round times across `[start, end)`.
fn time_labels(start: i64, end: i64) -> Vec<(i64, String)> {
    let span = (end - start).max(1);
    let step = crate::chart::TIME_STEPS_MS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or(2_592_000_000);
    let first = (start + step - 1).div_euclid(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < end)
        .take(16)
        .filter_map(|t| {
            let d = chrono::DateTime::from_timestamp_millis(t)?;
            let text = if step >= 86_400_000 {
                d.format("%b %d").to_string()
            } else if span > 86_400_000 {
                d.format("%m-%d %H:%M").to_string()
            } else if step < 60_000 {
                d.format("%H:%M:%S").to_string()
            } else {
                d.format("%H:%M").to_string()
            };
            Some((t, text))
        })
        .collect()
}
