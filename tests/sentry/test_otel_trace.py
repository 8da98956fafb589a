"""One trace across an OpenTelemetry-instrumented service and a Sentry-instrumented one.

`checkout` is instrumented with the OpenTelemetry SDK; sentry-sdk's `OTLPIntegration`
exports its spans over OTLP/HTTP to its project's DSN endpoint and propagates the trace
in `sentry-trace`. It calls `billing`, a Flask app on the plain Sentry SDK (2.x or 3.x, as
the suite runs), which continues the trace, logs a warning and fails. Pharos shows one
trace: both services' spans in one tree, billing's error event and its log line.

And a service on the plain OpenTelemetry SDK, configured from the OTEL_EXPORTER_OTLP_*
environment with a `traces:write` token, lands in a project of its `service.name`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request

from conftest import ADMIN_TOKEN, OTEL_KEY, OTEL_PROJECT, PROJECT

BILLING = """
import sentry_sdk
SDK3 = int(sentry_sdk.VERSION.split(".")[0]) >= 3
# 3.x sends logs by default; 2.x needs `enable_logs`.
sentry_sdk.init(dsn=DSN, release="billing@2.0", environment="production",
                traces_sample_rate=1.0, **({} if SDK3 else {"enable_logs": True}))
from flask import Flask
from sentry_sdk import logger as sentry_logger
from werkzeug.serving import make_server

app = Flask(__name__)

@app.route("/charge", methods=["POST"])
def charge():
    sentry_logger.warning("card declined for order {order}", order="o-991")
    raise ValueError("card declined for order o-991")

@app.route("/flush")
def flush():
    sentry_sdk.flush()
    return "ok"

server = make_server("127.0.0.1", 0, app)
print(server.server_port, flush=True)
server.serve_forever()
"""

CHECKOUT = """
import urllib.error
import urllib.request
import sentry_sdk
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from sentry_sdk.integrations.otlp import OTLPIntegration

provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
trace.set_tracer_provider(provider)
sentry_sdk.init(dsn=DSN, integrations=[OTLPIntegration(setup_propagator=True)])
tracer = trace.get_tracer("checkout.web")
with tracer.start_as_current_span("POST /pay", kind=SpanKind.SERVER,
                                  attributes={"http.request.method": "POST"}) as root:
    with tracer.start_as_current_span("POST billing", kind=SpanKind.CLIENT,
                                      attributes={"http.request.method": "POST"}) as call:
        headers = {}
        propagate.inject(headers)
        assert "sentry-trace" in headers, headers
        req = urllib.request.Request(f"http://127.0.0.1:{BILLING_PORT}/charge", data=b"{}",
                                     headers=headers, method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 500, e
print(format(root.get_span_context().trace_id, "032x"), format(call.get_span_context().span_id, "016x"))
provider.shutdown()
sentry_sdk.flush()
urllib.request.urlopen(f"http://127.0.0.1:{BILLING_PORT}/flush", timeout=10).read()
"""


def page(pharos, path: str) -> str:
    req = urllib.request.Request(pharos.url + path)
    req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    return urllib.request.urlopen(req, timeout=10).read().decode()


def test_a_trace_across_an_opentelemetry_and_a_sentry_service_is_one_trace(pharos):
    workdir = pharos.workdir / "otel-trace"
    workdir.mkdir()
    (workdir / "billing.py").write_text(f"DSN = {pharos.dsn!r}\n" + textwrap.dedent(BILLING))
    billing = subprocess.Popen([sys.executable, "billing.py"], cwd=workdir, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        port = int(billing.stdout.readline())
        otel_dsn = f"http://{OTEL_KEY}@127.0.0.1:{pharos.port}/{OTEL_PROJECT}"
        out = pharos.run_sdk(f"BILLING_PORT = {port}\n" + CHECKOUT, dsn=otel_dsn)
    finally:
        billing.terminate()
        billing.wait(timeout=10)
    trace_id, call_span = out.split()

    def complete():
        t = pharos.api(f"/api/v1/traces/{trace_id}")
        projects = {s["project_id"] for s in t["spans"]}
        return t if projects == {PROJECT, OTEL_PROJECT} and t["events"] and t["logs"] else None
    t = pharos.wait("both services' spans, the error and the log line", complete, timeout=20)

    by_project = lambda p: [s for s in t["spans"] if s["project_id"] == p]
    otel = {s["name"]: s for s in by_project(OTEL_PROJECT)}
    assert set(otel) == {"POST /pay", "POST billing"}, otel
    assert otel["POST /pay"]["is_segment"] and otel["POST /pay"]["op"] == "http.server"
    assert otel["POST billing"]["parent_span_id"] == otel["POST /pay"]["span_id"]
    assert otel["POST billing"]["span_id"] == call_span
    # billing's request continues the trace under checkout's client span.
    billing_root = next(s for s in by_project(PROJECT) if s["is_segment"])
    assert billing_root["parent_span_id"] == call_span, billing_root
    assert billing_root["status"] != "ok", billing_root
    assert all(s["trace_id"] == trace_id for s in t["spans"])

    [event] = t["events"]
    assert event["project_id"] == PROJECT and "card declined" in event["title"], event
    assert any(l["message"] == "card declined for order o-991" for l in t["logs"]), t["logs"]

    # Both services under Performance, each in its project.
    names = lambda p: {x["name"] for x in pharos.api(f"/api/v1/transactions?project={p}&period=1h")["transactions"]}
    assert "POST /pay" in names(OTEL_PROJECT)
    assert any("charge" in n for n in names(PROJECT)), names(PROJECT)

    # One waterfall: checkout's spans, then billing's request under checkout's call, with
    # billing's error and log line under billing's request.
    rows = t["waterfall"]
    span_rows = [dict(r, **t["spans"][r["index"]]) for r in rows if r["kind"] == "span"]
    assert [r["name"] for r in span_rows[:2]] == ["POST /pay", "POST billing"], rows
    assert span_rows[0]["service"] == "checkout" and span_rows[0]["depth"] == 0, span_rows[0]
    under_call = next(r for r in span_rows if r["span_id"] == billing_root["span_id"])
    assert under_call["depth"] == 2 and under_call["service"] == "shop", under_call
    # The error and the log lines (the warning; 2.x also sends Flask's "Exception on
    # /charge" record) sit under billing's request.
    placed = [r for r in rows if r["kind"] in ("event", "log")]
    warning = next(i for i, l in enumerate(t["logs"]) if l["message"] == "card declined for order o-991")
    assert {"kind": "log", "index": warning} in [{"kind": r["kind"], "index": r["index"]} for r in placed]
    assert any(r["kind"] == "event" for r in placed), rows
    assert all(r["depth"] == under_call["depth"] + 1 for r in placed), rows
    assert {s["name"] for s in t["services"]} == {"checkout", "shop"}, t["services"]

    # The trace page shows the same.
    html = page(pharos, f"/traces/{trace_id}")
    for text in ("POST /pay", "POST billing", "checkout", "card declined for order o-991",
                 f"/issues/{event['issue_id']}"):
        assert text in html, text


PLAIN_OTEL = """
import os
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

# Configured as the OpenTelemetry docs configure any OTLP backend: endpoint and headers
# from the environment.
provider = TracerProvider(resource=Resource.create({"service.name": "inventory-worker",
                                                    "service.version": "5.1.0",
                                                    "deployment.environment.name": "staging"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("inventory.jobs")
with tracer.start_as_current_span("reserve stock", kind=SpanKind.CONSUMER,
                                  attributes={"messaging.system": "rabbitmq"}) as job:
    with tracer.start_as_current_span("UPDATE stock", kind=SpanKind.CLIENT,
                                      attributes={"db.system.name": "postgresql"}):
        pass
    job.set_status(Status(StatusCode.ERROR, "out of stock"))
print(format(job.get_span_context().trace_id, "032x"))
provider.shutdown()
"""


def test_a_plain_opentelemetry_service_exports_with_a_token_to_its_own_project(pharos):
    token = pharos.api("/api/v1/tokens", "POST", {"name": "otel", "scopes": ["traces:write"]})["secret"]
    workdir = pharos.workdir / "plain-otel"
    workdir.mkdir()
    (workdir / "main.py").write_text(textwrap.dedent(PLAIN_OTEL))
    env = {**os.environ,
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{pharos.url}/v1/traces",
           "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"Authorization=Bearer%20{token}"}
    out = subprocess.run([sys.executable, "main.py"], cwd=workdir, capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "Failed to export" not in out.stderr, out.stderr
    trace_id = out.stdout.strip()

    t = pharos.wait("the worker's spans", lambda: (
        lambda t: t if len(t["spans"]) == 2 else None)(pharos.api(f"/api/v1/traces/{trace_id}")))
    project = next(p for p in pharos.api("/api/v1/projects")["projects"] if p["name"] == "inventory-worker")
    assert {s["project_id"] for s in t["spans"]} == {project["id"]}
    job = next(s for s in t["spans"] if s["is_segment"])
    assert (job["name"], job["op"], job["status"]) == ("reserve stock", "queue.process", "unknown_error"), job
    assert (job["environment"], job["release"]) == ("staging", "5.1.0"), job
    [tx] = pharos.api(f"/api/v1/transactions?project={project['id']}&period=1h")["transactions"]
    assert (tx["name"], tx["count"], tx["failures"]) == ("reserve stock", 1, 1), tx
