//! The `web:` section of the config file: the external URL, which pages are public, the
//! public status page, and whether `/metrics` needs the admin token.

use std::collections::BTreeSet;

use pharos_model::status_page::{
    Component, ComponentSection, MAX_PAGES, StatusPage, StatusPageConfig,
};
use pharos_model::{HumanDuration, MonitorId};
use serde::Deserialize;

/// A page or API that may be opened without the admin token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicPage {
    /// `/status`, the page for customers. Public unless `public` is set without it.
    Status,
    /// `/`, the overview of every monitor.
    Overview,
    /// `/monitors/<id>`, each monitor's history.
    Monitors,
    /// `/alerts`.
    Alerts,
    /// The read (GET) endpoints under `/api/v1/`.
    Api,
}

/// `web.status_page`, the older single-page form: `/status` shows these monitors under
/// their own names. `web.status_pages` replaces it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageSettings {
    /// The heading customers see.
    #[serde(default = "default_title")]
    pub title: String,
    /// Monitors shown, in this order; none when empty, so that no monitor (one made through
    /// the API or by a Sentry check-in) reaches customers unless chosen here.
    #[serde(default)]
    pub monitors: Vec<MonitorId>,
}

impl Default for StatusPageSettings {
    fn default() -> Self {
        StatusPageSettings {
            title: default_title(),
            monitors: Vec::new(),
        }
    }
}

fn default_title() -> String {
    pharos_model::status_page::default_title()
}

/// The slug `web.status_page` is served under besides `/status`.
pub const DEFAULT_PAGE_SLUG: &str = "default";

/// `web.status_pages`: each page checked on its own, slugs and host names unique across
/// them. An error names the page's index and the field, so the config error points at its
/// line.
fn checked_status_pages<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::sync::Arc<Vec<StatusPage>>, D::Error> {
    let raw = Vec::<StatusPageConfig>::deserialize(d)?;
    if raw.len() > MAX_PAGES {
        return Err(serde::de::Error::custom(format!(
            "at most {MAX_PAGES} status pages"
        )));
    }
    let mut pages: Vec<StatusPage> = Vec::with_capacity(raw.len());
    for (i, config) in raw.into_iter().enumerate() {
        let page = config
            .check()
            .map_err(|e| serde::de::Error::custom(format!("[{i}].{}: {}", e.field, e.message)))?;
        if pages.iter().any(|p| p.slug == page.slug) {
            return Err(serde::de::Error::custom(format!(
                "[{i}].slug: another page has the slug {:?}",
                page.slug
            )));
        }
        for (h, host) in page.hosts.iter().enumerate() {
            if pages.iter().any(|p| p.serves_host(host)) {
                return Err(serde::de::Error::custom(format!(
                    "[{i}].hosts[{h}]: another page serves {host:?}"
                )));
            }
        }
        pages.push(page);
    }
    Ok(std::sync::Arc::new(pages))
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// How users reach Pharos; the base of links in alerts and of heartbeat ping URLs.
    /// Defaults to `http://<listen address>`.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Pages open without the admin token.
    #[serde(default = "default_public")]
    pub public: BTreeSet<PublicPage>,
    /// The older single-page form of `status_pages`; used when `status_pages` is empty.
    #[serde(default)]
    pub status_page: StatusPageSettings,
    /// Status pages for customers: the first is `/status`, each is `/status/<slug>` and
    /// `/` on its `hosts`. Shared, as every request copies the settings.
    #[serde(default, deserialize_with = "checked_status_pages")]
    pub status_pages: std::sync::Arc<Vec<StatusPage>>,
    /// `/health/ready` reports degraded below this much free disk in the data directory.
    #[serde(default = "default_min_free_disk_mb")]
    pub min_free_disk_mb: u64,
    /// `/metrics` answers only requests with the read permission (a Prometheus sends a token with
    /// `authorization: {credentials: ...}` or `basic_auth`); off by default.
    #[serde(default)]
    pub metrics_auth: bool,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed
    /// (addresses or CIDR ranges): the client address for sign-in limits, and whether a
    /// session cookie gets `Secure`.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A browser session ends after this long without a request (default 7d).
    #[serde(default = "default_session_idle")]
    pub session_idle_timeout: HumanDuration,
    /// A browser session ends this long after sign-in, however busy (default 30d).
    #[serde(default = "default_session_max_age")]
    pub session_max_age: HumanDuration,
    /// Sign-in through an OpenID Connect provider besides names and passwords (read at
    /// start; a change needs a restart).
    #[serde(default)]
    pub oidc: Option<pharos_app::oidc::OidcSettings>,
    /// How many connections are held and how long each may wait; read at start only.
    #[serde(default)]
    pub connections: ConnectionSettings,
}

fn default_session_idle() -> HumanDuration {
    HumanDuration::from_secs(7 * 86_400)
}

fn default_session_max_age() -> HumanDuration {
    HumanDuration::from_secs(30 * 86_400)
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            external_url: None,
            public: default_public(),
            status_page: StatusPageSettings::default(),
            status_pages: Default::default(),
            min_free_disk_mb: default_min_free_disk_mb(),
            trusted_proxies: Vec::new(),
            session_idle_timeout: default_session_idle(),
            session_max_age: default_session_max_age(),
            oidc: None,
            metrics_auth: false,
            connections: ConnectionSettings::default(),
        }
    }
}

fn default_public() -> BTreeSet<PublicPage> {
    BTreeSet::from([PublicPage::Status])
}

fn default_min_free_disk_mb() -> u64 {
    100
}

impl WebSettings {
    pub fn session_policy(&self) -> pharos_app::access::SessionPolicy {
        pharos_app::access::SessionPolicy {
            idle: self.session_idle_timeout.as_duration(),
            max_age: self.session_max_age.as_duration(),
        }
    }

    /// The status pages served: `status_pages`, or the one page of `status_page`.
    pub fn pages(&self) -> Vec<StatusPage> {
        if !self.status_pages.is_empty() {
            return self.status_pages.to_vec();
        }
        let legacy = &self.status_page;
        let components: Vec<Component> = legacy
            .monitors
            .iter()
            .map(|m| Component {
                monitor: m.clone(),
                name: None,
                description: None,
            })
            .collect();
        vec![StatusPage {
            slug: DEFAULT_PAGE_SLUG.into(),
            title: legacy.title.clone(),
            description: None,
            hosts: Vec::new(),
            sections: if components.is_empty() {
                Vec::new()
            } else {
                vec![ComponentSection {
                    group: None,
                    description: None,
                    components,
                }]
            },
            history_days: 14,
        }]
    }

    /// The page `slug` names; `None` for the first page (`/status`).
    pub fn page(&self, slug: Option<&str>) -> Option<StatusPage> {
        if self.status_pages.is_empty() {
            return self
                .pages()
                .into_iter()
                .find(|p| slug.is_none_or(|s| p.slug == s));
        }
        match slug {
            None => self.status_pages.first().cloned(),
            Some(s) => self.status_pages.iter().find(|p| p.slug == s).cloned(),
        }
    }

    /// The slug of the page served at `/` for a request's `Host`, if any.
    pub fn page_for_host(&self, host: &str) -> Option<&str> {
        let host = pharos_model::status_page::normalize_host(host)?;
        self.status_pages
            .iter()
            .find(|p| p.serves_host(&host))
            .map(|p| p.slug.as_str())
    }

    pub fn external_url(&self) -> &str {
        self.external_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/')
    }
}

/// `web.connections`: what a client that connects and then stalls can hold. Every open
/// connection is a file; without these a few hundred silent sockets stop Pharos accepting.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Connections open at once; more wait in the kernel's queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max: std::num::NonZeroUsize,
    /// How long a client has to send a request's headers, counted from connecting or,
    /// between requests, from its first byte.
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "more_than_zero"
    )]
    pub header_timeout: HumanDuration,
    /// How long a kept-alive connection may wait for its next request. A response still
    /// being sent (a live tail) is not idle.
    #[serde(default = "default_idle_timeout", deserialize_with = "more_than_zero")]
    pub idle_timeout: HumanDuration,
    /// How long a client has to send a whole request body; answered 408 after it.
    #[serde(default = "default_body_timeout", deserialize_with = "more_than_zero")]
    pub body_timeout: HumanDuration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max: default_max_connections(),
            header_timeout: default_header_timeout(),
            idle_timeout: default_idle_timeout(),
            body_timeout: default_body_timeout(),
        }
    }
}

fn default_max_connections() -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(4096).unwrap_or(std::num::NonZeroUsize::MIN)
}

fn default_header_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_body_timeout() -> HumanDuration {
    HumanDuration::from_secs(60)
}

/// A timeout of zero would close every connection at once; there is no "off".
pub fn more_than_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let duration = HumanDuration::deserialize(d)?;
    if duration.is_zero() {
        return Err(serde::de::Error::custom("must be more than 0s"));
    }
    Ok(duration)
}
