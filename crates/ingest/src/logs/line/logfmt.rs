//! logfmt lines (`level=info msg="…" user_id=123`), read into the same key map a JSON
//! record gives.

use serde_json::{Map, Number, Value};

use super::Parsed;

/// logfmt: `time=… level=info msg="…" user_id=123 duration_ms=45`. Every token must be a
/// `key=value` pair, so prose with an `=` in it is not taken apart. Unquoted numbers
/// become numbers.
pub(super) fn parse_logfmt(s: &str) -> Option<Parsed<'_>> {
    let b = s.as_bytes();
    let mut map = Map::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' && b[i] != b'"' {
            i += 1;
        }
        if i == key_start || i == b.len() || b[i] != b'=' {
            return None;
        }
        let key = &s[key_start..i];
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            let (text, used) = logfmt_quoted(&s[i..])?;
            i += used;
            Value::String(text)
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            logfmt_bare(&s[start..i])
        };
        map.insert(key.to_string(), value);
    }
    if map.is_empty() {
        return None;
    }
    // logfmt shares the JSON record's key names, so one mapping serves both.
    Some(Parsed::Record(map))
}

/// A quoted logfmt value from its opening quote; the text and the bytes used.
fn logfmt_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn logfmt_bare(v: &str) -> Value {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let numeric = digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        // Leading zeros (ids, zip codes) are text, as the writer meant them.
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."));
    if numeric {
        if let Ok(n) = v.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Some(n) = v.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(v.to_string())
}
