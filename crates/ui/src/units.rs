//! Numbers as people read them, by Grafana unit id: `s`, `ms`, `bytes`, `percent`,
//! `percentunit`, `reqps`, `short`… Used for chart axes, stat panels and tables, so a
//! dashboard imported from Grafana shows the same units it did there.

/// The unit a metric's name implies (Prometheus naming conventions), for the explorer,
/// where nobody picked one.
pub fn guess(query: &str) -> &'static str {
    let q = query.trim();
    // Only a bare selector or a rate of one: anything else may change the unit.
    let looks_plain = !q.contains(" / ") && !q.contains(" * ") && !q.contains("count(");
    if !looks_plain {
        return "short";
    }
    if q.contains("_seconds") && !q.contains("_count") && !q.contains("_bucket") {
        "s"
    } else if q.contains("_bytes") && !q.contains("_count") && !q.contains("_bucket") {
        "bytes"
    } else if q.contains("_ratio") {
        "percentunit"
    } else {
        "short"
    }
}

/// `v` in `unit`, with `decimals` when the panel fixes them.
pub fn format(unit: &str, v: f64, decimals: Option<u8>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if let Some(suffix) = unit.strip_prefix("suffix:") {
        return format!("{}{suffix}", number(v, decimals));
    }
    if let Some(prefix) = unit.strip_prefix("prefix:") {
        return format!("{prefix}{}", number(v, decimals));
    }
    match unit {
        "s" | "dtdurations" => duration(v, 1.0, decimals),
        "ms" => duration(v, 1e-3, decimals),
        "µs" | "us" => duration(v, 1e-6, decimals),
        "ns" => duration(v, 1e-9, decimals),
        "m" => duration(v, 60.0, decimals),
        "h" => duration(v, 3600.0, decimals),
        "d" => duration(v, 86400.0, decimals),
        "bytes" | "decbytes" => bytes(v, unit == "bytes", decimals, "B"),
        "kbytes" => bytes(v * 1024.0, true, decimals, "B"),
        "mbytes" => bytes(v * 1024.0 * 1024.0, true, decimals, "B"),
        "bits" => bytes(v, false, decimals, "b"),
        "Bps" | "binBps" => format!("{}/s", bytes(v, unit == "binBps", decimals, "B")),
        "bps" => format!("{}/s", bytes(v, false, decimals, "b")),
        "percent" => format!("{}%", fixed(v, decimals.unwrap_or(auto_decimals(v)))),
        "percentunit" => format!(
            "{}%",
            fixed(v * 100.0, decimals.unwrap_or(auto_decimals(v * 100.0)))
        ),
        "reqps" => format!("{} req/s", short(v, decimals)),
        "rps" => format!("{} rd/s", short(v, decimals)),
        "wps" => format!("{} wr/s", short(v, decimals)),
        "ops" => format!("{} ops/s", short(v, decimals)),
        "opm" => format!("{} ops/min", short(v, decimals)),
        "reqpm" | "rpm" => format!("{} req/min", short(v, decimals)),
        "celsius" => format!("{} °C", number(v, decimals)),
        "hertz" => format!("{}Hz", short(v, decimals)),
        "none" => number(v, decimals),
        _ => short(v, decimals),
    }
}

fn auto_decimals(v: f64) -> u8 {
    let a = v.abs();
    if a == 0.0 || a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // Three significant digits however small: 0.000123, not 0.
        ((-a.log10()).ceil() as i64 + 2).clamp(3, 12) as u8
    }
}

fn fixed(v: f64, decimals: u8) -> String {
    let s = format!("{:.*}", decimals as usize, v);
    // "2.50" reads as "2.5"; "-0" as "0".
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

fn number(v: f64, decimals: Option<u8>) -> String {
    fixed(v, decimals.unwrap_or(auto_decimals(v)))
}

/// 1234 → "1.23k", 2e6 → "2M"; small numbers keep three significant digits.
pub fn short(v: f64, decimals: Option<u8>) -> String {
    let a = v.abs();
    for (size, suffix) in [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if a >= size {
            return format!("{}{suffix}", number(v / size, decimals));
        }
    }
    number(v, decimals)
}

fn duration(v: f64, seconds_per_unit: f64, decimals: Option<u8>) -> String {
    let s = v * seconds_per_unit;
    let a = s.abs();
    let (n, unit) = if a == 0.0 {
        (0.0, "s")
    } else if a < 1e-6 {
        (s * 1e9, "ns")
    } else if a < 1e-3 {
        (s * 1e6, "µs")
    } else if a < 1.0 {
        (s * 1e3, "ms")
    } else if a < 60.0 {
        (s, "s")
    } else if a < 3600.0 {
        (s / 60.0, "min")
    } else if a < 86400.0 {
        (s / 3600.0, "h")
    } else {
        (s / 86400.0, "d")
    };
    format!("{} {unit}", number(n, decimals))
}

fn bytes(v: f64, binary: bool, decimals: Option<u8>, base: &str) -> String {
    let k = if binary { 1024.0 } else { 1000.0 };
    let names: [&str; 6] = if binary {
        ["", "Ki", "Mi", "Gi", "Ti", "Pi"]
    } else {
        ["", "k", "M", "G", "T", "P"]
    };
    let mut n = v;
    let mut i = 0;
    while n.abs() >= k && i < names.len() - 1 {
        n /= k;
        i += 1;
    }
    format!("{} {}{base}", number(n, decimals), names[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(format("s", 0.25, None), "250 ms");
        assert_eq!(format("s", 90.0, None), "1.5 min");
        assert_eq!(format("ms", 1500.0, None), "1.5 s");
        assert_eq!(format("bytes", 3.0 * 1024.0 * 1024.0, None), "3 MiB");
        assert_eq!(format("decbytes", 1500.0, None), "1.5 kB");
        assert_eq!(format("percentunit", 0.0512, Some(1)), "5.1%");
        assert_eq!(format("percent", 99.5, None), "99.5%");
        assert_eq!(format("reqps", 1234.0, None), "1.23k req/s");
        assert_eq!(format("short", 0.000123, None), "0.000123");
        assert_eq!(format("short", 0.123, None), "0.123");
        assert_eq!(format("none", 1234.0, None), "1234");
        assert_eq!(format("suffix: orders", 3.0, None), "3 orders");
        assert_eq!(format("s", f64::NAN, None), "NaN");
        assert_eq!(guess("rate(http_request_duration_seconds_sum[5m])"), "s");
        assert_eq!(guess("process_resident_memory_bytes"), "bytes");
        assert_eq!(guess("up"), "short");
    }
}
