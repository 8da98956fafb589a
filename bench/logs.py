#!/usr/bin/env python3
"""Log ingest and search benchmark (issue 6): Pharos vs SQLite FTS5 vs ripgrep.

One generated workload — realistic python-json-logger lines from 16 services over the last
48 h — written once as one JSONL file per service (what `logs/<service>.log` looks like
today), then:

1. Pharos: `POST /api/v1/logs?service=NAME` (application/x-ndjson) from several keep-alive
   sender threads, batches cut straight out of the files (`os.pread`, no re-encoding), until
   every line is acknowledged; then wait until `/api/v1/logs/stats` shows every entry
   indexed; disk; then a fixed query set, interleaved rounds, p50/p99.
2. SQLite FTS5 (Python's sqlite3, in a subprocess): a table with the JSON line, time,
   service and level (B-tree indexes on them) and a contentless FTS5 index on the message,
   10k lines per transaction, WAL; the equivalent queries.
3. ripgrep over the JSONL files: the text queries (`rg -c`, the matching lines counted).

Also a "client alone" run: the same senders against a sink process that reads and drops
the bodies, so the client's ceiling is known. Python 3.11 standard library only.

    python3 bench/logs.py --lines 1000000 --json-out /tmp/lbench/1m.json --md-out /tmp/lbench/1m.md
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import http.client
import json
import os
import random
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, Sampler, free_port, fmt, get_json, loadavg, log, med, pct, proc_stat,  # noqa: E402
                      request, stop_process, wait_ready)

ADMIN_TOKEN = "logs-bench-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GEN_VERSION = 3

# --------------------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------------------

# name, relative volume: a few chatty services and a long tail, as in the seeds (bots,
# Django + Celery, Flask CRM, FastAPI backend).
SERVICES = [
    ("orders-api", 18), ("celery-worker", 14), ("whatsapp-webhook", 11), ("invoice-bot", 9),
    ("leads-crm", 8), ("payments", 7), ("notifications", 6), ("catalog", 5), ("auth", 5),
    ("reports", 4), ("scheduler", 3), ("tg-support-bot", 3), ("inventory", 2), ("billing", 2),
    ("search", 2), ("admin-panel", 1),
]
MODULES = ["routes.orders", "routes.leads", "routes.users", "services.payments", "services.invoices",
           "tasks.sync", "tasks.notify", "handlers.messages", "handlers.callbacks", "db.session",
           "integrations.whatsapp", "integrations.telegram", "integrations.stripe", "cache", "middleware"]
ENDPOINTS = ["/api/orders", "/api/orders/{id}", "/api/leads", "/api/leads/statistics", "/api/users/me",
             "/api/invoices", "/api/invoices/{id}/pdf", "/api/products", "/api/cart", "/api/checkout",
             "/webhook/whatsapp", "/webhook/telegram", "/api/reports/daily", "/api/search", "/health",
             "/api/payments/{id}/capture", "/api/subscriptions", "/api/auth/token", "/api/tenants/{id}",
             "/api/inventory/sync"]
ENTITIES = ["Order", "Lead", "Invoice", "Payment", "Subscription", "Customer", "Product", "Ticket",
            "Shipment", "Refund"]
OPERATIONS = ["create_order", "update_lead", "send_invoice", "capture_payment", "sync_inventory",
              "send_message", "process_update", "generate_report", "refresh_token", "charge_card",
              "import_products", "notify_customer"]
ERROR_TYPES = [("TimeoutError", 30), ("ConnectionError", 20), ("ValidationError", 15), ("KeyError", 8),
               ("IntegrityError", 8), ("TelegramBadRequest", 6), ("HTTPError", 5), ("TypeError", 4),
               ("RateLimitError", 3), ("OperationalError", 1)]
TABLES = ["orders", "leads", "invoices", "payments", "users", "sessions"]
STATUSES = ["new", "pending", "paid", "shipped", "cancelled", "refunded"]

# (weight, template, extras). Placeholders: {E} entity, {e} entity lower, {id}, {ep}
# endpoint, {secs}, {ms}, {n}, {k}, {upd}, {user}, {tenant}, {op}, {table}, {st}, {st2},
# {amount}. Every template is used with each entity where it has {E}/{e}: a few hundred
# distinct message templates.
INFO_T = [
    (10, "{E} {id} created", ("request_id", "user_id", "tenant_id")),
    (8, "{E} {id} updated: status {st} -> {st2}", ("request_id", "user_id", "tenant_id")),
    (6, "{E} {id} fetched in {ms} ms", ("request_id", "duration_ms", "endpoint")),
    (8, "Incoming request {ep}", ("request_id", "endpoint", "user_id")),
    (8, "Request completed {ep} 200 in {ms} ms", ("request_id", "endpoint", "duration_ms")),
    (6, "Processing update {upd}", ("update_id", "user_id")),
    (5, "Message sent to user {user}", ("user_id", "operation", "duration_ms")),
    (5, "Task {op} succeeded in {secs}s", ("operation", "duration_ms")),
    (4, "Task {op} received", ("operation", "request_id")),
    (4, "Cache hit for {e}:{id}", ("request_id",)),
    (3, "Cache miss for {e}:{id}, loaded from db in {ms} ms", ("request_id", "duration_ms")),
    (3, "Payment {id} captured: {amount} USD", ("tenant_id", "user_id", "operation")),
    (3, "Invoice {id} sent to user {user}", ("user_id", "tenant_id", "operation")),
    (3, "Webhook delivered to {ep} in {ms} ms", ("endpoint", "duration_ms")),
    (3, "User {user} logged in", ("user_id", "request_id")),
    (2, "Scheduled job {op} started", ("operation",)),
    (2, "Synced {n} {e} records for tenant {tenant}", ("tenant_id", "operation", "duration_ms")),
    (2, "Health check ok: db {ms} ms, redis {k} ms", ("endpoint", "duration_ms")),
    (2, "{E} {id} exported to CSV ({n} rows)", ("user_id", "operation", "duration_ms")),
    (2, "Callback query answered for user {user}", ("user_id", "update_id")),
    (1, "Connection pool stats: {n} in use, {k} idle", ()),
    (1, "Feature flag {op} enabled for tenant {tenant}", ("tenant_id",)),
]
WARNING_T = [
    (10, "Slow request detected: {ep} took {secs}s", ("request_id", "endpoint", "duration_ms")),
    (6, "Duplicate update_id {upd}", ("update_id",)),
    (5, "Retrying {op} in {k}s (attempt {n}/5)", ("operation", "request_id")),
    (4, "Rate limit close for tenant {tenant}: {n}/1000 requests", ("tenant_id", "endpoint")),
    (4, "{E} {id} not found", ("request_id", "user_id", "endpoint")),
    (3, "Slow query on {table}: {ms} ms", ("operation", "duration_ms")),
    (3, "Telegram API responded 429, retry after {k}s", ("operation", "update_id")),
    (2, "Payment {id} requires action: 3DS", ("tenant_id", "user_id")),
    (2, "Deprecated endpoint {ep} called by user {user}", ("endpoint", "user_id")),
    (1, "Memory usage high: {n} MB", ()),
]
ERROR_T = [
    (10, "Failed to send {e} {id}: {err}", ("request_id", "user_id", "error_type", "operation")),
    (8, "Database connection timeout after {k}s", ("error_type", "operation", "duration_ms")),
    (6, "Unhandled exception in {ep}", ("request_id", "endpoint", "error_type")),
    (5, "Webhook {ep} returned 502", ("endpoint", "error_type", "duration_ms")),
    (4, "Payment {id} failed: card declined", ("tenant_id", "user_id", "error_type")),
    (3, "Object of type Decimal is not JSON serializable", ("request_id", "endpoint", "error_type")),
    (3, "Could not process update {upd}", ("update_id", "error_type")),
    (2, "Integrity error on {table}: duplicate key {id}", ("error_type", "operation")),
]
CRITICAL_T = [
    (5, "Queue full: {n} tasks waiting, dropping {op}", ("operation", "error_type")),
    (3, "Database unavailable: {err}", ("error_type", "operation")),
    (2, "Worker {k} killed: out of memory", ("operation", "error_type")),
]
RARE_T = ("ERROR", "Deadlock detected while updating {e} {id}, transaction rolled back",
          ("error_type", "operation", "request_id"))
RARE_P = 5e-6          # ~50 lines in 10 million: the rare word
TRACEBACK_P = 0.01     # share of ERROR lines with exc_info
LEVEL_NO = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
USERS = 50_000
QUERY_USER = 4242


def _expand(ts):
    out = []
    for w, t, ex in ts:
        if "{E}" in t or "{e}" in t:
            for ent in ENTITIES:
                out.append((w / len(ENTITIES), t.replace("{E}", ent).replace("{e}", ent.lower()), ex))
        else:
            out.append((w, t, ex))
    return out


def _cum(items):
    tot, acc, cum = sum(w for w, *_ in items), 0.0, []
    for w, *rest in items:
        acc += w / tot
        cum.append((acc, *rest))
    return cum


def _pick(cum, r):
    keys = _KEYS.get(id(cum))
    if keys is None:
        keys = _KEYS[id(cum)] = [c for c, *_ in cum]
    return cum[min(bisect.bisect_left(keys, r), len(cum) - 1)][1:]


_KEYS: dict = {}


def traceback_text(rng: random.Random, err: str, msg: str) -> str:
    frames = []
    for _ in range(rng.randint(3, 7)):
        mod = rng.choice(MODULES).replace(".", "/")
        frames.append(f'  File "/app/{mod}.py", line {rng.randint(10, 900)}, in {rng.choice(OPERATIONS)}\n'
                      f"    result = await self.{rng.choice(OPERATIONS)}(payload)")
    return "Traceback (most recent call last):\n" + "\n".join(frames) + f"\n{err}: {msg}"


def generate(args, gdir: str) -> dict:
    """Writes <gdir>/lines/<service>.jsonl, order.bin (the service index of every line in
    time order), batches.json (per batch: service, offset, length, lines) and meta.json."""
    shutil.rmtree(gdir, ignore_errors=True)
    os.makedirs(os.path.join(gdir, "lines"))
    rng = random.Random(args.seed)
    n = args.lines
    t_end = (int(time.time()) // 60) * 60 - 60
    t_start = t_end - args.span_hours * 3600
    names = [s for s, _ in SERVICES]
    svc_cum = _cum([(w, i) for i, (s, w) in enumerate(SERVICES)])
    levels = _cum([(85, "INFO"), (10, "WARNING"), (4, "ERROR"), (1, "CRITICAL")])
    tmpl = {"INFO": _cum(_expand(INFO_T)), "WARNING": _cum(_expand(WARNING_T)),
            "ERROR": _cum(_expand(ERROR_T)), "CRITICAL": _cum(_expand(CRITICAL_T))}
    n_templates = sum(len(v) for v in tmpl.values()) + len(ENTITIES)
    err_cum = _cum([(w, e) for e, w in ERROR_TYPES])
    files = [open(os.path.join(gdir, "lines", f"{s}.jsonl"), "wb") for s in names]
    offsets = [0] * len(names)
    pending = [[0, 0] for _ in names]   # batch start offset, lines in batch
    batches = []
    order = bytearray(n)
    bufs = [[] for _ in names]
    truth = {"deadlock": 0, "created": 0, "slow request detected": 0, "level>=ERROR": 0,
             "svc_warn": 0, "user": 0, "duration>1000": 0, "decimal_json": 0, "tracebacks": 0,
             "by_level": {}, "last24h": 0}
    qsvc = args.query_service
    step = (t_end - t_start) * 1000 / n
    total_bytes = 0
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    last_sec, sec_text = -1, ""
    t0 = time.monotonic()
    for i in range(n):
        t_ms = int(t_start * 1000 + i * step + rng.random() * step)
        si = _pick(svc_cum, rng.random())[0]
        svc = names[si]
        if rng.random() < RARE_P:
            level, t, extras = RARE_T
        else:
            level = _pick(levels, rng.random())[0]
            t, extras = _pick(tmpl[level], rng.random())
        err = _pick(err_cum, rng.random())[0] if "error_type" in extras else rng.choice(ERROR_TYPES)[0]
        user = rng.randint(1, USERS)
        ms = int(rng.lognormvariate(4.5, 1.2)) + 1
        if t.startswith("Slow"):
            ms = rng.randint(1000, 9000)
        vals = {"id": rng.randint(100, 999_999), "ep": rng.choice(ENDPOINTS), "ms": ms,
                "secs": f"{ms / 1000:.2f}", "n": rng.randint(2, 500), "k": rng.randint(1, 30),
                "upd": rng.randint(10_000_000, 99_999_999), "user": user, "tenant": f"t{rng.randint(1, 40)}",
                "op": rng.choice(OPERATIONS), "table": rng.choice(TABLES), "st": rng.choice(STATUSES),
                "st2": rng.choice(STATUSES), "amount": f"{rng.randint(1, 2000)}.{rng.randint(0, 99):02d}",
                "err": err}
        if "{" in t and ("{e}" in t or "{E}" in t):
            ent = rng.choice(ENTITIES)
            vals["E"], vals["e"] = ent, ent.lower()
        msg = t.format(**vals)
        sec = t_ms // 1000
        if sec != last_sec:
            last_sec = sec
            sec_text = dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S,")
        rec = {"asctime": sec_text + f"{t_ms % 1000:03d}",
               "name": f"{svc.replace('-', '_')}.{rng.choice(MODULES)}", "levelname": level, "message": msg}
        for x in extras:
            if x == "request_id":
                rec[x] = f"req_{rng.getrandbits(48):012x}"
            elif x == "user_id":
                rec[x] = user
            elif x == "update_id":
                rec[x] = vals["upd"]
            elif x == "operation":
                rec[x] = vals["op"]
            elif x == "duration_ms":
                rec[x] = ms
            elif x == "error_type":
                rec[x] = err
            elif x == "tenant_id":
                rec[x] = vals["tenant"]
            elif x == "endpoint":
                rec[x] = vals["ep"]
        if level == "ERROR" and rng.random() < TRACEBACK_P:
            rec["exc_info"] = traceback_text(rng, err, msg)
            truth["tracebacks"] += 1
        line = (dumps(rec) + "\n").encode()
        # ground truth for the query set
        # (the template decides; checked against rg and SQLite in every run)
        truth["deadlock"] += t is RARE_T[1]
        truth["created"] += t.endswith(" created")
        truth["slow request detected"] += t.startswith("Slow request detected")
        truth["level>=ERROR"] += LEVEL_NO[level] >= 40
        truth["svc_warn"] += svc == qsvc and LEVEL_NO[level] >= 30
        truth["user"] += rec.get("user_id") == QUERY_USER
        truth["duration>1000"] += rec.get("duration_ms", 0) > 1000
        truth["decimal_json"] += t.startswith("Object of type Decimal")
        truth["by_level"][level] = truth["by_level"].get(level, 0) + 1
        truth["last24h"] += t_ms >= (t_end - 86400) * 1000
        order[i] = si
        bufs[si].append(line)
        pb = pending[si]
        pb[1] += 1
        if pb[1] == args.batch:
            data = b"".join(bufs[si])
            files[si].write(data)
            batches.append((si, pb[0], len(data), pb[1]))
            offsets[si] = pb[0] + len(data)
            pending[si] = [offsets[si], 0]
            bufs[si] = []
        total_bytes += len(line)
        if i and i % 1_000_000 == 0:
            log(f"  generated {i:,} lines ({time.monotonic() - t0:.0f} s)")
    for si, pb in enumerate(pending):
        if pb[1]:
            data = b"".join(bufs[si])
            files[si].write(data)
            batches.append((si, pb[0], len(data), pb[1]))
    for f in files:
        f.close()
    with open(os.path.join(gdir, "order.bin"), "wb") as f:
        f.write(order)
    with open(os.path.join(gdir, "batches.json"), "w") as f:
        json.dump(batches, f)
    meta = {"version": GEN_VERSION, "lines": n, "seed": args.seed, "batch": args.batch, "span_hours": args.span_hours,
            "t_start": t_start, "t_end": t_end, "services": names, "bytes": total_bytes,
            "templates": n_templates, "truth": truth, "query_service": qsvc,
            "gen_seconds": time.monotonic() - t0}
    with open(os.path.join(gdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def load_or_generate(args) -> tuple[str, dict]:
    gdir = os.path.join(args.workdir, f"gen-{args.lines}-{args.seed}-{args.batch}")
    mp = os.path.join(gdir, "meta.json")
    if os.path.exists(mp) and not args.regen:
        with open(mp) as f:
            meta = json.load(f)
        if meta.get("version") == GEN_VERSION:
            log(f"reusing {gdir} ({meta['lines']:,} lines, {meta['bytes'] / 2**20:.0f} MiB)")
            return gdir, meta
    log(f"generating {args.lines:,} lines into {gdir}")
    meta = generate(args, gdir)
    log(f"generated {meta['lines']:,} lines, {meta['bytes'] / 2**20:.0f} MiB, "
        f"{meta['bytes'] / meta['lines']:.0f} B/line, {meta['gen_seconds']:.0f} s")
    return gdir, meta


# --------------------------------------------------------------------------------------
# Disk, processes
# --------------------------------------------------------------------------------------

def du(path: str) -> tuple[int, int]:
    """(apparent bytes, allocated bytes) of every file under path."""
    app = alloc = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            app += st.st_size
            alloc += st.st_blocks * 512
    return app, alloc


def disk_free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------------------
# The senders and the sink
# --------------------------------------------------------------------------------------

def sink_main(port: int) -> None:
    """`logs.py sink PORT`: HTTP/1.1 keep-alive, reads each body and answers 200 with the
    same JSON shape as Pharos (`accepted` = lines in the body)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)

    def serve(c: socket.socket) -> None:
        f = c.makefile("rb", buffering=1 << 20)
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                length = 0
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                body = f.read(length)
                out = b'{"accepted": %d, "rejected": []}' % body.count(b"\n")
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(out), out))
        finally:
            c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def send_all(port: int, gdir: str, meta: dict, senders: int, path_tmpl: str) -> dict:
    """Every batch once, in order, from `senders` keep-alive threads. Returns counts and times."""
    with open(os.path.join(gdir, "batches.json")) as f:
        batches = json.load(f)
    names = meta["services"]
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "rejected": 0, "errors": [], "bytes": 0, "lat": []}

    def worker() -> None:
        fds = {}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        try:
            while True:
                with lock:
                    k = state["next"]
                    if k >= len(batches):
                        return
                    state["next"] = k + 1
                si, off, ln, nl = batches[k]
                fd = fds.get(si)
                if fd is None:
                    fd = fds[si] = os.open(os.path.join(gdir, "lines", f"{names[si]}.jsonl"), os.O_RDONLY)
                body = os.pread(fd, ln, off)
                path = path_tmpl.format(service=urllib.parse.quote(names[si]))
                for attempt in range(3):
                    t0 = time.monotonic()
                    try:
                        conn.request("POST", path, body=body, headers={
                            **AUTH, "Content-Type": "application/x-ndjson", "Content-Length": str(len(body))})
                        r = conn.getresponse()
                        resp = r.read()
                        break
                    except (OSError, http.client.HTTPException) as e:
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                        if attempt == 2:
                            with lock:
                                state["errors"].append(f"batch {k}: {e!r}")
                            resp, r = None, None
                        time.sleep(0.5)
                lat = time.monotonic() - t0
                if r is None:
                    continue
                if r.status != 200:
                    with lock:
                        state["errors"].append(f"batch {k}: HTTP {r.status} {resp[:200]!r}")
                    continue
                j = json.loads(resp)
                with lock:
                    state["accepted"] += j.get("accepted", 0)
                    state["rejected"] += len(j.get("rejected") or [])
                    state["bytes"] += ln
                    state["lat"].append(lat)
        finally:
            conn.close()
            for fd in fds.values():
                os.close(fd)

    c0 = self_cpu()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.monotonic()
    return {"t0": t0, "t1": t1, "wall": t1 - t0, "accepted": state["accepted"], "rejected": state["rejected"],
            "errors": state["errors"], "bytes": state["bytes"], "requests": len(state["lat"]),
            "client_cpu": self_cpu() - c0,
            "req_p50_ms": (pct(state["lat"], 50) or 0) * 1000, "req_p99_ms": (pct(state["lat"], 99) or 0) * 1000}


def client_alone(args, gdir: str, meta: dict, bdir: str) -> dict:
    port = free_port()
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "sink", str(port)], cwd=bdir)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        s0 = proc_stat(p.pid)
        r = send_all(port, gdir, meta, args.senders, "/api/v1/logs?service={service}")
        s1 = proc_stat(p.pid)
        r["sink_cpu"] = (s1[0] - s0[0]) / CLK_TCK if s0 and s1 else None
        r["lines_per_s"] = r["accepted"] / r["wall"]
        return r
    finally:
        stop_process(p, 5)


# --------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------

def query_set(meta: dict) -> list[dict]:
    """The fixed query set: Pharos's form, SQLite's SQL (or None), ripgrep's arguments (or None)."""
    svc = meta["query_service"]
    tr = meta["truth"]
    fts = ("SELECT line, count(*) OVER () FROM logs WHERE id IN (SELECT rowid FROM fts WHERE fts MATCH ?) "
           "AND ts BETWEEN :a AND :b ORDER BY ts DESC LIMIT 100")
    page = "SELECT line, count(*) OVER () FROM logs WHERE {w} AND ts BETWEEN :a AND :b ORDER BY ts DESC LIMIT 100"
    dur = r'"duration_ms": (100[1-9]|10[1-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}|[1-9][0-9]{4,})[,}]'
    return [
        {"name": "rare word", "q": "deadlock", "truth": tr["deadlock"],
         "sql": (fts, "deadlock"), "rg": ["-i", "-w", "deadlock"]},
        {"name": "common word", "q": "created", "truth": tr["created"],
         "sql": (fts, "created"), "rg": ["-i", "-w", "created"]},
        {"name": "phrase", "q": '"Slow request detected"', "truth": tr["slow request detected"],
         "sql": (fts, '"slow request detected"'), "rg": ["-i", "-F", "slow request detected"]},
        {"name": "level>=ERROR", "q": "level>=ERROR", "truth": tr["level>=ERROR"],
         "sql": (page.format(w="level >= 40"), None), "rg": ['"levelname": "(ERROR|CRITICAL)"']},
        {"name": f"service={svc} level>=WARNING", "q": f"service={svc} level>=WARNING", "truth": tr["svc_warn"],
         "sql": (page.format(w="service = ? AND level >= 30"), svc),
         "rg": ['"levelname": "(WARNING|ERROR|CRITICAL)"'], "rg_files": [svc]},
        {"name": f"user_id={QUERY_USER}", "q": f"user_id={QUERY_USER}", "truth": tr["user"],
         "sql": (page.format(w="json_extract(line, '$.user_id') = ?"), QUERY_USER),
         "rg": [f'"user_id": {QUERY_USER}[,}}]']},
        {"name": "duration_ms>1000", "q": "duration_ms>1000", "truth": tr["duration>1000"],
         "sql": (page.format(w="json_extract(line, '$.duration_ms') > ?"), 1000), "rg": [dur]},
        {"name": "regex Decimal.*JSON", "q": '|~ "Decimal.*JSON"', "truth": tr["decimal_json"],
         "sql": (page.format(w="line REGEXP ?"), "Decimal.*JSON"), "rg": ["Decimal.*JSON"]},
        {"name": "rare regex Deadlock.*rolled", "q": '|~ "Deadlock.*rolled"', "truth": tr["deadlock"],
         "sql": (page.format(w="line REGEXP ?"), "Deadlock.*rolled"), "rg": ["Deadlock.*rolled"]},
        {"name": "count by error_type (level>=ERROR)", "kind": "counts", "q": "level>=ERROR", "by": "error_type",
         "truth": None,
         "sql": ("SELECT json_extract(line, '$.error_type') AS e, count(*) AS c FROM logs WHERE level >= 40 "
                 "AND ts BETWEEN :a AND :b AND e IS NOT NULL GROUP BY e ORDER BY c DESC LIMIT 20", None),
         "rg": None},
        {"name": "histogram, last 24 h, 60 buckets", "kind": "histogram", "q": "", "truth": tr["last24h"],
         "sql": ("SELECT (ts - :a) / :step AS b, level, count(*) FROM logs WHERE ts BETWEEN :a AND :b "
                 "GROUP BY b, level", None), "rg": None},
    ]


def q_range(meta: dict, q: dict) -> tuple[int, int]:
    if q.get("kind") == "histogram":
        return meta["t_end"] - 86400, meta["t_end"] + 1
    return meta["t_start"] - 1, meta["t_end"] + 1


def pharos_query(port: int, meta: dict, q: dict) -> tuple[float, int | None, str]:
    a, b = q_range(meta, q)
    kind = q.get("kind", "search")
    params = {"q": q["q"], "from": str(a), "to": str(b)}
    if kind == "search":
        path = "/api/v1/logs?" + urllib.parse.urlencode({**params, "limit": "100"})
    elif kind == "counts":
        path = "/api/v1/logs/counts?" + urllib.parse.urlencode({**params, "by": q["by"]})
    else:
        path = "/api/v1/logs/histogram?" + urllib.parse.urlencode({**params, "buckets": "60"})
    t0 = time.monotonic()
    st, body = request(port, "GET", path, headers=AUTH, timeout=300)
    ms = (time.monotonic() - t0) * 1000
    if st != 200:
        return ms, None, f"HTTP {st}: {body[:200]!r}"
    j = json.loads(body)
    if kind == "search":
        tot = j.get("total")
        return ms, tot, f"{len(j.get('entries') or [])} entries, total={tot}"
    if kind == "counts":
        c = j.get("counts") or []
        return ms, sum(x["count"] for x in c), ", ".join(f"{x['value']}={x['count']}" for x in c[:4])
    bs = j.get("buckets") or []
    tot = sum(x.get("total", 0) for x in bs)
    return ms, tot, f"{len(bs)} buckets, {tot} entries"


def sqlite_query(conn: sqlite3.Connection, meta: dict, q: dict) -> tuple[float, int | None, str]:
    a, b = q_range(meta, q)
    sql, arg = q["sql"]
    params: dict | tuple
    kind = q.get("kind", "search")
    named = {"a": a * 1000, "b": b * 1000, "step": (b - a) * 1000 // 60 + 1}
    if arg is not None:
        # the one positional argument, then the named ones
        sql = sql.replace("?", ":x", 1)
        named["x"] = arg
    t0 = time.monotonic()
    rows = conn.execute(sql, named).fetchall()
    ms = (time.monotonic() - t0) * 1000
    if kind == "search":
        tot = rows[0][1] if rows else 0
        return ms, tot, f"{len(rows)} rows, total={tot}"
    if kind == "counts":
        return ms, sum(r[1] for r in rows), ", ".join(f"{r[0]}={r[1]}" for r in rows[:4])
    tot = sum(r[2] for r in rows)
    return ms, tot, f"{len({r[0] for r in rows})} buckets, {tot} entries"


def rg_query(rg: str, gdir: str, meta: dict, q: dict) -> tuple[float, int | None, str]:
    files = [os.path.join(gdir, "lines", f"{s}.jsonl") for s in q.get("rg_files", meta["services"])]
    t0 = time.monotonic()
    p = subprocess.run([rg, "-c", "--no-filename", *q["rg"], *files], capture_output=True)
    ms = (time.monotonic() - t0) * 1000
    if p.returncode not in (0, 1):
        return ms, None, f"rg exit {p.returncode}: {p.stderr[:200]!r}"
    tot = sum(int(x) for x in p.stdout.split())
    return ms, tot, f"{tot} lines"


def run_rounds(name: str, qs: list[dict], fn, rounds: int, budget: float, min_runs: int = 3,
               holder: dict | None = None, dump=None) -> list[dict]:
    """One untimed round (answers kept), then `rounds` interleaved timed rounds; a query is
    dropped from further rounds once its timed runs add up to `budget` s (min `min_runs` runs)."""
    out = [{"name": q["name"], "times": [], "hits": None, "answer": "", "error": None} for q in qs]

    def save() -> None:
        # partial results (a run stopped midway still has them)
        for o in out:
            o["n"] = len(o["times"])
            o["p50"] = pct(o["times"], 50) if o["times"] else o.get("first_ms")
            o["p99"] = pct(o["times"], 99) if o["times"] else o.get("first_ms")
        if holder is not None:
            holder["queries"] = out
        if dump:
            dump()
    for i, q in enumerate(qs):
        try:
            ms, hits, ans = fn(q)
            out[i].update(first_ms=ms, hits=hits, answer=ans)
            log(f"  {name}: {q['name']}: {ms:.0f} ms (first), {ans}")
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            out[i]["error"] = repr(e)
            log(f"  {name}: {q['name']}: ERROR {e!r}")
        save()
    for r in range(rounds):
        for i, q in enumerate(qs):
            o = out[i]
            if o["error"] or (len(o["times"]) >= min_runs and sum(o["times"]) / 1000 > budget):
                continue
            try:
                ms, _, _ = fn(q)
                o["times"].append(ms)
            except Exception as e:  # noqa: BLE001
                o["error"] = repr(e)
        save()
    for o in out:
        o["n"] = len(o["times"])
        o["p50"] = pct(o["times"], 50)
        o["p99"] = pct(o["times"], 99)
    return out


# --------------------------------------------------------------------------------------
# Pharos
# --------------------------------------------------------------------------------------

def run_pharos(args, gdir: str, meta: dict, bdir: str, qs: list[dict]) -> dict:
    d = os.path.join(bdir, "pharos")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    data = os.path.join(d, "data")
    cfg = os.path.join(d, "pharos.yaml")
    with open(cfg, "w") as f:
        f.write("metrics:\n  self_scrape_interval: 0s\n  host_metrics_interval: 0s\n")
    port = free_port()
    res: dict = {"load_at_start": loadavg()}
    logf = open(os.path.join(d, "log.txt"), "wb")
    proc = subprocess.Popen([args.pharos_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
                             "--config", cfg], stdout=logf, stderr=subprocess.STDOUT,
                            env={**os.environ, "PHAROS_ADMIN_TOKEN": ADMIN_TOKEN, "PHAROS_LOG": "warn"}, cwd=d)
    sampler = Sampler(proc.pid, 0.5)
    try:
        res["time_to_live_s"] = wait_ready(port, "/health/live", AUTH, proc)
        get_json(port, "/api/v1/logs/stats", AUTH)
        sampler.start()
        time.sleep(1)
        c0 = proc_stat(proc.pid)[0]
        log(f"Pharos: ingest {meta['lines']:,} lines, {args.senders} senders (load {loadavg()})")
        r = send_all(port, gdir, meta, args.senders, "/api/v1/logs?service={service}")
        c1 = proc_stat(proc.pid)[0]
        res["ingest"] = r
        res["lines_per_s"] = r["accepted"] / r["wall"]
        res["cpu_s_ingest"] = (c1 - c0) / CLK_TCK
        res["cpu_s_per_mline_ingest"] = res["cpu_s_ingest"] / max(r["accepted"], 1) * 1e6
        res["cores_ingest"] = res["cpu_s_ingest"] / r["wall"]
        win = sampler.window(r["t0"], r["t1"])
        res["rss_max_ingest"] = max((x[2] for x in win), default=None)
        log(f"  acknowledged {r['accepted']:,} in {r['wall']:.1f} s = {res['lines_per_s']:,.0f} lines/s, "
            f"Pharos {res['cores_ingest']:.2f} cores, client {r['client_cpu'] / r['wall']:.2f} cores, "
            f"rejected {r['rejected']}, errors {len(r['errors'])}")
        # until every entry is searchable
        t_idx0 = time.monotonic()
        st = {}
        while time.monotonic() - t_idx0 < args.index_timeout:
            st = get_json(port, "/api/v1/logs/stats", AUTH)
            if st.get("indexing_lag_entries", 1) == 0 and st.get("entries", 0) >= r["accepted"]:
                break
            time.sleep(0.5)
        t_idx1 = time.monotonic()
        c2 = proc_stat(proc.pid)[0]
        res["index_wait_s"] = t_idx1 - t_idx0
        res["searchable_after_s"] = t_idx1 - r["t0"]
        res["lines_per_s_searchable"] = r["accepted"] / (t_idx1 - r["t0"])
        res["cpu_s_total"] = (c2 - c0) / CLK_TCK
        res["cpu_s_per_mline"] = res["cpu_s_total"] / max(r["accepted"], 1) * 1e6
        res["stats_at_indexed"] = {k: v for k, v in st.items() if k != "partitions"}
        res["partitions"] = st.get("partitions")
        log(f"  searchable after {res['index_wait_s']:.1f} s more; entries {st.get('entries')}, "
            f"lag {st.get('indexing_lag_entries')}; CPU {res['cpu_s_per_mline']:.1f} s per million lines")
        time.sleep(args.settle)
        st = get_json(port, "/api/v1/logs/stats", AUTH)
        res["stats"] = {k: v for k, v in st.items() if k != "partitions"}
        app, alloc = du(os.path.join(data, "logs"))
        res["disk_logs_apparent"], res["disk_logs_alloc"] = app, alloc
        res["disk_data_alloc"] = du(data)[1]
        n = max(r["accepted"], 1)
        res["bytes_per_line_disk"] = alloc / n
        res["bytes_per_line_stats"] = st.get("bytes_total", 0) / n
        now = time.monotonic()
        res["rss_settled"] = med([x[2] for x in sampler.window(now - args.settle, now)])
        log(f"  disk: data/logs {alloc / 2**20:.0f} MiB = {res['bytes_per_line_disk']:.1f} B/line "
            f"(stats.bytes_total {res['bytes_per_line_stats']:.1f} B/line); RSS {fmt(res['rss_settled'] / 2**20, '.0f')} MiB")
        log(f"Pharos: queries (load {loadavg()})")
        res["load_at_queries"] = loadavg()
        q0 = proc_stat(proc.pid)[0]
        res["queries"] = run_rounds("pharos", qs, lambda q: pharos_query(port, meta, q), args.rounds, args.query_budget, args.min_runs)
        res["cpu_s_queries"] = (proc_stat(proc.pid)[0] - q0) / CLK_TCK
        res["rss_max_queries"] = max((x[2] for x in sampler.window(now, time.monotonic())), default=None)
        res["rss_max"] = max((x[2] for x in sampler.samples), default=None)
    finally:
        sampler.stop()
        res["shutdown_s"] = stop_process(proc, 60)
        logf.close()
        with open(os.path.join(d, "log.txt"), errors="replace") as f:
            lines = f.read().splitlines()
        res["log_warn_error"] = [x for x in lines if '"WARN' in x or '"ERROR' in x or " WARN " in x
                                 or " ERROR " in x][:20]
        res["log_lines"] = len(lines)
        if not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------
# SQLite FTS5
# --------------------------------------------------------------------------------------

SQLITE_SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE logs(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, service TEXT NOT NULL,
                  level INTEGER NOT NULL, line TEXT NOT NULL);
CREATE INDEX logs_ts ON logs(ts);
CREATE INDEX logs_level_ts ON logs(level, ts);
CREATE INDEX logs_service_level_ts ON logs(service, level, ts);
CREATE VIRTUAL TABLE fts USING fts5(message, content='');
"""


def sqlite_load_main(gdir: str, db: str, txn: int) -> None:
    """`logs.py sqlite-load GDIR DB TXN` (a subprocess, so its CPU is its own): every line in
    time order, parsed with json.loads, inserted `txn` lines per transaction. Prints JSON."""
    with open(os.path.join(gdir, "meta.json")) as f:
        meta = json.load(f)
    with open(os.path.join(gdir, "order.bin"), "rb") as f:
        order = f.read()
    names = meta["services"]
    files = [open(os.path.join(gdir, "lines", f"{s}.jsonl"), "rb") for s in names]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(SQLITE_SCHEMA)
    t_parse = t_db = 0.0
    n = 0
    loads = json.loads
    for start in range(0, len(order), txn):
        t0 = time.monotonic()
        rows, fts = [], []
        for k in range(start, min(start + txn, len(order))):
            si = order[k]
            raw = files[si].readline().decode()
            rec = loads(raw)
            ts = rec["asctime"]
            t_ms = int(dt.datetime(int(ts[0:4]), int(ts[5:7]), int(ts[8:10]), int(ts[11:13]), int(ts[14:16]),
                                   int(ts[17:19]), tzinfo=dt.timezone.utc).timestamp()) * 1000 + int(ts[20:23])
            rows.append((k + 1, t_ms, names[si], LEVEL_NO[rec["levelname"]], raw.rstrip("\n")))
            fts.append((k + 1, rec["message"]))
        t1 = time.monotonic()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO fts(rowid, message) VALUES (?, ?)", fts)
        conn.execute("COMMIT")
        t2 = time.monotonic()
        t_parse += t1 - t0
        t_db += t2 - t1
        n += len(rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(json.dumps({"lines": n, "t_parse": t_parse, "t_db": t_db}))


def run_sqlite(args, gdir: str, meta: dict, bdir: str, qs: list[dict], res: dict, dump) -> dict:
    d = os.path.join(bdir, "sqlite")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    db = os.path.join(d, "logs.db")
    res.update({"load_at_start": loadavg(), "sqlite_version": sqlite3.sqlite_version})
    log(f"SQLite FTS5: insert {meta['lines']:,} lines, {args.sqlite_txn} per transaction (load {loadavg()})")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "sqlite-load", gdir, db, str(args.sqlite_txn)],
                         stdout=subprocess.PIPE)
    sampler = Sampler(p.pid, 0.5)
    sampler.start()
    out, _ = p.communicate()
    wall = time.monotonic() - t0
    sampler.stop()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out)
    res.update(r)
    res["wall"] = wall
    res["lines_per_s"] = r["lines"] / wall
    res["lines_per_s_db_only"] = r["lines"] / r["t_db"]
    res["cpu_s"] = (ru.ru_utime + ru.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    res["cpu_s_per_mline"] = res["cpu_s"] / r["lines"] * 1e6
    res["rss_max"] = max((x[2] for x in sampler.samples), default=None)
    app, alloc = du(d)
    res["disk_alloc"] = alloc
    res["bytes_per_line_disk"] = alloc / r["lines"]
    log(f"  {r['lines']:,} lines in {wall:.1f} s = {res['lines_per_s']:,.0f} lines/s "
        f"(insert+commit only: {res['lines_per_s_db_only']:,.0f}/s; json.loads+prep {r['t_parse']:.1f} s); "
        f"{alloc / 2**20:.0f} MiB = {res['bytes_per_line_disk']:.1f} B/line")
    dump()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA query_only=1")
    rx_cache: dict = {}

    def regexp(pattern, value):
        r_ = rx_cache.get(pattern) or rx_cache.setdefault(pattern, re.compile(pattern))
        return value is not None and r_.search(value) is not None
    conn.create_function("REGEXP", 2, regexp, deterministic=True)
    log(f"SQLite FTS5: queries (load {loadavg()})")
    res["load_at_queries"] = loadavg()
    sq = [q for q in qs if q.get("sql")]
    res["queries"] = run_rounds("sqlite", sq, lambda q: sqlite_query(conn, meta, q), args.rounds, args.query_budget,
                                args.min_runs, res, dump)
    conn.close()
    if not args.keep_data:
        shutil.rmtree(d, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------
# ripgrep
# --------------------------------------------------------------------------------------

def run_rg(args, gdir: str, meta: dict, qs: list[dict]) -> dict:
    rg = shutil.which(args.rg_bin) or args.rg_bin
    v = subprocess.run([rg, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    app, alloc = du(os.path.join(gdir, "lines"))
    res = {"version": v, "load_at_queries": loadavg(), "disk_alloc": alloc, "bytes_per_line_disk": alloc / meta["lines"]}
    log(f"ripgrep ({v}): queries over {alloc / 2**20:.0f} MiB of JSONL (load {loadavg()})")
    # one read of every file first, so that every peer's queries run from the page cache
    subprocess.run([rg, "-c", "zzzzqqqq", os.path.join(gdir, "lines")], capture_output=True)
    rq = [q for q in qs if q.get("rg")]
    res["queries"] = run_rounds("rg", rq, lambda q: rg_query(rg, gdir, meta, q), args.rounds, args.query_budget, args.min_runs)
    return res


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def ms(x) -> str:
    if x is None:
        return "–"
    return f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def rat(a, b) -> str:
    if a is None or b is None or b == 0:
        return "–"
    v = a / b
    return f"{v:.2g}×" if v < 10 else f"{v:.0f}×"


def report(res: dict) -> str:
    meta, ph, sq, rg, cl = res["meta"], res.get("pharos"), res.get("sqlite"), res.get("rg"), res.get("client")
    n = meta["lines"]
    out = [f"## Logs: {n:,} lines, {len(meta['services'])} services, {meta['span_hours']} h, "
           f"{meta['bytes'] / n:.0f} B/line of JSON ({meta['bytes'] / 2**20:.0f} MiB)", ""]
    out.append(f"Load average at start {res['load_at_start']}; senders {res['args']['senders']} × "
               f"{meta['batch']} lines per request; query rounds {res['args']['rounds']} (budget "
               f"{res['args']['query_budget']:.0f} s per query and peer, at least {res['args'].get('min_runs', 3)} runs).")
    out.append("")
    out += ["### Ingest", "", "| | Pharos | SQLite FTS5 | ratio Pharos / SQLite |", "| --- | --- | --- | --- |"]

    def row(label, a, b, f=".0f", hib=True):
        out.append(f"| {label} | {fmt(a, f)} | {fmt(b, f)} | {rat(a, b)} |")
    g = lambda d, k: None if d is None else d.get(k)  # noqa: E731
    row("lines/s (acknowledged; SQLite: committed, incl. its json.loads)", g(ph, "lines_per_s"), g(sq, "lines_per_s"))
    row("lines/s until searchable (Pharos: index committed)", g(ph, "lines_per_s_searchable"), g(sq, "lines_per_s"))
    row("CPU s per million lines (Pharos: until searchable; SQLite: loader process)", g(ph, "cpu_s_per_mline"),
        g(sq, "cpu_s_per_mline"), ".1f")
    row("CPU s per million lines, Pharos during the acknowledged part only", g(ph, "cpu_s_per_mline_ingest"), None, ".1f")
    row("Pharos cores during ingest", g(ph, "cores_ingest"), None, ".2f")
    row("RSS max, MiB", (g(ph, "rss_max") or 0) / 2**20 if ph else None, (g(sq, "rss_max") or 0) / 2**20 if sq else None)
    row("RSS after settling, MiB", (g(ph, "rss_settled") or 0) / 2**20 if ph else None, None)
    row("bytes per line on disk (allocated; JSONL itself: " + f"{meta['bytes'] / n:.0f})",
        g(ph, "bytes_per_line_disk"), g(sq, "bytes_per_line_disk"), ".1f")
    row("bytes per line, Pharos stats.bytes_total", g(ph, "bytes_per_line_stats"), None, ".1f")
    if cl:
        out.append("")
        out.append(f"Client alone (same senders against a sink that drops the bodies): "
                   f"{cl['lines_per_s']:,.0f} lines/s, client {cl['client_cpu'] / cl['wall']:.2f} cores. "
                   f"During the Pharos run the client used {ph['ingest']['client_cpu'] / ph['ingest']['wall']:.2f} cores"
                   if ph else "")
    if ph:
        i = ph["ingest"]
        out.append("")
        out.append(f"Pharos: {i['accepted']:,} acknowledged of {n:,}, rejected {i['rejected']}, request errors "
                   f"{len(i['errors'])}; {i['requests']} requests, p50 {i['req_p50_ms']:.0f} ms, p99 "
                   f"{i['req_p99_ms']:.0f} ms; searchable {ph['index_wait_s']:.1f} s after the last "
                   f"acknowledgement; stats: entries {ph['stats'].get('entries')}, lag "
                   f"{ph['stats'].get('indexing_lag_entries')}, bytes_total {ph['stats'].get('bytes_total')}, "
                   f"wal_bytes {ph['stats'].get('wal_bytes')}.")
    out += ["", "### Searches over the whole range (histogram: the last 24 h)", "",
            "| query | hits (truth) | Pharos p50 / p99 | SQLite p50 / p99 | rg p50 / p99 | Pharos / SQLite (p50) | Pharos / rg (p50) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    by = lambda d, name: next((x for x in (d or {}).get("queries", []) if x["name"] == name), None)  # noqa: E731
    for q in query_set(meta):
        a, b, c = by(ph, q["name"]), by(sq, q["name"]), by(rg, q["name"])

        def cell(x):
            if x is None:
                return "n/a"
            if x.get("error"):
                return "error"
            n_ = x.get("n", 0)
            note = "" if n_ >= res["args"]["rounds"] else (f" (n={n_})" if n_ else " (first run only)")
            return f"{ms(x['p50'])} / {ms(x['p99'])}{note}"

        hits = []
        for label, x in (("P", a), ("S", b), ("rg", c)):
            if x is not None and x.get("hits") is not None:
                hits.append(f"{label} {x['hits']:,}")
        truth = q.get("truth")
        qtext = (q["q"] or "(all)").replace("|", "\\|")
        out.append(f"| `{qtext}`{' by ' + q['by'] if q.get('by') else ''} — {q['name']} | "
                   f"{', '.join(hits)}{f' ({truth:,})' if truth is not None else ''} | {cell(a)} | {cell(b)} | {cell(c)} | "
                   f"{rat(g(a, 'p50'), g(b, 'p50'))} | {rat(g(a, 'p50'), g(c, 'p50'))} |")
    out.append("")
    out.append("Ratios below 1: Pharos faster. Hits: P = Pharos's `total` (searches: exact queries only; "
               "counts: sum of the top values; histogram: sum of buckets), S = SQLite's count, rg = matching "
               "lines; in parentheses the generator's own count.")
    if ph:
        errs = [(x["name"], x["error"]) for x in ph["queries"] if x.get("error")]
        if errs:
            out.append("")
            out.append("Pharos query errors: " + "; ".join(f"{k}: {v}" for k, v in errs))
        out.append("")
        out.append("Pharos answers (first round): " + "; ".join(f"{x['name']}: {x['answer']}" for x in ph["queries"]))
        if ph.get("log_warn_error"):
            out.append("")
            out.append("Pharos warn/error log lines (first 20): " + " / ".join(ph["log_warn_error"]))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        sink_main(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        # `logs.py report RUN.json`: the Markdown summary again (also of a partial run)
        with open(sys.argv[2]) as f:
            print(report(json.load(f)))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "sqlite-load":
        sqlite_load_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--span-hours", type=int, default=48)
    ap.add_argument("--batch", type=int, default=2000, help="lines per POST (and per generated batch)")
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--query-budget", type=float, default=60.0)
    ap.add_argument("--min-runs", type=int, default=3, help="timed runs of a query at least, whatever the budget")
    ap.add_argument("--query-service", default="payments")
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--index-timeout", type=float, default=1800.0)
    ap.add_argument("--sqlite-txn", type=int, default=10_000)
    ap.add_argument("--peers", default="pharos,sqlite,rg")
    ap.add_argument("--no-client-check", action="store_true")
    ap.add_argument("--workdir", default="/tmp/lbench")
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--json-out")
    ap.add_argument("--md-out")
    ap.add_argument("--pharos-bin", default=os.environ.get("PHAROS_BIN", "target/release/pharos"))
    ap.add_argument("--rg-bin", default=os.environ.get("RG_BIN", "rg"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_at_start": loadavg(),
                 "args": vars(args)}
    gdir, meta = load_or_generate(args)
    res["meta"] = meta
    qs = query_set(meta)
    bdir = os.path.join(args.workdir, "run")
    os.makedirs(bdir, exist_ok=True)
    peers = args.peers.split(",")

    def dump() -> None:
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(res, f, indent=1, default=str)
    if not args.no_client_check:
        log(f"client alone: {args.senders} senders against a sink (load {loadavg()})")
        res["client"] = client_alone(args, gdir, meta, bdir)
        log(f"  {res['client']['lines_per_s']:,.0f} lines/s, client {res['client']['client_cpu']:.1f} CPU s "
            f"in {res['client']['wall']:.1f} s")
    for peer in peers:
        if peer == "pharos":
            free = disk_free(args.workdir)
            if free < meta["bytes"] * 1.2:
                log(f"WARNING: {free / 2**30:.1f} GiB free on {args.workdir}; Pharos may run out of disk")
            res["pharos"] = run_pharos(args, gdir, meta, bdir, qs)
        elif peer == "sqlite":
            free = disk_free(args.workdir)
            if free < meta["bytes"] * 1.8:
                log(f"SQLite skipped: {free / 2**30:.1f} GiB free, it needs about {meta['bytes'] * 1.8 / 2**30:.1f}")
                res["sqlite_skipped"] = f"{free / 2**30:.1f} GiB free"
            else:
                res["sqlite"] = {}
                run_sqlite(args, gdir, meta, bdir, qs, res["sqlite"], dump)
        elif peer == "rg":
            res["rg"] = run_rg(args, gdir, meta, qs)
        dump()
    md = report(res)
    print(md)
    dump()
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
