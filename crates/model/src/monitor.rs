//! What a monitor is: a name, a kind of check (http, tcp, dns, grpc, domain, icmp,
//! heartbeat) with its settings,
//! and when to call it down or up again. The same type is read from `pharos.yaml` and
//! from the monitors API, so both are checked by the same rules.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::ModelError;
use crate::assertion::JsonAssertion;
use crate::duration::HumanDuration;
use crate::status_codes::StatusRange;

/// The stable identifier of a monitor, used in URLs and labels: lower-case letters,
/// digits, `-`, `_` and `.`; derived from the name when not given.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MonitorId(String);

impl MonitorId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `"API Health (EU)"` becomes `api-health-eu`.
    pub fn from_name(name: &str) -> Option<MonitorId> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug: String = slug.chars().take(64).collect();
        slug.parse().ok()
    }
}

impl FromStr for MonitorId {
    type Err = MonitorSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if ok {
            Ok(MonitorId(s.to_string()))
        } else {
            Err(MonitorSpecError(format!(
                "invalid monitor id {s:?}: use 1 to 64 lower-case letters, digits, '-', '_' or '.'"
            )))
        }
    }
}

impl<'de> Deserialize<'de> for MonitorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for MonitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct MonitorSpecError(pub String);

/// A monitor as the user defines it. Exactly one of `http`, `tcp`, `dns`, `grpc`, `domain`,
/// `icmp`, `heartbeat` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawMonitorSpec", into = "RawMonitorSpec")]
pub struct MonitorSpec {
    pub id: MonitorId,
    pub name: String,
    pub check: MonitorCheck,
    /// How often a check runs (ignored by heartbeats, whose pings set the pace); 60s by
    /// default, 12h for domain checks.
    pub interval: HumanDuration,
    /// Consecutive failed checks before the monitor is down (seed 004: three).
    pub failures_before_down: u32,
    /// Consecutive good checks before a down monitor is up again.
    pub successes_before_up: u32,
    /// Failing for at least this long before down (seed 001: down for 2 minutes).
    pub down_after: Option<HumanDuration>,
    /// Extra labels copied onto this monitor's alerts (`severity`, `team`, ...).
    pub labels: BTreeMap<String, String>,
    pub description: Option<String>,
    /// Words to find the monitor by on the overview (`prod`, `payments`): trimmed, each
    /// at most 40 characters, no duplicates.
    pub tags: Vec<String>,
    /// The heading the overview lists the monitor under (`Website`, `Databases`); none
    /// lists it under "Other monitors" when any monitor has a group.
    pub group: Option<String>,
    /// A paused monitor runs no checks and raises no alerts.
    pub paused: bool,
}

// One per monitor, made when a definition is read: boxing the HTTP check would save a few
// hundred bytes per monitor and add an indirection to every match on it.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorCheck {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Dns(DnsCheck),
    Grpc(GrpcCheck),
    Domain(DomainCheck),
    Icmp(IcmpCheck),
    Heartbeat(HeartbeatCheck),
}

impl MonitorCheck {
    pub fn kind(&self) -> &'static str {
        match self {
            MonitorCheck::Http(_) => "http",
            MonitorCheck::Tcp(_) => "tcp",
            MonitorCheck::Dns(_) => "dns",
            MonitorCheck::Grpc(_) => "grpc",
            MonitorCheck::Domain(_) => "domain",
            MonitorCheck::Icmp(_) => "icmp",
            MonitorCheck::Heartbeat(_) => "heartbeat",
        }
    }

    /// What the check points at, for lists and alert annotations.
    pub fn target(&self) -> String {
        match self {
            MonitorCheck::Http(h) => h.url.to_string(),
            MonitorCheck::Tcp(t) => t.address.clone(),
            MonitorCheck::Domain(d) => format!("domain {}", d.name),
            MonitorCheck::Icmp(i) => format!("ping {}", i.host),
            MonitorCheck::Grpc(g) => match g.service.as_str() {
                "" => format!("grpc {}", g.address),
                service => format!("grpc {} {service}", g.address),
            },
            MonitorCheck::Dns(d) => match &d.resolver {
                Some(r) => format!("{} {} @{r}", d.record_type, d.name),
                None => format!("{} {}", d.record_type, d.name),
            },
            MonitorCheck::Heartbeat(h) => match (&h.schedule, h.period) {
                (Some(s), _) => format!("cron {s} ({})", h.timezone),
                (None, Some(p)) => format!("every {p}"),
                (None, None) => "heartbeat".into(),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: Url,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Status codes that count as up; default any 2xx or 3xx.
    #[serde(default = "StatusRange::default_success")]
    pub expected_status: Vec<StatusRange>,
    /// Text that must appear in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Text that must not appear in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_absent: Option<String>,
    /// Assertions on a JSON body, e.g. `checks.database.latency_ms < 100`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_assertions: Vec<JsonAssertion>,
    /// A response slower than this marks the check degraded (still up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_after: Option<HumanDuration>,
    /// Warn (degraded) when the TLS certificate expires within this many days; 0 turns it off.
    #[serde(default = "default_tls_warning_days")]
    pub tls_expiry_warning_days: u32,
    /// Accept self-signed or otherwise invalid certificates.
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// Numbers from a JSON body to record as series: field paths, or `"*"` for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_numbers: Vec<String>,
    /// An HTTP proxy to go through (`http://user:pass@proxy:3128`): https targets through a
    /// CONNECT tunnel, http targets forwarded. No proxy when not set (the environment's
    /// `HTTP_PROXY` is not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<Url>,
    /// A PEM certificate (chain) file to present to servers that ask for one (mutual TLS),
    /// with `tls_client_key`; read at every check, so a renewed file is picked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_cert: Option<std::path::PathBuf>,
    /// The PEM private key file of `tls_client_cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_key: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// `host:port`
    pub address: String,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

/// A DNS query (Gatus' `dns`, Uptime Kuma's DNS monitor, the blackbox exporter's `dns`
/// prober): up when the resolver answers NOERROR with records of the type asked for and,
/// when `expected` is given, with the expected values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// The name to look up, e.g. `example.com`.
    pub name: String,
    /// `A` (default), `AAAA`, `CNAME`, `MX`, `NS`, `PTR`, `SOA`, `SRV`, `TXT` or `CAA`.
    #[serde(default)]
    pub record_type: DnsRecordType,
    /// The resolver to ask, `ip` or `ip:port` (port 53 when not given); the first
    /// `nameserver` of `/etc/resolv.conf` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    /// Values the answer must hold: addresses for A/AAAA, host names for CNAME, NS, PTR
    /// and MX (or `"10 mx.example.com"` with the preference), the text for TXT. Compared
    /// without regard to case or a final dot. Empty: any record of the type will do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
    /// `any` (default): one expected value among the answers is enough; `all`: every
    /// expected value must be among them.
    #[serde(default, rename = "match")]
    pub match_mode: DnsMatch,
    #[serde(default = "default_dns_timeout")]
    pub timeout: HumanDuration,
}

/// The gRPC health checking protocol (`grpc.health.v1.Health/Check`, as `grpc_health_probe`,
/// Kubernetes' gRPC probes and the blackbox exporter's `grpc` prober call it): up when the
/// server answers SERVING for `service`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcCheck {
    /// `host:port` of the gRPC server.
    pub address: String,
    /// The service to ask about; empty (default) asks about the server as a whole.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// Connect with TLS (HTTP/2 over TLS); off by default: HTTP/2 in the clear (h2c).
    #[serde(default)]
    pub tls: bool,
    /// With `tls`, accept self-signed or otherwise invalid certificates.
    #[serde(default)]
    pub tls_skip_verify: bool,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

/// When a domain's registration expires, from RDAP (the registries' JSON successor to
/// WHOIS): degraded within `expiry_warning_days`, down once expired or when the registry
/// does not know the domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainCheck {
    /// The registered domain, e.g. `example.com`.
    pub name: String,
    /// Degraded when the registration expires within this many days.
    #[serde(default = "default_domain_warning_days")]
    pub expiry_warning_days: u32,
    /// The RDAP service asked for `domain/<name>`; the default, rdap.org, redirects to the
    /// registry of the domain's top-level domain.
    #[serde(default = "default_rdap_server")]
    pub rdap_server: Url,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

/// ICMP echo (ping): up when the host answers, degraded when some echoes are lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpCheck {
    /// A host name or an IPv4 / IPv6 address.
    pub host: String,
    /// Echo requests sent per check (1 to 10).
    #[serde(default = "default_icmp_count")]
    pub count: u8,
    /// How long to wait for the replies.
    #[serde(default = "default_dns_timeout")]
    pub timeout: HumanDuration,
}

/// The record types a DNS monitor can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    #[default]
    A,
    Aaaa,
    Cname,
    Mx,
    Ns,
    Ptr,
    Soa,
    Srv,
    Txt,
    Caa,
}

impl DnsRecordType {
    pub const ALL: [DnsRecordType; 10] = [
        DnsRecordType::A,
        DnsRecordType::Aaaa,
        DnsRecordType::Cname,
        DnsRecordType::Mx,
        DnsRecordType::Ns,
        DnsRecordType::Ptr,
        DnsRecordType::Soa,
        DnsRecordType::Srv,
        DnsRecordType::Txt,
        DnsRecordType::Caa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Cname => "CNAME",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Ns => "NS",
            DnsRecordType::Ptr => "PTR",
            DnsRecordType::Soa => "SOA",
            DnsRecordType::Srv => "SRV",
            DnsRecordType::Txt => "TXT",
            DnsRecordType::Caa => "CAA",
        }
    }

    /// The type's number on the wire (RFC 1035 and later).
    pub fn code(self) -> u16 {
        match self {
            DnsRecordType::A => 1,
            DnsRecordType::Ns => 2,
            DnsRecordType::Cname => 5,
            DnsRecordType::Soa => 6,
            DnsRecordType::Ptr => 12,
            DnsRecordType::Mx => 15,
            DnsRecordType::Txt => 16,
            DnsRecordType::Aaaa => 28,
            DnsRecordType::Srv => 33,
            DnsRecordType::Caa => 257,
        }
    }
}

impl fmt::Display for DnsRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DnsRecordType {
    type Err = MonitorSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DnsRecordType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = DnsRecordType::ALL.iter().map(|t| t.as_str()).collect();
                MonitorSpecError(format!(
                    "unknown record type {s:?}: use one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl Serialize for DnsRecordType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DnsRecordType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How a DNS monitor's `expected` values are matched against the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsMatch {
    #[default]
    Any,
    All,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatCheck {
    /// Expected time between pings (healthchecks.io's "period").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumanDuration>,
    /// Or a cron expression saying when pings are due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// IANA time zone for `schedule`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// How late a ping may be before the monitor is down.
    #[serde(default = "default_grace")]
    pub grace: HumanDuration,
    /// The secret part of the ping URL; generated when not given.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_icmp_count() -> u8 {
    3
}
fn default_domain_warning_days() -> u32 {
    30
}
fn default_rdap_server() -> Url {
    Url::parse("https://rdap.org/").expect("a valid URL")
}
fn default_dns_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_true() -> bool {
    true
}
fn default_tls_warning_days() -> u32 {
    14
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_grace() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_interval() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_one() -> u32 {
    1
}

/// The shape typed by the user; [`MonitorSpec`] is what is left after checking it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitorSpec {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<MonitorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<TcpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<DnsCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<GrpcCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<DomainCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    icmp: Option<IcmpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heartbeat: Option<HeartbeatCheck>,
    /// 60s, or 12h for a domain check, when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval: Option<HumanDuration>,
    #[serde(default = "default_one")]
    failures_before_down: u32,
    #[serde(default = "default_one")]
    successes_before_up: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    down_after: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default)]
    paused: bool,
}

impl TryFrom<RawMonitorSpec> for MonitorSpec {
    type Error = MonitorSpecError;

    fn try_from(raw: RawMonitorSpec) -> Result<Self, Self::Error> {
        let err = |m: String| Err(MonitorSpecError(m));
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            return err("name: must not be empty".into());
        }
        let id = match raw.id {
            Some(id) => id,
            None => MonitorId::from_name(&name).ok_or_else(|| {
                MonitorSpecError(format!(
                    "id: cannot derive an id from name {name:?}; give one with `id:`"
                ))
            })?,
        };
        let kinds = "`http`, `tcp`, `dns`, `grpc`, `domain`, `icmp` or `heartbeat`";
        let given = [
            raw.http.is_some(),
            raw.tcp.is_some(),
            raw.dns.is_some(),
            raw.grpc.is_some(),
            raw.domain.is_some(),
            raw.icmp.is_some(),
            raw.heartbeat.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return err(format!("monitor {name:?}: give only one of {kinds}"));
        }
        // At most one is set, so the first `Some` is the check.
        let check = if let Some(h) = raw.http {
            MonitorCheck::Http(check_http(h)?)
        } else if let Some(t) = raw.tcp {
            MonitorCheck::Tcp(check_tcp(t)?)
        } else if let Some(d) = raw.dns {
            MonitorCheck::Dns(check_dns(d)?)
        } else if let Some(g) = raw.grpc {
            MonitorCheck::Grpc(check_grpc(g)?)
        } else if let Some(d) = raw.domain {
            MonitorCheck::Domain(check_domain(d)?)
        } else if let Some(i) = raw.icmp {
            MonitorCheck::Icmp(check_icmp(i)?)
        } else if let Some(h) = raw.heartbeat {
            MonitorCheck::Heartbeat(check_heartbeat(h)?)
        } else {
            return err(format!("monitor {name:?}: give one of {kinds}"));
        };
        let is_domain = matches!(check, MonitorCheck::Domain(_));
        let interval = raw.interval.unwrap_or(if is_domain {
            HumanDuration::from_secs(12 * 3600)
        } else {
            default_interval()
        });
        if interval.as_duration() < std::time::Duration::from_secs(1) {
            return err(format!("interval: must be at least 1s, got {interval}"));
        }
        if is_domain && interval.as_duration() < std::time::Duration::from_secs(3600) {
            return err(format!(
                "interval: a domain check runs at most hourly (registries rate-limit RDAP), got {interval}; the default is 12h"
            ));
        }
        if raw.failures_before_down == 0 {
            return err("failures_before_down: must be at least 1".into());
        }
        if raw.successes_before_up == 0 {
            return err("successes_before_up: must be at least 1".into());
        }
        for key in raw.labels.keys() {
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return err(format!(
                    "labels: {key:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
                ));
            }
        }
        let mut tags: Vec<String> = Vec::with_capacity(raw.tags.len());
        for t in raw.tags {
            let t = t.trim();
            if t.is_empty() || t.chars().count() > 40 {
                return err(format!("tags: {t:?} must be 1 to 40 characters long"));
            }
            if !tags.iter().any(|have| have == t) {
                tags.push(t.to_string());
            }
        }
        let group = raw
            .group
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty());
        if group.as_ref().is_some_and(|g| g.chars().count() > 80) {
            return err("group: must be at most 80 characters long".into());
        }
        Ok(MonitorSpec {
            id,
            name,
            check,
            interval,
            failures_before_down: raw.failures_before_down,
            successes_before_up: raw.successes_before_up,
            down_after: raw.down_after,
            labels: raw.labels,
            description: raw.description,
            tags,
            group,
            paused: raw.paused,
        })
    }
}

fn check_http(h: HttpCheck) -> Result<HttpCheck, MonitorSpecError> {
    if !matches!(h.url.scheme(), "http" | "https") {
        return Err(MonitorSpecError(format!(
            "http.url: {} is not an http or https URL",
            h.url
        )));
    }
    if h.url.host_str().is_none_or(str::is_empty) {
        return Err(MonitorSpecError(format!("http.url: {} has no host", h.url)));
    }
    let method = h.method.to_ascii_uppercase();
    if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str()) {
        return Err(MonitorSpecError(format!(
            "http.method: {:?} is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            h.method
        )));
    }
    if h.timeout.is_zero() {
        return Err(MonitorSpecError("http.timeout: must be more than 0".into()));
    }
    if h.expected_status.is_empty() {
        return Err(MonitorSpecError(
            "http.expected_status: list at least one status code".into(),
        ));
    }
    for (name, value) in &h.headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token || value.contains(['\r', '\n']) {
            return Err(MonitorSpecError(format!(
                "http.headers: {name:?} is not a valid header"
            )));
        }
    }
    if let Some(proxy) = &h.proxy_url
        && (!matches!(proxy.scheme(), "http" | "https")
            || proxy.host_str().is_none_or(str::is_empty))
    {
        return Err(MonitorSpecError(format!(
            "http.proxy_url: {} is not an http:// or https:// proxy URL with a host",
            redacted_url(proxy)
        )));
    }
    match (&h.tls_client_cert, &h.tls_client_key) {
        (Some(_), None) => {
            return Err(MonitorSpecError(
                "http.tls_client_cert: give `tls_client_key` too, the file of this certificate's key"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(MonitorSpecError(
                "http.tls_client_key: give `tls_client_cert` too, the certificate file of this key"
                    .into(),
            ));
        }
        _ => {}
    }
    Ok(HttpCheck { method, ..h })
}

fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

fn check_icmp(i: IcmpCheck) -> Result<IcmpCheck, MonitorSpecError> {
    let host = i.host.trim();
    let valid = host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !valid {
        return Err(MonitorSpecError(format!(
            "icmp.host: {:?} is not a host name or IP address",
            i.host
        )));
    }
    if !(1..=10).contains(&i.count) {
        return Err(MonitorSpecError(format!(
            "icmp.count: send 1 to 10 echo requests, got {}",
            i.count
        )));
    }
    if i.timeout.is_zero() {
        return Err(MonitorSpecError("icmp.timeout: must be more than 0".into()));
    }
    Ok(IcmpCheck {
        host: host.to_string(),
        ..i
    })
}

fn check_domain(mut d: DomainCheck) -> Result<DomainCheck, MonitorSpecError> {
    let name = d.name.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = name.contains('.')
        && name.is_ascii()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(MonitorSpecError(format!(
            "domain.name: {:?} is not a registered domain name like example.com (non-ASCII names in their xn-- form)",
            d.name
        )));
    }
    if !matches!(d.rdap_server.scheme(), "http" | "https") {
        return Err(MonitorSpecError(format!(
            "domain.rdap_server: {} is not an http or https URL",
            d.rdap_server
        )));
    }
    if !d.rdap_server.path().ends_with('/') {
        let path = format!("{}/", d.rdap_server.path());
        d.rdap_server.set_path(&path);
    }
    if d.timeout.is_zero() {
        return Err(MonitorSpecError(
            "domain.timeout: must be more than 0".into(),
        ));
    }
    d.name = name;
    Ok(d)
}

fn check_grpc(g: GrpcCheck) -> Result<GrpcCheck, MonitorSpecError> {
    if !is_host_port(&g.address) || g.address.contains('/') {
        return Err(MonitorSpecError(format!(
            "grpc.address: {:?} is not host:port",
            g.address
        )));
    }
    if g.timeout.is_zero() {
        return Err(MonitorSpecError("grpc.timeout: must be more than 0".into()));
    }
    if g.tls_skip_verify && !g.tls {
        return Err(MonitorSpecError(
            "grpc.tls_skip_verify: only means something with `tls: true`".into(),
        ));
    }
    Ok(g)
}

fn check_tcp(t: TcpCheck) -> Result<TcpCheck, MonitorSpecError> {
    let valid = is_host_port(&t.address);
    if !valid {
        return Err(MonitorSpecError(format!(
            "tcp.address: {:?} is not host:port",
            t.address
        )));
    }
    if t.timeout.is_zero() {
        return Err(MonitorSpecError("tcp.timeout: must be more than 0".into()));
    }
    Ok(t)
}

/// `ip` or `ip:port` (IPv6 as `[::1]:53` or bare `::1`) as a socket address, port 53 when
/// not given.
pub fn parse_resolver(s: &str) -> Result<std::net::SocketAddr, MonitorSpecError> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    Err(MonitorSpecError(format!(
        "dns.resolver: {s:?} is not an IP address with an optional port (e.g. 1.1.1.1 or 127.0.0.1:5353)"
    )))
}

fn check_dns(mut d: DnsCheck) -> Result<DnsCheck, MonitorSpecError> {
    let name = d.name.trim().trim_end_matches('.').to_ascii_lowercase();
    if !name.is_ascii() {
        return Err(MonitorSpecError(format!(
            "dns.name: {:?} is not ASCII; give its xn-- (punycode) form",
            d.name
        )));
    }
    let labels_ok = name.is_empty()
        || name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !labels_ok || name.len() > 253 {
        return Err(MonitorSpecError(format!(
            "dns.name: {:?} is not a domain name (labels of 1 to 63 letters, digits, '-' or '_')",
            d.name
        )));
    }
    if name.is_empty() && d.record_type != DnsRecordType::Ns && d.record_type != DnsRecordType::Soa
    {
        return Err(MonitorSpecError("dns.name: must not be empty".into()));
    }
    if let Some(r) = &d.resolver {
        parse_resolver(r)?;
    }
    if d.timeout.is_zero() {
        return Err(MonitorSpecError("dns.timeout: must be more than 0".into()));
    }
    for v in &d.expected {
        if v.trim().is_empty() {
            return Err(MonitorSpecError(
                "dns.expected: values must not be empty".into(),
            ));
        }
        let ip = match d.record_type {
            DnsRecordType::A => v.trim().parse::<std::net::Ipv4Addr>().is_ok(),
            DnsRecordType::Aaaa => v.trim().parse::<std::net::Ipv6Addr>().is_ok(),
            _ => true,
        };
        if !ip {
            return Err(MonitorSpecError(format!(
                "dns.expected: {v:?} is not an {} address",
                if d.record_type == DnsRecordType::A {
                    "IPv4"
                } else {
                    "IPv6"
                }
            )));
        }
    }
    d.name = name;
    Ok(d)
}

fn check_heartbeat(h: HeartbeatCheck) -> Result<HeartbeatCheck, MonitorSpecError> {
    match (&h.period, &h.schedule) {
        (Some(_), Some(_)) => {
            return Err(MonitorSpecError(
                "heartbeat: give `period` or `schedule`, not both".into(),
            ));
        }
        (None, None) => {
            return Err(MonitorSpecError(
                "heartbeat: give a `period` (e.g. 30s) or a cron `schedule`".into(),
            ));
        }
        (Some(p), None) if p.is_zero() => {
            return Err(MonitorSpecError(
                "heartbeat.period: must be more than 0".into(),
            ));
        }
        (None, Some(s)) => {
            crate::monitor::parse_cron(s)
                .map_err(|e| MonitorSpecError(format!("heartbeat.schedule: {e}")))?;
        }
        _ => {}
    }
    h.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
        MonitorSpecError(format!(
            "heartbeat.timezone: unknown time zone {:?}",
            h.timezone
        ))
    })?;
    if let Some(token) = &h.token
        && (token.len() < 8
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(MonitorSpecError(
            "heartbeat.token: use at least 8 letters, digits, '-' or '_'".into(),
        ));
    }
    Ok(h)
}

/// Parses a five-field (or six, with seconds) cron expression.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, ModelError> {
    Ok(croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expr)?)
}

/// Words that mark a header name, a URL query parameter or a request body as holding a
/// credential.
const SECRET_WORDS: [&str; 9] = [
    "authorization",
    "cookie",
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "signature",
];

/// Header names whose values are credentials, by the words they usually contain.
fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

/// A body that names a credential (`{"password": ...}`, `api_key=...`) is kept whole as one.
fn is_secret_body(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| b.contains(w))
}

/// The URL with its password and the values of credential-named query parameters
/// (`?token=`, `?api_key=`) replaced.
fn redacted_url(url: &Url) -> Url {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query_pairs().any(|(name, _)| is_secret_header(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(n, v)| {
                let v = if is_secret_header(&n) {
                    REDACTED.into()
                } else {
                    v.into_owned()
                };
                (n.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url
}

pub const REDACTED: &str = "<redacted>";

impl MonitorSpec {
    /// The definition with credentials (secret-looking header values, URL passwords, the
    /// heartbeat token) replaced, fit for the store, logs, the API and the UI.
    pub fn redacted(&self) -> MonitorSpec {
        let mut spec = self.clone();
        match &mut spec.check {
            MonitorCheck::Http(h) => {
                for (name, value) in h.headers.iter_mut() {
                    if is_secret_header(name) {
                        *value = REDACTED.into();
                    }
                }
                h.url = redacted_url(&h.url);
                h.proxy_url = h.proxy_url.as_ref().map(redacted_url);
                if h.body.as_deref().is_some_and(is_secret_body) {
                    h.body = Some(REDACTED.into());
                }
            }
            MonitorCheck::Heartbeat(h) => h.token = None,
            MonitorCheck::Tcp(_)
            | MonitorCheck::Dns(_)
            | MonitorCheck::Grpc(_)
            | MonitorCheck::Domain(_)
            | MonitorCheck::Icmp(_) => {}
        }
        spec
    }

    /// Whether [`MonitorSpec::redacted`] hides anything, i.e. the store cannot hold all of it.
    pub fn has_secrets(&self) -> bool {
        self.redacted() != *self
    }

    /// What [`MonitorSpec::redacted`] hides, by field (`http.url`, `http.body`,
    /// `http.headers.<name>`), so it can be kept apart (sealed) and put back with
    /// [`MonitorSpec::restore_secrets`]. The heartbeat token is not among them: Pharos keeps
    /// API heartbeats' tokens itself.
    pub fn secrets(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let MonitorCheck::Http(h) = &self.check else {
            return out;
        };
        for (name, value) in &h.headers {
            if is_secret_header(name) && value != REDACTED {
                out.insert(format!("http.headers.{name}"), value.clone());
            }
        }
        if redacted_url(&h.url) != h.url {
            out.insert("http.url".into(), h.url.to_string());
        }
        if let Some(proxy) = h.proxy_url.as_ref().filter(|p| redacted_url(p) != **p) {
            out.insert("http.proxy_url".into(), proxy.to_string());
        }
        if let Some(body) = h
            .body
            .as_ref()
            .filter(|b| is_secret_body(b) && *b != REDACTED)
        {
            out.insert("http.body".into(), body.clone());
        }
        out
    }

    /// Puts back credentials from `secrets` where this definition shows them redacted: a
    /// header reading `<redacted>`, a body reading `<redacted>`, a URL equal to the stored
    /// one's redacted form. Anything sent in their place is kept.
    pub fn restore_secrets(&mut self, secrets: &BTreeMap<String, String>) {
        let MonitorCheck::Http(h) = &mut self.check else {
            return;
        };
        for (name, value) in h.headers.iter_mut() {
            if value == REDACTED
                && let Some(v) = secrets.get(&format!("http.headers.{name}"))
            {
                *value = v.clone();
            }
        }
        if let Some(full) = secrets.get("http.url").and_then(|u| Url::parse(u).ok())
            && redacted_url(&full) == h.url
        {
            h.url = full;
        }
        if let Some(full) = secrets
            .get("http.proxy_url")
            .and_then(|u| Url::parse(u).ok())
            && h.proxy_url.as_ref() == Some(&redacted_url(&full))
        {
            h.proxy_url = Some(full);
        }
        if h.body.as_deref() == Some(REDACTED)
            && let Some(body) = secrets.get("http.body")
        {
            h.body = Some(body.clone());
        }
    }

    /// The first field still holding the redacted placeholder, which only stands for a
    /// credential already stored.
    pub fn redacted_field(&self) -> Option<String> {
        let MonitorCheck::Http(h) = &self.check else {
            return None;
        };
        if let Some((name, _)) = h.headers.iter().find(|(_, v)| *v == REDACTED) {
            return Some(format!("http.headers.{name}"));
        }
        let url_placeholder = h.url.password() == Some(REDACTED)
            || h.url.password() == Some("%3Credacted%3E")
            || h.url.query_pairs().any(|(_, v)| v == REDACTED);
        if url_placeholder {
            return Some("http.url".into());
        }
        if h.proxy_url.as_ref().is_some_and(|p| {
            p.password() == Some(REDACTED) || p.password() == Some("%3Credacted%3E")
        }) {
            return Some("http.proxy_url".into());
        }
        (h.body.as_deref() == Some(REDACTED)).then(|| "http.body".into())
    }
}

impl From<MonitorSpec> for RawMonitorSpec {
    fn from(m: MonitorSpec) -> Self {
        let (mut http, mut tcp, mut dns, mut grpc, mut domain, mut icmp, mut heartbeat) =
            (None, None, None, None, None, None, None);
        match m.check {
            MonitorCheck::Http(h) => http = Some(h),
            MonitorCheck::Tcp(t) => tcp = Some(t),
            MonitorCheck::Dns(d) => dns = Some(d),
            MonitorCheck::Grpc(g) => grpc = Some(g),
            MonitorCheck::Domain(d) => domain = Some(d),
            MonitorCheck::Icmp(i) => icmp = Some(i),
            MonitorCheck::Heartbeat(h) => heartbeat = Some(h),
        }
        RawMonitorSpec {
            name: m.name,
            id: Some(m.id),
            http,
            tcp,
            dns,
            grpc,
            domain,
            icmp,
            heartbeat,
            interval: Some(m.interval),
            failures_before_down: m.failures_before_down,
            successes_before_up: m.successes_before_up,
            down_after: m.down_after,
            labels: m.labels,
            description: m.description,
            tags: m.tags,
            group: m.group,
            paused: m.paused,
        }
    }
}

/// Where a monitor stands, as shown to people and used for alerting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum MonitorState {
    /// No result yet (a heartbeat that has never pinged stays here without alerting).
    Unknown,
    Up,
    /// Up, but slow or with a certificate about to expire.
    Degraded,
    Down,
    Paused,
}

impl MonitorState {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorState::Unknown => "unknown",
            MonitorState::Up => "up",
            MonitorState::Degraded => "degraded",
            MonitorState::Down => "down",
            MonitorState::Paused => "paused",
        }
    }
}

impl FromStr for MonitorState {
    type Err = MonitorSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unknown" => MonitorState::Unknown,
            "up" => MonitorState::Up,
            "degraded" => MonitorState::Degraded,
            "down" => MonitorState::Down,
            "paused" => MonitorState::Paused,
            _ => return Err(MonitorSpecError(format!("unknown monitor state {s:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<MonitorSpec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn tags_and_group_are_trimmed_and_checked() {
        let spec = parse(r#"{"name": "api", "tcp": {"address": "db:5432"}, "tags": [" prod ", "api", "prod"], "group": " Backend "}"#).unwrap();
        assert_eq!(spec.tags, ["prod", "api"]);
        assert_eq!(spec.group.as_deref(), Some("Backend"));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["tags"], serde_json::json!(["prod", "api"]));
        assert_eq!(back["group"], "Backend");
        let blank =
            parse(r#"{"name": "api", "tcp": {"address": "db:5432"}, "group": " "}"#).unwrap();
        assert_eq!(blank.group, None);
        assert!(
            parse(r#"{"name": "api", "tcp": {"address": "db:5432"}, "tags": [""]}"#)
                .unwrap_err()
                .contains("tags")
        );
    }

    #[test]
    fn redaction_hides_credentials() {
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
            "name": "api",
            "http": {"url": "https://user:pw@example.com/health", "headers": {"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "application/json"}}
        }))
        .unwrap();
        let r = spec.redacted();
        let MonitorCheck::Http(h) = &r.check else {
            panic!()
        };
        assert_eq!(h.headers["Authorization"], REDACTED);
        assert_eq!(h.headers["X-Api-Key"], REDACTED);
        assert_eq!(h.headers["Accept"], "application/json");
        assert!(!h.url.as_str().contains("pw"));
        assert!(spec.has_secrets());
    }

    #[test]
    fn query_and_body_credentials_are_kept_apart_and_put_back() {
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
            "name": "api",
            "http": {"url": "https://example.com/health?token=qsecret&verbose=1",
                     "method": "POST",
                     "headers": {"Authorization": "Bearer hsecret", "Accept": "text/plain"},
                     "body": "{\"password\": \"bsecret\"}"}
        }))
        .unwrap();
        let redacted = spec.redacted();
        let text = serde_json::to_string(&redacted).unwrap();
        for secret in ["qsecret", "hsecret", "bsecret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("verbose=1"), "{text}");
        let secrets = spec.secrets();
        assert_eq!(secrets.len(), 3, "{secrets:?}");
        assert_eq!(
            redacted.redacted_field().as_deref(),
            Some("http.headers.Authorization")
        );
        let mut back = redacted.clone();
        back.restore_secrets(&secrets);
        assert_eq!(back, spec);
        assert_eq!(back.redacted_field(), None);
        // A new value sent in place of the placeholder wins.
        let mut changed = redacted;
        if let MonitorCheck::Http(h) = &mut changed.check {
            h.headers
                .insert("Authorization".into(), "Bearer new".into());
        }
        changed.restore_secrets(&secrets);
        let MonitorCheck::Http(h) = &changed.check else {
            panic!()
        };
        assert_eq!(h.headers["Authorization"], "Bearer new");
        assert_eq!(
            h.url.as_str(),
            "https://example.com/health?token=qsecret&verbose=1"
        );
    }

    #[test]
    fn proxy_passwords_are_kept_apart_and_client_certs_come_in_pairs() {
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
            "name": "api",
            "http": {"url": "https://example.com/", "proxy_url": "http://me:psecret@proxy.internal:3128",
                     "tls_client_cert": "/etc/pharos/client.pem", "tls_client_key": "/etc/pharos/client.key"}
        }))
        .unwrap();
        let redacted = spec.redacted();
        let text = serde_json::to_string(&redacted).unwrap();
        assert!(!text.contains("psecret"), "{text}");
        assert!(text.contains("proxy.internal:3128"), "{text}");
        assert!(text.contains("/etc/pharos/client.pem"), "{text}");
        assert_eq!(redacted.redacted_field().as_deref(), Some("http.proxy_url"));
        let mut back = redacted;
        back.restore_secrets(&spec.secrets());
        assert_eq!(back, spec);
        for (json, needle) in [
            (
                r#"{"name": "x", "http": {"url": "http://a", "tls_client_cert": "c.pem"}}"#,
                "http.tls_client_cert: give `tls_client_key` too",
            ),
            (
                r#"{"name": "x", "http": {"url": "http://a", "tls_client_key": "k.pem"}}"#,
                "http.tls_client_key: give `tls_client_cert` too",
            ),
            (
                r#"{"name": "x", "http": {"url": "http://a", "proxy_url": "socks5://u:pw@p:1080"}}"#,
                "http.proxy_url: socks5://u:%3Credacted%3E@p:1080 is not an http:// or https:// proxy",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn http_monitor_with_defaults() {
        let m = parse(r#"{"name": "API Health", "http": {"url": "https://example.com/health"}}"#)
            .unwrap();
        assert_eq!(m.id.as_str(), "api-health");
        assert_eq!(m.interval, HumanDuration::from_secs(60));
        let MonitorCheck::Http(h) = &m.check else {
            panic!()
        };
        assert_eq!(h.method, "GET");
        assert!(h.follow_redirects);
    }

    #[test]
    fn rejects_bad_monitors() {
        let cases = [
            (
                r#"{"name": "x", "http": {"url": "ftp://example.com"}}"#,
                "not an http",
            ),
            (
                r#"{"name": "x", "http": {"url": "not a url"}}"#,
                "relative URL",
            ),
            (
                r#"{"name": "x", "http": {"url": "http://a"}, "interval": 0}"#,
                "at least 1s",
            ),
            (
                r#"{"name": "x", "http": {"url": "http://a"}, "intervall": "5s"}"#,
                "unknown field",
            ),
            (r#"{"name": "x"}"#, "give one of"),
            (
                r#"{"name": "x", "tcp": {"address": "nohost"}}"#,
                "host:port",
            ),
            (r#"{"name": "x", "heartbeat": {}}"#, "period"),
            (
                r#"{"name": "x", "heartbeat": {"schedule": "61 * * * *"}}"#,
                "schedule",
            ),
            (
                r#"{"name": "x", "heartbeat": {"period": "1m", "timezone": "Mars/Base"}}"#,
                "time zone",
            ),
            (
                r#"{"name": "x", "http": {"url": "http://a", "json_assertions": ["status"]}}"#,
                "invalid assertion",
            ),
            (
                r#"{"name": "x", "dns": {"name": "example.com", "record_type": "AXFR"}}"#,
                "unknown record type \"AXFR\": use one of A, AAAA",
            ),
            (
                r#"{"name": "x", "dns": {"name": "exa mple.com"}}"#,
                "dns.name: \"exa mple.com\" is not a domain name",
            ),
            (
                r#"{"name": "x", "dns": {"name": "example.com", "resolver": "dns.google"}}"#,
                "dns.resolver: \"dns.google\" is not an IP address",
            ),
            (
                r#"{"name": "x", "dns": {"name": "example.com", "expected": ["mail.example.com"]}}"#,
                "dns.expected: \"mail.example.com\" is not an IPv4 address",
            ),
            (
                r#"{"name": "x", "dns": {"name": "example.com", "match": "most"}}"#,
                "unknown variant `most`",
            ),
            (
                r#"{"name": "x", "dns": {"name": "a.com"}, "tcp": {"address": "a:1"}}"#,
                "give only one of `http`, `tcp`, `dns`, `grpc`, `domain`, `icmp` or `heartbeat`",
            ),
            (
                r#"{"name": "x", "icmp": {"host": "a b"}}"#,
                "icmp.host: \"a b\" is not a host name or IP address",
            ),
            (
                r#"{"name": "x", "icmp": {"host": "::1", "count": 0}}"#,
                "icmp.count: send 1 to 10 echo requests, got 0",
            ),
            (
                r#"{"name": "x", "grpc": {"address": "grpc://a:50051"}}"#,
                "grpc.address: \"grpc://a:50051\" is not host:port",
            ),
            (
                r#"{"name": "x", "grpc": {"address": "a:50051", "tls_skip_verify": true}}"#,
                "grpc.tls_skip_verify: only means something with `tls: true`",
            ),
        ];
        for (json, needle) in cases {
            let err = parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let m = parse(
            r#"{"name": "db", "tcp": {"address": "127.0.0.1:5432"}, "failures_before_down": 3}"#,
        )
        .unwrap();
        let back: MonitorSpec = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(m, back);
    }

    #[test]
    fn dns_monitor_with_defaults_and_round_trip() {
        let m = parse(r#"{"name": "Mail DNS", "dns": {"name": "Example.COM.", "record_type": "mx", "resolver": "127.0.0.1:5353", "expected": ["mx1.example.com"], "match": "all"}}"#)
            .unwrap();
        let MonitorCheck::Dns(d) = &m.check else {
            panic!()
        };
        assert_eq!(d.name, "example.com");
        assert_eq!(d.record_type, DnsRecordType::Mx);
        assert_eq!(d.match_mode, DnsMatch::All);
        assert_eq!(d.timeout, HumanDuration::from_secs(5));
        assert_eq!(m.check.kind(), "dns");
        assert_eq!(m.check.target(), "MX example.com @127.0.0.1:5353");
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["dns"]["record_type"], "MX");
        assert_eq!(json["dns"]["match"], "all");
        let back: MonitorSpec = serde_json::from_value(json).unwrap();
        assert_eq!(m, back);
        let d = parse(r#"{"name": "x", "dns": {"name": "example.com"}}"#).unwrap();
        let MonitorCheck::Dns(d) = &d.check else {
            panic!()
        };
        assert_eq!(
            (d.record_type, d.match_mode, d.resolver.as_deref()),
            (DnsRecordType::A, DnsMatch::Any, None)
        );
    }

    #[test]
    fn grpc_monitor_round_trips() {
        let m = parse(r#"{"name": "Users gRPC", "grpc": {"address": "127.0.0.1:50051", "service": "users.v1.Users"}}"#)
            .unwrap();
        assert_eq!(m.check.kind(), "grpc");
        assert_eq!(m.check.target(), "grpc 127.0.0.1:50051 users.v1.Users");
        let MonitorCheck::Grpc(g) = &m.check else {
            panic!()
        };
        assert_eq!((g.tls, g.timeout), (false, HumanDuration::from_secs(10)));
        let back: MonitorSpec = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(m, back);
    }

    #[test]
    fn domain_checks_run_every_12h_by_default_and_at_most_hourly() {
        let m = parse(r#"{"name": "Our domain", "domain": {"name": "Example.COM", "rdap_server": "http://127.0.0.1:9/rdap"}}"#)
            .unwrap();
        assert_eq!(m.interval, HumanDuration::from_secs(12 * 3600));
        assert_eq!(m.check.kind(), "domain");
        let MonitorCheck::Domain(d) = &m.check else {
            panic!()
        };
        assert_eq!(d.name, "example.com");
        assert_eq!(d.expiry_warning_days, 30);
        assert_eq!(d.rdap_server.as_str(), "http://127.0.0.1:9/rdap/");
        let back: MonitorSpec = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(m, back);
        let default = parse(r#"{"name": "d", "domain": {"name": "example.com"}}"#).unwrap();
        let MonitorCheck::Domain(d) = &default.check else {
            panic!()
        };
        assert_eq!(d.rdap_server.as_str(), "https://rdap.org/");
        let err = parse(r#"{"name": "d", "interval": "5m", "domain": {"name": "example.com"}}"#)
            .unwrap_err();
        assert!(
            err.contains("interval: a domain check runs at most hourly"),
            "{err}"
        );
        let err = parse(r#"{"name": "d", "domain": {"name": "localhost"}}"#).unwrap_err();
        assert!(
            err.contains("domain.name: \"localhost\" is not a registered domain name"),
            "{err}"
        );
        let http = parse(r#"{"name": "h", "http": {"url": "http://a"}}"#).unwrap();
        assert_eq!(http.interval, HumanDuration::from_secs(60));
    }

    #[test]
    fn resolvers_take_an_optional_port() {
        assert_eq!(parse_resolver("1.1.1.1").unwrap().to_string(), "1.1.1.1:53");
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap().to_string(),
            "127.0.0.1:5353"
        );
        assert_eq!(parse_resolver("::1").unwrap().to_string(), "[::1]:53");
        assert_eq!(parse_resolver("[::1]:54").unwrap().to_string(), "[::1]:54");
        assert!(parse_resolver("localhost:53").is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(
            MonitorId::from_name("Main Health Check (EU)")
                .unwrap()
                .as_str(),
            "main-health-check-eu"
        );
        assert!(MonitorId::from_name("!!!").is_none());
    }
}
