//! The scrape manager: turns the configured jobs into running target loops and keeps
//! them in step with config reloads and file discovery. A target whose job and labels
//! did not change keeps its loop (and its series cache); a target that went away gets
//! staleness markers for its series.
//!
//! Docker and Consul discovery ask an API: `run_discovery` refreshes each on its
//! `refresh_interval` (and at once after a config change), keeps the groups it read last
//! and the error of the last try, and reconciling takes the groups from there, as it
//! takes a file's: a daemon or catalog that does not answer keeps its previous targets,
//! and the error shows beside the job on the targets page.
//!
//! Jobs come from two places, kept apart as monitors are: the config file's
//! `scrape_configs` (replaced on every reload) and jobs made through the API (kept in the
//! store by the web layer and handed here; a reload never drops them). A job name is
//! unique across both.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pharos_tsdb::Tsdb;

use crate::ScrapeError;
use crate::config::{GlobalConfig, Job, ScrapeConfig};
use crate::consul_sd::ConsulSdConfig;
use crate::discovery::{self, TargetGroup};
use crate::docker_sd::DockerSdConfig;
use crate::metadata::MetadataStore;
use crate::scrape_loop::{self, ScrapeTarget, TargetHealth};
use crate::target;

struct Running {
    st: Arc<ScrapeTarget>,
    handle: tokio::task::JoinHandle<()>,
    fingerprint: String,
}

/// Where a scrape job was defined: config jobs change in the file, API jobs through
/// `/api/v1/scrape_jobs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobSource {
    Config,
    Api,
}

/// Why an API job was refused.
#[derive(Debug)]
pub enum ApiJobError {
    /// The name is taken (by a config job, or by another API job on create).
    Conflict(String),
    /// The job does not pass the checks a config job passes; the message names the field.
    Invalid(ScrapeError),
}

/// One `docker_sd_configs` or `consul_sd_configs` entry of a job.
#[derive(Clone, Debug)]
enum ApiSd {
    Docker(Box<DockerSdConfig>),
    Consul(Box<ConsulSdConfig>),
}

impl ApiSd {
    fn refresh_interval(&self) -> Duration {
        match self {
            ApiSd::Docker(c) => c.refresh_interval.as_duration(),
            ApiSd::Consul(c) => c.refresh_interval.as_duration(),
        }
    }

    async fn refresh(&self) -> Result<Vec<TargetGroup>, String> {
        match self {
            ApiSd::Docker(c) => c.refresh(&c.endpoint()?).await,
            ApiSd::Consul(c) => c.refresh(&c.endpoint()?).await,
        }
    }

    /// Every such entry of a job, keyed `job#docker_sd_configs[0]`.
    fn of(config: &ScrapeConfig) -> Vec<(String, ApiSd)> {
        let job = &config.job_name;
        let docker = config.docker_sd_configs.iter().enumerate().map(|(i, c)| {
            (
                format!("{job}#docker_sd_configs[{i}]"),
                ApiSd::Docker(Box::new(c.clone())),
            )
        });
        let consul = config.consul_sd_configs.iter().enumerate().map(|(i, c)| {
            (
                format!("{job}#consul_sd_configs[{i}]"),
                ApiSd::Consul(Box::new(c.clone())),
            )
        });
        docker.chain(consul).collect()
    }
}

/// What one API discovery entry read last.
struct ApiSdState {
    /// The entry's config as it was read with (`Debug`, which hides Consul's token).
    fingerprint: String,
    groups: Vec<TargetGroup>,
    error: Option<String>,
    refreshed: Instant,
}

struct Desired {
    global: GlobalConfig,
    configs: Vec<ScrapeConfig>,
    base_dir: PathBuf,
}

pub struct ScrapeManager {
    db: Arc<Tsdb>,
    pub metadata: Arc<MetadataStore>,
    running: Mutex<HashMap<String, Running>>,
    /// Targets that could not start (their HTTP client could not be built, e.g. an
    /// unreadable `ca_file`): listed as down with the reason, tried again at every
    /// reconcile.
    failed: Mutex<HashMap<String, Arc<ScrapeTarget>>>,
    file_groups: Mutex<HashMap<String, BTreeMap<PathBuf, Vec<TargetGroup>>>>,
    desired: Mutex<Option<Desired>>,
    /// Jobs made through the API, by name. Lock order: `desired`, then this.
    api_jobs: Mutex<BTreeMap<String, ScrapeConfig>>,
    /// Seals the credentials of API jobs in the store; set once at start.
    pub secrets: std::sync::OnceLock<crate::secrets::SecretKey>,
    /// Per job: targets dropped by relabelling and discovery errors, for the targets page.
    pub job_notes: RwLock<BTreeMap<String, (usize, Vec<String>)>>,
    /// Targets this process answers itself ([`ScrapeManager::add_local_target`]);
    /// reconciling with the config leaves them alone.
    local: Mutex<Vec<Running>>,
    /// Docker and Consul discovery, by `job#docker_sd_configs[i]`.
    api_sd: Mutex<HashMap<String, ApiSdState>>,
    /// Wakes `run_discovery` when jobs changed, so new API discovery is read at once.
    jobs_changed: tokio::sync::Notify,
}

impl ScrapeManager {
    pub fn new(db: Arc<Tsdb>, metadata: Arc<MetadataStore>) -> Arc<Self> {
        Arc::new(ScrapeManager {
            db,
            metadata,
            running: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            file_groups: Mutex::new(HashMap::new()),
            desired: Mutex::new(None),
            api_jobs: Mutex::new(BTreeMap::new()),
            secrets: std::sync::OnceLock::new(),
            job_notes: RwLock::new(BTreeMap::new()),
            local: Mutex::new(Vec::new()),
            api_sd: Mutex::new(HashMap::new()),
            jobs_changed: tokio::sync::Notify::new(),
        })
    }

    /// Scrapes a target whose exposition text this process makes (Pharos's own
    /// metrics), with `config`'s interval and limits and one static target, whose address
    /// becomes its `instance`. It gets `up`, the `scrape_*` series, staleness markers and
    /// a place on the targets page like any target.
    pub fn add_local_target(
        &self,
        config: ScrapeConfig,
        body: scrape_loop::LocalBody,
    ) -> Result<(), ScrapeError> {
        let job = config.resolve(&GlobalConfig::default())?;
        let groups = discovery::static_groups(&job.config.static_configs);
        let (targets, _) = target::targets(&job, &groups);
        let job = Arc::new(job);
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        for t in targets {
            let fingerprint = t.key();
            let st = Arc::new(ScrapeTarget {
                target: t,
                job: job.clone(),
                health: RwLock::new(TargetHealth {
                    health: "unknown".into(),
                    ..Default::default()
                }),
            });
            let handle = scrape_loop::spawn(
                st.clone(),
                self.db.clone(),
                self.metadata.clone(),
                scrape_loop::BodySource::Local(body.clone()),
            );
            local.push(Running {
                st,
                handle,
                fingerprint,
            });
        }
        Ok(())
    }

    /// Checks every job; an error names the job and changes nothing.
    pub fn check(global: &GlobalConfig, configs: &[ScrapeConfig]) -> Result<Vec<Job>, ScrapeError> {
        configs
            .iter()
            .map(|c| {
                c.resolve(global).map_err(|e| ScrapeError::Job {
                    job: c.job_name.clone(),
                    source: Box::new(e),
                })
            })
            .collect()
    }

    /// Applies a (checked) config: starts, keeps and stops target loops.
    pub fn apply(
        &self,
        global: GlobalConfig,
        configs: Vec<ScrapeConfig>,
        base_dir: &Path,
    ) -> Result<(), ScrapeError> {
        Self::check(&global, &configs)?;
        {
            let mut desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
            self.check_names(&configs)?;
            *desired = Some(Desired {
                global,
                configs,
                base_dir: base_dir.to_path_buf(),
            });
        }
        self.reconcile();
        self.jobs_changed.notify_one();
        Ok(())
    }

    /// Refuses config jobs whose name an API job already has (before anything of a new
    /// config is applied, so a clash changes nothing).
    pub fn check_names(&self, configs: &[ScrapeConfig]) -> Result<(), ScrapeError> {
        let api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
        match configs.iter().find(|c| api.contains_key(&c.job_name)) {
            Some(c) => Err(ScrapeError::NameOfApiJob {
                job: c.job_name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The API jobs read back from the store at start, before the first [`apply`](Self::apply).
    pub fn restore_api_jobs(&self, jobs: Vec<ScrapeConfig>) {
        let mut api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
        *api = jobs.into_iter().map(|j| (j.job_name.clone(), j)).collect();
    }

    /// Checks a job as it would run now (against the current `global`), without keeping it.
    pub fn check_api_job(&self, config: &ScrapeConfig) -> Result<Job, ApiJobError> {
        let global = self.global();
        config.resolve(&global).map_err(ApiJobError::Invalid)
    }

    /// Adds (`create`) or replaces an API job and starts its targets. A name used by a
    /// config job is a conflict; so is an existing API job when `create` is set.
    pub fn put_api_job(&self, config: ScrapeConfig, create: bool) -> Result<(), ApiJobError> {
        {
            let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
            let name = config.job_name.clone();
            if desired
                .as_ref()
                .is_some_and(|d| d.configs.iter().any(|c| c.job_name == name))
            {
                return Err(ApiJobError::Conflict(format!(
                    "scrape job {name:?} is defined in the config file; change it there and reload, or choose another job_name"
                )));
            }
            let global = desired
                .as_ref()
                .map(|d| d.global.clone())
                .unwrap_or_default();
            config.resolve(&global).map_err(ApiJobError::Invalid)?;
            let mut api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
            if create && api.contains_key(&name) {
                return Err(ApiJobError::Conflict(format!(
                    "a scrape job named {name:?} already exists"
                )));
            }
            api.insert(name, config);
        }
        self.reconcile();
        self.jobs_changed.notify_one();
        Ok(())
    }

    /// Removes an API job; its targets' series get staleness markers. False if unknown.
    pub fn remove_api_job(&self, name: &str) -> bool {
        let removed = self
            .api_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .is_some();
        if removed {
            self.reconcile();
        }
        removed
    }

    /// Every job with where it comes from: config jobs in file order, then API jobs by name.
    pub fn jobs(&self) -> Vec<(JobSource, ScrapeConfig)> {
        let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(JobSource, ScrapeConfig)> = desired
            .as_ref()
            .map(|d| {
                d.configs
                    .iter()
                    .map(|c| (JobSource::Config, c.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(api.values().map(|c| (JobSource::Api, c.clone())));
        out
    }

    /// The `global:` section in force (defaults before the first config is applied).
    pub fn global(&self) -> GlobalConfig {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|d| d.global.clone())
            .unwrap_or_default()
    }

    /// Re-reads discovery and brings the running loops in line.
    pub fn reconcile(&self) {
        let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = desired.as_ref() else { return };
        let Ok(mut jobs) = Self::check(&d.global, &d.configs) else {
            return;
        };
        let mut api_errors = BTreeMap::new();
        for c in self
            .api_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            if jobs.iter().any(|j| j.config.job_name == c.job_name) {
                continue;
            }
            // A `global` change can make an API job invalid (a timeout above the new
            // interval); that job stops, the others keep running.
            match c.resolve(&d.global) {
                Ok(j) => jobs.push(j),
                Err(e) => {
                    tracing::warn!(operation = "scrape_reconcile", job = %c.job_name, error = %e, "scrape job created through the API is not valid under the current global section; not scraped");
                    api_errors.insert(c.job_name.clone(), e);
                }
            }
        }
        let mut want: HashMap<String, (Arc<ScrapeTarget>, String)> = HashMap::new();
        let mut notes = BTreeMap::new();
        let mut file_groups = self.file_groups.lock().unwrap_or_else(|p| p.into_inner());
        let api_sd = self.api_sd.lock().unwrap_or_else(|p| p.into_inner());
        for job in jobs {
            let mut groups = discovery::static_groups(&job.config.static_configs);
            let mut errors = Vec::new();
            for (i, f) in job.config.file_sd_configs.iter().enumerate() {
                let key = format!("{}#{i}", job.config.job_name);
                let previous = file_groups.get(&key).cloned().unwrap_or_default();
                let (now, errs) = discovery::file_groups(f, &d.base_dir, &previous);
                groups.extend(now.values().flatten().cloned());
                errors.extend(errs);
                file_groups.insert(key, now);
            }
            for (key, _) in ApiSd::of(&job.config) {
                if let Some(state) = api_sd.get(&key) {
                    groups.extend(state.groups.iter().cloned());
                    if let Some(e) = &state.error {
                        let entry = key.split_once('#').map_or(key.as_str(), |(_, e)| e);
                        errors.push(format!("{entry}: {e}"));
                    }
                }
            }
            let (mut targets, dropped) = target::targets(&job, &groups);
            if job.target_limit > 0 && targets.len() as u64 > job.target_limit {
                errors.push(format!(
                    "target_limit exceeded: {} targets, limit {}; none are scraped",
                    targets.len(),
                    job.target_limit
                ));
                targets.clear();
            }
            notes.insert(job.config.job_name.clone(), (dropped, errors));
            let fingerprint = format!("{:?}", job.config);
            let job = Arc::new(job);
            for t in targets {
                let key = t.key();
                let st = Arc::new(ScrapeTarget {
                    target: t,
                    job: job.clone(),
                    health: RwLock::new(TargetHealth {
                        health: "unknown".into(),
                        ..Default::default()
                    }),
                });
                want.insert(key, (st, fingerprint.clone()));
            }
        }
        drop(file_groups);
        drop(api_sd);
        for (name, e) in api_errors {
            notes.insert(name, (0, vec![e.to_string()]));
        }
        *self.job_notes.write().unwrap_or_else(|p| p.into_inner()) = notes;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        failed.clear();
        let gone: Vec<String> = running
            .keys()
            .filter(|k| {
                want.get(*k)
                    .is_none_or(|(_, f)| *f != running[*k].fingerprint)
            })
            .cloned()
            .collect();
        for k in gone {
            let r = running.remove(&k).expect("listed");
            r.handle.abort();
            if !want.contains_key(&k) {
                let db = self.db.clone();
                let t = r.st.target.clone();
                self.metadata.forget(&t.key());
                tokio::task::spawn_blocking(move || scrape_loop::mark_gone(&db, &t));
            }
        }
        let mut clients: HashMap<String, reqwest::Client> = HashMap::new();
        for (k, (st, fingerprint)) in want {
            if running.contains_key(&k) {
                continue;
            }
            let client = match clients.get(&st.job.config.job_name) {
                Some(c) => c.clone(),
                None => match build_client(&st.job) {
                    Ok(c) => {
                        clients.insert(st.job.config.job_name.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        *st.health.write().unwrap_or_else(|p| p.into_inner()) = TargetHealth {
                            health: "down".into(),
                            last_error: e,
                            ..Default::default()
                        };
                        failed.insert(k, st);
                        continue;
                    }
                },
            };
            let handle = scrape_loop::spawn(
                st.clone(),
                self.db.clone(),
                self.metadata.clone(),
                scrape_loop::BodySource::Http(client),
            );
            running.insert(
                k,
                Running {
                    st,
                    handle,
                    fingerprint,
                },
            );
        }
    }

    /// Every target, sorted by job and URL.
    pub fn targets(&self) -> Vec<Arc<ScrapeTarget>> {
        let mut v: Vec<Arc<ScrapeTarget>> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|r| r.st.clone())
            .collect();
        v.extend(
            self.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned(),
        );
        v.extend(
            self.local
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|r| r.st.clone()),
        );
        v.sort_by(|a, b| (&a.target.job, &a.target.url).cmp(&(&b.target.job, &b.target.url)));
        v
    }

    /// Every job's Docker and Consul discovery entries.
    fn api_sd_wanted(&self) -> Vec<(String, ApiSd)> {
        let d = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        let api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
        d.as_ref()
            .map(|d| d.configs.iter())
            .into_iter()
            .flatten()
            .chain(api.values())
            .flat_map(ApiSd::of)
            .collect()
    }

    /// Asks every Docker daemon and Consul catalog whose `refresh_interval` has passed
    /// (or whose entry is new or changed); all at once, each bounded in time. A failed
    /// refresh keeps the groups read before and records the error.
    pub async fn refresh_api_discovery(&self) {
        let wanted = self.api_sd_wanted();
        let due: Vec<(String, String, ApiSd)> = {
            let mut states = self.api_sd.lock().unwrap_or_else(|p| p.into_inner());
            states.retain(|k, _| wanted.iter().any(|(w, _)| w == k));
            wanted
                .into_iter()
                .filter_map(|(key, sd)| {
                    let fingerprint = format!("{sd:?}");
                    let due = states.get(&key).is_none_or(|s| {
                        s.fingerprint != fingerprint
                            || s.refreshed.elapsed() >= sd.refresh_interval()
                    });
                    due.then_some((key, fingerprint, sd))
                })
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (key, fingerprint, sd) in due {
            tasks.spawn(async move {
                // The refresh bounds each request; this bounds the whole of one.
                let result = tokio::time::timeout(Duration::from_secs(120), sd.refresh())
                    .await
                    .unwrap_or_else(|_| Err("no answer within 120s".into()));
                (key, fingerprint, result)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((key, fingerprint, result)) = done else {
                continue;
            };
            let mut states = self.api_sd.lock().unwrap_or_else(|p| p.into_inner());
            let before = states.remove(&key).filter(|s| s.fingerprint == fingerprint);
            let state = match result {
                Ok(groups) => ApiSdState {
                    fingerprint,
                    groups,
                    error: None,
                    refreshed: Instant::now(),
                },
                Err(error) => {
                    tracing::warn!(operation = "scrape_discovery", entry = %key, error = %error, "discovery failed; keeping the targets found before");
                    ApiSdState {
                        fingerprint,
                        groups: before.map(|b| b.groups).unwrap_or_default(),
                        error: Some(error),
                        refreshed: Instant::now(),
                    }
                }
            };
            states.insert(key, state);
        }
    }

    /// Re-reads file, Docker and Consul discovery on the shortest `refresh_interval` (at
    /// least every 5 s), and at once when the jobs change.
    pub async fn run_discovery(self: Arc<Self>) {
        loop {
            let every = {
                let d = self.desired.lock().unwrap_or_else(|p| p.into_inner());
                let api = self.api_jobs.lock().unwrap_or_else(|p| p.into_inner());
                d.as_ref()
                    .map(|d| d.configs.iter())
                    .into_iter()
                    .flatten()
                    .chain(api.values())
                    .flat_map(|c| {
                        c.file_sd_configs
                            .iter()
                            .map(|f| f.refresh_interval.as_duration())
                            .chain(ApiSd::of(c).iter().map(|(_, sd)| sd.refresh_interval()))
                            .collect::<Vec<_>>()
                    })
                    .min()
                    .unwrap_or(Duration::from_secs(30))
                    .max(Duration::from_secs(5))
            };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.jobs_changed.notified() => {}
            }
            self.refresh_api_discovery().await;
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.reconcile()).await;
        }
    }

    pub fn stop_all(&self) {
        for (_, r) in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            r.handle.abort();
        }
        for r in self
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            r.handle.abort();
        }
    }
}

fn build_client(job: &Job) -> Result<reqwest::Client, String> {
    let cfg = &job.config;
    let mut b = reqwest::Client::builder()
        .redirect(if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .pool_idle_timeout(job.interval * 2);
    if !cfg.enable_http2 {
        b = b.http1_only();
    }
    if let Some(tls) = &cfg.tls_config {
        if tls.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(p) = &cfg.proxy_url {
        b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("proxy_url: {e}"))?);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> ScrapeConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    /// Waits (up to 5 s) until `job`'s target has been scraped; its health then.
    async fn scraped(m: &ScrapeManager, job: &str) -> TargetHealth {
        for _ in 0..100 {
            let t = m.targets().into_iter().find(|t| t.target.job == job);
            if let Some(t) = t {
                let h = t.health.read().unwrap().clone();
                if h.health != "unknown" {
                    return h;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{job} was not scraped");
    }

    #[tokio::test]
    async fn a_local_target_is_scraped_with_its_sample_limit_and_listed_with_the_others() {
        let dir = std::env::temp_dir().join(format!("pharos-manager-local-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Arc::new(Tsdb::open(&dir, pharos_tsdb::Options::default()).unwrap());
        let m = ScrapeManager::new(db.clone(), Arc::new(MetadataStore::default()));
        let body: scrape_loop::LocalBody = Arc::new(|| Ok("a 1\nb 2\nc 3\n".to_string()));
        let local = |name: &str, limit: u64| {
            job(&format!(
                "job_name: {name}\nscrape_interval: 1s\nsample_limit: {limit}\nstatic_configs: [{{targets: ['127.0.0.1:9']}}]\n"
            ))
        };
        m.add_local_target(local("over", 2), body.clone()).unwrap();
        m.add_local_target(local("under", 3), body).unwrap();
        // Reconciling with a config that does not name them leaves them running.
        m.apply(GlobalConfig::default(), Vec::new(), &dir).unwrap();

        let over = scraped(&m, "over").await;
        assert_eq!(over.health, "down");
        assert_eq!(
            over.last_error,
            "sample limit exceeded: more than 2 samples (sample_limit)"
        );
        let under = scraped(&m, "under").await;
        assert_eq!((under.health.as_str(), under.samples), ("up", 3));
        let t = pharos_model::clock::now_ms();
        let up = |job: &str| {
            pharos_model::series::SeriesSource::select(
                db.as_ref(),
                &[
                    pharos_model::series::LabelMatcher::equal("__name__", "up"),
                    pharos_model::series::LabelMatcher::equal("job", job),
                ],
                t - 60_000,
                t + 1000,
            )
            .unwrap()[0]
                .samples[0]
                .v
        };
        assert_eq!((up("over"), up("under")), (0.0, 1.0));
        assert_eq!(m.targets().len(), 2);
        m.stop_all();
        assert!(m.targets().is_empty());
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn api_jobs_live_beside_config_jobs_and_survive_reloads() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("pharos-manager-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Arc::new(Tsdb::open(&dir, pharos_tsdb::Options::default()).unwrap());
        let m = ScrapeManager::new(db.clone(), Arc::new(MetadataStore::default()));
        let config = vec![job(
            "job_name: file\nstatic_configs: [{targets: ['127.0.0.1:1']}]\n",
        )];
        m.apply(GlobalConfig::default(), config.clone(), &dir)
            .unwrap();

        let api = job("job_name: made\nstatic_configs: [{targets: ['127.0.0.1:2']}]\n");
        m.put_api_job(api.clone(), true).unwrap();
        assert!(matches!(
            m.put_api_job(api.clone(), true),
            Err(ApiJobError::Conflict(_))
        ));
        m.put_api_job(api.clone(), false).unwrap();
        let clash = job("job_name: file\n");
        match m.put_api_job(clash, true) {
            Err(ApiJobError::Conflict(msg)) => assert!(msg.contains("config file"), "{msg}"),
            other => panic!("{other:?}"),
        }
        let bad = job("job_name: bad\nscrape_interval: 5s\nscrape_timeout: 10s\n");
        assert!(matches!(
            m.put_api_job(bad, true),
            Err(ApiJobError::Invalid(_))
        ));

        let jobs: Vec<(JobSource, String)> =
            m.jobs().into_iter().map(|(s, c)| (s, c.job_name)).collect();
        assert_eq!(
            jobs,
            vec![
                (JobSource::Config, "file".into()),
                (JobSource::Api, "made".into())
            ]
        );
        let pools = |m: &ScrapeManager| -> Vec<String> {
            m.targets().iter().map(|t| t.target.job.clone()).collect()
        };
        assert_eq!(pools(&m), vec!["file", "made"]);

        // A reload keeps the API job; one taking its name is refused before anything changes.
        m.apply(GlobalConfig::default(), config.clone(), &dir)
            .unwrap();
        assert_eq!(pools(&m), vec!["file", "made"]);
        let mut clashing = config.clone();
        clashing.push(job("job_name: made\n"));
        let e = m
            .apply(GlobalConfig::default(), clashing, &dir)
            .unwrap_err();
        assert!(matches!(e, ScrapeError::NameOfApiJob { .. }), "{e}");
        assert_eq!(pools(&m), vec!["file", "made"]);

        assert!(m.remove_api_job("made"));
        assert!(!m.remove_api_job("made"));
        assert_eq!(pools(&m), vec!["file"]);
        m.stop_all();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_api_job_the_new_global_makes_invalid_stops_alone_with_a_note() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("pharos-manager-g-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Arc::new(Tsdb::open(&dir, pharos_tsdb::Options::default()).unwrap());
        let m = ScrapeManager::new(db, Arc::new(MetadataStore::default()));
        m.restore_api_jobs(vec![
            job("job_name: slow\nscrape_timeout: 30s\nstatic_configs: [{targets: ['127.0.0.1:3']}]\n"),
            job("job_name: fine\nstatic_configs: [{targets: ['127.0.0.1:4']}]\n"),
        ]);
        let global: GlobalConfig = serde_norway::from_str("scrape_interval: 15s\n").unwrap();
        m.apply(global, vec![], &dir).unwrap();
        let pools: Vec<String> = m.targets().iter().map(|t| t.target.job.clone()).collect();
        assert_eq!(pools, vec!["fine"]);
        let notes = m.job_notes.read().unwrap();
        assert!(
            notes["slow"].1[0].contains("greater than scrape interval"),
            "{notes:?}"
        );
        drop(notes);
        m.stop_all();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
