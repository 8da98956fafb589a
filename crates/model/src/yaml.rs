//! Reading a YAML document (`pharos.yaml`, a rule file, a dashboard) into types, with an
//! error that says where: the line and column serde_norway reports, the path of the
//! field at fault (`groups[0].rules[1].expr`) and the message without the position and
//! path serde_norway folds into its text. Callers that can find a more exact line (the
//! key itself rather than the start of its mapping) refine `line` and `column`.

use std::fmt;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

/// An error in a file the user wrote, with where it is:
/// `pharos.yaml:12:7: monitors[2].http.timeout: invalid duration`. The config loader and
/// the rule file reader report with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// Where a YAML document went wrong, without the file name (the caller knows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `None` at the document's root.
    pub field: Option<String>,
    pub message: String,
}

/// Deserializes `text` as YAML into `T`.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let de = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location();
        let mut message = inner.to_string();
        // serde_norway appends "at line X column Y"; callers print the location first.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        // It also prefixes the path of the enclosing mapping; callers print the full path.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.is_empty()
            && field.starts_with(prefix)
        {
            message = rest.to_string();
        }
        YamlError {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            field: (field != "." && !field.is_empty()).then_some(field),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        count: u32,
    }

    #[test]
    fn errors_carry_line_field_and_a_plain_message() {
        let e =
            from_yaml::<Doc>("items:\n  - name: a\n    count: 1\n  - name: b\n    count: lots\n")
                .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.field.as_deref(), Some("items[1].count"));
        assert!(!e.message.contains("at line"), "{}", e.message);
        assert!(e.message.starts_with("invalid type"), "{}", e.message);
        let e = from_yaml::<Doc>("- 1\n").unwrap_err();
        assert_eq!(e.field, None);
    }
}
