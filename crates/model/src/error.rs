//! What the model's checks refuse, and why a JSON assertion did not hold.

use serde_json::Value;

/// A definition that reads but cannot be used (a project, a maintenance window, a cron
/// schedule), or a body an assertion does not hold for. Messages start with the field at
/// fault where there is one, as config errors print them.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("id: must be a positive number (it ends the DSN)")]
    ProjectId,
    #[error("must be 1 to 100 characters")]
    NameLength,
    #[error("a key is 8 to 64 letters, digits, '-' or '_'")]
    KeyShape,
    /// One of a project's fields failed its check; `field` is `name` or `keys[i]`.
    #[error("{field}: {source}")]
    ProjectField {
        field: String,
        source: Box<ModelError>,
    },
    #[error("name: must not be empty")]
    WindowWithoutName,
    #[error("ends_at: must be after starts_at")]
    WindowEndsFirst,
    #[error(transparent)]
    Cron(#[from] croner::errors::CronError),
    /// The path an assertion reads is not in the body; `assertion` is its source text.
    #[error("{assertion}: {path} is missing")]
    AssertionPathMissing { assertion: String, path: String },
    /// The value at the assertion's path does not compare as the assertion says.
    #[error("{assertion}: found {found}")]
    AssertionFailed { assertion: String, found: Value },
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::maintenance::MaintenanceWindow;
    use crate::monitor::parse_cron;
    use crate::project::ProjectSpec;

    fn project(v: serde_json::Value) -> String {
        let p: ProjectSpec = serde_json::from_value(v).unwrap();
        p.validate().unwrap_err().to_string()
    }

    #[test]
    fn messages_name_the_field_as_config_errors_print_it() {
        assert_eq!(
            project(json!({"id": 0, "name": "web"})),
            "id: must be a positive number (it ends the DSN)"
        );
        assert_eq!(
            project(json!({"id": 1, "name": " "})),
            "name: must be 1 to 100 characters"
        );
        assert_eq!(
            project(json!({"id": 1, "name": "web", "keys": ["0123456789abcdef", "short"]})),
            "keys[1]: a key is 8 to 64 letters, digits, '-' or '_'"
        );
        let window = |name: &str, ends: &str| {
            serde_json::from_value::<MaintenanceWindow>(json!({
                "name": name,
                "starts_at": "2024-07-01T10:00:00Z",
                "ends_at": ends,
            }))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            window("", "2024-07-01T11:00:00Z"),
            "name: must not be empty"
        );
        assert_eq!(
            window("db", "2024-07-01T10:00:00Z"),
            "ends_at: must be after starts_at"
        );
        let cron = parse_cron("* * *").unwrap_err();
        let croner = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse("* * *")
            .unwrap_err();
        assert_eq!(cron.to_string(), croner.to_string());
    }
}
