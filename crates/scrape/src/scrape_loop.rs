//! One target's scrape loop: fetch on the job's interval (at a per-target offset, so
//! targets spread over the interval), parse, apply `metric_relabel_configs`, append to the
//! store, write `up` and the `scrape_*` series, and staleness markers for series that
//! disappeared (or all of them when the target fails or goes away), as Prometheus does.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pharos_ingest::prometheus::exposition::{self, Entry, Format};
use pharos_ingest::prometheus::relabel;
use pharos_model::clock::now_ms;
use pharos_model::series::{LabelSet, METRIC_NAME, stale_marker};
use pharos_tsdb::{SeriesRef, Tsdb};

use crate::config::{Job, ScrapeProtocol};
use crate::json::JsonMetricSpec;
use crate::metadata::{MetadataStore, MetricMetadata};
use crate::target::Target;

/// What the targets page shows about a target.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TargetHealth {
    pub health: String,
    pub last_error: String,
    /// Unix ms of the last scrape's start.
    pub last_scrape_ms: i64,
    pub last_scrape_duration_s: f64,
    pub samples: usize,
}

pub struct ScrapeTarget {
    pub target: Target,
    pub job: Arc<Job>,
    pub health: RwLock<TargetHealth>,
}

/// The appends of one scrape, for staleness and the `scrape_*` series.
struct Batch<'a> {
    app: pharos_tsdb::Appender<'a>,
    /// Series (by reference) written by this scrape.
    seen: HashMap<SeriesRef, LabelSet>,
    scraped: usize,
    kept: usize,
    added: usize,
}

fn metadata_of<'m>(
    types: &'m mut HashMap<String, MetricMetadata>,
    metric: &str,
) -> &'m mut MetricMetadata {
    types
        .entry(metric.to_string())
        .or_insert_with(|| MetricMetadata {
            kind: String::new(),
            help: String::new(),
            unit: String::new(),
        })
}

/// JSON targets are asked for JSON; the others for the job's exposition formats.
fn accept_header(job: &Job) -> String {
    if job.config.json.is_some() {
        "application/json".into()
    } else {
        ScrapeProtocol::accept_header(&job.protocols)
    }
}

/// Cached per raw series text: the store reference and the final labels (`None` when
/// metric relabelling drops it).
type Cache = HashMap<String, Option<(SeriesRef, LabelSet)>>;

/// Makes the exposition text of a target this process answers itself (Pharos's own
/// metrics), so that it is scraped, limited and reported like any other target.
pub type LocalBody = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Where a target's body comes from.
pub enum BodySource {
    Http(reqwest::Client),
    Local(LocalBody),
}

struct Loop {
    st: Arc<ScrapeTarget>,
    db: Arc<Tsdb>,
    metadata: Arc<MetadataStore>,
    source: BodySource,
    cache: Cache,
    /// Series (by reference) written by the last scrape, for staleness.
    last_seen: HashMap<SeriesRef, LabelSet>,
}

/// Runs until the returned handle is aborted; on abort the caller writes staleness via
/// [`mark_gone`].
pub fn spawn(
    st: Arc<ScrapeTarget>,
    db: Arc<Tsdb>,
    metadata: Arc<MetadataStore>,
    source: BodySource,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let interval = st.job.interval;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        st.target.key().hash(&mut h);
        let offset = Duration::from_millis(h.finish() % interval.as_millis().max(1) as u64);
        let now = now_ms() as u64;
        let phase = now % interval.as_millis().max(1) as u64;
        let wait = (offset.as_millis() as u64 + interval.as_millis() as u64 - phase)
            % interval.as_millis().max(1) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut l = Loop {
            st,
            db,
            metadata,
            source,
            cache: HashMap::new(),
            last_seen: HashMap::new(),
        };
        loop {
            tick.tick().await;
            l.scrape_once().await;
        }
    })
}

/// Writes staleness markers for every series a removed target wrote.
pub fn mark_gone(db: &Tsdb, target: &Target) {
    let t = now_ms();
    let matchers = vec![
        pharos_model::series::LabelMatcher::equal(
            "job",
            target.labels.get("job").unwrap_or("").to_string(),
        ),
        pharos_model::series::LabelMatcher::equal(
            "instance",
            target.labels.get("instance").unwrap_or("").to_string(),
        ),
    ];
    let Ok(series) = pharos_model::series::SeriesSource::series(db, &matchers, t - 10 * 60_000, t)
    else {
        return;
    };
    let mut app = db.appender();
    for s in series {
        let _ = app.append(&s, t, stale_marker());
    }
    let _ = app.commit();
}

impl Loop {
    async fn scrape_once(&mut self) {
        let started = Instant::now();
        let t = now_ms();
        let fetched = self.fetch().await;
        let duration = started.elapsed().as_secs_f64();
        let db = self.db.clone();
        let result = match fetched {
            Ok((body, content_type)) => self.ingest(&db, &body, content_type.as_deref(), t),
            Err(e) => Err(e),
        };
        let (up, scraped, post, added, error) = match result {
            Ok((s, p, a)) => (1.0, s, p, a, String::new()),
            Err(e) => {
                // A failed scrape ends every series the target had.
                let mut app = db.appender();
                for (r, _) in self.last_seen.drain() {
                    let _ = app.append_ref(r, t, stale_marker());
                }
                let _ = app.commit();
                (0.0, 0, 0, 0, e)
            }
        };
        let mut app = db.appender();
        for (name, v) in [
            ("up", up),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", scraped as f64),
            ("scrape_samples_post_metric_relabeling", post as f64),
            ("scrape_series_added", added as f64),
        ] {
            let mut l = self.st.target.labels.clone();
            l.set(METRIC_NAME, name);
            let _ = app.append(&l, t, v);
        }
        let _ = app.commit();
        let mut h = self.st.health.write().unwrap_or_else(|p| p.into_inner());
        *h = TargetHealth {
            health: if up == 1.0 {
                "up".into()
            } else {
                "down".into()
            },
            last_error: error.clone(),
            last_scrape_ms: t,
            last_scrape_duration_s: duration,
            samples: scraped,
        };
        if !error.is_empty() {
            // The query string is left out: `params` may carry an API key.
            let url = self.st.target.url.split('?').next().unwrap_or_default();
            tracing::debug!(operation = "scrape", job = %self.st.target.job, url, error = %error, "scrape failed");
        }
    }

    /// The body (decompressed, within the size limit) and its content type.
    async fn fetch(&self) -> Result<(Vec<u8>, Option<String>), String> {
        let client = match &self.source {
            BodySource::Http(client) => client,
            BodySource::Local(make) => {
                let make = make.clone();
                let text = tokio::task::spawn_blocking(move || make())
                    .await
                    .map_err(|e| e.to_string())??;
                return Ok((text.into_bytes(), Some("text/plain; version=0.0.4".into())));
            }
        };
        let job = &self.st.job;
        let cfg = &job.config;
        let mut req = client
            .get(&self.st.target.url)
            .timeout(job.timeout)
            .header("Accept", accept_header(job))
            // Prometheus's `enable_compression: false` asks for the body as it is.
            .header(
                "Accept-Encoding",
                if cfg.enable_compression == Some(false) {
                    "identity"
                } else {
                    "gzip"
                },
            )
            .header("User-Agent", concat!("Pharos/", env!("CARGO_PKG_VERSION")))
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", job.timeout.as_secs_f64()),
            );
        if let Some(b) = &cfg.basic_auth {
            let user = match &b.username_file {
                Some(f) => read_secret(f)?,
                None => b.username.clone(),
            };
            let pass = match (&b.password, &b.password_file) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(f)) => Some(read_secret(f)?),
                _ => None,
            };
            req = req.basic_auth(user, pass);
        }
        let bearer = match (
            &cfg.authorization,
            &cfg.bearer_token,
            &cfg.bearer_token_file,
        ) {
            (Some(a), _, _) => match (&a.credentials, &a.credentials_file) {
                (Some(c), _) => Some(format!("{} {c}", a.kind)),
                (None, Some(f)) => Some(format!("{} {}", a.kind, read_secret(f)?)),
                _ => None,
            },
            (None, Some(t), _) => Some(format!("Bearer {t}")),
            (None, None, Some(f)) => Some(format!("Bearer {}", read_secret(f)?)),
            _ => None,
        };
        if let Some(b) = bearer {
            req = req.header("Authorization", b);
        }
        for (name, h) in &cfg.http_headers {
            for v in h.values.iter().chain(&h.secrets) {
                req = req.header(name.as_str(), v.as_str());
            }
            for f in &h.files {
                req = req.header(name.as_str(), read_secret(f)?);
            }
        }
        let mut resp = req.send().await.map_err(|e| describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let gzip = resp
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let limit = job.body_size_limit as usize;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                return Err(format!(
                    "body size limit exceeded: more than {limit} bytes (body_size_limit)"
                ));
            }
        }
        if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body.as_slice())
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("invalid gzip body: {e}"))?;
            if out.len() > limit {
                return Err(format!(
                    "body size limit exceeded: more than {limit} bytes after decompression (body_size_limit)"
                ));
            }
            body = out;
        }
        Ok((body, content_type))
    }

    /// Parses and appends a body; (scraped, kept after relabelling, new series).
    fn ingest(
        &mut self,
        db: &Tsdb,
        body: &[u8],
        content_type: Option<&str>,
        t: i64,
    ) -> Result<(usize, usize, usize), String> {
        let job = self.st.job.clone();
        let mut batch = Batch {
            app: db.appender(),
            seen: HashMap::new(),
            scraped: 0,
            kept: 0,
            added: 0,
        };
        let types = match &job.config.json {
            Some(specs) => self.ingest_json(specs, body, content_type, t, &mut batch)?,
            None => self.ingest_exposition(body, content_type, t, &mut batch)?,
        };
        let Batch {
            mut app,
            seen,
            scraped,
            kept,
            added,
        } = batch;
        // Series gone since the last scrape end now.
        for (r, labels) in self.last_seen.drain() {
            if !seen.contains_key(&r) {
                let _ = app
                    .append_ref(r, t, stale_marker())
                    .or_else(|_| app.append(&labels, t, stale_marker()).map(|_| ()));
            }
        }
        app.commit().map_err(|e| format!("storage: {e}"))?;
        self.last_seen = seen;
        let source = self.st.target.key();
        for (name, meta) in types {
            self.metadata.set(&name, &source, meta);
        }
        // The cache forgets series not exposed for a while (label churn).
        if self.cache.len() > 2 * kept.max(1000) {
            self.cache.clear();
        }
        Ok((scraped, kept, added))
    }

    /// The exposition formats (text 0.0.4, OpenMetrics); returns the metadata they declare.
    fn ingest_exposition(
        &mut self,
        body: &[u8],
        content_type: Option<&str>,
        t: i64,
        batch: &mut Batch<'_>,
    ) -> Result<HashMap<String, MetricMetadata>, String> {
        let format = Format::from_content_type(content_type);
        let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
        let entries = exposition::parse(text, format).map_err(|e| format!("parse error: {e}"))?;
        let honor_timestamps = self.st.job.config.honor_timestamps;
        let mut types: HashMap<String, MetricMetadata> = HashMap::new();
        for e in &entries {
            match e {
                Entry::Type { metric, kind } => {
                    metadata_of(&mut types, metric).kind = kind.as_str().to_string()
                }
                Entry::Help { metric, text } => {
                    metadata_of(&mut types, metric).help = text.to_string()
                }
                Entry::Unit { metric, unit } => {
                    metadata_of(&mut types, metric).unit = unit.to_string()
                }
                Entry::Sample(s) => {
                    let ts = match (s.timestamp_ms, honor_timestamps) {
                        (Some(x), true) => x,
                        _ => t,
                    };
                    self.add(batch, s.series, ts, s.value, || {
                        (
                            s.name.to_string(),
                            s.labels
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                        )
                    })?;
                }
            }
        }
        Ok(types)
    }

    /// A JSON body read through the job's `json:` paths; the metadata comes from the specs.
    fn ingest_json(
        &mut self,
        specs: &[JsonMetricSpec],
        body: &[u8],
        content_type: Option<&str>,
        t: i64,
        batch: &mut Batch<'_>,
    ) -> Result<HashMap<String, MetricMetadata>, String> {
        let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            let what = content_type.map_or_else(String::new, |ct| format!(" (content-type {ct})"));
            format!(
                "body is not valid JSON{what}: {e}; this job's `json:` paths need a JSON document"
            )
        })?;
        let mut types = HashMap::new();
        for spec in specs {
            let name = spec.metric_name();
            for (labels, value) in spec.extract(&doc) {
                // The cache key only has to be stable between scrapes and unique per series.
                let key = format!("{name}\u{0}{labels:?}");
                self.add(batch, &key, t, value, || (name.clone(), labels.clone()))?;
            }
            types.insert(name, spec.metadata());
        }
        Ok(types)
    }

    /// Appends one scraped sample, with the final labels from the cache or, on a miss, from
    /// `exposed` (metric name and exposed labels) through [`Loop::series_labels`].
    fn add(
        &mut self,
        batch: &mut Batch<'_>,
        key: &str,
        ts: i64,
        value: f64,
        exposed: impl FnOnce() -> (String, Vec<(String, String)>),
    ) -> Result<(), String> {
        let job = self.st.job.clone();
        batch.scraped += 1;
        let cached = match self.cache.get(key) {
            Some(c) => c.clone(),
            None => {
                let (name, labels) = exposed();
                let labels = self.series_labels(&name, labels)?;
                let entry = labels.map(|l| (SeriesRef(u64::MAX), l));
                self.cache.insert(key.to_string(), entry.clone());
                entry
            }
        };
        let Some((r, labels)) = cached else {
            return Ok(());
        };
        batch.kept += 1;
        // As in Prometheus, the limit counts what metric relabelling keeps, so a job can
        // drop a target's noisy series and stay under it.
        if job.sample_limit > 0 && batch.kept as u64 > job.sample_limit {
            return Err(format!(
                "sample limit exceeded: more than {} samples (sample_limit)",
                job.sample_limit
            ));
        }
        let app = &mut batch.app;
        let res = if r.0 == u64::MAX {
            let res = app.append(&labels, ts, value);
            if let Ok(nr) = res {
                batch.added += 1;
                self.cache
                    .insert(key.to_string(), Some((nr, labels.clone())));
            }
            res
        } else {
            match app.append_ref(r, ts, value) {
                Err(pharos_tsdb::AppendError::InvalidLabels(_)) => app.append(&labels, ts, value),
                other => other.map(|_| r),
            }
        };
        if let Ok(r) = res {
            batch.seen.insert(r, labels);
        }
        Ok(())
    }

    /// The final labels of an exposed series: exposed labels merged with the target's
    /// (`honor_labels` decides conflicts), then metric relabelling; `None` if dropped.
    fn series_labels(
        &self,
        name: &str,
        labels: Vec<(String, String)>,
    ) -> Result<Option<LabelSet>, String> {
        let job = &self.st.job;
        let mut exposed = LabelSet::new(labels);
        exposed.set(METRIC_NAME, name.to_string());
        let mut l = exposed.clone();
        for tl in self.st.target.labels.iter() {
            match l.get(&tl.name) {
                Some(existing) if !job.config.honor_labels => {
                    // The target wins; the exposed value moves to exported_<name>.
                    let existing = existing.to_string();
                    l.set(&format!("exported_{}", tl.name), existing);
                    l.set(&tl.name, tl.value.clone());
                }
                Some(_) => {}
                None => l.set(&tl.name, tl.value.clone()),
            }
        }
        let Some(l) = relabel::process(&l, &job.config.metric_relabel_configs) else {
            return Ok(None);
        };
        if job.label_limit > 0 && l.len() as u64 > job.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
                name,
                l.len(),
                job.label_limit
            ));
        }
        for x in l.iter() {
            if job.label_name_length_limit > 0 && x.name.len() as u64 > job.label_name_length_limit
            {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {}, label name: {})",
                    name, x.name
                ));
            }
            if job.label_value_length_limit > 0
                && x.value.len() as u64 > job.label_value_length_limit
            {
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {}, label name: {})",
                    name, x.name
                ));
            }
        }
        Ok(Some(l))
    }
}

fn read_secret(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "context deadline exceeded (scrape_timeout)".into();
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GlobalConfig, ScrapeConfig};
    use pharos_model::series::{LabelMatcher, SeriesSource, is_stale_marker};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server answering every request with what `body` holds at the time.
    async fn serve(body: Arc<RwLock<(&'static str, String)>>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (ct, b) = body.read().unwrap().clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        b.len()
                    );
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(b.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn test_loop(db: Arc<Tsdb>, yaml: &str, addr: std::net::SocketAddr) -> Loop {
        let sc: ScrapeConfig =
            serde_norway::from_str(&yaml.replace("ADDR", &addr.to_string())).unwrap();
        let job = sc.resolve(&GlobalConfig::default()).unwrap();
        let groups = crate::discovery::static_groups(&job.config.static_configs);
        let (mut targets, _) = crate::target::targets(&job, &groups);
        Loop {
            st: Arc::new(ScrapeTarget {
                target: targets.remove(0),
                job: Arc::new(job),
                health: RwLock::new(TargetHealth::default()),
            }),
            db,
            metadata: Arc::new(MetadataStore::default()),
            source: BodySource::Http(reqwest::Client::builder().no_proxy().build().unwrap()),
            cache: HashMap::new(),
            last_seen: HashMap::new(),
        }
    }

    /// The latest sample of each series named `name`, by its labels.
    fn latest(db: &Tsdb, name: &str) -> Vec<(String, f64)> {
        let t = now_ms();
        let mut out: Vec<(String, f64)> = db
            .select(
                &[LabelMatcher::equal(METRIC_NAME, name.to_string())],
                t - 60_000,
                t + 1000,
            )
            .unwrap()
            .into_iter()
            .filter_map(|s| s.samples.last().map(|x| (s.labels.to_string(), x.v)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[tokio::test]
    async fn json_target_series_carry_target_labels_relabelling_and_end_when_the_body_breaks() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("pharos-scrape-json-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Arc::new(Tsdb::open(&dir, pharos_tsdb::Options::default()).unwrap());
        let body = Arc::new(RwLock::new((
            "application/json",
            r#"{"status": "healthy", "queue_size": 3, "checks": {"database": {"latency_ms": 12}},
                "endpoints": {"/api/leads": {"requests": 450}}}"#
                .to_string(),
        )));
        let addr = serve(body.clone()).await;
        let mut l = test_loop(
            db.clone(),
            r#"
job_name: crm
metrics_path: /health
static_configs: [{targets: ['ADDR'], labels: {env: prod}}]
json:
  - {path: queue_size, name: app_queue_size, help: Waiting updates.}
  - {path: checks.database.latency_ms}
  - {path: status, name: app_up, values: {healthy: 1}}
  - {path: 'endpoints.{endpoint}.requests', name: app_requests_total, type: counter}
metric_relabel_configs:
  - {source_labels: [__name__], regex: 'checks_.*', action: drop}
"#,
            addr,
        );
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(
            (h.health.as_str(), h.samples),
            ("up", 4),
            "{}",
            h.last_error
        );
        let instance = addr.to_string();
        assert_eq!(
            latest(&db, "app_queue_size"),
            vec![(
                format!(r#"app_queue_size{{env="prod", instance="{instance}", job="crm"}}"#),
                3.0
            )]
        );
        assert_eq!(latest(&db, "app_up")[0].1, 1.0);
        assert!(
            latest(&db, "checks_database_latency_ms").is_empty(),
            "dropped by relabelling"
        );
        assert!(
            latest(&db, "app_requests_total")[0]
                .0
                .contains(r#"endpoint="/api/leads""#)
        );
        assert_eq!(latest(&db, "scrape_samples_scraped")[0].1, 4.0);
        assert_eq!(
            latest(&db, "scrape_samples_post_metric_relabeling")[0].1,
            3.0
        );
        let meta = l.metadata.list(Some("app_requests_total"), None);
        assert_eq!(meta["app_requests_total"][0].kind, "counter");
        assert_eq!(
            l.metadata.list(Some("app_queue_size"), None)["app_queue_size"][0].help,
            "Waiting updates."
        );

        // A key gone from the document ends its series.
        body.write().unwrap().1 = r#"{"status": "healthy", "queue_size": 5}"#.into();
        tokio::time::sleep(Duration::from_millis(5)).await;
        l.scrape_once().await;
        assert_eq!(latest(&db, "app_queue_size")[0].1, 5.0);
        assert!(is_stale_marker(latest(&db, "app_requests_total")[0].1));

        // Not JSON: down with the reason, every series ended.
        *body.write().unwrap() = ("text/html", "<html>oops</html>".into());
        tokio::time::sleep(Duration::from_millis(5)).await;
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(h.health, "down");
        assert!(
            h.last_error
                .contains("not valid JSON (content-type text/html)"),
            "{}",
            h.last_error
        );
        assert!(is_stale_marker(latest(&db, "app_queue_size")[0].1));
        assert_eq!(latest(&db, "up")[0].1, 0.0);
        drop(l);
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn temp_db(name: &str) -> (std::path::PathBuf, Arc<Tsdb>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("pharos-scrape-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = Arc::new(Tsdb::open(&dir, pharos_tsdb::Options::default()).unwrap());
        (dir, db)
    }

    const THREE_SERIES: &str = "a 1\nb 2\nnoisy{x=\"1\"} 3\n";

    #[tokio::test]
    async fn sample_limit_counts_what_metric_relabelling_keeps() {
        let (dir, db) = temp_db("sample-limit-relabel");
        let body = Arc::new(RwLock::new(("text/plain", THREE_SERIES.to_string())));
        let addr = serve(body).await;
        let mut l = test_loop(
            db.clone(),
            r#"
job_name: app
static_configs: [{targets: ['ADDR']}]
sample_limit: 2
metric_relabel_configs:
  - {source_labels: [__name__], regex: noisy, action: drop}
"#,
            addr,
        );
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(h.health, "up", "{}", h.last_error);
        assert_eq!(latest(&db, "a")[0].1, 1.0);
        drop(l);
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Prometheus 3's `http_headers`: values, secrets and files' contents, in that order.
    #[tokio::test]
    async fn http_headers_are_sent_with_every_scrape() {
        let (dir, db) = temp_db("http-headers");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(RwLock::new(Vec::<String>::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut got = Vec::new();
                let mut buf = vec![0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                seen.write()
                    .unwrap()
                    .push(String::from_utf8_lossy(&got).to_ascii_lowercase());
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\na 1\n",
                    )
                    .await;
            }
        });
        let file = dir.join("tenant.txt");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut l = test_loop(
            db.clone(),
            &format!(
                "job_name: app\nstatic_configs: [{{targets: ['ADDR']}}]\nhttp_headers:\n  X-Tenant:\n    values: [one]\n    secrets: [two]\n    files: ['{}']\n",
                file.display()
            ),
            addr,
        );
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(h.health, "up", "{}", h.last_error);
        let head = heads.read().unwrap()[0].clone();
        let tenants: Vec<&str> = head
            .lines()
            .filter_map(|line| line.strip_prefix("x-tenant: "))
            .map(str::trim)
            .collect();
        assert_eq!(tenants, ["one", "two", "from-file"], "{head}");
        assert!(head.contains("accept-encoding: gzip"), "{head}");
        drop(l);
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_scrape_over_sample_limit_fails_stores_nothing_and_says_why() {
        let (dir, db) = temp_db("sample-limit");
        let body = Arc::new(RwLock::new(("text/plain", THREE_SERIES.to_string())));
        let addr = serve(body).await;
        let mut l = test_loop(
            db.clone(),
            "job_name: app\nstatic_configs: [{targets: ['ADDR']}]\nsample_limit: 2\n",
            addr,
        );
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(h.health, "down");
        assert_eq!(
            h.last_error,
            "sample limit exceeded: more than 2 samples (sample_limit)"
        );
        assert_eq!(latest(&db, "up")[0].1, 0.0);
        assert!(
            latest(&db, "a").is_empty(),
            "a failed scrape stores no sample"
        );
        drop(l);
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_scrape_over_label_limit_fails_and_says_why() {
        let (dir, db) = temp_db("label-limit");
        let body = Arc::new(RwLock::new(("text/plain", THREE_SERIES.to_string())));
        let addr = serve(body).await;
        // `noisy` has x, job, instance and its name: four labels.
        let mut l = test_loop(
            db.clone(),
            "job_name: app\nstatic_configs: [{targets: ['ADDR']}]\nlabel_limit: 3\n",
            addr,
        );
        l.scrape_once().await;
        let h = l.st.health.read().unwrap().clone();
        assert_eq!(h.health, "down");
        assert_eq!(
            h.last_error,
            "label_limit exceeded (metric: noisy, number of labels: 4, limit: 3)"
        );
        assert_eq!(latest(&db, "up")[0].1, 0.0);
        drop(l);
        let _ = db.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_jobs_ask_for_json() {
        let sc: ScrapeConfig = serde_norway::from_str("job_name: a\njson: [{path: x}]\n").unwrap();
        let job = sc.resolve(&GlobalConfig::default()).unwrap();
        assert_eq!(accept_header(&job), "application/json");
    }
}
