//! The `web:` section of the config file: the external URL, which pages are public, and
//! the public status page.

use std::collections::BTreeSet;

use pharos_model::MonitorId;
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
    "Service status".into()
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
    #[serde(default)]
    pub status_page: StatusPageSettings,
    /// `/health/ready` reports degraded below this much free disk in the data directory.
    #[serde(default = "default_min_free_disk_mb")]
    pub min_free_disk_mb: u64,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            external_url: None,
            public: default_public(),
            status_page: StatusPageSettings::default(),
            min_free_disk_mb: default_min_free_disk_mb(),
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
    pub fn external_url(&self) -> &str {
        self.external_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/')
    }
}
