//! The span waterfall the transaction page and the trace page both draw: one row per span,
//! indented by depth, with a bar placed by its offset and duration on the time line of the
//! whole; an error event or a log line is a row with a mark at its time. A column shows
//! only when some row fills it (the service, the status).

use maud::{Markup, html};

use crate::layout::millis;

/// Most levels of indentation drawn; deeper rows line up at this depth.
const MAX_INDENT: usize = 24;

/// One row of a waterfall.
pub struct Row {
    pub depth: usize,
    pub service: Option<String>,
    /// The op tag and name, or the event's or line's text with its link.
    pub label: Markup,
    pub status: Option<String>,
    pub timing: Timing,
    pub kind: RowKind,
}

/// Where a row sits on the time line, in milliseconds from the waterfall's start.
pub enum Timing {
    Bar { offset_ms: f64, duration_ms: f64 },
    Mark { offset_ms: f64 },
}

/// What a row is, for its style.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Span,
    Error,
    Log,
}

impl RowKind {
    fn class(self) -> &'static str {
        match self {
            RowKind::Span => "wf-span",
            RowKind::Error => "wf-error",
            RowKind::Log => "wf-log",
        }
    }
}

/// Whether a span's status is a failure (Sentry's and OpenTelemetry's names for success
/// and for not saying are not).
pub fn failed(status: &str) -> bool {
    !matches!(
        status.to_ascii_lowercase().as_str(),
        "" | "ok" | "unknown" | "unset" | "status_code_ok" | "status_code_unset"
    )
}

/// `rows` on a time line of `total_ms`.
pub fn table(total_ms: f64, rows: &[Row]) -> Markup {
    let total = total_ms.max(0.001);
    let pct = |ms: f64| format!("{:.1}", (ms / total * 100.0).clamp(0.0, 100.0));
    let with_service = rows.iter().any(|r| r.service.is_some());
    let with_status = rows.iter().any(|r| r.status.is_some());
    html! {
        table.waterfall {
            thead {
                tr {
                    @if with_service { th { "Service" } }
                    th { "Span" }
                    @if with_status { th { "Status" } }
                    th { "Duration" }
                    th.bar { "Timeline (" (millis(Some(total_ms))) ")" }
                }
            }
            tbody {
                @for r in rows {
                    @let failed = r.status.as_deref().is_some_and(failed);
                    tr class={ (r.kind.class()) @if failed { " failed" } } data-depth=(r.depth) {
                        @if with_service { td.service { @if let Some(s) = &r.service { (s) } } }
                        td.label style={ "padding-left:" (format!("{:.1}", 0.6 + r.depth.min(MAX_INDENT) as f64 * 1.1)) "em" } { (r.label) }
                        @if with_status {
                            td.status { @if let Some(s) = &r.status { @if failed { strong.failed { (s) } } @else { (s) } } }
                        }
                        @match r.timing {
                            Timing::Bar { offset_ms, duration_ms } => {
                                td.num { (millis(Some(duration_ms))) }
                                td.bar { span.span.failed[failed] style={ "margin-left:" (pct(offset_ms)) "%;width:" (format!("{:.1}", (duration_ms / total * 100.0).clamp(0.3, 100.0))) "%" } title={ "+" (millis(Some(offset_ms))) } {} }
                            }
                            Timing::Mark { offset_ms } => {
                                td.num.muted { "+" (millis(Some(offset_ms))) }
                                td.bar { span.mark style={ "margin-left:" (pct(offset_ms)) "%" } title={ "+" (millis(Some(offset_ms))) } {} }
                            }
                        }
                    }
                }
                @if rows.is_empty() { tr { td colspan="3" .muted { "No spans recorded." } } }
            }
        }
    }
}
