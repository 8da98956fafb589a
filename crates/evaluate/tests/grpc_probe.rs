//! gRPC health monitors against a loopback HTTP/2 (h2c) server that implements
//! `grpc.health.v1.Health/Check` the way grpc-go's health server does: SERVING or
//! NOT_SERVING for the services it knows, NOT_FOUND (headers only) for the others.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pharos_evaluate::probe::probe_grpc;
use pharos_model::{MonitorCheck, MonitorSpec, Outcome, ProbeResult};

/// A connection, in the clear or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// (path, service) of every call received.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

fn service_of(frame: &[u8]) -> String {
    // 5-byte frame header, then field 1 (0x0A), a one-byte length, the name.
    match frame.get(5..) {
        Some([0x0A, len, rest @ ..]) => {
            String::from_utf8_lossy(&rest[..usize::from(*len)]).into_owned()
        }
        _ => String::new(),
    }
}

/// A TLS acceptor offering HTTP/2 by ALPN, with a self-signed certificate.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn health_server(statuses: HashMap<&'static str, u8>) -> (SocketAddr, Calls) {
    serve_health(statuses, None).await
}

async fn serve_health(
    statuses: HashMap<&'static str, u8>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, Calls) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let statuses = Arc::new(statuses);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            let statuses = statuses.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let conn = match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => h2::server::handshake(Box::new(stream) as Box<dyn Io>).await,
                        Err(_) => return,
                    },
                    None => h2::server::handshake(Box::new(tcp) as Box<dyn Io>).await,
                };
                let Ok(mut conn) = conn else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = conn.accept().await {
                    let seen = seen.clone();
                    let statuses = statuses.clone();
                    tokio::spawn(async move {
                        let path = request.uri().path().to_string();
                        let mut body = request.into_body();
                        let mut frame = Vec::new();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            frame.extend_from_slice(&chunk);
                        }
                        let service = service_of(&frame);
                        seen.lock().unwrap().push((path.clone(), service.clone()));
                        let headers_only = |code: &str, message: &str| {
                            http::Response::builder()
                                .status(200)
                                .header("content-type", "application/grpc")
                                .header("grpc-status", code)
                                .header("grpc-message", message)
                                .body(())
                                .unwrap()
                        };
                        if path != "/grpc.health.v1.Health/Check" {
                            let _ =
                                respond.send_response(headers_only("12", "unknown%20method"), true);
                            return;
                        }
                        let Some(status) = statuses.get(service.as_str()) else {
                            let _ =
                                respond.send_response(headers_only("5", "unknown%20service"), true);
                            return;
                        };
                        let response = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .body(())
                            .unwrap();
                        let mut stream = respond.send_response(response, false).unwrap();
                        let message = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, *status]);
                        stream.send_data(message, false).unwrap();
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        stream.send_trailers(trailers).unwrap();
                    });
                }
            });
        }
    });
    (addr, calls)
}

async fn probe(grpc: serde_json::Value) -> ProbeResult {
    // The binary installs ring as the rustls provider at start; tests do the same.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spec: MonitorSpec =
        serde_json::from_value(serde_json::json!({"name": "grpc", "grpc": grpc})).unwrap();
    let MonitorCheck::Grpc(check) = &spec.check else {
        panic!("not a grpc check")
    };
    probe_grpc(&spec.id, check).await
}

async fn server() -> (SocketAddr, Calls) {
    health_server(HashMap::from([
        ("", 1),
        ("users.v1.Users", 1),
        ("billing.v1.Billing", 2),
    ]))
    .await
}

#[tokio::test]
async fn a_serving_server_and_service_are_up() {
    let (addr, calls) = server().await;
    let r = probe(serde_json::json!({"address": addr.to_string()})).await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    assert!(r.latency_ms.is_some());
    let r =
        probe(serde_json::json!({"address": addr.to_string(), "service": "users.v1.Users"})).await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.as_slice(),
        [
            ("/grpc.health.v1.Health/Check".to_string(), String::new()),
            (
                "/grpc.health.v1.Health/Check".to_string(),
                "users.v1.Users".to_string()
            )
        ]
    );
}

#[tokio::test]
async fn not_serving_is_down_with_the_status_name() {
    let (addr, _) = server().await;
    let r =
        probe(serde_json::json!({"address": addr.to_string(), "service": "billing.v1.Billing"}))
            .await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(
        r.error.as_deref(),
        Some(
            format!("gRPC health of billing.v1.Billing at {addr}: the server answered NOT_SERVING")
                .as_str()
        )
    );
    assert!(r.latency_ms.is_some());
}

#[tokio::test]
async fn an_unknown_service_is_down_with_the_servers_words() {
    let (addr, _) = server().await;
    let r = probe(serde_json::json!({"address": addr.to_string(), "service": "nope"})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(
        r.error.as_deref(),
        Some(format!("gRPC health of nope at {addr}: grpc-status 5 NOT_FOUND (the server does not know this service): unknown service").as_str())
    );
}

#[tokio::test]
async fn nothing_listening_is_down_without_a_latency() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = probe(serde_json::json!({"address": addr.to_string(), "timeout": "2s"})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(r.latency_ms, None);
    let error = r.error.unwrap();
    assert!(
        error.starts_with(&format!("gRPC health of {addr}: connection failed")),
        "{error}"
    );
}

#[tokio::test]
async fn an_http1_server_is_not_taken_for_a_grpc_one() {
    // Answers anything with an HTTP/1.1 page and closes: HTTP/2 prior knowledge fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
    });
    let r = probe(serde_json::json!({"address": addr.to_string(), "timeout": "2s"})).await;
    assert_eq!(r.outcome, Outcome::Down, "{:?}", r.error);
    let error = r.error.unwrap();
    assert!(
        error.starts_with(&format!("gRPC health of {addr}: ")),
        "{error}"
    );
    assert!(
        error.ends_with("set `tls: true` if it needs TLS)"),
        "{error}"
    );
}

#[tokio::test]
async fn tls_is_used_when_asked_for() {
    let statuses = HashMap::from([("", 1)]);
    let (addr, calls) = serve_health(statuses, Some(tls_acceptor())).await;
    let r = probe(
        serde_json::json!({"address": addr.to_string(), "tls": true, "tls_skip_verify": true}),
    )
    .await;
    assert_eq!((r.outcome, r.error.as_deref()), (Outcome::Up, None));
    assert_eq!(calls.lock().unwrap().len(), 1);
    // The certificate is self-signed: refused unless told otherwise.
    let r = probe(serde_json::json!({"address": addr.to_string(), "tls": true})).await;
    assert_eq!(r.outcome, Outcome::Down);
    // In the clear against a TLS server: down, with the hint about `tls`.
    let r = probe(serde_json::json!({"address": addr.to_string(), "timeout": "2s"})).await;
    assert_eq!(r.outcome, Outcome::Down);
    assert_eq!(calls.lock().unwrap().len(), 1);
}
