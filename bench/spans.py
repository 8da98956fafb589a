#!/usr/bin/env python3
"""Pharos span-ingest benchmark, beside error-event ingest in the same run.

One Pharos `serve` (release build, one project, fresh data dir) gets, one phase after the
other (never both at once: 2 cores), from `wrk` over HTTP keep-alive (bench/spans_load.lua):

  1. events: the envelope of one error event recorded from sentry-sdk 2.x
     (crates/ingest/tests/fixtures/sentry/full-001-event.envelope), a new event_id per
     request (one issue);
  2. spans: envelopes as sentry-sdk 3.x streams them, each one `span` item holding a Flask
     request's segment span and --children child spans (attributes as the SDK sends them,
     from crates/ingest/tests/fixtures/sentry/sdk3-001-span.envelope), a new trace id per
     request. Each envelope becomes one transaction row and 1 + children span rows.
  3. otlp: the same request as the OpenTelemetry Python SDK exports it over OTLP/HTTP
     (protobuf, to the project's /api/<id>/integration/otlp/v1/traces/): a server span and
     --children database client spans with the SDK's resource and semantic-convention
     attributes, a new trace id per request.

Each phase: a warm-up, then --duration seconds measured. Pharos answers 200 only after the
envelope's records are committed, so 200s per second are envelopes stored per second; the
benchmark checks the stored counts through Pharos's own counters. Printed per phase:
envelopes/s, rows/s (events, or spans), wrk's p50/p99 latency, Pharos's CPU per 1000
envelopes and per 1000 rows, and its resident memory. Bodies are sent uncompressed.

Usage:
  cargo build --release -p pharos
  python3 bench/spans.py --duration 15 --children 10

Needs `wrk` on PATH (Debian package `wrk`). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    Sampler, free_port, get_json, log, med, parse_metrics, request, stop_process, varint, wait_ready,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "crates/ingest/tests/fixtures/sentry")
CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN_TOKEN = "benchadmintoken0123456789"
SENTRY_KEY = "benchkey0123456789abcdef01234567"
PROJECT_ID = 1
PLACEHOLDER = "TRACEIDTRACEIDTRACEIDTRACEIDTRAC"
# A protobuf trace id is 16 raw bytes: this placeholder, replaced by 16 ASCII characters.
OTLP_PLACEHOLDER = "OTLPTRACEID16BYT"


def read_envelope(name: str) -> tuple[dict, list[tuple[dict, bytes]]]:
    lines = open(os.path.join(FIXTURES, name), "rb").read().split(b"\n")
    header = json.loads(lines[0])
    items, i = [], 1
    while i + 1 < len(lines):
        if not lines[i]:
            i += 1
            continue
        items.append((json.loads(lines[i]), lines[i + 1]))
        i += 2
    return header, items


def frame(header: dict, items: list[tuple[dict, bytes]]) -> bytes:
    out = [json.dumps(header, separators=(",", ":")).encode()]
    for h, payload in items:
        h = dict(h, length=len(payload))
        out += [json.dumps(h, separators=(",", ":")).encode(), payload]
    return b"\n".join(out) + b"\n"


def event_body() -> bytes:
    header, items = read_envelope("full-001-event.envelope")
    event_id = header["event_id"]
    body = frame(header, items)
    assert len(PLACEHOLDER) == len(event_id)
    return body.replace(event_id.encode(), PLACEHOLDER.encode())


def span_body(children: int) -> bytes:
    header, items = read_envelope("sdk3-001-span.envelope")
    spans = json.loads(items[0][1])["items"]
    child = next(s for s in spans if not s["is_segment"])
    segment = next(s for s in spans if s["is_segment"])
    out = []
    for i in range(children):
        c = json.loads(json.dumps(child))
        c["span_id"] = f"{0xa000000000000000 + i:016x}"
        c["name"] = f"SELECT * FROM orders WHERE id = %s -- {i}"
        c["start_timestamp"] = segment["start_timestamp"] + i * 0.0004
        c["end_timestamp"] = c["start_timestamp"] + 0.0003
        out.append(c)
    out.append(segment)
    trace = segment["trace_id"]
    payload = json.dumps({"version": 2, "items": out}, separators=(",", ":")).encode()
    header["trace"]["trace_id"] = trace
    body = frame(header, [(dict(items[0][0], item_count=len(out)), payload)])
    return body.replace(trace.encode(), PLACEHOLDER.encode())


def pb_field(number: int, wire: int, value) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(value)
    if wire == 2:
        return key + varint(len(value)) + value
    return key + value  # fixed64 / fixed32, already packed


def pb_attr(key: str, value) -> bytes:
    if isinstance(value, bool):
        any_value = pb_field(2, 0, int(value))
    elif isinstance(value, int):
        any_value = pb_field(3, 0, value)
    else:
        any_value = pb_field(1, 2, str(value).encode())
    return pb_field(1, 2, key.encode()) + pb_field(2, 2, any_value)


def otlp_body(children: int) -> bytes:
    """One ExportTraceServiceRequest as the OpenTelemetry Python SDK sends a Flask request
    with `children` database spans; the trace id is OTLP_PLACEHOLDER (16 bytes)."""
    import struct
    trace = OTLP_PLACEHOLDER.encode()
    start = time.time_ns()

    def span(span_id: int, parent: int | None, name: str, kind: int, t0: int, t1: int, attrs: dict) -> bytes:
        out = pb_field(1, 2, trace) + pb_field(2, 2, struct.pack(">Q", span_id))
        if parent is not None:
            out += pb_field(4, 2, struct.pack(">Q", parent))
        out += pb_field(5, 2, name.encode()) + pb_field(6, 0, kind)
        out += pb_field(7, 1, struct.pack("<Q", t0)) + pb_field(8, 1, struct.pack("<Q", t1))
        for k, v in attrs.items():
            out += pb_field(9, 2, pb_attr(k, v))
        out += pb_field(15, 2, b"") + pb_field(16, 5, struct.pack("<I", 0x100))
        return out

    segment_id = 0x5000000000000001
    spans = [span(0xA000000000000000 + i, segment_id, f"SELECT * FROM orders WHERE id = %s -- {i}", 3,
                  start + i * 400_000, start + i * 400_000 + 300_000,
                  {"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text":
                   f"SELECT * FROM orders WHERE id = %s -- {i}", "server.address": "db.internal",
                   "server.port": 5432}) for i in range(children)]
    spans.append(span(segment_id, None, "GET /orders/{id}", 2, start, start + 12_000_000, {
        "http.request.method": "GET", "url.scheme": "http", "url.path": "/orders/17", "url.query": "",
        "server.address": "shop.internal", "server.port": 8000, "network.protocol.version": "1.1",
        "user_agent.original": "python-requests/2.32.3", "client.address": "10.0.0.7", "http.route":
        "/orders/<id>", "http.response.status_code": 200, "http.server.request.duration": 12}))
    resource = b"".join(pb_field(1, 2, pb_attr(k, v)) for k, v in {
        "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.45.2", "service.name": "shop", "service.version": "3.0",
        "deployment.environment.name": "production", "host.name": "web-1",
        "service.instance.id": "95bc7e59-0436-4c56-8ccd-d4ee17628184"}.items())
    scope = pb_field(1, 2, b"opentelemetry.instrumentation.flask") + pb_field(2, 2, b"0.54b1")
    scope_spans = pb_field(1, 2, scope) + b"".join(pb_field(2, 2, s) for s in spans)
    resource_spans = pb_field(1, 2, resource) + pb_field(2, 2, scope_spans)
    return pb_field(1, 2, resource_spans)


def run_wrk(args, port: int, body_path: str, duration: float, kind: str = "envelope") -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
           "-s", os.path.join(HERE, "spans_load.lua"), f"http://127.0.0.1:{port}",
           "--", body_path, f"127.0.0.1:{port}", str(PROJECT_ID), SENTRY_KEY, uuid.uuid4().hex[:8], kind]
    t = time.monotonic()
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.monotonic() - t
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            v, unit = float(m.group(1)), m.group(2)
            lat[q] = v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return {"requests": reqs, "ok": reqs - (int(non2xx.group(1)) if non2xx else 0), "wall_s": wall,
            "duration_s": duration, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "text": text}


def counters(port: int) -> dict:
    _, text = request(port, "GET", "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    m = parse_metrics(text.decode())
    def get(item: str, outcome: str) -> float:
        return m.get(f'pharos_sentry_items_total{{outcome="{outcome}",type="{item}"}}', 0.0)
    return {"event": get("event", "accepted"), "span": get("span", "accepted"),
            "refused": sum(v for k, v in m.items() if k.startswith("pharos_sentry_items_total{")
                           and 'outcome="accepted"' not in k)}


def phase(args, port: int, pid: int, name: str, body_path: str, rows_per_envelope: int) -> dict:
    kind = "otlp" if name == "otlp" else "envelope"
    log(f"{name}: warm-up {args.warmup}s")
    run_wrk(args, port, body_path, args.warmup, kind)
    time.sleep(1)
    before = counters(port)
    sampler = Sampler(pid)
    sampler.start()
    t0 = time.monotonic()
    log(f"{name}: measuring {args.duration}s")
    w = run_wrk(args, port, body_path, args.duration, kind)
    t1 = time.monotonic()
    sampler.stop()
    time.sleep(1)
    after = counters(port)
    s = sampler.window(t0, t1)
    cpu_s = (s[-1][1] - s[0][1]) / CLK_TCK if len(s) >= 2 else None
    window = (s[-1][0] - s[0][0]) if len(s) >= 2 else None
    stored = after["event" if name == "events" else "span"] - before["event" if name == "events" else "span"]
    envelopes = w["ok"]
    rows = envelopes * rows_per_envelope
    return {
        "phase": name, "envelopes": envelopes, "requests": w["requests"],
        "envelopes_per_s": envelopes / w["duration_s"], "rows_per_s": rows / w["duration_s"],
        "items_stored": stored, "refused": after["refused"] - before["refused"],
        "p50_ms": w["p50_ms"], "p99_ms": w["p99_ms"],
        "cpu_cores": cpu_s / window if cpu_s and window else None,
        "cpu_ms_per_1000_envelopes": cpu_s / window * w["duration_s"] / max(envelopes, 1) * 1e6 if cpu_s and window else None,
        "cpu_ms_per_1000_rows": cpu_s / window * w["duration_s"] / max(rows, 1) * 1e6 if cpu_s and window else None,
        "rss_mib_max": max(x[2] for x in s) / 2**20 if s else None,
        "rss_mib_median": med([x[2] for x in s]) / 2**20 if s else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=15, help="seconds measured per phase (default 15)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default 5)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--children", type=int, default=10, help="child spans per segment (default 10)")
    ap.add_argument("--pharos-bin", default=os.path.join(REPO, "target/release/pharos"))
    ap.add_argument("--json-out", help="write the results as JSON here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pharos-spans-bench-")
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    cfg = os.path.join(work, "pharos.yaml")
    with open(cfg, "w") as f:
        f.write(f"projects:\n  - id: {PROJECT_ID}\n    name: bench\n    keys: [\"{SENTRY_KEY}\"]\n    rate_limit: 0\n"
                "    limits:\n      transactions_per_minute: 0\n      disk_budget_mb: 0\n")
    bodies = {"events": (event_body(), 1), "spans": (span_body(args.children), args.children + 1),
              "otlp": (otlp_body(args.children), args.children + 1)}
    paths = {}
    for name, (body, _) in bodies.items():
        paths[name] = os.path.join(work, f"{name}.envelope")
        with open(paths[name], "wb") as f:
            f.write(body)
    port = free_port()
    env = dict(os.environ, PHAROS_ADMIN_TOKEN=ADMIN_TOKEN, PHAROS_LOG_FORMAT="json", PHAROS_LOG="warn")
    logf = open(os.path.join(work, "pharos.log"), "wb")
    p = subprocess.Popen([args.pharos_bin, "serve", "--config", cfg, "--data-dir", data_dir,
                          "--listen", f"127.0.0.1:{port}"], stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=work)
    results = []
    try:
        wait_ready(port, "/health/live", None, p)
        for name in ("events", "spans", "otlp"):
            body, rows = bodies[name]
            r = phase(args, port, p.pid, name, paths[name], rows)
            r["body_bytes"] = len(body)
            results.append(r)
        tx = get_json(port, f"/api/v1/transactions?project={PROJECT_ID}&period=90d",
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})["transactions"]
        log(f"transactions stored: {sum(t['count'] for t in tx)}")
    finally:
        stop_process(p)
        logf.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"# span ingest beside event ingest: {args.duration:g} s per phase, wrk -t{args.threads} "
          f"-c{args.connections}, {args.children} child spans per segment")
    print("| phase | body | envelopes/s | rows/s | stored (counter) | refused | p50 | p99 | CPU cores | "
          "CPU ms / 1000 envelopes | CPU ms / 1000 rows | RSS max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = lambda v, spec=".1f": "-" if v is None else format(v, spec)
        print(f"| {r['phase']} | {r['body_bytes']} B | {f(r['envelopes_per_s'], '.0f')} | {f(r['rows_per_s'], '.0f')} | "
              f"{r['items_stored']:.0f} | {r['refused']:.0f} | {f(r['p50_ms'], '.2f')} ms | {f(r['p99_ms'], '.2f')} ms | "
              f"{f(r['cpu_cores'], '.2f')} | {f(r['cpu_ms_per_1000_envelopes'])} | {f(r['cpu_ms_per_1000_rows'])} | "
              f"{f(r['rss_mib_max'])} MiB |")
    if len(results) == 3 and results[0]["envelopes_per_s"]:
        events = results[0]["envelopes_per_s"]
        print(f"\nspan envelopes / event envelopes per second: {results[1]['envelopes_per_s'] / events:.2f}x")
        print(f"OTLP exports / event envelopes per second: {results[2]['envelopes_per_s'] / events:.2f}x")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
