//! Check errors written for people: the common network, DNS, TLS and HTTP failures as a
//! short sentence, with the full technical text kept for the tooltip.

use maud::{Markup, html};

/// A short sentence for a probe's error; unknown errors are shown as they are, cut to a
/// line.
pub fn sentence(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if let Some(rest) = raw.strip_prefix("status ") {
        // "status 503, expected 200-399"
        let code = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        if !code.is_empty() {
            return format!("The server answered with HTTP {code}, which counts as a failure.");
        }
    }
    let text = if has(&["connection refused"]) {
        "Connection refused: nothing is listening at that address and port."
    } else if has(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no address associated",
        "nodename nor servname",
        "temporary failure in name resolution",
    ]) {
        "The host name could not be found (DNS lookup failed)."
    } else if has(&[
        "certificate has expired",
        "certificate expired",
        "expired certificate",
    ]) {
        "The server's TLS certificate has expired."
    } else if has(&[
        "unknownissuer",
        "unknown issuer",
        "self signed",
        "self-signed",
    ]) {
        "The server's TLS certificate is not trusted (unknown or self-signed issuer)."
    } else if has(&["notvalidforname", "not valid for name", "hostname mismatch"]) {
        "The server's TLS certificate is for another host name."
    } else if has(&["certificate", "tls", "ssl", "handshake"]) {
        "The secure (TLS) connection could not be set up."
    } else if has(&["timed out", "timeout", "deadline has elapsed"]) {
        "No answer in time: the check timed out."
    } else if has(&["connection reset", "broken pipe"]) {
        "The server closed the connection unexpectedly."
    } else if has(&[
        "network is unreachable",
        "no route to host",
        "host is unreachable",
    ]) {
        "The host cannot be reached from here (no network route)."
    } else if has(&[
        "connection closed before message completed",
        "incomplete message",
    ]) {
        "The server closed the connection before answering."
    } else if has(&["too many redirects"]) {
        "The URL redirects too many times."
    } else {
        return super::overview::truncate(raw, 90);
    };
    text.to_string()
}

/// The sentence, with the full error on hover.
pub fn markup(raw: &str) -> Markup {
    html! { span.error-text title=(raw) { (sentence(raw)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_failures_read_as_sentences() {
        let refused = "connection failed: client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert!(sentence(refused).starts_with("Connection refused"));
        assert!(
            sentence("connection failed: dns error: failed to lookup address information: Name or service not known")
                .contains("DNS")
        );
        assert!(sentence("timed out: operation timed out").contains("timed out"));
        assert!(
            sentence("connection failed: invalid peer certificate: UnknownIssuer")
                .contains("not trusted")
        );
        assert_eq!(
            sentence("status 503, expected 200-399"),
            "The server answered with HTTP 503, which counts as a failure."
        );
        let odd = "keyword \"ok\" not found in the body";
        assert_eq!(sentence(odd), odd);
        let html = markup(refused).into_string();
        assert!(html.contains(&format!("title=\"{refused}\"")), "{html}");
    }
}
