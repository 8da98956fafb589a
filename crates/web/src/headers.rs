//! The headers every answer carries so a browser keeps Pharos's pages to themselves: a
//! Content-Security-Policy that runs only the scripts Pharos serves, no framing by other
//! sites, no content-type sniffing, and no full URLs (with their query) sent to other sites
//! as the referrer.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};

/// Scripts and stylesheets only from Pharos itself; the pages have no inline script.
/// `style` attributes stay allowed (`style-src-attr`): the pages set bar widths and
/// dashboard colours with them, and every value that reaches one is checked or a number.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the headers to an answer, leaving any a handler set itself.
pub fn add(headers: &mut HeaderMap) {
    for (name, value) in [
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (X_FRAME_OPTIONS, "DENY"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "same-origin"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn every_answer_carries_the_headers() {
        let app =
            Router::new()
                .route("/", get(|| async { "page" }))
                .layer(axum::middleware::from_fn(
                    |req: axum::extract::Request, next: axum::middleware::Next| async move {
                        let mut response = next.run(req).await;
                        super::add(response.headers_mut());
                        response
                    },
                ));
        for path in ["/", "/missing"] {
            let r = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let h = r.headers();
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(csp.contains("script-src 'self'"), "{csp}");
            assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["referrer-policy"], "same-origin");
        }
    }
}
