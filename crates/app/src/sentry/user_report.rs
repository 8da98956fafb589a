//! The older user-feedback endpoint, `POST /api/0/projects/{org}/{project}/user-feedback/`:
//! a `{event_id, name, email, comments}` body authenticated by a DSN key
//! (`Authorization: DSN <dsn>`, as Sentry documents it, or the usual `X-Sentry-Auth` /
//! `sentry_key`). The URL names the project by slug: its name or its DSN id. The report
//! takes the same way as a `user_report` envelope item: quota, then the error store.

use chrono::Utc;
use pharos_ingest::sentry::feedback::{self, FeedbackError};
use pharos_ingest::sentry::{Record, auth};
use serde::Serialize;

use super::SentryRefused;
use super::directory::AuthError;
use super::quota;
use crate::{App, AppError};

/// One user report, as the endpoint's caller sent it.
pub struct UserReportRequest<'a> {
    /// The project slug from the URL.
    pub project: &'a str,
    /// `Authorization` or `X-Sentry-Auth`.
    pub auth_header: Option<&'a str>,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the endpoint answers: the report as stored, in Sentry's field names.
#[derive(Serialize, Debug)]
pub struct UserReportAccepted {
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub comments: String,
    #[serde(rename = "dateCreated")]
    pub date_created: chrono::DateTime<Utc>,
}

/// The key of `Authorization: DSN https://<key>@host/<id>`, else of a Sentry auth header.
fn key_of(auth_header: Option<&str>, query: Option<&str>) -> Option<String> {
    let header = auth_header.map(str::trim);
    header
        .and_then(|h| h.strip_prefix("DSN ").or_else(|| h.strip_prefix("dsn ")))
        .and_then(|dsn| auth::key_from_dsn(dsn.trim()))
        .or_else(|| {
            header
                .and_then(auth::key_from_auth_header)
                .map(str::to_owned)
        })
        .or_else(|| query.and_then(auth::key_from_query))
}

impl App {
    /// Accepts one user report; answered once it is committed.
    pub async fn accept_user_report(
        &self,
        r: UserReportRequest<'_>,
    ) -> Result<UserReportAccepted, SentryRefused> {
        let m = &self.errors.metrics;
        let info = {
            let directory = self
                .errors
                .directory
                .read()
                .unwrap_or_else(|p| p.into_inner());
            key_of(r.auth_header, r.query)
                .ok_or(AuthError::NoKey)
                .and_then(|k| directory.project_of_key(&k))
        }
        .map_err(|e| {
            m.item("user_report", "unauthorized");
            SentryRefused::from(AppError::Unauthorized(e.message().into()))
        })?;
        let slug = r.project.trim();
        if slug != info.id.to_string() && !slug.eq_ignore_ascii_case(&info.name) {
            m.item("user_report", "unauthorized");
            return Err(AppError::Unauthorized(AuthError::WrongProject.message().into()).into());
        }
        let received = Utc::now();
        let report = feedback::parse_user_report(r.body, &self.errors.scrubber(), received)
            .map_err(|e| {
                m.item("user_report", "invalid");
                SentryRefused::from(match e {
                    e @ FeedbackError::TooLarge => AppError::TooLarge(e.to_string()),
                    e => AppError::invalid(e.to_string()),
                })
            })?;
        let answer = UserReportAccepted {
            event_id: report.feedback_id.clone(),
            name: report.name.clone(),
            email: report.email.clone(),
            comments: report.message.clone(),
            date_created: received,
        };
        let records = self.apply_inbound_filters(&info, vec![Record::Feedback(report)], received);
        if records.is_empty() {
            return Ok(answer);
        }
        let quota::Admitted { kept, over, .. } = self
            .apply_quota(&info, records, received, r.body.len())
            .await;
        if kept.is_empty() {
            let retry = over.iter().map(|o| o.retry_after_secs).max().unwrap_or(60);
            return Err(SentryRefused {
                error: AppError::RateLimited {
                    message: "project feedback quota exceeded".into(),
                    retry_after_secs: retry,
                },
                over_quota: over,
            });
        }
        self.commit_records(&info, received, kept).await?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_comes_from_a_dsn_header_or_the_usual_places() {
        assert_eq!(
            key_of(Some("DSN http://abcdef0123456789@127.0.0.1:9800/7"), None).as_deref(),
            Some("abcdef0123456789")
        );
        assert_eq!(
            key_of(Some("Sentry sentry_key=k1, sentry_version=7"), None).as_deref(),
            Some("k1")
        );
        assert_eq!(key_of(None, Some("sentry_key=q")).as_deref(), Some("q"));
        assert_eq!(key_of(Some("Bearer x"), None), None);
    }
}
