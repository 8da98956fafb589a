//! The server-rendered UI (maud templates compiled into the binary): the overview, each
//! monitor's page, the add-monitor form, the alerts page, the public status page, the
//! sign-in page, error tracking (issues, an issue's events, performance, one trace as a
//! span waterfall, projects),
//! logs (search, live tail, log rules, storage), and metrics (the PromQL explorer,
//! dashboards, cardinality). Pages read the same views as the API.

pub mod alerts;
pub mod cardinality;
pub mod chart;
pub mod dashboards;
pub mod human_error;
pub mod incidents;
pub mod issues;
pub mod layout;
pub mod legend;
pub mod links;
pub mod login;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod oncall;
pub mod overview;
pub mod performance;
pub mod projects;
pub mod receivers;
pub mod rules;
pub mod severity;
pub mod silences;
pub mod slos;
pub mod status;
pub mod time_range;
pub mod traces;
pub mod triage;
pub mod units;
pub mod users;
pub mod waterfall;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;

use pharos_app::Caller;
use pharos_model::access::Permission;
use pharos_web::api::ApiError;
use pharos_web::{PublicPage, SharedState};

/// Every page, with the sign-in routes and the stylesheet.
pub fn router(_state: SharedState) -> Router<SharedState> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/login/oidc", get(login::oidc_start))
        .route("/login/oidc/callback", get(login::oidc_callback))
        .route("/logout", post(login::logout))
        .route("/assets/pharos.css", get(layout::stylesheet))
        .route("/assets/favicon.svg", get(layout::favicon))
        .route("/assets/nav.js", get(layout::nav_script))
        .route("/favicon.ico", get(layout::favicon))
        .route("/", get(overview::page))
        .route(
            "/monitors/new",
            get(monitor::new_form).post(monitor::create),
        )
        .route("/monitors/{id}", get(monitor::page))
        .route("/monitors/copy.js", get(monitor::copy_script))
        .route("/monitors/{id}/delete", post(monitor::delete))
        .route("/monitors/{id}/pause", post(monitor::pause))
        .route(
            "/monitors/{id}/edit",
            get(monitor::edit_form).post(monitor::update),
        )
        .route("/alerts", get(alerts::page))
        .route("/silences", get(silences::page).post(silences::create))
        .route("/silences/{id}/expire", post(silences::expire))
        .route("/receivers", get(receivers::page))
        .route("/receivers/{name}/test", post(receivers::send_test))
        .route("/rules", get(rules::page))
        .route("/slos", get(slos::list))
        .route("/slos/{name}", get(slos::detail))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::page))
        .route("/incidents/{id}/ack", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/notes", post(incidents::add_note))
        .route("/incidents/{id}/postmortem", get(incidents::postmortem))
        .route("/oncall", get(oncall::page))
        // A signed link is its own credential: these two pages need no sign-in.
        .route(
            "/ack/{token}",
            get(incidents::ack_form).post(incidents::ack_submit),
        )
        .route("/logs", get(logs::search))
        .route("/logs/tail.js", get(logs::script))
        .route("/logs/rules", get(logs::rules))
        .route("/logs/storage", get(logs::storage))
        // The trace page's old address, where log lines linked before: the same page (a
        // redirect would send a viewer's read through one more hop).
        .route("/logs/trace/{trace_id}", get(traces::page))
        .route("/metrics/explore", get(metrics::explore))
        .route("/metrics/explorer.js", get(metrics::script))
        .route("/metrics/cardinality", get(cardinality::page))
        .route(
            "/dashboards",
            get(dashboards::list).post(dashboards::upload),
        )
        .route("/dashboards/{id}", get(dashboards::page))
        .route("/dashboards/{id}/delete", post(dashboards::delete))
        .route("/status", get(status::default_page))
        .route("/status/{slug}", get(status::page))
        .route("/status/{slug}/feed.atom", get(status::feed::feed))
        .route(
            "/status/{slug}/badge/{component}/status.svg",
            get(status::badge::status),
        )
        .route(
            "/status/{slug}/badge/{component}/uptime.svg",
            get(status::badge::uptime),
        )
        .route("/status-pages", get(status::manage::page))
        .route(
            "/status-pages/{slug}/incidents",
            post(status::manage::create),
        )
        .route(
            "/status-pages/{slug}/incidents/{id}/updates",
            post(status::manage::add_update),
        )
        .route(
            "/status-pages/{slug}/incidents/{id}/delete",
            post(status::manage::delete),
        )
        .route("/issues", get(issues::list))
        .route("/issues/{id}", get(issues::page))
        .route("/issues/{id}/status", post(issues::set_status))
        .route("/issues/{id}/assign", post(triage::assign))
        .route("/issues/{id}/comment", post(triage::comment))
        .route("/issues/{id}/merge", post(triage::merge))
        .route("/transactions", get(performance::page))
        .route("/traces/{trace_id}", get(traces::page))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(projects::page))
        .route("/projects/{id}/feedback", get(triage::project_feedback))
        .route("/projects/{id}/filters", post(projects::set_filters))
        .route("/projects/{id}/keys", post(projects::add_key))
        .route(
            "/projects/{id}/keys/{key}/revoke",
            post(projects::revoke_key),
        )
        .route(
            "/settings/users",
            get(users::users_page).post(users::add_user),
        )
        .route("/settings/users/{name}", post(users::change_user))
        .route("/settings/users/{name}/delete", post(users::remove_user))
        .route(
            "/settings/tokens",
            get(users::tokens_page).post(users::create_token),
        )
        .route("/settings/tokens/{id}/revoke", post(users::revoke_token))
}

/// Whether the visitor may see what only the team may see (a heartbeat's ping URL,
/// buttons that change things): a signed-in user, a token or the admin token that can read.
pub fn signed_in(caller: &Caller) -> bool {
    caller.allows(Permission::Read)
}

/// Lets the request through when the page is public or the visitor may read; otherwise
/// sends them to sign in and back. The access middleware has already refused whoever the
/// route's row in `permissions::ROUTES` does not admit; this decides how the page looks
/// (`true`: signed in, with the navigation).
// The error is the redirect a page returns as it is, once per request.
#[allow(clippy::result_large_err)]
pub fn guard(
    state: &SharedState,
    caller: &Caller,
    page: Option<PublicPage>,
    uri: &Uri,
) -> Result<bool, Response> {
    let reader = signed_in(caller);
    if reader || page.is_some_and(|p| state.settings().public.contains(&p)) {
        return Ok(reader);
    }
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Err(Redirect::to(&format!(
        "/login?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    ))
    .into_response())
}

/// Whether `caller` may send a form to `route` (a route template of
/// `permissions::ROUTES`, such as `/monitors/{id}/pause`): pages offer only the buttons
/// their visitor may press, asking the same table the access check answers from.
pub fn may_post(caller: &Caller, route: &str) -> bool {
    match pharos_web::permissions::need_of(&axum::http::Method::POST, route) {
        Some(pharos_web::permissions::Need::Granted(p)) => caller.allows(p),
        Some(_) => true,
        None => false,
    }
}

/// An error as a page, for people rather than programs.
pub fn error_page(e: impl Into<ApiError>, signed_in: bool) -> Response {
    let e: ApiError = e.into();
    let body = layout::page(
        "Error",
        layout::Nav::None,
        signed_in,
        html! {
            h1 { (e.status.canonical_reason().unwrap_or("Error")) }
            div.error-box { (e.message) }
            p { a href="/" { "Back to the overview" } }
        },
    );
    let status = if e.status.is_server_error() || e.status.is_client_error() {
        e.status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, body).into_response()
}
