//! Status pages for customers: what a page shows (each component's state from its
//! monitor, the incidents and maintenance posted, 90 days of daily uptime) and the posts
//! people write on it (incidents with updates, scheduled maintenance). The pages
//! themselves come from the config (`web.status_pages`) and are handed in by the caller;
//! posts are stored in `pharos.db`.

pub mod days;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use pharos_model::access::Permission;
use pharos_model::maintenance::MaintenanceWindow;
use pharos_model::status_page::{
    AffectedComponent, Impact, MAX_COMPONENTS, MAX_MESSAGE_CHARS, MAX_TITLE_CHARS, PostKind,
    PostStatus, StatusPage, StatusPost,
};
use pharos_model::{MonitorId, MonitorState};
use pharos_store::{NewStatusPost, NewStatusUpdate, StatusPostChange, Store};
use serde::{Deserialize, Serialize};

use crate::{App, AppError, Caller};
use days::{DayBar, day_bars, overall_uptime};

/// Days of bars on a page.
pub const BAR_DAYS: u32 = 90;
/// Posts a page or feed reads at most.
const POSTS_SHOWN: usize = 100;
/// Entries of a page's Atom feed.
const FEED_POSTS: usize = 50;
/// A page's view is reused this long, so visitors cost the store at most one read of each
/// page per period however many come.
const VIEW_TTL: StdDuration = StdDuration::from_secs(10);
/// A maintenance window is at most this long, and starts at most a year away.
const MAX_WINDOW_DAYS: i64 = 31;
const MAX_AUTHOR_CHARS: usize = 100;

/// A component's state as customers read it. Ordered from best to worst where it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    /// Not checked yet.
    Unknown,
    Paused,
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentState {
    pub fn label(self) -> &'static str {
        match self {
            ComponentState::Unknown => "Checking",
            ComponentState::Paused => "Paused",
            ComponentState::Operational => "Operational",
            ComponentState::UnderMaintenance => "Under maintenance",
            ComponentState::DegradedPerformance => "Degraded performance",
            ComponentState::PartialOutage => "Partial outage",
            ComponentState::MajorOutage => "Outage",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentState::Unknown => "unknown",
            ComponentState::Paused => "paused",
            ComponentState::Operational => "operational",
            ComponentState::UnderMaintenance => "under_maintenance",
            ComponentState::DegradedPerformance => "degraded_performance",
            ComponentState::PartialOutage => "partial_outage",
            ComponentState::MajorOutage => "major_outage",
        }
    }

    fn of_monitor(state: MonitorState) -> ComponentState {
        match state {
            MonitorState::Up => ComponentState::Operational,
            MonitorState::Degraded => ComponentState::DegradedPerformance,
            MonitorState::Down => ComponentState::MajorOutage,
            MonitorState::Paused => ComponentState::Paused,
            MonitorState::Unknown => ComponentState::Unknown,
        }
    }

    fn of_impact(impact: Impact) -> Option<ComponentState> {
        match impact {
            Impact::None => None,
            Impact::DegradedPerformance => Some(ComponentState::DegradedPerformance),
            Impact::PartialOutage => Some(ComponentState::PartialOutage),
            Impact::MajorOutage => Some(ComponentState::MajorOutage),
        }
    }
}

/// The banner at the top of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// No component listed: nothing is claimed.
    NotSetUp,
    /// No component has been checked yet.
    Unknown,
    Operational,
    Maintenance,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl Overall {
    pub fn headline(self) -> &'static str {
        match self {
            Overall::NotSetUp => "This status page is not set up yet",
            Overall::Unknown => "Status not known yet",
            Overall::Operational => "All systems operational",
            Overall::Maintenance => "Maintenance in progress",
            Overall::Degraded => "Some systems are degraded",
            Overall::PartialOutage => "Partial outage",
            Overall::MajorOutage => "Major outage",
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Overall::NotSetUp | Overall::Unknown => "unknown",
            Overall::Operational => "ok",
            Overall::Maintenance => "maintenance",
            Overall::Degraded => "warn",
            Overall::PartialOutage | Overall::MajorOutage => "bad",
        }
    }

    fn of(states: &[ComponentState]) -> Overall {
        use ComponentState as S;
        if states.is_empty() {
            return Overall::NotSetUp;
        }
        let count = |want: S| states.iter().filter(|s| **s == want).count();
        let known = states
            .iter()
            .filter(|s| !matches!(s, S::Unknown | S::Paused))
            .count();
        if count(S::MajorOutage) == states.len() {
            Overall::MajorOutage
        } else if count(S::MajorOutage) + count(S::PartialOutage) > 0 {
            Overall::PartialOutage
        } else if count(S::DegradedPerformance) > 0 {
            Overall::Degraded
        } else if count(S::UnderMaintenance) > 0 {
            Overall::Maintenance
        } else if known == 0 {
            Overall::Unknown
        } else {
            Overall::Operational
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentView {
    pub id: MonitorId,
    pub name: String,
    pub description: Option<String>,
    pub state: ComponentState,
    /// Over the days of `days` that have checks.
    pub uptime: Option<f64>,
    /// Over the last 24 hours.
    pub uptime_24h: Option<f64>,
    pub days: Vec<DayBar>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SectionView {
    pub group: Option<String>,
    pub description: Option<String>,
    pub components: Vec<ComponentView>,
}

/// Everything a page shows.
#[derive(Clone, Debug, Serialize)]
pub struct PageView {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    pub overall: Overall,
    pub sections: Vec<SectionView>,
    /// Incidents not yet resolved, newest first.
    pub active_incidents: Vec<StatusPost>,
    /// Maintenance whose window is open now.
    pub maintenance_now: Vec<StatusPost>,
    /// Maintenance still to come, soonest first.
    pub upcoming_maintenance: Vec<StatusPost>,
    /// Resolved incidents and past maintenance of the last `history_days`, newest first.
    pub history: Vec<StatusPost>,
    pub history_days: u32,
    /// The feed's entries: the newest posts of the last 90 days, at most 50.
    #[serde(skip)]
    pub feed: Vec<StatusPost>,
    /// Components whose monitor does not exist (shown only to the team).
    pub missing: Vec<MonitorId>,
    pub generated_at: DateTime<Utc>,
}

/// A view, when it was built, and from which page spec.
type CachedView = (Instant, StatusPage, Arc<PageView>);

/// The views recently built, by page slug; see [`VIEW_TTL`].
#[derive(Default)]
pub struct ViewCache(Mutex<HashMap<String, CachedView>>);

impl ViewCache {
    fn get(&self, page: &StatusPage) -> Option<Arc<PageView>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&page.slug)
            .filter(|(at, spec, _)| at.elapsed() < VIEW_TTL && spec == page)
            .map(|(_, _, v)| v.clone())
    }

    fn put(&self, page: &StatusPage, view: Arc<PageView>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Slugs come from the config, so the map stays as small as the page list.
        map.insert(page.slug.clone(), (Instant::now(), page.clone(), view));
    }

    fn forget(&self, slug: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(slug);
    }
}

/// A new incident or maintenance, as the API and the form send it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    #[serde(default = "incident")]
    pub kind: PostKind,
    pub title: String,
    /// The first update's status: `investigating` or `scheduled` when left out.
    #[serde(default)]
    pub status: Option<PostStatus>,
    /// The first update's message.
    pub message: String,
    #[serde(default)]
    pub components: Vec<AffectedComponent>,
    /// A maintenance's window (both required for maintenance, refused for incidents).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Who writes, when a token posts for someone.
    #[serde(default)]
    pub by: Option<String>,
}

fn incident() -> PostKind {
    PostKind::Incident
}

/// An update of a post.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    pub status: PostStatus,
    pub message: String,
    #[serde(default)]
    pub by: Option<String>,
}

/// Changes to a post; what is left out stays.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub components: Option<Vec<AffectedComponent>>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

/// What a badge says about one component.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentBadge {
    pub name: String,
    pub state: ComponentState,
    /// Share of checks up over the period asked; `None` without checks.
    pub uptime: Option<f64>,
}

fn check_title(title: &str) -> Result<String, AppError> {
    let t = title.trim();
    if t.is_empty() {
        return Err(AppError::invalid_field("title", "must not be empty"));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(AppError::invalid_field(
            "title",
            format!("at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(t.to_string())
}

fn check_message(message: &str) -> Result<String, AppError> {
    let m = message.trim();
    if m.is_empty() {
        return Err(AppError::invalid_field("message", "must not be empty"));
    }
    if m.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AppError::invalid_field(
            "message",
            format!("at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(m.to_string())
}

fn check_author(caller: &Caller, by: Option<&str>) -> Result<String, AppError> {
    if by.is_some_and(|b| b.chars().count() > MAX_AUTHOR_CHARS) {
        return Err(AppError::invalid_field(
            "by",
            format!("at most {MAX_AUTHOR_CHARS} characters"),
        ));
    }
    Ok(caller.actor_naming(by))
}

/// Each component is on the page, once.
fn check_components(page: &StatusPage, components: &[AffectedComponent]) -> Result<(), AppError> {
    if components.len() > MAX_COMPONENTS {
        return Err(AppError::invalid_field(
            "components",
            format!("at most {MAX_COMPONENTS}"),
        ));
    }
    for (i, c) in components.iter().enumerate() {
        if page.component(c.component.as_str()).is_none() {
            return Err(AppError::invalid_field(
                format!("components[{i}].component"),
                format!(
                    "{:?} is not a component of status page {:?}",
                    c.component.as_str(),
                    page.slug
                ),
            ));
        }
        if components[..i].iter().any(|o| o.component == c.component) {
            return Err(AppError::invalid_field(
                format!("components[{i}].component"),
                "listed twice",
            ));
        }
    }
    Ok(())
}

fn check_window(
    kind: PostKind,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    match (kind, starts_at, ends_at) {
        (PostKind::Incident, None, None) => Ok(()),
        (PostKind::Incident, _, _) => Err(AppError::invalid_field(
            "starts_at",
            "only maintenance has a window",
        )),
        (PostKind::Maintenance, Some(s), Some(e)) => {
            if e <= s {
                return Err(AppError::invalid_field(
                    "ends_at",
                    "must be after starts_at",
                ));
            }
            if e - s > Duration::days(MAX_WINDOW_DAYS) {
                return Err(AppError::invalid_field(
                    "ends_at",
                    format!("a window is at most {MAX_WINDOW_DAYS} days"),
                ));
            }
            if (s - now).abs() > Duration::days(366) {
                return Err(AppError::invalid_field(
                    "starts_at",
                    "must be within a year of now",
                ));
            }
            Ok(())
        }
        (PostKind::Maintenance, None, _) => Err(AppError::invalid_field(
            "starts_at",
            "maintenance needs starts_at and ends_at",
        )),
        (PostKind::Maintenance, _, None) => Err(AppError::invalid_field(
            "ends_at",
            "maintenance needs starts_at and ends_at",
        )),
    }
}

/// The alert maintenance windows of `page`'s maintenance not over: each mutes the alerts
/// of the monitors it names, or of all the page's when it names none, during its window,
/// as Uptime Kuma's maintenance does.
fn maintenance_windows(
    s: &Store,
    page: &StatusPage,
    now: DateTime<Utc>,
) -> pharos_store::Result<Vec<MaintenanceWindow>> {
    let posts = s.status_posts(&page.slug, now, POSTS_SHOWN)?;
    Ok(posts
        .into_iter()
        .filter(|p| p.kind == PostKind::Maintenance && !p.status().is_final())
        .filter_map(|p| {
            let monitors: Vec<MonitorId> = if p.components.is_empty() {
                page.components().map(|c| c.monitor.clone()).collect()
            } else {
                p.components.iter().map(|c| c.component.clone()).collect()
            };
            Some(MaintenanceWindow {
                name: format!("status page {}: {}", page.slug, p.title),
                monitors,
                starts_at: p.starts_at?,
                ends_at: p.ends_at?,
            })
        })
        // A window naming no monitor would cover every monitor.
        .filter(|w| !w.monitors.is_empty())
        .collect())
}

/// Every status page's maintenance windows, by slug, for
/// [`MonitorEngine::replace_status_maintenance`](pharos_evaluate::engine::MonitorEngine::replace_status_maintenance)
/// at start and on reload.
pub fn maintenance_by_page(
    s: &Store,
    pages: &[StatusPage],
    now: DateTime<Utc>,
) -> pharos_store::Result<HashMap<String, Vec<MaintenanceWindow>>> {
    pages
        .iter()
        .map(|p| Ok((p.slug.clone(), maintenance_windows(s, p, now)?)))
        .collect()
}

impl App {
    /// After a post changed: the page is built again at its next visit, and its
    /// maintenance windows are in force for alerts at once.
    async fn status_posts_changed(&self, page: &StatusPage) -> Result<(), AppError> {
        self.status_views.forget(&page.slug);
        let spec = page.clone();
        let now = Utc::now();
        let windows = self
            .with_store(move |s| maintenance_windows(s, &spec, now))
            .await?;
        self.engine.set_status_maintenance(&page.slug, windows);
        Ok(())
    }

    /// The page as its visitors see it, built at most once per [`VIEW_TTL`].
    pub async fn status_page_view(&self, page: &StatusPage) -> Result<Arc<PageView>, AppError> {
        if let Some(view) = self.status_views.get(page) {
            return Ok(view);
        }
        let spec = page.clone();
        let now = Utc::now();
        // Alert maintenance windows (config, API) show too: customers see the same
        // maintenance the team muted alerts for.
        let muted: Vec<MonitorId> = page
            .components()
            .filter(|c| self.engine.in_maintenance(&c.monitor, now))
            .map(|c| c.monitor.clone())
            .collect();
        let view = Arc::new(
            self.with_store(move |s| build_view(s, &spec, &muted, now))
                .await?,
        );
        self.status_views.put(page, view.clone());
        Ok(view)
    }

    /// The posts of a page's feed: the newest, resolved or not, of the last 90 days (from
    /// the shared view).
    pub async fn status_feed(&self, page: &StatusPage) -> Result<Vec<StatusPost>, AppError> {
        Ok(self.status_page_view(page).await?.feed.clone())
    }

    /// The posts of a page for the team: every one not over, and those of the last 90 days.
    pub async fn status_posts(&self, page: &StatusPage) -> Result<Vec<StatusPost>, AppError> {
        let slug = page.slug.clone();
        let since = Utc::now() - Duration::days(i64::from(BAR_DAYS));
        self.with_store(move |s| s.status_posts(&slug, since, POSTS_SHOWN))
            .await
    }

    pub async fn status_post(&self, page: &StatusPage, id: i64) -> Result<StatusPost, AppError> {
        let slug = page.slug.clone();
        self.with_store(move |s| s.status_post(&slug, id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("status post {id}")))
    }

    pub async fn create_status_post(
        &self,
        caller: &Caller,
        page: &StatusPage,
        new: NewPost,
    ) -> Result<StatusPost, AppError> {
        caller.require(Permission::StatusPosts, "post on status pages")?;
        let now = Utc::now();
        let title = check_title(&new.title)?;
        let message = check_message(&new.message)?;
        let author = check_author(caller, new.by.as_deref())?;
        check_components(page, &new.components)?;
        check_window(new.kind, new.starts_at, new.ends_at, now)?;
        let status = new.status.unwrap_or(match new.kind {
            PostKind::Incident => PostStatus::Investigating,
            PostKind::Maintenance => PostStatus::Scheduled,
        });
        if !status.fits(new.kind) {
            return Err(AppError::invalid_field(
                "status",
                format!(
                    "{} is not a status of {}",
                    status.as_str(),
                    new.kind.as_str()
                ),
            ));
        }
        let mut components = new.components;
        if new.kind == PostKind::Maintenance {
            // A maintenance shows its components under maintenance, whatever they say.
            for c in &mut components {
                c.impact = Impact::None;
            }
        }
        let post = NewStatusPost {
            page: page.slug.clone(),
            kind: new.kind,
            title,
            components,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            at: now,
            author: author.clone(),
            first: NewStatusUpdate {
                status,
                message,
                author,
                at: now,
            },
        };
        let id = self
            .with_store(move |s| s.create_status_post(&post))
            .await?;
        self.status_posts_changed(page).await?;
        tracing::info!(operation = "status_post_create", page = %page.slug, post = id, caller = %caller, "status post created");
        self.status_post(page, id).await
    }

    pub async fn add_status_update(
        &self,
        caller: &Caller,
        page: &StatusPage,
        id: i64,
        update: NewUpdate,
    ) -> Result<StatusPost, AppError> {
        caller.require(Permission::StatusPosts, "post on status pages")?;
        let message = check_message(&update.message)?;
        let author = check_author(caller, update.by.as_deref())?;
        let post = self.status_post(page, id).await?;
        if !update.status.fits(post.kind) {
            return Err(AppError::invalid_field(
                "status",
                format!(
                    "{} is not a status of {}",
                    update.status.as_str(),
                    post.kind.as_str()
                ),
            ));
        }
        let new = NewStatusUpdate {
            status: update.status,
            message,
            author,
            at: Utc::now(),
        };
        let slug = page.slug.clone();
        self.with_store(move |s| s.add_status_update(&slug, id, &new))
            .await?;
        self.status_posts_changed(page).await?;
        tracing::info!(operation = "status_post_update", page = %page.slug, post = id, caller = %caller, "status post updated");
        self.status_post(page, id).await
    }

    pub async fn change_status_post(
        &self,
        caller: &Caller,
        page: &StatusPage,
        id: i64,
        patch: PostPatch,
    ) -> Result<StatusPost, AppError> {
        caller.require(Permission::StatusPosts, "post on status pages")?;
        let post = self.status_post(page, id).await?;
        let title = patch.title.as_deref().map(check_title).transpose()?;
        let mut components = patch.components;
        if let Some(list) = &mut components {
            check_components(page, list)?;
            if post.kind == PostKind::Maintenance {
                for c in list.iter_mut() {
                    c.impact = Impact::None;
                }
            }
        }
        if patch.starts_at.is_some() || patch.ends_at.is_some() {
            check_window(
                post.kind,
                patch.starts_at.or(post.starts_at),
                patch.ends_at.or(post.ends_at),
                Utc::now(),
            )?;
        }
        let change = StatusPostChange {
            title,
            components,
            starts_at: patch.starts_at,
            ends_at: patch.ends_at,
        };
        let slug = page.slug.clone();
        self.with_store(move |s| s.change_status_post(&slug, id, &change, Utc::now()))
            .await?;
        self.status_posts_changed(page).await?;
        self.status_post(page, id).await
    }

    pub async fn delete_status_post(
        &self,
        caller: &Caller,
        page: &StatusPage,
        id: i64,
    ) -> Result<(), AppError> {
        caller.require(Permission::StatusPosts, "post on status pages")?;
        let slug = page.slug.clone();
        self.with_store(move |s| s.delete_status_post(&slug, id))
            .await?;
        self.status_posts_changed(page).await?;
        tracing::info!(operation = "status_post_delete", page = %page.slug, post = id, caller = %caller, "status post deleted");
        Ok(())
    }

    /// A component's state and uptime over `days` days (1 is the last 24 hours), for its
    /// badges; `NotFound` unless the page shows it. Read from the page's shared view, so
    /// badges cost the store nothing more than the page.
    pub async fn component_badge(
        &self,
        page: &StatusPage,
        component: &str,
        days: u32,
    ) -> Result<ComponentBadge, AppError> {
        let not_found = || AppError::NotFound(format!("component {component:?}"));
        if page.component(component).is_none() {
            return Err(not_found());
        }
        let view = self.status_page_view(page).await?;
        let shown = view
            .sections
            .iter()
            .flat_map(|s| s.components.iter())
            .find(|v| v.id.as_str() == component)
            .ok_or_else(not_found)?;
        let uptime = if days <= 1 {
            shown.uptime_24h
        } else {
            days::uptime_of_last(&shown.days, days)
        };
        Ok(ComponentBadge {
            name: shown.name.clone(),
            state: shown.state,
            uptime,
        })
    }
}

/// `muted`: the page's monitors in an alert maintenance window now, shown under maintenance.
fn build_view(
    s: &Store,
    page: &StatusPage,
    muted: &[MonitorId],
    now: DateTime<Utc>,
) -> pharos_store::Result<PageView> {
    let history_since = now - Duration::days(i64::from(page.history_days.max(1)));
    let posts = s.status_posts(&page.slug, history_since, POSTS_SHOWN)?;
    let maintenance_now: Vec<StatusPost> = posts
        .iter()
        .filter(|p| p.is_maintenance_under_way(now))
        .cloned()
        .collect();
    let active_incidents: Vec<StatusPost> = posts
        .iter()
        .filter(|p| p.is_active_incident())
        .cloned()
        .collect();
    let mut upcoming_maintenance: Vec<StatusPost> = posts
        .iter()
        .filter(|p| p.is_upcoming_maintenance(now))
        .cloned()
        .collect();
    upcoming_maintenance.sort_by_key(|p| p.starts_at);
    let history: Vec<StatusPost> = posts
        .iter()
        .filter(|p| {
            !p.is_active_incident()
                && !p.is_maintenance_under_way(now)
                && !p.is_upcoming_maintenance(now)
        })
        .cloned()
        .collect();

    let today = now.date_naive();
    let since = now - Duration::days(i64::from(BAR_DAYS) - 1);
    let mut missing = Vec::new();
    let mut sections = Vec::with_capacity(page.sections.len());
    let mut states = Vec::new();
    for section in &page.sections {
        let mut components = Vec::with_capacity(section.components.len());
        for c in &section.components {
            let Some((record, status)) = s.monitor(&c.monitor)? else {
                missing.push(c.monitor.clone());
                continue;
            };
            let monitor_state = if record.spec.paused {
                MonitorState::Paused
            } else {
                status.map(|st| st.state).unwrap_or(MonitorState::Unknown)
            };
            let covers = |p: &StatusPost| {
                p.components.is_empty() || p.components.iter().any(|a| a.component == c.monitor)
            };
            let state = if maintenance_now.iter().any(covers) || muted.contains(&c.monitor) {
                ComponentState::UnderMaintenance
            } else {
                let from_incidents = active_incidents
                    .iter()
                    .flat_map(|p| p.components.iter())
                    .filter(|a| a.component == c.monitor)
                    .filter_map(|a| ComponentState::of_impact(a.impact))
                    .max();
                let from_monitor = ComponentState::of_monitor(monitor_state);
                from_incidents.map_or(from_monitor, |i| i.max(from_monitor))
            };
            states.push(state);
            // A heartbeat records one failed check per missed deadline, however long it
            // stays down: only probes' intervals bound the minutes down.
            let per_check = match record.spec.check {
                pharos_model::MonitorCheck::Heartbeat(_) => None,
                _ => Some(record.spec.interval.as_duration().as_secs_f64() / 60.0),
            };
            let rows = s.uptime_days(&c.monitor, since, now, per_check)?;
            let uptime_24h = s
                .uptime(std::slice::from_ref(&c.monitor), now)?
                .get(&c.monitor)
                .and_then(|u| u.h24);
            components.push(ComponentView {
                id: c.monitor.clone(),
                name: c.name.clone().unwrap_or(record.spec.name),
                description: c.description.clone(),
                state,
                uptime: overall_uptime(&rows),
                uptime_24h,
                days: day_bars(&rows, today, BAR_DAYS),
            });
        }
        sections.push(SectionView {
            group: section.group.clone(),
            description: section.description.clone(),
            components,
        });
    }
    Ok(PageView {
        slug: page.slug.clone(),
        title: page.title.clone(),
        description: page.description.clone(),
        overall: Overall::of(&states),
        sections,
        active_incidents,
        maintenance_now,
        upcoming_maintenance,
        history,
        history_days: page.history_days,
        feed: s.status_posts(
            &page.slug,
            now - Duration::days(i64::from(BAR_DAYS)),
            FEED_POSTS,
        )?,
        missing,
        generated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentState as S;

    #[test]
    fn the_banner_claims_nothing_without_components() {
        assert_eq!(Overall::of(&[]), Overall::NotSetUp);
        assert_eq!(Overall::of(&[S::Unknown, S::Paused]), Overall::Unknown);
        assert_eq!(
            Overall::of(&[S::Operational, S::Unknown]),
            Overall::Operational
        );
        assert_eq!(
            Overall::of(&[S::Operational, S::MajorOutage, S::Unknown]),
            Overall::PartialOutage
        );
        assert_eq!(Overall::of(&[S::MajorOutage]), Overall::MajorOutage);
        assert_eq!(
            Overall::of(&[S::Operational, S::UnderMaintenance]),
            Overall::Maintenance
        );
    }
}
