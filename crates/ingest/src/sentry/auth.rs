//! Where a Sentry client puts its public key: `X-Sentry-Auth`, `Authorization: Sentry …`,
//! the `sentry_key` query parameter, or a DSN in the envelope header.

/// The `sentry_key` from a `Sentry sentry_key=…, sentry_version=7, …` header value.
pub fn key_from_auth_header(value: &str) -> Option<&str> {
    let rest = value.trim();
    let rest = rest
        .strip_prefix("Sentry ")
        .or_else(|| rest.strip_prefix("sentry "))
        .unwrap_or(rest);
    rest.split(',').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k.trim() == "sentry_key")
            .then(|| v.trim())
            .filter(|v| !v.is_empty())
    })
}

/// The `sentry_key` query parameter.
pub fn key_from_query(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "sentry_key")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The public key (the user part) of a DSN such as `https://<key>@host/42`.
pub fn key_from_dsn(dsn: &str) -> Option<String> {
    let url = url::Url::parse(dsn).ok()?;
    Some(url.username().to_string()).filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_a_key_can_be() {
        assert_eq!(
            key_from_auth_header(
                "Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/2.75.0"
            ),
            Some("abc123")
        );
        assert_eq!(
            key_from_auth_header("Sentry sentry_version=7,sentry_key=k"),
            Some("k")
        );
        assert_eq!(key_from_auth_header("Bearer xyz"), None);
        assert_eq!(
            key_from_query("sentry_version=7&sentry_key=q1").as_deref(),
            Some("q1")
        );
        assert_eq!(
            key_from_dsn("http://pk@127.0.0.1:9800/sub/42").as_deref(),
            Some("pk")
        );
        assert_eq!(key_from_dsn("http://127.0.0.1/42"), None);
    }
}
