//! Filling in a dashboard query before it runs: template variables (`$job`, `${job}`,
//! `${job:regex}`, `[[job]]`) and Grafana's built-ins `$__interval`, `$__interval_ms`,
//! `$__rate_interval`, `$__range`, `$__range_s`, `$__range_ms`, with the values Grafana
//! would give them for the range and step being drawn.

use super::Variable;

/// What Grafana assumes a Prometheus data source scrapes at when not told otherwise.
pub const DEFAULT_SCRAPE_INTERVAL_MS: i64 = 15_000;

/// The values a query is expanded with.
#[derive(Clone, Debug)]
pub struct Context {
    vars: Vec<Variable>,
    pub step_ms: i64,
    pub range_ms: i64,
    pub scrape_interval_ms: i64,
}

impl Context {
    /// For a page: the variables' current values, replaced by `chosen` (from the page's
    /// `?var-<name>=` parameters) where given.
    pub fn new(
        vars: &[Variable],
        chosen: &[(String, String)],
        range_ms: i64,
        step_ms: i64,
    ) -> Self {
        let vars = vars
            .iter()
            .map(|v| {
                let picked: Vec<String> = chosen
                    .iter()
                    .filter(|(k, _)| *k == v.name)
                    .map(|(_, val)| val.clone())
                    .collect();
                Variable {
                    current: if picked.is_empty() {
                        v.current.clone()
                    } else {
                        picked
                    },
                    ..v.clone()
                }
            })
            .collect();
        Context {
            vars,
            step_ms: step_ms.max(1),
            range_ms,
            scrape_interval_ms: DEFAULT_SCRAPE_INTERVAL_MS,
        }
    }

    /// For checking expressions when a file is read: a one-hour range at a 1 m step.
    pub fn for_checking(vars: &[Variable]) -> Self {
        Context::new(vars, &[], 3_600_000, 60_000)
    }

    /// Grafana: the larger of one step plus a scrape interval and four scrape
    /// intervals, so `rate()` always sees at least two samples.
    pub fn rate_interval_ms(&self) -> i64 {
        (self.step_ms + self.scrape_interval_ms).max(4 * self.scrape_interval_ms)
    }

    fn builtin(&self, name: &str) -> Option<String> {
        Some(match name {
            "__interval" => duration(self.step_ms),
            "__interval_ms" => self.step_ms.to_string(),
            "__rate_interval" => duration(self.rate_interval_ms()),
            "__range" => format!("{}s", self.range_ms / 1000),
            "__range_s" => (self.range_ms / 1000).to_string(),
            "__range_ms" => self.range_ms.to_string(),
            _ => return None,
        })
    }

    fn value(&self, name: &str, format: Option<&str>) -> Option<String> {
        if let Some(b) = self.builtin(name) {
            return Some(b);
        }
        let v = self.vars.iter().find(|v| v.name == name)?;
        let all = v
            .current
            .iter()
            .any(|c| c == "$__all" || c.eq_ignore_ascii_case("all"));
        if all {
            if let Some(a) = &v.all_value {
                return Some(a.clone());
            }
            let opts: Vec<&String> = v
                .options
                .iter()
                .filter(|o| *o != "$__all" && !o.eq_ignore_ascii_case("all"))
                .collect();
            if opts.is_empty() {
                return Some(".*".into());
            }
            return Some(join(&opts, format));
        }
        let vals: Vec<&String> = v.current.iter().collect();
        Some(join(&vals, format))
    }
}

/// One value as typed; several as a regex alternation, as Grafana's Prometheus data
/// source does, unless a format (`raw`, `csv`, `pipe`, `regex`) says otherwise.
fn join(vals: &[&String], format: Option<&str>) -> String {
    match format {
        Some("csv") => vals
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Some("pipe") => vals
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("|"),
        Some("raw") => vals
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Some("regex") if vals.len() == 1 => regex_escape(vals[0]),
        _ if vals.len() == 1 => vals[0].clone(),
        _ => format!(
            "({})",
            vals.iter()
                .map(|v| regex_escape(v))
                .collect::<Vec<_>>()
                .join("|")
        ),
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            // Doubled: the value lands inside a PromQL string, which unescapes once.
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// A duration the way PromQL writes it: `15s`, `1m`, `90s`, `2h`, `1d`, `250ms`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(1);
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces every variable `ctx` knows; unknown ones stay as written, so the PromQL
/// error names them.
pub fn expand(expr: &str, ctx: &Context) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix("${")
            && let Some(end) = body.find('}')
        {
            let inner = &body[..end];
            let (name, format) = match inner.split_once(':') {
                Some((n, f)) => (n, Some(f)),
                None => (inner, None),
            };
            if let Some(v) = ctx.value(name, format) {
                out.push_str(&v);
                rest = &body[end + 1..];
                continue;
            }
        }
        if let Some(body) = rest.strip_prefix("[[")
            && let Some(end) = body.find("]]")
        {
            let inner = &body[..end];
            let (name, format) = match inner.split_once(':') {
                Some((n, f)) => (n, Some(f)),
                None => (inner, None),
            };
            if let Some(v) = ctx.value(name, format) {
                out.push_str(&v);
                rest = &body[end + 2..];
                continue;
            }
        }
        if let Some(body) = rest.strip_prefix('$') {
            let len = body.find(|c: char| !is_word(c)).unwrap_or(body.len());
            if len > 0
                && let Some(v) = ctx.value(&body[..len], None)
            {
                out.push_str(&v);
                rest = &body[len..];
                continue;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, current: &[&str], options: &[&str]) -> Variable {
        Variable {
            name: name.into(),
            current: current.iter().map(|s| s.to_string()).collect(),
            options: options.iter().map(|s| s.to_string()).collect(),
            all_value: None,
        }
    }

    #[test]
    fn builtins_follow_range_and_step() {
        let ctx = Context::new(&[], &[], 6 * 3_600_000, 30_000);
        assert_eq!(expand("rate(x[$__rate_interval])", &ctx), "rate(x[1m])");
        assert_eq!(expand("increase(x[$__range])", &ctx), "increase(x[21600s])");
        assert_eq!(
            expand("avg_over_time(x[$__interval])", &ctx),
            "avg_over_time(x[30s])"
        );
        let ctx = Context::new(&[], &[], 7 * 86_400_000, 600_000);
        assert_eq!(expand("rate(x[${__rate_interval}])", &ctx), "rate(x[615s])");
        assert_eq!(duration(615_000), "615s");
        assert_eq!(duration(3_600_000), "1h");
    }

    #[test]
    fn variables_in_every_syntax() {
        let vars = [
            var("job", &["api"], &["api", "worker"]),
            var("env", &["prod", "stage"], &[]),
        ];
        let ctx = Context::new(&vars, &[], 3_600_000, 15_000);
        assert_eq!(
            expand(
                r#"up{job="$job", env=~"${env}"} [[job]] $jobs $unknown"#,
                &ctx
            ),
            r#"up{job="api", env=~"(prod|stage)"} api $jobs $unknown"#
        );
        let ctx = Context::new(&vars, &[("job".into(), "worker".into())], 3_600_000, 15_000);
        assert_eq!(expand("$job", &ctx), "worker");
        let all = [var("job", &["$__all"], &["All", "api", "worker"])];
        let ctx = Context::new(&all, &[], 3_600_000, 15_000);
        assert_eq!(expand("$job", &ctx), "(api|worker)");
        assert_eq!(expand("${job:csv}", &ctx), "api,worker");
    }
}
