//! Which addresses taken from data (an alert's generator URL, a runbook, a source's link)
//! may become a link on a page: web addresses and addresses on this server only, so a
//! `javascript:` or `data:` URL sent by whoever can post an alert never runs in the page.

/// `url` when it is `http:`, `https:` or relative; `None` for any other scheme.
pub fn safe_href(url: &str) -> Option<&str> {
    // Browsers drop tabs and newlines anywhere in a URL and leading control characters
    // and spaces, so `java\tscript:` is `javascript:`; judge the URL they will follow.
    let seen: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let lower = seen.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(url);
    }
    // Relative: no scheme, i.e. no colon before the path, query or fragment begins.
    let before_path = lower.split(['/', '?', '#', '\\']).next().unwrap_or("");
    (!before_path.contains(':')).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::safe_href;

    #[test]
    fn only_web_and_relative_addresses_become_links() {
        for ok in [
            "https://grafana.example.com/d/abc?x=1",
            "HTTP://prometheus:9090/graph?g0.expr=up",
            "/alerts?state=firing",
            "graph?g0.expr=a:b",
            "#top",
            "//example.com/x",
        ] {
            assert_eq!(safe_href(ok), Some(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "\u{1}javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
        ] {
            assert_eq!(safe_href(bad), None, "{bad:?}");
        }
    }
}
