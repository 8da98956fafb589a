//! The parameters of the Prometheus and Loki query APIs: the query string and, for a
//! POST with a form body, the form too (both, as Prometheus and Loki read them). An
//! extractor, so a handler takes the pairs and nothing of the request's shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};

/// Name/value pairs in the order sent, the query string's first.
pub struct RequestParams(pub Vec<(String, String)>);

impl RequestParams {
    /// The query string alone (a WebSocket upgrade has no body).
    pub fn from_query(query: Option<&str>) -> RequestParams {
        RequestParams(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }
}

impl<S: Send + Sync> FromRequest<S> for RequestParams {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = RequestParams::from_query(req.uri().query());
        let form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            params
                .0
                .extend(url::form_urlencoded::parse(&body).into_owned());
        }
        Ok(params)
    }
}
