//! The `scrape_configs` section of a `prometheus.yml`, read as Prometheus reads it (so a
//! user's section can be pasted into `pharos.yaml`), plus the Pharos-only `json:` option
//! for endpoints that answer JSON instead of the exposition format.
//!
//! Service discovery other than `static_configs`, `file_sd_configs`, `docker_sd_configs`
//! and `consul_sd_configs` is refused with a message naming it, instead of being silently
//! ignored. Fields Prometheus 3 has and Pharos does not act on are read (so a section
//! pastes as it is) and listed by `ignored` for the loader to warn about.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pharos_ingest::prometheus::relabel::RelabelConfig;
use pharos_model::HumanDuration;
use serde::{Deserialize, Deserializer};

use crate::ScrapeError;
use crate::json::JsonMetricSpec;

/// Prometheus's `global:` section (the parts that concern scraping and evaluation).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default = "default_interval")]
    pub scrape_interval: HumanDuration,
    #[serde(default = "default_timeout")]
    pub scrape_timeout: HumanDuration,
    #[serde(default = "default_interval")]
    pub evaluation_interval: HumanDuration,
    /// Added to every alert and remote-written series, as in Prometheus; kept for rules.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub query_log_file: Option<String>,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    #[serde(default)]
    pub sample_limit: Option<u64>,
    #[serde(default)]
    pub label_limit: Option<u64>,
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    #[serde(default)]
    pub target_limit: Option<u64>,
    // Read so a Prometheus 3 `global:` pastes as it is; `ignored_fields` says which of
    // these change nothing in Pharos.
    #[serde(default)]
    pub rule_query_offset: Option<HumanDuration>,
    #[serde(default)]
    pub scrape_failure_log_file: Option<String>,
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
    #[serde(default)]
    pub metric_name_validation_scheme: Option<String>,
    #[serde(default)]
    pub metric_name_escaping_scheme: Option<String>,
    #[serde(default)]
    pub scrape_native_histograms: Option<bool>,
    #[serde(default)]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub extra_scrape_metrics: Option<bool>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: default_interval(),
            scrape_timeout: default_timeout(),
            evaluation_interval: default_interval(),
            external_labels: BTreeMap::new(),
            query_log_file: None,
            scrape_protocols: None,
            body_size_limit: None,
            sample_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            target_limit: None,
            rule_query_offset: None,
            scrape_failure_log_file: None,
            keep_dropped_targets: None,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            scrape_native_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            always_scrape_classic_histograms: None,
            extra_scrape_metrics: None,
        }
    }
}

fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// The exposition formats a scrape may ask for, in Prometheus's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ScrapeProtocol {
    #[serde(rename = "OpenMetricsText1.0.0")]
    OpenMetricsText1_0_0,
    #[serde(rename = "OpenMetricsText0.0.1")]
    OpenMetricsText0_0_1,
    #[serde(rename = "PrometheusText1.0.0")]
    PrometheusText1_0_0,
    #[serde(rename = "PrometheusText0.0.4")]
    PrometheusText0_0_4,
    PrometheusProto,
}

impl ScrapeProtocol {
    fn media_type(self) -> Option<&'static str> {
        match self {
            ScrapeProtocol::OpenMetricsText1_0_0 => {
                Some("application/openmetrics-text;version=1.0.0")
            }
            ScrapeProtocol::OpenMetricsText0_0_1 => {
                Some("application/openmetrics-text;version=0.0.1")
            }
            ScrapeProtocol::PrometheusText1_0_0 => Some("text/plain;version=1.0.0"),
            ScrapeProtocol::PrometheusText0_0_4 => Some("text/plain;version=0.0.4"),
            // The protobuf format carries native histograms, which Pharos does not store.
            ScrapeProtocol::PrometheusProto => None,
        }
    }

    /// The `Accept` header Prometheus builds from a protocol list: q-values from 0.6
    /// down in the listed order, then `*/*` as the fallback.
    pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
        let mut parts = Vec::new();
        let mut weight = 6u32;
        for p in protocols {
            if let Some(m) = p.media_type() {
                let escaping = if m.ends_with("version=1.0.0") {
                    ";escaping=allow-utf-8"
                } else {
                    ""
                };
                parts.push(format!("{m}{escaping};q=0.{weight}"));
                weight = weight.saturating_sub(1).max(1);
            }
        }
        parts.push(format!("*/*;q=0.{weight}"));
        parts.join(",")
    }
}

/// The protocols Prometheus asks for by default (without native histograms).
pub const DEFAULT_PROTOCOLS: &[ScrapeProtocol] = &[
    ScrapeProtocol::OpenMetricsText1_0_0,
    ScrapeProtocol::OpenMetricsText0_0_1,
    ScrapeProtocol::PrometheusText1_0_0,
    ScrapeProtocol::PrometheusText0_0_4,
];

/// A size as Prometheus writes it: `10MB`, `512KiB`, `0` (no limit). Units are powers of
/// 1024, as Prometheus's `units.Base2Bytes` reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => parse_byte_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (write it like 10MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" | "K" => 1 << 10,
        "MB" | "MIB" | "M" => 1 << 20,
        "GB" | "GIB" | "G" => 1 << 30,
        "TB" | "TIB" | "T" => 1 << 40,
        _ => return Err(format!("invalid size unit in {s:?} (B, KB, MB, GB, TB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

/// `basic_auth:` as in Prometheus.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A secret manager's reference (Prometheus 3); Pharos has none: warned, not used.
    #[serde(default)]
    pub username_ref: Option<String>,
    #[serde(default)]
    pub password_ref: Option<String>,
}

/// `authorization:` as in Prometheus (type defaults to Bearer).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub credentials_ref: Option<String>,
}

fn bearer() -> String {
    "Bearer".into()
}

/// `tls_config:` as in Prometheus.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    /// Inline PEM client certificate and key, and secret-manager references: read so a
    /// Prometheus job pastes as it is, warned as not used.
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub ca_ref: Option<String>,
    #[serde(default)]
    pub cert_ref: Option<String>,
    #[serde(default)]
    pub key_ref: Option<String>,
}

/// `oauth2:` as in Prometheus's HTTP client config. Pharos does not fetch tokens: the
/// section is read (so a job pastes as it is) and warned about, and the target is
/// scraped without it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub client_secret_ref: Option<String>,
    #[serde(default)]
    pub client_certificate_key_id: Option<String>,
    #[serde(default)]
    pub client_certificate_key: Option<String>,
    #[serde(default)]
    pub client_certificate_key_file: Option<PathBuf>,
    #[serde(default)]
    pub client_certificate_key_ref: Option<String>,
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub signature_algorithm: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: bool,
    #[serde(default)]
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
}

/// One header of `http_headers:` (Prometheus 3): sent with every scrape, its values in
/// order, secrets after them, then each file's contents (read at every scrape).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: HumanDuration,
}

fn default_refresh() -> HumanDuration {
    HumanDuration::from_secs(300)
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_scheme() -> String {
    "http".into()
}

fn yes() -> bool {
    true
}

/// One scrape job.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub scrape_interval: Option<HumanDuration>,
    #[serde(default)]
    pub scrape_timeout: Option<HumanDuration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    #[serde(default)]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Prometheus 2's spelling of `authorization: {credentials: ...}`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    #[serde(default = "yes")]
    pub enable_http2: bool,
    #[serde(default)]
    pub enable_compression: Option<bool>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: bool,
    #[serde(default)]
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    #[serde(default)]
    pub http_headers: BTreeMap<String, HttpHeader>,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub docker_sd_configs: Vec<crate::docker_sd::DockerSdConfig>,
    #[serde(default)]
    pub consul_sd_configs: Vec<crate::consul_sd::ConsulSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub sample_limit: Option<u64>,
    #[serde(default)]
    pub label_limit: Option<u64>,
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    #[serde(default)]
    pub target_limit: Option<u64>,
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    /// Pharos only: the target answers JSON; these paths become series.
    #[serde(default)]
    pub json: Option<Vec<JsonMetricSpec>>,
    // Read so a Prometheus 3 job pastes as it is; `ignored_fields` says which of these
    // change nothing in Pharos.
    #[serde(default)]
    pub scrape_native_histograms: Option<bool>,
    #[serde(default)]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(default)]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(default)]
    pub scrape_failure_log_file: Option<String>,
    #[serde(default)]
    pub native_histogram_bucket_limit: Option<u64>,
    #[serde(default)]
    pub native_histogram_min_bucket_factor: Option<f64>,
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
    #[serde(default)]
    pub metric_name_validation_scheme: Option<String>,
    #[serde(default)]
    pub metric_name_escaping_scheme: Option<String>,
    #[serde(default)]
    pub extra_scrape_metrics: Option<bool>,
}

/// Service discovery mechanisms Prometheus has and Pharos does not; named in the error.
const UNSUPPORTED_SD: &[&str] = &[
    "kubernetes_sd_configs",
    "dns_sd_configs",
    "ec2_sd_configs",
    "aws_sd_configs",
    "ecs_sd_configs",
    "elasticache_sd_configs",
    "msk_sd_configs",
    "rds_sd_configs",
    "oci_sd_configs",
    "dockerswarm_sd_configs",
    "http_sd_configs",
    "gce_sd_configs",
    "azure_sd_configs",
    "openstack_sd_configs",
    "nomad_sd_configs",
    "marathon_sd_configs",
    "digitalocean_sd_configs",
    "hetzner_sd_configs",
    "linode_sd_configs",
    "eureka_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
    "puppetdb_sd_configs",
    "ionos_sd_configs",
    "lightsail_sd_configs",
    "kuma_sd_configs",
    "nerve_sd_configs",
    "ovhcloud_sd_configs",
    "outscale_sd_configs",
    "stackit_sd_configs",
];

/// Refuses a job that names a discovery mechanism Pharos does not have (`has` tells
/// whether the job has a key), naming it rather than calling it an unknown field.
pub fn check_discovery(has: impl Fn(&str) -> bool) -> Result<(), ScrapeError> {
    match UNSUPPORTED_SD.iter().find(|k| has(k)) {
        Some(key) => Err(ScrapeError::UnsupportedDiscovery { key }),
        None => Ok(()),
    }
}

/// A job with every default resolved: what a scrape loop runs from.
#[derive(Clone, Debug)]
pub struct Job {
    pub config: ScrapeConfig,
    pub interval: Duration,
    pub timeout: Duration,
    pub protocols: Vec<ScrapeProtocol>,
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub target_limit: u64,
}

/// Pharos's default cap on a scrape body when the config sets none: Prometheus has none,
/// but a 100 MB page must not take the process down.
pub const DEFAULT_BODY_LIMIT: u64 = 50 << 20;

impl ScrapeConfig {
    /// Prometheus's load-time checks, plus defaults from `global`.
    pub fn resolve(&self, global: &GlobalConfig) -> Result<Job, ScrapeError> {
        if self.job_name.trim().is_empty() {
            return Err(ScrapeError::EmptyJobName);
        }
        let interval = self
            .scrape_interval
            .unwrap_or(global.scrape_interval)
            .as_duration();
        let timeout = match self.scrape_timeout {
            Some(t) => t.as_duration(),
            // Prometheus: the global timeout, but never longer than the job's interval.
            None => global.scrape_timeout.as_duration().min(interval),
        };
        if interval.is_zero() {
            return Err(ScrapeError::ZeroInterval);
        }
        if timeout > interval {
            return Err(ScrapeError::TimeoutAboveInterval {
                job: self.job_name.clone(),
            });
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(ScrapeError::Scheme(self.scheme.clone()));
        }
        if !self.metrics_path.starts_with('/') {
            return Err(ScrapeError::MetricsPath(self.metrics_path.clone()));
        }
        let bearer_ways = [
            self.bearer_token.is_some(),
            self.bearer_token_file.is_some(),
            self.authorization.is_some(),
        ];
        if bearer_ways.iter().filter(|b| **b).count() > 1 {
            return Err(ScrapeError::SeveralBearerCredentials);
        }
        if self.basic_auth.is_some() && bearer_ways.iter().any(|b| *b) {
            return Err(ScrapeError::BasicAuthAndBearer);
        }
        if let Some(b) = &self.basic_auth
            && b.password.is_some()
            && b.password_file.is_some()
        {
            return Err(ScrapeError::PasswordAndPasswordFile);
        }
        if let Some(a) = &self.authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(ScrapeError::CredentialsAndCredentialsFile);
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(ScrapeError::BasicAuthorization);
            }
        }
        if let Some(tls) = &self.tls_config
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            return Err(ScrapeError::CertWithoutKey);
        }
        for (index, r) in self.relabel_configs.iter().enumerate() {
            r.validate()
                .map_err(|source| ScrapeError::Relabel { index, source })?;
        }
        for (index, r) in self.metric_relabel_configs.iter().enumerate() {
            r.validate()
                .map_err(|source| ScrapeError::MetricRelabel { index, source })?;
        }
        for (index, sc) in self.static_configs.iter().enumerate() {
            for t in &sc.targets {
                if t.contains('/') {
                    return Err(ScrapeError::TargetWithPath {
                        index,
                        target: t.clone(),
                    });
                }
            }
        }
        for (index, f) in self.file_sd_configs.iter().enumerate() {
            for p in &f.files {
                crate::discovery::check_file_pattern(p).map_err(|e| ScrapeError::FileSd {
                    index,
                    source: Box::new(e),
                })?;
            }
        }
        for (index, c) in self.docker_sd_configs.iter().enumerate() {
            c.check()
                .map_err(|message| ScrapeError::DockerSd { index, message })?;
        }
        for (index, c) in self.consul_sd_configs.iter().enumerate() {
            c.check()
                .map_err(|message| ScrapeError::ConsulSd { index, message })?;
        }
        if let Some(specs) = &self.json {
            for (index, s) in specs.iter().enumerate() {
                s.validate().map_err(|e| ScrapeError::Json {
                    index,
                    source: Box::new(e),
                })?;
            }
        }
        let protocols = self
            .scrape_protocols
            .clone()
            .or_else(|| global.scrape_protocols.clone())
            .unwrap_or_else(|| DEFAULT_PROTOCOLS.to_vec());
        if protocols.is_empty() {
            return Err(ScrapeError::NoProtocols);
        }
        let limit = |own: Option<u64>, global: Option<u64>| own.or(global).unwrap_or(0);
        let body = self
            .body_size_limit
            .or(global.body_size_limit)
            .map(|b| b.0)
            .unwrap_or(0);
        Ok(Job {
            config: self.clone(),
            interval,
            timeout,
            protocols,
            body_size_limit: if body == 0 { DEFAULT_BODY_LIMIT } else { body },
            sample_limit: limit(self.sample_limit, global.sample_limit),
            label_limit: limit(self.label_limit, global.label_limit),
            label_name_length_limit: limit(
                self.label_name_length_limit,
                global.label_name_length_limit,
            ),
            label_value_length_limit: limit(
                self.label_value_length_limit,
                global.label_value_length_limit,
            ),
            target_limit: limit(self.target_limit, global.target_limit),
        })
    }
}

/// Deserializes `scrape_configs`, refusing unknown discovery mechanisms by name and
/// duplicate job names, and resolving every job against `global` later (the caller has
/// both sections).
pub fn deserialize_scrape_configs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ScrapeConfig>, D::Error> {
    let raw = Vec::<serde_norway::Value>::deserialize(d)?;
    let mut out = Vec::with_capacity(raw.len());
    let mut names = std::collections::HashSet::new();
    for (i, v) in raw.into_iter().enumerate() {
        if let serde_norway::Value::Mapping(m) = &v {
            check_discovery(|k| m.contains_key(k))
                .map_err(|e| serde::de::Error::custom(format!("[{i}]: {e}")))?;
        }
        // The section was read as plain values (to check discovery first), which lost
        // positions; the path inside the job lets the config loader find the line again.
        let sc: ScrapeConfig = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                serde::de::Error::custom(format!("[{i}]: {inner}"))
            } else {
                serde::de::Error::custom(format!("[{i}].{path}: {inner}"))
            }
        })?;
        if !names.insert(sc.job_name.clone()) {
            return Err(serde::de::Error::custom(format!(
                "found multiple scrape configs with job name {:?}",
                sc.job_name
            )));
        }
        sc.resolve(&GlobalConfig::default())
            .map_err(|e| serde::de::Error::custom(format!("job {:?}: {e}", sc.job_name)))?;
        out.push(sc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        global: GlobalConfig,
        #[serde(deserialize_with = "deserialize_scrape_configs")]
        scrape_configs: Vec<ScrapeConfig>,
    }

    #[test]
    fn a_prometheus_yml_section_reads_as_it_is() {
        let doc: Doc = serde_norway::from_str(
            r#"
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: 'prometheus'
    static_configs:
      - targets: ['localhost:9090']
  - job_name: 'app'
    scrape_interval: 5s
    metrics_path: /custom
    scheme: https
    params: { module: [http_2xx] }
    basic_auth: { username: u, password: p }
    tls_config: { insecure_skip_verify: true }
    honor_labels: true
    body_size_limit: 10MB
    sample_limit: 1000
    file_sd_configs:
      - files: ['/etc/prometheus/targets/*.json']
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        target_label: instance
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
"#,
        )
        .unwrap();
        let app = doc.scrape_configs[1].resolve(&doc.global).unwrap();
        assert_eq!(app.interval, Duration::from_secs(5));
        assert_eq!(
            app.timeout,
            Duration::from_secs(5),
            "timeout capped at the interval"
        );
        assert_eq!(app.body_size_limit, 10 << 20);
        let prom = doc.scrape_configs[0].resolve(&doc.global).unwrap();
        assert_eq!(prom.interval, Duration::from_secs(15));
        assert_eq!(prom.timeout, Duration::from_secs(10));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        for (yaml, want) in [
            (
                "- job_name: a\n  kubernetes_sd_configs: [{role: pod}]\n",
                "kubernetes_sd_configs: not supported",
            ),
            // Prometheus's own examples (prometheus-outscale.yml, prometheus-stackit.yml)
            // said "unknown field".
            (
                "- job_name: a\n  outscale_sd_configs: [{region: eu-west-2}]\n",
                "outscale_sd_configs: not supported",
            ),
            (
                "- job_name: a\n  stackit_sd_configs: [{project: p}]\n",
                "stackit_sd_configs: not supported",
            ),
            // Prometheus 3's newer AWS and OCI kinds.
            (
                "- job_name: a\n  ecs_sd_configs: [{region: eu-west-1}]\n",
                "ecs_sd_configs: not supported",
            ),
            (
                "- job_name: a\n  oci_sd_configs: [{region: r}]\n",
                "oci_sd_configs: not supported",
            ),
            ("- job_name: a\n- job_name: a\n", "multiple scrape configs"),
            (
                "- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
                "greater than scrape interval",
            ),
            (
                "- job_name: a\n  static_configs: [{targets: ['http://x:1/metrics']}]\n",
                "without scheme",
            ),
            ("- job_name: a\n  bogus: 1\n", "unknown field"),
            (
                "- job_name: a\n  relabel_configs: [{source_labels: [x]}]\n",
                "target_label",
            ),
        ] {
            let e = serde_norway::from_str::<Doc>(&format!("scrape_configs:\n{yaml}"))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{yaml}: {e}");
        }
    }

    #[test]
    fn accept_header_as_prometheus_builds_it() {
        assert_eq!(
            ScrapeProtocol::accept_header(DEFAULT_PROTOCOLS),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
    }
}
