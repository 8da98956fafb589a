//! Users, roles, scoped API tokens and sessions against the real binary: every route is
//! tried with each kind of credential, following `permissions::ROUTES`.

mod common;

use common::{Pharos, TOKEN, form, no_redirects, sign_in, tempdir};
use pharos_model::access::Permission;
use pharos_web::permissions::{Need, ROUTES};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A concrete path for a route pattern (`/api/v1/monitors/{id}` → `/api/v1/monitors/x1`).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "1".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every (method, path) of the table that needs `pred`'s permissions.
fn routes(pred: impl Fn(Need) -> bool) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for r in ROUTES {
        if !pred(r.need) || r.methods == "*" {
            continue;
        }
        for m in r.methods.split(' ') {
            out.push((Method::from_bytes(m.as_bytes()).unwrap(), concrete(r.path)));
        }
    }
    out
}

/// The targets of the POST forms of a page.
fn post_actions(html: &str) -> Vec<String> {
    html.split("method=\"post\" action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// Whether the route table lets a viewer POST to `path` (a concrete path).
fn viewer_may_post(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let matches = |template: &str| {
        let (a, b): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
    };
    ROUTES
        .iter()
        .filter(|r| {
            matches(r.path) && (r.methods == "*" || r.methods.split(' ').any(|m| m == "POST"))
        })
        .all(|r| !matches!(r.need, Need::Granted(p) if p != Permission::Read))
}

async fn create_token(p: &Pharos, name: &str, scopes: &[&str]) -> String {
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": name, "scopes": scopes})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body["secret"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_logs_token_pushes_logs_and_nothing_else() {
    let dir = tempdir("logs-token");
    let p = Pharos::start(&dir, None).await;
    let token = create_token(&p, "promtail on web-1", &["logs:write"]).await;
    let c = no_redirects();

    let push = json!({"streams": [{"stream": {"service": "api"}, "values": [[format!("{}", chrono_now_ns()), "hello from a scoped token"]]}]});
    let r = c
        .post(format!("{}/loki/api/v1/push", p.url))
        .bearer_auth(&token)
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Basic auth with the token as password works as well (Promtail's basic_auth).
    let r = c
        .post(format!("{}/loki/api/v1/push", p.url))
        .basic_auth("promtail", Some(&token))
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let others = routes(|n| {
        matches!(n, Need::Granted(p) if p != Permission::IngestLogs)
            || matches!(
                n,
                Need::Public(
                    pharos_web::PublicPage::Overview
                        | pharos_web::PublicPage::Monitors
                        | pharos_web::PublicPage::Alerts
                        | pharos_web::PublicPage::Api
                )
            )
    });
    assert!(others.len() > 100, "{}", others.len());
    for (m, path) in others {
        let r = c
            .request(m.clone(), format!("{}{path}", p.url))
            .bearer_auth(&token)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{m} {path} with a logs:write token"
        );
    }
}

#[tokio::test]
async fn a_viewer_reads_every_page_and_changes_nothing() {
    let dir = tempdir("viewer");
    let p = Pharos::start(&dir, None).await;
    let (code, body) = p
        .send(
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "vera", "role": "viewer", "password": "a long viewer password"})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let cookie = sign_in(&p, "vera", "a long viewer password").await;
    let c = no_redirects();

    for (m, path) in routes(|n| matches!(n, Need::Granted(Permission::Read) | Need::Public(_))) {
        if m != Method::GET {
            continue;
        }
        let r = c
            .get(format!("{}{path}", p.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let s = r.status();
        assert!(
            s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN && !s.is_redirection(),
            "a viewer reading {path}: {s}"
        );
        // The pages offer a viewer no button that would be refused.
        let html = r.text().await.unwrap_or_default();
        for action in post_actions(&html) {
            assert!(
                viewer_may_post(&action),
                "{path} offers a viewer a form posting to {action}"
            );
        }
    }
    let writes = routes(|n| matches!(n, Need::Granted(p) if p != Permission::Read));
    for (m, path) in writes {
        let r = c
            .request(m.clone(), format!("{}{path}", p.url))
            .header("cookie", &cookie)
            .header("origin", &p.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a viewer: {m} {path}");
    }
    // The viewer's session says who it is.
    let me: Value = c
        .get(format!("{}/api/v1/whoami", p.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["permissions"], json!(["read"]));
}

#[tokio::test]
async fn sessions_end_at_sign_out_and_refuse_cross_site_posts() {
    let dir = tempdir("sessions");
    let p = Pharos::start(&dir, None).await;
    let c = no_redirects();
    // Signing in with the admin token still works, and gives a random session id that is
    // not derived from the token.
    let r = c
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", TOKEN), ("next", "/\t/evil.example")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/",
        "the sign-in redirect stays local"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = cookie.split(';').next().unwrap().to_string();
    let again = c
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", TOKEN)]))
        .send()
        .await
        .unwrap();
    let pair2 = again.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(pair, pair2, "each sign-in is a new session");

    let me = |cookie: String| {
        let c = c.clone();
        let url = format!("{}/api/v1/whoami", p.url);
        async move {
            c.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(pair.clone()).await, StatusCode::OK);

    // A form posted from another site with the cookie is refused, and so is the
    // text/plain "simple request" a page can send without a preflight.
    let r = c
        .post(format!("{}/api/v1/maintenance", p.url))
        .header("cookie", &pair)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"name":"x","monitors":[],"starts_at":"2030-01-01T00:00:00Z","ends_at":"2030-01-02T00:00:00Z"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(format!("{}/silences", p.url))
        .header("cookie", &pair)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("matchers", "alertname=x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = c
        .post(format!("{}/logout", p.url))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(
        me(pair.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a signed-out session cookie no longer works"
    );
    assert_eq!(me(pair2).await, StatusCode::OK, "other sessions stay");
}

#[tokio::test]
async fn sign_ins_are_rate_limited_and_users_added_from_the_command_line() {
    let dir = tempdir("cli-user");
    let data = dir.join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["user", "add", "root", "--role", "admin", "--data-dir"])
        .arg(&data)
        .env("PHAROS_USER_PASSWORD", "first admin password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = Pharos::start(&dir, None).await;
    let cookie = sign_in(&p, "root", "first admin password").await;
    let c = no_redirects();
    let r = c
        .get(format!("{}/settings/users", p.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("root"));

    let mut last = StatusCode::OK;
    for _ in 0..11 {
        last = c
            .post(format!("{}/login", p.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("name", "root"), ("password", "guessing wrong")]))
            .send()
            .await
            .unwrap()
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits now, from this address.
    let r = c
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("name", "root"),
            ("password", "first admin password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

fn chrono_now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn session_cookies_are_secure_over_https() {
    let dir = tempdir("secure-cookie");
    // Behind a proxy on loopback that terminates TLS.
    let p = Pharos::start(&dir, Some("web:\n  trusted_proxies: [127.0.0.1/32]\n")).await;
    let c = no_redirects();
    let cookie_of = |r: &reqwest::Response| r.headers()["set-cookie"].to_str().unwrap().to_string();
    let plain = c
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", TOKEN)]))
        .send()
        .await
        .unwrap();
    assert!(
        !cookie_of(&plain).contains("Secure"),
        "plain HTTP: no Secure"
    );
    let proxied = c
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(form(&[("token", TOKEN)]))
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(&proxied);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // The cookie lasts as long as web.session_max_age, 30 days by default, and is a
    // random id: nothing in it is the admin token or derived from it alone.
    assert!(cookie.contains("Max-Age=2592000"), "{cookie}");
    assert!(!cookie.contains(TOKEN));
}
