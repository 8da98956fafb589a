//! Named templates in receiver templates: Alertmanager's defaults, the config's
//! `templates:` files (read from disk, globs in the file name), and the config errors a
//! bad file or a call to an undefined template makes. Deliveries go to a fake server on
//! loopback, which checks the text that arrives.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{FakeServer, client, firing_group, resolved_group};
use pharos_notify::template_files::{
    TemplateFilesError, alertmanager_defaults, apply_template_files, check_pattern,
};
use pharos_notify::{Receiver, ReceiverConfig, send_parts};

fn configs(yaml: &str) -> Vec<ReceiverConfig> {
    serde_norway::from_str(yaml).unwrap()
}

fn built(configs: &[ReceiverConfig]) -> Arc<dyn Receiver> {
    configs[0].build("https://pharos.example.com").remove(0)
}

async fn deliver(r: &Arc<dyn Receiver>, n: &pharos_model::Notification) {
    let payload = r.payload_for(n).expect("a payload");
    let (result, _) = send_parts(r.as_ref(), &client(), &payload, 0).await;
    result.unwrap();
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("pharos-templates-{name}-{nanos}"));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn alertmanager_default_template_names_render_as_there() {
    let fake = FakeServer::start().await;
    let r = built(&configs(&format!(
        "- name: ops\n  slack_configs:\n    - api_url: {}\n      title: '{{{{ template \"slack.default.title\" . }}}}'\n      text: '{{{{ template \"__text_alert_list\" .Alerts.Firing }}}}'\n      color: '{{{{ template \"slack.default.color\" . }}}}'\n      send_resolved: true\n",
        fake.url("/hook")
    )));
    deliver(&r, &firing_group()).await;
    deliver(&r, &resolved_group()).await;
    let reqs = fake.requests();
    let a = &reqs[0].json()["attachments"][0];
    // `__subject`: the group labels, then the other common labels in parentheses.
    assert_eq!(a["title"], "[FIRING:2] MonitorDown (invoice-bot)");
    assert_eq!(a["color"], "danger");
    let text = a["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "Labels:\n - alertname = MonitorDown\n - instance = https://bot.example.com/health\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Annotations:\n - description = GET /health timed out after 10s (3 checks in a row)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Source: https://pharos.example.com/monitors/invoice-bot\n"),
        "{text}"
    );
    let resolved = &reqs[1].json()["attachments"][0];
    assert_eq!(resolved["title"], "[RESOLVED] MonitorDown (invoice-bot)");
    assert_eq!(resolved["color"], "good");
}

/// Every definition of Alertmanager's `default.tmpl` and `email.tmpl` runs on a firing
/// and a resolved group: the engine knows every function and method they use.
#[test]
fn every_alertmanager_default_template_runs() {
    let named = alertmanager_defaults();
    let names: Vec<&str> = named.names().collect();
    for expected in [
        "__subject",
        "__text_alert_list",
        "slack.default.title",
        "slack.default.text",
        "email.default.subject",
        "email.default.html",
        "pagerduty.default.description",
        "opsgenie.default.message",
        "telegram.default.message",
        "msteams.default.text",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    assert!(named.undefined_calls().is_empty());
    for name in names {
        // The alert lists take a list of alerts, every other one the whole data.
        let arg = if name.starts_with("__text_alert_list") || name == "pagerduty.default.instances"
        {
            ".Alerts"
        } else {
            "."
        };
        let t = pharos_notify::message_template::MessageTemplate::parse(
            "t",
            &format!("{{{{ template {name:?} {arg} }}}}"),
        )
        .unwrap();
        for n in [firing_group(), resolved_group()] {
            if let Err(e) = t.render(&n) {
                panic!("{name}: {e}");
            }
        }
    }
    let html = pharos_notify::message_template::MessageTemplate::parse(
        "html",
        "{{ template \"email.default.html\" . }}",
    )
    .unwrap()
    .render(&firing_group())
    .unwrap();
    assert!(
        html.contains("<title>[FIRING:2] MonitorDown (invoice-bot)</title>"),
        "{html}"
    );
    assert!(
        html.contains("2 alerts for \n                alertname=MonitorDown"),
        "{html}"
    );
}

#[tokio::test]
async fn templates_files_define_what_receivers_call_and_are_read_again_on_load() {
    let dir = temp_dir("files");
    write(
        &dir,
        "templates/slack.tmpl",
        "{{ define \"slack.myorg.title\" }}{{ .CommonLabels.monitor }} is {{ .Status }}{{ end }}\n\
         {{ define \"slack.myorg.text\" }}{{ range .Alerts }}* {{ template \"myorg.line\" . }}\n{{ end }}{{ end }}\n",
    );
    write(
        &dir,
        "templates/common.tmpl",
        "{{ define \"myorg.line\" }}{{ .Labels.severity }}: {{ .Annotations.summary }}{{ end }}",
    );
    // Not matched by the glob.
    write(&dir, "templates/notes.txt", "{{ broken");
    let fake = FakeServer::start().await;
    let yaml = format!(
        "- name: ops\n  slack_configs:\n    - api_url: {}\n      title: '{{{{ template \"slack.myorg.title\" . }}}}'\n      text: '{{{{ template \"slack.myorg.text\" . }}}}'\n",
        fake.url("/hook")
    );
    let mut receivers = configs(&yaml);
    apply_template_files(&["templates/*.tmpl".to_string()], &dir, &mut receivers).unwrap();
    deliver(&built(&receivers), &firing_group()).await;
    let a = &fake.requests()[0].json()["attachments"][0];
    assert_eq!(a["title"], "invoice-bot is firing");
    assert_eq!(
        a["text"],
        "* critical: Invoice bot is not responding\n* warning: Webhook info answers 503\n"
    );

    // A reload reads the files again.
    write(
        &dir,
        "templates/common.tmpl",
        "{{ define \"myorg.line\" }}[{{ .Labels.severity | toUpper }}]{{ end }}",
    );
    let mut receivers = configs(&yaml);
    apply_template_files(&["templates/*.tmpl".to_string()], &dir, &mut receivers).unwrap();
    deliver(&built(&receivers), &firing_group()).await;
    assert_eq!(
        fake.requests()[1].json()["attachments"][0]["text"],
        "* [CRITICAL]\n* [WARNING]\n"
    );
}

#[test]
fn template_file_errors_name_the_file_line_and_column() {
    let dir = temp_dir("errors");
    write(
        &dir,
        "templates/bad.tmpl",
        "{{ define \"a\" }}ok{{ end }}\n{{ define \"b\" }}\n  {{ .Status | nope }}\n{{ end }}\n",
    );
    let mut receivers = configs("- name: ops\n");
    let Err(TemplateFilesError::File(e)) =
        apply_template_files(&["templates/bad.tmpl".into()], &dir, &mut receivers)
    else {
        panic!("a parse error")
    };
    assert_eq!(e.file, dir.join("templates/bad.tmpl"));
    assert_eq!((e.line, e.column), (Some(3), Some(16)));
    assert!(e.message.contains("function \"nope\" not defined"), "{e}");

    let empty = temp_dir("empty");
    let Err(TemplateFilesError::Pattern { index, message }) = apply_template_files(
        &["templates/*.tmpl".into(), "missing.tmpl".into()],
        &empty,
        &mut receivers,
    ) else {
        panic!("a pattern error")
    };
    assert_eq!(index, 1);
    assert!(message.contains("missing.tmpl does not exist"), "{message}");
    assert!(check_pattern("templates/*/x.tmpl").is_err());
    assert!(check_pattern("templates/[.tmpl").is_err());
    assert!(check_pattern("/etc/alertmanager/templates/*.tmpl").is_ok());
}

#[test]
fn calling_an_undefined_template_is_a_config_error_at_load() {
    let empty = temp_dir("undefined");
    let mut receivers = configs(
        "- name: a\n- name: ops\n  email_configs:\n    - to: ops@example.com\n      from: pharos@example.com\n      smarthost: localhost:25\n      headers:\n        Subject: '{{ template \"email.myorg.subject\" . }}'\n",
    );
    let Err(TemplateFilesError::Undefined { field, message }) =
        apply_template_files(&[], &empty, &mut receivers)
    else {
        panic!("an undefined template")
    };
    assert_eq!(field, "receivers[1].email_configs[0].headers.Subject");
    assert!(
        message.contains("\"email.myorg.subject\" is not defined"),
        "{message}"
    );

    // A file calling an undefined one is refused too.
    write(
        &empty,
        "templates/a.tmpl",
        "{{ define \"x\" }}{{ template \"y\" . }}{{ end }}",
    );
    let Err(TemplateFilesError::Undefined { message, .. }) =
        apply_template_files(&["templates/a.tmpl".into()], &empty, &mut configs("[]"))
    else {
        panic!("an undefined template")
    };
    assert_eq!(
        message,
        "template \"x\" calls template \"y\", which is not defined"
    );
}
