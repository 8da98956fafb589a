//! The syslog listeners of `logs.syslog`: RFC 5424 and RFC 3164 messages over UDP (one
//! datagram, one message), TCP (octet-counted or newline framing, told apart per frame)
//! and TCP with TLS, the drains PaaS hosts offer and Papertrail accepts. Syslog has no
//! acknowledgement, so messages are batched (up to 1,000 or 200 ms) before the log store;
//! when the store falls behind, a bounded queue refuses the surplus and counts it rather
//! than letting a flood take the memory. Each stream listener holds at most
//! `max_connections` (more wait in the kernel's queue), closes a connection silent for
//! `idle_timeout` and a TLS handshake not done within `tls_handshake_timeout`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pharos_app::logs::Logs;

use crate::lifecycle::Tasks;
use pharos_ingest::logs::syslog::{SyslogFramer, parse_message};
use pharos_model::{DecodedLogs, HumanDuration, LogEntry, RejectedLine};
use pharos_web::settings::more_than_zero;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

/// `logs.syslog` in `pharos.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `0.0.0.0:5514`: a UDP listener.
    #[serde(default)]
    pub udp: Option<SocketAddr>,
    /// A plain TCP listener.
    #[serde(default)]
    pub tcp: Option<SocketAddr>,
    /// A TCP listener with TLS (RFC 5425).
    #[serde(default)]
    pub tls: Option<SyslogTlsConfig>,
    /// Connections open at once on each of the TCP and TLS listeners; more wait in the
    /// kernel's queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: NonZeroUsize,
    /// A TCP or TLS connection that sends nothing for this long is closed (senders
    /// reconnect when they next have something to say).
    #[serde(default = "default_idle_timeout", deserialize_with = "more_than_zero")]
    pub idle_timeout: HumanDuration,
    /// How long a TLS client has to finish its handshake.
    #[serde(
        default = "default_tls_handshake_timeout",
        deserialize_with = "more_than_zero"
    )]
    pub tls_handshake_timeout: HumanDuration,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp: None,
            tcp: None,
            tls: None,
            max_connections: default_max_connections(),
            idle_timeout: default_idle_timeout(),
            tls_handshake_timeout: default_tls_handshake_timeout(),
        }
    }
}

fn default_max_connections() -> NonZeroUsize {
    NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN)
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

fn default_tls_handshake_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// What each stream connection may hold and for how long.
#[derive(Clone, Copy)]
struct StreamLimits {
    idle: Duration,
    tls_handshake: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogTlsConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

const BATCH_LINES: usize = 1000;
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Messages waiting for the store; beyond this a flood is refused, not buffered.
const QUEUE: usize = 100_000;
const MAX_DATAGRAM: usize = 64 * 1024;
const UDP_RECEIVE_BUFFER: usize = 8 << 20;

/// What the listeners hand the batcher: a message, or a refusal to count.
enum Received {
    Entry(Box<LogEntry>),
    Refused(RejectedLine),
}

/// Binds every configured listener (an error names the address that failed) and runs
/// them until shutdown. Returns the bound addresses (useful with port 0).
pub async fn start(
    config: &SyslogConfig,
    logs: Arc<Logs>,
    tasks: &mut Tasks,
) -> anyhow::Result<Vec<SocketAddr>> {
    let (tx, rx) = mpsc::channel::<Received>(QUEUE);
    let mut bound = Vec::new();
    let limits = StreamLimits {
        idle: config.idle_timeout.as_duration(),
        tls_handshake: config.tls_handshake_timeout.as_duration(),
    };
    let slots = config.max_connections.get().min(Semaphore::MAX_PERMITS);
    if let Some(addr) = config.udp {
        let socket = bind_udp(addr)
            .map_err(|e| anyhow::anyhow!("logs.syslog.udp: cannot bind {addr}: {e}"))?;
        bound.push(socket.local_addr()?);
        tasks.spawn("syslog_udp", serve_udp(socket, tx.clone()));
    }
    if let Some(addr) = config.tcp {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("logs.syslog.tcp: cannot bind {addr}: {e}"))?;
        bound.push(listener.local_addr()?);
        tasks.spawn(
            "syslog_tcp",
            serve_tcp(listener, None, slots, limits, tx.clone()),
        );
    }
    if let Some(tls) = &config.tls {
        let acceptor = tls_acceptor(tls)?;
        let listener = TcpListener::bind(tls.listen).await.map_err(|e| {
            anyhow::anyhow!("logs.syslog.tls.listen: cannot bind {}: {e}", tls.listen)
        })?;
        bound.push(listener.local_addr()?);
        tasks.spawn(
            "syslog_tls",
            serve_tcp(listener, Some(acceptor), slots, limits, tx.clone()),
        );
    }
    drop(tx);
    if !bound.is_empty() {
        tasks.spawn("syslog_batch", batch(rx, logs));
        tracing::info!(operation = "syslog", listeners = ?bound, "syslog listening");
    }
    Ok(bound)
}

/// A UDP socket with a large receive buffer: a burst of datagrams waits in the kernel
/// while the reader catches up, instead of being dropped at the default ~200 KiB. The
/// kernel caps the request at `net.core.rmem_max`.
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

fn tls_acceptor(tls: &SyslogTlsConfig) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "logs.syslog.tls.cert_file: {}: {e}",
                tls.cert_file.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|e| {
        anyhow::anyhow!("logs.syslog.tls.key_file: {}: {e}", tls.key_file.display())
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| anyhow::anyhow!("logs.syslog.tls: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn decode(frame: &[u8], peer: IpAddr) -> Received {
    match parse_message(frame, Some(peer), Utc::now()) {
        Ok(e) => Received::Entry(Box::new(e)),
        Err(e) => Received::Refused(RejectedLine {
            position: format!("message from {peer}"),
            reason: e.to_string(),
        }),
    }
}

/// Queues without waiting: a full queue refuses the message (counted by the batcher's
/// next report) instead of stalling the socket reader.
fn offer(tx: &mpsc::Sender<Received>, r: Received, dropped: &mut u64) {
    if tx.try_send(r).is_err() {
        *dropped += 1;
    }
}

async fn serve_udp(socket: UdpSocket, tx: mpsc::Sender<Received>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut dropped = 0u64;
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(operation = "syslog", error = %e, "udp receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        offer(&tx, decode(&buf[..n], peer.ip()), &mut dropped);
        if dropped > 0 && tx.capacity() > QUEUE / 2 {
            let _ = tx.try_send(Received::Refused(RejectedLine {
                position: format!("{dropped} udp messages"),
                reason: "the log store fell behind a syslog flood; messages dropped".into(),
            }));
            dropped = 0;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slots: usize,
    limits: StreamLimits,
    tx: mpsc::Sender<Received>,
) {
    let free = Arc::new(Semaphore::new(slots));
    loop {
        // Taken before accepting: beyond the cap, connections wait in the kernel's queue.
        let Ok(slot) = free.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(operation = "syslog", error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.tls_handshake, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => read_stream(s, peer, limits.idle, tx).await,
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "tls handshake not finished within logs.syslog.tls_handshake_timeout",
                        )),
                    }
                }
                None => read_stream(stream, peer, limits.idle, tx).await,
            };
            if let Err(e) = result {
                tracing::debug!(operation = "syslog", peer = %peer, error = %e, "syslog connection ended");
            }
        });
    }
}

async fn read_stream<S: tokio::io::AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    idle: Duration,
    tx: mpsc::Sender<Received>,
) -> std::io::Result<()> {
    let mut framer = SyslogFramer::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // What a silent sender has half-sent is kept, as at a close.
        let n = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => 0,
        };
        if n == 0 {
            // A last message without its newline is still a message.
            framer.push(b"\n");
        } else {
            framer.push(&buf[..n]);
        }
        while let Some(frame) = framer.next_frame() {
            let r = match frame {
                Ok(bytes) => decode(&bytes, peer.ip()),
                Err(e) => Received::Refused(RejectedLine {
                    position: format!("stream from {peer}"),
                    reason: e.to_string(),
                }),
            };
            // TCP can wait for the store: back-pressure reaches the sender.
            if tx.send(r).await.is_err() {
                return Ok(());
            }
        }
        if n == 0 {
            return Ok(());
        }
    }
}

async fn batch(mut rx: mpsc::Receiver<Received>, logs: Arc<Logs>) {
    loop {
        let Some(first) = rx.recv().await else { return };
        let mut decoded = DecodedLogs::default();
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Received::Entry(e)) => decoded.entries.push(*e),
                Some(Received::Refused(r)) => decoded.rejected.push(r),
                None => {}
            }
            if decoded.entries.len() + decoded.rejected.len() >= BATCH_LINES {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => next = Some(r),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = logs.accept("syslog", decoded).await {
            tracing::error!(operation = "syslog", error = %e, "cannot store syslog messages");
        }
    }
}
