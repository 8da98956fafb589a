//! The body of `POST /api/v1/logs`: NDJSON, a JSON array or object, or plain text.

use chrono::{DateTime, Utc};
use pharos_model::DecodedLogs;

pub fn decode(
    _body: &[u8],
    _content_type: Option<&str>,
    _service: &str,
    _received: DateTime<Utc>,
) -> DecodedLogs {
    DecodedLogs::default()
}
