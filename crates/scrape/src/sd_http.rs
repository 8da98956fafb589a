//! The HTTP GETs of the discovery mechanisms that ask an API (Docker, Consul): over
//! reqwest for `http`/`https`, and over a unix socket for the Docker daemon's
//! `/var/run/docker.sock` (HTTP/1.1 through hyper's client connection on a tokio
//! `UnixStream`, since reqwest speaks no unix sockets). Answers are bounded in size and
//! time; an error is a sentence for the targets page, never with a credential in it.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{Authorization, BasicAuth, TlsConfig};

/// The most an API answer may hold: a Docker host with a few thousand containers fits.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;

/// Where the API is.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`.
    Unix(PathBuf),
    /// `http://host:port` or `https://...`, with its client; the base without a final `/`.
    Http {
        base: String,
        client: reqwest::Client,
    },
}

/// What a discovery mechanism's HTTP client config says (the parts Pharos uses).
#[derive(Clone, Copy, Default)]
pub struct ClientAuth<'a> {
    pub basic_auth: Option<&'a BasicAuth>,
    pub authorization: Option<&'a Authorization>,
    pub tls_config: Option<&'a TlsConfig>,
    pub proxy_url: Option<&'a str>,
}

/// A reqwest client for an SD API. Credentials are sent per request by [`get_json`].
pub fn http_client(auth: ClientAuth<'_>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10));
    if let Some(tls) = auth.tls_config {
        if tls.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(p) = auth.proxy_url {
        b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("proxy_url: {e}"))?);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The `Authorization` header value the config asks for, if any.
fn authorization_header(auth: ClientAuth<'_>) -> Result<Option<String>, String> {
    use base64::Engine;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if let Some(b) = auth.basic_auth {
        let user = match &b.username_file {
            Some(f) => read_trimmed(f)?,
            None => b.username.clone(),
        };
        let pass = match (&b.password, &b.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => read_trimmed(f)?,
            _ => String::new(),
        };
        return Ok(Some(format!(
            "Basic {}",
            encode(format!("{user}:{pass}").as_bytes())
        )));
    }
    if let Some(a) = auth.authorization {
        let creds = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => c.clone(),
            (None, Some(f)) => read_trimmed(f)?,
            _ => return Ok(None),
        };
        return Ok(Some(format!("{} {creds}", a.kind)));
    }
    Ok(None)
}

fn read_trimmed(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// GETs `path_and_query` (starting with `/`) and reads the JSON answer into `T`.
/// `headers` are added as they are (a Consul token goes here: it is never put into an
/// error).
pub async fn get_json<T: DeserializeOwned>(
    endpoint: &Endpoint,
    path_and_query: &str,
    auth: ClientAuth<'_>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<T, String> {
    let authorization = authorization_header(auth)?;
    let fetch = async {
        match endpoint {
            Endpoint::Http { base, client } => {
                let url = format!("{base}{path_and_query}");
                let mut req = client
                    .get(&url)
                    .header("User-Agent", concat!("Pharos/", env!("CARGO_PKG_VERSION")));
                if let Some(a) = &authorization {
                    req = req.header("Authorization", a);
                }
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                let mut resp = req
                    .send()
                    .await
                    .map_err(|e| format!("GET {path_and_query}: {}", without_url(&e)))?;
                let status = resp.status();
                let mut body = Vec::new();
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| format!("GET {path_and_query}: {}", without_url(&e)))?
                {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_ANSWER_BYTES {
                        return Err(format!(
                            "GET {path_and_query}: answer larger than {MAX_ANSWER_BYTES} bytes"
                        ));
                    }
                }
                Ok((status.as_u16(), body))
            }
            Endpoint::Unix(socket) => unix_get(socket, path_and_query, &authorization, headers)
                .await
                .map_err(|e| format!("GET {path_and_query} on {}: {e}", socket.display())),
        }
    };
    let (status, body) = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("GET {path_and_query}: no answer within {timeout:?}"))??;
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!(
            "GET {path_and_query}: HTTP status {status}: {}",
            text.trim()
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| format!("GET {path_and_query}: not the JSON expected: {e}"))
}

/// A reqwest error without the URL (which may carry a query with a secret).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

async fn unix_get(
    socket: &std::path::Path,
    path_and_query: &str,
    authorization: &Option<String>,
    headers: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let mut req = hyper::Request::get(path_and_query)
        // The daemon answers any host; Docker's own client sends this one.
        .header("Host", "docker")
        .header("User-Agent", concat!("Pharos/", env!("CARGO_PKG_VERSION")));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok((status, body))
}

/// Prometheus's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]`
/// becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A JSON `null` read as the type's default: Docker and Consul answer `"Labels": null`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
