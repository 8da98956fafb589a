//! A project's inbound filters: events from these environments, of these releases (globs)
//! or with these messages (globs, or regexes written `re:...`) are not stored. Read from
//! `pharos.yaml` (`projects[].filters`) and the API through one checked type, so a bad
//! pattern is refused where it is written, with the field at fault.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// Patterns per list at most.
pub const MAX_PATTERNS: usize = 50;
/// Characters per pattern at most.
pub const MAX_PATTERN_CHARS: usize = 200;
/// The compiled size one regex may take: a pattern cannot make matching slow or big.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The filters as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundFilterSpec {
    /// Environments whose events are dropped, exactly as the SDK names them (`staging`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// Releases whose events are dropped, as globs (`*-dev`, `shop@1.*`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<String>,
    /// Error messages to drop, matched against an event's title (`KeyError: 'x'`) and its
    /// message: globs (`*ConnectionResetError*`), or regexes as `re:^Timeout after \d+s$`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_messages: Vec<String>,
}

/// The checked filters, patterns compiled; serialised back as written.
#[derive(Clone, Debug, Default)]
pub struct InboundFilters {
    spec: InboundFilterSpec,
    releases: Vec<Regex>,
    error_messages: Vec<Regex>,
}

impl PartialEq for InboundFilters {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

/// Why an event was filtered, as the outcome and the client outcomes view name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilteredBy {
    Environment,
    Release,
    ErrorMessage,
}

impl FilteredBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FilteredBy::Environment => "environment",
            FilteredBy::Release => "release",
            FilteredBy::ErrorMessage => "error_message",
        }
    }
}

/// What the filters are asked about one event (or transaction, or feedback).
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterSubject<'a> {
    pub environment: Option<&'a str>,
    pub release: Option<&'a str>,
    /// Title and message of an error event; empty for other records.
    pub messages: &'a [&'a str],
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("{field}: at most {MAX_PATTERNS} patterns")]
    TooMany { field: &'static str },
    #[error("{field}[{index}]: a pattern is 1 to {MAX_PATTERN_CHARS} characters")]
    Length { field: &'static str, index: usize },
    #[error("{field}[{index}]: {message}")]
    Pattern {
        field: &'static str,
        index: usize,
        message: String,
    },
}

/// A glob (`*` any run, `?` one character, everything else literal) as an anchored regex.
fn glob_regex(glob: &str) -> String {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

fn compile(
    field: &'static str,
    patterns: &[String],
    regex_allowed: bool,
) -> Result<Vec<Regex>, FilterError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(FilterError::TooMany { field });
    }
    patterns
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let n = p.chars().count();
            if n == 0 || n > MAX_PATTERN_CHARS {
                return Err(FilterError::Length { field, index });
            }
            let source = match p.strip_prefix("re:") {
                Some(re) if regex_allowed => re.to_string(),
                _ => glob_regex(p),
            };
            RegexBuilder::new(&source)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| FilterError::Pattern {
                    field,
                    index,
                    message: e.to_string(),
                })
        })
        .collect()
}

impl TryFrom<InboundFilterSpec> for InboundFilters {
    type Error = FilterError;

    fn try_from(spec: InboundFilterSpec) -> Result<Self, FilterError> {
        if spec.environments.len() > MAX_PATTERNS {
            return Err(FilterError::TooMany {
                field: "environments",
            });
        }
        for (index, e) in spec.environments.iter().enumerate() {
            if e.is_empty() || e.chars().count() > MAX_PATTERN_CHARS {
                return Err(FilterError::Length {
                    field: "environments",
                    index,
                });
            }
        }
        Ok(InboundFilters {
            releases: compile("releases", &spec.releases, false)?,
            error_messages: compile("error_messages", &spec.error_messages, true)?,
            spec,
        })
    }
}

impl From<InboundFilters> for InboundFilterSpec {
    fn from(f: InboundFilters) -> InboundFilterSpec {
        f.spec
    }
}

impl Serialize for InboundFilters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for InboundFilters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = InboundFilterSpec::deserialize(d)?;
        InboundFilters::try_from(spec).map_err(serde::de::Error::custom)
    }
}

impl InboundFilters {
    pub fn is_empty(&self) -> bool {
        self.spec.environments.is_empty()
            && self.releases.is_empty()
            && self.error_messages.is_empty()
    }

    pub fn spec(&self) -> &InboundFilterSpec {
        &self.spec
    }

    /// The first filter that drops the subject, if any.
    pub fn filtered_by(&self, s: &FilterSubject<'_>) -> Option<FilteredBy> {
        if let Some(env) = s.environment
            && self.spec.environments.iter().any(|e| e == env)
        {
            return Some(FilteredBy::Environment);
        }
        if let Some(release) = s.release
            && self.releases.iter().any(|r| r.is_match(release))
        {
            return Some(FilteredBy::Release);
        }
        if s.messages
            .iter()
            .any(|m| self.error_messages.iter().any(|r| r.is_match(m)))
        {
            return Some(FilteredBy::ErrorMessage);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(yaml: &str) -> Result<InboundFilters, String> {
        serde_norway::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn environments_releases_and_messages_filter() {
        let f = filters(
            "environments: [staging]\nreleases: ['*-dev', 'shop@1.?']\nerror_messages: ['*ConnectionResetError*', 're:^Timeout after \\d+s$']\n",
        )
        .unwrap();
        let subject = |env, rel, msgs| FilterSubject {
            environment: env,
            release: rel,
            messages: msgs,
        };
        assert_eq!(
            f.filtered_by(&subject(Some("staging"), None, &[])),
            Some(FilteredBy::Environment)
        );
        assert_eq!(f.filtered_by(&subject(Some("stagingx"), None, &[])), None);
        assert_eq!(
            f.filtered_by(&subject(None, Some("shop@2.0-dev"), &[])),
            Some(FilteredBy::Release)
        );
        assert_eq!(
            f.filtered_by(&subject(None, Some("shop@1.5"), &[])),
            Some(FilteredBy::Release)
        );
        assert_eq!(f.filtered_by(&subject(None, Some("shop@1.50"), &[])), None);
        assert_eq!(
            f.filtered_by(&subject(
                None,
                None,
                &["OSError: ConnectionResetError(104)"]
            )),
            Some(FilteredBy::ErrorMessage)
        );
        assert_eq!(
            f.filtered_by(&subject(None, None, &["Timeout after 30s"])),
            Some(FilteredBy::ErrorMessage)
        );
        assert_eq!(
            f.filtered_by(&subject(None, None, &["Timeout after xs"])),
            None
        );
        // Written back as written.
        let back: InboundFilterSpec = f.clone().into();
        assert_eq!(back.releases, ["*-dev", "shop@1.?"]);
        assert!(InboundFilters::default().is_empty());
    }

    #[test]
    fn bad_patterns_name_their_field_and_position() {
        let e = filters("error_messages: ['ok', 're:(unclosed']").unwrap_err();
        assert!(e.contains("error_messages[1]"), "{e}");
        // A release glob is never a regex: `re:` there is literal text.
        assert!(filters("releases: ['re:(x']").is_ok());
        let e = filters(&format!("releases: ['{}']", "x".repeat(201))).unwrap_err();
        assert!(e.contains("releases[0]"), "{e}");
        let many: Vec<String> = (0..51).map(|i| format!("e{i}")).collect();
        let e = filters(&format!("environments: [{}]", many.join(", "))).unwrap_err();
        assert!(e.contains("environments: at most 50"), "{e}");
        let e = filters("environment: [x]").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        // A regex that would compile huge is refused, not run.
        let e = filters("error_messages: ['re:(\\w{100}){100}']").unwrap_err();
        assert!(e.contains("error_messages[0]"), "{e}");
    }
}
