//! What scraping refuses: a job that does not pass Prometheus's load-time checks, a
//! discovery file that cannot be read, credentials that cannot be sealed or opened.

use std::path::PathBuf;

use pharos_ingest::IngestError;

use crate::secrets::{KEY_FILE, REDACTED};

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// A job of the config file, named, with what is wrong with it.
    #[error("scrape_configs: job {job:?}: {source}")]
    Job {
        job: String,
        source: Box<ScrapeError>,
    },
    #[error(
        "scrape_configs: job {job:?} is already a scrape job created through the API; rename it in the file or delete that job (DELETE /api/v1/scrape_jobs/{job})"
    )]
    NameOfApiJob { job: String },
    #[error(
        "{key}: not supported by Pharos; use static_configs, file_sd_configs, docker_sd_configs or consul_sd_configs"
    )]
    UnsupportedDiscovery { key: &'static str },

    // Prometheus's load-time checks of one job; the texts without a field first are its own.
    #[error("job_name: must not be empty")]
    EmptyJobName,
    #[error("scrape_interval: must be above zero")]
    ZeroInterval,
    #[error("scrape timeout greater than scrape interval for scrape config with job name {job:?}")]
    TimeoutAboveInterval { job: String },
    #[error("scheme: {0:?} is not http or https")]
    Scheme(String),
    #[error("metrics_path: {0:?} must start with /")]
    MetricsPath(String),
    #[error("at most one of bearer_token, bearer_token_file and authorization must be configured")]
    SeveralBearerCredentials,
    #[error(
        "at most one of basic_auth, bearer_token, bearer_token_file and authorization must be configured"
    )]
    BasicAuthAndBearer,
    #[error("basic_auth: at most one of password and password_file must be configured")]
    PasswordAndPasswordFile,
    #[error("authorization: at most one of credentials and credentials_file must be configured")]
    CredentialsAndCredentialsFile,
    #[error("authorization: type 'Basic' is not allowed; use basic_auth")]
    BasicAuthorization,
    #[error("tls_config: cert_file and key_file must be configured together")]
    CertWithoutKey,
    #[error("relabel_configs[{index}]: {source}")]
    Relabel { index: usize, source: IngestError },
    #[error("metric_relabel_configs[{index}]: {source}")]
    MetricRelabel { index: usize, source: IngestError },
    #[error(
        "static_configs[{index}]: target {target:?}: a target is host:port, without scheme or path"
    )]
    TargetWithPath { index: usize, target: String },
    #[error("docker_sd_configs[{index}]: {message}")]
    DockerSd { index: usize, message: String },
    #[error("consul_sd_configs[{index}]: {message}")]
    ConsulSd { index: usize, message: String },
    #[error("file_sd_configs[{index}]: {source}")]
    FileSd {
        index: usize,
        source: Box<ScrapeError>,
    },
    #[error("json[{index}]: {source}")]
    Json {
        index: usize,
        source: Box<ScrapeError>,
    },
    #[error("scrape_protocols: must not be empty")]
    NoProtocols,

    // File discovery.
    #[error("path {pattern:?}: only the last path segment may contain a glob")]
    GlobInDirectory { pattern: String },
    #[error("path {pattern:?} is not a valid file path (it must end in .json, .yml or .yaml)")]
    FileExtension { pattern: String },
    #[error("{path}: {source}")]
    ReadSdFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    SdFileJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    SdFileYaml {
        path: PathBuf,
        source: serde_norway::Error,
    },

    // JSON targets' `json:` entries.
    #[error("path {path:?}: empty key (write keys separated by single dots)")]
    JsonEmptyKey { path: String },
    #[error("path {path:?}: {{{capture}}} is not a valid label name")]
    JsonCaptureName { path: String, capture: String },
    #[error("name {0:?} is not a valid metric name")]
    JsonMetricName(String),
    #[error("labels: {0:?} is not a valid label name")]
    JsonLabelName(String),

    // The credentials of API jobs.
    #[error(
        "{field}: {REDACTED:?} stands for a stored credential and this job has none; send the credential itself"
    )]
    NoStoredSecret { field: String },
    #[error("no randomness for a new secrets key")]
    NoRandomnessForKey,
    #[error("cannot read {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    WriteKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a secrets key ({len} bytes, want {want})")]
    NotAKey {
        path: PathBuf,
        len: usize,
        want: usize,
    },
    #[error("no randomness for a nonce")]
    NoRandomnessForNonce,
    #[error(transparent)]
    EncodeSecrets(serde_json::Error),
    #[error("sealing failed")]
    Seal,
    #[error(
        "the stored credentials of scrape job {job:?} cannot be opened with {KEY_FILE} (was the key file replaced?); send them again with PUT or PATCH"
    )]
    CannotOpen { job: String },
}
