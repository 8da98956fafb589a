//! Go's `fmt` for template values: `%v` of a float64 (`2.5e+06`, `%.4g` without trailing
//! zeros), `Sprint` and `Sprintf`, so that annotations read the same as Prometheus writes
//! them.

use crate::value::Value;

/// Go's `fmt.Sprint`: a space between operands when neither side is a string.
pub(crate) fn go_sprint(args: &[Value]) -> String {
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
}
