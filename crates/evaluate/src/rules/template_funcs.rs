//! The functions rule templates call: Go's `text/template` built-ins (`printf`, `eq`,
//! `lt`, `and`, `len`, `index`, …) and Prometheus's (`humanize*`, `query`, `first`,
//! `label`, `value`, `reReplaceAll`, `title`, `toUpper`, …), with Go's number formatting
//! (`%v` of a float64 is `2.5e+06`, `%.4g` drops trailing zeros) so annotations read the
//! same as Prometheus writes them.

use super::template::{QueryFn, Value};

/// What functions may reach outside the template.
pub struct Funcs<'a> {
    pub query: QueryFn<'a>,
    pub external_url: &'a str,
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
];

pub fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn string_arg(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Prometheus's `convertToFloat`: numbers, and strings that parse as one.
pub fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn sample_field<'v>(v: &'v Value, field: &str) -> Result<&'v Value, String> {
    match v {
        Value::Struct(s) => s
            .get(field)
            .ok_or_else(|| format!("sample has no field {field}")),
        other => Err(format!(
            "wrong type for value; expected *template.sample; got {}",
            other.type_name()
        )),
    }
}

pub fn call(name: &str, args: Vec<Value>, f: &Funcs<'_>) -> Result<Value, String> {
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
                other => return Err(format!("len of type {}", other.type_name())),
            } as i64))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Map(m), Value::Str(k)) => {
                        Value::Str(m.get(k).cloned().unwrap_or_default())
                    }
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(*i).map_err(|_| format!("index out of range: {i}"))?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    (v, k) => {
                        return Err(format!(
                            "can't index item of type {} with {}",
                            v.type_name(),
                            k.type_name()
                        ));
                    }
                };
            }
            Ok(v)
        }
        "slice" => {
            let Some((first, idx)) = args.split_first() else {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            };
            let bound = |i: usize, len: usize| -> Result<usize, String> {
                match idx.get(i) {
                    None => Ok(if i == 0 { 0 } else { len }),
                    Some(Value::Int(n)) if *n >= 0 && (*n as usize) <= len => Ok(*n as usize),
                    Some(v) => Err(format!("index out of range: {v}")),
                }
            };
            match first {
                Value::Str(s) => {
                    let (a, b) = (bound(0, s.len())?, bound(1, s.len())?);
                    s.get(a..b)
                        .map(|x| Value::Str(x.to_string()))
                        .ok_or_else(|| "invalid slice index".to_string())
                }
                Value::List(l) => {
                    let (a, b) = (bound(0, l.len())?, bound(1, l.len())?);
                    l.get(a..b)
                        .map(|x| Value::List(x.to_vec()))
                        .ok_or_else(|| "invalid slice index".to_string())
                }
                other => Err(format!("can't slice item of type {}", other.type_name())),
            }
        }
        "print" => Ok(Value::Str(go_sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            Ok(Value::Str(parts.join(" ") + "\n"))
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            Ok(Value::Str(go_sprintf(&string_arg(fmt)?, rest)))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
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
                return Err("invalid type for comparison".into());
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
        "call" => Err("call is not supported in rule templates".into()),
        "query" => {
            arity(name, &args, 1)?;
            let q = string_arg(&args[0])?;
            let samples = (f.query)(&q)?;
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
                Value::List(l) => l
                    .first()
                    .cloned()
                    .ok_or_else(|| "first() called on vector with no elements".to_string()),
                other => Err(format!(
                    "wrong type for value; expected template.queryResult; got {}",
                    other.type_name()
                )),
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
            let re = regex::Regex::new(&pattern).map_err(|e| format!("regexp: {e}"))?;
            Ok(Value::Str(
                re.replace_all(&text, repl.as_str()).into_owned(),
            ))
        }
        "match" => {
            arity(name, &args, 2)?;
            let re =
                regex::Regex::new(&string_arg(&args[0])?).map_err(|e| format!("regexp: {e}"))?;
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
                return Err("sortByLabel needs a query result".into());
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
                            return Err(format!(
                                "{} is not a valid timestamp",
                                go_float(v, 'g', None)
                            ));
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
            let d: pharos_model::HumanDuration = s.parse().map_err(|e| format!("{e}"))?;
            Ok(Value::Float(d.as_duration().as_secs_f64()))
        }
        "now" => Ok(Value::Float(
            chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        )),
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Go's comparison of basic kinds; other kinds or mixed kinds are errors as in Go.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Map(_) | Value::List(_) | Value::Struct(_), _)
        | (_, Value::Map(_) | Value::List(_) | Value::Struct(_)) => {
            Err("invalid type for comparison".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither side is a string.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.to_string());
    }
    out
}

/// Go's float formatting for the verbs `g`, `e` and `f`; `prec` `None` is the shortest
/// representation that reads back the same (`%v` is `g` with `None`).
pub fn go_float(v: f64, verb: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    match verb {
        'e' => {
            let s = match prec {
                Some(p) => format!("{v:.p$e}"),
                None => format!("{v:e}"),
            };
            go_exponent(&s)
        }
        'f' => match prec {
            Some(p) => format!("{v:.p$}"),
            None => format!("{v}"),
        },
        _ => {
            // Significant digits and exponent first, then Go's choice between the forms.
            let (sci, eprec) = match prec {
                Some(p) => {
                    let p = p.max(1);
                    (format!("{:.*e}", p - 1, v), p as i32)
                }
                None => (format!("{v:e}"), 6),
            };
            let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            if exp < -4 || exp >= eprec {
                let m = trim_zeros(mantissa);
                return go_exponent(&format!("{m}e{exp}"));
            }
            let digits = mantissa.trim_start_matches('-').replace('.', "");
            let decimals = (digits.len() as i32 - 1 - exp).max(0) as usize;
            trim_zeros(&format!("{v:.decimals$}")).to_string()
        }
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Rust writes `1.5e6` and `1e-7`; Go writes `1.5e+06` and `1e-07`.
fn go_exponent(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s.to_string(),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %F %e %E %g %G %q %t %x
/// %X %%`, with flags `-+ 0#`, width and precision. Mismatches print as Go does
/// (`%!d(string=abc)`).
pub fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next_arg = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = Some(width.unwrap_or(0) * 10 + d as usize);
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p * 10 + d as usize;
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        let bad = || format!("%!{verb}({}={arg})", arg.type_name());
        let numeric = matches!(arg, Value::Int(_) | Value::Float(_));
        let mut s = match (verb, arg) {
            ('v', _) => arg.to_string(),
            ('s', Value::Str(s)) => s.clone(),
            ('s', Value::Map(_) | Value::List(_) | Value::Struct(_) | Value::Nil) => {
                arg.to_string()
            }
            ('d', Value::Int(i)) => i.to_string(),
            ('f' | 'F', Value::Float(x)) => go_float(*x, 'f', Some(prec.unwrap_or(6))),
            ('e', Value::Float(x)) => go_float(*x, 'e', Some(prec.unwrap_or(6))),
            ('E', Value::Float(x)) => go_float(*x, 'e', Some(prec.unwrap_or(6))).to_uppercase(),
            ('g', Value::Float(x)) => go_float(*x, 'g', prec),
            ('G', Value::Float(x)) => go_float(*x, 'g', prec).to_uppercase(),
            ('q', Value::Str(s)) => format!("{s:?}"),
            ('t', Value::Bool(b)) => b.to_string(),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(s)) => hex::encode(s.as_bytes()),
            ('X', Value::Str(s)) => hex::encode_upper(s.as_bytes()),
            _ => {
                out.push_str(&bad());
                continue;
            }
        };
        if let ('s' | 'v', Some(p)) = (verb, prec)
            && !numeric
        {
            s = s.chars().take(p).collect();
        }
        if numeric && !s.starts_with('-') {
            if plus {
                s.insert(0, '+');
            } else if space {
                s.insert(0, ' ');
            }
        }
        let len = s.chars().count();
        match width {
            Some(w) if w > len && minus => s.push_str(&" ".repeat(w - len)),
            Some(w) if w > len && zero && numeric => {
                let at = usize::from(s.starts_with(['-', '+', ' ']));
                s.insert_str(at, &"0".repeat(w - len));
            }
            Some(w) if w > len => s.insert_str(0, &" ".repeat(w - len)),
            _ => {}
        }
        out.push_str(&s);
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={a}", a.type_name()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return go_float(v, 'g', Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_float(v, 'g', Some(4)))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return go_float(v, 'g', Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_float(v, 'g', Some(4)))
}

fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return go_float(v, 'g', Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_float(v, 'g', Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (seconds, minutes, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", go_float(v, 'g', Some(4)));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_float(v, 'g', Some(4)))
}

/// Go's `time.Time.String()` of a Unix time in seconds, in UTC, to the millisecond as
/// Prometheus converts it: `2015-09-17 11:11:04.5 +0000 UTC`.
fn go_time(secs: f64) -> Result<String, String> {
    let ns = secs * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_float(secs, 'g', None)
        ));
    }
    let ms = (ns as i64).div_euclid(1_000_000);
    let t = chrono::DateTime::from_timestamp_millis(ms).ok_or("timestamp out of range")?;
    let frac = t.timestamp_subsec_millis();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(if frac == 0 {
        format!("{base} +0000 UTC")
    } else {
        let f = format!("{frac:03}");
        format!("{base}.{} +0000 UTC", f.trim_end_matches('0'))
    })
}

/// Go's `time.Duration.String()` of a number of seconds: `1h30m0s`, `1.5s`, `500ms`.
fn go_duration(secs: f64) -> String {
    let ns = (secs * 1e9) as i128;
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.abs();
    let frac = |v: i128, unit: i128| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.to_string().len() - 1;
        let r = format!("{rest:0width$}");
        format!("{whole}.{}", r.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{sign}{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{sign}{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{sign}{}ms", frac(ns, 1_000_000));
    }
    let total_s = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let secs = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// Go's `strings.Title`: the first letter of every word in upper case.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = if prev.is_ascii() {
                !(prev.is_ascii_alphanumeric() || prev == '_')
            } else {
                !(prev.is_alphanumeric()) && prev.is_whitespace()
            };
            prev = c;
            if sep {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Go's `net.SplitHostPort`, for the cases instance labels hold.
fn split_host_port(s: &str) -> Option<(String, String)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host.to_string(), port.to_string()));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn strip_domain(s: &str) -> String {
    let (host, port) = split_host_port(s).unwrap_or((s.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let short = host.split('.').next().unwrap_or(&host).to_string();
    if port.is_empty() {
        short
    } else {
        format!("{short}:{port}")
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats_as_go() {
        let v = |x: f64| go_float(x, 'g', None);
        assert_eq!(v(0.05), "0.05");
        assert_eq!(v(1.0), "1");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1_000_000.0), "1e+06");
        assert_eq!(v(2_500_000.0), "2.5e+06");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(-1.5e-7), "-1.5e-07");
        assert_eq!(v(1e21), "1e+21");
        let g4 = |x: f64| go_float(x, 'g', Some(4));
        assert_eq!(g4(7.34), "7.34");
        assert_eq!(g4(1.2345678), "1.235");
        assert_eq!(g4(12345.0), "1.234e+04");
        assert_eq!(g4(999.95), "1000");
        assert_eq!(g4(0.0), "0");
        assert_eq!(g4(f64::NAN), "NaN");
        assert_eq!(go_float(1.0, 'e', None), "1e+00");
        assert_eq!(go_float(0.0734, 'e', None), "7.34e-02");
    }

    #[test]
    fn humanizers_match_prometheus() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234.0), "1.234k");
        assert_eq!(humanize(1_234_567.0), "1.235M");
        assert_eq!(humanize(0.012), "12m");
        assert_eq!(humanize(-1500.0), "-1.5k");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize1024(1536.0), "1.5ki");
        assert_eq!(humanize1024(1073741824.0), "1Gi");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(60.0), "1m 0s");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(-90.0), "-1m 30s");
        assert_eq!(
            go_time(1442488264.0).unwrap(),
            "2015-09-17 11:11:04 +0000 UTC"
        );
        assert_eq!(
            go_time(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(go_duration(5400.0), "1h30m0s");
        assert_eq!(go_duration(1.5), "1.5s");
        assert_eq!(go_duration(0.5), "500ms");
    }

    #[test]
    fn sprintf_as_go() {
        let f = |fmt: &str, args: &[Value]| go_sprintf(fmt, args);
        assert_eq!(f("%.2f", &[Value::Float(1.23456)]), "1.23");
        assert_eq!(f("%d%%", &[Value::Int(5)]), "5%");
        assert_eq!(
            f(
                "%5.1f|%-4d|%04d",
                &[Value::Float(2.25), Value::Int(7), Value::Int(-3)]
            ),
            "  2.2|7   |-003"
        );
        assert_eq!(
            f("%s=%v", &[Value::Str("a".into()), Value::Float(0.5)]),
            "a=0.5"
        );
        assert_eq!(f("%d", &[Value::Str("x".into())]), "%!d(string=x)");
        assert_eq!(f("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%q", &[Value::Str("a\"b".into())]), "\"a\\\"b\"");
        assert_eq!(f("%.3s", &[Value::Str("abcdef".into())]), "abc");
        assert_eq!(f("x", &[Value::Int(1)]), "x%!(EXTRA int=1)");
    }

    #[test]
    fn strings() {
        assert_eq!(title("hello world-wide_web"), "Hello World-Wide_web");
        assert_eq!(
            split_host_port("10.0.0.1:9100"),
            Some(("10.0.0.1".into(), "9100".into()))
        );
        assert_eq!(
            split_host_port("[::1]:80"),
            Some(("::1".into(), "80".into()))
        );
        assert_eq!(strip_domain("db1.example.com:5432"), "db1:5432");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
        assert_eq!(query_escape("up == 0"), "up+%3D%3D+0");
        assert_eq!(
            go_sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::Str("a".into()),
                Value::Int(3)
            ]),
            "1 2a3"
        );
    }
}
