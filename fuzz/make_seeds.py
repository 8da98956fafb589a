#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: each target's starting corpus, taken from the project's
test fixtures (and a few hand-written inputs where no fixture exists). Run from anywhere;
rerun after adding fixtures. The seeds are committed, so CI needs no Python for this."""

import gzip
import hashlib
import json
import re
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
FIX = ROOT / "crates" / "ingest" / "tests" / "fixtures"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def snappy_literal(data):
    """Snappy block format with one literal (valid, uncompressed)."""
    n = len(data) - 1
    if n < 60:
        tag = bytes([n << 2])
    elif n < 256:
        tag = bytes([60 << 2, n])
    else:
        tag = bytes([61 << 2, n & 0xFF, n >> 8])
    return varint(len(data)) + tag + data


def envelopes():
    bodies = []
    for p in sorted((FIX / "sentry").glob("*.envelope")):
        body = p.read_bytes()
        bodies.append(body)
        put("sentry_envelope", body)
    return bodies


def store_bodies(bodies):
    # The JSON payloads of event and transaction items.
    for body in bodies:
        lines = body.split(b"\n")
        for i, line in enumerate(lines[1:-1], start=1):
            try:
                header = json.loads(line)
            except ValueError:
                continue
            if header.get("type") in ("event", "transaction"):
                put("sentry_store_body", lines[i + 1])


def body_decode(bodies):
    sample = bodies[0] if bodies else b'{"event_id":"x"}\n'
    put("sentry_body_decode", b"\x00" + sample)
    put("sentry_body_decode", b"\x01" + gzip.compress(sample))
    put("sentry_body_decode", b"\x02" + zlib.compress(sample))
    put("sentry_body_decode", b"\x02" + zlib.compress(sample)[2:-4])
    put("sentry_body_decode", b"\x05" + sample)


def exposition():
    put("prometheus_exposition", """# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000
# TYPE request_duration_seconds histogram
request_duration_seconds_bucket{le="0.05"} 24054
request_duration_seconds_bucket{le="+Inf"} 144320
request_duration_seconds_sum 53423
request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
odd NaN
""")
    put("prometheus_exposition", """# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo info
foo_info{entity="controller",name="pretty",version="8.2.7"} 1
# TYPE go_goroutines gauge
go_goroutines 69 # {trace_id="KOO5S4vxi0o"} 0.67
# EOF
""")


def remote_write():
    labels = [("__name__", "up"), ("job", "api"), ("instance", "api-1:8080")]
    label_bytes = b"".join(
        field(1, 2, field(1, 2, k.encode()) + field(2, 2, v.encode())) for k, v in labels
    )
    import struct

    sample = field(1, 1, struct.pack("<d", 1.0)) + field(2, 0, varint(1_700_000_000_000))
    series = label_bytes + field(2, 2, sample)
    req = field(1, 2, series)
    put("remote_write", snappy_literal(req))
    meta = field(1, 0, varint(1)) + field(2, 2, b"up") + field(4, 2, b"Up.")
    put("remote_write", snappy_literal(req + field(3, 2, meta)))


def logs():
    d = FIX / "logs"
    for p in sorted(d.glob("loki-*")):
        put("loki_push", p.read_bytes())
    for p in sorted(d.glob("otlp-*")):
        put("otlp_logs", p.read_bytes())
    for p in sorted((FIX / "traces").glob("otlp-*")):
        put("otlp_traces", p.read_bytes())
    for p in sorted(d.glob("syslog-*.txt")):
        data = p.read_bytes()
        if "tcp" in p.name:
            put("syslog_framer", b"\x07" + data)
            put("syslog_framer", b"\xff" + data)
        else:
            for line in data.splitlines():
                if line.strip():
                    put("syslog_message", line)
    put("logs_http", b"\x01" + b'{"message":"hi","level":"error","user_id":3}\n{"msg":"x"}\n')
    put("logs_http", b"\x01" + b'[{"message":"a"},{"message":"b","time":"2024-01-01T00:00:00Z"}]')
    put("logs_http", b"\x03" + b"2024-01-01 00:00:00,123 ERROR app.db: boom\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: no\n")
    put("logs_http", b"\x03" + b"level=warn msg=\"slow query\" duration_ms=1200 user=42\n")


def promql():
    text = (ROOT / "crates/pharos/tests/promql_vs_prometheus/queries.txt").read_text()
    queries = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    # Every eighth, so the corpus stays small but keeps every kind of construct nearby.
    for q in queries[::8]:
        put("promql_parse", q.replace("${START}", "1700000000").replace("${MID}", "1700001000").replace("${END}", "1700002000"))
    # Plain numbers as durations: the parser panicked on ones no duration holds.
    put("promql_parse", "ur[" + "6" * 60 + "0 ]")
    put("promql_parse", "up[1e400]")


def logql():
    # The shapes Grafana's Loki data source sends, and every stage of a pipeline.
    for q in [
        '{service="shop"}',
        '{service="shop", level=~"error|warning"} |= "timeout" != "retry"',
        '{job="api"} |~ "(?i)fail" | json | status >= 500 and duration > 1s',
        '{job="api"} | logfmt | line_format "{{.method}} {{.path}}" | label_format lvl=level',
        '{job="api"} | pattern "<ip> - <_> [<ts>] \\"<method> <path>" | drop ip',
        '{job="api"} | regexp "(?P<code>\\d{3})" | code="500" or code="503"',
        'sum by (level) (count_over_time({service="shop"}[5m]))',
        'topk(3, sum by (service) (rate({level="error"}[1m]))) > 0.5',
        'quantile_over_time(0.95, {job="api"} | json | unwrap duration(latency) [5m]) by (path)',
        'sum(bytes_over_time({job="api"}[1h] offset 1h)) / 1024',
        'absent_over_time({job="gone"}[10m])',
        'vector(1) + 2',
    ]:
        put("logql_parse", q)


def log_query():
    text = (ROOT / "crates/logs/src/query/parse.rs").read_text()
    block = text[text.index("fn every_form_parses"):]
    block = block[: block.index("] {")]
    for q in re.findall(r'^\s+("(?:[^"\\]|\\.)*"),$', block, re.M):
        put("log_query", json.loads(q))


def yaml_files():
    for p in [ROOT / "rules.example.yaml", ROOT / "crates/pharos/tests/rules/seed003.yaml"]:
        put("rule_file", p.read_bytes())
    put("config", (ROOT / "pharos.example.yaml").read_bytes())
    put("config", b"web:\n  listen: 127.0.0.1:8080\nmonitors:\n  - name: api\n    http:\n      url: http://127.0.0.1:1/health\n      interval: 30s\n")


if __name__ == "__main__":
    b = envelopes()
    store_bodies(b)
    body_decode(b)
    exposition()
    remote_write()
    logs()
    promql()
    logql()
    log_query()
    yaml_files()
    for d in sorted(SEEDS.iterdir()):
        print(d.name, len(list(d.iterdir())))
