//! OpenTelemetry traces: OTLP/HTTP exports into the span store beside the Sentry SDKs'
//! spans, so one waterfall, transaction list and `TransactionSlow` alert serve both. Two
//! doors:
//!
//! - Sentry's per-project OTLP endpoint, `/api/<project>/integration/otlp/v1/traces`, with
//!   the DSN's public key in `X-Sentry-Auth` (what sentry-sdk's `OTLPIntegration` sends):
//!   every span goes to that project.
//! - `POST /v1/traces` with a `traces:write` token (an OpenTelemetry SDK or collector):
//!   each resource's spans go to the project named like its `service.name`; a service seen
//!   for the first time gets a project, up to [`MAX_PROJECTS`] projects in all.
//!
//! Either way spans pass their project's span quota and disk budget as a Sentry SDK's do.

use chrono::{DateTime, Utc};
use pharos_ingest::otlp::traces::{self, DecodedSpans, RefusedSpan};
use pharos_ingest::otlp::{self, PartialSuccess};
use pharos_ingest::sentry::Record;
use pharos_model::access::Permission;
use pharos_model::sentry::SpanBatch;

use crate::logs::OtlpAnswer;
use crate::sentry::admission::KeyCheck;
use crate::sentry::directory::ProjectInfo;
use crate::sentry::quota::OverQuota;
use crate::sentry::{Endpoint, SentryRefused};
use crate::{App, AppError, Caller};

/// Projects there may be at most for `/v1/traces` to make one for a new service: past it,
/// a new service's spans are refused (an admin can still create projects).
pub const MAX_PROJECTS: usize = 200;

/// The service name of spans whose resource names none (the OpenTelemetry SDKs' own
/// default).
const UNKNOWN_SERVICE: &str = "unknown_service";

/// One OTLP traces export as it came.
pub struct OtlpExport<B> {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub body: B,
}

impl<B> OtlpExport<B> {
    fn protobuf(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|t| t.contains("protobuf"))
    }
}

impl App {
    /// `POST /api/<project>/integration/otlp/v1/traces`: every span to the project whose
    /// DSN key the request carries (in `X-Sentry-Auth` or `?sentry_key=`).
    pub async fn accept_project_otlp_traces<B: AsRef<[u8]> + Send + 'static>(
        &self,
        project: &str,
        auth_header: Option<&str>,
        query: Option<&str>,
        export: OtlpExport<B>,
    ) -> Result<OtlpAnswer, SentryRefused> {
        let info = match self.check_sentry_key(Endpoint::Store, project, auth_header, query)? {
            KeyCheck::Authenticated(info) => info,
            // Only an envelope may carry its key in its body.
            KeyCheck::InEnvelopeHeader => {
                return Err(AppError::Unauthorized("missing authentication: send X-Sentry-Auth: Sentry sentry_key=<key> (the DSN's public key)".into()).into());
            }
        };
        let protobuf = export.protobuf();
        let (decoded, bytes) = self.decode_otlp_traces(export).await?;
        let received = Utc::now();
        let mut batch = SpanBatch::default();
        for group in decoded.services {
            batch.spans.extend(group.batch.spans);
            batch.segments.extend(group.batch.segments);
        }
        let over = if batch.spans.is_empty() {
            Vec::new()
        } else {
            self.store_spans(&info, batch, received, bytes).await?
        };
        tracing::debug!(
            operation = "otlp_traces",
            project = info.id,
            over_quota = over.len(),
            "export stored"
        );
        Ok(answer(protobuf, decoded.refused))
    }

    /// `POST /v1/traces`: each service's spans to the project of its name, made for a
    /// service seen for the first time. Spans a project cannot take now are reported as
    /// refused; when every span was refused for quota the answer is 429, so the exporter
    /// retries later.
    pub async fn accept_otlp_traces<B: AsRef<[u8]> + Send + 'static>(
        &self,
        caller: &Caller,
        export: OtlpExport<B>,
    ) -> Result<OtlpAnswer, AppError> {
        caller.require(Permission::IngestTraces, "push traces")?;
        let protobuf = export.protobuf();
        let (decoded, bytes) = self.decode_otlp_traces(export).await.map_err(|r| r.error)?;
        let received = Utc::now();
        let total = decoded.span_count();
        let mut refused = decoded.refused;
        let mut stored = 0;
        let mut retry_after: Option<u64> = None;
        for (service, batch) in by_service(decoded.services) {
            let count = batch.spans.len();
            let ids: Vec<String> = batch.spans.iter().map(|s| s.span_id.clone()).collect();
            let refuse_all = |refused: &mut Vec<RefusedSpan>, reason: String| {
                refused.extend(ids.iter().map(|id| RefusedSpan {
                    position: format!("service {service:?}, span {id}"),
                    reason: reason.clone(),
                }));
            };
            let info = match self.project_for_service(caller, &service).await {
                Ok(info) => info,
                Err(e) => {
                    refuse_all(&mut refused, e.to_string());
                    continue;
                }
            };
            // Its share of the body, for the disk budget's estimate.
            let share = bytes * count / total.max(1);
            match self.store_spans(&info, batch, received, share).await {
                Ok(_) => stored += count,
                Err(SentryRefused {
                    error:
                        AppError::RateLimited {
                            retry_after_secs, ..
                        },
                    ..
                }) => {
                    retry_after = retry_after.max(Some(retry_after_secs));
                    refuse_all(
                        &mut refused,
                        format!(
                            "project {:?} is over its span quota; retry in {retry_after_secs} s",
                            info.name
                        ),
                    );
                }
                Err(r) => return Err(r.error),
            }
        }
        if let Some(retry_after_secs) = retry_after
            && stored == 0
        {
            return Err(AppError::RateLimited {
                message: "every span of the export is over its project's quota".into(),
                retry_after_secs,
            });
        }
        Ok(answer(protobuf, refused))
    }

    /// The export decompressed (within the ingest body cap) and decoded.
    async fn decode_otlp_traces<B: AsRef<[u8]> + Send + 'static>(
        &self,
        export: OtlpExport<B>,
    ) -> Result<(DecodedSpans, usize), SentryRefused> {
        let protobuf = export.protobuf();
        let data = self
            .decode_sentry_body(export.content_encoding, export.body)
            .await?;
        let scrubber = self.errors.scrubber();
        let decoded = if protobuf {
            traces::decode_protobuf(&data, &scrubber)
        } else {
            traces::decode_json(&data, &scrubber)
        }
        .map_err(|e| SentryRefused::from(AppError::invalid(e.to_string())))?;
        for r in decoded.refused.iter().take(1) {
            tracing::info!(operation = "otlp_traces", count = decoded.refused.len(), error_type = "invalid_span", position = %r.position, error = %r.reason, "spans refused");
        }
        Ok((decoded, data.len()))
    }

    /// Takes the spans through the project's quota into the error store; the categories
    /// that were over quota. Refused with 429 when the quota kept nothing.
    async fn store_spans(
        &self,
        info: &ProjectInfo,
        batch: SpanBatch,
        received: DateTime<Utc>,
        bytes: usize,
    ) -> Result<Vec<OverQuota>, SentryRefused> {
        let records = vec![Record::Spans(Box::new(batch))];
        let admitted = self.apply_quota(info, records, received, bytes).await;
        if admitted.kept.is_empty() {
            if let Some(retry) = admitted.over.iter().map(|o| o.retry_after_secs).max() {
                return Err(SentryRefused {
                    error: AppError::RateLimited {
                        message: "project quota exceeded".into(),
                        retry_after_secs: retry,
                    },
                    over_quota: admitted.over,
                });
            }
            return Ok(admitted.over);
        }
        self.commit_records(info, received, admitted.kept).await?;
        Ok(admitted.over)
    }

    /// The project a service's spans go to: the one of the same name (any case), or a new
    /// one while there are fewer than [`MAX_PROJECTS`].
    async fn project_for_service(
        &self,
        caller: &Caller,
        service: &str,
    ) -> Result<ProjectInfo, AppError> {
        if let Some(info) = self.project_named(service) {
            return Ok(info);
        }
        // One creation at a time, so two exports of a new service make one project.
        let _creating = self.errors.service_projects.lock().await;
        if let Some(info) = self.project_named(service) {
            return Ok(info);
        }
        pharos_model::project::validate_name(service)
            .map_err(|e| AppError::invalid_field("service.name", e))?;
        let known = self
            .errors
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .project_count();
        if known >= MAX_PROJECTS {
            return Err(AppError::invalid(format!(
                "no project is named {service:?} and Pharos already has {known} projects; \
                 create one named like the service's service.name"
            )));
        }
        let name = service.to_string();
        let settings = pharos_model::project::ProjectSettings::default();
        let id = self
            .with_store(move |s| {
                s.errors()
                    .create_project(&name, Some("opentelemetry"), &settings, Utc::now())
            })
            .await?;
        self.refresh_projects().await?;
        tracing::info!(operation = "project_create", project = id, service = %service, caller = %caller, "project created for an OpenTelemetry service");
        self.project_named(service)
            .ok_or_else(|| AppError::Internal(format!("project {id} not found after creation")))
    }

    fn project_named(&self, name: &str) -> Option<ProjectInfo> {
        self.errors
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .project_named(name)
    }
}

/// Each service's spans in one batch (an export may hold a service in several resources).
fn by_service(groups: Vec<traces::ServiceSpans>) -> Vec<(String, SpanBatch)> {
    let mut out: Vec<(String, SpanBatch)> = Vec::new();
    for g in groups {
        let service = g.service.unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
        let i = match out.iter().position(|(s, _)| *s == service) {
            Some(i) => i,
            None => {
                out.push((service, SpanBatch::default()));
                out.len() - 1
            }
        };
        out[i].1.spans.extend(g.batch.spans);
        out[i].1.segments.extend(g.batch.segments);
    }
    out
}

/// An `ExportTraceServiceResponse` in the request's encoding.
fn answer(protobuf: bool, refused: Vec<RefusedSpan>) -> OtlpAnswer {
    let partial: Option<PartialSuccess> = otlp::partial_success(
        refused
            .iter()
            .map(|r| (r.position.as_str(), r.reason.as_str())),
    );
    let body = if protobuf {
        otlp::response_protobuf(partial)
    } else {
        serde_json::to_vec(&otlp::response_json(partial, "rejectedSpans")).unwrap_or_default()
    };
    OtlpAnswer { protobuf, body }
}
