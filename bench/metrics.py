#!/usr/bin/env python3
"""Pharos metrics benchmark: the same generated workload into Pharos, Prometheus and
VictoriaMetrics, one after the other (never two at once: 2 cores), in one invocation.

The workload (`gen`): --targets exposition targets (services `api`, `web`, `worker`,
`billing`, `search`), each ~500 series of realistic families: http_requests_total{method,
code,handler}, http_request_duration_seconds histograms (10 buckets + +Inf, _sum, _count),
http_response_size_bytes histograms, a db_query_duration_seconds summary, cache hit/miss
counters, queue-depth gauges, process_* and python_gc_* / python_info — with churn: every
--churn-every minutes of sample time, --churn-share of the targets restart under a new
`pod` label (new series; counters from 0). Sample timestamps are synthetic, one scrape
every --interval seconds per target with a per-target phase and a few ms of jitter,
covering --span minutes ending at generation time (default 3 h 20 min, so that Pharos and
Prometheus both cut their first 2 h block from the head).

It is written once as remote_write 1.0 requests (snappy block format protobuf
WriteRequests, one sample per TimeSeries as a Prometheus sender does, --batch samples per
request, series split into --connections shards by target so each series' samples stay in
order on one connection) into a work dir, then replayed (`push`) as fast as the receiver
answers, over --connections keep-alive connections, to each peer's /api/v1/write:

  1. Pharos `serve` (fresh data dir, self-scrape off),
  2. Prometheus (`--web.enable-remote-write-receiver`, no scrape jobs),
  3. VictoriaMetrics single node (`victoria-metrics`).

Per peer: samples/s (accepted samples / wall time of the replay; checked against the
peer's own appended counter), CPU, RSS during the push and after settling, RSS per active
series, bytes on disk per sample (all of the data dir; and blocks/parts only), and the
p50/p99 latency of a fixed set of PromQL queries (instant at the last sample's time and
range queries over the whole span), with the results' shape compared across peers.

--repeat N runs the three peers N times on the same payload and prints medians and
Pharos/peer ratios. Everything on 127.0.0.1; each phase stops by itself.

Usage (numpy and cramjam in a venv):
  python3 -m venv /tmp/mbench-venv && /tmp/mbench-venv/bin/pip install numpy cramjam
  /tmp/mbench-venv/bin/python bench/metrics.py --targets 200 --repeat 3 --md-out /tmp/m.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import mmap
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    import cramjam
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("metrics.py needs numpy and cramjam: python3 -m venv /tmp/mbench-venv && "
             "/tmp/mbench-venv/bin/pip install numpy cramjam")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, PAGE_SIZE, SAMPLE_HEAD, Sampler, encode_labels, free_port, log, med,  # noqa: E402
                      metric_sum, parse_metrics, pb_bytes, pct, proc_stat, request, varint, wait_ready)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ADMIN_TOKEN = "benchadmintoken0123456789"


# --------------------------------------------------------------------------------------
# The workload: series per target and a vectorised value model
# --------------------------------------------------------------------------------------

SERVICES = ["api", "web", "worker", "billing", "search"]
HANDLERS = ["/", "/login", "/logout", "/api/v1/orders", "/api/v1/orders/{id}", "/api/v1/users",
            "/api/v1/users/{id}", "/api/v1/search", "/api/v1/cart", "/api/v1/checkout",
            "/static/{path}", "/health"]
# (method, code) combinations each handler answers with, and their share of its traffic.
CODES = [("GET", "200", 0.80), ("GET", "304", 0.06), ("GET", "404", 0.03), ("GET", "500", 0.004),
         ("POST", "200", 0.07), ("POST", "201", 0.02), ("POST", "400", 0.01), ("POST", "500", 0.002)]
DUR_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf"]
SIZE_LE = ["100.0", "1000.0", "10000.0", "100000.0", "1e+06", "1e+07", "+Inf"]
QUERIES_DB = ["select_order", "select_user", "insert_order", "update_cart", "select_items",
              "update_stock", "insert_audit", "select_price", "delete_session", "select_search"]
QUANTILES = ["0.5", "0.9", "0.99"]
CACHES = ["sessions", "users", "products", "prices", "search", "templates", "tokens", "carts"]
QUEUES = ["emails", "webhooks", "exports", "thumbnails", "invoices", "reindex", "audit", "sync",
          "notifications", "cleanup"]

# kinds of series (how the value evolves)
K_COUNTER, K_CPU, K_MEM, K_SMALL, K_CONST, K_BUCKET, K_HSUM, K_QUANT, K_GAUGEF = range(9)


class Series:
    __slots__ = ("name", "labels", "kind", "rate", "hist", "cdf", "base")

    def __init__(self, name, labels, kind, rate=0.0, hist=-1, cdf=1.0, base=0.0):
        self.name, self.labels, self.kind = name, labels, kind
        self.rate, self.hist, self.cdf, self.base = rate, hist, cdf, base


def target_series(t: int, rng) -> list[Series]:
    """The ~500 series of target t (without job/instance/pod; those are added per epoch).
    `rng` is a numpy Generator seeded per target, so every run builds the same workload."""
    out: list[Series] = []
    hist_n = [0]

    def hist(name, extra, les, rate, mean_s, scale):
        h = hist_n[0]
        hist_n[0] += 1
        # bucket shares: a log-normal-ish latency distribution around mean_s
        edges = np.array([float(x) if x != "+Inf" else np.inf for x in les])
        cdf = 1 / (1 + (edges / (mean_s * scale)) ** -2.0)
        cdf[-1] = 1.0
        for le, c in zip(les, cdf):
            out.append(Series(name + "_bucket", {**extra, "le": le}, K_BUCKET, rate, h, float(c)))
        out.append(Series(name + "_sum", dict(extra), K_HSUM, rate, h, 1.0, mean_s))
        out.append(Series(name + "_count", dict(extra), K_BUCKET, rate, h, 1.0))

    load = float(rng.uniform(0.3, 3.0))
    for hi, handler in enumerate(HANDLERS):
        hload = load * float(rng.uniform(0.05, 2.0))
        for method, code, share in CODES:
            if method == "POST" and hi in (0, 10, 11):
                continue
            if code in ("304",) and not handler.startswith(("/static", "/")):
                continue
            out.append(Series("http_requests_total", {"code": code, "handler": handler, "method": method},
                              K_COUNTER, hload * share * 20))
        for method in ("GET", "POST") if hi not in (0, 10, 11) else ("GET",):
            hist("http_request_duration_seconds", {"handler": handler, "method": method}, DUR_LE,
                 hload * 10, float(rng.uniform(0.01, 0.3)), 1.0)
        hist("http_response_size_bytes", {"handler": handler}, SIZE_LE, hload * 10,
             float(rng.uniform(500, 50000)), 1.0)
    for q in QUERIES_DB:
        base = float(rng.uniform(0.0005, 0.02))
        for qt, mult in zip(QUANTILES, (1.0, 2.5, 6.0)):
            out.append(Series("db_query_duration_seconds", {"query": q, "quantile": qt}, K_QUANT, 0, -1, 1.0, base * mult))
        out.append(Series("db_query_duration_seconds_sum", {"query": q}, K_HSUM, load * 5, -2, 1.0, base))
        out.append(Series("db_query_duration_seconds_count", {"query": q}, K_COUNTER, load * 5))
    for c in CACHES:
        out.append(Series("cache_hits_total", {"cache": c}, K_COUNTER, load * 30))
        out.append(Series("cache_misses_total", {"cache": c}, K_COUNTER, load * 3))
        out.append(Series("cache_entries", {"cache": c}, K_SMALL, 0, -1, 1.0, float(rng.integers(100, 5000))))
    for q in QUEUES:
        out.append(Series("app_queue_depth", {"queue": q}, K_SMALL, 0, -1, 1.0, float(rng.integers(0, 50))))
        out.append(Series("app_jobs_processed_total", {"queue": q, "status": "ok"}, K_COUNTER, load * 2))
        out.append(Series("app_jobs_processed_total", {"queue": q, "status": "failed"}, K_COUNTER, load * 0.02))
        out.append(Series("app_job_last_success_timestamp_seconds", {"queue": q}, K_GAUGEF, 0))
    out.append(Series("process_cpu_seconds_total", {}, K_CPU, load * 0.2))
    out.append(Series("process_resident_memory_bytes", {}, K_MEM, 0, -1, 1.0, float(rng.integers(60, 400)) * 2**20))
    out.append(Series("process_virtual_memory_bytes", {}, K_MEM, 0, -1, 1.0, float(rng.integers(600, 2000)) * 2**20))
    out.append(Series("process_open_fds", {}, K_SMALL, 0, -1, 1.0, float(rng.integers(20, 200))))
    out.append(Series("process_max_fds", {}, K_CONST, 0, -1, 1.0, 1048576.0))
    out.append(Series("process_start_time_seconds", {}, K_CONST, 0, -1, 1.0, 0.0))  # set per epoch
    for g in ("0", "1", "2"):
        out.append(Series("python_gc_objects_collected_total", {"generation": g}, K_COUNTER, load * 50 / (int(g) * 10 + 1)))
        out.append(Series("python_gc_objects_uncollectable_total", {"generation": g}, K_CONST, 0, -1, 1.0, 0.0))
        out.append(Series("python_gc_collections_total", {"generation": g}, K_COUNTER, load * 2 / (int(g) * 10 + 1)))
    out.append(Series("python_info", {"implementation": "CPython", "major": "3", "minor": "11",
                                      "patchlevel": "7", "version": "3.11.7"}, K_CONST, 0, -1, 1.0, 1.0))
    return out


class Workload:
    """All series of all targets and their values, advanced one scrape at a time."""

    def __init__(self, targets: int, interval: float, churn_share: float, churn_every_steps: int,
                 seed: int = 7):
        self.targets, self.interval = targets, interval
        self.churn_share, self.churn_every = churn_share, churn_every_steps
        self.rng = np.random.default_rng(seed)
        self.per_target: list[list[Series]] = []
        for t in range(targets):
            self.per_target.append(target_series(t, np.random.default_rng(seed * 100003 + t)))
        self.job = [SERVICES[t % len(SERVICES)] for t in range(targets)]
        self.instance = [f"{self.job[t]}-{t:03d}.app.internal:8000" for t in range(targets)]
        self.pod_gen = [0] * targets
        flat = [s for ss in self.per_target for s in ss]
        self.target_of = np.concatenate([np.full(len(ss), t) for t, ss in enumerate(self.per_target)])
        self.offsets = np.cumsum([0] + [len(ss) for ss in self.per_target])
        self.n = len(flat)
        self.kind = np.array([s.kind for s in flat], dtype=np.int8)
        self.rate = np.array([s.rate for s in flat]) * interval / 15.0
        self.cdf = np.array([s.cdf for s in flat])
        self.base = np.array([s.base for s in flat])
        # one histogram id per (target, local histogram) for bucket/count/sum consistency
        hid, k = [], 0
        for ss in self.per_target:
            local = {}
            for s in ss:
                if s.hist >= 0:
                    if s.hist not in local:
                        local[s.hist] = k
                        k += 1
                    hid.append(local[s.hist])
                else:
                    hid.append(-1)
        self.hist_id = np.array(hid)
        self.n_hist = k
        self.hist_rate = np.zeros(k)
        m = self.hist_id >= 0
        self.hist_rate[self.hist_id[m]] = self.rate[m]
        self.value = np.where(np.isin(self.kind, (K_COUNTER, K_CPU, K_BUCKET, K_HSUM)), 0.0, self.base)
        self.step = 0
        self.start_time = 0.0

    def labels(self, t: int) -> list[dict]:
        """Full label sets of target t's series in its current epoch (sorted; name first)."""
        pod = f"{self.job[t]}-{(t * 2654435761 + self.pod_gen[t] * 40503) % 16**6:06x}-{self.pod_gen[t]:x}"
        out = []
        for s in self.per_target[t]:
            d = {**s.labels, "instance": self.instance[t], "job": self.job[t], "pod": pod}
            out.append({"__name__": s.name, **dict(sorted(d.items()))})
        return out

    def churn(self, ts_s: float) -> list[int]:
        """Restarts churn_share of the targets (a new pod label, counters from 0)."""
        k = max(1, round(self.targets * self.churn_share)) if self.churn_share > 0 else 0
        chosen = sorted(self.rng.choice(self.targets, size=k, replace=False).tolist()) if k else []
        for t in chosen:
            self.pod_gen[t] += 1
            a, b = self.offsets[t], self.offsets[t + 1]
            sl = slice(a, b)
            resets = np.isin(self.kind[sl], (K_COUNTER, K_CPU, K_BUCKET, K_HSUM))
            self.value[sl][resets] = 0.0
            self.start_set(t, ts_s)
        return chosen

    def start_set(self, t: int, ts_s: float) -> None:
        a = self.offsets[t]
        for i, s in enumerate(self.per_target[t]):
            if s.name == "process_start_time_seconds":
                self.value[a + i] = round(ts_s - float(self.rng.uniform(10, 300)), 2)

    def advance(self, ts_s: float) -> None:
        """Values at the next scrape (ts_s: wall time of it, for timestamp gauges)."""
        r = self.rng
        k, v = self.kind, self.value
        n = self.n
        m = k == K_COUNTER
        v[m] += r.poisson(self.rate[m])
        m = k == K_CPU
        v[m] = np.round(v[m] + r.poisson(self.rate[m] * 100) / 100.0, 2)
        m = k == K_MEM
        v[m] = np.maximum(v[m] + 4096.0 * r.integers(-64, 65, m.sum()), 2**24)
        m = k == K_SMALL
        v[m] = np.maximum(v[m] + r.integers(-3, 4, m.sum()), 0)
        hn = r.poisson(self.hist_rate)
        hmean = r.lognormal(0.0, 0.25, self.n_hist)
        m = k == K_BUCKET
        v[m] += np.floor(hn[self.hist_id[m]] * self.cdf[m])
        m = (k == K_HSUM) & (self.hist_id >= 0)
        v[m] += hn[self.hist_id[m]] * self.base[m] * hmean[self.hist_id[m]]
        m = (k == K_HSUM) & (self.hist_id < 0)
        v[m] += r.poisson(self.rate[m]) * self.base[m] * r.lognormal(0.0, 0.3, m.sum())
        m = k == K_QUANT
        v[m] = self.base[m] * r.lognormal(0.0, 0.2, m.sum())
        m = k == K_GAUGEF
        ok = r.random(m.sum()) < 0.3
        v[m] = np.where(ok, ts_s - r.uniform(0, 1, m.sum()), v[m])
        self.step += 1


# --------------------------------------------------------------------------------------
# remote_write 1.0 encoding: WriteRequest{ repeated TimeSeries timeseries = 1 },
# TimeSeries{ repeated Label labels = 1; repeated Sample samples = 2 },
# Label{ string name = 1; string value = 2 }, Sample{ double value = 1; int64 timestamp = 2 }
# --------------------------------------------------------------------------------------


class Template:
    """One step's WriteRequest bytes for all series, with the byte offsets where each
    series' value and timestamp go, so a step is written with a few numpy operations."""

    def __init__(self, wl: Workload, shards: int, batch: int):
        parts, val_off, ts_off = [], [], []
        self.requests = []  # (shard, byte start, byte end, n samples)
        pos = 0
        order = []
        for sh in range(shards):
            first_in_shard = pos
            count = 0
            req_start = pos
            for t in range(sh, wl.targets, shards):
                a = wl.offsets[t]
                for i, lab in enumerate(wl.labels(t)):
                    le = encode_labels(lab)
                    body_len = len(le) + 18
                    msg = b"\x0a" + varint(body_len) + le + SAMPLE_HEAD
                    parts.append(msg)
                    pos += len(msg)
                    val_off.append(pos)
                    parts.append(b"\0" * 8 + b"\x10" + b"\0" * 6)
                    ts_off.append(pos + 9)
                    pos += 15
                    order.append(a + i)
                    count += 1
                    if count == batch:
                        self.requests.append((sh, req_start, pos, count))
                        req_start, count = pos, 0
            if count:
                self.requests.append((sh, req_start, pos, count))
        self.buf = np.frombuffer(bytearray(b"".join(parts)), dtype=np.uint8).copy()
        self.order = np.array(order)
        self.val_idx = np.array(val_off)[:, None] + np.arange(8)
        self.ts_idx = np.array(ts_off)[:, None] + np.arange(6)

    def fill(self, values: np.ndarray, ts_ms: np.ndarray) -> None:
        self.buf[self.val_idx] = values[self.order].astype("<f8").view(np.uint8).reshape(-1, 8)
        t = ts_ms[self.order].astype(np.int64)
        shifts = np.arange(6) * 7
        b = (t[:, None] >> shifts) & 0x7F
        b[:, :5] |= 0x80
        self.buf[self.ts_idx] = b.astype(np.uint8)


def cmd_gen(args) -> dict:
    """Writes payload.bin, index.bin (shard, offset, length, samples, step per request as
    int64) and meta.json into args.workdir."""
    os.makedirs(args.workdir, exist_ok=True)
    steps = int(args.span * 60 // args.interval)
    churn_steps = max(1, int(args.churn_every * 60 // args.interval))
    wl = Workload(args.targets, args.interval, args.churn_share, churn_steps)
    interval_ms = int(args.interval * 1000)
    end_ms = int(time.time() * 1000) // interval_ms * interval_ms
    start_ms = end_ms - (steps - 1) * interval_ms
    phase = np.random.default_rng(11).integers(0, interval_ms, args.targets)
    for t in range(args.targets):
        wl.start_set(t, start_ms / 1000 - 60)
    jitter_rng = np.random.default_rng(12)
    series_total = wl.n
    tmpl = Template(wl, args.connections, args.batch)
    t0 = time.monotonic()
    index = []
    samples = 0
    raw_bytes = 0
    with open(os.path.join(args.workdir, "payload.bin"), "wb") as f:
        off = 0
        for step in range(steps):
            if step and step % churn_steps == 0:
                chosen = wl.churn((start_ms + step * interval_ms) / 1000)
                if chosen:
                    series_total += sum(wl.offsets[t + 1] - wl.offsets[t] for t in chosen)
                    tmpl = Template(wl, args.connections, args.batch)
            # per target: the scrape time of this step (phase + 0-3 ms jitter)
            ts_t = start_ms + step * interval_ms + phase - interval_ms + jitter_rng.integers(0, 4, args.targets)
            wl.advance(ts_t.max() / 1000)
            tmpl.fill(wl.value, ts_t[wl.target_of])
            buf = tmpl.buf.tobytes()
            for sh, a, b, n in tmpl.requests:
                payload = bytes(cramjam.snappy.compress_raw(buf[a:b]))
                f.write(payload)
                index.append((sh, off, len(payload), n, step))
                off += len(payload)
                samples += n
                raw_bytes += b - a
            if step % 50 == 0:
                log(f"gen: step {step}/{steps}, {samples} samples, {off / 2**20:.0f} MiB")
    np.array(index, dtype=np.int64).tofile(os.path.join(args.workdir, "index.bin"))
    last_ts = int((start_ms + (steps - 1) * interval_ms + phase - interval_ms).max() + 3)
    first_ts = int((start_ms + phase - interval_ms).min())
    meta = {
        "targets": args.targets, "interval_s": args.interval, "span_min": args.span, "steps": steps,
        "series_per_step": wl.n, "active_series": wl.n, "series_total": int(series_total),
        "samples": samples, "requests": len(index), "batch": args.batch, "shards": args.connections,
        "churn_share": args.churn_share, "churn_every_min": args.churn_every,
        "first_ts_ms": first_ts, "last_ts_ms": last_ts,
        "payload_bytes": off, "raw_bytes": raw_bytes, "gen_seconds": time.monotonic() - t0,
        "families": sorted({s.name for s in wl.per_target[0]}),
    }
    with open(os.path.join(args.workdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log(f"gen: {samples} samples of {wl.n} active series ({series_total} with churn), "
        f"{len(index)} requests, {off / 2**20:.0f} MiB snappy ({raw_bytes / max(samples, 1):.0f} B/sample raw), "
        f"{meta['gen_seconds']:.0f} s")
    return meta


KIND_NAMES = ["counter", "cpu", "mem", "small", "const", "bucket", "hsum", "quant", "gaugef"]


def cmd_series_dump(args) -> None:
    """The same values and timestamps as `gen` (same seeds, no churn) as plain arrays, so
    the tsdb's block encoding can be measured per kind of series without a server
    (`cargo test --release -p pharos-tsdb -- --ignored --nocapture metrics_py_workload`
    with PHAROS_SERIES_DUMP=<workdir>/series.bin). Layout, little-endian: u32 series, u32
    steps, u32 targets; per series its kind (u8) and target (u32); then per step the
    targets' timestamps (i64 ms) and every series' value (f64)."""
    os.makedirs(args.workdir, exist_ok=True)
    steps = int(args.span * 60 // args.interval)
    wl = Workload(args.targets, args.interval, 0.0, steps + 1)
    interval_ms = int(args.interval * 1000)
    start_ms = int(time.time() * 1000) // interval_ms * interval_ms - (steps - 1) * interval_ms
    phase = np.random.default_rng(11).integers(0, interval_ms, args.targets)
    for t in range(args.targets):
        wl.start_set(t, start_ms / 1000 - 60)
    jitter_rng = np.random.default_rng(12)
    path = os.path.join(args.workdir, "series.bin")
    with open(path, "wb") as f:
        f.write(np.array([wl.n, steps, args.targets], dtype="<u4").tobytes())
        f.write(wl.kind.astype("u1").tobytes())
        f.write(wl.target_of.astype("<u4").tobytes())
        for step in range(steps):
            ts_t = start_ms + step * interval_ms + phase - interval_ms + jitter_rng.integers(0, 4, args.targets)
            wl.advance(ts_t.max() / 1000)
            f.write(ts_t.astype("<i8").tobytes())
            f.write(wl.value.astype("<f8").tobytes())
    counts = {KIND_NAMES[k]: int((wl.kind == k).sum()) for k in range(len(KIND_NAMES))}
    log(f"series-dump: {wl.n} series x {steps} steps into {path}; series per kind: {counts}")


# --------------------------------------------------------------------------------------
# Processes, /proc and HTTP helpers
# --------------------------------------------------------------------------------------


def dir_size(path: str) -> tuple[int, int]:
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


# --------------------------------------------------------------------------------------
# The peers
# --------------------------------------------------------------------------------------

class Peer:
    name = ""
    auth: dict = {}

    def __init__(self, args, root: str):
        self.args = args
        self.dir = os.path.join(root, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.dir, "log.txt")

    def command(self) -> tuple[list[str], dict]:
        raise NotImplementedError

    def start(self) -> float:
        cmd, env = self.command()
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                     cwd=self.dir)
        return wait_ready(self.port, self.ready_path, self.auth, self.proc)

    def stop(self) -> float:
        t0 = time.monotonic()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return time.monotonic() - t0

    def metrics(self) -> dict[str, float]:
        st, body = request(self.port, "GET", self.metrics_path, headers=self.auth, timeout=60)
        return parse_metrics(body.decode(errors="replace")) if st == 200 else {}

    def appended(self, m: dict[str, float]) -> float | None:
        raise NotImplementedError

    def blocks(self) -> tuple[int, int, int]:
        """(blocks, bytes of block/part files, samples in them) from the data dir."""
        return 0, 0, 0

    def query(self, path: str) -> tuple[int, bytes]:
        return request(self.port, "GET", path, headers=self.auth, timeout=300)


class Pharos(Peer):
    name = "pharos"
    ready_path = "/health/live"
    metrics_path = "/metrics"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def command(self):
        cfg = os.path.join(self.dir, "pharos.yaml")
        with open(cfg, "w") as f:
            # Pharos's own series (self-scrape, host metrics) carry wall-clock timestamps; with
            # them the head's newest sample is "now" and the backfilled past would be out of
            # bounds (as for a Prometheus scraping itself). Off, like Prometheus's scrapes here;
            # the log store is off too, as its rules write their counters at wall-clock time.
            f.write("metrics:\n  self_scrape_interval: 0s\n  host_metrics_interval: 0s\n"
                    "logs:\n  enabled: false\n")
        return ([self.args.pharos_bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data,
                 "--config", cfg], {"PHAROS_ADMIN_TOKEN": ADMIN_TOKEN, "PHAROS_LOG": "warn"})

    def appended(self, m):
        return metric_sum(m, "pharos_tsdb_samples_appended")

    def blocks(self):
        return prom_style_blocks(os.path.join(self.data, "metrics", "blocks"))


class Prometheus(Peer):
    name = "prometheus"
    ready_path = "/-/ready"
    metrics_path = "/metrics"

    def command(self):
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        return ([self.args.prometheus_bin, f"--config.file={cfg}", f"--storage.tsdb.path={self.data}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
                 "--log.level=warn"], {})

    def appended(self, m):
        return metric_sum(m, "prometheus_tsdb_head_samples_appended_total")

    def blocks(self):
        return prom_style_blocks(self.data)


class Victoria(Peer):
    name = "victoriametrics"
    ready_path = "/health"
    metrics_path = "/metrics"

    def command(self):
        return ([self.args.victoria_bin, f"-storageDataPath={self.data}", f"-httpListenAddr=127.0.0.1:{self.port}",
                 "-retentionPeriod=1y", "-loggerLevel=WARN"], {})

    def appended(self, m):
        return metric_sum(m, "vm_rows_inserted_total", 'type="promremotewrite"')

    def blocks(self):
        # every part (small and big) is compressed storage; the whole dir is the answer
        return 0, 0, 0

    def query(self, path: str):
        return super().query(path + "&nocache=1")


def dir_breakdown(path: str) -> dict[str, int]:
    """Allocated bytes per directory, down to two levels below path (block dirs summed
    under their parent)."""
    out: dict[str, int] = {}
    for root, _, files in os.walk(path):
        rel = os.path.relpath(root, path)
        parts = [] if rel == "." else rel.split(os.sep)
        key = "/".join(parts[:2]) or "."
        if len(parts) >= 2 and os.path.exists(os.path.join(path, *parts[:2], "meta.json")):
            key = "/".join(parts[:1]) + "/<blocks>"
        for f in files:
            try:
                out[key] = out.get(key, 0) + os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return out


def block_chunk_bytes(path: str) -> int:
    """Bytes of the blocks' chunk data under path (a `chunks` dir or file per block; Pharos's
    block format 4 keeps the chunks' shared time columns beside them in `times`)."""
    total = 0
    for root, dirs, files in os.walk(path):
        if os.path.exists(os.path.join(root, "meta.json")):
            if "chunks" in dirs:  # Prometheus: chunks/000001 …
                total += dir_size(os.path.join(root, "chunks"))[1]
            elif "chunks" in files:  # Pharos: one chunks file (and a times file)
                for f in ("chunks", "times"):
                    if f in files:
                        total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def prom_style_blocks(path: str) -> tuple[int, int, int]:
    """Blocks in Prometheus's layout (a dir per block with meta.json). Samples from
    meta.json: Prometheus `stats.numSamples`; Pharos: whichever sample count it writes."""
    n = size = samples = 0
    if not os.path.isdir(path):
        return 0, 0, 0
    for d in os.listdir(path):
        meta = os.path.join(path, d, "meta.json")
        if not os.path.isfile(meta):
            continue
        with open(meta) as f:
            m = json.load(f)
        s = m.get("stats", {}).get("numSamples")
        if s is None:
            s = m.get("samples") or m.get("num_samples") or 0
        n += 1
        samples += int(s)
        size += dir_size(os.path.join(path, d))[1]
    return n, size, samples


PEERS = {"pharos": Pharos, "prometheus": Prometheus, "victoriametrics": Victoria}


# --------------------------------------------------------------------------------------
# The push: replay payload.bin over N keep-alive connections
# --------------------------------------------------------------------------------------

def push(peer: Peer, workdir: str, connections: int) -> dict:
    idx = np.fromfile(os.path.join(workdir, "index.bin"), dtype=np.int64).reshape(-1, 5)
    f = open(os.path.join(workdir, "payload.bin"), "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
               "X-Prometheus-Remote-Write-Version": "0.1.0", "User-Agent": "Prometheus/2.42.0", **peer.auth}
    results = [None] * connections
    lat: list[list[float]] = [[] for _ in range(connections)]

    def worker(k: int) -> None:
        rows = idx[idx[:, 0] == k]
        c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=600)
        ok = bad = samples_ok = 0
        first_err = None
        for _, off, ln, n, _step in rows:
            body = mm[off:off + ln]
            t = time.perf_counter()
            for attempt in range(3):
                try:
                    c.request("POST", "/api/v1/write", body=body, headers=headers)
                    r = c.getresponse()
                    msg = r.read()
                    break
                except (OSError, http.client.HTTPException) as e:
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=600)
                    msg, r = str(e).encode(), None
            lat[k].append(time.perf_counter() - t)
            if r is not None and 200 <= r.status < 300:
                ok += 1
                samples_ok += int(n)
            else:
                bad += 1
                first_err = first_err or f"{r.status if r else 'conn'}: {msg[:300]!r}"
        c.close()
        results[k] = (ok, bad, samples_ok, first_err)

    cpu0 = os.times()
    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    t1 = time.monotonic()
    cpu1 = os.times()
    mm.close()
    f.close()
    all_lat = [x for l in lat for x in l]
    return {
        "t0": t0, "t1": t1, "seconds": t1 - t0,
        "requests_ok": sum(r[0] for r in results), "requests_failed": sum(r[1] for r in results),
        "samples_ok": sum(r[2] for r in results),
        "first_error": next((r[3] for r in results if r[3]), None),
        "request_p50_ms": pct(all_lat, 50, math.nan) * 1000, "request_p99_ms": pct(all_lat, 99, math.nan) * 1000,
        "pusher_cores": ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / (t1 - t0),
    }


# --------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------

def query_set(meta: dict) -> list[tuple[str, str, dict]]:
    """(name, PromQL, params) — instant queries at the last sample, range queries over
    the whole span at a 60 s step."""
    end = meta["last_ts_ms"] / 1000
    start = meta["first_ts_ms"] / 1000
    inst = {"time": f"{end:.3f}"}
    rng = {"start": f"{start + min(300.0, (end - start) / 2):.3f}", "end": f"{end:.3f}", "step": "60"}
    return [
        ("rate_sum", "sum(rate(http_requests_total[5m]))", inst),
        ("rate_by_job_code", "sum by (job, code) (rate(http_requests_total[5m]))", inst),
        ("hist_p99_by_handler", "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))", inst),
        ("topk_memory", "topk(10, process_resident_memory_bytes)", inst),
        ("regex_selector", 'http_requests_total{handler=~"/api/v1/(orders|users).*", code=~"5.."}', inst),
        ("error_ratio", 'sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))', inst),
        ("range_rate_by_job", "sum by (job) (rate(http_requests_total[5m]))", rng),
        ("range_hist_p90_api", 'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{job="api"}[5m])))', rng),
        ("range_cpu_by_job", "sum by (job) (rate(process_cpu_seconds_total[5m]))", rng),
    ]


def run_queries(peer: Peer, meta: dict, rounds: int) -> dict:
    qs = query_set(meta)
    lat: dict[str, list[float]] = {q[0]: [] for q in qs}
    shape: dict[str, dict] = {}
    for r in range(rounds + 1):
        for name, expr, params in qs:
            kind = "query_range" if "step" in params else "query"
            path = f"/api/v1/{kind}?" + urllib.parse.urlencode({"query": expr, **params})
            t = time.perf_counter()
            st, body = peer.query(path)
            dt = time.perf_counter() - t
            if r == 0:  # the first round warms caches and records the answer's shape
                shape[name] = answer_shape(st, body)
                continue
            lat[name].append(dt)
    out = {}
    for name, xs in lat.items():
        out[name] = {"p50_ms": pct(xs, 50, math.nan) * 1000, "p99_ms": pct(xs, 99, math.nan) * 1000, **shape[name]}
    return out


def answer_shape(status: int, body: bytes) -> dict:
    try:
        d = json.loads(body)
    except ValueError:
        return {"status": status, "error": body[:200].decode(errors="replace")}
    if d.get("status") != "success":
        return {"status": status, "error": str(d.get("error"))[:200]}
    res = d["data"]["result"]
    points = 0
    total = 0.0
    for s in res:
        vals = s.get("values") or ([s["value"]] if "value" in s else [])
        points += len(vals)
        for _, v in vals:
            try:
                fv = float(v)
                if fv == fv and abs(fv) != float("inf"):
                    total += fv
            except ValueError:
                pass
    return {"status": status, "series": len(res), "points": points, "sum": total}


# --------------------------------------------------------------------------------------
# One peer, one run
# --------------------------------------------------------------------------------------

def run_peer(cls, args, meta: dict, root: str) -> dict:
    peer = cls(args, root)
    log(f"{peer.name}: starting")
    ready = peer.start()
    sampler = Sampler(peer.proc.pid)
    sampler.start()
    time.sleep(2)
    rss_idle = proc_stat(peer.proc.pid)[1]
    cpu_a = proc_stat(peer.proc.pid)[0]
    log(f"{peer.name}: pushing {meta['samples']} samples over {args.connections} connections")
    p = push(peer, args.workdir, args.connections)
    cpu_b = proc_stat(peer.proc.pid)[0]
    log(f"{peer.name}: {p['samples_ok'] / p['seconds']:.0f} samples/s in {p['seconds']:.1f} s, "
        f"{p['requests_failed']} failed requests {p['first_error'] or ''}")
    # Settle: Pharos's maintenance (compaction, WAL sync, its gauges) runs once a minute;
    # Prometheus compacts when its head spans 3 h; VictoriaMetrics merges parts in the
    # background. Wait until the peer reports every sample appended and (Pharos and
    # Prometheus) a block exists, at least args.settle seconds, at most 5 minutes.
    t_settle = time.monotonic()
    appended = None
    while True:
        time.sleep(5)
        m = peer.metrics()
        appended = peer.appended(m)
        blocks = peer.blocks()[0]
        waited = time.monotonic() - t_settle
        need_blocks = cls is not Victoria and meta["span_min"] > 180
        done = appended is not None and appended >= p["samples_ok"] and (blocks > 0 or not need_blocks)
        if (done and waited >= args.settle) or waited > 300:
            break
    time.sleep(1)
    t_mem = time.monotonic()
    time.sleep(10)
    rss_after = [x[2] for x in sampler.window(t_mem, time.monotonic())]
    push_rss = [x[2] for x in sampler.window(p["t0"], p["t1"])]
    cpu_settle = proc_stat(peer.proc.pid)[0]
    m = peer.metrics()
    app, alloc = dir_size(peer.data)
    nblocks, bbytes, bsamples = peer.blocks()
    log(f"{peer.name}: settled after {time.monotonic() - t_settle:.0f} s; RSS {med(rss_after) / 2**20:.0f} MiB; "
        f"disk {alloc / 2**20:.0f} MiB; {nblocks} blocks; running queries")
    q = run_queries(peer, meta, args.query_rounds)
    sampler.stop_ev.set()
    stop_s = peer.stop()
    self_metrics = {k: v for k, v in m.items() if re.match(
        r"(pharos_tsdb_|prometheus_tsdb_head_series|prometheus_tsdb_head_chunks|prometheus_tsdb_blocks_loaded|"
        r"prometheus_tsdb_compactions_total|prometheus_tsdb_wal_|go_memstats_heap_inuse|go_memstats_sys|"
        r"vm_rows\{|vm_data_size_bytes|vm_rows_inserted_total|vm_cache_size_bytes|process_resident)", k)}
    res = {
        "peer": peer.name, "ready_s": ready, "stop_s": stop_s,
        "push": p, "samples_per_s": p["samples_ok"] / p["seconds"],
        "appended_reported": appended,
        "cpu_cores_push": (cpu_b - cpu_a) / CLK_TCK / p["seconds"],
        "cpu_s_per_million": (cpu_b - cpu_a) / CLK_TCK / max(p["samples_ok"], 1) * 1e6,
        "cpu_s_settle": (cpu_settle - cpu_b) / CLK_TCK,
        "rss_idle": rss_idle, "rss_push_max": max(push_rss) if push_rss else None,
        "rss_push_median": med(push_rss),
        "rss_after": med(rss_after),
        "rss_per_active_series": med(rss_after) / meta["active_series"],
        "disk_apparent": app, "disk_alloc": alloc,
        "disk_bytes_per_sample": alloc / max(p["samples_ok"], 1),
        "dir_breakdown": dir_breakdown(peer.data), "block_chunk_bytes": block_chunk_bytes(peer.data),
        "blocks": nblocks, "block_bytes": bbytes, "block_samples": bsamples,
        "block_bytes_per_sample": bbytes / bsamples if bsamples else None,
        "queries": q, "self_metrics": self_metrics,
        "log_tail": open(peer.log_path, errors="replace").read()[-2000:],
    }
    if not args.keep_data:
        shutil.rmtree(peer.data, ignore_errors=True)
    return res


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:.0f} MiB"


def fmt(x, spec=".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def report(meta: dict, runs: list[dict[str, dict]], env: dict) -> str:
    peers = [p for p in PEERS if all(p in r for r in runs)]
    L = []
    L.append(f"Workload: {meta['targets']} targets × {meta['series_per_step'] // meta['targets']} series = "
             f"{meta['active_series']} active series ({meta['series_total']} over the span with churn: "
             f"{meta['churn_share']:.0%} of targets get a new `pod` every {meta['churn_every_min']:g} min), "
             f"one sample per series every {meta['interval_s']:g} s over {meta['span_min']:g} min = "
             f"{meta['samples']:,} samples in {meta['requests']:,} remote_write requests of ≤ {meta['batch']} "
             f"samples ({meta['payload_bytes'] / 2**20:.0f} MiB snappy), pushed over {meta['shards']} connections.")
    L.append("")
    L.append(f"Runs: {len(runs)}; medians over the runs (per-run values in the JSON).")
    L.append("")
    rows = [
        ("samples/s (push, accepted / wall)", lambda r: r["samples_per_s"], ",.0f", "hi"),
        ("CPU cores during the push", lambda r: r["cpu_cores_push"], ".2f", "lo"),
        ("CPU s per million samples", lambda r: r["cpu_s_per_million"], ".2f", "lo"),
        ("push request p99 (ms)", lambda r: r["push"]["request_p99_ms"], ".1f", "lo"),
        ("RSS max during push (MiB)", lambda r: r["rss_push_max"] / 2**20, ".0f", "lo"),
        ("RSS after settling (MiB)", lambda r: r["rss_after"] / 2**20, ".0f", "lo"),
        ("RSS per active series (bytes)", lambda r: r["rss_per_active_series"], ".0f", "lo"),
        ("disk, whole data dir, per sample (bytes)", lambda r: r["disk_bytes_per_sample"], ".2f", "lo"),
        ("disk, blocks only, per block sample (bytes)", lambda r: r["block_bytes_per_sample"], ".2f", "lo"),
        ("disk, block chunk files only, per block sample (bytes)",
         lambda r: r["block_chunk_bytes"] / r["block_samples"] if r.get("block_chunk_bytes") and r["block_samples"] else None, ".2f", "lo"),
        ("data dir (MiB, allocated)", lambda r: r["disk_alloc"] / 2**20, ".0f", "lo"),
    ]
    for name, _, _, in [(q[0], q[1], q[2]) for q in query_set(meta)]:
        rows.append((f"query `{name}` p50 (ms)", (lambda n: lambda r: r["queries"][n]["p50_ms"])(name), ".1f", "lo"))
        rows.append((f"query `{name}` p99 (ms)", (lambda n: lambda r: r["queries"][n]["p99_ms"])(name), ".1f", "lo"))
    head = "| metric | " + " | ".join(peers) + " | " + " | ".join(f"Pharos/{p}" for p in peers if p != "pharos") + " |"
    L.append(head)
    L.append("|" + " --- |" * (1 + len(peers) + len(peers) - 1))
    for name, get, spec, _ in rows:
        vals = {}
        for p in peers:
            xs = []
            for r in runs:
                try:
                    xs.append(get(r[p]))
                except (TypeError, KeyError):
                    xs.append(None)
            vals[p] = med(xs)
        ratios = []
        for p in peers:
            if p == "pharos":
                continue
            a, b = vals.get("pharos"), vals.get(p)
            ratios.append(f"{a / b:.2f}x" if a is not None and b else "n/a")
        L.append(f"| {name} | " + " | ".join(fmt(vals[p], spec) for p in peers) + " | " + " | ".join(ratios) + " |")
    L.append("")
    L.append("Query answers (first round; series / points / sum of values), to check the peers agree:")
    L.append("")
    L.append("| query | " + " | ".join(peers) + " |")
    L.append("|" + " --- |" * (1 + len(peers)))
    for name, _, _ in query_set(meta):
        cells = []
        for p in peers:
            sh = runs[0][p]["queries"][name]
            cells.append(f"err {sh.get('status')}: {sh['error'][:60]}" if "error" in sh
                         else f"{sh['series']} / {sh['points']} / {sh['sum']:.6g}")
        L.append(f"| `{name}` | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Per run:")
    L.append("")
    L.append("| run | peer | samples/s | failed requests | appended (peer's counter) | RSS after | RSS/series | B/sample (dir) | B/sample (blocks) | blocks | settle CPU s |")
    L.append("|" + " --- |" * 11)
    for i, r in enumerate(runs):
        for p in peers:
            x = r[p]
            L.append(f"| {i + 1} | {p} | {x['samples_per_s']:,.0f} | {x['push']['requests_failed']} | "
                     f"{fmt(x['appended_reported'], ',.0f')} | {mib(x['rss_after'])} | {x['rss_per_active_series']:.0f} | "
                     f"{x['disk_bytes_per_sample']:.2f} | {fmt(x['block_bytes_per_sample'])} | {x['blocks']} | {x['cpu_s_settle']:.1f} |")
    L.append("")
    L.append(f"Pusher (Python, not counted against anyone): {med([r[p]['push']['pusher_cores'] for r in runs for p in peers]):.2f} cores median.")
    L.append(f"Environment: {env}")
    return "\n".join(L)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", nargs="?", default="run", choices=["run", "gen", "report", "series-dump"],
                   help="run (default): generate if needed, then push to each peer; gen: only the payload; "
                   "report: the Markdown summary of the runs in the --json-in files together; "
                   "series-dump: the workload's raw samples (--targets, --span; no churn) into "
                   "--workdir/series.bin for the tsdb's block-encoding measurement")
    p.add_argument("--json-in", nargs="*", default=[])
    p.add_argument("--workdir", default="/tmp/mbench", help="payload, peers' data dirs and logs")
    p.add_argument("--targets", type=int, default=168, help="168 x 595 = 99,960 active series")
    p.add_argument("--interval", type=float, default=15.0, help="seconds between two samples of a series")
    p.add_argument("--span", type=float, default=190.0, help="minutes of sample time (> 180: blocks get cut)")
    p.add_argument("--churn-share", type=float, default=0.1)
    p.add_argument("--churn-every", type=float, default=30.0, help="minutes of sample time")
    p.add_argument("--batch", type=int, default=2000, help="samples per remote_write request")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--settle", type=float, default=75, help="seconds at least between push end and measuring")
    p.add_argument("--query-rounds", type=int, default=20)
    p.add_argument("--peers", default="pharos,prometheus,victoriametrics")
    p.add_argument("--regen", action="store_true", help="generate the payload even if the workdir has one")
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--json-out")
    p.add_argument("--md-out")
    p.add_argument("--pharos-bin", default=os.environ.get("PHAROS_BIN", os.path.join(REPO, "target/release/pharos")))
    p.add_argument("--prometheus-bin", default=os.environ.get("PROMETHEUS_BIN", shutil.which("prometheus") or "prometheus"))
    p.add_argument("--victoria-bin", default=os.environ.get("VICTORIA_BIN", shutil.which("victoria-metrics") or "victoria-metrics"))
    args = p.parse_args()
    if args.cmd == "gen":
        cmd_gen(args)
        return
    if args.cmd == "series-dump":
        cmd_series_dump(args)
        return
    if args.cmd == "report":
        runs, meta, env = [], None, None
        for path in args.json_in:
            with open(path) as f:
                d = json.load(f)
            meta, env = meta or d["meta"], env or d["env"]
            runs += d["runs"]
        md = report(meta, runs, env)
        print(md)
        if args.md_out:
            with open(args.md_out, "w") as f:
                f.write(md + "\n")
        return
    meta_path = os.path.join(args.workdir, "meta.json")
    if args.regen or not os.path.exists(meta_path):
        meta = cmd_gen(args)
    else:
        with open(meta_path) as f:
            meta = json.load(f)
        log(f"using the payload in {args.workdir} ({meta['samples']} samples; --regen makes a new one)")
    peers = [x for x in args.peers.split(",") if x]
    for name in peers:
        binp = {"pharos": args.pharos_bin, "prometheus": args.prometheus_bin, "victoriametrics": args.victoria_bin}[name]
        if not shutil.which(binp) and not os.path.exists(binp):
            log(f"{name}: {binp} not found; skipped")
            peers.remove(name)
    runs = []
    env = {
        "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    for name, binp in (("prometheus", args.prometheus_bin), ("victoriametrics", args.victoria_bin)):
        if name in peers:
            try:
                out = subprocess.run([binp, "--version" if name == "prometheus" else "-version"], capture_output=True,
                                     text=True, timeout=10)
                env[name] = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"
            except (OSError, subprocess.TimeoutExpired):
                pass
    root = os.path.join(args.workdir, "peers")
    for i in range(args.repeat):
        run = {}
        for name in peers:
            with open("/proc/loadavg") as f:
                load = f.read().split()[:3]
            log(f"run {i + 1}/{args.repeat}: {name} (load average {' '.join(load)})")
            run[name] = run_peer(PEERS[name], args, meta, root)
            run[name]["loadavg_before"] = load
        runs.append(run)
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"meta": meta, "env": env, "runs": runs}, f, indent=1, default=str)
    md = report(meta, runs, env)
    print(md)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    main()
