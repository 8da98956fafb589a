"""Log rules of every kind firing and resolving, with the session config's short windows:
forbidden (seed 004's list, `resolve_after: 3s`), rate_limited (`max: 1, per: 5s`),
threshold (`level: ERROR, max: 3, per: 10s`, service rules-bot) and count; their alerts in
`/api/v1/alerts/history` and `/api/v2/alerts`, their counters through PromQL."""

from __future__ import annotations

import time

import pytest

from conftest import RULES_SERVICE
from logs_e2e import wait_for


def asctime() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t * 1000) % 1000:03d}"


def post(pharos, service: str, *lines: tuple[str, str]) -> None:
    """(level, message) lines in seed 004's format."""
    body = "".join(f"{asctime()} - bot.worker - {lvl} - {msg}\n" for lvl, msg in lines).encode()
    assert pharos.post_lines(service, body)["accepted"] == len(lines)


def link_params(alert: dict) -> dict:
    """The query and range of an alert's log explorer link (`/logs?q=…&from=…&to=…`)."""
    from urllib.parse import parse_qs, urlparse
    url = urlparse(alert["generator_url"])
    assert url.path.endswith("/logs"), alert["generator_url"]
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert set(params) >= {"q", "from", "to"}, params
    return params


def explorer_link_entries(pharos, alert: dict, n: int) -> list[dict]:
    """Runs the query of an alert's explorer link from its `from` to now through the API,
    until it shows `n` entries (the alert can fire before the index has committed its
    lines). The link's own `to` is checked apart (test_explorer_link_covers_the_alert)."""
    params = {**link_params(alert), "to": "now", "limit": 1000}
    deadline = time.monotonic() + 5
    while True:
        got = pharos.get_json("/api/v1/logs", params)["entries"]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def open_alerts(pharos, alertname: str, **labels) -> list[dict]:
    return [a for a in pharos.alerts(alertname)
            if a["state"] == "firing" and all(a["labels"].get(k) == v for k, v in labels.items())]


def resolved_alerts(pharos, alertname: str, **labels) -> list[dict]:
    return [a for a in pharos.alerts(alertname)
            if a["state"] == "resolved" and all(a["labels"].get(k) == v for k, v in labels.items())]


def am_open(pharos, **labels) -> list[dict]:
    return [a for a in pharos.am_alerts() if all(a["labels"].get(k) == v for k, v in labels.items())]


@pytest.fixture(scope="module")
def rule_traffic(pharos):
    """Sends the lines every test of this module looks at, once."""
    sent = time.time()
    post(pharos, "rules-forbidden",
         ("ERROR", "Failed to send invoice: Object of type Decimal is not JSON serializable"),
         ("WARNING", "Queue full, rejecting update 8812"),
         ("INFO", "Invoice queue drained"),
         ("WARNING", "Insufficient balance for user 77"))
    post(pharos, "rules-ratelimit",
         ("WARNING", "Duplicate update_id 5551 ignored"),
         ("WARNING", "Duplicate update_id 5552 ignored"),
         ("WARNING", "Model not found: gpt-9"),
         ("WARNING", "Insufficient balance for user 78"),
         ("INFO", "Slow request detected: /webhook took 900ms"),
         ("INFO", "Slow request detected: /webhook took 1200ms"),
         ("INFO", "Slow request detected: /start took 800ms"))
    traceback = (f"{asctime()} - bot.db - ERROR - Worker crashed\n"
                 "Traceback (most recent call last):\n"
                 '  File "/app/worker.py", line 42, in run\n'
                 "    rows = db.fetch()\n"
                 "ConnectionError: Database connection lost\n")
    assert pharos.post_lines("rules-traceback", traceback.encode())["accepted"] == 1
    post(pharos, RULES_SERVICE,
         ("ERROR", "Generation failed for user 1"),
         ("ERROR", "Generation failed for user 2"),
         ("ERROR", "Generation failed for user 3"),
         ("WARNING", "Generation slow for user 4"),
         ("INFO", "Generation completed for user 5"))
    return sent


def test_forbidden_fires_per_pattern_and_resolves(pharos, rule_traffic):
    decimal = dict(alertname="forbidden_log_patterns", service="rules-forbidden",
                   pattern="Decimal.*is not JSON serializable")
    queue = dict(alertname="forbidden_log_patterns", service="rules-forbidden", pattern="Queue full")
    [a] = wait_for("the Decimal forbidden alert firing", lambda: open_alerts(pharos, **decimal),
                   log=pharos.log)
    assert a["labels"] == {**decimal, "severity": "critical", "team": "bot"}
    assert "Decimal is not JSON serializable" in a["annotations"]["line"]
    linked = explorer_link_entries(pharos, a, 1)
    assert [e["message"] for e in linked] == \
        ["Failed to send invoice: Object of type Decimal is not JSON serializable"], a["generator_url"]
    assert a["annotations"]["summary"].startswith("Forbidden log pattern")
    wait_for("the Queue full forbidden alert firing", lambda: open_alerts(pharos, **queue), log=pharos.log)
    # Alertmanager's API lists both.
    wait_for("both in /api/v2/alerts", lambda: len(am_open(pharos, alertname="forbidden_log_patterns",
                                                            service="rules-forbidden")) == 2)
    # Patterns that matched nothing raised nothing.
    others = {a["labels"].get("pattern") for a in pharos.alerts("forbidden_log_patterns")
              if a["labels"].get("service") == "rules-forbidden"}
    assert others == {"Decimal.*is not JSON serializable", "Queue full"}
    # resolve_after 3s without a match.
    wait_for("both forbidden alerts resolved",
             lambda: len(resolved_alerts(pharos, alertname="forbidden_log_patterns",
                                         service="rules-forbidden")) == 2 and
             not open_alerts(pharos, "forbidden_log_patterns", service="rules-forbidden"),
             timeout=15, log=pharos.log)
    for r in resolved_alerts(pharos, "forbidden_log_patterns", service="rules-forbidden"):
        assert r["ends_at"], r
    assert am_open(pharos, alertname="forbidden_log_patterns", service="rules-forbidden") == []


def test_forbidden_pattern_in_the_traceback_of_a_line(pharos, rule_traffic):
    """The pattern is only in the exception line of the traceback that followed the logged
    line; the rule searches the whole entry."""
    labels = dict(alertname="forbidden_log_patterns", service="rules-traceback",
                  pattern="Database connection lost")
    [a] = wait_for("the forbidden alert from a traceback", lambda: open_alerts(pharos, **labels)
                   or resolved_alerts(pharos, **labels), log=pharos.log)
    assert a["annotations"]["line"].startswith("Worker crashed")


def test_rate_limited_fires_above_max_and_resolves(pharos, rule_traffic):
    dup = dict(alertname="rate_limited_log_patterns", service="rules-ratelimit",
               pattern="Duplicate update_id")
    [a] = wait_for("the Duplicate update_id alert firing", lambda: open_alerts(pharos, **dup), log=pharos.log)
    assert a["labels"] == {**dup, "severity": "warning"}
    assert a["annotations"]["count"] == "2"
    linked = explorer_link_entries(pharos, a, 2)
    assert sorted(e["message"] for e in linked) == \
        ["Duplicate update_id 5551 ignored", "Duplicate update_id 5552 ignored"], a["generator_url"]
    assert am_open(pharos, **dup)
    # "Model not found" once is within its limit; "Insufficient balance" once in each of two
    # services is once per service, also within it.
    assert open_alerts(pharos, "rate_limited_log_patterns", pattern="Model not found") == []
    assert [a for a in pharos.alerts("rate_limited_log_patterns")
            if a["labels"].get("pattern") == "Insufficient balance"] == []
    # per: 5s, counted from the lines' arrival.
    wait_for("the rate-limited alert resolved", lambda: resolved_alerts(pharos, **dup)
             and not open_alerts(pharos, **dup), timeout=15, log=pharos.log)
    assert time.time() - rule_traffic >= 4.5


def test_threshold_fires_on_the_fourth_error_and_resolves(pharos, rule_traffic):
    burst = dict(alertname="error_burst", service=RULES_SERVICE)
    # Three ERROR lines are at the limit (max: 3), not above it.
    time.sleep(max(0.0, rule_traffic + 2.0 - time.time()))
    assert open_alerts(pharos, **burst) == []
    post(pharos, RULES_SERVICE, ("CRITICAL", "Generation worker died"))
    fourth = time.time()
    [a] = wait_for("the error_burst alert firing", lambda: open_alerts(pharos, **burst), log=pharos.log)
    assert a["labels"] == {**burst, "severity": "critical"}
    assert "pattern" not in a["labels"]
    assert a["annotations"]["count"] == "4"
    linked = explorer_link_entries(pharos, a, 4)
    assert sorted(e["message"] for e in linked) == sorted(
        ["Generation failed for user 1", "Generation failed for user 2",
         "Generation failed for user 3", "Generation worker died"]), a["generator_url"]
    assert am_open(pharos, **burst)
    # Once the first lines leave the 10 s window, 3 or fewer remain: resolved.
    wait_for("the error_burst alert resolved",
             lambda: resolved_alerts(pharos, **burst) and not open_alerts(pharos, **burst),
             timeout=20, log=pharos.log)
    assert time.time() - rule_traffic >= 9.5
    assert time.time() - fourth < 20


def test_explorer_link_covers_the_alert(pharos, rule_traffic):
    from datetime import datetime
    labels = dict(alertname="forbidden_log_patterns", service="rules-forbidden", pattern="Queue full")
    [a] = wait_for("the Queue full alert", lambda: [x for x in pharos.alerts("forbidden_log_patterns")
                                                    if all(x["labels"].get(k) == v for k, v in labels.items())],
                   log=pharos.log)
    to = datetime.fromisoformat(link_params(a)["to"].replace("Z", "+00:00"))
    starts = datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00"))
    assert to >= starts, f"link ends at {to.isoformat()}, the alert started at {starts.isoformat()}"


def test_rule_status_api(pharos, rule_traffic):
    rules = {r["name"]: r for r in pharos.get_json("/api/v1/log_rules")["rules"]}
    assert set(rules) >= {"forbidden_log_patterns", "rate_limited_log_patterns", "error_burst",
                          "slow_requests"}
    assert rules["slow_requests"]["kind"] == "count"


def test_counters_through_promql(pharos, rule_traffic):
    """Written every 15 s (the engine's series interval), so this waits for one write."""
    def lines_total():
        r = pharos.promql(f'pharos_log_lines_total{{service="{RULES_SERVICE}"}}')
        return {s["metric"].get("level", ""): float(s["value"][1]) for s in r}

    def ready():
        got = lines_total()
        return got if got.get("CRITICAL") == 1 else None

    got = wait_for("pharos_log_lines_total for rules-bot", ready, timeout=40, interval=1, log=pharos.log)
    assert got == {"ERROR": 3, "CRITICAL": 1, "WARNING": 1, "INFO": 1}

    def matches(rule: str) -> dict:
        r = pharos.promql(f'pharos_log_rule_matches_total{{rule="{rule}"}}')
        return {(s["metric"].get("service"), s["metric"].get("pattern", "")): float(s["value"][1])
                for s in r}

    assert matches("slow_requests") == {("rules-ratelimit", "Slow request detected"): 3}
    assert matches("forbidden_log_patterns") == {
        ("rules-forbidden", "Decimal.*is not JSON serializable"): 1,
        ("rules-forbidden", "Queue full"): 1,
        ("rules-traceback", "Database connection lost"): 1,
    }
    dup = matches("rate_limited_log_patterns")
    assert dup[("rules-ratelimit", "Duplicate update_id")] == 2
    assert dup[("rules-ratelimit", "Model not found")] == 1
    assert dup[("rules-ratelimit", "Insufficient balance")] == 1
    assert dup[("rules-forbidden", "Insufficient balance")] == 1
    assert matches("error_burst") == {(RULES_SERVICE, ""): 4}
    # A PromQL expression over them, as an alert rule would write it.
    [s] = pharos.promql(f'sum(pharos_log_lines_total{{service="{RULES_SERVICE}", level=~"ERROR|CRITICAL"}})')
    assert float(s["value"][1]) == 4
