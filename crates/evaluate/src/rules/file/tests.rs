//! Rule file tests: parsing, the errors' places and words, duplicates and pattern
//! expansion.

use super::*;

fn parse(text: &str) -> Result<Vec<RuleGroupSpec>, Vec<RuleFileError>> {
    parse_rule_file(text, Path::new("rules.yaml"))
}

fn first_error(text: &str) -> RuleFileError {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(mut e) => e.remove(0),
    }
}

const GOOD: &str = "\
groups:
  - name: api
    interval: 30s
    limit: 10
    query_offset: 1m
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          team: shop
      - alert: HighErrorRate
        expr: job:http_requests:rate5m > 0.05
        for: 2m
        keep_firing_for: 5m
        labels:
          severity: critical
          instance: '{{ $labels.instance }}'
        annotations:
          summary: 'Error rate is {{ $value | humanizePercentage }}'
  - name: other
    rules:
      - alert: Up
        expr: 1
";

#[test]
fn parses_groups_and_rules() {
    let g = parse(GOOD).unwrap_or_else(|e| panic!("{}", e[0]));
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].interval, Some(Duration::from_secs(30)));
    assert_eq!(
        (g[0].limit, g[0].query_offset),
        (10, Duration::from_secs(60))
    );
    assert_eq!(g[1].interval, None);
    assert_eq!(g[0].rules[0].name, "job:http_requests:rate5m");
    assert!(!g[0].rules[0].is_alerting());
    let RuleKind::Alerting {
        hold,
        keep_firing_for,
        label_templates,
        annotation_templates,
        ..
    } = &g[0].rules[1].kind
    else {
        panic!("alerting")
    };
    assert_eq!(
        (*hold, *keep_firing_for),
        (Duration::from_secs(120), Duration::from_secs(300))
    );
    assert_eq!(label_templates.len(), 1, "only the templated label");
    assert_eq!(annotation_templates.len(), 1);
    assert_eq!(g[1].rules[0].expr_text, "1");
}

#[test]
fn errors_name_line_column_and_field() {
    let e =
        first_error("groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: sum(up\n");
    assert_eq!((e.line, e.column), (Some(5), Some(9)), "{e}");
    assert_eq!(e.field.as_deref(), Some("groups[0].rules[0].expr"));
    assert!(
        e.message
            .contains("group \"a\", rule 1, \"X\": could not parse expression"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("rules.yaml:5:9: groups[0].rules[0].expr: "),
        "{e}"
    );

    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n      - record: y\n        expr: up\n        for: 5m\n",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(8), Some("groups[0].rules[1].for")),
        "{e}"
    );
    assert!(
        e.message.ends_with("invalid field 'for' in recording rule"),
        "{e}"
    );

    let e = first_error(
        "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      summary: '{{ $value | nope }}'\n",
    );
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.message.contains(
            "annotation \"summary\": template: __alert_X:1:13: function \"nope\" not defined"
        ),
        "{e}"
    );

    let e = first_error("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n");
    assert_eq!((e.line, e.column), (Some(4), Some(5)), "{e}");
    assert!(
        e.message.contains("\"a\" is repeated in the same file"),
        "{e}"
    );

    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        labels: {bad-name: x}\n",
    );
    assert!(e.message.ends_with("invalid label name: bad-name"), "{e}");
    assert_eq!(e.line, Some(6));

    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        record: y\n        expr: up\n",
    );
    assert!(
        e.message.contains("only one of 'record' and 'alert'"),
        "{e}"
    );
    let e = first_error("groups:\n  - name: a\n    rules:\n      - expr: up\n");
    assert!(
        e.message.contains("one of 'record' or 'alert' must be set"),
        "{e}"
    );
    let e = first_error("groups:\n  - name: a\n    rules:\n      - alert: X\n");
    assert!(e.message.contains("field 'expr' must be set"), "{e}");
    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - record: 'bad name'\n        expr: up\n",
    );
    assert!(
        e.message.contains("invalid recording rule name: bad name"),
        "{e}"
    );
    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        annotations: {a: b}\n",
    );
    assert!(e.message.contains("invalid field 'annotations'"), "{e}");
    let e = first_error("groups:\n  - name: ''\n    rules: []\n");
    assert!(e.message.contains("Groupname must not be empty"), "{e}");

    // Type errors come from the YAML reader with its position.
    let e = first_error("groups:\n  - name: a\n    interval: soon\n    rules: []\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("groups[0].interval")),
        "{e}"
    );
    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        fo: 1m\n",
    );
    assert!(e.message.contains("unknown field `fo`"), "{e}");
}

#[test]
fn every_error_of_a_file_is_reported() {
    let errs = parse("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: sum(\n        for: 1m\n      - alert: B\n        expr: up\n        labels: {'a-b': c}\n").unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn duplicates_are_found() {
    let g = parse("groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        labels: {s: p}\n      - alert: X\n        expr: up == 0\n        labels: {s: p}\n      - alert: X\n        expr: up\n        labels: {s: q}\n").unwrap();
    let d = duplicate_rules(&g);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "X");
}

#[test]
fn patterns_expand_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("pharos-rule-files-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/b.yaml"),
        "groups:\n  - name: b\n    rules: []\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("rules/a.yaml"),
        "groups:\n  - name: a\n    rules: []\n",
    )
    .unwrap();
    let g = load_rule_files(&["rules/*.yaml".into()], &dir).unwrap_or_else(|_| panic!("loads"));
    let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(matches!(
        load_rule_files(&["rules/missing.yaml".into()], &dir),
        Err(RuleFilesError::Pattern { index: 0, .. })
    ));
    assert!(
        load_rule_files(&["nothing/*.yaml".into()], &dir)
            .unwrap_or_else(|_| panic!("empty glob"))
            .is_empty()
    );
    std::fs::write(
        dir.join("rules/c.yaml"),
        "groups:\n  - name: c\n    rules:\n      - alert: X\n        expr: 'up +'\n",
    )
    .unwrap();
    match load_rule_files(&["rules/*.yaml".into()], &dir) {
        Err(RuleFilesError::File(e)) => {
            assert!(e.file.ends_with("rules/c.yaml") && e.line == Some(5), "{e}");
        }
        _ => panic!("c.yaml is bad"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_patterns_are_refused_by_name() {
    assert_eq!(
        check_pattern(" ").unwrap_err().to_string(),
        "a rule file pattern must not be empty"
    );
    let e = check_pattern("rules/[a.yaml").unwrap_err();
    let glob_error = std::error::Error::source(&e).expect("the glob error");
    assert_eq!(
        e.to_string(),
        format!("invalid rule file pattern \"rules/[a.yaml\": {glob_error}")
    );
    match load_rule_files(&["rules/[a.yaml".into()], Path::new("")) {
        Err(RuleFilesError::Pattern { index: 0, message }) => assert_eq!(message, e.to_string()),
        _ => panic!("the pattern is refused"),
    }
}

/// Found by fuzzing the query parser: the parser panics on a number no duration can hold,
/// and a rule file reached it without the query API's guard.
#[test]
fn a_duration_out_of_range_is_an_error_at_the_expr_not_a_panic() {
    let e = first_error(
        "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up[1e400]\n",
    );
    assert_eq!(e.field.as_deref(), Some("groups[0].rules[0].expr"), "{e}");
    assert!(e.message.contains("duration out of range: 1e400"), "{e}");
}
