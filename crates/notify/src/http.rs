//! Sending one HTTP request for a receiver (most channels POST their payload as JSON) and
//! deciding what its answer means: delivered (2xx), worth a retry (network error, 408,
//! 429, 5xx) or not (any other 4xx). Written once so every HTTP channel retries the same
//! way.

use std::time::Duration;

use crate::SendError;

/// Per request, for channels whose config has no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response's body is kept in the delivery log: enough for Slack's
/// `invalid_token` or Telegram's `Bad Request: chat not found`.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// The client every receiver sends with: no proxy from the environment (a proxy set for
/// something else must not see alert payloads), Pharos's user agent.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(format!("Pharos/{}", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
}

/// The request of every JSON channel: `body` POSTed as JSON within `timeout`. A channel
/// that needs more (headers, a token) adds it before [`send`].
pub fn json_post(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    timeout: Duration,
    body: String,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .timeout(timeout)
        .header("Content-Type", "application/json")
        .body(body)
}

/// POSTs `body` as JSON within [`DEFAULT_TIMEOUT`] and classifies the answer: the whole
/// send of a channel whose request is its payload and nothing more.
pub async fn post_json(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    body: String,
) -> Result<u16, SendError> {
    send(json_post(client, url, DEFAULT_TIMEOUT, body)).await
}

/// Sends `request` and classifies the answer.
pub async fn send(request: reqwest::RequestBuilder) -> Result<u16, SendError> {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Err(SendError::Retryable {
                status: None,
                reason: describe(&e),
            });
        }
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let body = response.text().await.unwrap_or_default();
    let body = body.trim();
    let reason = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!(
            "HTTP {status}: {}",
            crate::text::cut(&body.replace(['\n', '\r'], " "), MAX_ERROR_BODY_CHARS)
        )
    };
    match status {
        408 | 429 | 500..=599 => Err(SendError::Retryable {
            status: Some(status),
            reason,
        }),
        _ => Err(SendError::Permanent {
            status: Some(status),
            reason,
        }),
    }
}

/// reqwest's own message names the URL, and receivers' URLs hold tokens (Telegram's
/// `/bot<token>/`, Slack's webhook path): keep only the kind and the causes.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut inner = None;
    while let Some(s) = source {
        inner = Some(s.to_string());
        source = s.source();
    }
    match inner {
        Some(i) => format!("{kind}: {i}"),
        None => kind.to_string(),
    }
}
