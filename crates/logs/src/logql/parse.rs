//! The LogQL parser: a recursive descent over the text, following the grammar of Loki's
//! `pkg/logql/syntax` for the parts Pharos evaluates, so every error names the byte where
//! it went wrong. What Loki has and Pharos does not (`rate_counter`, `|>` pattern filters,
//! `label_replace`, sharding hints) is refused with a message saying so.

use regex::Regex;

use super::literals::{json_path, parse_bytes, parse_duration, parse_pattern, parse_template};

use super::{
    AggregateOp, BinaryOp, CompareOp, Expr, Grouping, LabelPredicate, LabelSelection, LabelSource,
    LineTest, LogExpr, LogqlError, MatchOp, Matcher, MetricExpr, NumberUnit, RangeFunc, Stage,
};

/// How deep parentheses and nested aggregations may go: the parser and the evaluator
/// recurse once per level, and a request must not overflow a worker's stack.
const MAX_NESTING: usize = 32;

pub(super) fn parse(text: &str) -> Result<Expr, LogqlError> {
    let mut p = Parser {
        s: text,
        pos: 0,
        depth: 0,
    };
    p.ws();
    if p.at_end() {
        return Err(
            p.err("the query is empty; start with a stream selector like {service=\"api\"}")
        );
    }
    let expr = p.expr()?;
    p.ws();
    if !p.at_end() {
        return Err(p.err(format!("unexpected {}", p.describe())));
    }
    Ok(expr)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

const RANGE_FUNCS: [(&str, RangeFunc); 14] = [
    ("count_over_time", RangeFunc::CountOverTime),
    ("sum_over_time", RangeFunc::SumOverTime),
    ("avg_over_time", RangeFunc::AvgOverTime),
    ("min_over_time", RangeFunc::MinOverTime),
    ("max_over_time", RangeFunc::MaxOverTime),
    ("first_over_time", RangeFunc::FirstOverTime),
    ("last_over_time", RangeFunc::LastOverTime),
    ("stddev_over_time", RangeFunc::StddevOverTime),
    ("stdvar_over_time", RangeFunc::StdvarOverTime),
    ("quantile_over_time", RangeFunc::QuantileOverTime),
    ("bytes_over_time", RangeFunc::BytesOverTime),
    ("bytes_rate", RangeFunc::BytesRate),
    ("absent_over_time", RangeFunc::AbsentOverTime),
    ("rate", RangeFunc::Rate),
];

const AGGREGATIONS: [(&str, AggregateOp); 9] = [
    ("sum", AggregateOp::Sum),
    ("avg", AggregateOp::Avg),
    ("min", AggregateOp::Min),
    ("max", AggregateOp::Max),
    ("count", AggregateOp::Count),
    ("stddev", AggregateOp::Stddev),
    ("stdvar", AggregateOp::Stdvar),
    ("topk", AggregateOp::Topk),
    ("bottomk", AggregateOp::Bottomk),
];

const UNSUPPORTED_FUNCS: [&str; 5] = [
    "rate_counter",
    "label_replace",
    "sort",
    "sort_desc",
    "approx_topk",
];

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Whitespace and `#` comments, which Grafana's editor keeps in queries.
    fn ws(&mut self) {
        loop {
            let trimmed = self.rest().trim_start();
            self.pos = self.s.len() - trimmed.len();
            if trimmed.starts_with('#') {
                let end = trimmed.find('\n').unwrap_or(trimmed.len());
                self.pos += end;
            } else {
                break;
            }
        }
    }

    fn err_at(&self, position: usize, message: impl Into<String>) -> LogqlError {
        LogqlError {
            position,
            message: message.into(),
        }
    }

    fn err(&self, message: impl Into<String>) -> LogqlError {
        self.err_at(self.pos, message)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(_) => {
                let shown: String = self.rest().chars().take(12).collect();
                format!("{shown:?}")
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str, what: &str) -> Result<(), LogqlError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.err(format!(
                "expected {token:?} {what}, found {}",
                self.describe()
            )))
        }
    }

    /// An identifier (`[A-Za-z_][A-Za-z0-9_.]*`) at the cursor, not consumed.
    fn peek_ident(&self) -> &'a str {
        let r = self.rest();
        let mut end = 0;
        for (i, c) in r.char_indices() {
            let ok = if i == 0 {
                c.is_ascii_alphabetic() || c == '_'
            } else {
                c.is_ascii_alphanumeric() || c == '_' || c == '.'
            };
            if !ok {
                break;
            }
            end = i + c.len_utf8();
        }
        &r[..end]
    }

    fn ident(&mut self, what: &str) -> Result<String, LogqlError> {
        self.ws();
        let id = self.peek_ident();
        if id.is_empty() {
            return Err(self.err(format!("expected {what}, found {}", self.describe())));
        }
        self.pos += id.len();
        Ok(id.to_string())
    }

    /// A keyword that is a whole word at the cursor (`by`, `and`, `offset`).
    fn eat_word(&mut self, word: &str) -> bool {
        self.ws();
        if self.peek_ident() == word {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn nest(&mut self) -> Result<(), LogqlError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(format!("the query nests deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    // ---- expressions ----

    fn expr(&mut self) -> Result<Expr, LogqlError> {
        self.binary(0)
    }

    /// Precedence climbing: `+ -` < `* / %` < `^` (right-associative).
    fn binary(&mut self, min_prec: u8) -> Result<Expr, LogqlError> {
        let mut lhs = self.unary()?;
        loop {
            self.ws();
            let at = self.pos;
            let Some((op, prec, len)) = self.binary_op() else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.pos += len;
            let next = if op == BinaryOp::Pow { prec } else { prec + 1 };
            self.nest()?;
            let rhs = self.binary(next)?;
            self.depth -= 1;
            let (Expr::Metric(l), Expr::Metric(r)) = (lhs, rhs) else {
                return Err(self.err_at(
                    at,
                    "arithmetic needs metric queries on both sides, not log queries",
                ));
            };
            lhs = Expr::Metric(MetricExpr::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            });
        }
        Ok(lhs)
    }

    fn binary_op(&self) -> Option<(BinaryOp, u8, usize)> {
        let r = self.rest();
        for (tok, op) in [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ] {
            if let Some(after) = r.strip_prefix(tok) {
                let trimmed = after.trim_start();
                let bool_result = trimmed.starts_with("bool")
                    && !trimmed
                        .as_bytes()
                        .get(4)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
                let len = if bool_result {
                    r.len() - trimmed.len() + 4
                } else {
                    tok.len()
                };
                return Some((BinaryOp::Compare { op, bool_result }, 0, len));
            }
        }
        let op = match r.chars().next()? {
            '+' => (BinaryOp::Add, 1),
            '-' => (BinaryOp::Sub, 1),
            '*' => (BinaryOp::Mul, 2),
            '/' => (BinaryOp::Div, 2),
            '%' => (BinaryOp::Mod, 2),
            '^' => (BinaryOp::Pow, 3),
            _ => return None,
        };
        Some((op.0, op.1, 1))
    }

    fn unary(&mut self) -> Result<Expr, LogqlError> {
        self.ws();
        if self.peek() == Some('-') {
            let at = self.pos;
            self.pos += 1;
            self.ws();
            if let Some(n) = self.number_literal() {
                return Ok(Expr::Metric(MetricExpr::Number(-n)));
            }
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            let Expr::Metric(m) = inner else {
                return Err(self.err_at(at, "`-` needs a metric query"));
            };
            return Ok(Expr::Metric(MetricExpr::Binary {
                op: BinaryOp::Mul,
                lhs: Box::new(MetricExpr::Number(-1.0)),
                rhs: Box::new(m),
            }));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, LogqlError> {
        self.ws();
        let at = self.pos;
        match self.peek() {
            None => return Err(self.err("unexpected end of query")),
            Some('{') => return Ok(Expr::Log(self.log_expr()?)),
            Some('(') => {
                self.pos += 1;
                self.nest()?;
                let inner = self.expr()?;
                self.depth -= 1;
                self.expect(")", "to close `(`")?;
                if let Expr::Log(mut l) = inner {
                    // `({a="b"} |= "x") | json` is a log query too.
                    l.stages.extend(self.stages()?);
                    return Ok(Expr::Log(l));
                }
                return Ok(inner);
            }
            _ => {}
        }
        if let Some(n) = self.number_literal() {
            return Ok(Expr::Metric(MetricExpr::Number(n)));
        }
        let name = self.peek_ident();
        if name.is_empty() {
            return Err(self.err(format!(
                "expected a stream selector, a function or a number, found {}",
                self.describe()
            )));
        }
        if let Some((_, f)) = RANGE_FUNCS.iter().find(|(n, _)| *n == name) {
            self.pos += name.len();
            return Ok(Expr::Metric(self.range_aggregation(*f)?));
        }
        if let Some((_, op)) = AGGREGATIONS.iter().find(|(n, _)| *n == name) {
            self.pos += name.len();
            return Ok(Expr::Metric(self.aggregation(*op, at)?));
        }
        if name == "vector" {
            self.pos += name.len();
            self.expect("(", "after vector")?;
            self.ws();
            let n = self
                .number_literal()
                .ok_or_else(|| self.err("vector() takes a number"))?;
            self.expect(")", "to close vector(")?;
            return Ok(Expr::Metric(MetricExpr::Vector(n)));
        }
        if UNSUPPORTED_FUNCS.contains(&name) {
            return Err(self.err(format!("{name} is not supported by Pharos")));
        }
        Err(self.err(format!("unknown function or keyword {name:?}")))
    }

    fn number_literal(&mut self) -> Option<f64> {
        let r = self.rest();
        let end = r
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_digit()
                    || *c == '.'
                    || ((*c == 'e' || *c == 'E') && *i > 0)
                    || ((*c == '+' || *c == '-')
                        && *i > 0
                        && matches!(r.as_bytes()[i - 1], b'e' | b'E')))
            })
            .map(|(i, _)| i)
            .unwrap_or(r.len());
        if end == 0 || !r.as_bytes()[0].is_ascii_digit() {
            return None;
        }
        // `5m` is a duration, not the number 5.
        if r[end..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        let n = r[..end].parse::<f64>().ok()?;
        self.pos += end;
        Some(n)
    }

    fn range_aggregation(&mut self, func: RangeFunc) -> Result<MetricExpr, LogqlError> {
        self.expect("(", "after the function name")?;
        self.nest()?;
        let param = if func == RangeFunc::QuantileOverTime {
            self.ws();
            let q = self.number_literal().ok_or_else(|| {
                self.err("quantile_over_time takes φ first: quantile_over_time(0.99, …)")
            })?;
            self.expect(",", "after φ")?;
            Some(q)
        } else {
            None
        };
        let mut parens = 0;
        while self.eat("(") {
            parens += 1;
        }
        self.ws();
        if self.peek() != Some('{') {
            return Err(self.err(format!(
                "expected a stream selector inside the range function, found {}",
                self.describe()
            )));
        }
        let selector = self.selector()?;
        let mut stages = self.stages()?;
        let mut range = None;
        if self.eat("[") {
            range = Some(self.range_duration()?);
            stages.extend(self.stages()?);
        }
        for _ in 0..parens {
            self.expect(")", "to close `(`")?;
            stages.extend(self.stages()?);
        }
        if range.is_none() {
            self.ws();
            if self.eat("[") {
                range = Some(self.range_duration()?);
            }
        }
        let Some(range_ns) = range else {
            return Err(self.err("a range function needs a range, like count_over_time({…}[5m])"));
        };
        let mut offset_ns = 0;
        if self.eat_word("offset") {
            self.ws();
            offset_ns = self.duration()?;
        }
        self.expect(")", "to close the range function")?;
        self.depth -= 1;
        let unwraps = stages
            .iter()
            .filter(|s| matches!(s, Stage::Unwrap { .. }))
            .count();
        if func.over_values() && unwraps != 1 {
            return Err(
                self.err("this range function needs one `| unwrap <label>` before the range")
            );
        }
        if !func.over_values() && unwraps > 0 {
            return Err(self.err("unwrap goes with the functions over values (sum_over_time, avg_over_time, …), not with this one"));
        }
        let grouping = if func.over_values() {
            self.grouping()?
        } else {
            None
        };
        Ok(MetricExpr::Range {
            func,
            log: LogExpr { selector, stages },
            range_ns,
            offset_ns,
            param,
            grouping,
        })
    }

    /// `5m]`.
    fn range_duration(&mut self) -> Result<i64, LogqlError> {
        self.ws();
        let d = self.duration()?;
        if d <= 0 {
            return Err(self.err("the range must be longer than zero"));
        }
        self.expect("]", "to close the range")?;
        Ok(d)
    }

    /// A Prometheus duration (`5m`, `1h30m`, `250ms`), in nanoseconds.
    fn duration(&mut self) -> Result<i64, LogqlError> {
        let at = self.pos;
        let r = self.rest();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(r.len());
        let text = &r[..end];
        let ns = parse_duration(text).ok_or_else(|| {
            self.err_at(at, format!("{text:?} is not a duration like 5m, 1h or 30s"))
        })?;
        self.pos += end;
        Ok(ns)
    }

    fn aggregation(&mut self, op: AggregateOp, at: usize) -> Result<MetricExpr, LogqlError> {
        let mut grouping = self.grouping()?;
        self.expect("(", "after the aggregation")?;
        self.nest()?;
        let param = if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
            self.ws();
            let n = self
                .number_literal()
                .ok_or_else(|| self.err("topk and bottomk take a count first: topk(5, …)"))?;
            if n < 1.0 || n.fract() != 0.0 {
                return Err(self.err_at(at, "the count of topk / bottomk is a whole number ≥ 1"));
            }
            self.expect(",", "after the count")?;
            Some(n)
        } else {
            None
        };
        let inner = match self.expr()? {
            Expr::Metric(m) => m,
            Expr::Log(_) => {
                return Err(self.err_at(
                    at,
                    "an aggregation needs a metric query inside, like sum(count_over_time({…}[5m]))",
                ));
            }
        };
        self.expect(")", "to close the aggregation")?;
        self.depth -= 1;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Aggregate {
            op,
            param,
            grouping,
            inner: Box::new(inner),
        })
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, LogqlError> {
        let without = if self.eat_word("by") {
            false
        } else if self.eat_word("without") {
            true
        } else {
            return Ok(None);
        };
        self.expect("(", "after by / without")?;
        let mut labels = Vec::new();
        loop {
            if self.eat(")") {
                break;
            }
            labels.push(self.ident("a label name")?);
            if !self.eat(",") {
                self.expect(")", "to close the label list")?;
                break;
            }
        }
        Ok(Some(Grouping { without, labels }))
    }

    // ---- log queries ----

    fn log_expr(&mut self) -> Result<LogExpr, LogqlError> {
        let selector = self.selector()?;
        let stages = self.stages()?;
        Ok(LogExpr { selector, stages })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, LogqlError> {
        self.ws();
        let open = self.pos;
        self.expect("{", "to start the stream selector")?;
        let mut out = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            if self.at_end() {
                return Err(self.err_at(open, "`{` is never closed"));
            }
            out.push(self.matcher()?);
            if !self.eat(",") {
                self.expect("}", "to close the stream selector")?;
                break;
            }
        }
        Ok(out)
    }

    fn matcher(&mut self) -> Result<Matcher, LogqlError> {
        let name = self.ident("a label name")?;
        self.ws();
        let op = self.match_op().ok_or_else(|| {
            self.err(format!(
                "expected =, !=, =~ or !~ after {name:?}, found {}",
                self.describe()
            ))
        })?;
        self.ws();
        let (value, at) = self.string()?;
        self.make_matcher(name, op, value, at)
    }

    fn match_op(&mut self) -> Option<MatchOp> {
        for (tok, op) in [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::Nre),
            ("!=", MatchOp::Ne),
            ("==", MatchOp::Eq),
            ("=", MatchOp::Eq),
        ] {
            if self.rest().starts_with(tok) {
                self.pos += tok.len();
                return Some(op);
            }
        }
        None
    }

    fn make_matcher(
        &self,
        name: String,
        op: MatchOp,
        value: String,
        at: usize,
    ) -> Result<Matcher, LogqlError> {
        let regex = match op {
            MatchOp::Re | MatchOp::Nre => {
                Some(self.regex(&format!("^(?:{value})$"), &value, at)?)
            }
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    fn regex(&self, pattern: &str, shown: &str, at: usize) -> Result<Regex, LogqlError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("").trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                self.err_at(at, format!("invalid regex {shown:?}: {last}"))
            })
    }

    /// `"…"` with Go's escapes, or `` `…` `` taken as written.
    fn string(&mut self) -> Result<(String, usize), LogqlError> {
        self.ws();
        let at = self.pos;
        let Some(quote) = self.peek().filter(|c| *c == '"' || *c == '`') else {
            return Err(self.err(format!(
                "expected a quoted string, found {}",
                self.describe()
            )));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        loop {
            match chars.next() {
                None => return Err(self.err_at(at, "string is never closed")),
                Some((i, c)) if c == quote => {
                    self.pos += i + 1;
                    return Ok((out, at));
                }
                Some((_, '\\')) if quote == '"' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, c)) => {
                        // Go's parser refuses unknown escapes; Loki users write `\.` in
                        // regexes with backticks, so keep it as written instead.
                        out.push('\\');
                        out.push(c);
                    }
                    None => return Err(self.err_at(at, "string is never closed")),
                },
                Some((_, c)) => out.push(c),
            }
        }
    }

    fn stages(&mut self) -> Result<Vec<Stage>, LogqlError> {
        let mut out = Vec::new();
        loop {
            self.ws();
            let r = self.rest();
            let line_op = [
                ("|=", false, false),
                ("!=", true, false),
                ("|~", false, true),
                ("!~", true, true),
            ]
            .into_iter()
            .find(|(tok, _, _)| r.starts_with(tok));
            if let Some((_, negated, regex)) = line_op {
                self.pos += 2;
                out.push(self.line_filter(negated, regex)?);
                continue;
            }
            if r.starts_with("|>") || r.starts_with("!>") {
                return Err(
                    self.err("pattern line filters (|> and !>) are not supported by Pharos")
                );
            }
            if r.starts_with('|') {
                self.pos += 1;
                out.push(self.stage()?);
                continue;
            }
            return Ok(out);
        }
    }

    fn line_filter(&mut self, negated: bool, regex: bool) -> Result<Stage, LogqlError> {
        let mut tests = Vec::new();
        loop {
            self.ws();
            if self.peek_ident() == "ip" {
                return Err(self.err("ip() line filters are not supported by Pharos"));
            }
            let (text, at) = self.string()?;
            tests.push(if regex {
                LineTest::Regex(self.regex(&text, &text, at)?)
            } else {
                LineTest::Contains(text)
            });
            if !self.eat_word("or") {
                break;
            }
        }
        Ok(Stage::LineFilter { negated, tests })
    }

    fn stage(&mut self) -> Result<Stage, LogqlError> {
        self.ws();
        let at = self.pos;
        let word = self.peek_ident();
        let after = &self.rest()[word.len()..];
        // `| level="x"` is a label filter even though `level` is not a keyword; a keyword
        // is followed by something other than a comparison.
        let comparison_follows = after.trim_start().starts_with(['=', '!', '>', '<']);
        if comparison_follows || word.is_empty() || self.rest().starts_with('(') {
            return Ok(Stage::LabelFilter(self.label_predicate()?));
        }
        self.pos += word.len();
        match word {
            "json" => Ok(Stage::Json(self.json_params()?)),
            "logfmt" => {
                // Flags change error handling in Loki; the pairs read are the same.
                while self.eat("--strict") || self.eat("--keep-empty") {}
                let params = self
                    .extraction_params()?
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect::<Vec<_>>();
                let params = params
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if v.is_empty() { k.clone() } else { v };
                        (k, v)
                    })
                    .collect();
                Ok(Stage::Logfmt(params))
            }
            "regexp" => {
                let (text, at) = self.string()?;
                let re = self.regex(&text, &text, at)?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(self.err_at(at, "regexp needs at least one named group, like (?P<status>\\d+)"));
                }
                Ok(Stage::Regexp(re))
            }
            "pattern" => {
                let (text, at) = self.string()?;
                Ok(Stage::Pattern(parse_pattern(&text).map_err(|m| self.err_at(at, m))?))
            }
            "line_format" => {
                let (text, at) = self.string()?;
                Ok(Stage::LineFormat(parse_template(&text).map_err(|m| self.err_at(at, m))?))
            }
            "label_format" => {
                let mut out = Vec::new();
                loop {
                    let dst = self.ident("a label name")?;
                    self.expect("=", "after the label name")?;
                    self.ws();
                    let src = if matches!(self.peek(), Some('"') | Some('`')) {
                        let (text, at) = self.string()?;
                        LabelSource::Template(parse_template(&text).map_err(|m| self.err_at(at, m))?)
                    } else {
                        LabelSource::Rename(self.ident("a label name")?)
                    };
                    out.push((dst, src));
                    if !self.eat(",") {
                        break;
                    }
                }
                Ok(Stage::LabelFormat(out))
            }
            "drop" => Ok(Stage::Drop(self.label_selections()?)),
            "keep" => Ok(Stage::Keep(self.label_selections()?)),
            "decolorize" => Ok(Stage::Decolorize),
            "unwrap" => {
                let first = self.ident("a label name")?;
                let (label, unit) = match first.as_str() {
                    "duration" | "duration_seconds" | "bytes" if self.eat("(") => {
                        let label = self.ident("a label name")?;
                        self.expect(")", "to close the conversion")?;
                        let unit = if first == "bytes" {
                            NumberUnit::Bytes
                        } else {
                            NumberUnit::Duration
                        };
                        (label, unit)
                    }
                    _ => (first, NumberUnit::Plain),
                };
                Ok(Stage::Unwrap { label, unit })
            }
            "unpack" => Err(self.err_at(at, "unpack is not supported by Pharos")),
            other => Err(self.err_at(
                at,
                format!("unknown pipeline stage {other:?} (json, logfmt, regexp, pattern, line_format, label_format, drop, keep, decolorize, or a label filter)"),
            )),
        }
    }

    fn json_params(&mut self) -> Result<Vec<(String, Vec<String>)>, LogqlError> {
        self.extraction_params()?
            .into_iter()
            .map(|(name, path)| {
                let path = path.unwrap_or_else(|| name.clone());
                Ok((name, json_path(&path)))
            })
            .collect()
    }

    /// `a, b="expr"` after json / logfmt, or nothing.
    fn extraction_params(&mut self) -> Result<Vec<(String, Option<String>)>, LogqlError> {
        let mut out = Vec::new();
        self.ws();
        if self.peek_ident().is_empty() || self.keyword_stage_follows() {
            return Ok(out);
        }
        loop {
            let name = self.ident("a label name")?;
            let value = if self.eat("=") {
                Some(self.string()?.0)
            } else {
                None
            };
            out.push((name, value));
            if !self.eat(",") {
                break;
            }
        }
        Ok(out)
    }

    /// After `json` / `logfmt`, a word like `offset` belongs to what follows.
    fn keyword_stage_follows(&self) -> bool {
        matches!(
            self.peek_ident(),
            "offset" | "by" | "without" | "or" | "and"
        )
    }

    fn label_selections(&mut self) -> Result<Vec<LabelSelection>, LogqlError> {
        let mut out = Vec::new();
        loop {
            let name = self.ident("a label name")?;
            self.ws();
            let at = self.pos;
            if let Some(op) = self.match_op() {
                let (value, vat) = self.string()?;
                out.push(LabelSelection::Matcher(
                    self.make_matcher(name, op, value, vat)?,
                ));
                let _ = at;
            } else {
                out.push(LabelSelection::Name(name));
            }
            if !self.eat(",") {
                break;
            }
        }
        Ok(out)
    }

    /// `a > 1 and (b="x" or c=~"y")`; `,` and a space also mean `and`.
    fn label_predicate(&mut self) -> Result<LabelPredicate, LogqlError> {
        let mut lhs = self.label_and()?;
        while self.eat_word("or") {
            let rhs = self.label_and()?;
            lhs = LabelPredicate::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_and(&mut self) -> Result<LabelPredicate, LogqlError> {
        let mut lhs = self.label_atom()?;
        loop {
            if self.eat_word("and") || self.eat(",") {
                let rhs = self.label_atom()?;
                lhs = LabelPredicate::And(Box::new(lhs), Box::new(rhs));
                continue;
            }
            return Ok(lhs);
        }
    }

    fn label_atom(&mut self) -> Result<LabelPredicate, LogqlError> {
        self.ws();
        if self.eat("(") {
            self.nest()?;
            let inner = self.label_predicate()?;
            self.depth -= 1;
            self.expect(")", "to close `(`")?;
            return Ok(inner);
        }
        let name = self.ident("a label name")?;
        self.ws();
        let at = self.pos;
        for (tok, op) in [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ] {
            if self.rest().starts_with(tok) {
                self.pos += tok.len();
                return self.numeric_filter(name, op);
            }
        }
        let Some(op) = self.match_op() else {
            return Err(self.err_at(
                at,
                format!(
                    "expected a comparison after {name:?}, found {}",
                    self.describe()
                ),
            ));
        };
        self.ws();
        if matches!(self.peek(), Some('"') | Some('`')) {
            let (value, vat) = self.string()?;
            return Ok(LabelPredicate::String(
                self.make_matcher(name, op, value, vat)?,
            ));
        }
        let cmp = match op {
            MatchOp::Eq => CompareOp::Eq,
            MatchOp::Ne => CompareOp::Ne,
            _ => return Err(self.err("=~ and !~ take a quoted regex")),
        };
        self.numeric_filter(name, cmp)
    }

    fn numeric_filter(
        &mut self,
        name: String,
        op: CompareOp,
    ) -> Result<LabelPredicate, LogqlError> {
        self.ws();
        let at = self.pos;
        let r = self.rest();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(r.len());
        let text = &r[..end];
        let (value, unit) = if let Ok(n) = text.parse::<f64>() {
            (n, NumberUnit::Plain)
        } else if let Some(ns) = parse_duration(text) {
            (ns as f64 / 1e9, NumberUnit::Duration)
        } else if let Some(b) = parse_bytes(text) {
            (b, NumberUnit::Bytes)
        } else {
            return Err(self.err_at(
                at,
                format!("{text:?} is not a number, a duration (1.5s) or a size (10KB)"),
            ));
        };
        self.pos += end;
        Ok(LabelPredicate::Number {
            name,
            op,
            value,
            unit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(q: &str) -> Expr {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn selectors_and_line_filters_parse() {
        let Expr::Log(l) = parse_ok(
            r#"{service="api", level=~"error|warning"} |= "timeout" != `retry` |~ "\\d+""#,
        ) else {
            panic!("not a log query")
        };
        assert_eq!(l.selector.len(), 2);
        assert_eq!(l.selector[1].op, MatchOp::Re);
        assert!(l.selector[1].holds("error"));
        assert!(!l.selector[1].holds("errors"), "label regexes are anchored");
        assert_eq!(l.stages.len(), 3);
    }

    #[test]
    fn parsers_label_filters_and_formats_parse() {
        let Expr::Log(l) = parse_ok(
            r#"{service="api"} | json | status >= 500 and method="GET" or duration > 1.5s | logfmt | line_format "{{.method}} {{ .path }}" | drop __error__, __error_details__"#,
        ) else {
            panic!()
        };
        assert_eq!(l.stages.len(), 5);
        assert!(matches!(
            l.stages[1],
            Stage::LabelFilter(LabelPredicate::Or(..))
        ));
    }

    #[test]
    fn metric_queries_parse() {
        for q in [
            r#"sum by (level) (count_over_time({service="x"}[1m]))"#,
            r#"sum(count_over_time({service="x"} | drop __error__ [30s])) by (level)"#,
            r#"topk(3, sum by (service) (rate({level="error"}[5m])))"#,
            r#"bytes_rate({service="x"} |= "a" [1h] offset 5m)"#,
            "vector(1)+vector(1)",
            r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(took) [5m]) by (host)"#,
            r#"avg_over_time({a="b"} | logfmt | unwrap bytes(size) | __error__="" [1m])"#,
            r#"sum(rate({a="b"}[1m])) * 60"#,
            r#"sum(rate({a="b"}[1m])) > 0.5"#,
            r#"count_over_time({a="b"}[1m]) > bool 2 * 3"#,
        ] {
            assert!(matches!(parse_ok(q), Expr::Metric(_)), "{q}");
        }
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse(r#"{service="x"} | bogus"#).unwrap_err();
        assert_eq!(e.position, 16);
        assert!(e.message.contains("bogus"), "{e}");
        let e = parse(r#"count_over_time({service="x"})"#).unwrap_err();
        assert!(e.message.contains("range"), "{e}");
        let e = parse(r#"{service="x""#).unwrap_err();
        assert!(
            e.message.contains("never closed") || e.message.contains("expected"),
            "{e}"
        );
        assert!(
            parse(r#"sum_over_time({a="b"} [1m])"#).is_err(),
            "needs unwrap"
        );
        assert!(parse(r#"count_over_time({a="b"} | unwrap x [1m])"#).is_err());
        assert!(parse(r#"rate_counter({a="b"} | unwrap x [1m])"#).is_err());
        assert!(parse(&"(".repeat(100)).is_err());
    }

    /// Every prefix of real queries, and each with a byte dropped, parses or errors; none
    /// panics (half a string, half an operator, a multi-byte character cut).
    #[test]
    fn truncated_and_mangled_queries_never_panic() {
        let queries = [
            r#"sum by (level) (count_over_time({service="ü", level=~"a|b"} |= "x" or "é" | json a="b.c[0]" | logfmt --strict | s >= 1.5s and t < 10KB | line_format "{{.a}}é" | label_format x=y, z="{{ .a }}" | drop a, b="c" | keep q [5m] offset 1h)) * 2 ^ -1"#,
            r#"topk(3, bytes_rate({a!~`\d+`} !~ "q" | pattern "<a> - <_> «<b>»" | regexp "(?P<n>.)" | decolorize [1m])) / vector(0)"#,
        ];
        for q in queries {
            for (i, _) in q.char_indices() {
                let _ = parse(&q[..i]);
                let mut dropped = q[..i].to_string();
                dropped.push_str(&q[i + q[i..].chars().next().map_or(0, char::len_utf8)..]);
                let _ = parse(&dropped);
            }
            parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }
}
