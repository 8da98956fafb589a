//! `/metrics`: Pharos's own metrics in the Prometheus text format, and the middleware
//! that counts and times every HTTP request by route.

use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use crate::SharedState;

/// Request metrics, plus the gauges filled in at scrape time.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    alerts: GaugeVec,
    monitors: GaugeVec,
    storage_bytes: Gauge,
    resident_memory: Gauge,
    cpu_seconds: Gauge,
    start_time: Gauge,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<HttpMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "pharos_http_requests_total",
                "HTTP requests answered, by route, method and status code.",
            ),
            &["route", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "pharos_http_request_duration_seconds",
                "Time to answer HTTP requests, by route.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        )?;
        let alerts = GaugeVec::new(
            Opts::new("pharos_alerts", "Open alerts, by state (pending, firing)."),
            &["state"],
        )?;
        let monitors = GaugeVec::new(
            Opts::new("pharos_monitors", "Monitors, by current state."),
            &["state"],
        )?;
        let storage_bytes = Gauge::new(
            "pharos_storage_bytes",
            "Bytes used by the data directory's databases.",
        )?;
        let resident_memory = Gauge::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        let cpu_seconds = Gauge::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )?;
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        registry.register(Box::new(monitors.clone()))?;
        registry.register(Box::new(storage_bytes.clone()))?;
        registry.register(Box::new(resident_memory.clone()))?;
        registry.register(Box::new(cpu_seconds.clone()))?;
        registry.register(Box::new(start_time.clone()))?;
        Ok(HttpMetrics {
            requests,
            duration,
            alerts,
            monitors,
            storage_bytes,
            resident_memory,
            cpu_seconds,
            start_time,
        })
    }
}

/// Counts and times a request under its route template (`/api/v1/monitors/{id}`), so
/// ids and tokens never become label values.
pub fn record_request(
    state: &SharedState,
    route: &str,
    method: &Method,
    status: StatusCode,
    elapsed: Duration,
) {
    let method = method_label(method);
    state
        .metrics
        .requests
        .with_label_values(&[route, method, status.as_str()])
        .inc();
    state
        .metrics
        .duration
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    if elapsed.as_millis() > 1000 {
        tracing::warn!(
            operation = "http_request",
            route,
            method,
            status = status.as_u16(),
            duration_ms = elapsed.as_millis() as u64,
            "slow request"
        );
    }
}

/// The method as a label value: the standard methods by name, anything else `other`, so
/// a client inventing methods cannot create series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub async fn metrics(
    State(state): State<SharedState>,
    crate::access::Visitor(caller): crate::access::Visitor,
) -> Response {
    if state.settings().metrics_auth && !caller.allows(pharos_model::access::Permission::Read) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"pharos\"")],
            "web.metrics_auth is on: send a token with the read scope, or the admin token (Authorization: Bearer, or as the basic-auth password)\n",
        )
            .into_response();
    }
    refresh_gauges(&state).await;
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&state.registry.gather(), &mut buf) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        buf,
    )
        .into_response()
}

/// Fills the gauges that are read rather than counted: open alerts, monitors by state,
/// storage size, this process's memory, CPU and start time.
pub async fn refresh_gauges(state: &SharedState) {
    if let Ok((counts, (pending, firing))) = state.status_counts().await {
        let m = &state.metrics;
        m.alerts.with_label_values(&["pending"]).set(pending as f64);
        m.alerts.with_label_values(&["firing"]).set(firing as f64);
        for (name, n) in [
            ("up", counts.up),
            ("degraded", counts.degraded),
            ("down", counts.down),
            ("unknown", counts.unknown),
            ("paused", counts.paused),
        ] {
            m.monitors.with_label_values(&[name]).set(n as f64);
        }
    }
    state
        .metrics
        .storage_bytes
        .set(state.store.size_bytes() as f64);
    if let Some(p) = process_stats() {
        state.metrics.resident_memory.set(p.resident_bytes);
        state.metrics.cpu_seconds.set(p.cpu_seconds);
    }
    state
        .metrics
        .start_time
        .set(state.started_at.timestamp() as f64);
}

/// Refreshes the gauges every `every`. Pharos's self-scrape reads the registry in-process
/// and never passes through [`metrics`], so without this its stored series would keep
/// the values of the last `GET /metrics` (zeros on a fresh install).
pub async fn refresh_gauges_every(state: SharedState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        refresh_gauges(&state).await;
    }
}

pub struct ProcessStats {
    pub resident_bytes: f64,
    pub cpu_seconds: f64,
}

/// Reads `/proc/self` as the official Prometheus clients do; `None` off Linux.
pub fn process_stats() -> Option<ProcessStats> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads configuration values.
    let (page_size, ticks) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    if page_size <= 0 || ticks <= 0 {
        return None;
    }
    Some(ProcessStats {
        resident_bytes: resident_pages * page_size as f64,
        cpu_seconds: (utime + stime) / ticks as f64,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    #[test]
    fn invented_methods_share_one_label() {
        for i in 0..300 {
            let m = Method::from_bytes(format!("ZZ{i}").as_bytes()).unwrap();
            assert_eq!(super::method_label(&m), "other");
        }
        assert_eq!(super::method_label(&Method::PATCH), "PATCH");
        assert_eq!(super::method_label(&Method::GET), "GET");
    }

    #[test]
    fn reads_own_process() {
        let p = super::process_stats().expect("linux /proc");
        assert!(p.resident_bytes > 1e6);
        assert!(p.cpu_seconds >= 0.0);
    }
}
