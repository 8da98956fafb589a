//! The small languages inside a LogQL query: durations (`5m`), sizes (`10KB`), JSON
//! paths (`a.b[0]`), `pattern` expressions and `line_format` / `label_format` templates.

use super::{PatternPart, TemplatePart};

/// `a.b[0].c` or `a["b"]` as path segments.
pub(super) fn json_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(rest[..i].to_string());
            }
            rest = &rest[i..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else { break };
                out.push(inner[..close].trim_matches('"').to_string());
                rest = &inner[close + 1..];
            }
        } else if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

/// A Prometheus-style duration: one or more `<number><unit>`, units ms s m h d w y.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[unit_end..];
    }
    let ns = total * 1e9;
    (ns.is_finite() && ns < i64::MAX as f64).then_some(ns as i64)
}

/// `10KB`, `1.5MiB`, `512B` as bytes (SI and IEC units, as Go's humanize reads them).
pub(crate) fn parse_bytes(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let n: f64 = t[..split].trim().parse().ok()?;
    let unit = match t[split..].to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * unit)
}

/// Loki's `pattern` syntax: literals and `<name>` captures, `<_>` to skip.
pub(super) fn parse_pattern(text: &str) -> Result<Vec<PatternPart>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut literal = String::new();
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>');
        let name = close.map(|c| &after[..c]);
        let is_capture = name.is_some_and(|n| {
            n == "_"
                || (!n.is_empty()
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit()))
        });
        if let (true, Some(name), Some(close)) = (is_capture, name, close) {
            literal.push_str(&rest[..open]);
            if !literal.is_empty() {
                out.push(PatternPart::Literal(std::mem::take(&mut literal)));
            }
            if matches!(out.last(), Some(PatternPart::Capture(_))) {
                return Err("two captures in a row need a literal between them".into());
            }
            out.push(PatternPart::Capture(
                (name != "_").then(|| name.to_string()),
            ));
            rest = &after[close + 1..];
        } else {
            literal.push_str(&rest[..open + 1]);
            rest = after;
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(PatternPart::Literal(literal));
    }
    if !out
        .iter()
        .any(|p| matches!(p, PatternPart::Capture(Some(_))))
    {
        return Err("a pattern needs at least one named capture like <status>".into());
    }
    Ok(out)
}

/// The part of Go's text/template that `line_format` templates mostly use: `{{.name}}`,
/// `{{ .name }}`, `{{__line__}}`, `{{__timestamp__}}`. Anything else is refused, so a
/// template never renders differently from Loki without saying so.
pub(crate) fn parse_template(text: &str) -> Result<Vec<TemplatePart>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(TemplatePart::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| "`{{` is never closed in the template".to_string())?;
        let action = after[..close]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let part = match action {
            "__line__" => TemplatePart::Line,
            "__timestamp__" => TemplatePart::Timestamp,
            a if a.starts_with('.')
                && a.len() > 1
                && a[1..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                TemplatePart::Field(a[1..].to_string())
            }
            a => {
                return Err(format!(
                    "template action {{{{{a}}}}} is not supported by Pharos (only {{{{.label}}}}, {{{{__line__}}}} and {{{{__timestamp__}}}})"
                ));
            }
        };
        out.push(part);
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(TemplatePart::Text(rest.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_like_loki() {
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_bytes("10KB"), Some(10_000.0));
        assert_eq!(parse_bytes("1KiB"), Some(1024.0));
    }
}
