//! Every chart the UI draws, as inline SVG (no JavaScript): the response-time sparkline
//! and chart of monitors (one line over the last checks, failed checks as red ticks), and
//! the time-series chart of the metrics explorer and dashboards (one line per series on
//! a time axis, value axis in the panel's unit, threshold lines, a legend). They share
//! the value scale and the colour palette.

use maud::{Markup, html};

use super::units;

/// Series colours, in order; chosen to stay apart on white and for common colour blindness.
pub const PALETTE: [&str; 12] = [
    "#1e5fa8", "#e8743b", "#19a979", "#ed4a7b", "#945ecf", "#13a4b4", "#525df4", "#bf399e",
    "#6c8893", "#c59700", "#2f6497", "#ee6868",
];

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A Grafana colour name (`green`, `dark-red`, `semi-dark-orange`) or CSS colour as CSS;
/// anything that is not a colour (a dashboard stored before colours were checked) is red,
/// so no other CSS reaches a `style` attribute.
pub fn css_color(name: &str) -> String {
    let n = name.trim();
    if !pharos_app::dashboards::colour::is_colour(n) {
        return "#c62828".into();
    }
    if n.starts_with('#') || n.starts_with("rgb") || n.starts_with("hsl") {
        return n.to_string();
    }
    let base = n
        .trim_start_matches("super-light-")
        .trim_start_matches("light-")
        .trim_start_matches("semi-dark-")
        .trim_start_matches("dark-");
    match base {
        "green" => "#1f8a4c",
        "red" => "#c62828",
        "orange" => "#e8743b",
        "yellow" => "#c59700",
        "blue" => "#1e5fa8",
        "purple" => "#945ecf",
        "text" | "transparent" => "#66707a",
        _ if base.chars().all(|c| c.is_ascii_alphabetic()) && !base.is_empty() => base,
        _ => "#c62828",
    }
    .to_string()
}

/// Round tick values covering `lo..=hi`: steps of 1, 2, 2.5 or 5 times a power of ten.
pub fn nice_ticks(lo: f64, hi: f64, about: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / about.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // From the tick at or below the lowest value to the one at or above the highest, so
    // no line touches the frame and the top of the axis is labelled.
    let first = (lo / step + 1e-9).floor() * step;
    let last = (hi / step - 1e-9).ceil() * step;
    let mut out = Vec::new();
    let mut v = first;
    while v <= last + step * 1e-9 && out.len() < 50 {
        // Exact zero rather than -1e-17.
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// A small response-time line, oldest point first. Failed checks are red ticks.
pub fn sparkline(points: &[(Option<f64>, bool)], width: u32, height: u32) -> Markup {
    checks_chart(points, width, height, false)
}

/// The monitor page's larger chart, with a scale.
pub fn latency_chart(points: &[(Option<f64>, bool)], width: u32, height: u32) -> Markup {
    checks_chart(points, width, height, true)
}

fn checks_chart(points: &[(Option<f64>, bool)], width: u32, height: u32, scale: bool) -> Markup {
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
        super::layout::millis(Some(max))
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
                text x="2" y="10" class="scale" { (super::layout::millis(Some(max))) }
                text x="2" y=(h - 2.0) class="scale" { "0" }
            }
        }
    }
}

/// One line of a time-series chart.
pub struct Line {
    pub label: String,
    /// (Unix ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

/// A horizontal line at a value, in a colour.
pub struct Mark {
    pub value: f64,
    pub color: String,
}

/// What a time-series chart shows and how big it is drawn (in SVG units; it scales to
/// its box).
pub struct TimeChart<'a> {
    pub lines: &'a [Line],
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub unit: &'a str,
    pub decimals: Option<u8>,
    pub marks: &'a [Mark],
    pub width: u32,
    pub height: u32,
    /// Title for screen readers and the tooltip.
    pub label: &'a str,
}

const LEFT: f64 = 70.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// Time-axis tick spacings, smallest first.
pub(crate) const TIME_STEPS_MS: [i64; 17] = [
    1_000,
    5_000,
    15_000,
    30_000,
    60_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    2_592_000_000,
];

fn time_ticks(start: i64, end: i64, max_ticks: i64) -> (i64, Vec<i64>) {
    let span = (end - start).max(1);
    let step = TIME_STEPS_MS
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks)
        .unwrap_or(2_592_000_000);
    let first = start.div_euclid(step) * step + if start.rem_euclid(step) == 0 { 0 } else { step };
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= end)
        .take(64)
        .collect();
    (step, ticks)
}

fn time_label(t: i64, tick_step: i64, span: i64) -> String {
    let Some(d) = chrono::DateTime::from_timestamp_millis(t) else {
        return String::new();
    };
    if tick_step >= 86_400_000 {
        d.format("%b %d").to_string()
    } else if span > 86_400_000 {
        d.format("%m-%d %H:%M").to_string()
    } else if tick_step < 60_000 {
        d.format("%H:%M:%S").to_string()
    } else {
        d.format("%H:%M").to_string()
    }
}

/// The value range drawn: the data's, from zero when everything is positive, widened a
/// little so a flat line is not glued to an edge.
fn value_range(lines: &[Line], marks: &[Mark]) -> Option<(f64, f64)> {
    let vals = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return None;
    }
    // Thresholds near the data are shown; one far above would flatten every line.
    for m in marks {
        if m.value.is_finite() && m.value <= hi * 1.5 + f64::EPSILON && m.value >= lo {
            hi = hi.max(m.value);
        }
    }
    if lo >= 0.0 {
        lo = 0.0;
    }
    if hi <= lo {
        hi = if lo == 0.0 { 1.0 } else { lo + lo.abs() * 0.1 };
    }
    Some((lo, hi))
}

/// Where a time-series chart's times and values land, in SVG units.
struct Frame {
    w: f64,
    h: f64,
    plot_w: f64,
    plot_h: f64,
    start: i64,
    end: i64,
    /// The data's value range; none when no value is finite.
    range: Option<(f64, f64)>,
    /// The value axis, widened to its outer ticks.
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Frame {
    fn new(c: &TimeChart) -> Frame {
        let (w, h) = (c.width as f64, c.height as f64);
        let plot_w = w - LEFT - RIGHT;
        let plot_h = h - TOP - BOTTOM;
        let (start, end) = (c.start_ms, c.end_ms.max(c.start_ms + 1));
        let range = value_range(c.lines, c.marks);
        let (lo, hi) = range.unwrap_or((0.0, 1.0));
        let ticks = nice_ticks(lo, hi, ((plot_h / 40.0) as usize).max(2));
        let (lo, hi) = (
            lo.min(ticks.first().copied().unwrap_or(lo)),
            hi.max(ticks.last().copied().unwrap_or(hi)),
        );
        Frame {
            w,
            h,
            plot_w,
            plot_h,
            start,
            end,
            range,
            lo,
            hi,
            ticks,
        }
    }

    fn x(&self, t: i64) -> f64 {
        LEFT + (t - self.start) as f64 / (self.end - self.start) as f64 * self.plot_w
    }

    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_h - (v - self.lo) / (self.hi - self.lo) * self.plot_h
    }
}

pub fn time_series(c: &TimeChart) -> Markup {
    time_series_with_spans(c, &[], "no data in this range")
}

/// A stretch of time shaded behind a time-series chart's lines, such as an outage.
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
    /// CSS class: `outage` (down) or `failed` (some checks failed).
    pub class: &'static str,
    /// The tooltip.
    pub title: String,
}

/// A time-series chart with stretches of time shaded behind its lines, and `empty` in the
/// middle when no line has a value.
pub fn time_series_with_spans(c: &TimeChart, spans: &[Span], empty: &str) -> Markup {
    let f = Frame::new(c);
    let shaded: Vec<(f64, f64, &Span)> = spans
        .iter()
        .filter(|s| s.end_ms > f.start && s.start_ms < f.end)
        .map(|s| {
            let x1 = f.x(s.start_ms.max(f.start));
            let x2 = f.x(s.end_ms.min(f.end));
            // At least a pixel wide, so a short failure on a long range still shows.
            (x1, (x2 - x1).max(1.5), s)
        })
        .collect();
    // A gap longer than two steps is missing data, not a straight line.
    let gap = c.step_ms.max(1) * 2;
    let paths: Vec<String> = c.lines.iter().map(|l| path(&f, &l.points, gap)).collect();
    let dots = lone_points(&f, c.lines, gap);
    let (w, lo, hi) = (f.w, f.lo, f.hi);
    html! {
        svg.timeseries viewBox={ "0 0 " (c.width) " " (c.height) } role="img" aria-label=(c.label) preserveAspectRatio="xMidYMid meet" {
            title { (c.label) }
            @for (x, w, s) in &shaded {
                rect class={ "span " (s.class) } x=(format!("{x:.1}")) y=(TOP) width=(format!("{w:.1}")) height=(format!("{:.1}", f.plot_h)) { title { (s.title) } }
            }
            (axes(&f, c))
            @if f.range.is_none() {
                text.empty x=(LEFT + f.plot_w / 2.0) y=(TOP + f.plot_h / 2.0) text-anchor="middle" { (empty) }
            }
            @for m in c.marks {
                @if f.range.is_some() && m.value >= lo && m.value <= hi {
                    line.threshold x1=(LEFT) x2=(w - RIGHT) y1=(format!("{:.1}", f.y(m.value))) y2=(format!("{:.1}", f.y(m.value))) stroke=(css_color(&m.color)) {}
                }
            }
            @for (i, (d, l)) in paths.iter().zip(c.lines).enumerate() {
                @if !d.is_empty() {
                    path.series d=(d) stroke=(color(i)) data-series=(i) { title { (l.label) } }
                }
            }
            @for (i, cx, cy) in &dots {
                circle cx=(format!("{cx:.1}")) cy=(format!("{cy:.1}")) r="2" fill=(color(*i)) {}
            }
        }
    }
}

/// The grid with the value axis in the chart's unit, the time axis, and the base line.
fn axes(f: &Frame, c: &TimeChart) -> Markup {
    let (tick_step, tticks) = time_ticks(f.start, f.end, ((f.plot_w / 110.0) as i64).max(2));
    let (w, h) = (f.w, f.h);
    html! {
        @for v in &f.ticks {
            line.grid x1=(LEFT) x2=(w - RIGHT) y1=(format!("{:.1}", f.y(*v))) y2=(format!("{:.1}", f.y(*v))) {}
            text.axis x=(LEFT - 6.0) y=(format!("{:.1}", f.y(*v) + 4.0)) text-anchor="end" { (units::format(c.unit, *v, c.decimals)) }
        }
        @for t in &tticks {
            line.grid x1=(format!("{:.1}", f.x(*t))) x2=(format!("{:.1}", f.x(*t))) y1=(TOP) y2=(TOP + f.plot_h) {}
            @let label = time_label(*t, tick_step, f.end - f.start);
            @let (x, anchor) = time_label_place(f.x(*t), &label, w);
            text.axis x=(format!("{x:.1}")) y=(h - 6.0) text-anchor=(anchor) { (label) }
        }
        line.base x1=(LEFT) x2=(w - RIGHT) y1=(TOP + f.plot_h) y2=(TOP + f.plot_h) {}
    }
}

/// Width of an axis label's character in SVG units (11 px tabular digits, with room).
const AXIS_CHAR_WIDTH: f64 = 7.0;

/// Where a time label centred under its tick at `x` is drawn, and its `text-anchor`: a
/// label that would cross the chart's left or right edge is pushed inside, so the last
/// one is never cut off.
fn time_label_place(x: f64, label: &str, width: f64) -> (f64, &'static str) {
    let half = label.chars().count() as f64 * AXIS_CHAR_WIDTH / 2.0;
    if x + half > width - 2.0 {
        (width - 2.0, "end")
    } else if x - half < 2.0 {
        (2.0, "start")
    } else {
        (x, "middle")
    }
}

/// One line as path data, starting afresh after a non-finite value or a gap.
fn path(f: &Frame, points: &[(i64, f64)], gap: i64) -> String {
    let mut d = String::new();
    let mut prev: Option<i64> = None;
    for &(t, v) in points {
        if !v.is_finite() {
            prev = None;
            continue;
        }
        let cmd = match prev {
            Some(p) if t - p <= gap => 'L',
            _ => 'M',
        };
        d.push_str(&format!("{cmd}{:.1},{:.1}", f.x(t), f.y(v)));
        prev = Some(t);
    }
    d
}

/// Points with no neighbour within the gap, which a path alone would leave invisible:
/// (line, x, y).
fn lone_points(f: &Frame, lines: &[Line], gap: i64) -> Vec<(usize, f64, f64)> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            let pts = &l.points;
            pts.iter().enumerate().filter_map(move |(j, &(t, v))| {
                let near = |k: Option<usize>| {
                    k.and_then(|k| pts.get(k))
                        .is_some_and(|&(u, w)| w.is_finite() && (u - t).abs() <= gap)
                };
                (v.is_finite() && !near(j.checked_sub(1)) && !near(Some(j + 1)))
                    .then(|| (i, f.x(t), f.y(v)))
            })
        })
        .take(2000)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 970.0, 4),
            vec![0.0, 250.0, 500.0, 750.0, 1000.0]
        );
        assert_eq!(nice_ticks(0.0, 0.85, 3), vec![0.0, 0.5, 1.0]);
        let (step, t) = time_ticks(0, 3_600_000, 8);
        assert_eq!(step, 600_000);
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn gaps_break_lines_and_empty_charts_say_so() {
        let lines = [Line {
            label: "{job=\"a\"}".into(),
            points: vec![(0, 1.0), (1000, 2.0), (10_000, 3.0)],
        }];
        let svg = time_series(&TimeChart {
            lines: &lines,
            start_ms: 0,
            end_ms: 10_000,
            step_ms: 1000,
            unit: "s",
            decimals: None,
            marks: &[],
            width: 600,
            height: 200,
            label: "t",
        })
        .into_string();
        let d = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        assert_eq!(
            d.matches('M').count(),
            2,
            "a 9 s gap at a 1 s step breaks the line: {d}"
        );
        assert!(
            svg.contains("<circle"),
            "the lone last point is a dot: {svg}"
        );
        let empty = time_series(&TimeChart {
            lines: &[],
            start_ms: 0,
            end_ms: 10_000,
            step_ms: 1000,
            unit: "s",
            decimals: None,
            marks: &[],
            width: 600,
            height: 200,
            label: "t",
        })
        .into_string();
        assert!(empty.contains("no data in this range"));
        assert_eq!(css_color("dark-red"), "#c62828");
        assert_eq!(css_color("#abc"), "#abc");
    }

    #[test]
    fn the_last_time_label_stays_inside_the_chart() {
        // A tick at the right edge (the end of the range falls on a round minute).
        assert_eq!(
            time_label_place(590.0, "12-07 19:40", 600.0),
            (598.0, "end")
        );
        assert_eq!(time_label_place(300.0, "19:40", 600.0), (300.0, "middle"));
        assert_eq!(time_label_place(3.0, "19:40", 600.0), (2.0, "start"));
        let svg = time_series(&TimeChart {
            lines: &[],
            start_ms: 0,
            end_ms: 3_600_000,
            step_ms: 60_000,
            unit: "s",
            decimals: None,
            marks: &[],
            width: 600,
            height: 200,
            label: "t",
        })
        .into_string();
        assert!(
            svg.contains("x=\"598.0\" y=\"194\" text-anchor=\"end\">01:00<"),
            "{svg}"
        );
    }

    #[test]
    fn a_colour_that_is_not_a_colour_brings_no_css_into_the_page() {
        assert_eq!(
            css_color("#fff;background:url(https://evil.example/)"),
            "#c62828"
        );
        assert_eq!(css_color("rgb(1,2,3);x:y"), "#c62828");
        assert_eq!(css_color("rgba(1, 2, 3, 0.5)"), "rgba(1, 2, 3, 0.5)");
    }
}
