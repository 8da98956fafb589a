//! The function library rule templates call: Go's `text/template` built-ins (`printf`,
//! `eq`, `lt`, `and`, `len`, `index`, …) and Prometheus's (`humanize*`, `query`, `first`,
//! `label`, `value`, `reReplaceAll`, `title`, `toUpper`, …), looked up by name.

use crate::Host;
use crate::error::FuncError;
use crate::format::{go_float, go_sprint, go_sprintf};
use crate::humanize::{go_duration, go_time, humanize, humanize_duration, humanize1024};
use crate::text::{html_escape, js_escape, query_escape, split_host_port, strip_domain, title};
use crate::value::Value;

/// What functions may reach outside the template.
pub(crate) struct Funcs<'a> {
    pub(crate) host: &'a dyn Host,
    pub(crate) external_url: &'a str,
}

const FUNCTIONS: &[&str] = &[
    // Go text/template.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "call",
    // Prometheus.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
    "now",
    // Alertmanager's notification templates.
    "join",
    "toJson",
];

pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::Arity {
            name: name.to_string(),
            want: n,
            got: args.len(),
        });
    }
    Ok(())
}

fn string_arg(v: &Value) -> Result<String, FuncError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(FuncError::WrongType {
            expected: "string",
            got: other.type_name(),
        }),
    }
}

/// Prometheus's `convertToFloat`: numbers, and strings that parse as one.
fn to_float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| FuncError::ParseFloat(s.clone())),
        other => Err(FuncError::NotNumber(other.type_name())),
    }
}

fn sample_field<'v>(v: &'v Value, field: &str) -> Result<&'v Value, FuncError> {
    match v {
        Value::Struct(s) => s
            .get(field)
            .ok_or_else(|| FuncError::NoField(field.to_string())),
        other => Err(FuncError::WrongType {
            expected: "*template.sample",
            got: other.type_name(),
        }),
    }
}

pub(crate) fn call(name: &str, args: Vec<Value>, f: &Funcs<'_>) -> Result<Value, FuncError> {
    match name {
        "and" => Ok(args
            .iter()
            .find(|a| !a.truth())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil)),
        "or" => Ok(args
            .iter()
            .find(|a| a.truth())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil)),
        "not" => {
            arity(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "len" => {
            arity(name, &args, 1)?;
            Ok(Value::Int(match &args[0] {
                Value::Str(s) => s.len(),
                Value::Map(m) => m.len(),
                Value::List(l) => l.len(),
                other => return Err(FuncError::Len(other.type_name())),
            } as i64))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err(FuncError::NoArgs("index"));
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Map(m), Value::Str(k)) => {
                        Value::Str(m.get(k).cloned().unwrap_or_default())
                    }
                    (Value::List(l), Value::Int(i)) => l
                        .get(
                            usize::try_from(*i)
                                .map_err(|_| FuncError::IndexOutOfRange(i.to_string()))?,
                        )
                        .cloned()
                        .ok_or_else(|| FuncError::IndexOutOfRange(i.to_string()))?,
                    (v, k) => {
                        return Err(FuncError::CantIndex {
                            item: v.type_name(),
                            key: k.type_name(),
                        });
                    }
                };
            }
            Ok(v)
        }
        "slice" => {
            let Some((first, idx)) = args.split_first() else {
                return Err(FuncError::NoArgs("slice"));
            };
            let bound = |i: usize, len: usize| -> Result<usize, FuncError> {
                match idx.get(i) {
                    None => Ok(if i == 0 { 0 } else { len }),
                    Some(Value::Int(n)) if *n >= 0 && (*n as usize) <= len => Ok(*n as usize),
                    Some(v) => Err(FuncError::IndexOutOfRange(v.to_string())),
                }
            };
            match first {
                Value::Str(s) => {
                    let (a, b) = (bound(0, s.len())?, bound(1, s.len())?);
                    s.get(a..b)
                        .map(|x| Value::Str(x.to_string()))
                        .ok_or(FuncError::InvalidSliceIndex)
                }
                Value::List(l) => {
                    let (a, b) = (bound(0, l.len())?, bound(1, l.len())?);
                    l.get(a..b)
                        .map(|x| Value::List(x.to_vec()))
                        .ok_or(FuncError::InvalidSliceIndex)
                }
                other => Err(FuncError::CantSlice(other.type_name())),
            }
        }
        "print" => Ok(Value::Str(go_sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Ok(Value::Str(parts.join(" ") + "\n"))
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err(FuncError::NoArgs("printf"));
            };
            Ok(Value::Str(go_sprintf(&string_arg(fmt)?, rest)))
        }
        "eq" => {
            if args.len() < 2 {
                return Err(FuncError::MissingComparand);
            }
            for other in &args[1..] {
                if compare(&args[0], other)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            if name != "ne" && matches!(args[0], Value::Bool(_)) {
                return Err(FuncError::InvalidComparison);
            }
            let o = compare(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "html" => Ok(Value::Str(html_escape(&go_sprint(&args)))),
        "js" => Ok(Value::Str(js_escape(&go_sprint(&args)))),
        "urlquery" => Ok(Value::Str(query_escape(&go_sprint(&args)))),
        "call" => Err(FuncError::CallUnsupported),
        "query" => {
            arity(name, &args, 1)?;
            let q = string_arg(&args[0])?;
            let samples = f.host.query(&q).map_err(FuncError::Query)?;
            Ok(Value::List(
                samples
                    .into_iter()
                    .map(|(l, v)| Value::sample(l, v))
                    .collect(),
            ))
        }
        "first" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::List(l) => l.first().cloned().ok_or(FuncError::EmptyVector),
                other => Err(FuncError::WrongType {
                    expected: "template.queryResult",
                    got: other.type_name(),
                }),
            }
        }
        "label" => {
            arity(name, &args, 2)?;
            let l = string_arg(&args[0])?;
            match sample_field(&args[1], "Labels")? {
                Value::Map(m) => Ok(Value::Str(m.get(&l).cloned().unwrap_or_default())),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "value" => {
            arity(name, &args, 1)?;
            sample_field(&args[0], "Value").cloned()
        }
        "strvalue" => {
            arity(name, &args, 1)?;
            match sample_field(&args[0], "Labels")? {
                Value::Map(m) => Ok(Value::Str(m.get("__value__").cloned().unwrap_or_default())),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "args" => Ok(Value::Map(
            args.iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a.to_string()))
                .collect(),
        )),
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            let (pattern, repl, text) = (
                string_arg(&args[0])?,
                string_arg(&args[1])?,
                string_arg(&args[2])?,
            );
            let re = regex::Regex::new(&pattern)?;
            Ok(Value::Str(
                re.replace_all(&text, repl.as_str()).into_owned(),
            ))
        }
        "match" => {
            arity(name, &args, 2)?;
            let re = regex::Regex::new(&string_arg(&args[0])?)?;
            Ok(Value::Bool(re.is_match(&string_arg(&args[1])?)))
        }
        "safeHtml" | "toUpper" | "toLower" | "title" | "stripPort" | "stripDomain" => {
            arity(name, &args, 1)?;
            let s = string_arg(&args[0])?;
            Ok(Value::Str(match name {
                "toUpper" => s.to_uppercase(),
                "toLower" => s.to_lowercase(),
                "title" => title(&s),
                "stripPort" => split_host_port(&s).map_or(s.clone(), |(h, _)| h),
                "stripDomain" => strip_domain(&s),
                _ => s,
            }))
        }
        "graphLink" | "tableLink" => {
            arity(name, &args, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab={tab}",
                query_escape(&string_arg(&args[0])?)
            )))
        }
        "sortByLabel" => {
            arity(name, &args, 2)?;
            let l = string_arg(&args[0])?;
            let Value::List(mut items) = args[1].clone() else {
                return Err(FuncError::SortNeedsQueryResult);
            };
            let key = |v: &Value| match sample_field(v, "Labels") {
                Ok(Value::Map(m)) => m.get(&l).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            items.sort_by_key(key);
            Ok(Value::List(items))
        }
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" | "toDuration" => {
            arity(name, &args, 1)?;
            let v = to_float(&args[0])?;
            Ok(Value::Str(match name {
                "humanize" => humanize(v),
                "humanize1024" => humanize1024(v),
                "humanizeDuration" => humanize_duration(v),
                "humanizePercentage" => format!("{}%", go_float(v * 100.0, 'g', Some(4))),
                "toDuration" => go_duration(v),
                _ => {
                    if v.is_nan() || v.is_infinite() {
                        if name == "toTime" {
                            return Err(FuncError::InvalidTimestamp(go_float(v, 'g', None)));
                        }
                        go_float(v, 'g', Some(4))
                    } else {
                        go_time(v)?
                    }
                }
            }))
        }
        "pathPrefix" => {
            let url = f.external_url;
            let path = url
                .split_once("://")
                .map(|(_, rest)| rest.find('/').map_or("", |i| &rest[i..]))
                .unwrap_or("");
            Ok(Value::Str(path.trim_end_matches('/').to_string()))
        }
        "externalURL" => Ok(Value::Str(f.external_url.to_string())),
        "parseDuration" => {
            arity(name, &args, 1)?;
            let s = string_arg(&args[0])?;
            let d: pharos_model::HumanDuration = s.parse()?;
            Ok(Value::Float(d.as_duration().as_secs_f64()))
        }
        "now" => Ok(Value::Float(f.host.now())),
        "join" => {
            // Alertmanager's `join sep list` (`{{ .CommonLabels.Values | join ", " }}`).
            arity(name, &args, 2)?;
            let sep = string_arg(&args[0])?;
            match &args[1] {
                Value::List(l) => Ok(Value::Str(
                    l.iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(&sep),
                )),
                other => Err(FuncError::WrongType {
                    expected: "[]string",
                    got: other.type_name(),
                }),
            }
        }
        "toJson" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(to_json(&args[0])))
        }
        other => Err(FuncError::NotDefined(other.to_string())),
    }
}

/// Go's comparison of basic kinds; other kinds or mixed kinds are errors as in Go.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, FuncError> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Map(_) | Value::List(_) | Value::Struct(_), _)
        | (_, Value::Map(_) | Value::List(_) | Value::Struct(_)) => {
            Err(FuncError::InvalidComparison)
        }
        _ => Err(FuncError::IncompatibleComparison),
    }
}

/// A value as JSON, for templates that write a JSON body (`"summary": {{ toJson .X }}`):
/// strings quoted and escaped, label sets and structs as objects, lists as arrays.
pub(crate) fn to_json(v: &Value) -> String {
    fn string(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => go_float(*f, 'g', None),
        Value::Float(_) => "null".into(),
        Value::Str(s) => string(s),
        Value::Map(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", string(k), string(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Struct(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", string(k), to_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::List(l) => format!("[{}]", l.iter().map(to_json).collect::<Vec<_>>().join(",")),
    }
}
