//! Monitors: what the overview, the monitor page and the API show (pages of monitors
//! with pre-aggregated uptime, one monitor in detail, its results), and creating,
//! changing and deleting monitors, whoever asks: the API, the UI's form, and Sentry cron
//! check-ins (which describe heartbeat monitors). Config-file monitors change only in the
//! file; these operations refuse them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec, MonitorState, ProbeResult};
use pharos_scrape::secrets::SecretKey;
use pharos_store::{
    HourlyChecks, LatencySummary, MonitorRecord, MonitorSealer, MonitorSource, MonitorStatus,
    Outage, ResultBucket, Store, Uptime,
};
use serde::Serialize;
use serde_json::Value;

use crate::document::{merge_patch, parse_json};
use crate::{App, AppError, Caller};

/// The id prefix of the heartbeat monitors a project's cron check-ins create.
pub fn check_in_prefix(project: i64) -> String {
    format!("sentry-{project}-")
}

/// What `caller` may do to the monitor `id`: anything with the edit permission (editors,
/// admins); with a project's key only that project's check-in heartbeats.
fn authorize(caller: &Caller, id: &MonitorId, spec: Option<&MonitorSpec>) -> Result<(), AppError> {
    match caller {
        c if c.allows(pharos_model::access::Permission::Edit) => Ok(()),
        Caller::ProjectKey { project }
            if id.as_str().starts_with(&check_in_prefix(*project))
                && spec.is_none_or(|s| matches!(s.check, MonitorCheck::Heartbeat(_))) =>
        {
            Ok(())
        }
        _ => Err(AppError::Forbidden(format!(
            "the {caller} may not change monitor {:?}",
            id.as_str()
        ))),
    }
}

/// Seals API monitors' credentials with the data directory's `secrets.key`, the key that
/// seals scrape jobs' (bound to `monitor/<id>`, which no job name can be).
struct MonitorSecrets(SecretKey);

impl MonitorSealer for MonitorSecrets {
    fn seal(
        &self,
        monitor: &MonitorId,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, String> {
        self.0
            .seal(&format!("monitor/{monitor}"), secrets)
            .map_err(|e| e.to_string())
    }

    fn open(&self, monitor: &MonitorId, sealed: &[u8]) -> Result<BTreeMap<String, String>, String> {
        self.0
            .open(&format!("monitor/{monitor}"), sealed)
            .map_err(|e| e.to_string())
    }
}

/// At start, before monitors run: API monitors' credentials are sealed from now on, and
/// those an older version stored in clear are sealed now.
pub fn seal_monitor_secrets(store: &Store, data_dir: &Path) -> Result<(), AppError> {
    let key = SecretKey::load_or_create(data_dir).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(store.seal_monitor_secrets_with(Arc::new(MonitorSecrets(key)))?)
}

/// A `<redacted>` left in a definition stands for a stored credential; where there is
/// none it is refused rather than sent to the target.
fn refuse_placeholders(spec: &MonitorSpec) -> Result<(), AppError> {
    match spec.redacted_field() {
        Some(field) => Err(AppError::invalid_field(
            field,
            format!(
                "{:?} stands for a credential already stored; send the value itself",
                pharos_model::monitor::REDACTED
            ),
        )),
        None => Ok(()),
    }
}

/// The folder of the data directory that monitors made through the API or the UI take
/// client certificates from. Naming any file would have Pharos read it for whoever may
/// edit monitors, and the check's error would tell them whether it exists; config
/// monitors, written by whoever runs Pharos, name any file.
pub const CLIENT_CERT_DIR: &str = "client-certs";

/// Puts an API monitor's `tls_client_cert`/`tls_client_key` in `<data_dir>/client-certs`:
/// a relative path is taken from there (and stored whole, so the probe reads it as is), an
/// absolute one must already lie there, and neither may climb out with `..`.
fn confine_client_cert(spec: &mut MonitorSpec, data_dir: &Path) -> Result<(), AppError> {
    use std::path::Component;
    let MonitorCheck::Http(h) = &mut spec.check else {
        return Ok(());
    };
    let dir = data_dir.join(CLIENT_CERT_DIR);
    for (field, path) in [
        ("http.tls_client_cert", &mut h.tls_client_cert),
        ("http.tls_client_key", &mut h.tls_client_key),
    ] {
        let Some(p) = path.as_mut() else { continue };
        let inside = if p.is_absolute() {
            p.strip_prefix(&dir).ok().map(Path::to_path_buf)
        } else {
            Some(p.clone())
        };
        match inside {
            Some(rel)
                if rel.components().next().is_some()
                    && rel.components().all(|c| matches!(c, Component::Normal(_))) =>
            {
                *p = dir.join(rel);
            }
            _ => {
                return Err(AppError::invalid_field(
                    field,
                    format!(
                        "monitors made through the API or the UI read client certificates only from {}: name a file there (e.g. `client.pem`); a config-file monitor may name any path",
                        dir.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl App {
    /// Creates a monitor and starts it.
    pub async fn create_monitor(
        &self,
        caller: &Caller,
        spec: MonitorSpec,
    ) -> Result<MonitorId, AppError> {
        authorize(caller, &spec.id, Some(&spec))?;
        if let MonitorCheck::Heartbeat(h) = &spec.check
            && h.token.is_some()
        {
            return Err(AppError::invalid_field(
                "heartbeat.token",
                "Pharos makes the ping token for monitors created through the API",
            ));
        }
        refuse_placeholders(&spec)?;
        let mut spec = spec;
        confine_client_cert(&mut spec, self.store.dir())?;
        let id = spec.id.clone();
        self.with_store(move |s| s.create_monitor(&spec, Utc::now()))
            .await?;
        self.engine.reconcile(std::slice::from_ref(&id)).await?;
        tracing::info!(operation = "monitor_create", monitor = %id, caller = %caller, "monitor created");
        Ok(id)
    }

    /// A monitor made through the API or a check-in; config monitors are a conflict (they
    /// change in the file).
    pub async fn changeable_monitor(&self, id: &MonitorId) -> Result<MonitorRecord, AppError> {
        let id2 = id.clone();
        let rec = self
            .with_store(move |s| s.monitor(&id2))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("monitor {:?}", id.as_str())))?;
        if rec.0.source == MonitorSource::Config {
            return Err(AppError::Conflict(format!(
                "monitor {:?} is defined in the config file; change it there and reload",
                id.as_str()
            )));
        }
        Ok(rec.0)
    }

    /// Stores a changed monitor and restarts it with its state kept.
    pub async fn change_monitor(&self, caller: &Caller, spec: MonitorSpec) -> Result<(), AppError> {
        authorize(caller, &spec.id, Some(&spec))?;
        let id = spec.id.clone();
        self.with_store(move |s| s.update_monitor(&spec, Utc::now()))
            .await?;
        self.engine.reconcile(std::slice::from_ref(&id)).await?;
        tracing::info!(operation = "monitor_update", monitor = %id, caller = %caller, "monitor changed");
        Ok(())
    }

    /// Deletes a monitor with its history and stops it.
    pub async fn delete_monitor(&self, caller: &Caller, id: &MonitorId) -> Result<(), AppError> {
        authorize(caller, id, None)?;
        self.changeable_monitor(id).await?;
        let id2 = id.clone();
        self.with_store(move |s| s.delete_monitor(&id2)).await?;
        self.engine.reconcile(&[]).await?;
        tracing::info!(operation = "monitor_delete", monitor = %id, caller = %caller, "monitor deleted");
        Ok(())
    }
}

/// Uptime as percentages, keyed as people say them.
#[derive(Clone, Debug, Serialize, Default)]
pub struct UptimePercent {
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
    #[serde(rename = "30d")]
    pub d30: Option<f64>,
}

impl From<&Uptime> for UptimePercent {
    fn from(u: &Uptime) -> Self {
        let pct = |v: Option<f64>| v.map(|r| (r * 100_000.0).round() / 1000.0);
        UptimePercent {
            h24: pct(u.h24),
            d7: pct(u.d7),
            d30: pct(u.d30),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorSummary {
    pub id: MonitorId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub target: String,
    pub source: MonitorSource,
    pub paused: bool,
    pub interval_seconds: f64,
    pub state: MonitorState,
    pub state_since: Option<DateTime<Utc>>,
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<f64>,
    pub last_error: Option<String>,
    pub uptime_percent: UptimePercent,
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl MonitorSummary {
    fn new(
        rec: &MonitorRecord,
        status: Option<&MonitorStatus>,
        uptime: Option<&Uptime>,
    ) -> MonitorSummary {
        let spec = &rec.spec;
        MonitorSummary {
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind: spec.check.kind(),
            target: spec.redacted().check.target(),
            source: rec.source,
            paused: spec.paused,
            interval_seconds: spec.interval.as_duration().as_secs_f64(),
            state: if spec.paused {
                MonitorState::Paused
            } else {
                status.map(|s| s.state).unwrap_or(MonitorState::Unknown)
            },
            state_since: status.map(|s| s.state_since),
            last_check_at: status.and_then(|s| s.last_check_at),
            last_latency_ms: status.and_then(|s| s.last_latency_ms),
            last_error: status.and_then(|s| s.last_error.clone()),
            uptime_percent: uptime.map(UptimePercent::from).unwrap_or_default(),
            labels: spec.labels.clone(),
            tags: spec.tags.clone(),
            group: spec.group.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorPage {
    pub monitors: Vec<MonitorSummary>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct NumberView {
    pub name: String,
    pub value: f64,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorDetail {
    #[serde(flatten)]
    pub summary: MonitorSummary,
    pub description: Option<String>,
    /// Response times over the last 24 hours.
    pub latency_24h: LatencySummary,
    pub last_state_change: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    /// For heartbeat monitors: where the job pings.
    pub ping_url: Option<String>,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub numbers: Vec<NumberView>,
    pub recent_results: Vec<ProbeResult>,
    pub in_maintenance: bool,
    /// The definition, as it would be written in the config file (secrets redacted).
    pub spec: MonitorSpec,
}

/// A monitor over a time range: see [`App::monitor_timeline`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct MonitorTimeline {
    pub buckets: Vec<ResultBucket>,
    pub outages: Vec<Outage>,
    /// Hours with failures older than the raw results kept, from the hourly roll-up.
    pub rolled_up_failures: Vec<HourlyChecks>,
}

impl App {
    /// One page of monitors with their uptime: two indexed queries whatever the total.
    /// `search` is a case-insensitive part of a name, id, group or tag.
    pub async fn monitor_page(
        &self,
        filter: Option<MonitorState>,
        search: Option<String>,
        offset: u64,
        limit: u64,
    ) -> Result<MonitorPage, AppError> {
        let (monitors, total) = self
            .with_store(move |s| {
                let (rows, total) = s.list_monitors(filter, search.as_deref(), offset, limit)?;
                let ids: Vec<MonitorId> = rows.iter().map(|(r, _)| r.spec.id.clone()).collect();
                let uptime = s.uptime(&ids, Utc::now())?;
                let monitors = rows
                    .iter()
                    .map(|(r, st)| MonitorSummary::new(r, st.as_ref(), uptime.get(&r.spec.id)))
                    .collect();
                Ok((monitors, total))
            })
            .await?;
        Ok(MonitorPage {
            monitors,
            total,
            limit,
            offset,
        })
    }

    /// A monitor with its state, uptime, latency, recorded numbers and the last `results`
    /// checks; a heartbeat's ping URL under `external_url`.
    pub async fn monitor_detail(
        &self,
        id: MonitorId,
        results: u64,
        external_url: &str,
    ) -> Result<MonitorDetail, AppError> {
        let id2 = id.clone();
        let (rec, stored, uptime, latency, numbers, recent) = self
            .with_store(move |s| {
                let Some((rec, status)) = s.monitor(&id2)? else {
                    return Err(pharos_store::StoreError::NotFound(format!(
                        "monitor {:?}",
                        id2.as_str()
                    )));
                };
                let now = Utc::now();
                let uptime = s.uptime(std::slice::from_ref(&id2), now)?.remove(&id2);
                let latency = s.latency_summary(&id2, now - Duration::hours(24))?;
                let numbers = s.latest_numbers(&id2)?;
                let recent = s.recent_results(&id2, None, results)?;
                Ok((rec, status, uptime, latency, numbers, recent))
            })
            .await?;
        let status = self.engine.live_status(&id).await.or(stored);
        let summary = MonitorSummary::new(&rec, status.as_ref(), uptime.as_ref());
        let ping_url = match &rec.spec.check {
            MonitorCheck::Heartbeat(_) => self
                .engine
                .heartbeat_token(&id)
                .map(|t| format!("{external_url}/ping/{t}")),
            _ => None,
        };
        Ok(MonitorDetail {
            summary,
            description: rec.spec.description.clone(),
            latency_24h: latency,
            last_state_change: status.as_ref().map(|s| s.state_since),
            consecutive_failures: status.as_ref().map(|s| s.consecutive_failures).unwrap_or(0),
            failing_since: status.as_ref().and_then(|s| s.failing_since),
            ping_url,
            last_ping_at: status.as_ref().and_then(|s| s.last_ping_at),
            numbers: numbers
                .into_iter()
                .map(|(name, value, at)| NumberView { name, value, at })
                .collect(),
            recent_results: recent,
            in_maintenance: self.engine.in_maintenance(&id, Utc::now()),
            spec: rec.spec.redacted(),
        })
    }

    /// A JSON merge patch over the monitor's definition, checked like a new one.
    pub async fn patch_monitor(
        &self,
        caller: &Caller,
        id: &MonitorId,
        body: &[u8],
    ) -> Result<(), AppError> {
        let rec = self.changeable_monitor(id).await?;
        let patch: Value = parse_json(body)?;
        if !patch.is_object() {
            return Err(AppError::invalid(
                "send a JSON object with the fields to change (JSON merge patch)",
            ));
        }
        let mut doc =
            serde_json::to_value(&rec.spec).map_err(|e| AppError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &patch);
        if doc.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(AppError::invalid(
                "id: a monitor's id cannot change; create a new monitor instead",
            ));
        }
        let bytes = serde_json::to_vec(&doc).map_err(|e| AppError::Internal(e.to_string()))?;
        let mut spec: MonitorSpec = parse_json(&bytes)?;
        // A definition read from the API shows credentials redacted; sent back, they keep
        // the stored values.
        spec.restore_secrets(&rec.spec.secrets());
        refuse_placeholders(&spec)?;
        confine_client_cert(&mut spec, self.store.dir())?;
        self.change_monitor(caller, spec).await
    }

    /// What a monitor did in `[since, until)`: its checks summed over slices of
    /// `bucket_ms` for a chart, and its outages (newest first, at most `max_outages`),
    /// counted as the monitor counts them: `failures_before_down` failures in a row.
    pub async fn monitor_timeline(
        &self,
        id: MonitorId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket_ms: i64,
        max_outages: usize,
    ) -> Result<MonitorTimeline, AppError> {
        self.with_store(move |s| {
            let Some((rec, _)) = s.monitor(&id)? else {
                return Err(pharos_store::StoreError::NotFound(format!(
                    "monitor {:?}",
                    id.as_str()
                )));
            };
            let min = rec.spec.failures_before_down;
            Ok(MonitorTimeline {
                buckets: s.result_buckets(&id, since, until, bucket_ms)?,
                outages: s.outages(&id, since, until, min, max_outages)?,
                rolled_up_failures: s.rolled_up_failures(&id, since, until)?,
            })
        })
        .await
    }

    /// A monitor's checks, newest first, before `before` when given.
    pub async fn monitor_results(
        &self,
        id: MonitorId,
        before: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<ProbeResult>, AppError> {
        self.with_store(move |s| {
            if s.monitor(&id)?.is_none() {
                return Err(pharos_store::StoreError::NotFound(format!(
                    "monitor {:?}",
                    id.as_str()
                )));
            }
            s.recent_results(&id, before, limit)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(id: &str) -> MonitorSpec {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "heartbeat": {"period": "1h"}
        }))
        .unwrap()
    }

    fn with_cert(cert: &str) -> MonitorSpec {
        serde_json::from_value(serde_json::json!({
            "id": "m", "name": "m",
            "http": {"url": "https://example.com/", "tls_client_cert": cert,
                     "tls_client_key": "client.key"}
        }))
        .unwrap()
    }

    #[test]
    fn api_monitors_take_client_certificates_only_from_the_data_directory() {
        let data = Path::new("/var/lib/pharos");
        let mut spec = with_cert("client.pem");
        confine_client_cert(&mut spec, data).unwrap();
        let MonitorCheck::Http(h) = &spec.check else {
            unreachable!()
        };
        assert_eq!(
            h.tls_client_cert.as_deref(),
            Some(Path::new("/var/lib/pharos/client-certs/client.pem"))
        );
        assert_eq!(
            h.tls_client_key.as_deref(),
            Some(Path::new("/var/lib/pharos/client-certs/client.key"))
        );
        // Stored whole, it is accepted again when the monitor is patched.
        confine_client_cert(&mut spec, data).unwrap();
        for bad in [
            "/etc/shadow",
            "../pharos.db",
            "sub/../../secret.key",
            "/var/lib/pharos/client-certs/../pharos.db",
            "/var/lib/pharos/client-certs",
        ] {
            let err = confine_client_cert(&mut with_cert(bad), data).unwrap_err();
            assert!(err.to_string().contains("client-certs"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_project_key_may_change_only_its_own_check_in_heartbeats() {
        let own = heartbeat("sentry-7-nightly");
        let other = heartbeat("sentry-8-nightly");
        let key = Caller::ProjectKey { project: 7 };
        assert!(authorize(&key, &own.id, Some(&own)).is_ok());
        assert!(authorize(&key, &other.id, Some(&other)).is_err());
        assert!(authorize(&Caller::AnonymousPing, &own.id, Some(&own)).is_err());
        assert!(authorize(&Caller::Admin, &other.id, Some(&other)).is_ok());
    }
}
