//! `docker_sd_configs`: the containers of one Docker daemon as targets, with the
//! `__meta_docker_*` labels Prometheus's `discovery/moby/docker.go` makes. The daemon is
//! asked `GET /containers/json` (with the config's `filters`) and `GET /networks` every
//! `refresh_interval`, over its unix socket or `tcp://` / `http(s)://`.
//!
//! A container gets a target per TCP port per network (its network's IP and the private
//! port), or one on `port` when it exposes none; a container on the host's network is
//! reached at `host_networking_host`.

use std::collections::BTreeMap;
use std::time::Duration;

use pharos_model::HumanDuration;
use serde::Deserialize;

use crate::config::{Authorization, BasicAuth, TlsConfig};
use crate::discovery::TargetGroup;
use crate::sd_http::{self, ClientAuth, Endpoint, sanitize_label_name};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSdConfig {
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, `http://...` or `https://...`.
    pub host: String,
    /// The port of a container that exposes none.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Docker's list filters (`{name: label, values: ["prometheus.scrape=true"]}`).
    #[serde(default)]
    pub filters: Vec<DockerFilter>,
    /// Where a container on the host's network is reached.
    #[serde(default = "default_host_networking_host")]
    pub host_networking_host: String,
    #[serde(default = "default_refresh")]
    pub refresh_interval: HumanDuration,
    /// With several networks, only the first by name makes targets.
    #[serde(default = "yes")]
    pub match_first_network: bool,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerFilter {
    pub name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

fn default_port() -> u16 {
    80
}

fn default_host_networking_host() -> String {
    "localhost".into()
}

fn default_refresh() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn yes() -> bool {
    true
}

impl DockerSdConfig {
    /// Prometheus's load-time checks of `host` (no connection is made).
    pub fn check(&self) -> Result<(), String> {
        self.base().map(|_| ())
    }

    /// `None` for a unix socket, else the HTTP base URL without a final `/`.
    fn base(&self) -> Result<Option<String>, String> {
        let host = self.host.trim();
        if host.is_empty() {
            return Err("host missing".into());
        }
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("host {host:?}: no socket path after unix://"));
            }
            return Ok(None);
        }
        let base = if let Some(rest) = host.strip_prefix("tcp://") {
            format!("http://{rest}")
        } else if host.starts_with("http://") || host.starts_with("https://") {
            host.to_string()
        } else {
            return Err(format!(
                "host {host:?}: write unix:///path/to/docker.sock, tcp://host:port or http(s)://host:port"
            ));
        };
        url::Url::parse(&base).map_err(|e| format!("host {host:?}: {e}"))?;
        Ok(Some(base.trim_end_matches('/').to_string()))
    }

    /// Where the daemon is, with the HTTP client to ask it.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        match self.base()? {
            None => Ok(Endpoint::Unix(
                self.host.trim().trim_start_matches("unix://").into(),
            )),
            Some(base) => Ok(Endpoint::Http {
                base,
                client: sd_http::http_client(self.client_auth())?,
            }),
        }
    }

    fn client_auth(&self) -> ClientAuth<'_> {
        ClientAuth {
            basic_auth: self.basic_auth.as_ref(),
            authorization: self.authorization.as_ref(),
            tls_config: self.tls_config.as_ref(),
            proxy_url: self.proxy_url.as_deref(),
        }
    }

    /// The path of the container list with the filters, as the Docker client encodes
    /// them: `?filters={"label":["a=b"]}`.
    fn containers_path(&self) -> String {
        if self.filters.is_empty() {
            return "/containers/json".into();
        }
        let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for f in &self.filters {
            by_name
                .entry(f.name.as_str())
                .or_default()
                .extend(f.values.iter().map(String::as_str));
        }
        let json = serde_json::to_string(&by_name).unwrap_or_default();
        let query: String = url::form_urlencoded::byte_serialize(json.as_bytes()).collect();
        format!("/containers/json?filters={query}")
    }

    /// Asks the daemon once: one target group per target, in the daemon's order.
    pub async fn refresh(&self, endpoint: &Endpoint) -> Result<Vec<TargetGroup>, String> {
        let timeout = self
            .refresh_interval
            .as_duration()
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let auth = self.client_auth();
        let containers: Vec<Container> =
            sd_http::get_json(endpoint, &self.containers_path(), auth, &[], timeout)
                .await
                .map_err(|e| format!("listing containers: {e}"))?;
        let networks: Vec<Network> = sd_http::get_json(endpoint, "/networks", auth, &[], timeout)
            .await
            .map_err(|e| format!("listing networks: {e}"))?;
        Ok(self.groups(&containers, &networks))
    }

    fn groups(&self, containers: &[Container], networks: &[Network]) -> Vec<TargetGroup> {
        let network_labels: BTreeMap<&str, BTreeMap<String, String>> = networks
            .iter()
            .map(|n| {
                let mut l = BTreeMap::from([
                    ("__meta_docker_network_id".to_string(), n.id.clone()),
                    ("__meta_docker_network_name".to_string(), n.name.clone()),
                    ("__meta_docker_network_scope".to_string(), n.scope.clone()),
                    (
                        "__meta_docker_network_internal".to_string(),
                        n.internal.to_string(),
                    ),
                    (
                        "__meta_docker_network_ingress".to_string(),
                        n.ingress.to_string(),
                    ),
                ]);
                for (k, v) in &n.labels {
                    l.insert(
                        format!("__meta_docker_network_label_{}", sanitize_label_name(k)),
                        v.clone(),
                    );
                }
                (n.id.as_str(), l)
            })
            .collect();
        let by_id: BTreeMap<&str, &Container> =
            containers.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut out = Vec::new();
        for c in containers {
            let Some(name) = c.names.first() else {
                continue;
            };
            let mut common = BTreeMap::from([
                ("__meta_docker_container_id".to_string(), c.id.clone()),
                ("__meta_docker_container_name".to_string(), name.clone()),
                (
                    "__meta_docker_container_network_mode".to_string(),
                    c.host_config.network_mode.clone(),
                ),
            ]);
            if !c.image.is_empty() {
                common.insert("__meta_docker_container_image".into(), c.image.clone());
            }
            if !c.image_id.is_empty() {
                common.insert(
                    "__meta_docker_container_image_id".into(),
                    c.image_id.clone(),
                );
            }
            for (k, v) in &c.labels {
                common.insert(
                    format!("__meta_docker_container_label_{}", sanitize_label_name(k)),
                    v.clone(),
                );
            }
            let mut nets: Vec<(&String, &EndpointSettings)> =
                c.network_settings.networks.iter().collect();
            // `network_mode: container:<id>` shares another container's networks.
            let mut mode = c.host_config.network_mode.as_str();
            let mut hops = 0;
            while nets.is_empty() && hops < 10 {
                let Some(other) = mode.strip_prefix("container:").and_then(|id| by_id.get(id))
                else {
                    break;
                };
                nets = other.network_settings.networks.iter().collect();
                mode = other.host_config.network_mode.as_str();
                hops += 1;
            }
            if self.match_first_network && nets.len() > 1 {
                nets.sort_by(|a, b| a.0.cmp(b.0));
                nets.truncate(1);
            }
            for (_, n) in nets {
                let ip = if !n.ip_address.is_empty() {
                    n.ip_address.clone()
                } else {
                    n.global_ipv6_address.clone()
                };
                let mut base =
                    BTreeMap::from([("__meta_docker_network_ip".to_string(), ip.clone())]);
                base.extend(common.clone());
                if let Some(l) = network_labels.get(n.network_id.as_str()) {
                    base.extend(l.clone());
                }
                let mut added = false;
                for p in c.ports.iter().filter(|p| p.kind == "tcp") {
                    let mut labels = base.clone();
                    labels.insert(
                        "__meta_docker_port_private".into(),
                        p.private_port.to_string(),
                    );
                    if p.public_port > 0 {
                        labels.insert(
                            "__meta_docker_port_public".into(),
                            p.public_port.to_string(),
                        );
                        labels.insert("__meta_docker_port_public_ip".into(), p.ip.clone());
                    }
                    out.push(TargetGroup {
                        targets: vec![join_host_port(&ip, p.private_port)],
                        labels,
                        source: "docker".into(),
                    });
                    added = true;
                }
                if !added {
                    let address = if c.host_config.network_mode == "host" {
                        self.host_networking_host.clone()
                    } else {
                        join_host_port(&ip, self.port)
                    };
                    out.push(TargetGroup {
                        targets: vec![address],
                        labels: base,
                        source: "docker".into(),
                    });
                }
            }
        }
        out
    }
}

/// Go's `net.JoinHostPort`: an IPv6 address in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One item of `GET /containers/json`, the fields discovery reads.
#[derive(Debug, Deserialize)]
struct Container {
    #[serde(rename = "Id")]
    id: String,
    #[serde(
        rename = "Names",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    names: Vec<String>,
    #[serde(rename = "Image", default)]
    image: String,
    #[serde(rename = "ImageID", default)]
    image_id: String,
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    labels: BTreeMap<String, String>,
    #[serde(
        rename = "Ports",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    ports: Vec<Port>,
    #[serde(
        rename = "HostConfig",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    host_config: HostConfig,
    #[serde(
        rename = "NetworkSettings",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    network_settings: NetworkSettings,
}

#[derive(Debug, Default, Deserialize)]
struct HostConfig {
    #[serde(rename = "NetworkMode", default)]
    network_mode: String,
}

#[derive(Debug, Default, Deserialize)]
struct NetworkSettings {
    #[serde(
        rename = "Networks",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    networks: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Default, Deserialize)]
struct EndpointSettings {
    #[serde(rename = "NetworkID", default)]
    network_id: String,
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
    #[serde(rename = "GlobalIPv6Address", default)]
    global_ipv6_address: String,
}

#[derive(Debug, Deserialize)]
struct Port {
    #[serde(rename = "IP", default)]
    ip: String,
    #[serde(rename = "PrivatePort", default)]
    private_port: u16,
    #[serde(rename = "PublicPort", default)]
    public_port: u16,
    #[serde(rename = "Type", default)]
    kind: String,
}

/// One item of `GET /networks`.
#[derive(Debug, Deserialize)]
struct Network {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Scope", default)]
    scope: String,
    #[serde(rename = "Internal", default)]
    internal: bool,
    #[serde(rename = "Ingress", default)]
    ingress: bool,
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "sd_http::null_as_default"
    )]
    labels: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> DockerSdConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn targets_and_labels_as_prometheus_makes_them() {
        let containers: Vec<Container> = serde_json::from_value(serde_json::json!([
            {"Id": "a", "Names": ["/web"], "Labels": {"com.example/role": "web"},
             "Ports": [{"PrivatePort": 8080, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}],
             "HostConfig": {"NetworkMode": "app"},
             "NetworkSettings": {"Networks": {
                 "zeta": {"NetworkID": "n2", "IPAddress": "10.0.2.5"},
                 "app": {"NetworkID": "n1", "IPAddress": "10.0.1.5"}}}},
            {"Id": "b", "Names": ["/sidecar"], "Ports": null,
             "HostConfig": {"NetworkMode": "container:a"}, "NetworkSettings": {"Networks": {}}},
            {"Id": "c", "Names": ["/node-exporter"], "Ports": [],
             "HostConfig": {"NetworkMode": "host"},
             "NetworkSettings": {"Networks": {"host": {"NetworkID": "h", "IPAddress": ""}}}},
            {"Id": "d", "Names": [], "HostConfig": {"NetworkMode": "bridge"}}
        ]))
        .unwrap();
        let networks: Vec<Network> = serde_json::from_value(serde_json::json!([
            {"Id": "n1", "Name": "app", "Scope": "local", "Internal": true, "Labels": {"tier": "front"}}
        ]))
        .unwrap();
        let c = config(
            "host: unix:///var/run/docker.sock\nport: 9100\nhost_networking_host: 192.0.2.1:9100\n",
        );
        let groups = c.groups(&containers, &networks);
        let addrs: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        // The first network by name only; the sidecar shares a's; host networking.
        assert_eq!(addrs, ["10.0.1.5:8080", "10.0.1.5:9100", "192.0.2.1:9100"]);
        let web = &groups[0].labels;
        assert_eq!(web["__meta_docker_container_label_com_example_role"], "web");
        assert_eq!(web["__meta_docker_container_name"], "/web");
        assert_eq!(web["__meta_docker_port_private"], "8080");
        assert!(!web.contains_key("__meta_docker_port_public"));
        assert_eq!(web["__meta_docker_network_internal"], "true");
        assert_eq!(web["__meta_docker_network_label_tier"], "front");
        assert_eq!(
            groups[1].labels["__meta_docker_container_network_mode"],
            "container:a"
        );

        let all = config("host: tcp://docker:2375\nmatch_first_network: false\n");
        assert_eq!(all.groups(&containers, &networks).len(), 5);
    }

    #[test]
    fn host_and_filters_are_read_as_docker_reads_them() {
        assert!(config("host: ''\n").check().is_err());
        assert!(config("host: ftp://x\n").check().is_err());
        assert!(config("host: tcp://127.0.0.1:2375\n").check().is_ok());
        let c = config(
            "host: unix:///run/docker.sock\nfilters:\n  - {name: label, values: [a=b]}\n  - {name: status, values: [running]}\n",
        );
        assert_eq!(
            c.containers_path(),
            "/containers/json?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%5B%22running%22%5D%7D"
        );
    }
}
