//! The fields of Prometheus's `global:` and scrape configs that Pharos reads, so that a
//! `prometheus.yml` pastes as it is, but does not act on. Each one set in a config is
//! returned with the reason, and the config loader shows it as a warning at its line:
//! nothing a user wrote is dropped silently.
//!
//! A field whose value asks for what Pharos does anyway (`scrape_native_histograms:
//! false`, `metric_name_validation_scheme: utf8`) is not reported.

use crate::config::{GlobalConfig, ScrapeConfig, TlsConfig};

/// A field that is set but changes nothing, by its path from the section
/// (`scrape_native_histograms`, `tls_config.cert_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredField {
    pub field: String,
    pub reason: &'static str,
}

const NATIVE_HISTOGRAMS: &str =
    "Pharos stores no native histograms; classic histograms are scraped as they are";
const FAILURE_LOG: &str = "scrape failures are shown on the targets page and in Pharos's log, not written to a file of their own";
const KEEP_DROPPED: &str =
    "the targets page counts the targets relabelling dropped, without listing them";
const ESCAPING: &str = "metric names are stored as the target sends them";
const VALIDATION: &str =
    "Pharos accepts UTF-8 metric and label names, as Prometheus 3 does by default";
const EXTRA_METRICS: &str =
    "the extra scrape_* series (scrape_timeout_seconds, scrape_sample_limit, ...) are not made";
const SECRET_REF: &str =
    "Pharos has no secret manager; write the secret, or its file, or ${ENV_VAR} instead";

/// The fields both sections share.
struct Shared<'a> {
    scrape_failure_log_file: &'a Option<String>,
    keep_dropped_targets: Option<u64>,
    metric_name_validation_scheme: &'a Option<String>,
    metric_name_escaping_scheme: &'a Option<String>,
    scrape_native_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<bool>,
    extra_scrape_metrics: Option<bool>,
}

impl Shared<'_> {
    fn ignored(&self, out: &mut Vec<IgnoredField>) {
        let mut add = |set: bool, field: &str, reason| {
            if set {
                out.push(IgnoredField {
                    field: field.into(),
                    reason,
                });
            }
        };
        add(
            self.scrape_failure_log_file.is_some(),
            "scrape_failure_log_file",
            FAILURE_LOG,
        );
        add(
            self.keep_dropped_targets.is_some_and(|n| n > 0),
            "keep_dropped_targets",
            KEEP_DROPPED,
        );
        add(
            self.metric_name_validation_scheme
                .as_deref()
                .is_some_and(|s| !s.is_empty() && s != "utf8"),
            "metric_name_validation_scheme",
            VALIDATION,
        );
        add(
            self.metric_name_escaping_scheme.is_some(),
            "metric_name_escaping_scheme",
            ESCAPING,
        );
        add(
            self.scrape_native_histograms == Some(true),
            "scrape_native_histograms",
            NATIVE_HISTOGRAMS,
        );
        add(
            self.convert_classic_histograms_to_nhcb == Some(true),
            "convert_classic_histograms_to_nhcb",
            NATIVE_HISTOGRAMS,
        );
        add(
            self.extra_scrape_metrics == Some(true),
            "extra_scrape_metrics",
            EXTRA_METRICS,
        );
    }
}

impl GlobalConfig {
    /// The fields of `global:` that are set and that Pharos does not act on.
    pub fn ignored_fields(&self) -> Vec<IgnoredField> {
        let mut out = Vec::new();
        if self.query_log_file.is_some() {
            out.push(IgnoredField {
                field: "query_log_file".into(),
                reason: "Pharos keeps no query log",
            });
        }
        if self
            .rule_query_offset
            .is_some_and(|d| !d.as_duration().is_zero())
        {
            out.push(IgnoredField {
                field: "rule_query_offset".into(),
                reason: "set `query_offset` on the rule groups instead",
            });
        }
        Shared {
            scrape_failure_log_file: &self.scrape_failure_log_file,
            keep_dropped_targets: self.keep_dropped_targets,
            metric_name_validation_scheme: &self.metric_name_validation_scheme,
            metric_name_escaping_scheme: &self.metric_name_escaping_scheme,
            scrape_native_histograms: self.scrape_native_histograms,
            convert_classic_histograms_to_nhcb: self.convert_classic_histograms_to_nhcb,
            extra_scrape_metrics: self.extra_scrape_metrics,
        }
        .ignored(&mut out);
        out
    }
}

impl ScrapeConfig {
    /// The fields of this job that are set and that Pharos does not act on.
    pub fn ignored_fields(&self) -> Vec<IgnoredField> {
        let mut out = Vec::new();
        Shared {
            scrape_failure_log_file: &self.scrape_failure_log_file,
            keep_dropped_targets: self.keep_dropped_targets,
            metric_name_validation_scheme: &self.metric_name_validation_scheme,
            metric_name_escaping_scheme: &self.metric_name_escaping_scheme,
            scrape_native_histograms: self.scrape_native_histograms,
            convert_classic_histograms_to_nhcb: self.convert_classic_histograms_to_nhcb,
            extra_scrape_metrics: self.extra_scrape_metrics,
        }
        .ignored(&mut out);
        let mut add = |set: bool, field: &str, reason| {
            if set {
                out.push(IgnoredField {
                    field: field.into(),
                    reason,
                });
            }
        };
        add(
            self.native_histogram_bucket_limit.is_some_and(|n| n > 0),
            "native_histogram_bucket_limit",
            NATIVE_HISTOGRAMS,
        );
        add(
            self.native_histogram_min_bucket_factor
                .is_some_and(|f| f != 0.0),
            "native_histogram_min_bucket_factor",
            NATIVE_HISTOGRAMS,
        );
        add(
            self.oauth2.is_some(),
            "oauth2",
            "Pharos does not fetch OAuth 2.0 tokens: the target is scraped without one; put a token in `authorization` instead",
        );
        add(
            self.no_proxy.is_some(),
            "no_proxy",
            "`proxy_url` applies to every target of the job",
        );
        add(
            !self.proxy_connect_header.is_empty(),
            "proxy_connect_header",
            "no headers are sent to the proxy",
        );
        if let Some(b) = &self.basic_auth {
            add(
                b.username_ref.is_some(),
                "basic_auth.username_ref",
                SECRET_REF,
            );
            add(
                b.password_ref.is_some(),
                "basic_auth.password_ref",
                SECRET_REF,
            );
        }
        if let Some(a) = &self.authorization {
            add(
                a.credentials_ref.is_some(),
                "authorization.credentials_ref",
                SECRET_REF,
            );
        }
        if let Some(tls) = &self.tls_config {
            tls_ignored(tls, "tls_config", &mut out);
        }
        out
    }
}

fn tls_ignored(tls: &TlsConfig, at: &str, out: &mut Vec<IgnoredField>) {
    const CLIENT_CERT: &str =
        "Pharos presents no client certificate when it scrapes; the target is scraped without one";
    const NOT_SET: &str = "Pharos uses its TLS library's settings here";
    for (set, field, reason) in [
        (tls.cert_file.is_some(), "cert_file", CLIENT_CERT),
        (tls.key_file.is_some(), "key_file", CLIENT_CERT),
        (tls.cert.is_some(), "cert", CLIENT_CERT),
        (tls.key.is_some(), "key", CLIENT_CERT),
        (
            tls.ca.is_some(),
            "ca",
            "write the CA to a file and name it in `ca_file`",
        ),
        (tls.server_name.is_some(), "server_name", NOT_SET),
        (tls.min_version.is_some(), "min_version", NOT_SET),
        (tls.max_version.is_some(), "max_version", NOT_SET),
        (tls.ca_ref.is_some(), "ca_ref", SECRET_REF),
        (tls.cert_ref.is_some(), "cert_ref", SECRET_REF),
        (tls.key_ref.is_some(), "key_ref", SECRET_REF),
    ] {
        if set {
            out.push(IgnoredField {
                field: format!("{at}.{field}"),
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changes_nothing_is_reported() {
        let job: ScrapeConfig = serde_norway::from_str(
            "job_name: a\nscrape_native_histograms: true\nalways_scrape_classic_histograms: true\nmetric_name_validation_scheme: utf8\noauth2: {client_id: x, client_secret: y, token_url: 'http://t'}\ntls_config: {cert_file: c, key_file: k, insecure_skip_verify: true}\nhttp_headers: {X-A: {values: [b]}}\n",
        )
        .unwrap();
        let fields: Vec<String> = job.ignored_fields().into_iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            [
                "scrape_native_histograms",
                "oauth2",
                "tls_config.cert_file",
                "tls_config.key_file"
            ]
        );
        let quiet: ScrapeConfig =
            serde_norway::from_str("job_name: a\nscrape_native_histograms: false\n").unwrap();
        assert!(quiet.ignored_fields().is_empty());
        let global: GlobalConfig = serde_norway::from_str(
            "scrape_interval: 15s\nquery_log_file: /q.log\nmetric_name_validation_scheme: legacy\n",
        )
        .unwrap();
        let fields: Vec<String> = global
            .ignored_fields()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["query_log_file", "metric_name_validation_scheme"]);
    }
}
