//! JSON documents as the operations take them: read into a type with errors that name the
//! field at fault (`http.timeout: invalid type ...`), and changed by an RFC 7396 merge
//! patch.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AppError;

/// Reads `bytes` as JSON into `T`; the error names the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    if bytes.is_empty() {
        return Err(AppError::invalid(
            "request body is empty; send a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut message = e.into_inner().to_string();
        // Positions in a one-line JSON body help no one once the field is named.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        if path == "." || path.is_empty() {
            // Checks across fields name the field at the start of their message.
            return match leading_field(&message, "_.") {
                Some(field) => AppError::Invalid {
                    field: Some(field),
                    message,
                },
                None => AppError::invalid(message),
            };
        }
        AppError::Invalid {
            message: format!("{path}: {message}"),
            field: Some(path),
        }
    })
}

/// The field a check's message starts with (`static_configs[0]: target ...`), when the
/// text before the first `": "` is made only of a field path's characters (`extra`
/// besides letters and digits).
pub fn leading_field(message: &str, extra: &str) -> Option<String> {
    match message.split_once(": ") {
        Some((k, _))
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || extra.contains(c)) =>
        {
            Some(k.to_string())
        }
        _ => None,
    }
}

/// RFC 7396 JSON merge patch: `null` removes a key, objects merge, anything else
/// replaces.
pub fn merge_patch(doc: &mut Value, patch: &Value) {
    json_patch::merge(doc, patch);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(
            &mut doc,
            &json!({"a": null, "b": {"c": 5}, "e": [2], "f": {"g": null, "h": 1}}),
        );
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [2], "f": {"h": 1}}));
    }

    /// Regression: a project PATCH adding a new object kept the nulls inside it.
    #[test]
    fn merge_patch_drops_nulls_inside_a_new_object() {
        let mut doc = json!({"name": "shop"});
        merge_patch(
            &mut doc,
            &json!({"alerts": {"new_issue": null, "rate": {"max": null}}}),
        );
        assert_eq!(doc, json!({"name": "shop", "alerts": {"rate": {}}}));
    }

    #[test]
    fn field_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Spec {
            http: Http,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Http {
            timeout: u64,
        }
        let e = parse_json::<Spec>(br#"{"http": {"timeout": "x"}}"#).unwrap_err();
        let AppError::Invalid { field, message } = e else {
            panic!("{e:?}")
        };
        assert_eq!(field.as_deref(), Some("http.timeout"));
        assert!(
            message.starts_with("http.timeout: invalid type"),
            "{message}"
        );
    }
}
