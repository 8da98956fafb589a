//! The tree as a tantivy query. Each node becomes either an exact query or a superset
//! of its matches (regexes, order comparisons on built-in fields); when any part is a
//! superset, the store re-checks each candidate with the in-memory matcher, so results
//! never depend on what the index could express.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use super::{FieldName, FilterValue, LogQuery, Node, level_field_value};
use crate::partition::LogSchema;
use crate::settings::CompareOp;
use pharos_model::LogLevel;

pub(crate) struct IndexQuery {
    pub query: Box<dyn Query>,
    /// False when candidates must be re-checked with `LogQuery::matches`.
    pub exact: bool,
}

impl IndexQuery {
    pub(crate) fn build(query: &LogQuery, schema: &LogSchema) -> IndexQuery {
        let (q, exact) = translate(query.root(), schema);
        IndexQuery {
            query: q.unwrap_or_else(|| Box::new(AllQuery)),
            exact,
        }
    }

    /// A tree built by the store itself (retention rules): `All` becomes `AllQuery`.
    pub(crate) fn from_node(node: &Node, schema: &LogSchema) -> Box<dyn Query> {
        translate(node, schema)
            .0
            .unwrap_or_else(|| Box::new(AllQuery))
    }
}

/// `None` stands for "every document" so `And` can drop it instead of intersecting.
type Translated = (Option<Box<dyn Query>>, bool);

fn translate(node: &Node, s: &LogSchema) -> Translated {
    match node {
        Node::All => (None, true),
        Node::Phrase(words) => {
            let terms: Vec<Term> = words
                .iter()
                .map(|w| Term::from_field_text(s.message, w))
                .collect();
            let q: Box<dyn Query> = if terms.len() == 1 {
                Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::Basic))
            } else {
                Box::new(PhraseQuery::new(terms))
            };
            (Some(q), true)
        }
        Node::MessageRegex(re) => (regex_candidates(re.as_str(), s), false),
        Node::FieldRegex { .. } => (None, false),
        Node::Level(cond) => {
            let r = level_field_value(Some(cond.level));
            let lowest = level_field_value(LogLevel::ALL.first().copied());
            let highest = level_field_value(LogLevel::ALL.last().copied());
            let range = |lo: u64, hi: u64| -> Box<dyn Query> {
                if lo > hi {
                    return Box::new(EmptyQuery);
                }
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(s.level, lo)),
                    Bound::Included(Term::from_field_u64(s.level, hi)),
                ))
            };
            let eq = || -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_u64(s.level, r),
                    IndexRecordOption::Basic,
                ))
            };
            let q = match cond.op {
                CompareOp::Eq => eq(),
                CompareOp::Ne => not(eq()),
                CompareOp::Lt => range(lowest, r - 1),
                CompareOp::Le => range(lowest, r),
                CompareOp::Gt => range(r + 1, highest),
                CompareOp::Ge => range(r, highest),
            };
            (Some(q), true)
        }
        Node::Compare { field, op, value } => compare(field, *op, value, s),
        Node::And(parts) => {
            let mut exact = true;
            let mut clauses = Vec::new();
            for p in parts {
                let (q, e) = translate(p, s);
                exact &= e;
                if let Some(q) = q {
                    clauses.push((Occur::Must, q));
                }
            }
            match clauses.len() {
                0 => (None, exact),
                1 => (clauses.pop().map(|(_, q)| q), exact),
                _ => (Some(Box::new(BooleanQuery::new(clauses))), exact),
            }
        }
        Node::Or(parts) => {
            let mut exact = true;
            let mut clauses = Vec::new();
            for p in parts {
                let (q, e) = translate(p, s);
                exact &= e;
                match q {
                    Some(q) => clauses.push((Occur::Should, q)),
                    None => return (None, false),
                }
            }
            (Some(Box::new(BooleanQuery::new(clauses))), exact)
        }
        Node::Not(inner) => match translate(inner, s) {
            (Some(q), true) => (Some(not(q)), true),
            (None, true) => (Some(Box::new(EmptyQuery)), true),
            (_, false) => (None, false),
        },
    }
}

/// Shortest piece of a regex's literal text worth looking up in the term dictionary.
const MIN_LITERAL_RUN: usize = 3;

/// A superset of the lines a message regex can match, from the literal text it requires:
/// `Decimal.*is not JSON` needs terms containing `decimal`, `not` and `json`. Without
/// this a regex reads every line of the range. Each alphanumeric run of a required literal
/// must lie inside some token (the message tokenizer splits on the other characters and
/// lowercases), so each becomes a dictionary scan for terms containing it. `None` when the
/// regex requires no such literal (alternations, classes, case-insensitive text): then
/// every line is a candidate, as before.
fn regex_candidates(pattern: &str, s: &LogSchema) -> Option<Box<dyn Query>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut literals = Vec::new();
    required_literals(&hir, &mut literals);
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for lit in &literals {
        for run in lit
            .split(|c: char| !c.is_alphanumeric())
            .filter(|r| r.chars().count() >= MIN_LITERAL_RUN)
        {
            let term_pattern = format!(".*{}.*", regex_syntax::escape(&run.to_lowercase()));
            if let Ok(q) = RegexQuery::from_pattern(&term_pattern, s.message) {
                clauses.push((Occur::Must, Box::new(q)));
            }
        }
    }
    match clauses.len() {
        0 => None,
        1 => clauses.pop().map(|(_, q)| q),
        _ => Some(Box::new(BooleanQuery::new(clauses))),
    }
}

/// The literal pieces every match of `hir` contains: those of a top-level concatenation
/// (through capture groups), not those under an alternation or a repetition that may be
/// empty.
fn required_literals(hir: &regex_syntax::hir::Hir, out: &mut Vec<String>) {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(lit) => {
            if let Ok(text) = std::str::from_utf8(&lit.0) {
                out.push(text.to_string());
            }
        }
        HirKind::Capture(c) => required_literals(&c.sub, out),
        HirKind::Concat(parts) => {
            // Adjacent literals are one piece of text: `ab` then `c` is `abc`.
            let mut text = String::new();
            for p in parts {
                match p.kind() {
                    HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                        Ok(t) => text.push_str(t),
                        Err(_) => out.push(std::mem::take(&mut text)),
                    },
                    _ => {
                        out.push(std::mem::take(&mut text));
                        required_literals(p, out);
                    }
                }
            }
            out.push(text);
        }
        HirKind::Repetition(r) if r.min > 0 => required_literals(&r.sub, out),
        _ => {}
    }
}

fn not(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery)),
        (Occur::MustNot, q),
    ]))
}

fn builtin_field(field: &FieldName, s: &LogSchema) -> Option<Field> {
    Some(match field {
        FieldName::Service => s.service,
        FieldName::Logger => s.logger,
        FieldName::Host => s.host,
        FieldName::Source => s.source,
        FieldName::TraceId => s.trace_id,
        FieldName::RequestId => s.request_id,
        _ => return None,
    })
}

fn compare(field: &FieldName, op: CompareOp, value: &FilterValue, s: &LogSchema) -> Translated {
    if let Some(f) = builtin_field(field, s) {
        let eq = || -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(f, &value.text),
                IndexRecordOption::Basic,
            ))
        };
        return match op {
            CompareOp::Eq => (Some(eq()), true),
            CompareOp::Ne => (Some(not(eq())), true),
            _ => (None, false),
        };
    }
    let FieldName::Other(path) = field else {
        return (None, false);
    };
    let json_term = || Term::from_field_json_path(s.fields, path, true);
    let number_term = |n: f64| {
        let mut t = json_term();
        t.append_type_and_fast_value(n);
        t
    };
    let eq = || -> Box<dyn Query> {
        let mut text = json_term();
        text.append_type_and_str(&value.text);
        let text: Box<dyn Query> = Box::new(TermQuery::new(text, IndexRecordOption::Basic));
        match value.number {
            Some(n) => Box::new(BooleanQuery::new(vec![
                (Occur::Should, text),
                (
                    Occur::Should,
                    Box::new(RangeQuery::new(
                        Bound::Included(number_term(n)),
                        Bound::Included(number_term(n)),
                    )),
                ),
            ])),
            None => text,
        }
    };
    let Some(n) = value.number else {
        return match op {
            CompareOp::Eq => (Some(eq()), true),
            CompareOp::Ne => (Some(not(eq())), true),
            _ => (Some(Box::new(EmptyQuery)), true),
        };
    };
    let range =
        |lo: Bound<Term>, hi: Bound<Term>| -> Box<dyn Query> { Box::new(RangeQuery::new(lo, hi)) };
    let q = match op {
        CompareOp::Eq => eq(),
        CompareOp::Ne => not(eq()),
        CompareOp::Lt => range(Bound::Unbounded, Bound::Excluded(number_term(n))),
        CompareOp::Le => range(Bound::Unbounded, Bound::Included(number_term(n))),
        CompareOp::Gt => range(Bound::Excluded(number_term(n)), Bound::Unbounded),
        CompareOp::Ge => range(Bound::Included(number_term(n)), Bound::Unbounded),
    };
    (Some(q), true)
}
