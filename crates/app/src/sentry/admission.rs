//! What is checked before a Sentry body is decoded: the DSN key (from `X-Sentry-Auth` /
//! `Authorization`, the `sentry_key` query parameter or, for an envelope, the header line's
//! `dsn` — the only part of a body read before the key is known good, under a small cap),
//! and decoding itself: past a few KiB off the async threads, a bounded number at once,
//! with a bounded queue; a body that finds the queue full is refused with a retry time
//! instead of waiting.

use pharos_ingest::sentry::{Envelope, auth, body};
use tokio::sync::Semaphore;

use super::directory::{AuthError, ProjectInfo};
use super::{Endpoint, SentryRefused};
use crate::{App, AppError};

/// The most of an envelope's header line decoded before its key is checked.
pub const ENVELOPE_HEADER_BYTES: usize = 8 * 1024;
/// The most of a body (as sent, possibly compressed) read while looking for that line.
pub const ENVELOPE_HEADER_READ_BYTES: usize = 64 * 1024;

/// The most a compressed body is decoded on an async thread before it goes to a blocking
/// one.
const DECODE_INLINE_BYTES: usize = 64 * 1024;

/// Bodies decoded at once, and the most admitted (decoding or waiting to).
const DECODING_AT_ONCE_MIN: usize = 2;
const DECODE_QUEUE: usize = 64;

/// Where the request's key was found before any of its body was read.
#[derive(Debug)]
pub enum KeyCheck {
    /// In the headers or the URL, and good for the project.
    Authenticated(ProjectInfo),
    /// Nowhere yet: an envelope may carry it in its header line's `dsn`.
    InEnvelopeHeader,
}

/// The bound on decoding work: `running` permits decode, `admitted` counts those decoding
/// and those waiting to.
pub struct DecodeSlots {
    running: Semaphore,
    admitted: Semaphore,
}

impl Default for DecodeSlots {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        DecodeSlots {
            running: Semaphore::new(cores.max(DECODING_AT_ONCE_MIN)),
            admitted: Semaphore::new(DECODE_QUEUE),
        }
    }
}

impl App {
    /// Checks the key the headers or URL carry, reading nothing of the body.
    pub fn check_sentry_key(
        &self,
        endpoint: Endpoint,
        project: &str,
        auth_header: Option<&str>,
        query: Option<&str>,
    ) -> Result<KeyCheck, SentryRefused> {
        let project_id = project_id(project)?;
        let key = auth_header
            .and_then(auth::key_from_auth_header)
            .map(str::to_owned)
            .or_else(|| query.and_then(auth::key_from_query));
        match (key, endpoint) {
            (None, Endpoint::Envelope) => {
                // An unknown project needs no body read to be refused.
                match self.authenticate(project_id, None) {
                    Err(AuthError::NoKey) => Ok(KeyCheck::InEnvelopeHeader),
                    Err(e) => Err(self.unauthorized(e)),
                    Ok(info) => Ok(KeyCheck::Authenticated(info)),
                }
            }
            (key, _) => self
                .authenticate(project_id, key.as_deref())
                .map(KeyCheck::Authenticated)
                .map_err(|e| self.unauthorized(e)),
        }
    }

    /// Checks the key in an envelope's header line, given the body as read so far
    /// (`complete` once it is all there). `Ok(None)`: the line is not all there yet.
    /// Refused when the line is longer than [`ENVELOPE_HEADER_BYTES`] or carries no good key.
    pub fn check_envelope_header_key(
        &self,
        project: &str,
        content_encoding: Option<&str>,
        read: &[u8],
        complete: bool,
    ) -> Result<Option<ProjectInfo>, SentryRefused> {
        let project_id = project_id(project)?;
        let line = match body::first_line(content_encoding, read, ENVELOPE_HEADER_BYTES) {
            Ok(Some(line)) => line,
            // A body of one line: its header and nothing else.
            Ok(None) if complete => {
                body::decode(content_encoding, read, ENVELOPE_HEADER_BYTES).unwrap_or_default()
            }
            Ok(None) if read.len() < ENVELOPE_HEADER_READ_BYTES => return Ok(None),
            Ok(None) | Err(_) => Vec::new(),
        };
        let key = Envelope::parse(&line)
            .ok()
            .and_then(|e| e.dsn().and_then(auth::key_from_dsn));
        self.authenticate(project_id, key.as_deref())
            .map(Some)
            .map_err(|e| self.unauthorized(e))
    }

    /// The project the key in the request belongs to: headers and URL first, then the
    /// envelope's header line.
    pub(super) fn sentry_caller(
        &self,
        endpoint: Endpoint,
        project: &str,
        content_encoding: Option<&str>,
        auth_header: Option<&str>,
        query: Option<&str>,
        raw: &[u8],
    ) -> Result<ProjectInfo, SentryRefused> {
        match self.check_sentry_key(endpoint, project, auth_header, query)? {
            KeyCheck::Authenticated(info) => Ok(info),
            KeyCheck::InEnvelopeHeader => self
                .check_envelope_header_key(project, content_encoding, raw, true)?
                .ok_or_else(|| self.unauthorized(AuthError::NoKey)),
        }
    }

    /// Decodes a body within [`super::MAX_BODY_BYTES`]. Plain bodies are only copied;
    /// compressed ones are decoded on a blocking thread once a decoding slot is free.
    pub(crate) async fn decode_sentry_body<B: AsRef<[u8]> + Send + 'static>(
        &self,
        encoding: Option<String>,
        raw: B,
    ) -> Result<Vec<u8>, SentryRefused> {
        let m = &self.errors.metrics;
        let refuse = |e: body::BodyError| {
            let (outcome, error) = match e {
                e @ body::BodyError::TooLarge { .. } => {
                    ("too_large", AppError::TooLarge(e.to_string()))
                }
                e @ body::BodyError::Unsupported(_) => {
                    ("bad_encoding", AppError::UnsupportedEncoding(e.to_string()))
                }
                e => ("invalid", AppError::invalid(e.to_string())),
            };
            m.envelope(outcome);
            SentryRefused::from(error)
        };
        let plain = matches!(
            encoding.as_deref().map(str::trim),
            None | Some("") | Some("identity")
        ) && !raw.as_ref().starts_with(&[0x1f, 0x8b]);
        if plain {
            return body::decode(None, raw.as_ref(), super::MAX_BODY_BYTES).map_err(refuse);
        }
        // Most compressed bodies are a few KiB once decoded: decoding them here is cheaper
        // than a thread hand-off, and bounded by the small cap; a body that decodes past
        // it starts over on a blocking thread.
        match body::decode(encoding.as_deref(), raw.as_ref(), DECODE_INLINE_BYTES) {
            Ok(decoded) => {
                m.decoded(decoded.len());
                return Ok(decoded);
            }
            Err(body::BodyError::TooLarge { .. }) => {}
            Err(e) => return Err(refuse(e)),
        }
        let slots = &self.errors.decoding;
        let Ok(_admitted) = slots.admitted.try_acquire() else {
            m.envelope("busy");
            return Err(AppError::RateLimited {
                message: "too many compressed bodies being decoded; try again".into(),
                retry_after_secs: 1,
            }
            .into());
        };
        let _running = slots
            .running
            .acquire()
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let decoded = tokio::task::spawn_blocking(move || {
            body::decode(encoding.as_deref(), raw.as_ref(), super::MAX_BODY_BYTES)
        })
        .await
        .map_err(|e| AppError::Internal(format!("decoding a body: {e}")))?
        .map_err(refuse)?;
        m.decoded(decoded.len());
        Ok(decoded)
    }

    fn authenticate(&self, project: i64, key: Option<&str>) -> Result<ProjectInfo, AuthError> {
        self.errors
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .authenticate(project, key)
    }

    fn unauthorized(&self, e: AuthError) -> SentryRefused {
        self.errors.metrics.envelope("unauthorized");
        AppError::Unauthorized(e.message().into()).into()
    }
}

fn project_id(project: &str) -> Result<i64, SentryRefused> {
    project
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("project {project:?}")).into())
}
