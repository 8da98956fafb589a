//! HTTP checks through a proxy and with a client certificate, against a loopback CONNECT
//! proxy and a loopback TLS server that refuses clients without a certificate from its CA.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pharos_evaluate::probe::HttpProber;
use pharos_model::{MonitorCheck, MonitorSpec, Outcome, ProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A client certificate (and key) from a CA the server trusts, as PEM files.
struct ClientCert {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca: rustls::pki_types::CertificateDer<'static>,
}

impl Drop for ClientCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client_cert() -> ClientCert {
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["pharos-probe".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "pharos-mtls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("client.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), key.serialize_pem()).unwrap();
    ClientCert {
        cert: dir.join("client.pem"),
        key: dir.join("client.key"),
        ca: ca.der().clone(),
        dir,
    }
}

/// Reads a request head (up to the blank line).
async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// An https server answering `200 ok` to clients with a certificate from `ca`; counts the
/// requests it answered.
async fn mtls_server(
    ca: rustls::pki_types::CertificateDer<'static>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let server_cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if read_head(&mut tls).await.is_some() {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (addr, answered)
}

/// An HTTP proxy: CONNECT opens a tunnel, any other request is answered by the proxy
/// itself. Keeps every request head it was sent.
async fn proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut client).await else {
                    return;
                };
                seen.lock().unwrap().push(head.clone());
                let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                if head.starts_with("CONNECT ") {
                    let Ok(mut upstream) = TcpStream::connect(&target).await else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                } else {
                    let _ = client
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nfrom the proxy")
                        .await;
                }
            });
        }
    });
    (addr, heads)
}

async fn probe(http: serde_json::Value) -> ProbeResult {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spec: MonitorSpec =
        serde_json::from_value(serde_json::json!({"name": "api", "http": http})).unwrap();
    let MonitorCheck::Http(check) = &spec.check else {
        panic!("not an http check")
    };
    HttpProber::new().unwrap().probe(&spec.id, check).await
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_gets_it() {
    let cert = client_cert();
    let (server, answered) = mtls_server(cert.ca.clone()).await;
    let url = format!("https://{server}/health");
    let r = probe(serde_json::json!({"url": url, "tls_skip_verify": true,
        "tls_client_cert": cert.cert, "tls_client_key": cert.key}))
    .await;
    assert_eq!(
        (r.outcome, r.status_code),
        (Outcome::Up, Some(200)),
        "{:?}",
        r.error
    );
    assert_eq!(answered.load(Ordering::SeqCst), 1);

    let r = probe(serde_json::json!({"url": url, "tls_skip_verify": true})).await;
    assert_eq!(r.outcome, Outcome::Down, "no certificate, no answer");
    assert!(r.error.is_some());
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_goes_through_the_proxy_in_a_connect_tunnel_with_its_credentials() {
    let cert = client_cert();
    let (server, answered) = mtls_server(cert.ca.clone()).await;
    let (proxy, heads) = proxy().await;
    let r = probe(
        serde_json::json!({"url": format!("https://{server}/health"), "tls_skip_verify": true,
        "tls_client_cert": cert.cert, "tls_client_key": cert.key,
        "proxy_url": format!("http://user:pw@{proxy}")}),
    )
    .await;
    assert_eq!(
        (r.outcome, r.status_code),
        (Outcome::Up, Some(200)),
        "{:?}",
        r.error
    );
    assert_eq!(answered.load(Ordering::SeqCst), 1);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("CONNECT {server} HTTP/1.1\r\n")),
        "{heads:?}"
    );
    // "user:pw" in base64.
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic dxnlcjpwdw=="),
        "{heads:?}"
    );
}

#[tokio::test]
async fn plain_http_is_forwarded_by_the_proxy() {
    let (proxy, heads) = proxy().await;
    // Nothing listens on port 9 of loopback: only the proxy can answer.
    let r = probe(
        serde_json::json!({"url": "http://127.0.0.1:9/health", "keyword": "from the proxy",
        "proxy_url": format!("http://{proxy}")}),
    )
    .await;
    assert_eq!(
        (r.outcome, r.status_code),
        (Outcome::Up, Some(200)),
        "{:?}",
        r.error
    );
    let heads = heads.lock().unwrap();
    assert!(
        heads[0].starts_with("GET http://127.0.0.1:9/health HTTP/1.1\r\n"),
        "{heads:?}"
    );
}

#[tokio::test]
async fn a_proxy_that_is_not_there_is_down_with_its_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    // The target itself is up: only going through the dead proxy makes the check fail.
    let (target, heads) = proxy().await;
    let r = probe(serde_json::json!({"url": format!("http://{target}/"),
        "proxy_url": format!("http://{addr}")}))
    .await;
    assert_eq!(r.outcome, Outcome::Down);
    let error = r.error.unwrap();
    assert!(
        error.starts_with(&format!("through proxy {addr}: connection failed")),
        "{error}"
    );
    assert!(heads.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreadable_key_file_is_down_with_its_path() {
    let cert = client_cert();
    let r = probe(serde_json::json!({"url": "https://127.0.0.1:9/",
        "tls_client_cert": cert.cert, "tls_client_key": cert.dir.join("missing.key")}))
    .await;
    assert_eq!(r.outcome, Outcome::Down);
    let error = r.error.unwrap();
    assert!(
        error.starts_with(&format!(
            "tls_client_key: cannot read {}: ",
            cert.dir.join("missing.key").display()
        )),
        "{error}"
    );
    std::fs::write(&cert.key, "not a key").unwrap();
    let r = probe(serde_json::json!({"url": "https://127.0.0.1:9/",
        "tls_client_cert": cert.cert, "tls_client_key": cert.key}))
    .await;
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("not a PEM certificate and private key"),
        "{:?}",
        r.error
    );
}
