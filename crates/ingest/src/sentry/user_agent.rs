//! The browser and operating system of an event, read from its request's `User-Agent`
//! when the SDK did not send them as contexts. Browser SDKs never do: Sentry derives
//! `contexts.browser` and `contexts.os` (and the `browser`, `browser.name`, `os.name` tags)
//! on ingest, so a browser error without them would show no browser at all.

use serde_json::{Map, Value, json};

/// A browser or operating system: name and version, as the contexts carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: &'static str,
    pub version: Option<String>,
}

/// The browser named by a user agent, the most specific product first (Edge and Opera
/// also say "Chrome", Chrome also says "Safari").
pub fn browser(ua: &str) -> Option<Product> {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("FxiOS/", "Firefox iOS"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome Mobile iOS"),
        ("HeadlessChrome/", "HeadlessChrome"),
    ];
    for (token, name) in BROWSERS {
        if let Some(version) = version_after(ua, token) {
            return Some(Product {
                name,
                version: Some(version),
            });
        }
    }
    if let Some(version) = version_after(ua, "Chrome/") {
        let name = if ua.contains("Mobile") {
            "Chrome Mobile"
        } else {
            "Chrome"
        };
        return Some(Product {
            name,
            version: Some(version),
        });
    }
    if ua.contains("Safari/") && ua.contains("AppleWebKit/") {
        let name = if ua.contains("Mobile/") {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return Some(Product {
            name,
            version: version_after(ua, "Version/"),
        });
    }
    None
}

/// The operating system named by a user agent.
pub fn os(ua: &str) -> Option<Product> {
    if let Some(v) = version_after(ua, "Windows NT ") {
        let version = match v.as_str() {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            other => other,
        };
        return Some(Product {
            name: "Windows",
            version: Some(version.to_string()),
        });
    }
    if let Some(v) = version_after(ua, "Android ") {
        return Some(Product {
            name: "Android",
            version: Some(v),
        });
    }
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        let version = version_after(ua, "OS ").map(|v| v.replace('_', "."));
        return Some(Product {
            name: "iOS",
            version,
        });
    }
    if let Some(v) = version_after(ua, "Mac OS X ") {
        return Some(Product {
            name: "Mac OS X",
            version: Some(v.replace('_', ".")),
        });
    }
    if ua.contains("CrOS") {
        return Some(Product {
            name: "Chrome OS",
            version: None,
        });
    }
    if ua.contains("Linux") {
        return Some(Product {
            name: "Linux",
            version: None,
        });
    }
    None
}

/// The version right after `token`: digits, dots and underscores.
fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let version: String = ua[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
        .take(32)
        .collect();
    let version = version.trim_end_matches(['.', '_']);
    (!version.is_empty()).then(|| version.to_string())
}

/// The request's `User-Agent` header (headers as an object or as a list of pairs, any case).
fn user_agent(event: &Map<String, Value>) -> Option<&str> {
    let headers = event.get("request")?.get("headers")?;
    let is_ua = |k: &str| k.eq_ignore_ascii_case("user-agent");
    match headers {
        Value::Object(m) => m.iter().find(|(k, _)| is_ua(k))?.1.as_str(),
        Value::Array(pairs) => pairs.iter().find_map(|p| match p.as_array()?.as_slice() {
            [Value::String(k), Value::String(v)] if is_ua(k) => Some(v.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// Adds `contexts.browser` and `contexts.os` from the request's user agent where the
/// event has none, and returns the tags Sentry derives from them (`browser`,
/// `browser.name`, `os.name`), from the contexts the event ends up with.
pub fn derive_contexts(event: &mut Value) -> Vec<(String, String)> {
    let Some(obj) = event.as_object_mut() else {
        return Vec::new();
    };
    if let Some(ua) = user_agent(obj).map(str::to_owned) {
        if !obj.get("contexts").is_some_and(Value::is_object) {
            obj.insert("contexts".into(), Value::Object(Map::new()));
        }
        let contexts = obj
            .get_mut("contexts")
            .and_then(Value::as_object_mut)
            .expect("just made an object");
        for (key, product) in [("browser", browser(&ua)), ("os", os(&ua))] {
            if let (false, Some(p)) = (contexts.contains_key(key), product) {
                let mut c = json!({ "type": key, "name": p.name });
                if let Some(v) = p.version {
                    c["version"] = Value::String(v);
                }
                contexts.insert(key.into(), c);
            }
        }
    }
    let context = |key: &str, field: &str| {
        obj.get("contexts")?
            .get(key)?
            .get(field)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut tags = Vec::new();
    if let Some(name) = context("browser", "name") {
        let full = match context("browser", "version") {
            Some(v) => format!("{name} {v}"),
            None => name.clone(),
        };
        tags.push(("browser".to_string(), full));
        tags.push(("browser.name".to_string(), name));
    }
    if let Some(name) = context("os", "name") {
        tags.push(("os.name".to_string(), name));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";

    #[test]
    fn browsers_and_systems() {
        let p = |name, version: &str| {
            Some(Product {
                name,
                version: Some(version.into()),
            })
        };
        assert_eq!(browser(HEADLESS), p("HeadlessChrome", "156.0.0.0"));
        assert_eq!(
            os(HEADLESS),
            Some(Product {
                name: "Linux",
                version: None
            })
        );
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser(chrome_win), p("Chrome", "131.0.0.0"));
        assert_eq!(os(chrome_win), p("Windows", "10"));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86";
        assert_eq!(browser(edge), p("Edge", "131.0.2903.86"));
        let firefox =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(browser(firefox), p("Firefox", "133.0"));
        assert_eq!(os(firefox), p("Mac OS X", "10.15"));
        let safari_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";
        assert_eq!(browser(safari_ios), p("Mobile Safari", "17.1.2"));
        assert_eq!(os(safari_ios), p("iOS", "17.1.2"));
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.104 Mobile Safari/537.36";
        assert_eq!(browser(android), p("Chrome Mobile", "131.0.6778.104"));
        assert_eq!(os(android), p("Android", "14"));
        assert_eq!(browser("curl/8.5.0"), None);
        assert_eq!(os("curl/8.5.0"), None);
    }

    #[test]
    fn contexts_and_tags_from_the_request_header() {
        let mut event =
            json!({"request": {"url": "http://localhost/", "headers": {"User-Agent": HEADLESS}}});
        let tags = derive_contexts(&mut event);
        assert_eq!(
            event["contexts"]["browser"],
            json!({"type": "browser", "name": "HeadlessChrome", "version": "156.0.0.0"})
        );
        assert_eq!(
            event["contexts"]["os"],
            json!({"type": "os", "name": "Linux"})
        );
        assert_eq!(
            tags,
            vec![
                (
                    "browser".to_string(),
                    "HeadlessChrome 156.0.0.0".to_string()
                ),
                ("browser.name".to_string(), "HeadlessChrome".to_string()),
                ("os.name".to_string(), "Linux".to_string()),
            ]
        );
        // What the SDK sent wins; headers as pairs are read too.
        let mut event = json!({
            "contexts": {"browser": {"name": "Custom", "version": "1"}},
            "request": {"headers": [["user-agent", HEADLESS]]}
        });
        let tags = derive_contexts(&mut event);
        assert_eq!(
            event["contexts"]["browser"],
            json!({"name": "Custom", "version": "1"})
        );
        assert_eq!(event["contexts"]["os"]["name"], "Linux");
        assert_eq!(tags[0], ("browser".to_string(), "Custom 1".to_string()));
        // No request, no contexts: nothing added.
        let mut event = json!({"message": "x"});
        assert!(derive_contexts(&mut event).is_empty());
        assert_eq!(event, json!({"message": "x"}));
    }
}
