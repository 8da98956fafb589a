//! `consul_sd_configs`: the service instances a Consul catalog knows, as targets with the
//! `__meta_consul_*` labels Prometheus's `discovery/consul/consul.go` makes. Every
//! `refresh_interval` the catalog is asked `GET /v1/catalog/services`, then
//! `GET /v1/health/service/<name>` for each service the config's `services` and `tags`
//! select (Pharos polls; it does not hold Consul's blocking queries open).
//!
//! `token` is sent as `X-Consul-Token` and never shown: `Debug` prints `<secret>` and
//! errors name the request path only.

use std::collections::BTreeMap;
use std::time::Duration;

use pharos_model::HumanDuration;
use serde::{Deserialize, Deserializer};

use crate::config::{Authorization, BasicAuth, TlsConfig};
use crate::discovery::TargetGroup;
use crate::sd_http::{self, ClientAuth, Endpoint, null_as_default, sanitize_label_name};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulSdConfig {
    /// `host:port` of a Consul agent or server.
    #[serde(default = "default_server")]
    pub server: String,
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// An ACL token: a secret.
    #[serde(default)]
    pub token: Option<ConsulToken>,
    /// The agent's own datacenter when unset (asked at `/v1/agent/self`).
    #[serde(default)]
    pub datacenter: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default = "default_separator")]
    pub tag_separator: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<ConsulToken>,
    #[serde(default = "yes")]
    pub allow_stale: bool,
    #[serde(default = "default_refresh")]
    pub refresh_interval: HumanDuration,
    /// Only these services (all when empty).
    #[serde(default)]
    pub services: Vec<String>,
    /// Only instances with every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub node_meta: BTreeMap<String, String>,
    /// Consul's filter expression for the catalog's service list.
    #[serde(default)]
    pub filter: Option<String>,
    /// Consul's filter expression for the health endpoint.
    #[serde(default)]
    pub health_filter: Option<String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    #[serde(default = "yes")]
    pub enable_http2: bool,
}

/// A Consul token or password: kept out of `Debug` and so out of every log line.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsulToken(pub String);

impl std::fmt::Debug for ConsulToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The length tells a changed token from the old one in a fingerprint, no more.
        write!(f, "<secret:{}>", self.0.len())
    }
}

impl<'de> Deserialize<'de> for ConsulToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(ConsulToken)
    }
}

fn default_server() -> String {
    "localhost:8500".into()
}

fn default_separator() -> String {
    ",".into()
}

fn default_scheme() -> String {
    "http".into()
}

fn default_refresh() -> HumanDuration {
    HumanDuration::from_secs(30)
}

fn yes() -> bool {
    true
}

impl ConsulSdConfig {
    /// Prometheus's load-time checks (no connection is made); the API's base URL.
    pub fn check(&self) -> Result<String, String> {
        if self.server.trim().is_empty() {
            return Err("consul SD configuration requires a server address".into());
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(format!("scheme: {:?} is not http or https", self.scheme));
        }
        if (self.username.is_some() || self.password.is_some()) && self.basic_auth.is_some() {
            return Err("at most one of consul SD configuration username and password and basic auth can be configured".into());
        }
        if self.token.is_some() && self.authorization.is_some() {
            return Err(
                "at most one of consul SD token, authorization, or oauth2 can be configured".into(),
            );
        }
        let prefix = self
            .path_prefix
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/');
        let base = format!("{}://{}{}", self.scheme, self.server.trim(), prefix);
        url::Url::parse(&base).map_err(|e| format!("server {:?}: {e}", self.server))?;
        Ok(base)
    }

    /// The API's address, with the HTTP client to ask it.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        Ok(Endpoint::Http {
            base: self.check()?,
            client: sd_http::http_client(self.client_auth_parts(&None))?,
        })
    }

    fn client_auth_parts<'a>(&'a self, basic: &'a Option<BasicAuth>) -> ClientAuth<'a> {
        ClientAuth {
            basic_auth: basic.as_ref().or(self.basic_auth.as_ref()),
            authorization: self.authorization.as_ref(),
            tls_config: self.tls_config.as_ref(),
            proxy_url: self.proxy_url.as_deref(),
        }
    }

    /// The query parameters every request carries.
    fn common_query(&self, dc: &str, filter: Option<&str>) -> Vec<(String, String)> {
        let mut q = vec![("dc".to_string(), dc.to_string())];
        if self.allow_stale {
            q.push(("stale".into(), String::new()));
        }
        if let Some(ns) = &self.namespace {
            q.push(("ns".into(), ns.clone()));
        }
        if let Some(p) = &self.partition {
            q.push(("partition".into(), p.clone()));
        }
        for (k, v) in &self.node_meta {
            q.push(("node-meta".into(), format!("{k}:{v}")));
        }
        if let Some(f) = filter {
            q.push(("filter".into(), f.to_string()));
        }
        q
    }

    fn selects(&self, name: &str, tags: &[String]) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == name))
            && self.tags.iter().all(|t| tags.contains(t))
    }

    /// Asks the catalog once: one group per service instance, services by name.
    pub async fn refresh(&self, endpoint: &Endpoint) -> Result<Vec<TargetGroup>, String> {
        let timeout = self
            .refresh_interval
            .as_duration()
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let basic = self.username.as_ref().map(|u| BasicAuth {
            username: u.clone(),
            username_file: None,
            password: self.password.as_ref().map(|p| p.0.clone()),
            password_file: None,
            username_ref: None,
            password_ref: None,
        });
        let auth = self.client_auth_parts(&basic);
        let token_header: Vec<(&str, &str)> = match &self.token {
            Some(t) => vec![("X-Consul-Token", t.0.as_str())],
            None => Vec::new(),
        };
        let dc = match &self.datacenter {
            Some(dc) => dc.clone(),
            None => {
                let me: AgentSelf =
                    sd_http::get_json(endpoint, "/v1/agent/self", auth, &token_header, timeout)
                        .await
                        .map_err(|e| format!("asking the agent its datacenter: {e}"))?;
                me.config.datacenter
            }
        };
        let path = with_query(
            "/v1/catalog/services",
            &self.common_query(&dc, self.filter.as_deref()),
        );
        let services: BTreeMap<String, Vec<String>> =
            sd_http::get_json(endpoint, &path, auth, &token_header, timeout)
                .await
                .map_err(|e| format!("listing services: {e}"))?;
        let mut out = Vec::new();
        for (name, tags) in &services {
            if !self.selects(name, tags) {
                continue;
            }
            let mut q = self.common_query(&dc, self.health_filter.as_deref());
            q.extend(self.tags.iter().map(|t| ("tag".to_string(), t.clone())));
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            let path = with_query(&format!("/v1/health/service/{encoded}"), &q);
            let entries: Vec<ServiceEntry> =
                sd_http::get_json(endpoint, &path, auth, &token_header, timeout)
                    .await
                    .map_err(|e| format!("service {name:?}: {e}"))?;
            for e in entries {
                out.push(self.group(name, &dc, e));
            }
        }
        Ok(out)
    }

    fn group(&self, service: &str, dc: &str, e: ServiceEntry) -> TargetGroup {
        let sep = &self.tag_separator;
        let tags = format!("{sep}{}{sep}", e.service.tags.join(sep));
        let host = if e.service.address.is_empty() {
            &e.node.address
        } else {
            &e.service.address
        };
        let address = if host.contains(':') {
            format!("[{host}]:{}", e.service.port)
        } else {
            format!("{host}:{}", e.service.port)
        };
        let mut labels = BTreeMap::from([
            ("__meta_consul_service".to_string(), service.to_string()),
            ("__meta_consul_dc".to_string(), dc.to_string()),
            ("__meta_consul_address".to_string(), e.node.address.clone()),
            ("__meta_consul_node".to_string(), e.node.node.clone()),
            (
                "__meta_consul_namespace".to_string(),
                e.service.namespace.clone(),
            ),
            (
                "__meta_consul_partition".to_string(),
                e.service.partition.clone(),
            ),
            ("__meta_consul_tags".to_string(), tags),
            (
                "__meta_consul_service_address".to_string(),
                e.service.address.clone(),
            ),
            (
                "__meta_consul_service_port".to_string(),
                e.service.port.to_string(),
            ),
            ("__meta_consul_service_id".to_string(), e.service.id.clone()),
            (
                "__meta_consul_health".to_string(),
                aggregated_status(&e.checks).into(),
            ),
        ]);
        for (k, v) in &e.node.meta {
            labels.insert(
                format!("__meta_consul_metadata_{}", sanitize_label_name(k)),
                v.clone(),
            );
        }
        for (k, v) in &e.service.meta {
            labels.insert(
                format!("__meta_consul_service_metadata_{}", sanitize_label_name(k)),
                v.clone(),
            );
        }
        for (k, v) in &e.node.tagged_addresses {
            labels.insert(
                format!("__meta_consul_tagged_address_{}", sanitize_label_name(k)),
                v.clone(),
            );
        }
        TargetGroup {
            targets: vec![address],
            labels,
            source: format!("consul/{service}"),
        }
    }
}

/// Consul's `HealthChecks.AggregatedStatus`: maintenance, then critical, then warning
/// win over passing (no checks is passing).
fn aggregated_status(checks: &[Check]) -> &'static str {
    let has = |s: &str| checks.iter().any(|c| c.status == s);
    let maintenance = checks.iter().any(|c| {
        c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:")
    });
    if maintenance || has("maintenance") {
        "maintenance"
    } else if has("critical") {
        "critical"
    } else if has("warning") {
        "warning"
    } else {
        "passing"
    }
}

fn with_query(path: &str, query: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        s.append_pair(k, v);
    }
    // `stale` is a flag: Consul reads `stale=` as set.
    format!("{path}?{}", s.finish())
}

#[derive(Debug, Deserialize)]
struct AgentSelf {
    #[serde(rename = "Config")]
    config: AgentConfig,
}

#[derive(Debug, Deserialize)]
struct AgentConfig {
    #[serde(rename = "Datacenter")]
    datacenter: String,
}

/// One item of `GET /v1/health/service/<name>`.
#[derive(Debug, Deserialize)]
struct ServiceEntry {
    #[serde(rename = "Node")]
    node: Node,
    #[serde(rename = "Service")]
    service: Service,
    #[serde(rename = "Checks", default, deserialize_with = "null_as_default")]
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Node {
    #[serde(rename = "Node", default)]
    node: String,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(
        rename = "TaggedAddresses",
        default,
        deserialize_with = "null_as_default"
    )]
    tagged_addresses: BTreeMap<String, String>,
    #[serde(rename = "Meta", default, deserialize_with = "null_as_default")]
    meta: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Service {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Tags", default, deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "Port", default)]
    port: u16,
    #[serde(rename = "Meta", default, deserialize_with = "null_as_default")]
    meta: BTreeMap<String, String>,
    #[serde(rename = "Namespace", default)]
    namespace: String,
    #[serde(rename = "Partition", default)]
    partition: String,
}

#[derive(Debug, Deserialize)]
struct Check {
    #[serde(rename = "CheckID", default)]
    check_id: String,
    #[serde(rename = "Status", default)]
    status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_aggregated_as_consul_does() {
        let check = |id: &str, status: &str| Check {
            check_id: id.into(),
            status: status.into(),
        };
        assert_eq!(aggregated_status(&[]), "passing");
        assert_eq!(
            aggregated_status(&[check("a", "passing"), check("b", "warning")]),
            "warning"
        );
        assert_eq!(
            aggregated_status(&[check("a", "critical"), check("b", "warning")]),
            "critical"
        );
        assert_eq!(
            aggregated_status(&[check("_node_maintenance", "critical")]),
            "maintenance"
        );
    }

    #[test]
    fn services_and_tags_select_and_the_token_stays_out_of_debug() {
        let c: ConsulSdConfig =
            serde_norway::from_str("token: s3cr3t-token\nservices: [web]\ntags: [prod]\n").unwrap();
        assert!(c.selects("web", &["prod".into(), "x".into()]));
        assert!(!c.selects("web", &["x".into()]));
        assert!(!c.selects("db", &["prod".into()]));
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(c.check().unwrap(), "http://localhost:8500");
        let both: ConsulSdConfig =
            serde_norway::from_str("token: t\nauthorization: {credentials: c}\n").unwrap();
        assert!(both.check().is_err());
    }
}
