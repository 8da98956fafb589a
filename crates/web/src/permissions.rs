//! The one table of what every route needs. The access middleware looks each request up
//! here by its matched route and method; a route missing from the table is refused, so a
//! new route cannot be left open by accident. SECURITY.md lists this table (a test keeps
//! the two equal).

use axum::http::Method;
use pharos_model::access::Permission;

use crate::PublicPage;

/// What a caller must hold to use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone: the route checks its own credential (a DSN key, a ping URL, a signed
    /// link) or serves what must be reachable to sign in and to be probed.
    Open,
    /// Anyone when `web.public` lists the page; otherwise the read permission.
    Public(PublicPage),
    /// A signed-in user, API token or the admin token holding the permission.
    Granted(Permission),
}

/// One row: methods (`*` for any), the route as registered, what it needs.
pub struct RouteAccess {
    pub methods: &'static str,
    pub path: &'static str,
    pub need: Need,
}

const fn open(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Open,
    }
}

const fn public(methods: &'static str, path: &'static str, page: PublicPage) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Public(page),
    }
}

const fn read(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(Permission::Read),
    }
}

const fn edit(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(Permission::Edit),
    }
}

const fn admin(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(Permission::Admin),
    }
}

const fn ingest(methods: &'static str, path: &'static str, p: Permission) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(p),
    }
}

const fn source_maps(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(Permission::UploadSourceMaps),
    }
}

const fn status_posts(methods: &'static str, path: &'static str) -> RouteAccess {
    RouteAccess {
        methods,
        path,
        need: Need::Granted(Permission::StatusPosts),
    }
}

const API: PublicPage = PublicPage::Api;
const STATUS: PublicPage = PublicPage::Status;

/// Every route of the server. Reads of the JSON API are `Public(Api)`: open when
/// `web.public` lists `api`, otherwise they need the read permission.
pub const ROUTES: &[RouteAccess] = &[
    // Health, self-metrics, sign-in
    open("GET", "/health"),
    open("GET", "/health/live"),
    open("GET", "/health/ready"),
    open("GET", "/-/healthy"),
    open("GET", "/-/ready"),
    // `web.metrics_auth` decides in the handler whether a token is needed.
    open("GET", "/metrics"),
    open("GET POST", "/login"),
    open("GET", "/login/oidc"),
    open("GET", "/login/oidc/callback"),
    open("POST", "/logout"),
    open("GET", "/assets/pharos.css"),
    open("GET", "/assets/favicon.svg"),
    open("GET", "/assets/nav.js"),
    open("GET", "/favicon.ico"),
    // Credentials of their own: ping URLs, DSN keys, signed acknowledgement links
    open("*", "/ping/{token}"),
    open("*", "/ping/{token}/{action}"),
    open("*", "/api/{project}/envelope/"),
    open("*", "/api/{project}/envelope"),
    open("*", "/api/{project}/store/"),
    open("*", "/api/{project}/store"),
    open("POST", "/api/{project}/integration/otlp/v1/traces/"),
    open("POST", "/api/{project}/integration/otlp/v1/traces"),
    open("POST", "/api/0/projects/{org}/{project}/user-feedback/"),
    open("GET POST", "/ack/{token}"),
    admin("POST", "/-/reload"),
    // Pages
    public("GET", "/", PublicPage::Overview),
    public("GET", "/status", STATUS),
    // Status pages: the page, its feed and its components' badges (a page serves only
    // what it lists; a host named in `hosts` reaches them without `/status/<slug>`)
    public("GET", "/status/{slug}", STATUS),
    public("GET", "/status/{slug}/feed.atom", STATUS),
    public("GET", "/status/{slug}/badge/{component}/status.svg", STATUS),
    public("GET", "/status/{slug}/badge/{component}/uptime.svg", STATUS),
    read("GET", "/status-pages"),
    status_posts("POST", "/status-pages/{slug}/incidents"),
    status_posts("POST", "/status-pages/{slug}/incidents/{id}/updates"),
    status_posts("POST", "/status-pages/{slug}/incidents/{id}/delete"),
    public("GET", "/monitors/{id}", PublicPage::Monitors),
    public("GET", "/alerts", PublicPage::Alerts),
    public("GET", "/rules", PublicPage::Alerts),
    public("GET", "/slos", PublicPage::Alerts),
    public("GET", "/slos/{name}", PublicPage::Alerts),
    read("GET", "/monitors/new"),
    read("GET", "/monitors/copy.js"),
    edit("POST", "/monitors/new"),
    edit("POST", "/monitors/{id}/delete"),
    edit("POST", "/monitors/{id}/pause"),
    read("GET", "/monitors/{id}/edit"),
    edit("POST", "/monitors/{id}/edit"),
    read("GET", "/silences"),
    edit("POST", "/silences"),
    edit("POST", "/silences/{id}/expire"),
    read("GET", "/receivers"),
    admin("POST", "/receivers/{name}/test"),
    read("GET", "/incidents"),
    read("GET", "/incidents/{id}"),
    edit("POST", "/incidents/{id}/ack"),
    edit("POST", "/incidents/{id}/resolve"),
    edit("POST", "/incidents/{id}/notes"),
    read("GET", "/incidents/{id}/postmortem"),
    read("GET", "/oncall"),
    read("GET", "/logs"),
    read("GET", "/logs/tail.js"),
    read("GET", "/logs/rules"),
    read("GET", "/logs/storage"),
    read("GET", "/logs/trace/{trace_id}"),
    read("GET", "/traces/{trace_id}"),
    read("GET", "/metrics/explore"),
    read("GET", "/metrics/explorer.js"),
    read("GET", "/metrics/cardinality"),
    read("GET", "/dashboards"),
    edit("POST", "/dashboards"),
    read("GET", "/dashboards/{id}"),
    edit("POST", "/dashboards/{id}/delete"),
    read("GET", "/issues"),
    read("GET", "/issues/{id}"),
    edit("POST", "/issues/{id}/status"),
    edit("POST", "/issues/{id}/assign"),
    edit("POST", "/issues/{id}/comment"),
    edit("POST", "/issues/{id}/merge"),
    read("GET", "/transactions"),
    read("GET", "/projects"),
    admin("POST", "/projects"),
    read("GET", "/projects/{id}"),
    read("GET", "/projects/{id}/feedback"),
    admin("POST", "/projects/{id}/filters"),
    admin("POST", "/projects/{id}/keys"),
    admin("POST", "/projects/{id}/keys/{key}/revoke"),
    admin("GET POST", "/settings/users"),
    admin("POST", "/settings/users/{name}"),
    admin("POST", "/settings/users/{name}/delete"),
    admin("GET POST", "/settings/tokens"),
    admin("POST", "/settings/tokens/{id}/revoke"),
    // JSON API: monitors and maintenance
    public("GET", "/api/v1/monitors", API),
    edit("POST", "/api/v1/monitors"),
    public("GET", "/api/v1/monitors/{id}", API),
    edit("PATCH DELETE", "/api/v1/monitors/{id}"),
    public("GET", "/api/v1/monitors/{id}/results", API),
    public("GET", "/api/v1/maintenance", API),
    edit("POST", "/api/v1/maintenance"),
    edit("DELETE", "/api/v1/maintenance/{id}"),
    // Error tracking
    public("GET", "/api/v1/projects", API),
    admin("POST", "/api/v1/projects"),
    public("GET", "/api/v1/projects/{id}", API),
    admin("PATCH DELETE", "/api/v1/projects/{id}"),
    admin("POST", "/api/v1/projects/{id}/keys"),
    admin("DELETE", "/api/v1/projects/{id}/keys/{key}"),
    public("GET", "/api/v1/projects/{id}/releases", API),
    public("GET", "/api/v1/projects/{id}/client-reports", API),
    public("GET", "/api/v1/projects/{id}/logs", API),
    // Feedback holds people's names and emails: never public, whatever `web.public` says.
    read("GET", "/api/v1/projects/{id}/feedback"),
    public("GET", "/api/v1/issues", API),
    public("GET", "/api/v1/issues/{id}", API),
    edit("PATCH", "/api/v1/issues/{id}"),
    public("GET", "/api/v1/issues/{id}/events", API),
    read("GET", "/api/v1/issues/{id}/feedback"),
    read("GET", "/api/v1/issues/{id}/activity"),
    edit("PUT", "/api/v1/issues/{id}/assignee"),
    edit("POST", "/api/v1/issues/{id}/comments"),
    edit("POST", "/api/v1/issues/{id}/merge"),
    public("GET", "/api/v1/issues/{id}/events/latest", API),
    public("GET", "/api/v1/events/{event_id}", API),
    public("GET", "/api/v1/attachments/{id}", API),
    public("GET", "/api/v1/transactions", API),
    // Metrics: the Prometheus HTTP API (Grafana sends reads as POST too)
    read("GET POST", "/api/v1/query"),
    read("GET POST", "/api/v1/query_range"),
    read("GET POST", "/api/v1/series"),
    read("GET POST", "/api/v1/labels"),
    read("GET", "/api/v1/label/{name}/values"),
    read("GET POST", "/api/v1/format_query"),
    read("GET POST", "/api/v1/parse_query"),
    read("GET", "/api/v1/metadata"),
    read("GET", "/api/v1/targets"),
    read("GET", "/api/v1/scrape_pools"),
    read("GET", "/federate"),
    read("GET POST", "/api/v1/query_exemplars"),
    read("GET", "/api/v1/status/buildinfo"),
    read("GET", "/api/v1/status/config"),
    read("GET", "/api/v1/status/flags"),
    read("GET", "/api/v1/status/runtimeinfo"),
    read("GET", "/api/v1/status/tsdb"),
    ingest("POST", "/api/v1/write", Permission::IngestMetrics),
    public("GET", "/api/v1/scrape_jobs", API),
    admin("POST", "/api/v1/scrape_jobs"),
    public("GET", "/api/v1/scrape_jobs/{name}", API),
    admin("PUT PATCH DELETE", "/api/v1/scrape_jobs/{name}"),
    public("GET", "/api/v1/dashboards", API),
    edit("POST", "/api/v1/dashboards"),
    public("GET", "/api/v1/dashboards/{id}", API),
    edit("DELETE", "/api/v1/dashboards/{id}"),
    // Alerting: Pharos's API, Prometheus's alerts and Alertmanager's API v2
    public("GET", "/api/v1/alerts/history", API),
    read("GET", "/api/v1/alerts"),
    public("GET", "/api/v1/deliveries", API),
    public("GET", "/api/v1/receivers", API),
    admin("POST", "/api/v1/receivers/{name}/test"),
    read("GET", "/api/v2/alerts"),
    ingest("POST", "/api/v2/alerts", Permission::IngestAlerts),
    read("GET", "/api/v2/alerts/groups"),
    read("GET", "/api/v2/silences"),
    edit("POST", "/api/v2/silences"),
    read("GET", "/api/v2/silence/{id}"),
    edit("DELETE", "/api/v2/silence/{id}"),
    read("GET", "/api/v2/status"),
    read("GET", "/api/v2/receivers"),
    public("GET", "/api/v1/rules", API),
    public("GET", "/api/v1/slos", API),
    public("GET", "/api/v1/slos/{name}", API),
    public("GET", "/api/v1/incidents", API),
    public("GET", "/api/v1/incidents/{id}", API),
    edit("POST", "/api/v1/incidents/{id}/ack"),
    edit("POST", "/api/v1/incidents/{id}/resolve"),
    edit("POST", "/api/v1/incidents/{id}/notes"),
    public("GET", "/api/v1/incidents/{id}/postmortem", API),
    public("GET", "/api/v1/oncall", API),
    public("GET", "/api/v1/oncall/{name}", API),
    // Status pages: incidents and maintenance posted for customers
    public("GET", "/api/v1/status-pages", API),
    public("GET", "/api/v1/status-pages/{slug}", API),
    public("GET", "/api/v1/status-pages/{slug}/incidents", API),
    status_posts("POST", "/api/v1/status-pages/{slug}/incidents"),
    public("GET", "/api/v1/status-pages/{slug}/incidents/{id}", API),
    status_posts("PATCH DELETE", "/api/v1/status-pages/{slug}/incidents/{id}"),
    status_posts("POST", "/api/v1/status-pages/{slug}/incidents/{id}/updates"),
    // sentry-cli: source map uploads and the look-ups around them (an API token with
    // `sourcemaps:write`)
    source_maps("GET", "/api/0/organizations/{org}/"),
    source_maps("GET", "/api/0/projects/{org}/{project}/"),
    source_maps("GET POST", "/api/0/organizations/{org}/chunk-upload/"),
    source_maps(
        "POST",
        "/api/0/organizations/{org}/artifactbundle/assemble/",
    ),
    source_maps("POST", "/api/0/organizations/{org}/releases/"),
    source_maps("GET PUT", "/api/0/organizations/{org}/releases/{version}/"),
    // Logs
    ingest("POST", "/loki/api/v1/push", Permission::IngestLogs),
    ingest("POST", "/v1/logs", Permission::IngestLogs),
    ingest("POST", "/v1/traces", Permission::IngestTraces),
    ingest("POST", "/api/v1/logs", Permission::IngestLogs),
    read("GET", "/api/v1/logs"),
    read("GET POST", "/loki/api/v1/query"),
    read("GET POST", "/loki/api/v1/query_range"),
    read("GET POST", "/loki/api/v1/labels"),
    read("GET POST", "/loki/api/v1/label/{name}/values"),
    read("GET POST", "/loki/api/v1/series"),
    read("GET POST", "/loki/api/v1/index/stats"),
    read("GET", "/loki/api/v1/status/buildinfo"),
    read("GET", "/loki/api/v1/tail"),
    read("GET", "/api/v1/logs/counts"),
    read("GET", "/api/v1/logs/histogram"),
    read("GET", "/api/v1/logs/tail"),
    read("GET", "/api/v1/logs/stats"),
    read("GET", "/api/v1/logs/{id}"),
    read("GET", "/api/v1/log_rules"),
    read("GET", "/api/v1/traces/{trace_id}"),
    // Users and tokens
    admin("GET POST", "/api/v1/users"),
    admin("PATCH DELETE", "/api/v1/users/{name}"),
    admin("GET POST", "/api/v1/tokens"),
    admin("DELETE", "/api/v1/tokens/{id}"),
    admin("GET POST", "/api/v1/backups"),
    read("GET", "/api/v1/whoami"),
];

/// What `method` on the route registered as `path` needs; `None` when the table has no
/// row for it (the middleware refuses those). HEAD is looked up as GET and OPTIONS
/// (CORS preflight, answered without side effects) is open wherever the route is.
pub fn need_of(method: &Method, path: &str) -> Option<Need> {
    let m = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let rows = rows_of(path);
    for r in rows {
        if r.methods == "*" || r.methods.split(' ').any(|x| x == m) {
            return Some(r.need);
        }
    }
    (!rows.is_empty() && method == Method::OPTIONS).then_some(Need::Open)
}

/// The rows of one route. Every request looks its route up, so the table is indexed by
/// path once rather than scanned each time.
fn rows_of(path: &str) -> &'static [&'static RouteAccess] {
    static BY_PATH: std::sync::OnceLock<
        std::collections::HashMap<&'static str, Vec<&'static RouteAccess>>,
    > = std::sync::OnceLock::new();
    BY_PATH
        .get_or_init(|| {
            let mut map: std::collections::HashMap<_, Vec<_>> = Default::default();
            for r in ROUTES {
                map.entry(r.path).or_default().push(r);
            }
            map
        })
        .get(path)
        .map_or(&[], |v| v.as_slice())
}

/// The methods the table lists for a route (empty when the route has no row).
pub fn methods_of(path: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in rows_of(path) {
        if r.methods == "*" {
            return vec!["*"];
        }
        out.extend(r.methods.split(' '));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The table as Markdown, for SECURITY.md.
pub fn markdown() -> String {
    let mut out = String::from("| methods | route | who may call it |\n|---|---|---|\n");
    for r in ROUTES {
        let who = match r.need {
            Need::Open => "anyone (the route checks its own credential, if any)".to_string(),
            Need::Public(p) => format!(
                "read permission; anyone when `web.public` lists `{}`",
                match p {
                    PublicPage::Status => "status",
                    PublicPage::Overview => "overview",
                    PublicPage::Monitors => "monitors",
                    PublicPage::Alerts => "alerts",
                    PublicPage::Api => "api",
                }
            ),
            Need::Granted(p) => format!("{p} permission"),
        };
        let methods = if r.methods == "*" {
            "any".to_string()
        } else {
            r.methods.replace(' ', ", ")
        };
        out.push_str(&format!("| {methods} | `{}` | {who} |\n", r.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_the_method() {
        assert_eq!(
            need_of(&Method::POST, "/loki/api/v1/push"),
            Some(Need::Granted(Permission::IngestLogs))
        );
        assert_eq!(
            need_of(&Method::GET, "/api/v1/logs"),
            Some(Need::Granted(Permission::Read))
        );
        assert_eq!(
            need_of(&Method::POST, "/api/v1/logs"),
            Some(Need::Granted(Permission::IngestLogs))
        );
        assert_eq!(
            need_of(&Method::HEAD, "/status"),
            Some(Need::Public(PublicPage::Status))
        );
        assert_eq!(need_of(&Method::PUT, "/api/v1/logs"), None);
        assert_eq!(methods_of("/api/v1/logs"), vec!["GET", "POST"]);
        assert!(methods_of("/no/such/route").is_empty());
        assert_eq!(need_of(&Method::GET, "/no/such/route"), None);
    }

    #[test]
    fn every_row_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                if a.path == b.path {
                    let am: Vec<_> = a.methods.split(' ').collect();
                    assert!(
                        !b.methods.split(' ').any(|m| am.contains(&m)),
                        "{} listed twice",
                        a.path
                    );
                }
            }
        }
    }

    /// SECURITY.md shows this table; regenerate it with
    /// `PHAROS_WRITE_SECURITY_MD=1 cargo test -p pharos-web security_md`.
    #[test]
    fn security_md_lists_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../SECURITY.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let (begin, end) = (
            "<!-- routes: generated from crates/web/src/permissions.rs -->\n",
            "<!-- end routes -->",
        );
        let table = markdown();
        if std::env::var_os("PHAROS_WRITE_SECURITY_MD").is_some() {
            let (head, rest) = doc
                .split_once(begin)
                .expect("SECURITY.md has the begin marker");
            let (_, tail) = rest
                .split_once(end)
                .expect("SECURITY.md has the end marker");
            std::fs::write(path, format!("{head}{begin}{table}{end}{tail}")).unwrap();
            return;
        }
        assert!(
            doc.contains(&format!("{begin}{table}{end}")),
            "SECURITY.md's route table differs from permissions::ROUTES; regenerate it with PHAROS_WRITE_SECURITY_MD=1 cargo test -p pharos-web security_md"
        );
    }
}
