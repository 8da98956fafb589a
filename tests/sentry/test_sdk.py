"""The real Python `sentry-sdk`, unchanged, reporting to Pharos: issues, counts, grouping,
scrubbing, performance, crons, release health, logs, integrations. The suite runs once
with sentry-sdk 2.x (.venv) and once with 3.x (.venv-sdk3), whose only tracing mode is
span streaming: `span` items, never a transaction event."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import sentry_sdk
from conftest import ADMIN_TOKEN, KEY

# The scenarios run with the same Python (and so the same sentry-sdk) as the tests.
SDK3 = int(sentry_sdk.VERSION.split(".")[0]) >= 3

INIT = """
import sentry_sdk
SDK3 = int(sentry_sdk.VERSION.split(".")[0]) >= 3
# 3.x collects local variables by default (`data_collection`) and has no such option.
LOCALS = {{}} if SDK3 else {{"include_local_variables": True}}
sentry_sdk.init(dsn=DSN, release="shop@1.0", environment="production", server_name="web-1",
                traces_sample_rate=1.0, **LOCALS, {extra})

def transaction(name, op):
    # 3.x has no `start_transaction`: a span without a parent starts a segment.
    if SDK3:
        return sentry_sdk.start_span(name=name, attributes={{"sentry.op": op}})
    return sentry_sdk.start_transaction(name=name, op=op)

def span(name, op):
    if SDK3:
        return sentry_sdk.start_span(name=name, attributes={{"sentry.op": op}})
    return sentry_sdk.start_span(op=op, name=name)
"""


def init(extra: str = "") -> str:
    return INIT.format(extra=extra)


def test_nested_functions_in_two_modules_group_by_frames_not_lines(pharos):
    files = {
        "payments_db.py": """
            def charge(amount):
                if amount > 100:
                    raise ValueError(f"amount {amount} too large for card")
                return amount / 0
        """,
        "payments_api.py": """
            import payments_db

            def checkout(amount):
                return payments_db.charge(amount)

            def refund(amount):
                return payments_db.charge(amount)
        """,
    }
    pharos.run_sdk(init() + """
import payments_api
for amount in (500, 700):
    try:
        payments_api.checkout(amount)
    except ValueError:
        sentry_sdk.capture_exception()
try:
    payments_api.refund(900)
except ValueError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
""", files=files)
    issues = pharos.wait("two ValueError issues", lambda: [
        i for i in pharos.issues("ValueError") if "too large for card" in i["title"]
    ] if len([i for i in pharos.issues("ValueError") if "too large" in i["title"]]) == 2 else None)
    counts = sorted(i["count"] for i in issues)
    assert counts == [1, 2], issues
    big = next(i for i in issues if i["count"] == 2)
    assert big["title"].startswith("ValueError: amount ")
    assert big["culprit"] == "payments_db in charge"
    event = pharos.api(f"/api/v1/issues/{big['id']}/events/latest")["payload"]
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert [f["function"] for f in frames if f.get("in_app")][-2:] == ["checkout", "charge"]


def test_chained_exceptions_title_the_outer_one(pharos):
    pharos.run_sdk(init() + """
class StorageError(Exception):
    pass

def load():
    try:
        {}["missing-key"]
    except KeyError as e:
        raise StorageError("profile store unavailable") from e

try:
    load()
except StorageError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
""")
    issue = pharos.wait("chained issue", lambda: next(iter(pharos.issues("profile store unavailable")), None))
    assert issue["title"] == "StorageError: profile store unavailable"
    types = [e["type"] for e in pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]["exception"]["values"]]
    assert types == ["KeyError", "StorageError"]


# 3.x sends `logging` records as SDK logs and no longer as error events unless asked.
LOGGED_ERRORS_AS_EVENTS = ('integrations=[__import__("sentry_sdk.integrations.logging", fromlist=["_"])'
                           '.LoggingIntegration(event_level=40)]') if SDK3 else ""


def test_messages_and_log_templates_group_without_their_numbers(pharos):
    pharos.run_sdk(init(LOGGED_ERRORS_AS_EVENTS) + """
import logging
sentry_sdk.capture_message("User 123 failed to pay invoice 9")
sentry_sdk.capture_message("User 456 failed to pay invoice 77")
log = logging.getLogger("shop.worker")
log.error("order %s could not be shipped", 1001)
log.error("order %s could not be shipped", 1002)
sentry_sdk.flush()
""")
    msg = pharos.wait("message issue", lambda: [i for i in pharos.issues("failed to pay") if i["count"] == 2])
    assert len(msg) == 1 and msg[0]["level"] == "info", msg
    logged = pharos.wait("log issue", lambda: [i for i in pharos.issues("could not be shipped") if i["count"] == 2])
    assert len(logged) == 1 and logged[0]["level"] == "error" and logged[0]["culprit"] == "shop.worker"


def test_custom_fingerprints(pharos):
    pharos.run_sdk(init() + """
for exc in (TimeoutError("gateway timed out"), ConnectionError("gateway refused")):
    with sentry_sdk.new_scope() as scope:
        scope.fingerprint = ["payment-gateway-down"]
        try:
            raise exc
        except Exception:
            sentry_sdk.capture_exception()
for tenant in ("tenant-a", "tenant-b"):
    with sentry_sdk.new_scope() as scope:
        scope.fingerprint = ["{{ default }}", tenant]
        try:
            raise LookupError("tenant config missing")
        except LookupError:
            sentry_sdk.capture_exception()
sentry_sdk.flush()
""")
    gw = pharos.wait("gateway issue", lambda: [i for i in pharos.issues("gateway") if i["count"] == 2])
    assert len(gw) == 1, gw
    per_tenant = pharos.wait("two tenant issues", lambda: (lambda l: l if len(l) == 2 else None)(pharos.issues("tenant config missing")))
    assert all(i["count"] == 1 for i in per_tenant)


def test_scope_tags_user_contexts_and_before_send(pharos):
    pharos.run_sdk(init("before_send=before_send") .replace("import sentry_sdk", """import sentry_sdk
def before_send(event, hint):
    exc = hint.get("exc_info")
    if exc and isinstance(exc[1], KeyboardInterrupt):
        return None
    event.setdefault("tags", {})["edited_by"] = "before_send"
    return event
""") + """
sentry_sdk.set_tag("tenant_id", "acme")
sentry_sdk.set_user({"id": "u-7", "email": "seven@example.com"})
sentry_sdk.set_context("order", {"id": "o-55", "items": 3})
try:
    raise RuntimeError("scope api check")
except RuntimeError:
    sentry_sdk.capture_exception()
sentry_sdk.set_user({"id": "u-8"})
try:
    raise RuntimeError("scope api check")
except RuntimeError:
    sentry_sdk.capture_exception()
try:
    raise KeyboardInterrupt()
except KeyboardInterrupt:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
""")
    issue = pharos.wait("scope issue", lambda: next((i for i in pharos.issues("scope api check tenant_id:acme") if i["count"] == 2), None))
    assert issue["users"] == 2
    detail = pharos.api(f"/api/v1/issues/{issue['id']}")
    tags = {t["key"]: {v["value"]: v["count"] for v in t["top"]} for t in detail["tags"]}
    assert tags["tenant_id"] == {"acme": 2}
    assert tags["edited_by"] == {"before_send": 2}
    assert tags["environment"] == {"production": 2} and tags["release"] == {"shop@1.0": 2}
    assert detail["environments"] == ["production"]
    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    assert event["contexts"]["order"] == {"id": "o-55", "items": 3}
    assert event["user"]["id"] == "u-8"
    assert not pharos.issues("KeyboardInterrupt"), "before_send dropped it"
    assert pharos.issues("is:unresolved environment:production release:shop@1.0 tenant_id:acme level:error scope")


def test_secrets_never_reach_the_store(pharos):
    pharos.run_sdk(init() + """
def send_invoice():
    secret_token = "hunter2-local"
    api_key = "ak-live-123456"
    stripe_password = "pw-999"
    sentry_sdk.add_breadcrumb(category="http", message="GET /api", data={"Authorization": "Bearer sk_live_abcdefghijklmnop"})
    sentry_sdk.set_extra("bot", "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3")
    sentry_sdk.set_extra("note", "card 4111 1111 1111 1111 declined, key AKIAIOSFODNN7EXAMPLE")
    sentry_sdk.set_extra("order_id", "o-12345")
    raise PermissionError("invoice scrub check")
try:
    send_invoice()
except PermissionError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
""")
    issue = pharos.wait("scrub issue", lambda: next(iter(pharos.issues("invoice scrub check")), None))
    raw = json.dumps(pharos.api(f"/api/v1/issues/{issue['id']}/events/latest"))
    for secret in ("hunter2-local", "ak-live-123456", "pw-999", "sk_live_abcdefghijklmnop",
                   "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in raw, f"{secret} stored"
    assert "[Filtered]" in raw and "o-12345" in raw


def test_transaction_with_spans(pharos):
    pharos.run_sdk(init() + """
import time
with transaction(op="task", name="process-order"):
    with span(op="db.query", name="SELECT order"):
        time.sleep(0.06)
    with span(op="http.client", name="POST payment"):
        time.sleep(0.01)
sentry_sdk.flush()
""")
    tx = pharos.wait("transaction", lambda: next((t for t in pharos.api("/api/v1/transactions?project=42&period=1h")["transactions"] if t["name"] == "process-order"), None))
    assert tx["count"] >= 1 and tx["p95_ms"] >= 60 and tx["op"] == "task"
    detail = pharos.api("/api/v1/transactions?project=42&period=1h&name=process-order")
    # The waterfall's spans come from the span store, whichever SDK sent them.
    spans = detail["slowest"][0]["spans"]
    assert sorted(s["op"] for s in spans) == ["db.query", "http.client"], spans
    assert {s["name"] for s in spans} == {"SELECT order", "POST payment"}
    if not SDK3:
        assert sorted(s["op"] for s in detail["slowest"][0]["payload"]["spans"]) == ["db.query", "http.client"]


def test_cron_check_in_creates_and_drives_a_heartbeat_monitor(pharos):
    pharos.run_sdk(init() + """
from sentry_sdk.crons import monitor

@monitor(monitor_slug="nightly-report", monitor_config={
    "schedule": {"type": "crontab", "value": "0 3 * * *"}, "timezone": "UTC",
    "checkin_margin": 5, "max_runtime": 30})
def nightly():
    return 1

nightly()
sentry_sdk.flush()
""")
    m = pharos.wait("check-in monitor", lambda: next((m for m in pharos.api("/api/v1/monitors")["monitors"] if m["id"] == "sentry-42-nightly-report"), None))
    assert m["type"] == "heartbeat" and "0 3 * * *" in m["target"]
    m = pharos.wait("monitor up after ok check-in", lambda: (lambda x: x if x["state"] == "up" else None)(pharos.api("/api/v1/monitors/sentry-42-nightly-report")))


def test_flask_integration_reports_unhandled_exceptions(pharos):
    pharos.run_sdk(init() + """
from flask import Flask
app = Flask(__name__)

@app.route("/boom")
def boom():
    return 1 / 0

client = app.test_client()
assert client.get("/boom?token=abc&page=2").status_code == 500
sentry_sdk.flush()
""")
    # 2.x names a Flask transaction after the endpoint, 3.x after the route.
    name = "/boom" if SDK3 else "boom"
    issue = pharos.wait("flask issue", lambda: next((i for i in pharos.issues(f'ZeroDivisionError transaction:"{name}"') ), None))
    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    assert "/boom" in event["request"]["url"]
    assert event["exception"]["values"][-1]["mechanism"]["handled"] is False
    assert "abc" not in json.dumps(event["request"]), "the token query parameter is scrubbed"
    assert issue["culprit"] == "__main__ in boom"


def test_brotli_and_gzip_bodies_both_arrive(pharos):
    pharos.run_sdk(init() + """
sentry_sdk.capture_message("compressed with brotli")
sentry_sdk.flush()
""")
    pharos.run_sdk(init('_experiments={"transport_compression_algo": "gzip"}') + """
sentry_sdk.capture_message("compressed with gzip")
sentry_sdk.flush()
""")
    pharos.run_sdk(init('_experiments={"transport_compression_level": 0}') + """
sentry_sdk.capture_message("not compressed at all")
sentry_sdk.flush()
""")
    for m in ("compressed with brotli", "compressed with gzip", "not compressed at all"):
        pharos.wait(m, lambda: pharos.issues(f'"{m}"'))


def test_release_health_sessions(pharos):
    two = init().replace('release="shop@1.0"', 'release="shop@2.0"')
    # One clean session and one that crashed (an unhandled error marks it crashed).
    pharos.run_sdk(two + """
sentry_sdk.start_session()
sentry_sdk.capture_message("session check")
sentry_sdk.end_session()
sentry_sdk.start_session()
try:
    raise SystemError("crashing session")
except SystemError as e:
    sentry_sdk.capture_event({"message": "crash", "level": "fatal",
        "exception": {"values": [{"type": "SystemError", "value": "crashing session",
                                   "mechanism": {"type": "generic", "handled": False}}]}})
sentry_sdk.end_session()
sentry_sdk.flush()
""")
    rel = pharos.wait("release health", lambda: next((r for r in pharos.api("/api/v1/projects/42/releases")["releases"]
                                                       if r["release"] == "shop@2.0" and r["sessions"] >= 2), None), timeout=15)
    assert rel["crashed"] >= 1, rel
    assert 0 < rel["crash_free_rate"] < 1, rel


def test_resolving_then_a_new_event_is_a_regression(pharos):
    code = init() + """
try:
    raise OverflowError("regression check")
except OverflowError:
    sentry_sdk.capture_exception()
sentry_sdk.flush()
"""
    pharos.run_sdk(code)
    issue = pharos.wait("issue", lambda: next(iter(pharos.issues("regression check")), None))
    assert pharos.api(f"/api/v1/issues/{issue['id']}", "PATCH", {"status": "resolved"})["status"] == "resolved"
    assert not pharos.issues("is:unresolved regression check")
    pharos.run_sdk(code)
    again = pharos.wait("regressed", lambda: next((i for i in pharos.issues("is:regressed regression check")), None))
    assert again["id"] == issue["id"] and again["count"] == 2
    pharos.wait("IssueRegression alert", lambda: [a for a in pharos.api("/api/v1/alerts/history")["alerts"]
                                                   if a["labels"].get("alertname") == "IssueRegression"
                                                   and a["labels"].get("issue_id") == str(issue["id"])])


def test_a_wrong_key_stores_nothing(pharos):
    wrong = pharos.dsn.replace("e2esdkkey", "wrongkey0")
    pharos.run_sdk(init() .replace("dsn=DSN", "dsn=DSN_WRONG") .replace("import sentry_sdk", f"import sentry_sdk\nDSN_WRONG = {wrong!r}") + """
sentry_sdk.capture_message("sent with a wrong key")
sentry_sdk.flush()
""")
    time.sleep(0.5)
    assert not pharos.issues('"sent with a wrong key"')


def test_the_sdk_holds_back_a_category_over_quota_and_sends_the_rest(pharos):
    from conftest import KEY, LIMITED_KEY, LIMITED_PROJECT, PROJECT

    dsn = pharos.dsn.replace(KEY, LIMITED_KEY).replace(f"/{PROJECT}", f"/{LIMITED_PROJECT}")
    pharos.run_sdk(init() + """
for i in range(4):
    with transaction(name="limited-job", op="task"):
        pass
    sentry_sdk.flush()
sentry_sdk.capture_message("errors pass a transaction quota")
sentry_sdk.flush()
""", dsn=dsn)
    pharos.wait("the error", lambda: pharos.issues('"errors pass a transaction quota"'))
    metrics = urllib.request.urlopen(pharos.url + "/metrics", timeout=10).read().decode()
    # 3.x streams the segments as `span` items, counted against the transaction quota.
    item = "span" if SDK3 else "transaction"
    refused = next(l for l in metrics.splitlines()
                   if l.startswith(f'pharos_sentry_items_total{{outcome="rate_limited",type="{item}"}}'))
    # One refused with `X-Sentry-Rate-Limits: <n>:transaction;span:project:quota`; the SDK
    # then kept the other two to itself instead of sending them.
    assert float(refused.rsplit(" ", 1)[1]) == 1.0, refused
    kept = [t for t in pharos.api(f"/api/v1/transactions?project={LIMITED_PROJECT}&period=1h")["transactions"]
            if t["name"] == "limited-job"]
    assert kept and kept[0]["count"] == 1, kept


def test_a_flask_app_as_a_new_user_sets_it_up_shows_on_the_performance_pages(pharos):
    # The init a new user writes: a DSN and a sample rate, nothing else.
    pharos.run_sdk("""
import time
import sentry_sdk
sentry_sdk.init(dsn=DSN, traces_sample_rate=1.0)
from flask import Flask
app = Flask(__name__)

@app.route("/orders_list")
def orders_list():
    if int(sentry_sdk.VERSION.split(".")[0]) >= 3:
        query = sentry_sdk.start_span(name="SELECT * FROM orders", attributes={"sentry.op": "db.query"})
    else:
        query = sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders")
    with query:
        time.sleep(0.002)
    return "ok"

@app.route("/orders_report")
def orders_report():
    time.sleep(0.35)
    return "ok"

@app.route("/orders_fail")
def orders_fail():
    raise RuntimeError("orders backend down")

client = app.test_client()
for _ in range(5):
    assert client.get("/orders_list").status_code == 200
assert client.get("/orders_report").status_code == 200
assert client.get("/orders_fail").status_code == 500
sentry_sdk.flush()
""")
    def summaries():
        rows = pharos.api("/api/v1/transactions?project=42&period=1h")["transactions"]
        # 2.x names a Flask transaction after the endpoint, 3.x after the route.
        by_name = {t["name"].lstrip("/"): t for t in rows if t["name"].lstrip("/").startswith("orders_")}
        return by_name if len(by_name) == 3 and by_name["orders_list"]["count"] == 5 else None
    by_name = pharos.wait("three Flask transactions", summaries, timeout=20)
    listing, report, fail = by_name["orders_list"], by_name["orders_report"], by_name["orders_fail"]
    assert listing["op"] == "http.server" and listing["failure_rate"] == 0, listing
    assert listing["p50_ms"] < 300 and listing["p95_ms"] < 300 and listing["p99_ms"] <= listing["max_ms"], listing
    assert 350 <= report["p50_ms"] == report["p95_ms"] == report["p99_ms"] < 2000, report
    assert fail["count"] == 1 and fail["failure_rate"] == 1.0, fail

    detail = pharos.api("/api/v1/transactions?project=42&period=1h&name=" + urllib.parse.quote(listing["name"]))
    assert len(detail["slowest"]) == 5
    spans = pharos.wait("the query span in the slowest sample", lambda: (
        lambda d: d["slowest"][0]["spans"] or None)(
        pharos.api("/api/v1/transactions?project=42&period=1h&name=" + urllib.parse.quote(listing["name"]))))
    query = next(s for s in spans if s["op"] == "db.query")
    assert query["name"] == "SELECT * FROM orders" and query["duration_ms"] >= 2, query

    # The Performance page shows the same numbers and the waterfall.
    page_url = f"/transactions?project=42&period=1h&name={urllib.parse.quote(listing['name'])}"
    req = urllib.request.Request(pharos.url + page_url)
    req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    page = urllib.request.urlopen(req, timeout=10).read().decode()
    assert "SELECT * FROM orders" in page and "Slowest samples" in page

    # The series and the failure count agree.
    metrics = urllib.request.urlopen(pharos.url + "/metrics", timeout=10).read().decode()
    assert any(l.startswith("pharos_transactions_total{") and 'status="failed"' in l and "orders_fail" in l
               for l in metrics.splitlines()), "failed transaction series"


def test_a_span_item_with_bad_spans_keeps_the_rest_of_the_envelope(pharos):
    trace = "0badc0de" * 4
    good = {"trace_id": trace, "span_id": "1111222233334444", "name": "kept-segment", "status": "ok",
            "is_segment": True, "start_timestamp": time.time() - 1, "end_timestamp": time.time(),
            "attributes": {"sentry.op": {"value": "task", "type": "string"},
                           "db.password": {"value": "hunter2-span", "type": "string"}}}
    bad = [{"span_id": "1111222233335555", "start_timestamp": 1, "end_timestamp": 2},
           {"trace_id": trace, "span_id": "1111222233336666", "end_timestamp": 2},
           {"trace_id": trace, "span_id": "1111222233337777", "start_timestamp": "soon", "end_timestamp": 2}]
    spans = json.dumps({"version": 2, "items": bad + [good]})
    event = json.dumps({"event_id": "0badc0de0badc0de0badc0de0badc0de", "message": "kept beside bad spans"})
    body = "\n".join([
        json.dumps({"event_id": "0badc0de0badc0de0badc0de0badc0de"}),
        json.dumps({"type": "span", "content_type": "application/vnd.sentry.items.span.v2+json",
                    "item_count": 4, "length": len(spans)}),
        spans,
        json.dumps({"type": "event", "length": len(event)}),
        event,
    ]).encode() + b"\n"
    req = urllib.request.Request(f"{pharos.url}/api/42/envelope/", data=body, method="POST")
    req.add_header("Content-Type", "application/x-sentry-envelope")
    req.add_header("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    pharos.wait("the event", lambda: pharos.issues('"kept beside bad spans"'))
    kept = pharos.api(f"/api/v1/traces/{trace}")
    assert [s["name"] for s in kept["spans"]] == ["kept-segment"], kept["spans"]
    assert "hunter2-span" not in json.dumps(kept), "span attributes are scrubbed"
    assert [t["name"] for t in kept["transactions"]] == ["kept-segment"]
    metrics = urllib.request.urlopen(pharos.url + "/metrics", timeout=10).read().decode()
    invalid = next(l for l in metrics.splitlines()
                   if l.startswith('pharos_sentry_items_total{outcome="invalid",type="span"}'))
    assert float(invalid.rsplit(" ", 1)[1]) >= 3, invalid


def test_sdk_logs_reach_the_log_store(pharos):
    # 3.x sends logs by default; 2.x needs `enable_logs`.
    pharos.run_sdk(init("" if SDK3 else "enable_logs=True") + """
from sentry_sdk import logger as sentry_logger
sentry_logger.warning("payout {payout_id} delayed", payout_id="po4411x")
sentry_sdk.flush()
""")
    def found():
        req = urllib.request.Request(pharos.url + "/api/v1/logs?" + urllib.parse.urlencode({"q": "po4411x", "since": "1h"}))
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["entries"]
    entries = pharos.wait("the SDK log line", found)
    assert entries[0]["message"] == "payout po4411x delayed", entries[0]
