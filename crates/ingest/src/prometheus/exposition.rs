//! The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, parsed the way a
//! scrape reads them: line by line, borrowing from the body wherever nothing is escaped,
//! and handing each sample's raw series text (`name{labels}`) to the caller so that a
//! scrape loop can recognise a series it saw last time without parsing its labels again.
//!
//! Like Prometheus, any malformed line fails the whole exposition: a half-read scrape would
//! make counters look reset and series look stale.

use std::borrow::Cow;

/// Which text format a body is in, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and anything not recognised, as Prometheus does).
    Text,
    /// `application/openmetrics-text`.
    OpenMetrics,
}

impl Format {
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/openmetrics-text") =>
            {
                Format::OpenMetrics
            }
            _ => Format::Text,
        }
    }
}

/// A metric family's type as declared by `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The name Prometheus's metadata API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    fn parse(s: &str, format: Format) -> Option<MetricType> {
        Some(match (s, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::Text) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("info", Format::OpenMetrics) => MetricType::Info,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            _ => return None,
        })
    }
}

/// One meaningful line of an exposition.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    Help {
        metric: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    Type {
        metric: Cow<'a, str>,
        kind: MetricType,
    },
    Unit {
        metric: Cow<'a, str>,
        unit: Cow<'a, str>,
    },
    Sample(SampleLine<'a>),
}

/// A sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleLine<'a> {
    /// The line's series part as written (`name{a="b"}`): the same text every scrape for
    /// the same series, so it serves as a cache key.
    pub series: &'a str,
    pub name: Cow<'a, str>,
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub value: f64,
    /// Milliseconds; OpenMetrics' seconds are converted.
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole body into entries, failing on the first malformed line.
pub fn parse(text: &str, format: Format) -> Result<Vec<Entry<'_>>, ParseError> {
    Parser::new(text, format).collect()
}

/// An iterator over the entries of a body.
pub struct Parser<'a> {
    lines: std::iter::Enumerate<std::str::Split<'a, char>>,
    format: Format,
    saw_eof: bool,
    done: bool,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str, format: Format) -> Self {
        Parser {
            lines: text.split('\n').enumerate(),
            format,
            saw_eof: false,
            done: false,
        }
    }

    fn line(&mut self, no: usize, line: &'a str) -> Result<Option<Entry<'a>>, String> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.saw_eof {
            if line.is_empty() {
                return Ok(None);
            }
            return Err("content after # EOF".into());
        }
        let comment_line = match self.format {
            Format::Text => line.trim_start_matches([' ', '\t']),
            Format::OpenMetrics => line,
        };
        if let Some(rest) = comment_line.strip_prefix('#') {
            return self.comment(rest);
        }
        let trimmed = match self.format {
            Format::Text => line.trim_matches([' ', '\t']),
            Format::OpenMetrics => line,
        };
        if trimmed.is_empty() {
            return match self.format {
                Format::Text => Ok(None),
                Format::OpenMetrics if no > 0 || !line.is_empty() => Err("empty line".into()),
                Format::OpenMetrics => Ok(None),
            };
        }
        sample_line(trimmed, self.format).map(|s| Some(Entry::Sample(s)))
    }

    fn comment(&mut self, rest: &'a str) -> Result<Option<Entry<'a>>, String> {
        if self.format == Format::OpenMetrics && rest == " EOF" {
            self.saw_eof = true;
            return Ok(None);
        }
        let body = rest.trim_start_matches([' ', '\t']);
        let (keyword, after) = split_word(body);
        let kind = match keyword {
            "HELP" | "TYPE" => keyword,
            "UNIT" if self.format == Format::OpenMetrics => keyword,
            _ if self.format == Format::Text => return Ok(None), // a plain comment
            _ => return Err(format!("unknown comment `#{rest}`")),
        };
        let after = after.trim_start_matches([' ', '\t']);
        let (metric, text) = split_word(after);
        if metric.is_empty() {
            return Err(format!("# {kind} without a metric name"));
        }
        let metric = if let Some(quoted) = metric.strip_prefix('"') {
            // UTF-8 names are quoted (Prometheus 3); the closing quote may be followed by text.
            let (name, used) = quoted_string(quoted).map_err(|e| format!("# {kind}: {e}"))?;
            let text_start = &after[1 + used..];
            return self.metadata(kind, name, text_start.trim_start_matches([' ', '\t']));
        } else {
            metric
        };
        if !is_metric_name(metric) {
            return Err(format!("# {kind}: invalid metric name {metric:?}"));
        }
        self.metadata(
            kind,
            Cow::Borrowed(metric),
            text.trim_start_matches([' ', '\t']),
        )
    }

    fn metadata(
        &self,
        kind: &str,
        metric: Cow<'a, str>,
        text: &'a str,
    ) -> Result<Option<Entry<'a>>, String> {
        match kind {
            "HELP" => Ok(Some(Entry::Help {
                metric,
                text: unescape_help(text, self.format),
            })),
            "TYPE" => {
                let t = text.trim_end_matches([' ', '\t']);
                let kind = MetricType::parse(t, self.format)
                    .ok_or_else(|| format!("invalid metric type {t:?}"))?;
                Ok(Some(Entry::Type { metric, kind }))
            }
            _ => Ok(Some(Entry::Unit {
                metric,
                unit: Cow::Borrowed(text.trim_end()),
            })),
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some((no, line)) = self.lines.next() else {
                self.done = true;
                if self.format == Format::OpenMetrics && !self.saw_eof {
                    return Some(Err(ParseError {
                        line: 0,
                        message: "data does not end with # EOF".into(),
                    }));
                }
                return None;
            };
            // A final newline leaves one empty piece; it is not an empty line.
            if line.is_empty() && self.lines.clone().next().is_none() {
                continue;
            }
            match self.line(no, line) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(message) => {
                    self.done = true;
                    return Some(Err(ParseError {
                        line: no + 1,
                        message,
                    }));
                }
            }
        }
    }
}

fn split_word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn unescape_help(text: &str, format: Format) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if format == Format::OpenMetrics => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

pub fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

pub fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Reads a quoted string's body (after the opening quote): the unescaped text and how many
/// bytes were consumed including the closing quote.
fn quoted_string(s: &str) -> Result<(Cow<'_, str>, usize), String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    let mut start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let text = match owned {
                    Some(mut o) => {
                        o.push_str(&s[start..i]);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&s[..i]),
                };
                return Ok((text, i + 1));
            }
            b'\\' => {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&s[start..i]);
                match bytes.get(i + 1) {
                    Some(b'n') => o.push('\n'),
                    Some(b'\\') => o.push('\\'),
                    Some(b'"') => o.push('"'),
                    Some(_) => {
                        // Prometheus keeps an unknown escape as written.
                        o.push('\\');
                        i += 1;
                        start = i;
                        continue;
                    }
                    None => return Err("unterminated escape".into()),
                }
                i += 2;
                start = i;
            }
            b'\n' => return Err("newline in a quoted string".into()),
            _ => i += 1,
        }
    }
    Err("unterminated quoted string".into())
}

fn sample_line(line: &str, format: Format) -> Result<SampleLine<'_>, String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
    {
        i += 1;
    }
    let mut name: Cow<'_, str> = Cow::Borrowed(&line[..i]);
    let mut quoted_name = false;
    let mut labels = Vec::new();
    if i < bytes.len() && bytes[i] == b'{' {
        i += 1;
        let mut first = true;
        loop {
            i = skip_blank(bytes, i, format);
            match bytes.get(i) {
                Some(b'}') => {
                    i += 1;
                    break;
                }
                None => return Err("unterminated label set".into()),
                _ => {}
            }
            // A label name, or (Prometheus 3) a quoted one; a quoted string first and
            // without `=` is the metric name.
            let lname: Cow<'_, str> = if bytes[i] == b'"' {
                let (s, used) = quoted_string(&line[i + 1..])?;
                i += 1 + used;
                s
            } else {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let n = &line[start..i];
                if !is_label_name(n) {
                    let quoted: String = line[start..].chars().take(20).collect();
                    return Err(format!("invalid label name at {quoted:?}"));
                }
                Cow::Borrowed(n)
            };
            i = skip_blank(bytes, i, format);
            if first && name.is_empty() && matches!(bytes.get(i), Some(b',') | Some(b'}')) {
                name = lname;
                quoted_name = true;
            } else {
                if bytes.get(i) != Some(&b'=') {
                    return Err(format!("expected `=` after label name {lname:?}"));
                }
                i = skip_blank(bytes, i + 1, format);
                if bytes.get(i) != Some(&b'"') {
                    return Err(format!("expected a quoted value for label {lname:?}"));
                }
                let (value, used) = quoted_string(&line[i + 1..])?;
                i += 1 + used;
                if labels
                    .iter()
                    .any(|(n, _): &(Cow<'_, str>, Cow<'_, str>)| *n == lname)
                    || lname == "__name__"
                {
                    return Err(format!("duplicate label name {lname:?}"));
                }
                labels.push((lname, value));
            }
            first = false;
            i = skip_blank(bytes, i, format);
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {}
                _ => return Err("expected `,` or `}` in the label set".into()),
            }
        }
    }
    if name.is_empty() || (!quoted_name && !is_metric_name(&name)) {
        return Err(format!(
            "invalid metric name at {:?}",
            &line[..line.floor_char_boundary(30)]
        ));
    }
    let series = &line[..i];
    // Value and optional timestamp, separated by blanks; OpenMetrics may add an exemplar.
    let rest = &line[i..];
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("expected a blank and a value after {series:?}"));
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (rest, _exemplar) = match (format, rest.find(" # ")) {
        (Format::OpenMetrics, Some(p)) => (&rest[..p], Some(&rest[p + 3..])),
        _ => (rest, None),
    };
    let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
    let value_text = words.next().ok_or("missing value")?;
    let value = parse_float(value_text).ok_or_else(|| format!("invalid value {value_text:?}"))?;
    let timestamp_ms = match words.next() {
        None => None,
        Some(ts) => Some(match format {
            Format::Text => ts
                .parse::<i64>()
                .map_err(|_| format!("invalid timestamp {ts:?}"))?,
            Format::OpenMetrics => {
                let secs = parse_float(ts)
                    .filter(|s| s.is_finite())
                    .ok_or_else(|| format!("invalid timestamp {ts:?}"))?;
                (secs * 1000.0).round() as i64
            }
        }),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok(SampleLine {
        series,
        name,
        labels,
        value,
        timestamp_ms,
    })
}

fn skip_blank(bytes: &[u8], mut i: usize, format: Format) -> usize {
    if format == Format::Text {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
    }
    i
}

/// Go's `strconv.ParseFloat` as the exposition formats use it: decimal and exponent
/// forms, `NaN`, `Inf` with either sign, in any case.
pub fn parse_float(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if body.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/fuzz_targets/prometheus_exposition.rs`: the error message quoted 20
    /// bytes of the line and cut a multi-byte character in two, a panic in the scrape loop.
    #[test]
    fn invalid_label_name_before_non_ascii_text_is_an_error_not_a_panic() {
        let fuzzed = b"{ T\x054os_fnds{path693\xf3\x92\x8c\x9bos_file_access_er# cods_muth\t\t\t15ecqes==C:t_h";
        let fuzzed = std::str::from_utf8(fuzzed).unwrap();
        assert!(parse(fuzzed, Format::Text).is_err());
        assert!(parse(fuzzed, Format::OpenMetrics).is_err());
        let e = parse("m{0ééééééééééééé=\"x\"} 1\n", Format::Text).unwrap_err();
        assert!(e.to_string().contains("invalid label name"), "{e}");
    }

    /// Name, labels, value and timestamp of one sample.
    type Parsed = (String, Vec<(String, String)>, f64, Option<i64>);

    fn samples(text: &str, format: Format) -> Vec<Parsed> {
        parse(text, format)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => Some((
                    s.name.into_owned(),
                    s.labels
                        .into_iter()
                        .map(|(a, b)| (a.into_owned(), b.into_owned()))
                        .collect(),
                    s.value,
                    s.timestamp_ms,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_format_as_prometheus_client_writes_it() {
        let text = r#"# HELP http_requests_total Total HTTP requests.\nSecond line.
# TYPE http_requests_total counter
http_requests_total{method="get",path="/a\"b\\c\nd",} 1027 1395066363000
http_requests_total{method="post"} 3
  # a free comment
go_gc_duration_seconds{quantile="0.5"} 4.2e-05
metric_without_labels +Inf
nan_metric NaN
empty_braces{} -1.5e3
"#;
        let s = samples(text, Format::Text);
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].1[1], ("path".into(), "/a\"b\\c\nd".into()));
        assert_eq!(s[0].3, Some(1395066363000));
        assert_eq!(s[2].2, 4.2e-5);
        assert_eq!(s[3].2, f64::INFINITY);
        assert!(s[4].2.is_nan());
        assert_eq!(s[5].2, -1500.0);
        let e = parse(text, Format::Text).unwrap();
        assert_eq!(
            e[0],
            Entry::Help {
                metric: "http_requests_total".into(),
                text: "Total HTTP requests.\nSecond line.".into()
            }
        );
        assert_eq!(
            e[1],
            Entry::Type {
                metric: "http_requests_total".into(),
                kind: MetricType::Counter
            }
        );
        let Entry::Sample(first) = &e[2] else {
            panic!()
        };
        assert_eq!(
            first.series,
            r#"http_requests_total{method="get",path="/a\"b\\c\nd",}"#
        );
    }

    #[test]
    fn openmetrics_needs_eof_and_converts_seconds() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total 17.0 1520879607.789 # {id=\"x\"} 1\nfoo_created 1520430000.123\n# EOF\n";
        let s = samples(text, Format::OpenMetrics);
        assert_eq!(s[0].3, Some(1520879607789));
        assert_eq!(s[0].2, 17.0);
        let e = parse("foo 1\n", Format::OpenMetrics).unwrap_err();
        assert!(e.message.contains("# EOF"), "{e}");
        assert!(parse("# EOF\nfoo 1\n", Format::OpenMetrics).is_err());
    }

    #[test]
    fn utf8_names_quoted_in_braces() {
        let s = samples("{\"my.metric\", \"some.label\"=\"v\"} 1\n", Format::Text);
        assert_eq!(s[0].0, "my.metric");
        assert_eq!(s[0].1, vec![("some.label".to_string(), "v".to_string())]);
    }

    #[test]
    fn malformed_lines_fail_with_their_line_number() {
        for (text, want) in [
            ("ok 1\nbad{a=\"b\" 1\n", "line 2"),
            ("m{a=b} 1", "quoted value"),
            ("m 1 2 3", "unexpected"),
            ("m abc", "invalid value"),
            ("m{a=\"1\",a=\"2\"} 1", "duplicate label"),
            ("1m 1", "invalid metric name"),
            ("m{a=\"x} 1", "unterminated"),
            ("# TYPE m strange", "invalid metric type"),
            ("m 1 12.5", "invalid timestamp"),
            ("<html>", "invalid metric name"),
        ] {
            let e = parse(text, Format::Text).unwrap_err();
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain; version=0.0.4")),
            Format::Text
        );
        assert_eq!(Format::from_content_type(None), Format::Text);
    }
}
