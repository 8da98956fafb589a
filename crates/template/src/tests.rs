//! The engine's tests: parsing, trimming, control flow, queries and the positions errors
//! report, run on the data a rule template sees.

use std::collections::BTreeMap;

use crate::{QuerySamples, Template, TemplateData, TemplateError};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(src: &str, value: f64) -> Result<String, TemplateError> {
    let data = TemplateData {
        labels: labels(&[("job", "api"), ("instance", "10.0.0.1:8000")]),
        external_labels: labels(&[("cluster", "eu1")]),
        external_url: "http://pharos.example:9800".into(),
        value,
    };
    let q = |q: &str| -> Result<QuerySamples, String> {
        match q {
            "up" => Ok(vec![
                (labels(&[("__name__", "up"), ("job", "api")]), 1.0),
                (labels(&[("__name__", "up"), ("job", "db")]), 0.0),
            ]),
            "none" => Ok(vec![]),
            other => Err(format!("bad query {other}")),
        }
    };
    Template::parse("__alert_Test", src)?.expand(&data, &q)
}

fn ok(src: &str, value: f64) -> String {
    run(src, value).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn values_labels_and_data() {
    assert_eq!(ok("plain text", 1.0), "plain text");
    assert_eq!(ok("{{ $value }}", 0.0734), "0.0734");
    assert_eq!(ok("{{ $value }}", 2500000.0), "2.5e+06");
    assert_eq!(ok("{{ .Value }}", 3.0), "3");
    assert_eq!(
        ok("{{ $labels.job }} on {{ .Labels.instance }}", 1.0),
        "api on 10.0.0.1:8000"
    );
    assert_eq!(ok("[{{ $labels.missing }}]", 1.0), "[]");
    assert_eq!(
        ok("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0),
        "eu1 http://pharos.example:9800"
    );
    assert_eq!(ok("{{ .ExternalLabels.cluster }}", 1.0), "eu1");
    assert_eq!(
        ok("{{ $labels }}", 1.0),
        "map[instance:10.0.0.1:8000 job:api]"
    );
}

#[test]
fn trimming_and_comments() {
    assert_eq!(ok("a  {{- 1 -}}  b", 0.0), "a1b");
    assert_eq!(ok("a {{/* a comment */}} b", 0.0), "a  b");
    assert_eq!(ok("a {{- /* gone */ -}} b", 0.0), "ab");
    assert_eq!(ok("{{ -1 }} {{ 1.5 }} {{ 0x10 }}", 0.0), "-1 1.5 16");
}

#[test]
fn pipes_and_humanize() {
    assert_eq!(ok("{{ $value | humanizePercentage }}", 0.0734), "7.34%");
    assert_eq!(ok("{{ $value | humanize }}", 1234567.0), "1.235M");
    assert_eq!(ok("{{ humanize1024 $value }}", 1048576.0), "1Mi");
    assert_eq!(
        ok("{{ $value | humanizeDuration }}", 90061.0),
        "1d 1h 1m 1s"
    );
    assert_eq!(ok("{{ printf \"%.2f\" $value }}", 1.23456), "1.23");
    assert_eq!(ok("{{ $labels.job | toUpper }}", 0.0), "API");
    assert_eq!(ok("{{ \"hello world\" | title }}", 0.0), "Hello World");
    assert_eq!(
        ok("{{ reReplaceAll \":[0-9]+\" \"\" $labels.instance }}", 0.0),
        "10.0.0.1"
    );
    assert_eq!(
        ok("{{ reReplaceAll \"(a+)\" \"<$1>\" \"baab\" }}", 0.0),
        "b<aa>b"
    );
}

#[test]
fn control_flow() {
    assert_eq!(
        ok("{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 90.0),
        "high"
    );
    assert_eq!(
        ok("{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 10.0),
        "ok"
    );
    assert_eq!(
        ok(
            "{{ if lt $value 1.0 }}a{{ else if lt $value 5.0 }}b{{ else }}c{{ end }}",
            3.0
        ),
        "b"
    );
    assert_eq!(
        ok("{{ if eq $labels.job \"db\" \"api\" }}yes{{ end }}", 0.0),
        "yes"
    );
    assert_eq!(
        ok("{{ with $labels.job }}job={{ . }}{{ end }}", 0.0),
        "job=api"
    );
    assert_eq!(
        ok("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
        "none"
    );
    assert_eq!(
        ok(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0
        ),
        "instance=10.0.0.1:8000;job=api;"
    );
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            0.0
        ),
        "2"
    );
    assert_eq!(
        ok("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 0.0),
        "empty"
    );
    assert_eq!(
        ok(
            "{{ range $i, $e := query \"up\" }}{{ if $i }}{{ break }}{{ end }}{{ $e.Labels.job }}{{ end }}",
            0.0
        ),
        "api"
    );
}

#[test]
fn queries() {
    assert_eq!(ok("{{ query \"up\" | first | value }}", 0.0), "1");
    assert_eq!(
        ok(
            "{{ with query \"up\" }}{{ . | first | label \"job\" }}{{ end }}",
            0.0
        ),
        "api"
    );
    assert_eq!(
        ok(
            "{{ range query \"up\" }}{{ .Labels.job }}:{{ .Value }} {{ end }}",
            0.0
        ),
        "api:1 db:0 "
    );
    assert_eq!(ok("{{ (query \"up\" | first).Value }}", 0.0), "1");
    let e = run("{{ query \"none\" | first }}", 0.0).unwrap_err();
    assert!(
        e.to_string()
            .contains("first() called on vector with no elements"),
        "{e}"
    );
    let e = run("{{ query \"bad\" }}", 0.0).unwrap_err();
    assert!(
        e.to_string().contains("error calling query: bad query bad"),
        "{e}"
    );
}

#[test]
fn parse_errors_have_positions() {
    let e = Template::parse("__alert_X", "a\n{{ $value | nofunc }}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 13), "{e}");
    assert_eq!(e.message, "function \"nofunc\" not defined");
    let e = Template::parse("t", "{{ $nope }}").unwrap_err();
    assert_eq!(e.message, "undefined variable \"$nope\"");
    let e = Template::parse("t", "{{ if true }}x").unwrap_err();
    assert!(e.message.contains("has no {{end}}"), "{e}");
    let e = Template::parse("t", "x{{ end }}").unwrap_err();
    assert!(e.message.contains("unexpected {{end}}"), "{e}");
    let e = Template::parse("t", "{{ $value").unwrap_err();
    assert!(e.message.contains("unclosed action"), "{e}");
    let e = Template::parse("t", "{{ \"abc }}").unwrap_err();
    assert!(e.message.contains("unterminated"), "{e}");
    assert!(Template::parse("t", "{{ break }}").is_err());
    assert!(Template::parse("t", "{{ template \"x\" }}").is_err());
    // A variable declared inside a block is gone after its end.
    assert!(Template::parse("t", "{{ if true }}{{ $a := 1 }}{{ end }}{{ $a }}").is_err());
}

#[test]
fn execution_errors_have_positions() {
    let e = run("{{ gt $value 80 }}", 1.0).unwrap_err();
    assert!(
        e.message.contains("incompatible types for comparison"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (1, 4));
    let e = run("{{ humanize \"abc\" }}", 1.0).unwrap_err();
    assert!(e.message.contains("error calling humanize"), "{e}");
    let e = run("{{ .Nope }}", 1.0).unwrap_err();
    assert!(e.message.contains("can't evaluate field Nope"), "{e}");
}

/// Alertmanager's notification data, reduced to what the tests read.
fn notification() -> crate::Value {
    use crate::Value;
    let alert = |status: &str, severity: &str, summary: &str| {
        let mut a = BTreeMap::new();
        a.insert("Status", Value::Str(status.into()));
        a.insert("Labels", Value::Map(labels(&[("severity", severity)])));
        a.insert("Annotations", Value::Map(labels(&[("summary", summary)])));
        Value::Struct(a)
    };
    let mut m = BTreeMap::new();
    m.insert("Status", Value::Str("firing".into()));
    m.insert(
        "Alerts",
        Value::List(vec![
            alert("firing", "critical", "db \"primary\" down"),
            alert("resolved", "warning", "disk"),
            alert("firing", "info", "cert"),
        ]),
    );
    m.insert(
        "CommonLabels",
        Value::Map(labels(&[("job", "api"), ("alertname", "Down")])),
    );
    m.insert(
        "ExternalURL",
        Value::Str("http://pharos.example:9800".into()),
    );
    Value::Struct(m)
}

fn notify(src: &str) -> Result<String, TemplateError> {
    let no_queries = |_: &str| -> Result<QuerySamples, String> { Err("no".into()) };
    Template::parse_notification("title", src)?.expand_value(&notification(), &no_queries)
}

#[test]
fn notification_templates_read_alertmanager_data() {
    let ok = |src: &str| notify(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(
        ok("{{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }}"),
        "2/1"
    );
    assert_eq!(
        ok("{{ range .Alerts.Firing }}{{ .Labels.severity }} {{ end }}"),
        "critical info "
    );
    assert_eq!(
        ok("{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"),
        "alertname=Down;job=api;"
    );
    assert_eq!(
        ok("{{ .CommonLabels.Names | join \",\" }}"),
        "alertname,job"
    );
    assert_eq!(ok("{{ join \" \" .CommonLabels.Values }}"), "Down api");
    assert_eq!(
        ok("{{ $.Status | toUpper }} {{ externalURL }}"),
        "FIRING http://pharos.example:9800"
    );
    assert_eq!(
        ok("{{ toJson (index .Alerts 0).Annotations.summary }}"),
        r#""db \"primary\" down""#
    );
    assert_eq!(
        ok("{{ toJson .CommonLabels }}"),
        r#"{"alertname":"Down","job":"api"}"#
    );
    assert_eq!(ok("{{ toJson (len .Alerts) }}"), "3");
}

#[test]
fn notification_templates_have_no_rule_variables() {
    let e = notify("{{ $labels.job }}").unwrap_err().to_string();
    assert!(e.contains("undefined variable \"$labels\""), "{e}");
    assert!(e.contains("title:1:"), "{e}");
    assert!(Template::parse("__alert_X", "{{ $labels.job }}").is_ok());
}

fn notify_with(src: &str, named: &crate::NamedTemplates) -> Result<String, TemplateError> {
    let no_queries = |_: &str| -> Result<QuerySamples, String> { Err("no".into()) };
    Template::parse_notification("title", src)?.expand_value_with(
        &notification(),
        &no_queries,
        named,
    )
}

#[test]
fn notification_templates_define_and_call_named_templates() {
    // In the text itself: `define` (ignored where it stands), `template` with and without
    // a pipeline, and `block` (a definition called in place).
    assert_eq!(
        notify(
            r#"{{ define "sev" }}{{ .Labels.severity }}{{ end }}{{ range .Alerts }}{{ template "sev" . }},{{ end }}"#
        )
        .unwrap(),
        "critical,warning,info,"
    );
    assert_eq!(
        notify(r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" }}"#).unwrap(),
        "[<no value>]"
    );
    assert_eq!(
        notify(r#"{{ block "st" .Status }}{{ toUpper . }}{{ end }}!"#).unwrap(),
        "FIRING!"
    );
    // From shared files; a later file's definition replaces an earlier one's.
    let mut named = crate::NamedTemplates::default();
    named
        .add_file(
            "a.tmpl",
            r#"{{ define "myorg.title" }}old{{ end }}{{ define "myorg.count" }}{{ len .Alerts.Firing }}{{ end }}"#,
        )
        .unwrap();
    named
        .add_file(
            "b.tmpl",
            "text outside is ignored\n{{ define \"myorg.title\" }}{{ template \"myorg.count\" . }} {{ $.Status }}{{ end }}",
        )
        .unwrap();
    assert_eq!(
        named.names().collect::<Vec<_>>(),
        ["myorg.count", "myorg.title"]
    );
    assert_eq!(
        notify_with(r#"{{ template "myorg.title" . }}"#, &named).unwrap(),
        "2 firing"
    );
    assert!(named.undefined_calls().is_empty());
    // A definition's variables are its own: `$` is what it was called with.
    let e = crate::NamedTemplates::default()
        .add_file("c.tmpl", "{{ $x := 1 }}{{ define \"y\" }}{{ $x }}{{ end }}")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: c.tmpl:1:33: undefined variable \"$x\""
    );
}

#[test]
fn named_template_errors_name_the_place() {
    let e = crate::NamedTemplates::default()
        .add_file("slack.tmpl", "{{ define \"a\" }}\n\n  {{ if }}{{ end }}")
        .unwrap_err();
    assert_eq!(
        (e.name.as_str(), e.line, e.column),
        ("slack.tmpl", 3, 9),
        "{e}"
    );
    let e = crate::NamedTemplates::default()
        .add_file("x.tmpl", "{{ define \"a\" }}never ends")
        .unwrap_err();
    assert!(e.message.contains("has no {{end}}"), "{e}");
    let e = notify("{{ if true }}{{ define \"a\" }}{{ end }}{{ end }}").unwrap_err();
    assert!(e.message.contains("only allowed at the top level"), "{e}");
    let e = notify("{{ template .Status }}").unwrap_err();
    assert!(e.message.contains("in template clause"), "{e}");
    // Calls are known at parse time, so a caller can check them before running.
    let t = Template::parse_notification(
        "t",
        r#"{{ define "a" }}{{ template "b" }}{{ end }}{{ template "a" . }}{{ template "c" . }}"#,
    )
    .unwrap();
    assert_eq!(t.called_templates(), ["a", "b", "c"]);
    assert_eq!(
        t.undefined_templates(&crate::NamedTemplates::default()),
        ["b", "c"]
    );
    let e = notify(r#"{{ template "nope" . }}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: title:1:4: no such template \"nope\""
    );
    let e = notify(r#"{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" . }}"#)
        .unwrap_err();
    assert!(e.message.contains("maximum template depth"), "{e}");
    // Rule templates keep Prometheus's limits.
    let e = Template::parse("__alert_X", r#"{{ template "a" . }}"#).unwrap_err();
    assert!(e.message.contains("not supported in rule templates"), "{e}");
}

#[test]
fn label_set_methods_alertmanager_templates_use() {
    assert_eq!(
        notify(r#"{{ .CommonLabels.SortedPairs.Values | join " " }}|{{ .CommonLabels.SortedPairs.Names | join " " }}"#).unwrap(),
        "Down api|alertname job"
    );
    assert_eq!(
        notify(r#"{{ with .CommonLabels.Remove .CommonLabels.SortedPairs.Names }}{{ len . }}{{ end }}|{{ (.CommonLabels.Remove (slice .CommonLabels.Names 0 1)).Values | join "" }}"#).unwrap(),
        "|api"
    );
}
