//! `GET /federate`: the latest sample of every series matching the `match[]` selectors,
//! in the Prometheus text format (0.0.4), one `# TYPE <name> untyped` per metric, as a
//! Prometheus server answers another that federates from it. The selection and its
//! bounds are `pharos_app::federation`'s.

use std::fmt::Write;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pharos_app::federation::FederatedSample;
use pharos_app::metrics_store::parse_selector;
use pharos_model::clock::now_ms;

use crate::SharedState;

pub async fn federate(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let selectors: Result<Vec<_>, _> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == "match[]")
            .map(|(_, v)| parse_selector(&v))
            .collect();
    let answer = match selectors {
        Ok(s) => state.federate(s, now_ms()).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(samples) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            exposition(&samples),
        )
            .into_response(),
        // Prometheus answers a bad selector with a plain-text 400.
        Err(e) => {
            let status = match e.kind() {
                "bad_data" => StatusCode::BAD_REQUEST,
                "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                "execution" => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, format!("{e}\n")).into_response()
        }
    }
}

/// The samples as exposition text; they come sorted by metric name.
fn exposition(samples: &[FederatedSample]) -> String {
    let mut out = String::new();
    let mut last_name: Option<&str> = None;
    for s in samples {
        if last_name != Some(s.name.as_str()) {
            let _ = writeln!(out, "# TYPE {} untyped", s.name);
            last_name = Some(&s.name);
        }
        out.push_str(&s.name);
        if !s.labels.is_empty() {
            out.push('{');
            for (i, l) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}=\"{}\"", l.name, escape_label_value(&l.value));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {} {}", value_text(s.value), s.timestamp_ms);
    }
    out
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A value as the text format writes it: `NaN`, `+Inf`, `-Inf`, or the shortest
/// decimal that reads back the same.
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::series::Label;

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn one_type_line_per_metric_and_escaped_values() {
        let samples = vec![
            FederatedSample {
                name: "a".into(),
                labels: vec![label("job", "x"), label("path", "C:\\\"q\"\n")],
                value: 1.5,
                timestamp_ms: 1000,
            },
            FederatedSample {
                name: "a".into(),
                labels: vec![label("job", "y"), label("instance", "")],
                value: f64::INFINITY,
                timestamp_ms: 2000,
            },
            FederatedSample {
                name: "b".into(),
                labels: vec![],
                value: 1e21,
                timestamp_ms: 3000,
            },
        ];
        assert_eq!(
            exposition(&samples),
            "# TYPE a untyped\n\
             a{job=\"x\",path=\"C:\\\\\\\"q\\\"\\n\"} 1.5 1000\n\
             a{job=\"y\",instance=\"\"} +Inf 2000\n\
             # TYPE b untyped\n\
             b 1000000000000000000000 3000\n"
        );
    }
}
