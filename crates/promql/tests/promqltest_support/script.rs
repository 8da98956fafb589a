//! The test-script language of Prometheus's PromQL tests: durations, series
//! descriptions, point expansions (`1+2x3`, `_`, `stale`, native `{{…}}` points), the
//! loading of `load` / `load_with_nhcb` blocks into a [`MemorySource`], and the
//! bookkeeping of the native histogram samples Pharos does not store.

use pharos_model::series::{LabelSet, Sample, stale_marker};
use pharos_promql::memory::MemorySource;

pub fn parse_duration_ms(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut total = 0i64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms".to_string()
        } else {
            c.to_string()
        };
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(if neg { -total } else { total })
}

/// A series description (`metric{a="b"}`) as a label set.
pub fn parse_series(desc: &str) -> Option<LabelSet> {
    if desc.trim() == "{}" {
        return Some(LabelSet::default());
    }
    let expr = promql_parser::parser::parse(desc).ok()?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return None;
    };
    let mut pairs: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    Some(LabelSet::new(pairs))
}

/// Splits `series values…` where the series may contain spaces inside braces or quotes.
pub fn split_series_line(line: &str) -> (&str, &str) {
    let mut depth = 0;
    let mut in_str = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => depth -= 1,
            ' ' | '\t' if depth == 0 && !in_str => return (&line[..i], line[i..].trim()),
            _ => {}
        }
        prev = c;
    }
    (line, "")
}

/// Expands `1 2 _ stale 1+2x3 5x2 _x4`; `None` for a missing point.
pub fn expand_values(s: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(stale_marker()));
            continue;
        }
        if let Some((head, times)) = tok.rsplit_once('x')
            && let Ok(times) = times.parse::<usize>()
        {
            if head == "_" {
                out.extend(std::iter::repeat_n(None, times));
                continue;
            }
            // a+b or a-b (the sign after the first character).
            let split = head
                .char_indices()
                .skip(1)
                .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']));
            let (start, inc) = match split {
                Some((i, _)) => (parse_num(&head[..i])?, parse_num(&head[i..])?),
                None => (parse_num(head)?, 0.0),
            };
            for k in 0..=times {
                out.push(Some(start + inc * k as f64));
            }
            continue;
        }
        out.push(Some(parse_num(tok)?));
    }
    Some(out)
}

pub fn parse_num(s: &str) -> Option<f64> {
    let t = s.trim_start_matches('+');
    match t.to_ascii_lowercase().as_str() {
        "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    t.parse().ok()
}

pub fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < 1e-6
}

/// Native histogram samples the scripts load: Pharos does not store them, so their
/// series and times are kept to skip the cases that would read them.
#[derive(Default)]
pub struct NativeSeries(pub Vec<(LabelSet, Vec<i64>)>);

impl NativeSeries {
    fn add(&mut self, labels: LabelSet, times: impl IntoIterator<Item = i64>) {
        match self.0.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, t)) => t.extend(times),
            None => self.0.push((labels, times.into_iter().collect())),
        }
    }
}

/// Whether the case's query selects a native histogram sample: a series some selector
/// matches with a sample in the time the query can reach (the evaluation time or range,
/// back by the lookback delta, the ranges and the offsets; all time when `@` is used).
pub fn reads_native_histogram(header: &str, native: &NativeSeries) -> bool {
    if native.0.is_empty() {
        return false;
    }
    let (from, to, query) = if let Some(r) = header.split_once("instant at ").map(|(_, r)| r) {
        let (at, q) = r.split_once(' ').unwrap_or((r, ""));
        let t = parse_duration_ms(at).unwrap_or(0);
        (t, t, q)
    } else if let Some(r) = header.split_once("range from ").map(|(_, r)| r) {
        let p: Vec<&str> = r.splitn(6, ' ').collect();
        if p.len() < 6 {
            return true;
        }
        (
            parse_duration_ms(p[0]).unwrap_or(0),
            parse_duration_ms(p[2]).unwrap_or(0),
            p[5],
        )
    } else {
        return true;
    };
    let Ok(expr) = promql_parser::parser::parse(query.trim()) else {
        return false;
    };
    let mut walk = Walk::default();
    walk.visit(&expr);
    let (from, to) = if walk.at {
        (i64::MIN, i64::MAX)
    } else {
        (
            from - 5 * 60_000 - walk.back,
            to.saturating_add(walk.forward),
        )
    };
    walk.selectors.iter().any(|vs| {
        native.0.iter().any(|(h, times)| {
            let get = |n: &str| h.get(n).unwrap_or("");
            let selected = vs.name.as_deref().is_none_or(|n| n == get("__name__"))
                && vs
                    .matchers
                    .matchers
                    .iter()
                    .all(|m| m.is_match(get(&m.name)))
                && (vs.matchers.or_matchers.is_empty()
                    || vs
                        .matchers
                        .or_matchers
                        .iter()
                        .any(|g| g.iter().all(|m| m.is_match(get(&m.name)))));
            selected && times.iter().any(|&t| t > from && t <= to)
        })
    })
}

/// The selectors of a query and how far from the evaluation time it can read.
#[derive(Default)]
pub struct Walk<'a> {
    selectors: Vec<&'a promql_parser::parser::VectorSelector>,
    back: i64,
    forward: i64,
    at: bool,
}

impl<'a> Walk<'a> {
    fn offset(&mut self, o: &Option<promql_parser::parser::Offset>) {
        use promql_parser::parser::Offset;
        match o {
            Some(Offset::Pos(d)) => self.back += d.as_millis() as i64,
            Some(Offset::Neg(d)) => self.forward += d.as_millis() as i64,
            None => {}
        }
    }

    fn selector(&mut self, vs: &'a promql_parser::parser::VectorSelector) {
        self.selectors.push(vs);
        self.at |= vs.at.is_some();
        self.offset(&vs.offset);
    }

    fn visit(&mut self, e: &'a promql_parser::parser::Expr) {
        use promql_parser::parser::Expr;
        match e {
            Expr::VectorSelector(vs) => self.selector(vs),
            Expr::MatrixSelector(ms) => {
                self.back += ms.range.as_millis() as i64;
                self.selector(&ms.vs);
            }
            Expr::Aggregate(a) => {
                self.visit(&a.expr);
                if let Some(p) = &a.param {
                    self.visit(p);
                }
            }
            Expr::Unary(u) => self.visit(&u.expr),
            Expr::Binary(b) => {
                self.visit(&b.lhs);
                self.visit(&b.rhs);
            }
            Expr::Paren(p) => self.visit(&p.expr),
            Expr::Subquery(s) => {
                self.back += s.range.as_millis() as i64;
                self.at |= s.at.is_some();
                self.offset(&s.offset);
                self.visit(&s.expr);
            }
            Expr::Call(c) => c.args.args.iter().for_each(|a| self.visit(a)),
            _ => {}
        }
    }
}

/// Loads a `load` block's float samples. Native histogram samples are recorded in
/// `native` (with their times) instead. With `load_with_nhcb`, Prometheus also stores
/// each classic histogram (`_bucket`, `_count`, `_sum`) converted to a native histogram
/// under the base name: the float series are loaded and the converted twins recorded.
pub fn load(
    src: &mut MemorySource,
    interval: i64,
    lines: &[String],
    with_nhcb: bool,
    native: &mut NativeSeries,
) -> Result<(), String> {
    for l in lines {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (series, vals) = split_series_line(l);
        let labels = parse_series(series).ok_or(format!("cannot parse series {series}"))?;
        let values = expand_points(vals).ok_or(format!("cannot parse values {vals}"))?;
        let time = |i: usize| i as i64 * interval;
        let native_times: Vec<i64> = values
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p, Point::Native))
            .map(|(i, _)| time(i))
            .collect();
        if !native_times.is_empty() {
            native.add(labels.clone(), native_times);
        }
        if with_nhcb && let Some(name) = labels.metric_name() {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix));
            if let Some(base) = base {
                let mut twin = labels.clone();
                twin.remove("le");
                twin.set("__name__", base);
                let times = values
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches!(p, Point::Float(_)))
                    .map(|(i, _)| time(i));
                native.add(twin, times);
            }
        }
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                Point::Float(v) => Some(Sample { t: time(i), v: *v }),
                _ => None,
            })
            .collect();
        src.add(labels, samples);
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
pub enum Point {
    Float(f64),
    Missing,
    Native,
}

/// Like [`expand_values`], but also accepts native histogram points (`{{…}}`,
/// `{{…}}x3`, `{{…}}+{{…}}x3`), which may contain spaces.
pub fn expand_points(s: &str) -> Option<Vec<Point>> {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut out = Vec::new();
    for tok in tokens {
        if tok.contains("{{") {
            let times = tok
                .rsplit_once("}}x")
                .and_then(|(_, n)| n.parse::<usize>().ok())
                .unwrap_or(0);
            out.extend(std::iter::repeat_n(Point::Native, times + 1));
            continue;
        }
        out.extend(expand_values(&tok)?.into_iter().map(|v| match v {
            Some(v) => Point::Float(v),
            None => Point::Missing,
        }));
    }
    Some(out)
}
