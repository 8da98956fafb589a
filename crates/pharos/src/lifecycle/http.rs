//! The HTTP server's connections: accepted up to a cap (beyond it, new connections wait in
//! the kernel's queue until one closes), each watched so that a client that is slow to
//! send its headers, sits idle between requests or trickles a body loses the connection.
//! A request being answered (a live tail's stream included) is never idle.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use super::Shutdown;

/// `web.connections`, resolved.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
}

impl From<&pharos_web::settings::ConnectionSettings> for ConnectionLimits {
    fn from(s: &pharos_web::settings::ConnectionSettings) -> Self {
        ConnectionLimits {
            max: s.max.get(),
            header_timeout: s.header_timeout.as_duration(),
            idle_timeout: s.idle_timeout.as_duration(),
            body_timeout: s.body_timeout.as_duration(),
        }
    }
}

/// Serves `router` until `shutdown`; then stops accepting, lets every connection finish
/// the request it is on, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) {
    // `acquire_many` below counts in u32.
    let slots = limits
        .max
        .min(Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let free = Arc::new(Semaphore::new(slots));
    let stop = shutdown.clone().wait();
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = free.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Reset by the client before it was accepted: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => {
                    // Out of files (EMFILE): wait a moment for some to close rather
                    // than spin.
                    tracing::warn!(operation = "http", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            shutdown.clone(),
            slot,
        ));
    }
    drop(listener);
    // Every open connection holds a slot until it closes.
    let _ = free.acquire_many(slots as u32).await;
}

async fn serve_connection(
    stream: TcpStream,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(WatchedStream {
        stream,
        activity: activity.clone(),
    });
    let service = RequestService {
        router,
        peer,
        activity: activity.clone(),
        body_timeout: limits.body_timeout,
    };
    // No timer is given to hyper: its own header timeout would also close a kept-alive
    // connection after the header time, which is what `idle_timeout` decides here.
    // With upgrades, so a WebSocket (Loki's live tail) can take the connection over; the
    // connection future then ends and the upgraded socket lives on in its handler, which
    // bounds how many there are.
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(operation = "http", error = %e, "connection ended");
                }
                return;
            }
            () = &mut stop, if !stopping => {
                if activity.due(&limits).is_some() {
                    // No request in flight: nothing to finish.
                    return;
                }
                // Closes the connection once the request in flight is answered.
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            reason = activity.expired(&limits) => {
                // Dropping the connection closes the socket.
                tracing::debug!(operation = "http", reason, "connection closed");
                return;
            }
        }
    }
}

/// Where one connection is in its life, for the watchdog in [`serve_connection`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for a request's headers: since the connection opened, or since the first
    /// byte that came after an idle spell.
    Headers(Instant),
    /// Every request answered; waiting for another since then.
    Idle(Instant),
    /// This many requests are being read or answered.
    Busy(usize),
}

/// Written by the connection as it reads and answers; looked at by the watchdog, which
/// is never woken by these changes (that would cost every request a wake-up): it looks
/// again at least every `header_timeout`, so a deadline is kept to within that.
struct Activity {
    phase: Mutex<Phase>,
}

impl Activity {
    fn new(opened: Instant) -> Activity {
        Activity {
            phase: Mutex::new(Phase::Headers(opened)),
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        *phase = change(*phase);
    }

    fn bytes_received(&self) {
        self.update(|phase| match phase {
            Phase::Idle(_) => Phase::Headers(Instant::now()),
            other => other,
        });
    }

    fn request_started(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Headers(_) | Phase::Idle(_) => Phase::Busy(1),
        });
    }

    fn request_finished(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }

    /// When the connection is due to be closed, and why; `None` while busy.
    fn due(&self, limits: &ConnectionLimits) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Headers(since) => Some((
                since + limits.header_timeout,
                "request headers not received within web.connections.header_timeout",
            )),
            Phase::Idle(since) => Some((
                since + limits.idle_timeout,
                "idle for web.connections.idle_timeout",
            )),
            Phase::Busy(_) => None,
        }
    }

    /// Resolves once the connection has overstayed its phase.
    async fn expired(&self, limits: &ConnectionLimits) -> &'static str {
        loop {
            let now = Instant::now();
            let look_again = now + limits.header_timeout;
            match self.due(limits) {
                Some((at, why)) if at <= now => return why,
                Some((at, _)) => tokio::time::sleep_until(at.min(look_again)).await,
                None => tokio::time::sleep_until(look_again).await,
            }
        }
    }
}

/// The socket, telling [`Activity`] when bytes arrive.
struct WatchedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_received();
        }
        read
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Hands each request to the router, its body under the body deadline, and keeps the
/// connection busy until the response's last byte is sent.
struct RequestService {
    router: axum::Router,
    /// The client's address, given to handlers as axum's `ConnectInfo` (sign-in limits
    /// count failures per client).
    peer: Option<std::net::SocketAddr>,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for RequestService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::start(self.activity.clone());
        let timed_out = Arc::new(AtomicBool::new(false));
        let body_timeout = self.body_timeout;
        let mut request = request;
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let request = request.map(|body| {
            // Most requests (every GET) have no body: no timer for them.
            if hyper::body::Body::is_end_stream(&body) {
                Body::new(body)
            } else {
                Body::new(DeadlineBody {
                    inner: body,
                    due: Instant::now() + body_timeout,
                    deadline: None,
                    timed_out: timed_out.clone(),
                    limit: body_timeout,
                })
            }
        });
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // The handler saw a failed body read and answered as it does for any; the
            // client is told what happened instead.
            let response = if timed_out.load(Ordering::Relaxed) {
                body_timed_out(body_timeout)
            } else {
                response
            };
            Ok(response.map(|body| {
                Body::new(UntilSent {
                    inner: body,
                    _busy: busy,
                })
            }))
        })
    }
}

fn body_timed_out(limit: Duration) -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(hyper::header::CONNECTION, "close")],
        format!(
            "request body not received within {}s (web.connections.body_timeout)",
            limit.as_secs_f64()
        ),
    )
        .into_response()
}

/// Holds the connection busy while alive.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Busy {
        activity.request_started();
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps the connection busy until hyper has sent it all (and
/// drops it).
struct UntilSent {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for UntilSent {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails once `web.connections.body_timeout` has passed since the
/// request began, however steadily its bytes trickle in.
struct DeadlineBody {
    inner: Incoming,
    due: Instant,
    /// Made the first time the body is not all there: most arrive with their headers.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
    limit: Duration,
}

#[derive(Debug)]
struct BodyTimedOut(Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body not received within {:?}", self.0)
    }
}

impl std::error::Error for BodyTimedOut {}

impl hyper::body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let due = this.due;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimedOut(this.limit).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Passed through, so the body-size limits still see the declared length.
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max: 10,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_due_by_its_phase() {
        let opened = Instant::now();
        let a = Activity::new(opened);
        assert_eq!(a.due(&LIMITS).unwrap().0, opened + LIMITS.header_timeout);
        a.request_started();
        a.request_started();
        assert!(a.due(&LIMITS).is_none());
        a.request_finished();
        assert!(a.due(&LIMITS).is_none(), "one request still in flight");
        tokio::time::advance(Duration::from_secs(5)).await;
        a.request_finished();
        let idle_since = Instant::now();
        assert_eq!(a.due(&LIMITS).unwrap().0, idle_since + LIMITS.idle_timeout);
        tokio::time::advance(Duration::from_secs(30)).await;
        a.bytes_received();
        assert_eq!(
            a.due(&LIMITS).unwrap().0,
            Instant::now() + LIMITS.header_timeout,
            "a first byte after an idle spell starts the header clock"
        );
        a.bytes_received();
        assert_eq!(
            a.due(&LIMITS).unwrap().0,
            idle_since + Duration::from_secs(30) + LIMITS.header_timeout,
            "later bytes of the same headers do not restart it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_wakes_when_a_busy_connection_goes_idle() {
        let a = Arc::new(Activity::new(Instant::now()));
        a.request_started();
        let watching = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(&LIMITS).await })
        };
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(!watching.is_finished(), "a busy connection is never due");
        a.request_finished();
        // Due 60 s after the request ended, seen within the 10 s the watchdog sleeps at most.
        let reason = tokio::time::timeout(Duration::from_secs(71), watching)
            .await
            .expect("due an idle timeout after the request ended")
            .unwrap();
        assert!(reason.contains("idle"), "{reason}");
    }
}
