"""A small Python service instrumented with the real `prometheus_client`, as our users
write them: a WSGI app (stdlib `wsgiref`) with `/metrics` from `make_wsgi_app()` on the
default registry (so the process, platform and gc collectors are there too).

    python app.py PORT

Routes (all GET, answering JSON):
  /metrics                   prometheus_client's own handler: OpenMetrics 1.0 when the
                             `Accept` header asks for it, else text 0.0.4. `?format=text`
                             forces text (for a Prometheus 2.42 job, which has no
                             `scrape_protocols` and always asks for OpenMetrics).
  /api/orders?value=V&latency=S&status=CODE&method=M
                             one request: counts it in http_requests_total, observes S in
                             http_request_duration_seconds and V in order_value_euros,
                             S in payment_processing_seconds
  /queue?set=N               sets the orders_in_queue gauge
  /state?to=STATE            switches the worker_state enum
  /scrapes                   the Accept headers /metrics was asked with, and what it answered

Durations are taken from `latency=` instead of being measured, so the histogram and the
summary hold exactly the values the test chose.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

from prometheus_client import (
    REGISTRY,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

START = time.time()

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by method, endpoint and status.",
    ["method", "endpoint", "status"],
)
QUEUE = Gauge("orders_in_queue", "Orders waiting to be processed.")
LATENCY = Histogram(
    "http_request_duration_seconds", "Request latency (default buckets).", ["endpoint"],
)
ORDER_VALUE = Histogram(
    "order_value_euros", "Order value (custom buckets).", buckets=(5, 10, 25, 50, 100, 250),
)
PAYMENT = Summary("payment_processing_seconds", "Payment processing time.")
BUILD = Info("build", "Build of this service.")
BUILD.info({"version": "1.4.2", "revision": "abc123"})
STATE = Enum("worker_state", "State of the order worker.", states=["starting", "running", "stopped"])


class QuantileSummary(Collector):
    """A summary with quantiles. prometheus_client's own `Summary` exports only `_count`
    and `_sum`, so services that want quantiles write a custom collector like this one:
    exact quantiles (nearest rank) over every observation."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.lock = threading.Lock()
        self.created = time.time()

    def observe(self, v: float) -> None:
        with self.lock:
            self.values.append(v)

    def collect(self):
        with self.lock:
            values = sorted(self.values)
        m = Metric("checkout_latency_seconds", "Checkout latency with quantiles.", "summary")
        for q in (0.5, 0.9, 0.99):
            v = values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")
            m.add_sample("checkout_latency_seconds", {"quantile": str(q)}, v)
        m.add_sample("checkout_latency_seconds_count", {}, float(len(values)))
        m.add_sample("checkout_latency_seconds_sum", {}, float(sum(values)))
        m.add_sample("checkout_latency_seconds_created", {}, self.created)
        yield m


class SteadyCounter(Collector):
    """A counter growing at exactly 5 per second of wall-clock time since start, so that
    `rate()` over it has a known answer whatever the scrape timing."""

    def collect(self):
        c = CounterMetricFamily("jobs_processed", "Jobs processed (5 per second).", created=START)
        c.add_metric([], 5.0 * (time.time() - START))
        yield c


CHECKOUT = QuantileSummary()
REGISTRY.register(CHECKOUT)
REGISTRY.register(SteadyCounter())
STATE.state("starting")

metrics_app = make_wsgi_app()
scrapes: list[dict] = []
scrapes_lock = threading.Lock()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/metrics":
        accept = environ.get("HTTP_ACCEPT", "")
        if q.get("format") == "text":
            environ["HTTP_ACCEPT"] = "text/plain;version=0.0.4"
        answered = {}

        def recording_start_response(status, headers, exc_info=None):
            answered["content_type"] = dict(headers).get("Content-Type", "")
            return start_response(status, headers, exc_info)

        body = metrics_app(environ, recording_start_response)
        with scrapes_lock:
            scrapes.append({"accept": accept, "content_type": answered.get("content_type"),
                            "user_agent": environ.get("HTTP_USER_AGENT", ""),
                            "query": environ.get("QUERY_STRING", "")})
            del scrapes[:-200]
        return body
    if path == "/api/orders":
        method = q.get("method", "GET")
        status = q.get("status", "200")
        latency = float(q.get("latency", "0.01"))
        REQUESTS.labels(method=method, endpoint="/api/orders", status=status).inc()
        LATENCY.labels(endpoint="/api/orders").observe(latency)
        PAYMENT.observe(latency)
        CHECKOUT.observe(latency)
        if "value" in q:
            ORDER_VALUE.observe(float(q["value"]))
        return _json(start_response, {"ok": True})
    if path == "/queue":
        QUEUE.set(float(q["set"]))
        return _json(start_response, {"ok": True})
    if path == "/state":
        STATE.state(q["to"])
        return _json(start_response, {"ok": True})
    if path == "/scrapes":
        with scrapes_lock:
            return _json(start_response, list(scrapes))
    if path == "/start":
        return _json(start_response, {"start": START})
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def _json(start_response, obj):
    body = json.dumps(obj).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (wsgiref's signature)
        pass


if __name__ == "__main__":
    port = int(sys.argv[1])
    server = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_QuietHandler)
    print("listening", port, flush=True)
    server.serve_forever()
