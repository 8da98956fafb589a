//! Status pages for customers: which monitors a page shows (as components with a
//! customer-facing name, optionally in groups), where it is served (a slug under
//! `/status/`, host names), and the incident and maintenance posts written on it, with the
//! bounds on everything a caller may send.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::monitor::MonitorId;

/// Pages one config may define.
pub const MAX_PAGES: usize = 50;
/// Components on one page, groups included.
pub const MAX_COMPONENTS: usize = 200;
/// A post's title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// One update's message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 5_000;
/// Updates one post may have.
pub const MAX_UPDATES: usize = 50;
/// Posts one page keeps; the oldest must be deleted before more are made.
pub const MAX_POSTS_PER_PAGE: usize = 1_000;
/// Names and descriptions of pages, groups and components, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// One page as written under `web.status_pages`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    /// The page's address, `/status/<slug>`: lower-case letters, digits and `-`.
    pub slug: String,
    /// The heading customers see.
    #[serde(default = "default_title")]
    pub title: String,
    /// A line under the heading.
    #[serde(default)]
    pub description: Option<String>,
    /// Host names that serve this page at `/` (`status.example.com`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Components shown before the groups.
    #[serde(default)]
    pub components: Vec<ComponentConfig>,
    /// Groups of components, each under its name.
    #[serde(default)]
    pub groups: Vec<ComponentGroupConfig>,
    /// How many days of resolved incidents and past maintenance the page lists (default 14).
    #[serde(default = "default_history_days")]
    pub history_days: u32,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentGroupConfig {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub components: Vec<ComponentConfig>,
}

/// A monitor as customers see it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The monitor's id; also the component's id in badges and incident posts.
    pub monitor: MonitorId,
    /// The name customers see; the monitor's name when left out.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

pub fn default_title() -> String {
    "Service status".into()
}

fn default_history_days() -> u32 {
    14
}

/// A checked page: what the program serves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusPage {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    /// Lower-case, without a port.
    pub hosts: Vec<String>,
    pub sections: Vec<ComponentSection>,
    pub history_days: u32,
}

/// Components under one group heading, or none (`group` is `None`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentSection {
    pub group: Option<String>,
    pub description: Option<String>,
    pub components: Vec<Component>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Component {
    pub monitor: MonitorId,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A config mistake in one page: the field (relative to the page) and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPageError {
    pub field: String,
    pub message: String,
}

impl StatusPageConfig {
    /// Checks the page: a valid slug, host names, named groups, each monitor once, bounded
    /// names and counts.
    pub fn check(self) -> Result<StatusPage, StatusPageError> {
        let fail = |field: &str, message: String| StatusPageError {
            field: field.to_string(),
            message,
        };
        if !valid_slug(&self.slug) {
            return Err(fail(
                "slug",
                format!(
                    "{:?} is not a slug: 1 to 64 lower-case letters, digits and `-`",
                    self.slug
                ),
            ));
        }
        bounded_text("title", &self.title, true)?;
        if let Some(d) = &self.description {
            bounded_text("description", d, false)?;
        }
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for (i, h) in self.hosts.iter().enumerate() {
            let host = normalize_host(h).ok_or_else(|| {
                fail(
                    &format!("hosts[{i}]"),
                    format!("{h:?} is not a host name (such as status.example.com)"),
                )
            })?;
            hosts.push(host);
        }
        let mut sections = Vec::new();
        let mut seen: Vec<MonitorId> = Vec::new();
        let mut take =
            |prefix: &str, list: Vec<ComponentConfig>| -> Result<Vec<Component>, StatusPageError> {
                let mut out = Vec::with_capacity(list.len());
                for (i, c) in list.into_iter().enumerate() {
                    let field = format!("{prefix}components[{i}]");
                    if seen.contains(&c.monitor) {
                        return Err(fail(
                            &format!("{field}.monitor"),
                            format!(
                                "monitor {:?} is listed twice on this page",
                                c.monitor.as_str()
                            ),
                        ));
                    }
                    if let Some(n) = &c.name {
                        bounded_text(&format!("{field}.name"), n, true)?;
                    }
                    if let Some(d) = &c.description {
                        bounded_text(&format!("{field}.description"), d, false)?;
                    }
                    seen.push(c.monitor.clone());
                    if seen.len() > MAX_COMPONENTS {
                        return Err(fail(
                            &field,
                            format!("a page shows at most {MAX_COMPONENTS} components"),
                        ));
                    }
                    out.push(Component {
                        monitor: c.monitor,
                        name: c.name,
                        description: c.description,
                    });
                }
                Ok(out)
            };
        if !self.components.is_empty() {
            sections.push(ComponentSection {
                group: None,
                description: None,
                components: take("", self.components)?,
            });
        }
        for (g, group) in self.groups.into_iter().enumerate() {
            bounded_text(&format!("groups[{g}].name"), &group.name, true)?;
            if let Some(d) = &group.description {
                bounded_text(&format!("groups[{g}].description"), d, false)?;
            }
            let components = take(&format!("groups[{g}]."), group.components)?;
            sections.push(ComponentSection {
                group: Some(group.name),
                description: group.description,
                components,
            });
        }
        if self.history_days > 90 {
            return Err(fail("history_days", "at most 90".into()));
        }
        Ok(StatusPage {
            slug: self.slug,
            title: self.title,
            description: self.description,
            hosts,
            sections,
            history_days: self.history_days,
        })
    }
}

fn bounded_text(field: &str, text: &str, required: bool) -> Result<(), StatusPageError> {
    if required && text.trim().is_empty() {
        return Err(StatusPageError {
            field: field.into(),
            message: "must not be empty".into(),
        });
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(StatusPageError {
            field: field.into(),
            message: format!("at most {MAX_NAME_CHARS} characters"),
        });
    }
    Ok(())
}

/// `status`, `eu-customers`: what may follow `/status/`.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A `Host` header or a configured host as compared: lower-case, without a port or a
/// final dot; `None` when it is not a host name.
pub fn normalize_host(h: &str) -> Option<String> {
    let h = h.trim().to_ascii_lowercase();
    let name = match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => h.as_str(),
    };
    let name = name.trim_end_matches('.');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    ok.then(|| name.to_string())
}

impl StatusPage {
    /// Every component, in page order.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.sections.iter().flat_map(|s| s.components.iter())
    }

    pub fn component(&self, monitor: &str) -> Option<&Component> {
        self.components().find(|c| c.monitor.as_str() == monitor)
    }

    pub fn serves_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }
}

/// An incident or a scheduled maintenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    Incident,
    Maintenance,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Incident => "incident",
            PostKind::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<PostKind> {
        match s {
            "incident" => Some(PostKind::Incident),
            "maintenance" => Some(PostKind::Maintenance),
            _ => None,
        }
    }
}

/// Where a post stands, as each update says. Incidents go investigating → identified →
/// monitoring → resolved; maintenance scheduled → in_progress → completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Scheduled,
    InProgress,
    Completed,
}

impl PostStatus {
    pub const INCIDENT: [PostStatus; 4] = [
        PostStatus::Investigating,
        PostStatus::Identified,
        PostStatus::Monitoring,
        PostStatus::Resolved,
    ];
    pub const MAINTENANCE: [PostStatus; 3] = [
        PostStatus::Scheduled,
        PostStatus::InProgress,
        PostStatus::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Investigating => "investigating",
            PostStatus::Identified => "identified",
            PostStatus::Monitoring => "monitoring",
            PostStatus::Resolved => "resolved",
            PostStatus::Scheduled => "scheduled",
            PostStatus::InProgress => "in_progress",
            PostStatus::Completed => "completed",
        }
    }

    /// The word customers read.
    pub fn label(self) -> &'static str {
        match self {
            PostStatus::Investigating => "Investigating",
            PostStatus::Identified => "Identified",
            PostStatus::Monitoring => "Monitoring",
            PostStatus::Resolved => "Resolved",
            PostStatus::Scheduled => "Scheduled",
            PostStatus::InProgress => "In progress",
            PostStatus::Completed => "Completed",
        }
    }

    pub fn parse(s: &str) -> Option<PostStatus> {
        PostStatus::INCIDENT
            .into_iter()
            .chain(PostStatus::MAINTENANCE)
            .find(|x| x.as_str() == s)
    }

    pub fn fits(self, kind: PostKind) -> bool {
        match kind {
            PostKind::Incident => PostStatus::INCIDENT.contains(&self),
            PostKind::Maintenance => PostStatus::MAINTENANCE.contains(&self),
        }
    }

    /// The post is over: an incident resolved, a maintenance completed.
    pub fn is_final(self) -> bool {
        matches!(self, PostStatus::Resolved | PostStatus::Completed)
    }
}

/// What an incident does to a component. Ordered from least to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Shown on the post, the component's state unchanged.
    None,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl Impact {
    pub const ALL: [Impact; 4] = [
        Impact::None,
        Impact::DegradedPerformance,
        Impact::PartialOutage,
        Impact::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::DegradedPerformance => "degraded_performance",
            Impact::PartialOutage => "partial_outage",
            Impact::MajorOutage => "major_outage",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Impact::None => "No impact",
            Impact::DegradedPerformance => "Degraded performance",
            Impact::PartialOutage => "Partial outage",
            Impact::MajorOutage => "Major outage",
        }
    }

    pub fn parse(s: &str) -> Option<Impact> {
        Impact::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A component a post is about, and how badly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffectedComponent {
    pub component: MonitorId,
    /// For maintenance the component is shown under maintenance whatever this says.
    #[serde(default = "default_impact")]
    pub impact: Impact,
}

fn default_impact() -> Impact {
    Impact::MajorOutage
}

/// One update of a post, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PostUpdate {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub status: PostStatus,
    pub message: String,
    pub author: String,
}

/// An incident or maintenance post, as stored, with its updates newest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusPost {
    pub id: i64,
    pub page: String,
    pub kind: PostKind,
    pub title: String,
    pub components: Vec<AffectedComponent>,
    /// The maintenance window; `None` for incidents.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the last update said resolved or completed.
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub updates: Vec<PostUpdate>,
}

impl StatusPost {
    /// The newest update's status.
    pub fn status(&self) -> PostStatus {
        self.updates
            .first()
            .map(|u| u.status)
            .unwrap_or(match self.kind {
                PostKind::Incident => PostStatus::Investigating,
                PostKind::Maintenance => PostStatus::Scheduled,
            })
    }

    /// An incident not yet resolved.
    pub fn is_active_incident(&self) -> bool {
        self.kind == PostKind::Incident && !self.status().is_final()
    }

    /// A maintenance whose window holds `now` and that was not completed early.
    pub fn is_maintenance_under_way(&self, now: DateTime<Utc>) -> bool {
        self.kind == PostKind::Maintenance
            && !self.status().is_final()
            && self.starts_at.is_some_and(|s| s <= now)
            && self.ends_at.is_some_and(|e| now < e)
    }

    /// A maintenance still to come.
    pub fn is_upcoming_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.kind == PostKind::Maintenance
            && !self.status().is_final()
            && self.starts_at.is_some_and(|s| now < s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(yaml: &str) -> Result<StatusPage, StatusPageError> {
        let c: StatusPageConfig = serde_norway::from_str(yaml).unwrap();
        c.check()
    }

    #[test]
    fn a_page_with_groups_keeps_its_order_and_hosts_are_normalized() {
        let p = page(
            "slug: eu\ntitle: EU\nhosts: [Status.Example.com:443]\ncomponents: [{monitor: api, name: API}]\ngroups:\n  - name: Web\n    components: [{monitor: web}, {monitor: cdn, name: CDN, description: Images}]\n",
        )
        .unwrap();
        assert_eq!(p.hosts, vec!["status.example.com"]);
        let ids: Vec<_> = p.components().map(|c| c.monitor.as_str()).collect();
        assert_eq!(ids, vec!["api", "web", "cdn"]);
        assert_eq!(p.sections[1].group.as_deref(), Some("Web"));
        assert!(p.serves_host("status.example.com"));
        assert_eq!(p.history_days, 14);
    }

    #[test]
    fn mistakes_name_their_field() {
        let e = page("slug: Bad Slug\n").unwrap_err();
        assert_eq!(e.field, "slug");
        let e = page("slug: a\ngroups: [{name: G, components: [{monitor: x}, {monitor: x}]}]\n")
            .unwrap_err();
        assert_eq!(e.field, "groups[0].components[1].monitor");
        let e = page("slug: a\nhosts: ['http://x/']\n").unwrap_err();
        assert_eq!(e.field, "hosts[0]");
        let e = page("slug: a\ngroups: [{name: '', components: []}]\n").unwrap_err();
        assert_eq!(e.field, "groups[0].name");
    }

    #[test]
    fn statuses_fit_their_kind() {
        assert!(PostStatus::Identified.fits(PostKind::Incident));
        assert!(!PostStatus::Identified.fits(PostKind::Maintenance));
        assert_eq!(
            PostStatus::parse("in_progress"),
            Some(PostStatus::InProgress)
        );
        assert!(Impact::MajorOutage > Impact::PartialOutage);
    }
}
