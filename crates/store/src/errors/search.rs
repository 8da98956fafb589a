//! The issue search language, as Sentry users type it: `is:unresolved`, `level:error`,
//! `environment:production`, `release:1.2.3`, any `tag:value` (`tenant_id:acme`),
//! `!tag:value` to exclude, quoted values, and free text matched against title and culprit.

use rusqlite::types::Value as SqlValue;

use crate::StoreError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueQuery {
    pub project: Option<i64>,
    pub status: Option<String>,
    pub substatus: Option<String>,
    pub level: Option<String>,
    /// `(key, value, negated)`
    pub tags: Vec<(String, String, bool)>,
    pub text: Vec<String>,
    pub sort: IssueSort,
    /// `assigned:me`, `assigned:none`; `me` is made a user id by whoever knows the caller.
    pub assigned: Option<AssigneeFilter>,
}

/// Whose issues a search is narrowed to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AssigneeFilter {
    /// The signed-in user; matches nothing until resolved to [`AssigneeFilter::User`].
    Me,
    User(i64),
    Nobody,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum IssueSort {
    #[default]
    LastSeen,
    FirstSeen,
    Events,
    Users,
}

impl IssueSort {
    pub fn parse(s: &str) -> Option<IssueSort> {
        Some(match s {
            "date" | "last_seen" => IssueSort::LastSeen,
            "new" | "first_seen" => IssueSort::FirstSeen,
            "freq" | "events" => IssueSort::Events,
            "user" | "users" => IssueSort::Users,
            _ => return None,
        })
    }
}

impl IssueQuery {
    /// Parses a search string. Unknown `is:` values are an error naming them.
    pub fn parse(q: &str) -> Result<IssueQuery, StoreError> {
        let mut out = IssueQuery::default();
        for token in tokens(q) {
            let (negated, token) = match token.strip_prefix('!') {
                Some(t) => (true, t.to_string()),
                None => (false, token),
            };
            match token.split_once(':') {
                Some((key, value))
                    if !key.is_empty() && !value.is_empty() && !value.starts_with("//") =>
                {
                    let value = value.trim_matches('"').to_string();
                    match key {
                        "is" => match value.as_str() {
                            "unresolved" | "resolved" | "ignored" => out.status = Some(value),
                            "regressed" | "new" | "escalating" => out.substatus = Some(value),
                            "archived" => out.status = Some("ignored".into()),
                            other => {
                                return Err(StoreError::UnknownIssueState(other.to_string()));
                            }
                        },
                        "assigned" | "assigned_to" if !negated => {
                            out.assigned =
                                Some(match value.as_str() {
                                    "me" | "#me" => AssigneeFilter::Me,
                                    "none" | "nobody" => AssigneeFilter::Nobody,
                                    other => AssigneeFilter::User(other.parse().map_err(|_| {
                                        StoreError::UnknownAssignee(other.to_string())
                                    })?),
                                })
                        }
                        "level" if !negated => out.level = Some(value.to_ascii_lowercase()),
                        "project" if !negated => {
                            out.project = Some(value.parse().map_err(|source| {
                                StoreError::InvalidProjectId {
                                    value: value.clone(),
                                    source,
                                }
                            })?)
                        }
                        _ => out.tags.push((key.to_string(), value, negated)),
                    }
                }
                _ => out.text.push(token.trim_matches('"').to_string()),
            }
        }
        Ok(out)
    }

    /// `WHERE` clause over `issues i` and its parameters.
    pub(crate) fn to_sql(&self) -> (String, Vec<SqlValue>) {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut params: Vec<SqlValue> = Vec::new();
        let mut push = |clause: &str, values: Vec<SqlValue>| {
            // Number each `?` in turn so that parameters line up across clauses.
            let mut parts = clause.split('?');
            let mut c = parts.next().unwrap_or_default().to_string();
            for (part, v) in parts.zip(values) {
                params.push(v);
                c.push_str(&format!("?{}{part}", params.len()));
            }
            clauses.push(c);
        };
        if let Some(p) = self.project {
            push("i.project_id = ?", vec![p.into()]);
        }
        if let Some(s) = &self.status {
            push("i.status = ?", vec![s.clone().into()]);
        }
        if let Some(s) = &self.substatus {
            push("i.substatus = ?", vec![s.clone().into()]);
        }
        match self.assigned {
            Some(AssigneeFilter::Me) => push("1 = 0", vec![]),
            Some(AssigneeFilter::User(id)) => push("i.assignee_id = ?", vec![id.into()]),
            Some(AssigneeFilter::Nobody) => push("i.assignee_id IS NULL", vec![]),
            None => {}
        }
        if let Some(l) = &self.level {
            push("i.level = ?", vec![l.clone().into()]);
        }
        for (k, v, negated) in &self.tags {
            let exists = "EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = i.id AND t.key = ? AND t.value = ?)";
            let clause = if *negated {
                format!("NOT {exists}")
            } else {
                exists.to_string()
            };
            push(&clause, vec![k.clone().into(), v.clone().into()]);
        }
        for word in &self.text {
            let like = format!(
                "%{}%",
                word.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            push(
                "(i.title LIKE ? ESCAPE '\\' OR i.culprit LIKE ? ESCAPE '\\')",
                vec![like.clone().into(), like.into()],
            );
        }
        (clauses.join(" AND "), params)
    }

    pub(crate) fn order_by(&self) -> &'static str {
        match self.sort {
            IssueSort::LastSeen => "i.last_seen DESC, i.id DESC",
            IssueSort::FirstSeen => "i.first_seen DESC, i.id DESC",
            IssueSort::Events => "i.times_seen DESC, i.id DESC",
            IssueSort::Users => "i.users DESC, i.id DESC",
        }
    }
}

/// Splits on whitespace, keeping `"quoted phrases"` (also after `key:`) together.
fn tokens(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in q.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sentry_search_syntax() {
        let q = IssueQuery::parse(r#"is:unresolved level:error environment:production release:1.2.3 tenant_id:acme !server_name:"web 1" "division by" zero"#).unwrap();
        assert_eq!(q.status.as_deref(), Some("unresolved"));
        assert_eq!(q.level.as_deref(), Some("error"));
        assert_eq!(
            q.tags,
            vec![
                ("environment".into(), "production".into(), false),
                ("release".into(), "1.2.3".into(), false),
                ("tenant_id".into(), "acme".into(), false),
                ("server_name".into(), "web 1".into(), true),
            ]
        );
        assert_eq!(q.text, vec!["division by", "zero"]);
        assert_eq!(
            IssueQuery::parse("is:sleepy").unwrap_err().to_string(),
            "is:sleepy is not a state (unresolved, resolved, ignored, regressed, new)"
        );
        assert_eq!(
            IssueQuery::parse("project:web").unwrap_err().to_string(),
            "project:web is not a project id"
        );
        assert_eq!(IssueQuery::parse("").unwrap(), IssueQuery::default());
        assert_eq!(
            IssueQuery::parse("http://x").unwrap().text,
            vec!["http://x"]
        );
    }
}
