//! `pharos.yaml` end to end: parsing, the error positions and fields, env substitution
//! and the files the config names.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("pharos.yaml"), &|n| {
        (n == "TOKEN").then(|| "s3cret".to_string())
    })
}

#[test]
fn example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pharos.example.yaml");
    let text = std::fs::read_to_string(&path).expect("pharos.example.yaml at the repository root");
    let env = |_: &str| Some("example-secret".to_string());
    let config = Config::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        config.monitors.len() >= 4,
        "the example shows every kind of monitor"
    );
    assert!(!config.receivers.is_empty());
    assert_eq!(config.projects[0].keys.len(), 2);
    assert!(config.projects[0].alerts.transaction_p95.is_some());
    assert_eq!(config.scrubbing.patterns.len(), 1);
}

/// Regression: errors inside a scrape job named only `scrape_configs` at line 1.
#[test]
fn scrape_job_errors_name_the_job_field_and_its_line() {
    let e = parse("scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_protocols: [OpenMetricsText9]\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("scrape_configs[1].scrape_protocols[0]")),
        "{e}"
    );
    let e = parse("scrape_configs:\n  - job_name: a\n    scrape_interval: soon\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("scrape_configs[0].scrape_interval")),
        "{e}"
    );
    let c = parse("scrape_configs:\n  - job_name: a\n    scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]\n").unwrap();
    assert_eq!(c.scrape_configs.len(), 1);
}

#[test]
fn project_errors_name_the_field() {
    let e = parse("projects:\n  - id: 1\n    name: bot\n    rate_limit: lots\n").unwrap_err();
    assert!(e.to_string().contains("projects[0].rate_limit"), "{e}");
    let e = parse("projects:\n  - {id: 1, name: a}\n  - {id: 1, name: b}\n").unwrap_err();
    assert!(e.to_string().contains("two projects have the id 1"), "{e}");
    let e = parse("projects:\n  - {id: 1, name: a, keys: ['bad key!']}\n").unwrap_err();
    assert!(e.to_string().contains("keys[0]"), "{e}");
    let e = parse("scrubbing:\n  patterns: ['(']\n").unwrap_err();
    assert!(e.to_string().contains("scrubbing"), "{e}");
}

#[test]
fn dashboard_errors_name_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("pharos-config-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ok.yaml"), "title: Fine\n").unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "title: Bad\nrows:\n  - panels:\n      - expr: 'sum(up'\n",
    )
    .unwrap();
    let cfg = dir.join("pharos.yaml");
    std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n").unwrap();
    let c = Config::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.loaded_dashboards[0].id, "fine");
    std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n  - bad.yaml\n").unwrap();
    let e = Config::load(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("bad.yaml:4:") && e.contains("rows[0].panels[0].expr"),
        "{e}"
    );
    std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n  - gone.yaml\n").unwrap();
    let e = Config::load(&cfg).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("dashboards[1]")),
        "{e}"
    );
    let e = parse("dashboards: [dashboards/*.txt]\n").unwrap_err();
    assert!(e.to_string().contains("dashboards"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn template_files_are_read_and_their_errors_name_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("pharos-config-tmpl-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/myorg.tmpl"),
        "{{ define \"slack.myorg.text\" }}{{ .Status }}{{ end }}\n",
    )
    .unwrap();
    let cfg = dir.join("pharos.yaml");
    let receivers = "receivers:\n  - name: ops\n    slack_configs:\n      - api_url: http://127.0.0.1:9/x\n        text: '{{ template \"slack.myorg.text\" . }}'\n";
    std::fs::write(
        &cfg,
        format!("templates: ['templates/*.tmpl']\n{receivers}"),
    )
    .unwrap();
    Config::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
    // Without the file the call is to an undefined template, at the field that makes it.
    std::fs::write(&cfg, receivers).unwrap();
    let e = Config::load(&cfg).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("receivers[0].slack_configs[0].text")),
        "{e}"
    );
    assert!(
        e.message.contains("\"slack.myorg.text\" is not defined"),
        "{e}"
    );
    std::fs::write(
        dir.join("templates/myorg.tmpl"),
        "{{ define \"slack.myorg.text\" }}\n{{ .Status }\n{{ end }}\n",
    )
    .unwrap();
    std::fs::write(
        &cfg,
        format!("templates: ['templates/*.tmpl']\n{receivers}"),
    )
    .unwrap();
    let e = Config::load(&cfg).unwrap_err();
    assert_eq!(e.file, dir.join("templates/myorg.tmpl"));
    assert_eq!(e.line, Some(2), "{e}");
    std::fs::write(&cfg, "templates:\n  - gone.tmpl\n").unwrap();
    let e = Config::load(&cfg).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("templates[0]")),
        "{e}"
    );
    let e = parse("templates: ['a/*/b.tmpl']\n").unwrap_err();
    assert!(e.to_string().contains("templates"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn routing_errors_name_line_and_field() {
    let receivers = "receivers:\n  - name: ops\n    webhook_configs: [{url: 'http://x/'}]\n";
    let e = parse(&format!("{receivers}route:\n  receiver: ops\n  routes:\n    - matchers: ['a=\"b\"']\n      receiver: pager\n")).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(8), Some("route.routes[0].receiver")),
        "{e}"
    );
    assert!(e.to_string().contains("\"pager\" is not defined"), "{e}");
    let c = parse(&format!(
        "{receivers}route:\n  receiver: ops\n  group_by: ['...']\n"
    ))
    .unwrap();
    assert!(
        c.routing.original.contains("receiver: ops"),
        "{}",
        c.routing.original
    );
    let c = parse(receivers).unwrap();
    assert_eq!(c.routing.receivers_for(&Default::default()), ["ops"]);
}

#[test]
fn empty_file_is_default() {
    let c = parse("# nothing yet\n").unwrap();
    assert!(c.monitors.is_empty());
}

#[test]
fn env_substitution_keeps_positions() {
    let c = parse("monitors:\n  - name: api\n    http:\n      url: https://example.com/\n      headers:\n        Authorization: \"Bearer ${TOKEN}\"\n").unwrap();
    let pharos_model::MonitorCheck::Http(h) = &c.monitors[0].check else {
        panic!()
    };
    assert_eq!(h.headers["Authorization"], "Bearer s3cret");
    let e = parse("monitors:\n  - name: api\n    http:\n      url: ${MISSING}\n").unwrap_err();
    assert_eq!((e.line, e.column), (Some(4), Some(12)));
    assert!(e.to_string().contains("MISSING is not set"), "{e}");
    assert_eq!(
        substitute_env("a: $${X} $5", Path::new("f"), &|_| None).unwrap(),
        "a: ${X} $5"
    );
}

/// A relabel `replacement: ${1}:9100` (Prometheus's Kubernetes example) is a regex group,
/// not an environment variable; the rest of the line is still expanded.
#[test]
fn regex_groups_in_relabel_replacements_are_kept() {
    let text = "scrape_configs:\n  - job_name: k8s\n    static_configs: [{targets: [\"${HOST}:9100\"]}]\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: (.+):\\d+\n        replacement: ${1}:9100 ${12}\n        target_label: __address__\n";
    let out = substitute_env(text, Path::new("f"), &|n| {
        (n == "HOST").then(|| "db".into())
    })
    .unwrap();
    assert!(out.contains("replacement: ${1}:9100 ${12}"), "{out}");
    assert!(out.contains("\"db:9100\""), "{out}");
    // The whole config reads, relabel rule and all.
    Config::parse(text, Path::new("pharos.yaml"), &|n| {
        (n == "HOST").then(|| "db".into())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn errors_name_line_column_and_field() {
    let e = parse("monitors:\n  - name: api\n    http:\n      url: https://example.com/\n      timeout: soon\n").unwrap_err();
    assert_eq!((e.line, e.column), (Some(5), Some(7)), "{e}");
    assert!(
        e.field
            .as_deref()
            .unwrap_or("")
            .contains("monitors[0].http.timeout"),
        "{e}"
    );
    let e = parse(
        "monitors:\n  - name: api\n    interval: 0s\n    http:\n      url: https://example.com/\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("interval"), "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    let e = parse("monitors:\n  - name: a\n    tcp: {address: 'x:1'}\n  - name: b\n    heartbeat:\n      period: 1m\n      token: 'ab'\n").unwrap_err();
    assert_eq!(
        (e.line, e.column, e.field.as_deref()),
        (Some(7), Some(7), Some("monitors[1].heartbeat.token")),
        "{e}"
    );
    let e = parse("monitor:\n  - name: api\n").unwrap_err();
    assert!(e.to_string().contains("unknown field `monitor`"), "{e}");
    let e = parse("monitors:\n  - name: api\n    http:\n      url: not a url\n").unwrap_err();
    assert!(e.field.as_deref().unwrap_or("").contains("url"), "{e}");
    let e = parse("monitors:\n  - name: a\n    tcp: {address: 'x:1'}\n  - name: a\n    tcp: {address: 'x:2'}\n").unwrap_err();
    assert!(e.to_string().contains("two monitors"), "{e}");
}

#[test]
fn query_limits_are_read_and_zero_is_refused_with_its_line() {
    let c = parse("metrics:\n  query_timeout: 30s\n  query_max_samples: 1000\n  query_max_concurrency: 4\n  self_scrape_sample_limit: 0\n").unwrap();
    let o = c.metrics.engine_options();
    assert_eq!(
        (
            o.timeout,
            o.max_samples,
            c.metrics.query_max_concurrency.get()
        ),
        (std::time::Duration::from_secs(30), 1000, 4)
    );
    assert_eq!(c.metrics.self_scrape_sample_limit, 0, "0 is no limit");
    let d = parse("").unwrap().metrics;
    assert_eq!(
        (
            d.engine_options().timeout,
            d.engine_options().max_samples,
            d.query_max_concurrency.get(),
            d.self_scrape_sample_limit
        ),
        (std::time::Duration::from_secs(120), 50_000_000, 20, 50_000),
        "Prometheus's defaults"
    );
    for (text, line, field) in [
        (
            "metrics:\n  retention: 1d\n  query_timeout: 0s\n",
            3,
            "metrics.query_timeout",
        ),
        (
            "metrics:\n  query_max_concurrency: 0\n",
            2,
            "metrics.query_max_concurrency",
        ),
        (
            "metrics:\n  query_max_samples: 0\n",
            2,
            "metrics.query_max_samples",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(line), Some(field)),
            "{e}"
        );
    }
}

#[test]
fn connection_limits_default_and_refuse_zero_with_field_and_line() {
    let c = parse("web:\n  external_url: http://x\n").unwrap();
    assert_eq!(c.web.connections.max.get(), 4096);
    assert_eq!(c.web.connections.header_timeout.as_duration().as_secs(), 10);
    assert_eq!(c.logs.syslog.idle_timeout.as_duration().as_secs(), 300);
    assert_eq!(
        c.logs.syslog.tls_handshake_timeout.as_duration().as_secs(),
        10
    );
    let e = parse("web:\n  connections:\n    max: 10\n    idle_timeout: 0s\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("web.connections.idle_timeout")),
        "{e}"
    );
    assert!(e.to_string().contains("more than 0s"), "{e}");
    let e = parse("logs:\n  syslog:\n    max_connections: 0\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("logs.syslog.max_connections")),
        "{e}"
    );
    let e = parse("logs:\n  syslog:\n    tls_handshake_timeout: soon\n").unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("logs.syslog.tls_handshake_timeout"),
        "{e}"
    );
}

#[test]
fn receiver_template_errors_name_file_line_and_field() {
    let e = parse(
        "receivers:\n  - name: ops\n    webhook_configs:\n      - url: http://x/\n        body_template: '{\"a\": {{ .Status '\n",
    )
    .unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("receivers[0].webhook_configs[0].body_template"),
        "{e}"
    );
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.to_string().contains("pharos.yaml"), "{e}");
    assert!(
        e.message
            .starts_with("not a valid template: template: body_template:1:7: unclosed action"),
        "{e}"
    );
}

#[test]
fn errors_in_the_new_monitor_kinds_name_their_field_and_line() {
    let cases = [
        (
            "monitors:\n  - name: d\n    dns:\n      name: example.com\n      resolver: dns.google\n",
            (5, "monitors[0].dns.resolver"),
            "is not an IP address",
        ),
        (
            "monitors:\n  - name: d\n    dns:\n      name: example.com\n      record_type: AXFR\n",
            (5, "monitors[0].dns.record_type"),
            "unknown record type",
        ),
        (
            "monitors:\n  - name: g\n    grpc:\n      address: users.internal\n",
            (4, "monitors[0].grpc.address"),
            "is not host:port",
        ),
        (
            "monitors:\n  - name: p\n    icmp:\n      host: router\n      count: 50\n",
            (5, "monitors[0].icmp.count"),
            "send 1 to 10 echo requests",
        ),
        (
            "monitors:\n  - name: r\n    interval: 10m\n    domain:\n      name: example.com\n",
            (3, "monitors[0].interval"),
            "at most hourly",
        ),
        (
            "monitors:\n  - name: h\n    http:\n      url: https://example.com/\n      tls_client_cert: /etc/c.pem\n",
            (5, "monitors[0].http.tls_client_cert"),
            "give `tls_client_key` too",
        ),
    ];
    for (yaml, (line, field), needle) in cases {
        let e = parse(yaml).unwrap_err();
        assert!(e.to_string().contains(needle), "{yaml}: {e}");
        assert_eq!(e.field.as_deref(), Some(field), "{yaml}: {e}");
        assert_eq!(e.line, Some(line), "{yaml}: {e}");
    }
}

const STATUS_PAGES: &str = "monitors:
  - name: API
    heartbeat: {period: 1d}
  - name: Web
    heartbeat: {period: 1d}
web:
  status_pages:
    - slug: public
      title: Acme status
      hosts: [status.acme.example]
      components:
        - monitor: api
          name: Public API
      groups:
        - name: Websites
          components:
            - monitor: web
              description: The shop
    - slug: eu
      components: [{monitor: api}]
";

#[test]
fn status_pages_are_read_with_groups_hosts_and_the_first_at_status() {
    let c = parse(STATUS_PAGES).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let pages = c.web.pages();
    assert_eq!(pages.len(), 2);
    assert_eq!(c.web.page(None).unwrap().slug, "public");
    assert_eq!(c.web.page(Some("eu")).unwrap().title, "Service status");
    assert_eq!(
        c.web.page_for_host("Status.Acme.Example:8080"),
        Some("public")
    );
    assert_eq!(c.web.page_for_host("other.example"), None);
    let public = &pages[0];
    assert_eq!(public.sections.len(), 2);
    assert_eq!(public.sections[1].group.as_deref(), Some("Websites"));
    assert_eq!(
        public.component("api").unwrap().name.as_deref(),
        Some("Public API")
    );
}

#[test]
fn the_older_status_page_is_one_page_at_status() {
    let c = parse("web:\n  status_page:\n    title: Ours\n    monitors: [api]\n").unwrap();
    let page = c.web.page(None).unwrap();
    assert_eq!(
        (page.slug.as_str(), page.title.as_str()),
        ("default", "Ours")
    );
    assert_eq!(page.components().count(), 1);
    // `api` is not a monitor of this file: a warning at its line, not an error.
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(
        (c.warnings[0].line, c.warnings[0].field.as_deref()),
        (Some(4), Some("web.status_page.monitors[0]")),
        "{}",
        c.warnings[0]
    );
    // No page configured: `/status` still answers, with nothing listed.
    let empty = parse("").unwrap();
    assert_eq!(empty.web.page(None).unwrap().components().count(), 0);
}

#[test]
fn status_page_mistakes_name_file_line_and_field() {
    let e = parse("web:\n  status_pages:\n    - slug: a\n    - slug: Not A Slug\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("web.status_pages[1].slug")),
        "{e}"
    );
    let e = parse(
        "web:\n  status_pages:\n    - slug: a\n      groups:\n        - name: G\n          components:\n            - monitor: x\n            - monitor: x\n",
    )
    .unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("web.status_pages[0].groups[0].components[1].monitor"),
        "{e}"
    );
    assert_eq!(e.line, Some(8), "{e}");
    let e = parse("web:\n  status_pages:\n    - slug: a\n    - slug: a\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("web.status_pages[1].slug"), "{e}");
    let e = parse("web:\n  status_pages:\n    - slug: a\n      colour: red\n").unwrap_err();
    assert!(e.message.contains("colour"), "{e}");
    let e = parse("web:\n  status_page:\n    monitors: [a]\n  status_pages:\n    - slug: b\n")
        .unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("web.status_page")),
        "{e}"
    );
    let e = parse("web:\n  external_url: https://Status.Acme.Example\n  status_pages:\n    - slug: a\n      hosts: [status.acme.example]\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("web.status_pages[0].hosts[0]")),
        "{e}"
    );
    let c = parse(
        "web:\n  status_pages:\n    - slug: a\n      groups:\n        - name: G\n          components:\n            - monitor: ghost\n",
    )
    .unwrap();
    assert_eq!(
        (c.warnings[0].line, c.warnings[0].field.as_deref()),
        (
            Some(7),
            Some("web.status_pages[0].groups[0].components[0].monitor")
        ),
        "{}",
        c.warnings[0]
    );
}

#[test]
fn backup_schedule_parses_and_its_errors_name_line_and_field() {
    let c = parse("backup:\n  interval: 6h\n  directory: /var/backups/pharos\n").unwrap();
    let s = c.backup.unwrap().schedule();
    assert_eq!(
        (s.interval, s.directory.to_str().unwrap(), s.keep),
        (
            std::time::Duration::from_secs(6 * 3600),
            "/var/backups/pharos",
            7
        )
    );
    let e = parse("backup:\n  directory: backups\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("backup.directory")),
        "{e}"
    );
    assert!(e.to_string().contains("not an absolute path"), "{e}");
    let e = parse("backup:\n  directory: /b\n  keep: 0\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("backup.keep"), "{e}");
}

/// The top-level sections `keep` of a YAML file, cut out as text (comments and all), as
/// a user pastes them.
fn paste_sections(text: &str, keep: &[&str]) -> String {
    let mut out = String::new();
    let mut keeping = false;
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '\t', '#', '-']) && line.contains(':');
        if top_level {
            keeping = keep.iter().any(|k| line.starts_with(&format!("{k}:")));
        }
        if keeping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Issue 17: Prometheus's own example configs, their `global:` and `scrape_configs:`
/// pasted into `pharos.yaml`, check; those using discovery Pharos lacks fail with "not
/// supported" and nothing else.
#[test]
fn prometheus_example_configs_paste_as_they_are() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-examples");
    let supported_sd = [
        "static_configs",
        "file_sd_configs",
        "docker_sd_configs",
        "consul_sd_configs",
    ];
    let mut checked = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 19, "{entries:?}");
    for file in entries {
        let text = std::fs::read_to_string(&file).unwrap();
        let pasted = paste_sections(&text, &["global", "scrape_configs"]);
        let unsupported = pasted
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.ends_with("_sd_configs") && !supported_sd.contains(w));
        let result = Config::parse(&pasted, &file, &|_| None).and_then(|c| {
            pharos_scrape::manager::ScrapeManager::check(&c.global, &c.scrape_configs)
                .map(|_| c)
                .map_err(|e| ConfigError {
                    file: file.clone(),
                    line: None,
                    column: None,
                    field: None,
                    message: e.to_string(),
                })
        });
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match (unsupported, result) {
            (None, Ok(_)) => checked.push(name),
            (Some(kind), Err(e)) => {
                assert!(
                    e.message.contains(&format!("{kind}: not supported")),
                    "{name}: {e}"
                )
            }
            (None, Err(e)) => panic!("{name}: {e}"),
            (Some(kind), Ok(_)) => panic!("{name}: {kind} was accepted"),
        }
    }
    for must in [
        "prometheus.yml",
        "prometheus-docker.yml",
        "prometheus-agent.yml",
    ] {
        assert!(
            checked.iter().any(|c| c == must),
            "{must} among {checked:?}"
        );
    }
}

/// What Pharos reads but does not act on is a warning at its line, naming the field.
#[test]
fn prometheus_fields_pharos_ignores_are_warned_at_their_line() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/prometheus-examples/prometheus.yml"),
    )
    .unwrap();
    let pasted = paste_sections(&text, &["global", "scrape_configs"]);
    let c = parse(&pasted).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    let line = pasted
        .lines()
        .position(|l| l.contains("scrape_native_histograms: true"))
        .unwrap()
        + 1;
    assert_eq!(
        (w.line, w.field.as_deref()),
        (
            Some(line),
            Some("scrape_configs[0].scrape_native_histograms")
        )
    );
    assert!(w.to_string().contains("native histograms"), "{w}");

    let c = parse(
        "global:\n  scrape_interval: 15s\n  query_log_file: /q.log\nscrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: x\n      client_secret: y\n      token_url: http://t/\n    tls_config: {cert_file: c.pem, key_file: k.pem}\n    http_headers:\n      X-Tenant: {values: [a]}\n",
    )
    .unwrap();
    let got: Vec<(Option<usize>, Option<&str>)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.field.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(3), Some("global.query_log_file")),
            (Some(6), Some("scrape_configs[0].oauth2")),
            (Some(10), Some("scrape_configs[0].tls_config.cert_file")),
            (Some(10), Some("scrape_configs[0].tls_config.key_file")),
        ]
    );
}

/// Issue 17: Alertmanager's own example, pasted as it is, checks: `global:`'s SMTP
/// defaults fill the email receivers (it failed with `missing field 'from'`), its
/// `templates:` glob loads, PagerDuty's v1 `service_key` is read, `tracing:` is warned.
#[test]
fn alertmanager_simple_example_checks_as_it_is() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/alertmanager-examples/simple.yml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.receivers.len(), 5);
    let mail = &c.receivers[0].email_configs[0];
    assert_eq!(mail.from, "alertmanager@example.org");
    assert_eq!(
        (mail.smarthost.host.as_str(), mail.smarthost.port),
        ("localhost", 25)
    );
    assert_eq!(mail.auth_username.as_deref(), Some("alertmanager"));
    assert!(c.receivers[1].pagerduty_configs[0].service_key.is_some());
    let warned: Vec<&str> = c
        .warnings
        .iter()
        .filter_map(|w| w.field.as_deref())
        .collect();
    assert_eq!(warned, ["tracing"], "{:?}", c.warnings);
    assert!(c.routing.routes.len() > 1, "the route tree is read");
}

#[test]
fn alertmanager_global_defaults_yield_to_a_receivers_own_fields() {
    let c = parse(
        "global:\n  scrape_interval: 15s\n  smtp_from: am@example.org\n  smtp_smarthost: 'mail.example.org:587'\n  smtp_require_tls: false\n  resolve_timeout: 10m\n  wechat_api_url: https://wechat.example/\nreceivers:\n  - name: a\n    email_configs:\n      - to: a@example.org\n      - to: b@example.org\n        from: own@example.org\n        smarthost: 'other:25'\n",
    )
    .unwrap();
    let m = &c.receivers[0].email_configs;
    assert_eq!(
        (m[0].from.as_str(), m[0].smarthost.port, m[0].require_tls),
        ("am@example.org", 587, false)
    );
    assert_eq!(
        (m[1].from.as_str(), m[1].smarthost.host.as_str()),
        ("own@example.org", "other")
    );
    assert_eq!(c.global.scrape_interval.as_duration().as_secs(), 15);
    assert_eq!(c.routing.resolve_timeout.as_secs(), 600);
    let w: Vec<(Option<usize>, Option<&str>)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.field.as_deref()))
        .collect();
    assert_eq!(w, [(Some(7), Some("global.wechat_api_url"))]);

    // Without a global default, the error says where else the field could be set.
    let e = parse("receivers:\n  - name: a\n    email_configs:\n      - to: a@example.org\n        smarthost: 'mail:25'\n").unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.to_string().contains("receivers[0].email_configs[0]: missing field `from` (set it here, or `smtp_from` in `global:`)"), "{e}");
    // A bad value in either tool's part of `global:` is named at its line.
    let e = parse("global:\n  smtp_from: a@example.org\n  scrape_interval: soon\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("global.scrape_interval")),
        "{e}"
    );
    let e = parse("global:\n  resolve_timeout: soon\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(2), Some("global.resolve_timeout")),
        "{e}"
    );
    let e = parse("receivers:\n  - name: p\n    pagerduty_configs:\n      - severity: critical\n")
        .unwrap_err();
    assert!(
        e.to_string().contains("missing service or routing key"),
        "{e}"
    );
}

/// `global:` and `receivers:` are read from plain values (to split and fill them); an
/// unknown key is still named at its own line.
#[test]
fn unknown_keys_in_global_and_receivers_are_named_at_their_line() {
    let e = parse("global:\n  scrape_interval: 15s\n  scrape_intervall: 1s\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("global.scrape_intervall")),
        "{e}"
    );
    let e = parse("receivers:\n  - name: a\n    email_configs:\n      - to: a@example.org\n        from: b@example.org\n        smarthost: 'm:25'\n        smarthots: 'm:25'\n").unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(7), Some("receivers[0].email_configs[0].smarthots")),
        "{e}"
    );
}
