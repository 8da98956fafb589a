//! The running metrics config printed as Prometheus prints its own on
//! `/api/v1/status/config`: the `global:` section and every scrape job (the config's,
//! then those made through the API) with their defaults filled in, the rule files, and
//! every credential as `<secret>`. Pharos-only options (`json:`) are left out: a
//! Prometheus reading the YAML would refuse them.

use pharos_ingest::prometheus::relabel::RelabelConfig;
use pharos_scrape::config::{Authorization, GlobalConfig, ScrapeConfig, ScrapeProtocol, TlsConfig};
use serde_norway::{Mapping, Value};

use crate::App;
use crate::metrics_store::MetricsError;

/// What Prometheus prints in place of a credential.
const SECRET: &str = "<secret>";

impl App {
    /// The metrics config in force as Prometheus's YAML.
    pub fn prometheus_config_yaml(&self) -> Result<String, MetricsError> {
        let scrape = &self.metrics()?.scrape;
        let mut files: Vec<String> = Vec::new();
        for g in self.rule_groups() {
            if !files.contains(&g.file) {
                files.push(g.file);
            }
        }
        let jobs: Vec<ScrapeConfig> = scrape.jobs().into_iter().map(|(_, c)| c).collect();
        config_yaml(&scrape.global(), &files, &jobs)
            .map_err(|e| MetricsError::Internal(format!("cannot print the config: {e}")))
    }
}

impl App {
    /// The name of every scrape job (of the config, the API, and Pharos's own), sorted,
    /// as Prometheus's `/api/v1/scrape_pools` lists its pools.
    pub fn scrape_pools(&self) -> Result<Vec<String>, MetricsError> {
        let scrape = &self.metrics()?.scrape;
        let mut names: std::collections::BTreeSet<String> =
            scrape.jobs().into_iter().map(|(_, c)| c.job_name).collect();
        names.extend(scrape.targets().iter().map(|t| t.target.job.clone()));
        Ok(names.into_iter().collect())
    }
}

fn config_yaml(
    global: &GlobalConfig,
    rule_files: &[String],
    jobs: &[ScrapeConfig],
) -> Result<String, serde_norway::Error> {
    let mut root = Mapping::new();
    root.insert("global".into(), global_yaml(global));
    if !rule_files.is_empty() {
        root.insert("rule_files".into(), strings(rule_files));
    }
    if !jobs.is_empty() {
        root.insert(
            "scrape_configs".into(),
            Value::Sequence(jobs.iter().map(|j| job_yaml(j, global)).collect()),
        );
    }
    serde_norway::to_string(&Value::Mapping(root))
}

fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|s| Value::from(s.as_str())).collect())
}

fn protocol_name(p: ScrapeProtocol) -> &'static str {
    match p {
        ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
        ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
        ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
        ScrapeProtocol::PrometheusProto => "PrometheusProto",
    }
}

fn protocols(list: &[ScrapeProtocol]) -> Value {
    Value::Sequence(list.iter().map(|p| protocol_name(*p).into()).collect())
}

/// Inserts `value` under `key` when it is set and not zero (Go's `omitempty`).
fn limit(m: &mut Mapping, key: &str, value: Option<u64>) {
    if let Some(v) = value.filter(|v| *v > 0) {
        m.insert(key.into(), v.into());
    }
}

fn global_yaml(g: &GlobalConfig) -> Value {
    let mut m = Mapping::new();
    m.insert(
        "scrape_interval".into(),
        g.scrape_interval.to_string().into(),
    );
    // Prometheus lowers an unset global timeout to the interval when the interval is
    // shorter, and refuses to load a timeout above it.
    let timeout = if g.scrape_timeout.as_duration() > g.scrape_interval.as_duration() {
        g.scrape_interval
    } else {
        g.scrape_timeout
    };
    m.insert("scrape_timeout".into(), timeout.to_string().into());
    m.insert(
        "scrape_protocols".into(),
        protocols(
            g.scrape_protocols
                .as_deref()
                .unwrap_or(pharos_scrape::config::DEFAULT_PROTOCOLS),
        ),
    );
    m.insert(
        "evaluation_interval".into(),
        g.evaluation_interval.to_string().into(),
    );
    if let Some(f) = &g.query_log_file {
        m.insert("query_log_file".into(), f.as_str().into());
    }
    if !g.external_labels.is_empty() {
        let mut labels = Mapping::new();
        for (k, v) in &g.external_labels {
            labels.insert(k.as_str().into(), v.as_str().into());
        }
        m.insert("external_labels".into(), Value::Mapping(labels));
    }
    if let Some(b) = g.body_size_limit.filter(|b| b.0 > 0) {
        m.insert("body_size_limit".into(), byte_size(b.0).into());
    }
    limit(&mut m, "sample_limit", g.sample_limit);
    limit(&mut m, "target_limit", g.target_limit);
    limit(&mut m, "label_limit", g.label_limit);
    limit(&mut m, "label_name_length_limit", g.label_name_length_limit);
    limit(
        &mut m,
        "label_value_length_limit",
        g.label_value_length_limit,
    );
    Value::Mapping(m)
}

/// A size as Go's `units.Base2Bytes` prints one: the largest unit that divides it
/// (`512MiB`, `0B`).
pub fn byte_size(n: u64) -> String {
    if n > 0 {
        for (unit, size) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if n.is_multiple_of(size) {
                return format!("{}{unit}", n / size);
            }
        }
    }
    format!("{n}B")
}

fn job_yaml(j: &ScrapeConfig, global: &GlobalConfig) -> Value {
    let interval = j.scrape_interval.unwrap_or(global.scrape_interval);
    let timeout = j.scrape_timeout.unwrap_or_else(|| {
        // As Prometheus resolves it: the global timeout, never longer than the interval.
        if global.scrape_timeout.as_duration() > interval.as_duration() {
            interval
        } else {
            global.scrape_timeout
        }
    });
    let mut m = Mapping::new();
    m.insert("job_name".into(), j.job_name.as_str().into());
    if j.honor_labels {
        m.insert("honor_labels".into(), true.into());
    }
    m.insert("honor_timestamps".into(), j.honor_timestamps.into());
    m.insert(
        "track_timestamps_staleness".into(),
        j.track_timestamps_staleness.into(),
    );
    if !j.params.is_empty() {
        let mut params = Mapping::new();
        for (k, v) in &j.params {
            params.insert(k.as_str().into(), strings(v));
        }
        m.insert("params".into(), Value::Mapping(params));
    }
    m.insert("scrape_interval".into(), interval.to_string().into());
    m.insert("scrape_timeout".into(), timeout.to_string().into());
    m.insert(
        "scrape_protocols".into(),
        protocols(
            j.scrape_protocols
                .as_deref()
                .or(global.scrape_protocols.as_deref())
                .unwrap_or(pharos_scrape::config::DEFAULT_PROTOCOLS),
        ),
    );
    if let Some(p) = j.fallback_scrape_protocol {
        m.insert("fallback_scrape_protocol".into(), protocol_name(p).into());
    }
    m.insert("metrics_path".into(), j.metrics_path.as_str().into());
    m.insert("scheme".into(), j.scheme.as_str().into());
    m.insert(
        "enable_compression".into(),
        j.enable_compression.unwrap_or(true).into(),
    );
    if let Some(b) = j
        .body_size_limit
        .or(global.body_size_limit)
        .filter(|b| b.0 > 0)
    {
        m.insert("body_size_limit".into(), byte_size(b.0).into());
    }
    limit(
        &mut m,
        "sample_limit",
        j.sample_limit.or(global.sample_limit),
    );
    limit(
        &mut m,
        "target_limit",
        j.target_limit.or(global.target_limit),
    );
    limit(&mut m, "label_limit", j.label_limit.or(global.label_limit));
    limit(
        &mut m,
        "label_name_length_limit",
        j.label_name_length_limit.or(global.label_name_length_limit),
    );
    limit(
        &mut m,
        "label_value_length_limit",
        j.label_value_length_limit
            .or(global.label_value_length_limit),
    );
    http_client_yaml(&mut m, j);
    if !j.relabel_configs.is_empty() {
        m.insert("relabel_configs".into(), relabel_yaml(&j.relabel_configs));
    }
    if !j.metric_relabel_configs.is_empty() {
        m.insert(
            "metric_relabel_configs".into(),
            relabel_yaml(&j.metric_relabel_configs),
        );
    }
    if !j.static_configs.is_empty() {
        let groups = j
            .static_configs
            .iter()
            .map(|s| {
                let mut g = Mapping::new();
                g.insert("targets".into(), strings(&s.targets));
                if !s.labels.is_empty() {
                    let mut labels = Mapping::new();
                    for (k, v) in &s.labels {
                        labels.insert(k.as_str().into(), v.as_str().into());
                    }
                    g.insert("labels".into(), Value::Mapping(labels));
                }
                Value::Mapping(g)
            })
            .collect();
        m.insert("static_configs".into(), Value::Sequence(groups));
    }
    if !j.file_sd_configs.is_empty() {
        let sd = j
            .file_sd_configs
            .iter()
            .map(|f| {
                let mut g = Mapping::new();
                g.insert("files".into(), strings(&f.files));
                g.insert(
                    "refresh_interval".into(),
                    f.refresh_interval.to_string().into(),
                );
                Value::Mapping(g)
            })
            .collect();
        m.insert("file_sd_configs".into(), Value::Sequence(sd));
    }
    Value::Mapping(m)
}

/// Prometheus's inlined HTTP client settings; `bearer_token` is printed as the
/// `authorization:` Prometheus turns it into.
fn http_client_yaml(m: &mut Mapping, j: &ScrapeConfig) {
    if let Some(b) = &j.basic_auth {
        let mut a = Mapping::new();
        a.insert("username".into(), b.username.as_str().into());
        if let Some(f) = &b.username_file {
            a.insert("username_file".into(), f.display().to_string().into());
        }
        if b.password.is_some() {
            a.insert("password".into(), SECRET.into());
        }
        if let Some(f) = &b.password_file {
            a.insert("password_file".into(), f.display().to_string().into());
        }
        m.insert("basic_auth".into(), Value::Mapping(a));
    }
    let bearer = match (&j.authorization, &j.bearer_token, &j.bearer_token_file) {
        (Some(a), _, _) => Some(a.clone()),
        (None, Some(t), _) => Some(Authorization {
            kind: "Bearer".into(),
            credentials: Some(t.clone()),
            credentials_file: None,
            credentials_ref: None,
        }),
        (None, None, Some(f)) => Some(Authorization {
            kind: "Bearer".into(),
            credentials: None,
            credentials_file: Some(f.clone()),
            credentials_ref: None,
        }),
        (None, None, None) => None,
    };
    if let Some(a) = bearer {
        let mut v = Mapping::new();
        v.insert("type".into(), a.kind.as_str().into());
        if a.credentials.is_some() {
            v.insert("credentials".into(), SECRET.into());
        }
        if let Some(f) = &a.credentials_file {
            v.insert("credentials_file".into(), f.display().to_string().into());
        }
        m.insert("authorization".into(), Value::Mapping(v));
    }
    if let Some(p) = &j.proxy_url {
        m.insert("proxy_url".into(), redacted_url(p).into());
    }
    if let Some(t) = &j.tls_config {
        m.insert("tls_config".into(), tls_yaml(t));
    }
    m.insert("follow_redirects".into(), j.follow_redirects.into());
    m.insert("enable_http2".into(), j.enable_http2.into());
}

fn tls_yaml(t: &TlsConfig) -> Value {
    let mut v = Mapping::new();
    if let Some(ca) = &t.ca {
        v.insert("ca".into(), ca.as_str().into());
    }
    for (key, path) in [
        ("ca_file", &t.ca_file),
        ("cert_file", &t.cert_file),
        ("key_file", &t.key_file),
    ] {
        if let Some(p) = path {
            v.insert(key.into(), p.display().to_string().into());
        }
    }
    if let Some(s) = &t.server_name {
        v.insert("server_name".into(), s.as_str().into());
    }
    v.insert("insecure_skip_verify".into(), t.insecure_skip_verify.into());
    if let Some(min) = &t.min_version {
        v.insert("min_version".into(), min.as_str().into());
    }
    Value::Mapping(v)
}

/// A URL with its password hidden, as Go's `url.URL.Redacted` hides it.
fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => SECRET.to_string(),
    }
}

fn relabel_yaml(rules: &[RelabelConfig]) -> Value {
    Value::Sequence(
        rules
            .iter()
            .map(|r| {
                let mut v = Mapping::new();
                if !r.source_labels.is_empty() {
                    v.insert("source_labels".into(), strings(&r.source_labels));
                }
                v.insert("separator".into(), r.separator.as_str().into());
                v.insert("regex".into(), r.regex.as_str().into());
                if let Some(m) = r.modulus {
                    v.insert("modulus".into(), m.into());
                }
                if let Some(t) = &r.target_label {
                    v.insert("target_label".into(), t.as_str().into());
                }
                v.insert("replacement".into(), r.replacement.as_str().into());
                // The action's name is its variant's, lower-cased (`labeldrop`).
                v.insert(
                    "action".into(),
                    format!("{:?}", r.action).to_lowercase().into(),
                );
                Value::Mapping(v)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(yaml: &str) -> Vec<ScrapeConfig> {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn a_global_interval_below_the_default_timeout_lowers_the_timeout() {
        let global: GlobalConfig = serde_norway::from_str("scrape_interval: 1s").unwrap();
        let y = config_yaml(&global, &[], &[]).unwrap();
        let v: serde_norway::Value = serde_norway::from_str(&y).unwrap();
        assert_eq!(v["global"]["scrape_timeout"], Value::from("1s"), "{y}");
    }

    #[test]
    fn credentials_are_printed_as_secret() {
        let js = jobs(
            "- job_name: a\n  basic_auth: {username: u, password: hunter2}\n  static_configs: [{targets: ['h:1']}]\n\
             - job_name: b\n  bearer_token: tok123\n  proxy_url: http://p:pw@proxy:3128\n",
        );
        let y = config_yaml(&GlobalConfig::default(), &[], &js).unwrap();
        assert!(!y.contains("hunter2"), "{y}");
        assert!(!y.contains("tok123"), "{y}");
        assert!(!y.contains(":pw@"), "{y}");
        assert!(y.contains("password: <secret>"), "{y}");
        assert!(y.contains("credentials: <secret>"), "{y}");
        assert!(y.contains("type: Bearer"), "{y}");
    }

    #[test]
    fn defaults_are_resolved_as_prometheus_prints_them() {
        let js = jobs(
            "- job_name: a\n  scrape_interval: 5s\n  relabel_configs: [{action: labeldrop, regex: tmp}]\n",
        );
        let y = config_yaml(&GlobalConfig::default(), &["rules/a.yml".into()], &js).unwrap();
        let v: serde_norway::Value = serde_norway::from_str(&y).unwrap();
        assert_eq!(v["global"]["scrape_interval"], Value::from("1m"));
        assert_eq!(v["global"]["scrape_timeout"], Value::from("10s"));
        assert_eq!(v["global"]["evaluation_interval"], Value::from("1m"));
        assert_eq!(v["rule_files"][0], Value::from("rules/a.yml"));
        let job = &v["scrape_configs"][0];
        assert_eq!(job["scrape_interval"], Value::from("5s"));
        // The global timeout (10s) is longer than the interval.
        assert_eq!(job["scrape_timeout"], Value::from("5s"));
        assert_eq!(job["metrics_path"], Value::from("/metrics"));
        assert_eq!(
            job["relabel_configs"][0]["action"],
            Value::from("labeldrop")
        );
        assert_eq!(job["relabel_configs"][0]["separator"], Value::from(";"));
    }
}
