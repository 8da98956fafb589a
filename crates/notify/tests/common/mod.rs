//! Fakes for receiver tests: an HTTP server on loopback that records every request and
//! answers from a script, and the notifications every channel is tested with.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use pharos_model::{Alert, AlertState, Labels, Notification};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl FakeServer {
    /// Answers 200 `{"ok":true}` unless [`FakeServer::answer`] queued something else.
    pub async fn start() -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<VecDeque<(u16, String)>>> = Arc::new(Mutex::new(VecDeque::new()));
        let (r, s) = (requests.clone(), script.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_connection(tcp, r.clone(), s.clone()));
            }
        });
        FakeServer {
            addr,
            requests,
            script,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The next answers, in order.
    pub fn answer(&self, status: u16, body: &str) {
        self.script
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn only_request(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap()
    }
}

async fn serve_connection(
    mut tcp: tokio::net::TcpStream,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + length {
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + length]).to_string();
        buf.drain(..head_end + 4 + length);
        requests.lock().unwrap().push(Recorded {
            method,
            path,
            headers,
            body,
        });
        let (status, body) = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((200, "{\"ok\":true}".into()));
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if tcp.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    pharos_notify::http::client().unwrap()
}

pub fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, h, m, 0).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn alert(
    label_pairs: &[(&str, &str)],
    annotation_pairs: &[(&str, &str)],
    state: AlertState,
) -> Alert {
    let labels = labels(label_pairs);
    Alert {
        fingerprint: Alert::fingerprint_of(&labels),
        labels,
        annotations: labels_from(annotation_pairs),
        state,
        starts_at: t(9, 48),
        ends_at: (state == AlertState::Resolved).then(|| t(10, 5)),
        generator_url: "https://pharos.example.com/monitors/invoice-bot".into(),
        updated_at: if state == AlertState::Resolved {
            t(10, 5)
        } else {
            t(10, 0)
        },
    }
}

fn labels_from(pairs: &[(&str, &str)]) -> Labels {
    labels(pairs)
}

/// Seed 000's bot, down on two instances: one critical, one warning, firing for 12m.
pub fn firing_group() -> Notification {
    let a = alert(
        &[
            ("alertname", "MonitorDown"),
            ("monitor", "invoice-bot"),
            ("instance", "https://bot.example.com/health"),
            ("severity", "critical"),
        ],
        &[
            ("summary", "Invoice bot is not responding"),
            (
                "description",
                "GET /health timed out after 10s (3 checks in a row)",
            ),
            (
                "runbook_url",
                "https://wiki.example.com/runbooks/invoice-bot",
            ),
            ("value", "timeout"),
        ],
        AlertState::Firing,
    );
    let mut b = alert(
        &[
            ("alertname", "MonitorDown"),
            ("monitor", "invoice-bot"),
            ("instance", "https://bot.example.com/webhook-info"),
            ("severity", "warning"),
        ],
        &[
            ("summary", "Webhook info answers 503"),
            (
                "runbook_url",
                "https://wiki.example.com/runbooks/invoice-bot",
            ),
            ("value", "503"),
        ],
        AlertState::Firing,
    );
    b.starts_at = t(9, 55);
    Notification {
        receiver: "ops".into(),
        group_key: "{}:{alertname=\"MonitorDown\"}".into(),
        group_labels: labels(&[("alertname", "MonitorDown")]),
        alerts: vec![a, b],
        truncated_alerts: 0,
        external_url: "https://pharos.example.com".into(),
        ack_url: Some("https://pharos.example.com/ack/3f9a2c".into()),
    }
}

/// The same group once both recovered.
pub fn resolved_group() -> Notification {
    let mut n = firing_group();
    for a in &mut n.alerts {
        a.state = AlertState::Resolved;
        a.ends_at = Some(t(10, 5));
        a.updated_at = t(10, 5);
    }
    n.ack_url = None;
    n
}

/// One delivery per integration of every receiver, as a route to every receiver queues
/// them for one alert.
#[allow(dead_code)]
pub fn deliveries_to_every_receiver(
    receivers: &pharos_notify::Receivers,
    alert: &pharos_model::Alert,
) -> Vec<pharos_store::NewDelivery> {
    let names: Vec<String> = receivers.receiver_names().map(str::to_string).collect();
    names
        .iter()
        .flat_map(|name| {
            receivers.deliveries_for_group(&Notification::single(
                name,
                alert,
                receivers.external_url(),
            ))
        })
        .collect()
}
