"""The real `@sentry/node` (11.x) reporting to Pharos unchanged: errors (caught and
uncaught), spans (a `startSpan` tree and a node:http server), release health (process
sessions and request-mode session aggregates), logs, and the SDK's client reports.

Each scenario is a script in `node/` run by Node with `SENTRY_DSN` set; `node/instrument.js`
is the `Sentry.init` a user writes. The test checks what Pharos made of it through its API."""

from __future__ import annotations

import json

from conftest import PROJECT, unique


def frames_of(event: dict) -> list[dict]:
    return event["exception"]["values"][-1]["stacktrace"]["frames"]


def test_a_captured_error_becomes_an_issue_and_the_same_error_again_groups_into_it(pharos, run_node):
    marker = unique("cart")
    release = f"storefront@{marker}"
    for _ in range(2):
        run_node("captured_error.js", {"MARKER": marker, "SENTRY_RELEASE": release})

    issue = pharos.issue_titled(marker)
    issue = pharos.wait("both events in one issue",
                        lambda: (lambda i: i if i["count"] == 2 else None)(pharos.api(f"/api/v1/issues/{issue['id']}")))
    assert [i["id"] for i in pharos.issues() if marker in i["title"]] == [issue["id"]], "one issue for both"
    assert issue["title"] == f"RangeError: cart {marker} is empty: nothing to check out", issue
    assert issue["level"] == "error" and issue["last_release"] == release, issue
    assert issue["culprit"].endswith("in computeTotal"), issue

    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    assert event["platform"] == "node" and event["sdk"]["name"] == "sentry.javascript.node", event["sdk"]
    assert event["environment"] == "e2e" and event["release"] == release
    exc = event["exception"]["values"][-1]
    assert exc["type"] == "RangeError" and exc["mechanism"]["handled"] is True, exc
    frames = frames_of(event)
    top, caller = frames[-1], frames[-2]
    assert top["function"] == "computeTotal" and top["filename"].endswith("node/cart.js"), top
    assert top["in_app"] is True and top["lineno"] == 4, top
    assert top["context_line"].strip().startswith("throw new RangeError("), top
    assert caller["function"] == "checkout" and caller["in_app"] is True, caller
    # Node's own frames are there and not in-app.
    internal = [f for f in frames if f["filename"].startswith("node:")]
    assert internal and all(f["in_app"] is False for f in internal), internal
    # The node context the SDK adds.
    assert event["contexts"]["runtime"]["name"] == "node", event["contexts"]

    # Each run was a process session (started at init, ended at exit) that had an error.
    rel = pharos.wait("both process sessions", lambda: (
        lambda r: r if r and r["sessions"] == 2 and r["errored"] == 2 else None)(pharos.release(release)))
    assert rel["crashed"] == 0 and rel["crash_free_rate"] == 1, rel


def test_an_uncaught_error_is_reported_unhandled_and_crashes_its_session(pharos, run_node):
    marker = unique("inv")
    release = f"storefront@{marker}"
    out = run_node("uncaught_error.js", {"MARKER": marker, "SENTRY_RELEASE": release}, check=False)
    assert out.returncode == 1, f"the SDK exits 1 after reporting, as Node would\n{out.stderr}"

    issue = pharos.issue_titled(marker)
    assert issue["title"] == f"TypeError: inventory {marker} could not be loaded", issue
    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    exc = event["exception"]["values"][-1]
    assert exc["mechanism"]["handled"] is False and exc["mechanism"]["type"].endswith("onuncaughtexception"), exc
    assert event["level"] == "fatal", event["level"]
    top = frames_of(event)[-1]
    assert top["function"] == "loadInventory" and top["in_app"] is True, top

    rel = pharos.wait("the crashed session", lambda: pharos.release(release))
    assert (rel["sessions"], rel["crashed"]) == (1, 1), rel
    assert rel["crash_free_rate"] == 0, rel


def test_start_span_tree_is_a_transaction_with_its_spans_in_the_waterfall(pharos, run_node):
    marker = unique("order")
    out = run_node("spans.js", {"MARKER": marker})
    trace_id = json.loads(out.stdout.strip().splitlines()[-1])["traceId"]
    name = f"process-order {marker}"

    tx = pharos.wait("the transaction", lambda: next(
        (t for t in pharos.transactions()["transactions"] if t["name"] == name), None))
    assert tx["count"] == 1 and tx["op"] == "task" and tx["failure_rate"] == 0, tx
    assert 90 <= tx["p50_ms"] < 5000, tx  # two sleeps, 80 and 15 ms (timers may fire a little early)

    detail = pharos.wait("the spans of the slowest sample", lambda: (
        lambda d: d if d["slowest"] and len(d["slowest"][0]["spans"]) == 2 else None)(pharos.transactions(name)))
    sample = detail["slowest"][0]
    spans = {s["name"]: s for s in sample["spans"]}
    assert set(spans) == {"SELECT order", "POST payment"}, sample["spans"]
    assert spans["SELECT order"]["op"] == "db.query" and spans["SELECT order"]["duration_ms"] >= 75, spans
    assert spans["POST payment"]["op"] == "http.client" and spans["POST payment"]["duration_ms"] >= 10, spans

    # The trace joins the transaction, its spans and the log line emitted inside it.
    trace = pharos.wait("the trace with its log", lambda: (
        lambda t: t if t.get("logs") else None)(pharos.api(f"/api/v1/traces/{trace_id}")))
    assert sorted(s["name"] for s in trace["spans"]) == sorted([name, "SELECT order", "POST payment"]), trace["spans"]
    assert [t["name"] for t in trace["transactions"]] == [name]
    assert any(f"order {marker} paid" in json.dumps(log) for log in trace["logs"]), trace["logs"]


def test_logs_keep_level_attributes_and_the_trace_id(pharos, run_node):
    marker = unique("stock")
    out = run_node("spans.js", {"MARKER": marker})
    trace_id = json.loads(out.stdout.strip().splitlines()[-1])["traceId"]

    def mine():
        logs = [log for log in pharos.logs() if marker in log["body"]]
        return logs if len(logs) == 3 else None

    logs = {log["body"]: log for log in pharos.wait("the three SDK log records", mine)}
    paid = logs[f"order {marker} paid"]
    assert paid["level"] == "info" and paid["trace_id"] == trace_id, paid
    attrs = {k: v["value"] for k, v in paid["attributes"].items()}  # typed, as the SDK sent them
    assert paid["attributes"]["order.total"] == {"type": "double", "value": 42.5}, paid["attributes"]
    assert attrs["order.items"] == 3 and attrs["paid"] is True, attrs
    assert attrs["sentry.message.template"] == "order %s paid", attrs
    assert attrs["sentry.message.parameter.0"] == marker, attrs
    assert attrs["sentry.release"] == "storefront@1.0.0" and attrs["sentry.environment"] == "e2e", attrs
    assert attrs["sentry.sdk.name"] == "sentry.javascript.node", attrs
    warn = logs[f"stock low after {marker}"]
    assert warn["level"] == "warn" and warn["attributes"]["sku"]["value"] == "A-100", warn
    assert warn["attributes"]["remaining"] == {"type": "integer", "value": 2}, warn
    assert logs[f"refund failed for {marker}"]["level"] == "error"

    # The log store's search finds them too.
    entries = pharos.wait("the log store search", lambda: pharos.search_logs(marker) if len(pharos.search_logs(marker)) == 3 else None)
    assert {e["message"] for e in entries} == set(logs), entries


def test_an_http_server_reports_request_spans_and_request_sessions(pharos, run_node):
    marker = unique("srv")
    release = f"storefront@{marker}"
    out = run_node("http_server.js", {"MARKER": marker, "SENTRY_RELEASE": release})
    assert json.loads(out.stdout.strip().splitlines()[-1])["statuses"] == [200, 200, 200, 500]

    # Request-mode session aggregates: three requests ended well, one reported an error.
    rel = pharos.wait("the request sessions", lambda: (
        lambda r: r if r and r["sessions"] >= 4 else None)(pharos.release(release)))
    assert rel["errored"] == 1 and rel["crashed"] == 0 and rel["crash_free_rate"] == 1, rel

    # node:http server spans: the SDK names them by method ("GET") without a router.
    def server_tx():
        rows = [t for t in pharos.transactions()["transactions"] if t["op"] == "http.server" and t["name"] == "GET"]
        return rows[0] if rows and rows[0]["count"] >= 4 else None

    tx = pharos.wait("four http.server transactions", server_tx)
    assert tx["failure_rate"] > 0, tx
    detail = pharos.transactions("GET")
    queries = [s for sample in detail["slowest"] for s in sample["spans"] if s["op"] == "db.query"]
    assert queries and queries[0]["name"] == "SELECT * FROM orders" and queries[0]["duration_ms"] >= 15, detail["slowest"]

    issue = pharos.issue_titled(marker)
    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    assert event["request"]["method"] == "GET" and event["request"]["url"].endswith("/fail"), event.get("request")


def test_client_reports_show_nothing_dropped_for_rate_limits_or_errors(pharos, run_node):
    # The scenarios above ran; what the SDKs said they dropped reaches the project.
    run_node("http_server.js", {"MARKER": unique("cr")})
    reports = pharos.wait("a client report", lambda: pharos.api(f"/api/v1/projects/{PROJECT}/client-reports")["discarded"])
    reasons = {r["reason"] for r in reports}
    # `no_parent_span`: the SDK's own choice (outgoing requests outside any span); nothing
    # was held back because Pharos said so or failed.
    assert reasons <= {"no_parent_span", "sample_rate", "event_processor", "before_send"}, reports
    for bad in ("ratelimit_backoff", "network_error", "queue_overflow", "send_error", "buffer_overflow"):
        assert bad not in reasons, reports
