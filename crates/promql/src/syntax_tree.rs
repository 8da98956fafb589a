//! A parsed query shown back: pretty-printed as `/api/v1/format_query` answers, and as the
//! syntax-tree JSON of Prometheus 3's `/api/v1/parse_query` (the tree its query explain
//! view draws): `{"type": "binaryExpr", "op": "+", "lhs": ..., "rhs": ..., ...}`.

use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, BinaryExpr, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector,
};
use serde_json::{Value, json};

use crate::QueryError;

/// The query as Prometheus's formatter lays it out (one line when it fits in 100
/// characters, else indented by level).
pub fn format_query(query: &str) -> Result<String, QueryError> {
    Ok(crate::parse(query)?.prettify())
}

/// The query's syntax tree in Prometheus's JSON shape.
pub fn parse_query(query: &str) -> Result<Value, QueryError> {
    Ok(tree(&crate::parse(query)?))
}

fn tree(e: &Expr) -> Value {
    match e {
        Expr::Aggregate(a) => {
            let (grouping, without) = match &a.modifier {
                Some(LabelModifier::Include(l)) => (l.labels.clone(), false),
                Some(LabelModifier::Exclude(l)) => (l.labels.clone(), true),
                None => (Vec::new(), false),
            };
            json!({
                "type": "aggregation",
                "op": a.op.to_string(),
                "expr": tree(&a.expr),
                "param": a.param.as_deref().map(tree),
                "grouping": grouping,
                "without": without,
            })
        }
        Expr::Binary(b) => binary(b),
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(value_type).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": value_type(&c.func.return_type),
            },
            "args": c.args.args.iter().map(|a| tree(a)).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut v = selector(&m.vs);
            v["type"] = json!("matrixSelector");
            v["range"] = json!(m.range.as_millis() as i64);
            v
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(&s.at);
            json!({
                "type": "subquery",
                "expr": tree(&s.expr),
                "range": s.range.as_millis() as i64,
                "offset": offset_ms(&s.offset),
                "step": s.step.map(|d| d.as_millis() as i64).unwrap_or(0),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
            })
        }
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": go_float(n.val)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": tree(&p.expr)}),
        // promql-parser keeps a unary minus only; a unary plus is dropped when parsed.
        Expr::Unary(u) => json!({"type": "unaryExpr", "op": "-", "expr": tree(&u.expr)}),
        Expr::VectorSelector(vs) => selector(vs),
        Expr::Extension(_) => Value::Null,
    }
}

fn binary(b: &BinaryExpr) -> Value {
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    // Prometheus gives every operation between two vectors a matching (one-to-one by
    // default, many-to-many for the set operators) and none to the others.
    let both_vectors =
        b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
    let matching = if both_vectors {
        let (card, include) = match b.modifier.as_ref().map(|m| &m.card) {
            _ if b.op.is_set_operator() => ("many-to-many", Vec::new()),
            Some(VectorMatchCardinality::ManyToOne(l)) => ("many-to-one", l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => ("one-to-many", l.labels.clone()),
            Some(VectorMatchCardinality::ManyToMany) => ("many-to-many", Vec::new()),
            Some(VectorMatchCardinality::OneToOne) | None => ("one-to-one", Vec::new()),
        };
        let (labels, on) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (l.labels.clone(), true),
            Some(LabelModifier::Exclude(l)) => (l.labels.clone(), false),
            None => (Vec::new(), false),
        };
        json!({"card": card, "labels": labels, "on": on, "include": include})
    } else {
        Value::Null
    };
    json!({
        "type": "binaryExpr",
        "op": b.op.to_string(),
        "lhs": tree(&b.lhs),
        "rhs": tree(&b.rhs),
        "matching": matching,
        "bool": return_bool,
    })
}

fn selector(vs: &VectorSelector) -> Value {
    let (timestamp, start_or_end) = at(&vs.at);
    json!({
        "type": "vectorSelector",
        "name": vs.name.clone().unwrap_or_default(),
        "offset": offset_ms(&vs.offset),
        "matchers": matchers(&vs.matchers, vs.name.as_deref()),
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
        "anchored": false,
        "smoothed": false,
    })
}

/// The label matchers with the metric name's matcher last, where Prometheus's parser
/// puts it.
fn matchers(m: &Matchers, name: Option<&str>) -> Vec<Value> {
    let mut out: Vec<Value> = m
        .matchers
        .iter()
        .map(|x| json!({"name": x.name, "value": x.value, "type": match_type(&x.op)}))
        .collect();
    if let Some(name) = name {
        out.push(json!({"name": "__name__", "value": name, "type": "="}));
    }
    out
}

fn match_type(op: &MatchOp) -> &'static str {
    match op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    }
}

fn value_type(t: &ValueType) -> String {
    t.to_string()
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}

/// `@ <time>` as Unix ms, or `@ start()` / `@ end()` by name.
fn at(a: &Option<AtModifier>) -> (Value, Value) {
    match a {
        Some(AtModifier::At(t)) => {
            let ms = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            };
            (json!(ms), Value::Null)
        }
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
        None => (Value::Null, Value::Null),
    }
}

/// A number as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_keeps_its_name_matcher_last_as_prometheus_does() {
        let v = parse_query(r#"up{job="api"}[5m] offset 1m"#).unwrap();
        assert_eq!(v["type"], "matrixSelector");
        assert_eq!(v["range"], 300_000);
        assert_eq!(v["offset"], 60_000);
        assert_eq!(
            v["matchers"],
            json!([
                {"name": "job", "value": "api", "type": "="},
                {"name": "__name__", "value": "up", "type": "="}
            ])
        );
    }

    #[test]
    fn operations_between_vectors_have_a_matching_and_others_none() {
        let v = parse_query("a / on(x) group_left(y) b").unwrap();
        assert_eq!(
            v["matching"],
            json!({"card": "many-to-one", "labels": ["x"], "on": true, "include": ["y"]})
        );
        let set = parse_query("a and b").unwrap();
        assert_eq!(set["matching"]["card"], "many-to-many");
        let scalar = parse_query("a > bool 2").unwrap();
        assert_eq!(scalar["matching"], Value::Null);
        assert_eq!(scalar["bool"], true);
    }

    #[test]
    fn aggregations_calls_and_literals() {
        let v = parse_query(r#"topk(3, sum without (i) (rate(x[1m])))"#).unwrap();
        assert_eq!(v["op"], "topk");
        assert_eq!(v["param"], json!({"type": "numberLiteral", "val": "3"}));
        assert_eq!(v["expr"]["grouping"], json!(["i"]));
        assert_eq!(v["expr"]["without"], true);
        let call = &v["expr"]["expr"];
        assert_eq!(call["func"]["name"], "rate");
        assert_eq!(call["func"]["argTypes"], json!(["matrix"]));
        assert_eq!(call["func"]["returnType"], "vector");
    }

    #[test]
    fn a_long_query_is_laid_out_on_several_lines() {
        let q = "sum by (job, instance) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job, instance) (rate(http_requests_total[5m]))";
        let pretty = format_query(q).unwrap();
        assert!(pretty.contains('\n'), "{pretty}");
        assert_eq!(
            format_query("sum(rate(x[5m]))by(a)").unwrap(),
            "sum by (a) (rate(x[5m]))"
        );
    }
}
