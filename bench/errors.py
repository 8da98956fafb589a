#!/usr/bin/env python3
"""Pharos error-ingest benchmark: sustained Sentry envelopes over HTTP keep-alive.

One invocation runs, one after the other (never both at once: 2 cores):

  1. Pharos `serve` with one project, fresh data dir. `wrk` (Lua script
     bench/errors_load.lua) posts realistic error events for a warm-up, then for
     --duration seconds: each request one envelope of one event (~5 KB of JSON, 30 frames,
     breadcrumbs, tags, user, contexts), every request a new event_id, --groups distinct
     fingerprints, --gzip-share of the requests gzip-compressed. Pharos answers 200 only
     after the event is committed to SQLite and grouped into an issue, so 200s per second
     are events stored per second; the benchmark checks that through the API afterwards
     (issue count, sum of the issues' event counts) and Pharos's own counters.
  2. Bugsink (PyPI `bugsink`, if installed in a venv: --bugsink-venv) with the same bodies,
     the same wrk command and the same measured duration. Bugsink answers 200 once the
     event is written to a file and queued; its background worker (snappea) digests
     (stores and groups) it later. The benchmark reports what it accepted and what it
     digested in the measured period, and how long the backlog took to drain.

Printed: events/s (answered 200; stored and verified), p50/p99 latency (wrk, and Pharos's
`pharos_sentry_ingest_duration_seconds` histogram), resident memory (median and max of
1 s-ish samples), CPU (cores, CPU s per 1000 events, Pharos's split by thread), the load
generator's CPU, and the Pharos/Bugsink ratios. --repeat N runs everything N times and adds
medians. Everything listens on 127.0.0.1; every phase stops by itself.

Usage:
  python3 bench/errors.py                                # 10 s warm-up + 30 s per peer
  python3 bench/errors.py --duration 30 --connections 32 --repeat 3 --md-out /tmp/e.md

Needs `wrk` on PATH (Debian package `wrk`) and a release build of Pharos.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import med  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ADMIN_TOKEN = "benchadmintoken0123456789"
SENTRY_KEY = "benchkey0123456789abcdef01234567"
PROJECT_ID = 1
TEMPLATE_ID = "0" * 32
HEX = "0123456789abcdef"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Realistic events: the shape of crates/ingest/tests/fixtures/sentry/full-001-event.envelope
# (sentry-sdk 2.x, Python), with 30 frames.
# --------------------------------------------------------------------------------------

EXC = [
    ("KeyError", "'{k}'"),
    ("ValueError", "invalid literal for int() with base 10: '{k}'"),
    ("TypeError", "unsupported operand type(s) for +: 'int' and '{k}'"),
    ("AttributeError", "'NoneType' object has no attribute '{k}'"),
    ("ZeroDivisionError", "division by zero in {k}"),
    ("IndexError", "list index out of range: {k}"),
    ("RuntimeError", "{k} called before the session was opened"),
    ("ConnectionError", "could not reach {k}-service:8080"),
    ("TimeoutError", "timed out waiting for {k}"),
    ("PermissionError", "[Errno 13] Permission denied: '/var/lib/app/{k}'"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: '/srv/app/data/{k}.json'"),
    ("UnicodeDecodeError", "'utf-8' codec can't decode byte 0xff in {k}: invalid start byte"),
    ("OperationalError", "database is locked ({k})"),
    ("IntegrityError", "UNIQUE constraint failed: {k}.id"),
    ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0) in {k}"),
]
VERBS = ["load", "save", "update", "render", "sync", "parse", "charge", "notify", "export", "import", "resolve", "validate"]
NOUNS = ["order", "invoice", "customer", "cart", "payment", "shipment", "refund", "coupon", "report", "session",
         "account", "ticket", "webhook", "profile", "catalog", "stock", "price", "tax", "address", "token",
         "subscription", "plan", "upload", "message", "audit"]
AREAS = ["billing", "orders", "accounts", "catalog", "shipping", "support", "reports", "auth"]
LIB_FRAMES = [
    ("gunicorn/workers/sync.py", "gunicorn.workers.sync", "handle_request", 178),
    ("gunicorn/workers/sync.py", "gunicorn.workers.sync", "handle", 136),
    ("django/core/handlers/wsgi.py", "django.core.handlers.wsgi", "__call__", 124),
    ("django/core/handlers/base.py", "django.core.handlers.base", "get_response", 140),
    ("django/utils/deprecation.py", "django.utils.deprecation", "__call__", 129),
    ("django/core/handlers/exception.py", "django.core.handlers.exception", "inner", 55),
    ("django/utils/deprecation.py", "django.utils.deprecation", "__call__", 129),
    ("django/core/handlers/exception.py", "django.core.handlers.exception", "inner", 55),
    ("django/middleware/common.py", "django.middleware.common", "process_request", 48),
    ("django/core/handlers/exception.py", "django.core.handlers.exception", "inner", 55),
    ("django/core/handlers/base.py", "django.core.handlers.base", "_get_response", 197),
    ("django/views/decorators/csrf.py", "django.views.decorators.csrf", "_view_wrapper", 65),
    ("django/views/generic/base.py", "django.views.generic.base", "view", 104),
    ("rest_framework/views.py", "rest_framework.views", "dispatch", 509),
    ("rest_framework/views.py", "rest_framework.views", "handle_exception", 469),
    ("rest_framework/views.py", "rest_framework.views", "dispatch", 506),
    ("django/db/transaction.py", "django.db.transaction", "inner", 79),
    ("contextlib.py", "contextlib", "inner", 81),
]
N_IN_APP = 12  # 18 library frames + 12 in-app frames = 30


def in_app_frame(area: str, mod: str, func: str, lineno: int, rng: random.Random, rich: bool, variant: int) -> dict:
    """An in-app frame; the last few (`rich`) carry pre/post context and local vars, as the
    SDK sends them."""
    f = {
        "filename": f"app/{area}/{mod}.py",
        "function": func,
        "module": f"app.{area}.{mod}",
        "lineno": lineno,
        "in_app": True,
    }
    if rich:
        f["context_line"] = f"        result = obj.{func}(request.data, strict={bool(variant % 2)})"
        f["abs_path"] = f"/srv/app/app/{area}/{mod}.py"
        f["pre_context"] = ["        obj = self.get_object(pk)"]
        f["post_context"] = ["        return Response(result)"]
        f["vars"] = {
            "pk": f"'{rng.randrange(10**6)}'",
            "request": f"<Request: POST '/api/{area}/{rng.randrange(10**5)}/'>",
            "api_key": "'sk_live_51Hs8ZbE3xTq0'",
        }
    return f


def lib_frame(i: int, entry: tuple) -> dict:
    filename, module, func, lineno = entry
    return {"filename": filename, "function": func, "module": module, "lineno": lineno, "in_app": False}


def make_event(group: int, variant: int, seed: int, timestamp: str) -> dict:
    rng = random.Random(seed * 1000003 + group * 101 + variant)
    ty, tmpl = EXC[group % len(EXC)]
    verb = VERBS[group % len(VERBS)]
    noun = NOUNS[(group // len(VERBS)) % len(NOUNS)]
    key = f"{noun}_{verb}"
    area = AREAS[group % len(AREAS)]
    crash_func = f"{verb}_{noun}"
    frames = [lib_frame(i, e) for i, e in enumerate(LIB_FRAMES)]
    for j in range(N_IN_APP):
        crash = j == N_IN_APP - 1
        func = crash_func if crash else f"{VERBS[(group + j) % len(VERBS)]}_{NOUNS[(group * 7 + j) % len(NOUNS)]}"
        frames.append(in_app_frame(area, f"{noun}s" if crash else f"m{j}", func, 40 + j * 13 + variant, rng, j >= N_IN_APP - 2, variant))
    user_id = f"u-{rng.randrange(5000)}"
    trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
    crumbs = []
    for b in (0, 2):
        if b % 3 == 0:
            crumbs.append({"type": "http", "category": "httplib", "level": "info", "timestamp": timestamp,
                           "data": {"url": f"http://{area}-api.internal/v1/{noun}s/{rng.randrange(10**5)}", "method": "GET",
                                    "status_code": 200, "reason": "OK"}})
        elif b % 3 == 1:
            crumbs.append({"type": "default", "category": "query", "level": "info", "timestamp": timestamp,
                           "message": f'SELECT "{noun}"."id", "{noun}"."status" FROM "{noun}" WHERE "{noun}"."id" = %s'})
        else:
            crumbs.append({"type": "log", "category": f"app.{area}", "level": "warning", "timestamp": timestamp,
                           "message": f"retrying {verb} for {noun} {rng.randrange(10**5)} (attempt {b})"})
    return {
        "event_id": TEMPLATE_ID,
        "level": "error",
        "exception": {"values": [{
            "mechanism": {"type": "django", "handled": False},
            "module": None,
            "type": ty,
            "value": tmpl.format(k=key),
            "stacktrace": {"frames": frames},
        }]},
        "timestamp": timestamp,
        "contexts": {
            "trace": {"trace_id": trace_id, "span_id": f"{rng.getrandbits(64):016x}", "parent_span_id": None, "op": "http.server"},
            "runtime": {"name": "CPython", "version": "3.11.7", "build": "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]"},
        },
        "user": {"id": user_id, "username": f"user{user_id[2:]}", "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"},
        "request": {"url": f"https://shop.example.com/api/{area}/{rng.randrange(10**5)}/", "method": "POST",
                    "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}},
        "transaction": f"/api/{area}/{{pk}}/",
        "transaction_info": {"source": "route"},
        "tags": {"component": area, "tenant_id": f"tenant-{rng.randrange(40)}", "region": rng.choice(["eu-west-1", "us-east-1"]),
                 "customer_plan": rng.choice(["free", "pro", "enterprise"])},
        "breadcrumbs": {"values": crumbs},
        "modules": {"django": "5.2.19", "gunicorn": "26.2.0", "sentry-sdk": "2.75.0"},
        "release": f"shop@1.{rng.randrange(3)}.0",
        "environment": "production",
        "server_name": f"web-{rng.randrange(4)}",
        "sdk": {"name": "sentry.python.django", "version": "2.75.0",
                "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
                "integrations": ["argv", "dedupe", "django", "logging", "stdlib"]},
        "platform": "python",
    }


def envelope(event: dict, sent_at: str) -> bytes:
    ev = json.dumps(event, separators=(",", ":")).encode()
    header = json.dumps({"event_id": TEMPLATE_ID, "sent_at": sent_at,
                         "trace": {"trace_id": event["contexts"]["trace"]["trace_id"], "environment": "production",
                                   "release": event["release"], "public_key": SENTRY_KEY}}, separators=(",", ":")).encode()
    item = json.dumps({"type": "event", "content_type": "application/json", "length": len(ev)}).encode()
    return header + b"\n" + item + b"\n" + ev + b"\n"


def crc_basis(n: int, positions: list[int]) -> dict:
    """For each position and bit, the linear effect on CRC-32 of flipping that bit in an
    n-byte message."""
    zero = bytearray(n)
    c0 = zlib.crc32(zero)
    out = {}
    for p in positions:
        for b in range(8):
            zero[p] = 1 << b
            out[(p, b)] = zlib.crc32(zero) ^ c0
        zero[p] = 0
    return out


def gzip_parts(data: bytes, p1: int, p2: int) -> tuple[list[bytes], int, list[int]]:
    """A gzip stream whose first deflate block is stored (holding both ids), the rest
    compressed. Returns the 4 segments around the ids and the CRC, the template's CRC, and
    the 32x16 table of CRC effects (see errors_load.lua)."""
    cut = p2 + 32
    stored = b"\x00" + struct.pack("<HH", cut, cut ^ 0xFFFF) + data[:cut]
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    rest = co.compress(data[cut:]) + co.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    s1 = header + stored[:5 + p1]
    s2 = stored[5 + p1 + 32:5 + p2]
    s3 = rest
    s4 = struct.pack("<I", len(data) & 0xFFFFFFFF)
    base = zlib.crc32(data)
    basis = crc_basis(len(data), [p1 + j for j in range(32)] + [p2 + j for j in range(32)])
    table = []
    for j in range(32):
        for v in range(16):
            d = ord(HEX[v]) ^ ord("0")
            t = 0
            for b in range(8):
                if d >> b & 1:
                    t ^= basis[(p1 + j, b)] ^ basis[(p2 + j, b)]
            table.append(t)
    return [s1, s2, s3, s4], base, table


def apply_id_gzip(parts: list[bytes], base: int, table: list[int], eid: str) -> bytes:
    crc = base
    for j, ch in enumerate(eid):
        crc ^= table[j * 16 + HEX.index(ch)]
    s1, s2, s3, s4 = parts
    e = eid.encode()
    return s1 + e + s2 + e + s3 + struct.pack("<I", crc) + s4


def generate(out_dir: str, groups: int, gzip_share: float, seed: int) -> dict:
    """Writes bodies.bin / bodies.idx for errors_load.lua. Per group: one gzip body and
    enough plain bodies (different users, vars, breadcrumbs) for the gzip share."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    per_group_plain = max(1, round((1 - gzip_share) / gzip_share)) if gzip_share > 0 else 4
    plain, gz = [], []
    ev_sizes, frames_n, in_app_n = [], [], []
    for g in range(groups):
        for v in range(per_group_plain + (1 if gzip_share > 0 else 0)):
            ev = make_event(g, v, seed, ts)
            frames = ev["exception"]["values"][0]["stacktrace"]["frames"]
            frames_n.append(len(frames))
            in_app_n.append(sum(1 for f in frames if f["in_app"]))
            data = envelope(ev, ts)
            ev_sizes.append(len(json.dumps(ev, separators=(",", ":"))))
            (gz if (gzip_share > 0 and v == per_group_plain) else plain).append(data)
    rng = random.Random(seed)
    rng.shuffle(plain)
    rng.shuffle(gz)
    order = []
    # Interleave: after each gzip body, the right number of plain ones.
    pi = 0
    for k in range(max(len(gz), 1)):
        if k < len(gz):
            order.append(("G", gz[k]))
        for _ in range(per_group_plain if gz else len(plain)):
            if pi < len(plain):
                order.append(("P", plain[pi]))
                pi += 1
    blob = bytearray()
    lines = []
    env_plain, env_gzip = [], []
    check = random.Random(seed + 1)
    for kind, data in order:
        p1 = data.index(TEMPLATE_ID.encode())
        p2 = data.index(TEMPLATE_ID.encode(), p1 + 32)
        assert data.count(TEMPLATE_ID.encode()) == 2
        if kind == "P":
            segs = [data[:p1], data[p1 + 32:p2], data[p2 + 32:], b""]
            extra = ""
            clen = len(data)
            env_plain.append(clen)
        else:
            segs, base, table = gzip_parts(data, p1, p2)
            clen = sum(len(s) for s in segs) + 64 + 4
            env_gzip.append(clen)
            extra = " " + str(base) + " " + " ".join(str(t) for t in table)
            eid = "".join(check.choice(HEX) for _ in range(32))
            body = apply_id_gzip(segs, base, table, eid)
            assert len(body) == clen
            assert gzip.decompress(body) == data.replace(TEMPLATE_ID.encode(), eid.encode()), "gzip self-check failed"
        fields = [kind, str(clen)]
        for s in segs:
            fields += [str(len(blob)), str(len(s))]
            blob += s
        lines.append(" ".join(fields) + extra)
    with open(os.path.join(out_dir, "bodies.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(out_dir, "bodies.idx"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return {
        "bodies": len(order), "plain": len(env_plain), "gzip": len(env_gzip), "groups": groups,
        "event_json_bytes_mean": statistics.mean(ev_sizes),
        "event_json_bytes_min": min(ev_sizes), "event_json_bytes_max": max(ev_sizes),
        "frames": statistics.mean(frames_n), "in_app_frames": statistics.mean(in_app_n),
        "plain_body_bytes_mean": statistics.mean(env_plain) if env_plain else None,
        "gzip_body_bytes_mean": statistics.mean(env_gzip) if env_gzip else None,
        "gzip_share": len(env_gzip) / len(order),
    }


# --------------------------------------------------------------------------------------
# /proc sampling
# --------------------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[int, int] | None:
    """(utime+stime ticks, rss bytes) of one process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12]), int(rest[21]) * PAGE_SIZE


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def thread_cpu(pid: int) -> dict[str, int]:
    """CPU ticks per thread name (threads of the same name summed)."""
    out: dict[str, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + int(rest[11]) + int(rest[12])
    return out


def system_cpu() -> list[int]:
    """The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def system_cpu_delta(a: list[int], b: list[int], wall: float) -> dict:
    d = [y - x for x, y in zip(a, b)]
    c = lambda v: v / CLK_TCK / wall
    return {"busy_cores": c(d[0] + d[1] + d[2] + d[5] + d[6]), "idle_cores": c(d[3]), "iowait_cores": c(d[4]),
            "steal_cores": c(d[7])}


class Sampler(threading.Thread):
    """Samples CPU ticks and RSS of a process tree every `period` seconds."""

    def __init__(self, roots: list[int], period: float = 0.5):
        super().__init__(daemon=True)
        self.roots, self.period = roots, period
        self.samples: list[tuple[float, int, int, int]] = []  # t, ticks, rss, threads
        self.stop_ev = threading.Event()
        self.sys0 = system_cpu()

    def snap(self) -> tuple[float, int, int, int]:
        ticks = rss = threads = 0
        for r in self.roots:
            for p in descendants(r):
                s = proc_stat(p)
                if s:
                    ticks += s[0]
                    rss += s[1]
                    try:
                        threads += len(os.listdir(f"/proc/{p}/task"))
                    except OSError:
                        pass
        return time.monotonic(), ticks, rss, threads

    def run(self) -> None:
        while not self.stop_ev.is_set():
            self.samples.append(self.snap())
            self.stop_ev.wait(self.period)
        self.samples.append(self.snap())

    def stop(self) -> dict:
        self.stop_ev.set()
        self.join()
        s = self.samples
        wall = s[-1][0] - s[0][0]
        machine = system_cpu_delta(self.sys0, system_cpu(), wall) if wall > 0 else {}
        rss = [x[2] for x in s]
        # busiest 1 s: CPU between samples ~2 apart
        busiest = 0.0
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                if s[j][0] - s[i][0] >= 0.95:
                    busiest = max(busiest, (s[j][1] - s[i][1]) / CLK_TCK / (s[j][0] - s[i][0]))
                    break
        return {
            "wall_s": wall, "cpu_s": (s[-1][1] - s[0][1]) / CLK_TCK,
            "cores": (s[-1][1] - s[0][1]) / CLK_TCK / wall if wall > 0 else None,
            "busiest_1s_cores": busiest,
            "rss_median": med(rss), "rss_max": max(rss),
            "threads_max": max(x[3] for x in s), "samples": len(s), "machine": machine,
        }


# --------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------

def run_wrk(args, url: str, hostport: str, project: str, key: str, duration: float, out_path: str,
            connections: int | None = None) -> dict:
    nonce = f"{random.getrandbits(32):08x}"
    cmd = [args.wrk, "-t", str(args.threads), "-c", str(connections or args.connections), "-d", f"{int(duration)}s",
           "--latency", "--timeout", f"{args.timeout}s", "-s", os.path.join(HERE, "errors_load.lua"), url,
           "--", args.data_dir, hostport, project, key, nonce]
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
    text = open(out_path, encoding="utf-8", errors="replace").read()
    m = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed (exit {p.returncode}): {text[-2000:]}")
    r = json.loads(m.group(1))
    r["ok"] = r["requests"] - r["status"]
    r["duration_s"] = r["duration_us"] / 1e6
    r["wrk_cpu_s"] = ru.ru_utime + ru.ru_stime
    r["wrk_cores"] = r["wrk_cpu_s"] / wall
    r["wrk_maxrss"] = ru.ru_maxrss * 1024
    r["cmd"] = " ".join(cmd)
    r["text"] = text
    return r


# --------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------

def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 30) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop_process(p: subprocess.Popen, grace: float = 30.0) -> float | None:
    if p.poll() is not None:
        return 0.0
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace)
        return time.monotonic() - t
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def flush_disk() -> float:
    """Writes back dirty pages (earlier runs wrote GBs) so that a run does not pay for the
    previous one's writeback. Returns the seconds it took."""
    t = time.monotonic()
    os.sync()
    return time.monotonic() - t


def dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


# --------------------------------------------------------------------------------------
# Pharos
# --------------------------------------------------------------------------------------

def parse_metrics(text: str) -> dict:
    out = {"hist": {}, "hist_count": 0.0, "accepted": 0.0, "envelopes": {}, "events_total": 0.0}
    for line in text.splitlines():
        if line.startswith("pharos_sentry_ingest_duration_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', line).group(1)
            out["hist"][float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pharos_sentry_ingest_duration_seconds_count"):
            out["hist_count"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pharos_sentry_envelopes_total"):
            oc = re.search(r'outcome="([^"]+)"', line).group(1)
            out["envelopes"][oc] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pharos_error_events_total"):
            out["events_total"] += float(line.rsplit(" ", 1)[1])
    return out


def hist_quantile(q: float, a: dict, b: dict) -> float | None:
    """Quantile of the increase between two cumulative histograms (linear in the bucket,
    as Prometheus's histogram_quantile)."""
    les = sorted(b)
    inc = [b[le] - a.get(le, 0.0) for le in les]
    total = inc[-1] if inc else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, inc):
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return les[-2] if len(les) > 1 else None


def hist_bucket(q: float, a: dict, b: dict) -> str:
    les = sorted(b)
    inc = [b[le] - a.get(le, 0.0) for le in les]
    total = inc[-1] if inc else 0
    prev = 0.0
    for le, c in zip(les, inc):
        if total and c >= q * total:
            return f"{prev:g}-{le:g} s"
        prev = le
    return "n/a"


def pharos_issues(port: int) -> dict:
    h = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    total_count, issues, page = 0, 0, 1
    reported_total = None
    while True:
        st, body = http_get(port, f"/api/v1/issues?per_page=100&page={page}&query=", h)
        if st != 200:
            raise RuntimeError(f"GET /api/v1/issues -> {st}: {body[:300]!r}")
        d = json.loads(body)
        reported_total = d["total"]
        items = d["issues"]
        issues += len(items)
        total_count += sum(i["count"] for i in items)
        if len(items) < 100:
            break
        page += 1
    return {"issues_total": reported_total, "issues_listed": issues, "events_counted": total_count}


def pharos_metrics(port: int) -> dict:
    st, body = http_get(port, "/metrics")
    return parse_metrics(body.decode())


def run_pharos(args, work: str, rep: int) -> dict:
    d = os.path.join(work, f"pharos-{rep}")
    data_dir = os.path.join(d, "data")
    os.makedirs(data_dir)
    cfg = os.path.join(d, "pharos.yaml")
    with open(cfg, "w") as f:
        f.write(f"projects:\n  - id: {PROJECT_ID}\n    name: bench\n    keys: [\"{SENTRY_KEY}\"]\n    rate_limit: 0\n")
    port = free_port()
    env = dict(os.environ, PHAROS_ADMIN_TOKEN=ADMIN_TOKEN, PHAROS_LOG_FORMAT="json", PHAROS_LOG="warn")
    log_path = os.path.join(d, "pharos.log")
    logf = open(log_path, "wb")
    t = time.monotonic()
    p = subprocess.Popen([args.pharos_bin, "serve", "--config", cfg, "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
                         stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=d)
    res: dict = {"peer": "pharos", "rep": rep}
    res["sync_before_s"] = flush_disk()
    try:
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"pharos exited with {p.returncode}; see {log_path}")
            try:
                if http_get(port, "/health/live", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - t > 60:
                raise RuntimeError("pharos not live after 60 s")
            time.sleep(0.05)
        res["ready_s"] = time.monotonic() - t
        url, hp = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
        log(f"pharos: warm-up {args.warmup}s")
        warm = run_wrk(args, url, hp, str(PROJECT_ID), SENTRY_KEY, args.warmup, os.path.join(d, "wrk-warmup.txt"))
        time.sleep(args.settle)
        before_api = pharos_issues(port)
        before_m = pharos_metrics(port)
        before_threads = thread_cpu(p.pid)
        before_disk = dir_bytes(data_dir)
        sampler = Sampler([p.pid])
        sampler.start()
        log(f"pharos: measuring {args.duration}s")
        w = run_wrk(args, url, hp, str(PROJECT_ID), SENTRY_KEY, args.duration, os.path.join(d, "wrk.txt"))
        proc = sampler.stop()
        after_threads = thread_cpu(p.pid)
        time.sleep(args.settle)
        after_m = pharos_metrics(port)
        after_api = pharos_issues(port)
        res.update({
            "warmup": {k: warm[k] for k in ("requests", "ok", "status", "duration_s")},
            "wrk": {k: v for k, v in w.items() if k != "text"},
            "proc": proc,
            "issues_before": before_api, "issues_after": after_api,
            "stored_in_period": after_api["events_counted"] - before_api["events_counted"],
            "accepted_metric": after_m["envelopes"].get("accepted", 0) - before_m["envelopes"].get("accepted", 0),
            "events_metric": after_m["events_total"] - before_m["events_total"],
            "envelopes_other": {k: v - before_m["envelopes"].get(k, 0) for k, v in after_m["envelopes"].items() if k != "accepted"},
            "hist_p50": hist_quantile(0.5, before_m["hist"], after_m["hist"]),
            "hist_p99": hist_quantile(0.99, before_m["hist"], after_m["hist"]),
            "hist_p99_bucket": hist_bucket(0.99, before_m["hist"], after_m["hist"]),
            "threads_cpu_s": {k: (v - before_threads.get(k, 0)) / CLK_TCK for k, v in after_threads.items()
                              if v - before_threads.get(k, 0) > 0},
            "disk_growth": dir_bytes(data_dir) - before_disk, "disk_total": dir_bytes(data_dir),
        })
        dur = w["duration_s"]
        res["ok_per_s"] = w["ok"] / dur
        res["stored_per_s"] = min(res["stored_in_period"], w["ok"]) / dur
        res["cpu_per_1000"] = proc["cpu_s"] / max(res["stored_in_period"], 1) * 1000
    finally:
        res["shutdown_s"] = stop_process(p)
        logf.close()
    lines = [l for l in open(log_path, errors="replace") if l.strip()]
    res["log_lines"] = len(lines)
    res["log_sample"] = lines[:5]
    if not args.keep_workdir:
        shutil.rmtree(data_dir, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------
# Bugsink
# --------------------------------------------------------------------------------------

BUGSINK_EXTRA_CONF = """
# bench/errors.py: quotas far above the load (the defaults, 1,000 events per 5 minutes,
# would turn most of the benchmark into 429s), no phone-home (no network here).
BUGSINK.update({
    "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES": 1_000_000_000,
    "MAX_EVENTS_PER_PROJECT_PER_HOUR": 1_000_000_000,
    "MAX_EVENTS_PER_PROJECT_PER_MONTH": 1_000_000_000,
    "MAX_EVENTS_PER_5_MINUTES": 1_000_000_000,
    "MAX_EVENTS_PER_HOUR": 1_000_000_000,
    "MAX_EVENTS_PER_MONTH": 1_000_000_000,
    "PHONEHOME": False,
})
"""

BUGSINK_MKPROJECT = """
from projects.models import Project
from teams.models import Team
t, _ = Team.objects.get_or_create(name="bench")
p = Project.objects.create(name="bench", team=t, retention_max_event_count=1_000_000_000)
print("BENCHPROJECT", p.pk, p.sentry_key.hex)
"""


def bugsink_counts(base: str, project: int) -> dict:
    c = sqlite3.connect(f"file:{base}/db.sqlite3?mode=ro", uri=True, timeout=30)
    try:
        dig, stored, issues = c.execute(
            "SELECT digested_event_count, stored_event_count, issue_count FROM projects_project WHERE id=?", (project,)).fetchone()
        n_issues = c.execute("SELECT COUNT(*) FROM issues_issue WHERE project_id=?", (project,)).fetchone()[0]
    finally:
        c.close()
    s = sqlite3.connect(f"file:{base}/snappea.sqlite3?mode=ro", uri=True, timeout=30)
    try:
        backlog = s.execute("SELECT COUNT(*) FROM snappea_task").fetchone()[0]
    finally:
        s.close()
    return {"digested": dig, "stored": stored, "issue_count": issues, "issues": n_issues, "backlog_tasks": backlog}


def run_bugsink(args, work: str, rep: int) -> dict:
    venv = args.bugsink_venv
    d = os.path.join(work, f"bugsink-{rep}")
    base = os.path.join(d, "data")
    os.makedirs(base)
    port = free_port()
    bin_ = lambda n: os.path.join(venv, "bin", n)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bugsink_conf", PYTHONPATH=d)
    subprocess.run([bin_("bugsink-create-conf"), "--template", "singleserver", "--port", str(port), "--host", "127.0.0.1",
                    "--base-dir", base, "-o", os.path.join(d, "bugsink_conf.py")], check=True, cwd=d, env=env,
                   stdout=subprocess.DEVNULL)
    conf = open(os.path.join(d, "bugsink_conf.py")).read()
    conf = conf.replace('"BASE_URL": "https://127.0.0.1"', f'"BASE_URL": "http://127.0.0.1:{port}"')
    conf = conf.replace('"NUM_WORKERS": 4', f'"NUM_WORKERS": {args.bugsink_snappea_workers}')
    with open(os.path.join(d, "bugsink_conf.py"), "w") as f:
        f.write(conf + BUGSINK_EXTRA_CONF)
    with open(os.path.join(d, "gunicorn.conf.py"), "w") as f:
        f.write("control_socket_disable = True\n")
    for cmd in ([bin_("bugsink-manage"), "migrate"], [bin_("bugsink-manage"), "migrate", "snappea", "--database=snappea"]):
        subprocess.run(cmd, check=True, cwd=d, env=env, stdout=subprocess.DEVNULL)
    out = subprocess.run([bin_("bugsink-manage"), "shell"], input=BUGSINK_MKPROJECT, text=True, capture_output=True,
                         cwd=d, env=env, check=True).stdout
    m = re.search(r"BENCHPROJECT (\d+) ([0-9a-f]{32})", out)
    project, key = int(m.group(1)), m.group(2)
    glog = open(os.path.join(d, "gunicorn.log"), "wb")
    slog = open(os.path.join(d, "snappea.log"), "wb")
    t = time.monotonic()
    g = subprocess.Popen([bin_("gunicorn"), "--config", os.path.join(d, "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
                          "--workers", str(args.bugsink_workers), "bugsink.wsgi"], cwd=d, env=env, stdout=glog,
                         stderr=subprocess.STDOUT)
    s = subprocess.Popen([bin_("bugsink-runsnappea")], cwd=d, env=env, stdout=slog, stderr=subprocess.STDOUT)
    res: dict = {"peer": "bugsink", "rep": rep, "gunicorn_workers": args.bugsink_workers,
                 "snappea_workers": args.bugsink_snappea_workers}
    res["sync_before_s"] = flush_disk()
    try:
        while True:
            if g.poll() is not None or s.poll() is not None:
                raise RuntimeError(f"bugsink exited during startup; see {d}/*.log")
            try:
                if http_get(port, "/health/ready", timeout=2)[0] in (200, 404):
                    break
            except OSError:
                pass
            if time.monotonic() - t > 60:
                raise RuntimeError("bugsink not up after 60 s")
            time.sleep(0.2)
        res["ready_s"] = time.monotonic() - t
        url, hp = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
        log(f"bugsink: warm-up {args.warmup}s")
        warm = run_wrk(args, url, hp, str(project), key, args.warmup, os.path.join(d, "wrk-warmup.txt"))
        time.sleep(args.settle)
        before = bugsink_counts(base, project)
        sampler = Sampler([g.pid, s.pid])
        sampler.start()
        log(f"bugsink: measuring {args.duration}s (backlog at start: {before['backlog_tasks']} tasks)")
        w = run_wrk(args, url, hp, str(project), key, args.duration, os.path.join(d, "wrk.txt"))
        proc = sampler.stop()
        after = bugsink_counts(base, project)
        dur = w["duration_s"]
        # Drain: wait (bounded) until the worker has digested everything accepted.
        log(f"bugsink: draining the backlog ({after['backlog_tasks']} tasks), at most {args.drain_timeout}s")
        td = time.monotonic()
        drain_sampler = Sampler([g.pid, s.pid])
        drain_sampler.start()
        while True:
            c = bugsink_counts(base, project)
            if c["backlog_tasks"] == 0 or time.monotonic() - td > args.drain_timeout:
                break
            time.sleep(0.5)
        drain_proc = drain_sampler.stop()
        drained = bugsink_counts(base, project)
        res.update({
            "warmup": {k: warm[k] for k in ("requests", "ok", "status", "duration_s")},
            "wrk": {k: v for k, v in w.items() if k != "text"},
            "proc": proc, "drain_proc": drain_proc,
            "before": before, "after": after, "drained": drained,
            "drain_s": time.monotonic() - td, "drain_complete": drained["backlog_tasks"] == 0,
            "digested_in_period": after["digested"] - before["digested"],
        })
        res["ok_per_s"] = w["ok"] / dur
        res["stored_per_s"] = res["digested_in_period"] / dur
        # All of Bugsink's CPU from the period's start to the drained end, per event digested in that time.
        res["cpu_per_1000"] = (proc["cpu_s"] + drain_proc["cpu_s"]) / max(drained["digested"] - before["digested"], 1) * 1000
        total_ok = warm["ok"] + w["ok"]
        res["total_ok"] = total_ok
        res["accepted_not_digested"] = total_ok - drained["digested"]
        # Sustained end to end: all digested from the start of the measured period to the end of the drain.
        res["e2e_per_s"] = (drained["digested"] - before["digested"]) / (dur + res["drain_s"])
        res["disk_total"] = dir_bytes(base)
    finally:
        res["shutdown_s"] = max(stop_process(g) or 0, stop_process(s) or 0)
        glog.close()
        slog.close()
    errs = [l for l in open(os.path.join(d, "gunicorn.log"), errors="replace") if "ERROR" in l or "Traceback" in l]
    res["gunicorn_error_lines"] = len(errs)
    res["gunicorn_error_sample"] = errs[:5]
    if not args.keep_workdir:
        shutil.rmtree(base, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def mib(b: float | None) -> str:
    return "n/a" if b is None else f"{b / 1048576:.1f} MiB"


def ms(us: float | None) -> str:
    return "n/a" if us is None else f"{us / 1000:.1f} ms"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def report(args, gen: dict, runs: list[dict]) -> str:
    L = []
    ph = [r for r in runs if r["peer"] == "pharos"]
    bs = [r for r in runs if r["peer"] == "bugsink"]
    L.append(f"## Error ingest: {args.duration:g} s measured after {args.warmup:g} s warm-up, "
             f"wrk -t{args.threads} -c{args.connections}, {len(ph)} run(s)")
    L.append("")
    L.append(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
             f"load avg at start {args.load_at_start}")
    L.append(f"- pharos: `{args.pharos_bin}`; wrk: `{args.wrk}`; bugsink: "
             + (f"`{args.bugsink_venv}` ({args.bugsink_version})" if args.bugsink_venv else "not run"))
    L.append(f"- load: {gen['bodies']} distinct bodies ({gen['plain']} plain, {gen['gzip']} gzip = "
             f"{gen['gzip_share'] * 100:.0f} % of requests), {gen['groups']} fingerprints, event JSON "
             f"{gen['event_json_bytes_mean'] / 1024:.1f} KiB mean ({gen['event_json_bytes_min']}–{gen['event_json_bytes_max']} B), "
             f"{gen['frames']:.0f} frames ({gen['in_app_frames']:.0f} in-app), envelope {gen['plain_body_bytes_mean'] / 1024:.1f} KiB plain / "
             f"{(gen['gzip_body_bytes_mean'] or 0) / 1024:.1f} KiB gzip; a new event_id in every request")
    L.append("")
    for r in ph:
        w, p = r["wrk"], r["proc"]
        L.append(f"### Pharos, run {r['rep'] + 1}")
        L.append("")
        L.append("| metric | value |")
        L.append("| --- | --- |")
        L.append(f"| answered 200 / s (wrk) | {r['ok_per_s']:,.0f} ({w['ok']:,} in {w['duration_s']:.1f} s) |")
        L.append(f"| **stored events / s (verified)** | **{r['stored_per_s']:,.0f}** |")
        L.append(f"| verification: sum of issue counts, increase in period | {r['stored_in_period']:,} "
                 f"(200s: {w['ok']:,}; difference {r['stored_in_period'] - w['ok']:+,}, in flight at wrk's stop ≤ {args.connections}) |")
        L.append(f"| verification: `pharos_sentry_envelopes_total{{outcome=\"accepted\"}}` / `pharos_error_events_total` increase | "
                 f"{r['accepted_metric']:,.0f} / {r['events_metric']:,.0f} |")
        L.append(f"| issues after the run (API `total`; listed) | {r['issues_after']['issues_total']} ; {r['issues_after']['issues_listed']} "
                 f"(fingerprints sent: {gen['groups']}) |")
        L.append(f"| non-200 answers; socket errors (connect/read/write/timeout) | {w['status']} ; "
                 f"{w['connect']}/{w['read']}/{w['write']}/{w['timeout']} |")
        L.append(f"| other envelope outcomes (metric) | {', '.join(f'{k}={v:.0f}' for k, v in r['envelopes_other'].items() if v) or 'none'} |")
        L.append(f"| latency p50 / p90 / p99 / p99.9 / max (wrk) | {ms(w['lat_p50_us'])} / {ms(w['lat_p90_us'])} / "
                 f"{ms(w['lat_p99_us'])} / {ms(w['lat_p999_us'])} / {ms(w['lat_max_us'])} |")
        hp50 = r["hist_p50"]
        hp99 = r["hist_p99"]
        L.append(f"| latency p50 / p99 (Pharos histogram) | {'n/a' if hp50 is None else f'{hp50 * 1000:.1f} ms'} / "
                 f"{'n/a' if hp99 is None else f'{hp99 * 1000:.1f} ms'} (p99 in bucket {r['hist_p99_bucket']}) |")
        L.append(f"| CPU, cores (whole period; busiest 1 s) | {p['cores']:.2f} ; {p['busiest_1s_cores']:.2f} |")
        L.append(f"| CPU s per 1000 events | {r['cpu_per_1000']:.3f} |")
        top = sorted(r["threads_cpu_s"].items(), key=lambda kv: -kv[1])
        L.append(f"| CPU by thread (cores) | " + ", ".join(f"{k} {v / w['duration_s']:.2f}" for k, v in top[:6]) + " |")
        L.append(f"| RSS (median; max) | {mib(p['rss_median'])} ; {mib(p['rss_max'])} |")
        L.append(f"| threads (max) | {p['threads_max']} |")
        L.append(f"| load generator (wrk) CPU | {w['wrk_cores']:.2f} cores |")
        mc = p.get("machine") or {}
        if mc:
            L.append(f"| whole machine in period: busy / idle / iowait / steal, cores | {mc['busy_cores']:.2f} / "
                     f"{mc['idle_cores']:.2f} / {mc['iowait_cores']:.2f} / {mc['steal_cores']:.2f} |")
        L.append(f"| data dir growth in period; total | {mib(r['disk_growth'])} ; {mib(r['disk_total'])} "
                 f"({r['disk_growth'] / max(r['stored_in_period'], 1) / 1024:.1f} KiB per event) |")
        L.append(f"| time to live; shutdown after SIGTERM | {r['ready_s']:.2f} s ; "
                 f"{'killed' if r['shutdown_s'] is None else '%.2f s' % r['shutdown_s']} |")
        L.append(f"| log lines (warn and above) | {r['log_lines']} |")
        L.append("")
    for r in bs:
        w, p = r["wrk"], r["proc"]
        L.append(f"### Bugsink, run {r['rep'] + 1} (gunicorn {r['gunicorn_workers']} sync workers + snappea {r['snappea_workers']} worker threads)")
        L.append("")
        L.append("| metric | value |")
        L.append("| --- | --- |")
        L.append(f"| answered 200 / s (wrk; accepted, queued for digestion) | {r['ok_per_s']:,.0f} ({w['ok']:,} in {w['duration_s']:.1f} s) |")
        L.append(f"| **digested (stored and grouped) events / s in the period** | **{r['stored_per_s']:,.0f}** ({r['digested_in_period']:,}) |")
        L.append(f"| backlog at the end of the period (snappea tasks) | {r['after']['backlog_tasks']:,} |")
        L.append(f"| drain after the period | {r['drain_s']:.0f} s, {'complete' if r['drain_complete'] else 'NOT complete (timeout)'} |")
        L.append(f"| end to end from period start to drained | {r['e2e_per_s']:,.0f} events/s |")
        L.append(f"| verification: accepted (warm-up + period) vs digested after drain | {r['total_ok']:,} vs {r['drained']['digested']:,} "
                 f"(stored {r['drained']['stored']:,}) |")
        L.append(f"| issues after drain | {r['drained']['issues']} (fingerprints sent: {gen['groups']}) |")
        L.append(f"| non-200 answers; socket errors (connect/read/write/timeout) | {w['status']} ; "
                 f"{w['connect']}/{w['read']}/{w['write']}/{w['timeout']} |")
        L.append(f"| latency p50 / p90 / p99 / p99.9 / max (wrk; ingest only) | {ms(w['lat_p50_us'])} / {ms(w['lat_p90_us'])} / "
                 f"{ms(w['lat_p99_us'])} / {ms(w['lat_p999_us'])} / {ms(w['lat_max_us'])} |")
        L.append(f"| CPU, cores, all processes (period; drain) | {p['cores']:.2f} ; {r['drain_proc']['cores']:.2f} |")
        L.append(f"| CPU s per 1000 digested events (all CPU from period start to drained) | {r['cpu_per_1000']:.3f} |")
        L.append(f"| RSS, all processes (median; max) | {mib(p['rss_median'])} ; {mib(p['rss_max'])} |")
        L.append(f"| load generator (wrk) CPU | {w['wrk_cores']:.2f} cores |")
        mc = p.get("machine") or {}
        if mc:
            L.append(f"| whole machine in period: busy / idle / iowait / steal, cores | {mc['busy_cores']:.2f} / "
                     f"{mc['idle_cores']:.2f} / {mc['iowait_cores']:.2f} / {mc['steal_cores']:.2f} |")
        L.append(f"| data dir total | {mib(r['disk_total'])} |")
        L.append(f"| gunicorn error lines | {r['gunicorn_error_lines']} |")
        L.append("")
    if ph:
        L.append("### Medians and ratios (Pharos / Bugsink; above 1 = Pharos more, for CPU and RSS below 1 = Pharos uses less)")
        L.append("")
        rows = [
            ("stored (Pharos, verified) vs digested (Bugsink) events/s", [r["stored_per_s"] for r in ph], [r["stored_per_s"] for r in bs], "{:,.0f}"),
            ("stored (Pharos) vs Bugsink end to end incl. drain, events/s", [r["stored_per_s"] for r in ph], [r["e2e_per_s"] for r in bs], "{:,.0f}"),
            ("answered 200 / s", [r["ok_per_s"] for r in ph], [r["ok_per_s"] for r in bs], "{:,.0f}"),
            ("p99 latency, wrk (ms)", [r["wrk"]["lat_p99_us"] / 1000 for r in ph], [r["wrk"]["lat_p99_us"] / 1000 for r in bs], "{:.1f}"),
            ("CPU, cores", [r["proc"]["cores"] for r in ph], [r["proc"]["cores"] for r in bs], "{:.2f}"),
            ("CPU s per 1000 stored events (Bugsink: incl. drain)", [r["cpu_per_1000"] for r in ph], [r["cpu_per_1000"] for r in bs], "{:.3f}"),
            ("RSS median (MiB)", [r["proc"]["rss_median"] / 1048576 for r in ph], [r["proc"]["rss_median"] / 1048576 for r in bs], "{:.1f}"),
            ("RSS max (MiB)", [r["proc"]["rss_max"] / 1048576 for r in ph], [r["proc"]["rss_max"] / 1048576 for r in bs], "{:.1f}"),
            ("wrk CPU, cores", [r["wrk"]["wrk_cores"] for r in ph], [r["wrk"]["wrk_cores"] for r in bs], "{:.2f}"),
        ]
        L.append("| metric | Pharos (median; runs) | Bugsink (median; runs) | ratio of medians |")
        L.append("| --- | --- | --- | --- |")
        for name, a, b, f in rows:
            ma, mb = med(a), med(b)
            fa = f"{f.format(ma)} ({', '.join(f.format(x) for x in a)})" if a else "n/a"
            fb = f"{f.format(mb)} ({', '.join(f.format(x) for x in b)})" if b else "not run"
            L.append(f"| {name} | {fa} | {fb} | {ratio(ma, mb)} |")
        L.append("")
        target = med([r["stored_per_s"] for r in ph])
        L.append(f"Goal check (≥ 10,000 events/s stored on 2 cores): median {target:,.0f} events/s — "
                 + ("met." if target >= 10000 else "NOT met."))
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30, help="seconds measured per peer and run (default 30)")
    ap.add_argument("--warmup", type=float, default=10, help="seconds of load before measuring (default 10)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--timeout", type=int, default=10, help="wrk request timeout, s (default 10)")
    ap.add_argument("--groups", type=int, default=300, help="distinct fingerprints (default 300)")
    ap.add_argument("--gzip-share", type=float, default=0.2, help="share of gzip requests (default 0.2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="run everything N times (fresh data dirs), print medians")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after wrk stops before reading counts")
    ap.add_argument("--pharos-bin", default=os.environ.get("PHAROS_BIN", os.path.join(REPO, "target/release/pharos")))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--bugsink-venv", default=os.environ.get("BUGSINK_VENV", "/tmp/bugsink-venv"),
                    help="venv with bugsink installed (default $BUGSINK_VENV or /tmp/bugsink-venv)")
    ap.add_argument("--bugsink-workers", type=int, default=2, help="gunicorn workers for bugsink (default 2 = cores)")
    ap.add_argument("--bugsink-snappea-workers", type=int, default=4, help="snappea NUM_WORKERS (default 4, its template's)")
    ap.add_argument("--drain-timeout", type=float, default=300, help="max seconds to wait for bugsink's backlog")
    ap.add_argument("--no-bugsink", action="store_true")
    ap.add_argument("--no-pharos", action="store_true")
    ap.add_argument("--json-out")
    ap.add_argument("--md-out")
    ap.add_argument("--keep-workdir", action="store_true")
    args = ap.parse_args()

    if not os.path.exists(args.pharos_bin) and not args.no_pharos:
        sys.exit(f"pharos binary not found at {args.pharos_bin}: cargo build --release -p pharos, or set PHAROS_BIN")
    if not shutil.which(args.wrk):
        sys.exit("wrk not found: apt-get install -y wrk")
    args.bugsink_version = None
    if args.no_bugsink:
        args.bugsink_venv = None
    elif not os.path.exists(os.path.join(args.bugsink_venv, "bin", "bugsink-manage")):
        log(f"bugsink not installed in {args.bugsink_venv}: the peer is skipped (see bench/README.md for the install)")
        args.bugsink_venv = None
    else:
        args.bugsink_version = subprocess.run([os.path.join(args.bugsink_venv, "bin", "python"), "-c",
                                               "import importlib.metadata as m; print(m.version('bugsink'))"],
                                              capture_output=True, text=True).stdout.strip()
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())

    work = tempfile.mkdtemp(prefix="pharos-errbench-")
    args.data_dir = os.path.join(work, "load")
    os.makedirs(args.data_dir)
    log(f"workdir {work}; generating bodies")
    gen = generate(args.data_dir, args.groups, args.gzip_share, args.seed)
    log(f"{gen['bodies']} bodies, event JSON {gen['event_json_bytes_mean']:.0f} B mean, {gen['frames']:.0f} frames")
    runs: list[dict] = []
    try:
        for rep in range(args.repeat):
            if not args.no_pharos:
                runs.append(run_pharos(args, work, rep))
                r = runs[-1]
                log(f"pharos run {rep + 1}: {r['stored_per_s']:,.0f} stored/s, p99 {r['wrk']['lat_p99_us'] / 1000:.1f} ms, "
                    f"RSS {mib(r['proc']['rss_median'])}, {r['proc']['cores']:.2f} cores")
            if args.bugsink_venv:
                try:
                    runs.append(run_bugsink(args, work, rep))
                    r = runs[-1]
                    log(f"bugsink run {rep + 1}: {r['ok_per_s']:,.0f} accepted/s, {r['stored_per_s']:,.0f} digested/s")
                except Exception as e:  # the Pharos numbers must still come out
                    log(f"bugsink run {rep + 1} failed: {e}")
                    runs.append({"peer": "bugsink-failed", "rep": rep, "error": str(e)})
    finally:
        md = report(args, gen, [r for r in runs if r["peer"] in ("pharos", "bugsink")])
        failed = [r for r in runs if r["peer"] == "bugsink-failed"]
        if failed:
            md += "\n\nBugsink failed: " + "; ".join(r["error"] for r in failed)
        print(md)
        if args.md_out:
            with open(args.md_out, "w") as f:
                f.write(md + "\n")
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"args": {k: v for k, v in vars(args).items()}, "load": gen, "runs": runs}, f, indent=1, default=str)
        if not args.keep_workdir:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")


if __name__ == "__main__":
    main()
