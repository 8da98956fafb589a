//! The scrape manager: turns the configured jobs into running target loops and keeps
//! them in step with config reloads and file discovery. A target whose job and labels
//! did not change keeps its loop (and its series cache); a target that went away gets
//! staleness markers for its series.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pharos_tsdb::Tsdb;

use crate::config::{GlobalConfig, Job, ScrapeConfig};
use crate::discovery::{self, TargetGroup};
use crate::metadata::MetadataStore;
use crate::scrape_loop::{self, ScrapeTarget, TargetHealth};
use crate::target;

struct Running {
    st: Arc<ScrapeTarget>,
    handle: tokio::task::JoinHandle<()>,
    fingerprint: String,
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
    file_groups: Mutex<HashMap<String, BTreeMap<PathBuf, Vec<TargetGroup>>>>,
    desired: Mutex<Option<Desired>>,
    /// Per job: targets dropped by relabelling and discovery errors, for the targets page.
    pub job_notes: RwLock<BTreeMap<String, (usize, Vec<String>)>>,
}

impl ScrapeManager {
    pub fn new(db: Arc<Tsdb>, metadata: Arc<MetadataStore>) -> Arc<Self> {
        Arc::new(ScrapeManager {
            db,
            metadata,
            running: Mutex::new(HashMap::new()),
            file_groups: Mutex::new(HashMap::new()),
            desired: Mutex::new(None),
            job_notes: RwLock::new(BTreeMap::new()),
        })
    }

    /// Checks every job; an error names the job and changes nothing.
    pub fn check(global: &GlobalConfig, configs: &[ScrapeConfig]) -> Result<Vec<Job>, String> {
        configs
            .iter()
            .map(|c| {
                c.resolve(global)
                    .map_err(|e| format!("scrape_configs: job {:?}: {e}", c.job_name))
            })
            .collect()
    }

    /// Applies a (checked) config: starts, keeps and stops target loops.
    pub fn apply(
        &self,
        global: GlobalConfig,
        configs: Vec<ScrapeConfig>,
        base_dir: &Path,
    ) -> Result<(), String> {
        Self::check(&global, &configs)?;
        *self.desired.lock().unwrap_or_else(|p| p.into_inner()) = Some(Desired {
            global,
            configs,
            base_dir: base_dir.to_path_buf(),
        });
        self.reconcile();
        Ok(())
    }

    /// Re-reads discovery and brings the running loops in line.
    pub fn reconcile(&self) {
        let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = desired.as_ref() else { return };
        let Ok(jobs) = Self::check(&d.global, &d.configs) else {
            return;
        };
        let mut want: HashMap<String, (Arc<ScrapeTarget>, String)> = HashMap::new();
        let mut notes = BTreeMap::new();
        let mut file_groups = self.file_groups.lock().unwrap_or_else(|p| p.into_inner());
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
        *self.job_notes.write().unwrap_or_else(|p| p.into_inner()) = notes;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
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
                        continue;
                    }
                },
            };
            let handle =
                scrape_loop::spawn(st.clone(), self.db.clone(), self.metadata.clone(), client);
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
        v.sort_by(|a, b| (&a.target.job, &a.target.url).cmp(&(&b.target.job, &b.target.url)));
        v
    }

    /// Re-reads file discovery on the shortest `refresh_interval` (at least every 5 s).
    pub async fn run_discovery(self: Arc<Self>) {
        loop {
            let every = {
                let d = self.desired.lock().unwrap_or_else(|p| p.into_inner());
                d.as_ref()
                    .and_then(|d| {
                        d.configs
                            .iter()
                            .flat_map(|c| c.file_sd_configs.iter())
                            .map(|f| f.refresh_interval.as_duration())
                            .min()
                    })
                    .unwrap_or(Duration::from_secs(30))
                    .max(Duration::from_secs(5))
            };
            tokio::time::sleep(every).await;
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
