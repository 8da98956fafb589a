//! Alertmanager's matcher syntax (`a="b"`, `a=~"re"`, `a!="b"`, `a!~"re"`, unquoted values,
//! `{a="b", c=~"d"}` lists) read into the same anchored [`LabelMatcher`] PromQL uses, so a
//! missing label matches as `""` exactly as in Alertmanager.

use pharos_model::Labels;
use pharos_model::series::{LabelMatcher, MatchOp};

use super::DispatchError;

/// A set of matchers that must all hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matchers(pub Vec<LabelMatcher>);

impl Matchers {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0
            .iter()
            .all(|m| m.matches(labels.get(&m.name).map(String::as_str).unwrap_or("")))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One more matcher from Alertmanager's `match` / `match_re` maps or the API's
    /// `{name, value, isRegex, isEqual}` objects.
    pub fn push(&mut self, name: &str, op: MatchOp, value: &str) -> Result<(), DispatchError> {
        self.0.push(matcher(name, op, value)?);
        Ok(())
    }
}

/// Alertmanager prints a route's matchers this way in its group keys: `{a="b",c=~"d"}`.
impl std::fmt::Display for Matchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

pub fn matcher(name: &str, op: MatchOp, value: &str) -> Result<LabelMatcher, DispatchError> {
    if name.is_empty() {
        return Err(DispatchError::MatcherWithoutName);
    }
    LabelMatcher::new(name, op, value).map_err(|source| DispatchError::MatcherRegex {
        value: value.to_string(),
        source,
    })
}

/// Parses one entry of a `matchers:` list, or an amtool/API filter: one matcher or a
/// comma-separated list, optionally in braces.
pub fn parse_matchers(input: &str) -> Result<Vec<LabelMatcher>, DispatchError> {
    let mut s = input.trim();
    if let Some(inner) = s.strip_prefix('{') {
        s = inner
            .strip_suffix('}')
            .ok_or_else(|| syntax(input, "missing closing brace"))?
            .trim();
    }
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.trim().is_empty() {
        let (m, after) = parse_one(input, rest)?;
        out.push(m);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return Err(syntax(input, format!("expected `,` before {after:?}"))),
        };
    }
    if out.is_empty() {
        return Err(syntax(input, "no matcher"));
    }
    Ok(out)
}

fn syntax(input: &str, reason: impl Into<String>) -> DispatchError {
    DispatchError::MatcherSyntax {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// The first matcher of `s`, a part of `input`, and the rest after it.
fn parse_one<'a>(input: &str, s: &'a str) -> Result<(LabelMatcher, &'a str), DispatchError> {
    let s = s.trim_start();
    let (name, rest) = if s.starts_with('"') {
        quoted(s).map_err(|reason| syntax(input, reason))?
    } else {
        let end = s
            .find(|c: char| matches!(c, '=' | '!' | '~') || c.is_whitespace())
            .ok_or_else(|| syntax(input, "expected an operator (=, !=, =~, !~)"))?;
        (s[..end].to_string(), &s[end..])
    };
    let rest = rest.trim_start();
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchOp::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchOp::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchOp::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchOp::Equal, r)
    } else {
        return Err(syntax(
            input,
            format!("expected an operator (=, !=, =~, !~) after {name:?}"),
        ));
    };
    let rest = rest.trim_start();
    let (value, rest) = if rest.starts_with('"') {
        quoted(rest).map_err(|reason| syntax(input, reason))?
    } else {
        // Unquoted values run to the next comma, as Alertmanager's parser allows.
        let end = rest.find(',').unwrap_or(rest.len());
        (rest[..end].trim().to_string(), &rest[end..])
    };
    let m = matcher(name.trim(), op, &value).map_err(|e| DispatchError::BadMatcher {
        input: input.to_string(),
        source: Box::new(e),
    })?;
    Ok((m, rest))
}

/// A double-quoted string with Go's escapes `\"`, `\\`, `\n`, `\t`; returns it and the rest.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, c)) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(format!("unterminated quote in {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn alertmanager_matcher_forms() {
        let m = parse_matchers(r#"{alertname="Watchdog", severity=~"warn.*|critical"}"#).unwrap();
        assert_eq!(m.len(), 2);
        let set = Matchers(m);
        assert!(set.matches(&labels(&[
            ("alertname", "Watchdog"),
            ("severity", "warning")
        ])));
        assert!(!set.matches(&labels(&[("alertname", "Watchdog"), ("severity", "info")])));
        assert_eq!(
            set.to_string(),
            r#"{alertname="Watchdog",severity=~"warn.*|critical"}"#
        );
        let m = parse_matchers("severity != critical").unwrap();
        assert!(Matchers(m).matches(&labels(&[("severity", "warning")])));
        let m = parse_matchers(r#"team!~"^(a|b)""#).unwrap();
        assert!(Matchers(m).matches(&labels(&[])));
        let m = parse_matchers(r#"msg="say \"hi\", ok""#).unwrap();
        assert_eq!(m[0].value, "say \"hi\", ok");
        assert!(parse_matchers("alertname").is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
        assert!(parse_matchers(r#"{a="b""#).is_err());
    }

    #[test]
    fn errors_quote_the_input() {
        assert_eq!(
            parse_matchers("a b").unwrap_err().to_string(),
            r#""a b": expected an operator (=, !=, =~, !~) after "a""#
        );
        assert_eq!(
            parse_matchers("a=b, =c").unwrap_err().to_string(),
            r#""a=b, =c": a matcher needs a label name"#
        );
    }

    #[test]
    fn missing_label_matches_empty_value() {
        let set = Matchers(parse_matchers(r#"team="""#).unwrap());
        assert!(set.matches(&labels(&[("x", "y")])));
    }
}
