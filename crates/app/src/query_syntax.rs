//! A query shown back without running it: laid out by Prometheus's formatter
//! (`/api/v1/format_query`) or as its syntax tree (`/api/v1/parse_query`).

use crate::metrics_store::MetricsError;

/// The query pretty-printed, or the parse error as `bad_data`.
pub fn format_query(query: &str) -> Result<String, MetricsError> {
    Ok(pharos_promql::syntax_tree::format_query(query)?)
}

/// The query's syntax tree in Prometheus 3's JSON shape.
pub fn parse_query(query: &str) -> Result<serde_json::Value, MetricsError> {
    Ok(pharos_promql::syntax_tree::parse_query(query)?)
}
