//! Email against a fake SMTP server on loopback that speaks enough SMTP (EHLO, STARTTLS,
//! AUTH, MAIL FROM, RCPT TO, DATA, RSET, QUIT) and records what it is told: plain SMTP
//! with AUTH, STARTTLS with a self-signed certificate trusted through
//! `tls_config.ca_file`, and refusals that are and are not worth a retry.

mod common;

use std::sync::{Arc, Mutex};

use common::{client, firing_group, resolved_group};
use pharos_notify::{Receiver, ReceiverConfig, SendError, send_parts};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

#[derive(Clone, Debug, Default)]
struct Session {
    commands: Vec<String>,
    auth: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    data: Option<String>,
    tls: bool,
}

#[derive(Clone)]
struct FakeSmtp {
    port: u16,
    sessions: Arc<Mutex<Vec<Session>>>,
}

/// What ended a stretch of conversation.
enum Next {
    Closed,
    StartTls,
}

impl FakeSmtp {
    /// `tls`: offer STARTTLS with this acceptor. `reject_rcpt`: answer RCPT TO with it.
    async fn start(
        tls: Option<tokio_rustls::TlsAcceptor>,
        reject_rcpt: Option<&'static str>,
    ) -> FakeSmtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let s = sessions.clone();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let (sessions, tls) = (s.clone(), tls.clone());
                tokio::spawn(async move {
                    let index = {
                        let mut all = sessions.lock().unwrap();
                        all.push(Session::default());
                        all.len() - 1
                    };
                    tcp.write_all(b"220 fake.test ESMTP\r\n").await.unwrap();
                    let mut plain = BufReader::new(tcp);
                    let offer = tls.is_some();
                    let next = talk(&mut plain, &sessions, index, offer, reject_rcpt).await;
                    let (Next::StartTls, Some(acceptor)) = (next, tls) else {
                        return;
                    };
                    let Ok(upgraded) = acceptor.accept(plain.into_inner()).await else {
                        return;
                    };
                    sessions.lock().unwrap()[index].tls = true;
                    let mut secure = BufReader::new(upgraded);
                    talk(&mut secure, &sessions, index, false, reject_rcpt).await;
                });
            }
        });
        FakeSmtp { port, sessions }
    }

    /// A server speaking TLS from the first byte (SMTPS), as on port 465.
    async fn start_implicit_tls(acceptor: tokio_rustls::TlsAcceptor) -> FakeSmtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let s = sessions.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (sessions, acceptor) = (s.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(mut secure) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let index = {
                        let mut all = sessions.lock().unwrap();
                        all.push(Session {
                            tls: true,
                            ..Session::default()
                        });
                        all.len() - 1
                    };
                    secure.write_all(b"220 fake.test ESMTP\r\n").await.unwrap();
                    let mut reader = BufReader::new(secure);
                    talk(&mut reader, &sessions, index, false, None).await;
                });
            }
        });
        FakeSmtp { port, sessions }
    }

    fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }

    fn delivered(&self) -> Session {
        self.sessions()
            .into_iter()
            .find(|s| s.data.is_some())
            .expect("a mail was delivered")
    }
}

/// Answers commands until QUIT, a closed connection or STARTTLS.
async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    sessions: &Mutex<Vec<Session>>,
    index: usize,
    offer_starttls: bool,
    reject_rcpt: Option<&str>,
) -> Next {
    let record = |f: &dyn Fn(&mut Session)| f(&mut sessions.lock().unwrap()[index]);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Next::Closed;
        }
        let line = line.trim_end().to_string();
        record(&|x| x.commands.push(line.clone()));
        let upper = line.to_ascii_uppercase();
        let answer: String = if upper.starts_with("EHLO") {
            let starttls = if offer_starttls {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            format!("250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n{starttls}250 8BITMIME\r\n")
        } else if upper == "STARTTLS" && offer_starttls {
            reader
                .get_mut()
                .write_all(b"220 go ahead\r\n")
                .await
                .unwrap();
            return Next::StartTls;
        } else if let Some(cred) = line.strip_prefix("AUTH PLAIN ") {
            record(&|x| x.auth = Some(cred.to_string()));
            "235 2.7.0 authenticated\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            record(&|x| x.mail_from = Some(line[10..].to_string()));
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            match reject_rcpt {
                Some(refusal) => refusal.into(),
                None => {
                    record(&|x| x.rcpt_to.push(line[8..].to_string()));
                    "250 ok\r\n".into()
                }
            }
        } else if upper == "DATA" {
            reader
                .get_mut()
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .unwrap();
            let mut data = Vec::new();
            while !data.ends_with(b"\r\n.\r\n") {
                let mut byte = [0u8; 1];
                if reader.read_exact(&mut byte).await.is_err() {
                    return Next::Closed;
                }
                data.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&data).to_string();
            record(&|x| x.data = Some(text.clone()));
            "250 2.0.0 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = reader.get_mut().write_all(b"221 bye\r\n").await;
            return Next::Closed;
        } else {
            "250 ok\r\n".into()
        };
        if reader.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return Next::Closed;
        }
    }
}

fn receiver(yaml: &str) -> Arc<dyn Receiver> {
    let config: ReceiverConfig = serde_norway::from_str(yaml).unwrap();
    config.build("https://pharos.example.com").remove(0)
}

/// Quoted-printable soft breaks and `=XX` escapes undone, enough to read the body.
fn unfold(data: &str) -> String {
    data.replace("=\r\n", "")
        .replace("=3D", "=")
        .replace("=20", " ")
}

#[tokio::test]
async fn plain_smtp_with_auth_sends_a_text_and_an_html_part() {
    let smtp = FakeSmtp::start(None, None).await;
    let r = receiver(&format!(
        "name: ops\nemail_configs:\n  - to: 'ops@example.com, Oncall <oncall@example.com>'\n    from: 'Pharos <pharos@example.com>'\n    smarthost: 127.0.0.1:{}\n    hello: pharos.test\n    auth_username: pharos\n    auth_password: SECRETPASS\n    require_tls: false\n    headers:\n      X-Team: payments\n",
        smtp.port
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    assert!(!payload.contains("SECRETPASS"));
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert_eq!(result.unwrap(), 250);
    let s = smtp.delivered();
    assert_eq!(s.commands[0], "EHLO pharos.test");
    assert_eq!(
        s.auth.as_deref(),
        Some("AHBoYXJvcwBTRUNSRVRQQVNT"),
        "AUTH PLAIN pharos/SECRETPASS"
    );
    assert_eq!(s.mail_from.as_deref(), Some("<pharos@example.com>"));
    assert_eq!(s.rcpt_to, ["<ops@example.com>", "<oncall@example.com>"]);
    assert!(!s.tls);
    let data = unfold(s.data.as_deref().unwrap());
    assert!(
        data.contains("From: Pharos <pharos@example.com>\r\n"),
        "{data}"
    );
    assert!(
        data.contains("To: ops@example.com, Oncall <oncall@example.com>\r\n"),
        "{data}"
    );
    assert!(
        data.contains("Subject: =?utf-8?b?"),
        "emoji subjects are encoded: {data}"
    );
    assert!(data.contains("X-Team: payments\r\n"), "{data}");
    assert!(
        data.contains("Date: Fri, 14 Mar 2025 10:00:00 +0000\r\n"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: multipart/alternative"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/plain; charset=utf-8"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/html; charset=utf-8"),
        "{data}"
    );
    assert!(
        data.contains("Acknowledge: https://pharos.example.com/ack/3f9a2c"),
        "{data}"
    );
    assert!(
        data.contains("<a href=\"https://pharos.example.com/ack/3f9a2c\">"),
        "{data}"
    );
    let mail: serde_json::Value = serde_json::from_str(&payload).unwrap();
    insta::assert_snapshot!("email_firing_subject", mail["subject"].as_str().unwrap());
    insta::assert_snapshot!("email_firing_text", mail["text"].as_str().unwrap());
    insta::assert_snapshot!("email_firing_html", mail["html"].as_str().unwrap());
}

#[tokio::test]
async fn subject_text_and_html_are_alertmanager_templates() {
    let smtp = FakeSmtp::start(None, None).await;
    let r = receiver(&format!(
        "name: ops\nemail_configs:\n  - to: ops@example.com\n    from: pharos@example.com\n    smarthost: 127.0.0.1:{}\n    require_tls: false\n    headers:\n      Subject: '{{{{ template \"email.default.subject\" . }}}}'\n      X-Monitor: '{{{{ .CommonLabels.monitor }}}}'\n    text: '{{{{ range .Alerts }}}}{{{{ .Labels.severity }}}}: {{{{ .Annotations.summary }}}}\n{{{{ end }}}}'\n    html: '{{{{ template \"email.default.html\" . }}}}'\n",
        smtp.port
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    let mail: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(mail["subject"], "[FIRING:2] MonitorDown (invoice-bot)");
    assert_eq!(
        mail["text"],
        // YAML folds the single-quoted line break into a space.
        "critical: Invoice bot is not responding warning: Webhook info answers 503 "
    );
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert_eq!(result.unwrap(), 250);
    let data = unfold(smtp.delivered().data.as_deref().unwrap());
    assert!(
        data.contains("Subject: [FIRING:2] MonitorDown (invoice-bot)\r\n"),
        "{data}"
    );
    assert!(data.contains("X-Monitor: invoice-bot\r\n"), "{data}");
    assert!(
        data.contains("critical: Invoice bot is not responding"),
        "{data}"
    );
    // Alertmanager's HTML mail, with its title.
    assert!(
        data.contains("<title>[FIRING:2] MonitorDown (invoice-bot)</title>"),
        "{data}"
    );
}

#[tokio::test]
async fn email_leaves_resolved_out_unless_asked() {
    let r = receiver(
        "name: ops\nemail_configs:\n  - to: a@example.com\n    from: b@example.com\n    smarthost: 127.0.0.1:25\n",
    );
    assert!(r.payload_for(&resolved_group()).is_none());
    let r = receiver(
        "name: ops\nemail_configs:\n  - to: a@example.com\n    from: b@example.com\n    smarthost: 127.0.0.1:25\n    send_resolved: true\n",
    );
    let mail: serde_json::Value =
        serde_json::from_str(&r.payload_for(&resolved_group()).unwrap()).unwrap();
    insta::assert_snapshot!("email_resolved_text", mail["text"].as_str().unwrap());
}

/// A self-signed certificate for `localhost`: the server's acceptor and the PEM file a
/// client trusts through `tls_config.ca_file`.
fn self_signed(name: &str) -> (tokio_rustls::TlsAcceptor, std::path::PathBuf) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = std::env::temp_dir().join(format!("pharos-notify-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

#[tokio::test]
async fn implicit_tls_speaks_tls_from_the_first_byte() {
    let (acceptor, ca_file) = self_signed("smtps");
    let smtp = FakeSmtp::start_implicit_tls(acceptor).await;
    let r = receiver(&format!(
        "name: ops\nemail_configs:\n  - to: ops@example.com\n    from: pharos@example.com\n    smarthost: 127.0.0.1:{}\n    implicit_tls: true\n    auth_username: pharos\n    auth_password: SECRETPASS\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n",
        smtp.port,
        ca_file.display()
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert_eq!(result.unwrap(), 250);
    let s = smtp.delivered();
    assert!(
        s.tls && !s.commands.iter().any(|c| c == "STARTTLS"),
        "{:?}",
        s.commands
    );
    assert!(s.auth.is_some());
    assert_eq!(s.rcpt_to, ["<ops@example.com>"]);
}

#[tokio::test]
async fn starttls_with_a_self_signed_certificate_from_ca_file() {
    let (acceptor, ca_file) = self_signed("smtp");
    let smtp = FakeSmtp::start(Some(acceptor), None).await;
    let r = receiver(&format!(
        "name: ops\nemail_configs:\n  - to: ops@example.com\n    from: pharos@example.com\n    smarthost: 127.0.0.1:{}\n    auth_username: pharos\n    auth_password: SECRETPASS\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n",
        smtp.port,
        ca_file.display()
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert_eq!(result.unwrap(), 250);
    let s = smtp.delivered();
    assert!(s.tls, "{:?}", s.commands);
    let starttls = s.commands.iter().position(|c| c == "STARTTLS").unwrap();
    let auth = s
        .commands
        .iter()
        .position(|c| c.starts_with("AUTH"))
        .unwrap();
    assert!(
        starttls < auth,
        "credentials only after STARTTLS: {:?}",
        s.commands
    );
    assert_eq!(s.rcpt_to, ["<ops@example.com>"]);
}

#[tokio::test]
async fn require_tls_refuses_a_server_without_starttls() {
    let smtp = FakeSmtp::start(None, None).await;
    let r = receiver(&format!(
        "name: ops\nemail_configs:\n  - to: ops@example.com\n    from: pharos@example.com\n    smarthost: 127.0.0.1:{}\n",
        smtp.port
    ));
    let payload = r.payload_for(&firing_group()).unwrap();
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    assert!(result.is_err());
    assert!(
        smtp.sessions().iter().all(|s| s.data.is_none()),
        "nothing sent in the clear"
    );
}

#[tokio::test]
async fn smtp_5xx_is_permanent_and_4xx_is_retried() {
    for (answer, permanent) in [
        ("550 5.1.1 no such user\r\n", true),
        ("451 4.3.0 try later\r\n", false),
    ] {
        let smtp = FakeSmtp::start(None, Some(answer)).await;
        let r = receiver(&format!(
            "name: ops\nemail_configs:\n  - to: ops@example.com\n    from: pharos@example.com\n    smarthost: 127.0.0.1:{}\n    require_tls: false\n",
            smtp.port
        ));
        let payload = r.payload_for(&firing_group()).unwrap();
        let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
        match result {
            Err(SendError::Permanent { status, reason }) => {
                assert!(permanent, "{reason}");
                assert_eq!(status, Some(550));
            }
            Err(SendError::Retryable { status, reason }) => {
                assert!(!permanent, "{reason}");
                assert_eq!(status, Some(451));
            }
            Ok(s) => panic!("delivered with {s}"),
        }
    }
}
