"""The OpenTelemetry Python SDK's logging pipeline (LoggingHandler → BatchLogRecordProcessor
→ the OTLP/HTTP protobuf exporter) sending to Pharos's `/v1/logs`, with the admin token as
the exporter's `Authorization` header."""

from __future__ import annotations

import logging
import warnings

import pytest

from logs_e2e import ADMIN_TOKEN, entry_field, unique

otel = pytest.importorskip("opentelemetry.sdk._logs", reason="opentelemetry-sdk is not installed")
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402


def otel_logger(pharos, service: str, token: str = ADMIN_TOKEN):
    provider = LoggerProvider(resource=Resource.create({
        "service.name": service, "service.version": "1.4.2", "deployment.environment": "prod",
        "host.name": "otel-host-1",
    }))
    exporter = OTLPLogExporter(endpoint=pharos.url + "/v1/logs",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"otel.{service}.orders")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, provider


def test_otel_sdk_logs_arrive_with_service_and_attributes(pharos):
    w = unique("otel")
    service = "otel-shop"
    logger, provider = otel_logger(pharos, service)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        logger.warning(f"Payment retry {w}", extra={"user_id": 123, "duration_ms": 1500,
                                                    "request_id": "req_abc", "paid": False})
        trace_id = format(span.get_span_context().trace_id, "032x")
    logger.info(f"Order created {w}", extra={"order_id": 9001, "amount": 12.5})
    try:
        raise ValueError("card declined")
    except ValueError:
        logger.exception(f"Checkout failed {w}")
    assert provider.force_flush(10_000)
    provider.shutdown()

    entries = pharos.wait_search(f"service={service} {w}", 3)
    by_msg = {e["message"].split("\n")[0]: e for e in entries}
    retry = by_msg[f"Payment retry {w}"]
    assert retry["source"] == "otlp"
    assert retry["level"] == "WARNING"
    assert retry["logger"] == f"otel.{service}.orders"
    assert retry["host"] == "otel-host-1"
    assert entry_field(retry, "user_id") == 123
    assert entry_field(retry, "duration_ms") == 1500
    assert entry_field(retry, "request_id") == "req_abc"
    assert entry_field(retry, "paid") is False
    assert retry["trace_id"] == trace_id
    assert by_msg[f"Order created {w}"]["level"] == "INFO"
    assert entry_field(by_msg[f"Order created {w}"], "amount") == 12.5
    failed = by_msg[f"Checkout failed {w}"]
    assert failed["level"] == "ERROR"
    assert "ValueError" in json_text(failed) and "card declined" in json_text(failed)
    # Field searches as for any other source.
    assert [e["message"] for e in pharos.search(f"service={service} user_id=123 {w}")] == [f"Payment retry {w}"]
    assert len(pharos.search(f"service={service} duration_ms>1000 {w}")) == 1
    assert len(pharos.search(f"trace_id={trace_id}")) == 1
    assert len(pharos.search(f"service={service} level>=WARNING {w}")) == 2


def test_otel_exporter_with_a_wrong_token_is_refused(pharos):
    w = unique("otelauth")
    logger, provider = otel_logger(pharos, "otel-denied", token="wrong")
    logger.error(f"never stored {w}")
    provider.force_flush(5_000)
    provider.shutdown()
    status, _, _ = pharos.request("POST", "/v1/logs", None, b"", {"Content-Type": "application/x-protobuf"},
                                  token="wrong")
    assert status == 401
    import time
    time.sleep(1.2)
    assert pharos.search(w) == []


def json_text(entry: dict) -> str:
    import json
    return json.dumps(entry)


def test_otlp_json_with_a_bad_record_is_a_partial_success(pharos):
    """OTLP/HTTP with the JSON encoding (what browsers and some collectors send); one
    record whose body is not a valid AnyValue is refused by position, the rest kept."""
    import json
    import time as _time
    w = unique("otlpjson")
    now = str(_time.time_ns())
    body = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-json"}}]},
        "scopeLogs": [{"scope": {"name": "shop.web"}, "logRecords": [
            {"timeUnixNano": now, "severityNumber": 17, "severityText": "ERROR",
             "body": {"stringValue": f"Checkout failed {w}"},
             "attributes": [{"key": "order_id", "value": {"intValue": "9001"}},
                            {"key": "http.route", "value": {"stringValue": "/checkout"}}],
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"},
            {"timeUnixNano": "not-a-number", "body": {"stringValue": f"bad {w}"}},
            {"timeUnixNano": now, "severityNumber": 9,
             "body": {"kvlistValue": {"values": [{"key": "event", "value": {"stringValue": f"cart_viewed {w}"}},
                                                 {"key": "items", "value": {"intValue": "3"}}]}}},
        ]}],
    }]}
    status, _, out = pharos.request("POST", "/v1/logs", None, json.dumps(body).encode(),
                                    {"Content-Type": "application/json"})
    assert status == 200, out
    answer = json.loads(out)
    assert answer.get("partialSuccess", {}).get("rejectedLogRecords") in (1, "1"), answer
    entries = pharos.wait_search(f"service=otlp-json {w}", 2)
    [err] = [e for e in entries if e["level"] == "ERROR"]
    assert err["message"] == f"Checkout failed {w}"
    assert err["logger"] == "shop.web"
    assert err["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert entry_field(err, "order_id") == 9001
    assert entry_field(err, "http.route") == "/checkout"
    [kv] = [e for e in entries if e["level"] == "INFO"]
    assert entry_field(kv, "items") == 3 or "items" in kv["message"], kv
