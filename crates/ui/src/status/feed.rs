//! `/status/<slug>/feed.atom`: a page's incidents and maintenance as an Atom feed (RFC
//! 4287), one entry per post with every update in its content, newest post first.

use axum::extract::{Path, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_model::status_page::{PostKind, StatusPage, StatusPost};
use pharos_web::{PublicPage, SharedState};

use super::{not_found, page_named};
use crate::{error_page, guard};

pub async fn feed(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path(slug): Path<String>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Status), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(page) = page_named(&state, &slug) else {
        return not_found();
    };
    let (posts, view) = match (
        state.status_feed(&page).await,
        state.status_page_view(&page).await,
    ) {
        (Ok(p), Ok(v)) => (p, v),
        (Err(e), _) | (_, Err(e)) => return error_page(e, signed_in),
    };
    let base = state.settings().external_url().to_string();
    let names = |id: &str| super::component_name(&view, id);
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        atom(&page, &posts, &base, Utc::now(), &names),
    )
        .into_response()
}

/// The feed document. `base` is Pharos's external URL; ids are the posts' addresses on
/// the page, so they stay the same for as long as the post exists.
pub fn atom(
    page: &StatusPage,
    posts: &[StatusPost],
    base: &str,
    now: DateTime<Utc>,
    names: &dyn Fn(&str) -> String,
) -> String {
    let page_url = format!("{base}/status/{}", page.slug);
    // The feed changed when its newest post did; an empty feed is as new as the request.
    let updated = posts.iter().map(|p| p.updated_at).max().unwrap_or(now);
    let mut out = String::with_capacity(1024 + posts.len() * 512);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    push_element(&mut out, "id", &page_url);
    push_element(&mut out, "title", &page.title);
    push_element(&mut out, "updated", &updated.to_rfc3339());
    out.push_str(&format!(
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        escape(&page_url)
    ));
    out.push_str(&format!(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        escape(&format!("{page_url}/feed.atom"))
    ));
    out.push_str("<author><name>");
    out.push_str(&escape(&page.title));
    out.push_str("</name></author>\n");
    for p in posts {
        let url = format!("{page_url}#incident-{}", p.id);
        out.push_str("<entry>\n");
        push_element(&mut out, "id", &url);
        let kind = match p.kind {
            PostKind::Incident => "",
            PostKind::Maintenance => "Maintenance: ",
        };
        push_element(
            &mut out,
            "title",
            &format!("{kind}{} [{}]", p.title, p.status().label()),
        );
        push_element(&mut out, "updated", &p.updated_at.to_rfc3339());
        push_element(&mut out, "published", &p.created_at.to_rfc3339());
        out.push_str(&format!(
            "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            escape(&url)
        ));
        out.push_str("<content type=\"html\">");
        out.push_str(&escape(&content_html(p, names)));
        out.push_str("</content>\n</entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// The post as HTML (escaped once here, and once more as the element's text).
fn content_html(p: &StatusPost, names: &dyn Fn(&str) -> String) -> String {
    let mut html = String::new();
    if let (Some(s), Some(e)) = (p.starts_at, p.ends_at) {
        html.push_str(&format!(
            "<p>Scheduled {} – {}</p>",
            s.format("%Y-%m-%d %H:%M UTC"),
            e.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    for u in &p.updates {
        html.push_str(&format!(
            "<p><strong>{}</strong> ({}): {}</p>",
            u.status.label(),
            u.at.format("%Y-%m-%d %H:%M UTC"),
            escape(&u.message)
        ));
    }
    if !p.components.is_empty() {
        let list: Vec<String> = p
            .components
            .iter()
            .map(|a| escape(&names(a.component.as_str())))
            .collect();
        html.push_str(&format!("<p>Affected: {}</p>", list.join(", ")));
    }
    html
}

fn push_element(out: &mut String, name: &str, text: &str) {
    out.push_str(&format!("<{name}>{}</{name}>\n", escape(text)));
}

/// Text for XML (and HTML) content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pharos_model::status_page::{
        AffectedComponent, Impact, PostStatus, PostUpdate, StatusPageConfig,
    };

    #[test]
    fn entries_carry_every_update_escaped_and_the_feed_is_as_new_as_its_newest_post() {
        let page = StatusPageConfig {
            slug: "main".into(),
            title: "Acme & Co".into(),
            description: None,
            hosts: vec![],
            components: vec![],
            groups: vec![],
            history_days: 14,
        }
        .check()
        .unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 2, 13, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2026, 3, 4, 2, 41, 0).unwrap();
        let post = StatusPost {
            id: 7,
            page: "main".into(),
            kind: PostKind::Incident,
            title: "Errors <script>".into(),
            components: vec![AffectedComponent {
                component: "api".parse().unwrap(),
                impact: Impact::MajorOutage,
            }],
            starts_at: None,
            ends_at: None,
            created_at: at,
            updated_at: later,
            resolved_at: Some(later),
            created_by: "ann".into(),
            updates: vec![
                PostUpdate {
                    id: 2,
                    at: later,
                    status: PostStatus::Resolved,
                    message: "Fixed \"it\"".into(),
                    author: "ann".into(),
                },
                PostUpdate {
                    id: 1,
                    at,
                    status: PostStatus::Investigating,
                    message: "Looking <b>now</b>".into(),
                    author: "ann".into(),
                },
            ],
        };
        let names = |id: &str| {
            if id == "api" {
                "Public API".to_string()
            } else {
                id.to_string()
            }
        };
        let xml = atom(&page, &[post], "https://pharos.example", Utc::now(), &names);
        assert!(
            xml.contains("<id>https://pharos.example/status/main</id>"),
            "{xml}"
        );
        assert!(xml.contains("<title>Acme &amp; Co</title>"), "{xml}");
        assert!(
            xml.contains("<updated>2026-03-04T02:41:00+00:00</updated>"),
            "{xml}"
        );
        assert!(xml.contains("<id>https://pharos.example/status/main#incident-7</id>"));
        assert!(
            xml.contains("<title>Errors &lt;script&gt; [Resolved]</title>"),
            "{xml}"
        );
        // The message is escaped as HTML, then the HTML as XML text.
        assert!(xml.contains("Looking &amp;lt;b&amp;gt;now"), "{xml}");
        assert!(xml.contains("Public API"), "{xml}");
        assert!(!xml.contains("<b>"), "{xml}");
        assert_eq!(xml.matches("<entry>").count(), 1);
    }
}
