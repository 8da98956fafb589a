#!/usr/bin/env python3
"""Pharos alerting benchmark (issue 5): rule evaluation and alert fan-in, each against its
Prometheus peer, one process at a time (2 cores), everything on 127.0.0.1.

Part `eval` — 1,000 rules over 100,000 series, evaluated every 15 s:
  100 metrics x 1,000 label combinations: 60 counters bench_requests_<n>_total{service,
  instance, code}, 30 gauges bench_queue_<n>{service, instance, queue}, 10 classic histograms
  bench_latency_<n>_seconds_bucket{service, instance, le}. Remote-written (1.0) with fresh
  timestamps every 15 s: first --backfill steps of the past at once (so rate()[5m] and
  [10m] windows are full), then one step every 15 s while the peer runs. 50 rule groups x 20
  rules = 1,000 rules (400 recording, 600 alerting; rate() sums by a label, error ratios,
  histogram_quantile, thresholds with `for`, *_over_time, deriv, count of a comparison,
  alerts on recorded series; annotations with templates). Each peer (Pharos `serve`, then
  Prometheus with --web.enable-remote-write-receiver) starts with an empty rule file and
  takes the load for --baseline rounds (ingest alone), then the rule file is replaced and
  the peer reloaded (SIGHUP); after --warmup rounds, --rounds rounds are measured.
  Per round: the sum of the groups' `evaluationTime` from GET /api/v1/rules (polled every 5
  s; each group's evaluations told apart by `lastEvaluation`), the slowest group, the
  peer's CPU seconds (/proc/<pid>/stat) per 15 s minus the baseline's, and RSS.

Part `fanin` — 10,000 alerts into 100 groups, delivered to a local webhook:
  route group_by [service], group_wait 1s, group_interval 5s; a webhook receiver in this
  process timestamps each POST. Modes:
  - `api`: the 10,000 alerts (100 services x 100 instances) in one POST /api/v2/alerts;
    latency = webhook arrival - the POST's start. Pharos vs Alertmanager.
  - `rule`: a rule `bench_fanin > 0` (group interval 5s) over 10,000 remote-written
    series that all turn 1 at once; latency = webhook arrival - the alert's startsAt (the
    evaluation that made it fire). Pharos vs Prometheus -> Alertmanager.
  Per alert: time until it first appears in a webhook; per group: its first webhook.

Usage:
  python3 bench/alerting.py --parts eval,fanin --repeat 3 --json-out /tmp/abench/run.json \
      --md-out /tmp/abench/run.md
  python3 bench/alerting.py report --json-in /tmp/abench/run*.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, SNAPPY, RemoteWriter, Sampler, fmt, free_port, get_json, loadavg, log,  # noqa: E402
                      med, mib, pct, ratio, request, series_prefix, stop_process, ts_bytes, wait_ready)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ADMIN_TOKEN = "benchadmintoken0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STEP = 15.0

# --------------------------------------------------------------------------------------
# The series: 100 metrics x 1,000 label sets, and their values at a time
# --------------------------------------------------------------------------------------

SERVICES = [f"svc{i:02d}" for i in range(20)]
CODES = [("200", 0.85), ("201", 0.10), ("404", 0.03), ("500", 0.015), ("503", 0.005)]
LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
N_COUNTERS, N_GAUGES, N_HIST = 60, 30, 10


def lognorm_cdf(x: float, median: float, sigma: float = 0.8) -> float:
    if x == math.inf:
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


class Workload:
    """Each series is (labels, kind, a, b, c); its value at time t (s since t0):
    counter: a * t; gauge: a + b * sin(t / c) (+ trend for a few); bucket: a * t."""

    def __init__(self, t0: float, seed: int = 5):
        rng = random.Random(seed)
        self.t0 = t0
        self.prefix: list[bytes] = []
        self.model: list[tuple[int, float, float, float]] = []  # kind 0 counter, 1 gauge, 2 trend gauge
        for m in range(N_COUNTERS):
            for s in SERVICES:
                hot = rng.random() < 0.05  # this service's errors are high on this metric
                for inst in range(10):
                    base = rng.uniform(0.5, 20)
                    for code, share in CODES:
                        if hot and code == "500":
                            share = 0.15
                        self.add({"__name__": f"bench_requests_{m:02d}_total", "code": code,
                                  "instance": f"i{inst}", "service": s}, 0, base * share)
        for m in range(N_GAUGES):
            for s in SERVICES:
                for inst in range(10):
                    for q in range(5):
                        r = rng.random()
                        lab = {"__name__": f"bench_queue_{m:02d}", "instance": f"i{inst}", "queue": f"q{q}", "service": s}
                        if r < 0.002:  # stuck high
                            self.add(lab, 1, 96 + rng.uniform(0, 3), 0.5, rng.uniform(60, 600))
                        elif r < 0.004:  # growing (deriv alerts)
                            self.add(lab, 2, rng.uniform(10, 40), 0.1, 0)
                        else:
                            self.add(lab, 1, rng.uniform(0, 80), rng.uniform(0, 10), rng.uniform(60, 600))
        for m in range(N_HIST):
            for s in SERVICES:
                for inst in range(5):
                    rate = rng.uniform(1, 30)
                    median = 0.9 if rng.random() < 0.03 else rng.uniform(0.01, 0.08)
                    for le in LE:
                        x = math.inf if le == "+Inf" else float(le)
                        self.add({"__name__": f"bench_latency_{m:02d}_seconds_bucket", "instance": f"i{inst}",
                                  "le": le, "service": s}, 0, rate * lognorm_cdf(x, median))
        assert len(self.prefix) == 100_000, len(self.prefix)

    def add(self, labels: dict, kind: int, a: float, b: float = 0.0, c: float = 1.0) -> None:
        self.prefix.append(series_prefix(labels))
        self.model.append((kind, a, b, c))

    def requests(self, t_ms: int, batch: int) -> list[bytes]:
        """WriteRequests (uncompressed) with every series' sample at t_ms."""
        t = t_ms / 1000 - self.t0
        tsb = ts_bytes(t_ms)
        pack = struct.Struct("<d").pack
        sin = math.sin
        out, cur = [], []
        for p, (kind, a, b, c) in zip(self.prefix, self.model):
            if kind == 0:
                v = a * t
            elif kind == 1:
                v = a + b * sin(t / c)
            else:
                v = a + b * t / 60
            cur.append(p + pack(v) + tsb)
            if len(cur) == batch:
                out.append(b"".join(cur))
                cur = []
        if cur:
            out.append(b"".join(cur))
        return out


# --------------------------------------------------------------------------------------
# The rules: 50 groups x (8 recording + 12 alerting)
# --------------------------------------------------------------------------------------

def rule_groups(n_groups: int = 50) -> list[dict]:
    groups = []
    for g in range(n_groups):
        a = [f"{(g * 6 + k) % N_COUNTERS:02d}" for k in range(6)]
        q = [f"{(g * 3 + k) % N_GAUGES:02d}" for k in range(3)]
        h = f"{g % N_HIST:02d}"
        req = lambda k: f"bench_requests_{a[k]}_total"  # noqa: E731
        rules = [
            {"record": f"service:bench_requests_{a[0]}:rate5m", "expr": f"sum by (service) (rate({req(0)}[5m]))"},
            {"record": f"service:bench_requests_{a[1]}:rate5m", "expr": f"sum by (service) (rate({req(1)}[5m]))"},
            {"record": f"service_code:bench_requests_{a[2]}:rate5m", "expr": f"sum by (service, code) (rate({req(2)}[5m]))"},
            {"record": f"instance:bench_requests_{a[3]}:rate5m", "expr": f"sum by (instance) (rate({req(3)}[5m]))"},
            {"record": f"service:bench_requests_{a[0]}:error_ratio5m",
             "expr": f'sum by (service) (rate({req(0)}{{code=~"5.."}}[5m])) / sum by (service) (rate({req(0)}[5m]))'},
            {"record": f"service:bench_latency_{h}:p99_5m",
             "expr": f"histogram_quantile(0.99, sum by (service, le) (rate(bench_latency_{h}_seconds_bucket[5m])))"},
            {"record": f"service_instance:bench_latency_{h}:p50_5m",
             "expr": f"histogram_quantile(0.5, rate(bench_latency_{h}_seconds_bucket[5m]))"},
            {"record": f"service:bench_queue_{q[0]}:avg", "expr": f"avg by (service) (bench_queue_{q[0]})"},
        ]
        # Groups 10 apart read the same metrics: a label keeps their outputs and alerts apart.
        gl = f"g{g:02d}"
        for r in rules:
            r["labels"] = {"rule_group": gl}
        ann = {"summary": "{{ $labels.service }}/{{ $labels.instance }}: {{ $value | humanize }}",
               "description": "Queue {{ $labels.queue }} on {{ $labels.instance }} of {{ $labels.service }} is at {{ $value }}."}
        sev = lambda s: {"severity": s, "team": f"team{g % 5}", "rule_group": gl}  # noqa: E731
        rules += [
            {"alert": "BenchQueueHigh", "expr": f"bench_queue_{q[0]} > 90", "for": "1m", "labels": sev("warning"), "annotations": ann},
            {"alert": "BenchQueueHighLong", "expr": f"bench_queue_{q[1]} > 90", "for": "2m", "labels": sev("warning"), "annotations": ann},
            {"alert": "BenchQueueCritical", "expr": f"bench_queue_{q[2]} > 95", "for": "5m", "labels": sev("critical"), "annotations": ann},
            {"alert": "BenchQueuePeak", "expr": f"max_over_time(bench_queue_{q[1]}[5m]) > 97", "for": "1m", "labels": sev("info"), "annotations": ann},
            {"alert": "BenchQueueSustained", "expr": f"avg_over_time(bench_queue_{q[2]}[10m]) > 90", "labels": sev("warning"), "annotations": ann},
            {"alert": "BenchQueueGrowing", "expr": f"deriv(bench_queue_{q[0]}[5m]) > 0.05", "for": "2m", "labels": sev("warning"), "annotations": ann},
            {"alert": "BenchErrorRatio", "expr": f'service:bench_requests_{a[0]}:error_ratio5m{{rule_group="{gl}"}} > 0.05', "for": "2m",
             "labels": sev("critical"), "annotations": {"summary": "{{ $labels.service }} errors {{ $value | humanizePercentage }}"}},
            {"alert": "BenchLatencyHigh", "expr": f'service:bench_latency_{h}:p99_5m{{rule_group="{gl}"}} > 1', "for": "5m",
             "labels": sev("warning"), "annotations": {"summary": "{{ $labels.service }} p99 {{ $value }}s"}},
            {"alert": "BenchInstanceErrors",
             "expr": f'sum by (service, instance) (rate({req(4)}{{code=~"5.."}}[5m])) / sum by (service, instance) (rate({req(4)}[5m])) > 0.1',
             "for": "1m", "labels": sev("warning"), "annotations": {"summary": "{{ $labels.instance }} errors {{ $value }}"}},
            {"alert": "BenchLowTraffic", "expr": f'service:bench_requests_{a[1]}:rate5m{{rule_group="{gl}"}} < 1', "for": "5m",
             "labels": sev("info"), "annotations": {"summary": "{{ $labels.service }} {{ $value }} req/s"}},
            {"alert": "Bench500s", "expr": f'rate({req(5)}{{code="500"}}[5m]) > 0.5', "for": "1m",
             "labels": sev("warning"), "annotations": {"summary": "{{ $labels.instance }} 500/s {{ $value }}"}},
            {"alert": "BenchManyBusyQueues", "expr": f"count by (service) (bench_queue_{q[1]} > 80) > 10", "for": "1m",
             "labels": sev("info"), "annotations": {"summary": "{{ $labels.service }}: {{ $value }} busy queues"}},
        ]
        groups.append({"name": f"bench-g{g:02d}", "rules": rules})
    return groups


def write_rules(path: str, groups: list[dict]) -> None:
    """YAML by hand (flow style is JSON): the one dependency-free writer both peers read."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        if not groups:
            f.write("groups: []\n")
        else:
            f.write("groups:\n")
            for g in groups:
                f.write(f"  - name: {g['name']}\n")
                if "interval" in g:
                    f.write(f"    interval: {g['interval']}\n")
                f.write("    rules:\n")
                for r in g["rules"]:
                    first = True
                    for k in ("record", "alert", "expr", "for", "labels", "annotations"):
                        if k in r:
                            f.write(f"      {'- ' if first else '  '}{k}: {json.dumps(r[k])}\n")
                            first = False
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------

class Proc:
    """One peer process in its own temp dir."""

    def __init__(self, name: str, root: str):
        self.name = name
        self.dir = os.path.join(root, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.dir, "log.txt")

    def start(self, cmd: list[str], env: dict, ready: str, headers: dict | None = None) -> float:
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                     cwd=self.dir)
        return wait_ready(self.port, ready, headers, self.proc)

    def stop(self) -> float | None:
        t = stop_process(self.proc)
        self.logf.close()
        return t

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def log_lines(self, pattern: str = r'"level":"(WARN|ERROR)"|level=(warn|error)', limit: int = 8) -> list[str]:
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [x.strip() for x in f if re.search(pattern, x, re.I) and "SIGTERM" not in x]
        except OSError:
            return []
        return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


def start_pharos(args, root: str, extra_yaml: str, name: str = "pharos") -> Proc:
    p = Proc(name, root)
    cfg = os.path.join(p.dir, "pharos.yaml")
    with open(cfg, "w") as f:
        # As in metrics.py: Pharos's own series off (Prometheus scrapes nothing here either).
        f.write("metrics:\n  self_scrape_interval: 0s\n  host_metrics_interval: 0s\n" + extra_yaml)
    p.start([args.pharos_bin, "serve", "--listen", f"127.0.0.1:{p.port}", "--data-dir", os.path.join(p.dir, "data"),
             "--config", cfg], {"PHAROS_ADMIN_TOKEN": ADMIN_TOKEN, "PHAROS_LOG": "warn"}, "/health/live", AUTH)
    p.auth, p.write_path = AUTH, "/api/v1/write"
    return p


def start_prometheus(args, root: str, yml: str, name: str = "prometheus") -> Proc:
    p = Proc(name, root)
    cfg = os.path.join(p.dir, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(yml)
    p.start([args.prometheus_bin, f"--config.file={cfg}", f"--storage.tsdb.path={os.path.join(p.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{p.port}", "--web.enable-remote-write-receiver", "--log.level=warn"],
            {}, "/-/ready")
    p.auth, p.write_path = {}, "/api/v1/write"
    return p


def start_alertmanager(args, root: str, yml: str) -> Proc:
    p = Proc("alertmanager", root)
    cfg = os.path.join(p.dir, "alertmanager.yml")
    with open(cfg, "w") as f:
        f.write(yml)
    p.start([args.alertmanager_bin, f"--config.file={cfg}", f"--storage.path={os.path.join(p.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{p.port}", "--cluster.listen-address=", "--log.level=warn"],
            {}, "/-/ready")
    p.auth = {}
    return p


# --------------------------------------------------------------------------------------
# Part 1: rule evaluation
# --------------------------------------------------------------------------------------

def parse_time(s: str) -> float | None:
    """RFC 3339 with up to nanoseconds (Prometheus) -> Unix seconds; None for Go's zero time."""
    if not s or s.startswith("0001-"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        return None
    frac = float(m.group(2) or 0)
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + tz).timestamp() + frac


class Pusher(threading.Thread):
    """One step of all series every 15 s (wall-clock aligned), with the step's time as timestamp."""

    def __init__(self, wl: Workload, peer: Proc, batch: int):
        super().__init__(daemon=True)
        self.wl, self.peer, self.batch = wl, peer, batch
        self.writer = RemoteWriter(peer.port, peer.write_path, peer.auth)
        self.stop_ev = threading.Event()
        self.steps: list[dict] = []

    def push(self, t_ms: int) -> dict:
        t0 = time.monotonic()
        bodies = self.wl.requests(t_ms, self.batch)
        t1 = time.monotonic()
        bad = sum(1 for b in bodies if self.writer.post(b) >= 300)
        return {"t_ms": t_ms, "encode_s": t1 - t0, "post_s": time.monotonic() - t1, "bad": bad}

    def backfill(self, steps: int, first_ms: int) -> float:
        t0 = time.monotonic()
        for k in range(steps):
            self.steps.append(self.push(first_ms + int(k * STEP * 1000)))
        return time.monotonic() - t0

    def run(self) -> None:
        while not self.stop_ev.is_set():
            nxt = (math.floor(time.time() / STEP) + 1) * STEP
            if self.stop_ev.wait(max(0.0, nxt - time.time())):
                break
            self.steps.append(self.push(int(time.time() * 1000)))
        self.writer.close()


class RulesPoller(threading.Thread):
    """GET /api/v1/rules every `period` s: every (group, lastEvaluation) seen once."""

    def __init__(self, peer: Proc, period: float):
        super().__init__(daemon=True)
        self.peer, self.period = peer, period
        self.evals: dict[tuple[str, float], dict] = {}
        self.poll_s: list[float] = []
        self.errors: list[str] = []
        self.alerts_firing: list[tuple[float, int, int]] = []
        self.stop_ev = threading.Event()

    def poll(self) -> list[dict]:
        t0 = time.monotonic()
        d = get_json(self.peer.port, "/api/v1/rules", self.peer.auth, timeout=60)
        self.poll_s.append(time.monotonic() - t0)
        return d["data"]["groups"]

    def run(self) -> None:
        while not self.stop_ev.is_set():
            try:
                groups = self.poll()
                firing = pending = 0
                for g in groups:
                    t = parse_time(g.get("lastEvaluation", ""))
                    if t is not None and g.get("evaluationTime", 0) > 0:
                        self.evals[(g["name"], t)] = {"group": g["name"], "t": t, "s": g["evaluationTime"],
                                                      "rules": len(g["rules"])}
                    for r in g["rules"]:
                        for a in r.get("alerts", []):
                            firing += a.get("state") == "firing"
                            pending += a.get("state") == "pending"
                self.alerts_firing.append((time.time(), firing, pending))
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                if len(self.errors) < 10:
                    self.errors.append(repr(e))
            self.stop_ev.wait(self.period)


def rounds_of(evals: dict, t0: float, t1: float, n_groups: int) -> dict:
    """Round k = every group's k-th evaluation in [t0, t1)."""
    by_group: dict[str, list[dict]] = {}
    for e in evals.values():
        if t0 <= e["t"] < t1:
            by_group.setdefault(e["group"], []).append(e)
    counts = [len(v) for v in by_group.values()]
    n = min(counts) if counts and len(by_group) == n_groups else 0
    sums, slowest = [], []
    for k in range(n):
        xs = [sorted(v, key=lambda e: e["t"])[k]["s"] for v in by_group.values()]
        sums.append(sum(xs))
        slowest.append(max(xs))
    all_s = [e["s"] for v in by_group.values() for e in v]
    return {"rounds": n, "groups_seen": len(by_group), "evals_per_group_min": min(counts) if counts else 0,
            "evals_per_group_max": max(counts) if counts else 0, "round_sum_s": sums, "round_max_group_s": slowest,
            "group_eval_s_p50": pct(all_s, 50), "group_eval_s_p99": pct(all_s, 99), "group_eval_s_max": max(all_s, default=None)}


def cpu_rss(sampler: Sampler, t0: float, t1: float) -> dict:
    w = sampler.window(t0, t1)
    if len(w) < 2:
        return {}
    wall = w[-1][0] - w[0][0]
    cpu = (w[-1][1] - w[0][1]) / CLK_TCK
    rss = sorted(x[2] for x in w)
    return {"wall_s": wall, "cpu_s": cpu, "cpu_s_per_round": cpu / wall * STEP, "cores": cpu / wall,
            "rss_median": med(rss), "rss_max": rss[-1]}


def wait_groups(peer: Proc, n: int, timeout: float = 120) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if len(get_json(peer.port, "/api/v1/rules", peer.auth)["data"]["groups"]) == n:
                return time.monotonic() - t0
        except (OSError, RuntimeError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{peer.name}: {n} rule groups not loaded after {timeout} s")


def sleep_rounds(n: float) -> None:
    time.sleep(n * STEP)


def run_eval(args, peer_name: str, root: str, wl: Workload) -> dict:
    rules_path = os.path.join(root, f"rules-{peer_name}.yml")
    write_rules(rules_path, [])
    log(f"eval/{peer_name}: start (load average {loadavg()})")
    load_before = loadavg()
    if peer_name == "pharos":
        peer = start_pharos(args, root, f"global:\n  evaluation_interval: 15s\nrule_files: [{rules_path}]\n")
    else:
        peer = start_prometheus(args, root, f"global:\n  evaluation_interval: 15s\nrule_files: [{rules_path}]\nscrape_configs: []\n")
    sampler = Sampler(peer.proc.pid, 0.5)
    sampler.start()
    pusher = Pusher(wl, peer, args.batch)
    out: dict = {"peer": peer_name, "loadavg_before": load_before}
    try:
        now_step = math.floor(time.time() / STEP) * STEP
        first = int((now_step - args.backfill * STEP) * 1000)
        out["backfill_s"] = pusher.backfill(args.backfill, first)
        log(f"eval/{peer_name}: backfilled {args.backfill} steps in {out['backfill_s']:.1f} s")
        pusher.start()
        time.sleep(max(0.0, (math.floor(time.time() / STEP) + 1) * STEP - time.time()))
        tb0 = time.monotonic()
        sleep_rounds(args.baseline)
        tb1 = time.monotonic()
        out["baseline"] = cpu_rss(sampler, tb0, tb1)
        write_rules(rules_path, rule_groups(args.groups))
        t_reload = time.monotonic()
        peer.reload()
        out["rules_loaded_s"] = wait_groups(peer, args.groups)
        log(f"eval/{peer_name}: {args.groups} groups loaded {out['rules_loaded_s']:.1f} s after SIGHUP")
        poller = RulesPoller(peer, args.poll)
        poller.start()
        time.sleep(max(0.0, t_reload + args.warmup * STEP - time.monotonic()))
        tm0, tw0 = time.monotonic(), time.time()
        sleep_rounds(args.rounds)
        tm1, tw1 = time.monotonic(), time.time()
        time.sleep(args.poll + 1)
        poller.stop_ev.set()
        poller.join()
        out["measured"] = cpu_rss(sampler, tm0, tm1)
        out["eval"] = rounds_of(poller.evals, tw0, tw1, args.groups)
        out["poll_s_median"] = med(poller.poll_s)
        out["poll_errors"] = poller.errors
        af = [x for x in poller.alerts_firing if tw0 <= x[0] <= tw1]
        out["alerts_firing_median"] = med([x[1] for x in af])
        out["alerts_pending_median"] = med([x[2] for x in af])
        if out["measured"] and out["baseline"]:
            out["rule_cpu_s_per_round"] = out["measured"]["cpu_s_per_round"] - out["baseline"]["cpu_s_per_round"]
        out["loadavg_after"] = loadavg()
    finally:
        pusher.stop_ev.set()
        if pusher.is_alive():
            pusher.join(60)
        sampler.stop()
        out["shutdown_s"] = peer.stop()
    live = [s for s in pusher.steps[args.backfill:]]
    out["push"] = {"steps": len(pusher.steps), "bad_requests": sum(s["bad"] for s in pusher.steps),
                   "errors": pusher.writer.errors[:5], "post_s_median": med([s["post_s"] for s in live]),
                   "encode_s_median": med([s["encode_s"] for s in live])}
    out["log"] = peer.log_lines()
    e = out.get("eval", {})
    log(f"eval/{peer_name}: {e.get('rounds')} rounds, round sum p50 {fmt(pct(e.get('round_sum_s', []), 50), '.3f')} s, "
        f"CPU/round {fmt(out.get('measured', {}).get('cpu_s_per_round'))} s (baseline "
        f"{fmt(out.get('baseline', {}).get('cpu_s_per_round'))}), RSS {mib(out.get('measured', {}).get('rss_median'))}, "
        f"firing {out.get('alerts_firing_median')}")
    return out


# --------------------------------------------------------------------------------------
# Part 2: alert fan-in
# --------------------------------------------------------------------------------------

class Hook:
    """The webhook receiver: every POST's arrival time (wall clock, once the body is read)."""

    def __init__(self):
        self.arrivals: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.seen: set[tuple[str, str]] = set()
        self.target = 0
        self.done = threading.Event()
        hook = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                t = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                with hook.lock:
                    hook.arrivals.append((t, payload))
                    for a in payload.get("alerts", []):
                        if a.get("status") == "firing":
                            hook.seen.add((a["labels"].get("service", ""), a["labels"].get("instance", "")))
                    if hook.target and len(hook.seen) >= hook.target:
                        hook.done.set()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, target: int) -> None:
        with self.lock:
            self.arrivals, self.seen, self.target = [], set(), target
            self.done.clear()

    def close(self) -> None:
        self.server.shutdown()


def route_yaml(hook: Hook) -> str:
    return (f"route:\n  receiver: hook\n  group_by: [service]\n  group_wait: 1s\n  group_interval: 5s\n"
            f"  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: http://127.0.0.1:{hook.port}/hook\n        send_resolved: false\n")


def fanin_alerts(n_groups: int, per_group: int) -> list[dict]:
    # No startsAt: the peer sets it on receipt. An older startsAt (e.g. the time the body was
    # built) makes both peers flush a new group at once instead of after group_wait.
    return [{"labels": {"alertname": "BenchFanIn", "service": f"svc{g:03d}", "instance": f"inst{i:03d}", "severity": "warning"},
             "annotations": {"summary": f"svc{g:03d}/inst{i:03d} is down"},
             "generatorURL": "http://127.0.0.1/bench"} for g in range(n_groups) for i in range(per_group)]


def latencies(hook: Hook, start_of) -> dict:
    """Per alert: first webhook with it - its start; per group: first webhook - the earliest start."""
    first_alert: dict[tuple[str, str], float] = {}
    first_group: dict[str, float] = {}
    last_group: dict[str, float] = {}
    first_webhook_size: dict[str, int] = {}
    batch_sizes = []
    for t, p in sorted(hook.arrivals, key=lambda x: x[0]):
        firing = [a for a in p.get("alerts", []) if a.get("status") == "firing"]
        batch_sizes.append(len(firing))
        svc = (p.get("groupLabels") or {}).get("service", "")
        first_webhook_size.setdefault(svc, len(firing))
        for a in firing:
            key = (a["labels"].get("service", ""), a["labels"].get("instance", ""))
            if key not in first_alert:
                first_alert[key] = t - start_of(a)
                last_group[key[0]] = max(last_group.get(key[0], -1e9), first_alert[key])
            first_group[key[0]] = min(first_group.get(key[0], 1e9), t - start_of(a))
    per_alert = list(first_alert.values())
    per_group = list(first_group.values())
    complete = list(last_group.values())
    return {"alerts_delivered": len(first_alert), "groups": len(first_group), "webhooks": len(hook.arrivals),
            "alerts_per_webhook_median": med(batch_sizes),
            # alerts that made their group's first webhook (the rest waited for group_interval)
            "alerts_in_first_webhooks": sum(first_webhook_size.values()),
            "alert_p50": pct(per_alert, 50), "alert_p99": pct(per_alert, 99), "alert_max": max(per_alert, default=None),
            "group_p50": pct(per_group, 50), "group_p99": pct(per_group, 99), "group_max": max(per_group, default=None),
            "group_complete_p50": pct(complete, 50), "group_complete_p99": pct(complete, 99)}


def run_fanin_api(args, peer_name: str, root: str, hook: Hook) -> dict:
    n = args.fanin_groups * args.fanin_per_group
    hook.reset(n)
    if peer_name == "pharos":
        peer = start_pharos(args, root, route_yaml(hook))
    else:
        peer = start_alertmanager(args, root, route_yaml(hook))
    sampler = Sampler(peer.proc.pid, 0.25)
    sampler.start()
    out: dict = {"peer": peer_name if peer_name == "pharos" else "alertmanager", "mode": "api",
                 "loadavg_before": loadavg()}
    try:
        body = json.dumps(fanin_alerts(args.fanin_groups, args.fanin_per_group)).encode()
        out["body_bytes"] = len(body)
        time.sleep(1.0)
        m0 = time.monotonic()
        t0 = time.time()
        st, resp = request(peer.port, "POST", "/api/v2/alerts", body,
                           {**peer.auth, "Content-Type": "application/json"}, timeout=120)
        out["post_s"] = time.time() - t0
        out["post_status"] = st
        if st != 200:
            out["post_error"] = resp[:300].decode(errors="replace")
        hook.done.wait(args.fanin_timeout)
        m1 = time.monotonic()
        time.sleep(0.5)
        out.update(latencies(hook, lambda a: t0))
        out.update({"cpu_s": cpu_rss(sampler, m0 - 0.3, m1 + 0.3).get("cpu_s"),
                    "rss_max": cpu_rss(sampler, m0 - 0.3, m1 + 0.3).get("rss_max")})
    finally:
        sampler.stop()
        peer.stop()
    out["log"] = peer.log_lines()
    return out


def run_fanin_rule(args, peer_name: str, root: str, hook: Hook) -> dict:
    n = args.fanin_groups * args.fanin_per_group
    hook.reset(n)
    rules_path = os.path.join(root, f"fanin-rules-{peer_name}.yml")
    write_rules(rules_path, [{"name": "fanin", "interval": f"{args.fanin_interval}s", "rules": [
        {"alert": "BenchFanIn", "expr": "bench_fanin > 0", "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $labels.service }}/{{ $labels.instance }} is down"}}]}])
    am = None
    if peer_name == "pharos":
        peer = start_pharos(args, root, f"global:\n  evaluation_interval: 15s\nrule_files: [{rules_path}]\n" + route_yaml(hook))
        pids = [peer.proc.pid]
    else:
        am = start_alertmanager(args, root, route_yaml(hook))
        peer = start_prometheus(args, root, (
            f"global:\n  evaluation_interval: 15s\nrule_files: [{rules_path}]\nscrape_configs: []\n"
            f"alerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs: [{{targets: ['127.0.0.1:{am.port}']}}]\n"))
        pids = [peer.proc.pid, am.proc.pid]
    samplers = [Sampler(p, 0.25) for p in pids]
    for s in samplers:
        s.start()
    out: dict = {"peer": peer_name if peer_name == "pharos" else "prometheus+alertmanager", "mode": "rule",
                 "loadavg_before": loadavg()}
    prefixes = [series_prefix({"__name__": "bench_fanin", "instance": f"inst{i:03d}", "service": f"svc{g:03d}"})
                for g in range(args.fanin_groups) for i in range(args.fanin_per_group)]
    writer = RemoteWriter(peer.port, peer.write_path, peer.auth)

    def push(v: float) -> float:
        t = time.time()
        tsb = ts_bytes(int(t * 1000))
        val = struct.pack("<d", v)
        for i in range(0, len(prefixes), args.batch):
            writer.post(b"".join(p + val + tsb for p in prefixes[i:i + args.batch]))
        return t

    try:
        push(0)
        time.sleep(args.fanin_interval + 1)
        push(0)
        time.sleep(args.fanin_interval + 1)  # at least one evaluation has seen 0 everywhere
        m0 = time.monotonic()
        out["flip_at"] = push(1)
        hook.done.wait(args.fanin_timeout)
        m1 = time.monotonic()
        time.sleep(0.5)
        out.update(latencies(hook, lambda a: parse_time(a.get("startsAt", "")) or out["flip_at"]))
        out["from_flip"] = latencies(hook, lambda a: out["flip_at"])
        out["cpu_s"] = sum(cpu_rss(s, m0 - 0.3, m1 + 0.3).get("cpu_s") or 0 for s in samplers)
        out["rss_max"] = sum(cpu_rss(s, m0 - 0.3, m1 + 0.3).get("rss_max") or 0 for s in samplers)
    finally:
        writer.close()
        for s in samplers:
            s.stop()
        peer.stop()
        if am:
            am.stop()
    out["push_errors"] = writer.errors[:5]
    out["log"] = peer.log_lines() + (am.log_lines() if am else [])
    return out


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

def report(runs: list[dict], env: dict) -> str:
    L = [f"Machine: {env.get('cpus')} CPUs, {env.get('kernel')}, Python {env.get('python')}, snappy {env.get('snappy')}; "
         f"started {env.get('started')}", ""]
    ev = {"pharos": [], "prometheus": []}
    fan: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        for r in run.get("eval", []):
            ev[r["peer"]].append(r)
        for r in run.get("fanin", []):
            fan.setdefault((r["mode"], r["peer"]), []).append(r)
    if ev["pharos"] or ev["prometheus"]:
        L += ["### Rule evaluation: 1,000 rules (50 groups) over 100,000 series, every 15 s", "",
              "Per run: p50/p99 over the measured rounds; the table: median over runs (each run's value in brackets).", "",
              "| | Pharos | Prometheus | Pharos/Prometheus |", "| --- | --- | --- | --- |"]

        def row(label, f, spec=".3f", unit=""):
            a = [f(r) for r in ev["pharos"]]
            b = [f(r) for r in ev["prometheus"]]
            each = lambda xs: ", ".join(fmt(x, spec) for x in xs)  # noqa: E731
            L.append(f"| {label} | {fmt(med(a), spec)}{unit} ({each(a)}) | {fmt(med(b), spec)}{unit} ({each(b)}) | "
                     f"{ratio(med(a), med(b))} |")

        row("eval time per round (sum of groups), p50 s", lambda r: pct(r["eval"]["round_sum_s"], 50))
        row("eval time per round (sum of groups), p99 s", lambda r: pct(r["eval"]["round_sum_s"], 99))
        row("slowest group per round, p50 s", lambda r: pct(r["eval"]["round_max_group_s"], 50))
        row("one group's evaluation, p99 s", lambda r: r["eval"]["group_eval_s_p99"])
        row("CPU s per 15 s round, rules + ingest", lambda r: r["measured"]["cpu_s_per_round"], ".2f")
        row("CPU s per 15 s round, ingest only (before the rules)", lambda r: r["baseline"]["cpu_s_per_round"], ".2f")
        row("CPU s per round for the rules (difference)", lambda r: r.get("rule_cpu_s_per_round"), ".2f")
        row("RSS median with rules, MiB", lambda r: r["measured"]["rss_median"] / 2**20, ".0f")
        row("RSS max with rules, MiB", lambda r: r["measured"]["rss_max"] / 2**20, ".0f")
        row("RSS before the rules, MiB", lambda r: r["baseline"]["rss_median"] / 2**20, ".0f")
        row("alerts firing (median of polls)", lambda r: r.get("alerts_firing_median"), ".0f")
        row("rounds measured", lambda r: r["eval"]["rounds"], ".0f")
        row("GET /api/v1/rules, median s", lambda r: r.get("poll_s_median"))
        L.append("")
    if fan:
        L += ["### Alert fan-in: 10,000 alerts into 100 groups (group_by service, group_wait 1s)", "",
              "Latency in seconds; median over runs (each run in brackets).", "",
              "| mode | peer | runs | per alert p50 | per alert p99 | per group (first webhook) p50 | p99 | "
              "all alerts of a group p99 | delivered | in the groups' first webhooks | webhooks | peer CPU s | peer max RSS |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for (mode, peer), rs in sorted(fan.items()):
            each = lambda k: f"{fmt(med([r.get(k) for r in rs]), '.3f')} ({', '.join(fmt(r.get(k), '.3f') for r in rs)})"  # noqa: E731
            L.append(f"| {mode} | {peer} | {len(rs)} | {each('alert_p50')} | {each('alert_p99')} | {each('group_p50')} | "
                     f"{each('group_p99')} | {each('group_complete_p99')} | "
                     f"{'/'.join(str(r.get('alerts_delivered')) for r in rs)} | "
                     f"{'/'.join(str(r.get('alerts_in_first_webhooks', '?')) for r in rs)} | {med([r.get('webhooks') for r in rs])} | "
                     f"{fmt(med([r.get('cpu_s') for r in rs]))} | {mib(med([r.get('rss_max') for r in rs]))} |")
        L.append("")
        for mode in ("api", "rule"):
            peers = sorted(p for m, p in fan if m == mode)
            if "pharos" in peers and len(peers) == 2:
                other = [p for p in peers if p != "pharos"][0]
                a, b = fan[(mode, "pharos")], fan[(mode, other)]
                L.append(f"- {mode}: Pharos/{other} per alert p99 "
                         f"{ratio(med([r.get('alert_p99') for r in a]), med([r.get('alert_p99') for r in b]))}, "
                         f"per group p99 {ratio(med([r.get('group_p99') for r in a]), med([r.get('group_p99') for r in b]))}, "
                         f"CPU {ratio(med([r.get('cpu_s') for r in a]), med([r.get('cpu_s') for r in b]))}")
        L.append("")
    return "\n".join(L)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", nargs="?", default="run", choices=["run", "report"])
    p.add_argument("--json-in", nargs="*", default=[])
    p.add_argument("--parts", default="eval,fanin", help="eval, fanin or both")
    p.add_argument("--peers", default="pharos,prometheus", help="eval: pharos,prometheus; fan-in: pharos and its peers")
    p.add_argument("--fanin-modes", default="api,rule")
    p.add_argument("--repeat", type=int, default=1, help="runs of everything; the order of the peers alternates")
    p.add_argument("--fanin-repeat", type=int, default=1, help="fan-in runs per peer and mode within one run")
    p.add_argument("--groups", type=int, default=50, help="rule groups of 20 rules")
    p.add_argument("--backfill", type=int, default=40, help="15 s steps of history pushed at the start")
    p.add_argument("--baseline", type=float, default=2, help="rounds of ingest alone before the rules")
    p.add_argument("--warmup", type=float, default=4, help="rounds after loading the rules before measuring")
    p.add_argument("--rounds", type=float, default=8, help="rounds measured")
    p.add_argument("--poll", type=float, default=5, help="seconds between two GET /api/v1/rules")
    p.add_argument("--batch", type=int, default=2000, help="series per remote_write request")
    p.add_argument("--fanin-groups", type=int, default=100)
    p.add_argument("--fanin-per-group", type=int, default=100)
    p.add_argument("--fanin-interval", type=int, default=5, help="seconds between evaluations of the fan-in rule")
    p.add_argument("--fanin-timeout", type=float, default=90)
    p.add_argument("--workdir", default=None)
    p.add_argument("--json-out")
    p.add_argument("--md-out")
    p.add_argument("--pharos-bin", default=os.environ.get("PHAROS_BIN", os.path.join(REPO, "target/release/pharos")))
    p.add_argument("--prometheus-bin", default=os.environ.get("PROMETHEUS_BIN", shutil.which("prometheus") or "prometheus"))
    p.add_argument("--alertmanager-bin", default=os.environ.get(
        "ALERTMANAGER_BIN", shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "alertmanager"))
    args = p.parse_args()
    if args.cmd == "report":
        runs, env = [], {}
        for path in args.json_in:
            with open(path) as f:
                d = json.load(f)
            env = env or d["env"]
            runs += d["runs"]
        md = report(runs, env)
        print(md)
        if args.md_out:
            with open(args.md_out, "w") as f:
                f.write(md + "\n")
        return
    env = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version(),
           "snappy": SNAPPY, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "pharos_bin": args.pharos_bin}
    for name, b in (("prometheus", args.prometheus_bin), ("alertmanager", args.alertmanager_bin)):
        try:
            o = subprocess.run([b, "--version"], capture_output=True, text=True, timeout=10)
            env[name] = ((o.stdout or o.stderr).strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            env[name] = None
    root = args.workdir or tempfile.mkdtemp(prefix="abench-")
    os.makedirs(root, exist_ok=True)
    parts = args.parts.split(",")
    peers = [x for x in args.peers.split(",") if x]
    wl = None
    if "eval" in parts:
        t = time.monotonic()
        wl = Workload(t0=time.time() - 3600)
        log(f"100,000 series built in {time.monotonic() - t:.1f} s; snappy: {SNAPPY}; work dir {root}")
    hook = Hook() if "fanin" in parts else None
    runs = []
    try:
        for i in range(args.repeat):
            order = peers if i % 2 == 0 else peers[::-1]
            run: dict = {"eval": [], "fanin": []}
            if "eval" in parts:
                for name in order:
                    run["eval"].append(run_eval(args, name, root, wl))
            if "fanin" in parts:
                for mode in args.fanin_modes.split(","):
                    for _ in range(args.fanin_repeat):
                        for name in order:
                            log(f"fanin/{mode}/{name}: run {i + 1} (load average {loadavg()})")
                            r = (run_fanin_api if mode == "api" else run_fanin_rule)(args, name, root, hook)
                            log(f"fanin/{mode}/{r['peer']}: {r.get('alerts_delivered')} alerts in {r.get('webhooks')} webhooks, "
                                f"per alert p50 {fmt(r.get('alert_p50'), '.3f')} p99 {fmt(r.get('alert_p99'), '.3f')} s, "
                                f"per group p99 {fmt(r.get('group_p99'), '.3f')} s")
                            run["fanin"].append(r)
            runs.append(run)
            if args.json_out:
                with open(args.json_out, "w") as f:
                    json.dump({"env": env, "runs": runs}, f, indent=1, default=str)
    finally:
        if hook:
            hook.close()
    md = report(runs, env)
    print(md)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    main()
