#!/usr/bin/env python3
"""Pharos probe-load benchmark: N HTTP monitors at a fixed interval against a local target.

One invocation runs, one after the other on the same loopback target:

  1. Pharos with N HTTP monitors (default 10,000 at 30 s). After one interval of warm-up
     it measures, for --duration seconds: probes per second, CPU (seconds per 1000 probes
     and share of one core), resident memory, schedule lateness (p99, from Pharos's own
     histogram and from the arrival times the target saw), then times the overview page,
     the status page and the monitors API while the probes go on.
  2. prometheus-blackbox-exporter (if installed) driven with the same load: N targets every
     interval, spread evenly, each a `GET /probe?module=http_2xx&target=...` from a Python
     driver in its own process. Only blackbox's own CPU and memory are counted, never the
     driver's.

It prints a Markdown summary with the Pharos/blackbox ratios and can write all numbers as
JSON (--json-out). Everything listens on 127.0.0.1 and every phase stops by itself.

Usage:
  python3 bench/monitors.py --monitors 10000 --interval 30 --duration 180
  PHAROS_BIN=target/release/pharos python3 bench/monitors.py --monitors 500 --duration 60

Subcommands used internally (each runs as its own process):
  monitors.py target --port P          the HTTP target ({"status":"healthy"})
  monitors.py drive-blackbox ...       the load driver for blackbox
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import med, pct  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ADMIN_TOKEN = "bench-admin-token-0123456789"
HEALTH_BODY = b'{"status":"healthy"}'


# --------------------------------------------------------------------------------------
# The target: a raw asyncio HTTP/1.1 keep-alive server, one process, stdlib only.
# It records the arrival time (CLOCK_MONOTONIC, comparable across processes) and the
# monitor index `i` of every /health request, and the time of every new connection.
# --------------------------------------------------------------------------------------

class _TargetState:
    def __init__(self) -> None:
        self.t = array("d")
        self.i = array("l")
        self.conn_t = array("d")
        self.served = 0


_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(HEALTH_BODY)).encode()
    + b"\r\n\r\n"
    + HEALTH_BODY
)


class _TargetProtocol(asyncio.Protocol):
    state: _TargetState

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport
        self.buf = b""
        self.state.conn_t.append(time.monotonic())

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            buf = buf[end + 4:]
            line_end = head.find(b"\r\n")
            line = head if line_end < 0 else head[:line_end]
            parts = line.split(b" ")
            target = parts[1] if len(parts) > 1 else b"/"
            close = b"connection: close" in head.lower()
            if target.startswith(b"/health"):
                now = time.monotonic()
                idx = -1
                q = target.find(b"i=")
                if q >= 0:
                    num = target[q + 2:]
                    amp = num.find(b"&")
                    if amp >= 0:
                        num = num[:amp]
                    try:
                        idx = int(num)
                    except ValueError:
                        idx = -1
                st = self.state
                st.t.append(now)
                st.i.append(idx)
                st.served += 1
                self.transport.write(_RESPONSE)
            elif target.startswith(b"/_dump"):
                self.transport.write(self._dump(target))
            elif target.startswith(b"/_count"):
                body = json.dumps({"served": self.state.served, "connections": len(self.state.conn_t)}).encode()
                self.transport.write(_json_response(body))
            else:
                self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            if close:
                self.transport.close()
                return
        self.buf = buf

    def _dump(self, target: bytes) -> bytes:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(target.decode()).query)
        t0 = float(q.get("t0", ["0"])[0])
        t1 = float(q.get("t1", ["1e18"])[0])
        st = self.state
        ts, idx = [], []
        for k in range(len(st.t)):
            tk = st.t[k]
            if t0 <= tk < t1:
                ts.append(round(tk, 6))
                idx.append(st.i[k])
        conns = sum(1 for c in st.conn_t if t0 <= c < t1)
        body = json.dumps({"t": ts, "i": idx, "connections": conns}).encode()
        return _json_response(body)


def _json_response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def target_main(port: int) -> None:
    raise_nofile()
    state = _TargetState()
    _TargetProtocol.state = state

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        backlog = 4096
        try:
            with open("/proc/sys/net/core/somaxconn") as f:
                backlog = max(128, int(f.read().strip()))
        except OSError:
            pass
        server = await loop.create_server(_TargetProtocol, "127.0.0.1", port, backlog=backlog, reuse_address=True)
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
        loop.add_signal_handler(signal.SIGINT, lambda: stop.done() or stop.set_result(None))
        print("ready", flush=True)
        await stop
        server.close()

    asyncio.run(serve())


# --------------------------------------------------------------------------------------
# The blackbox driver: N targets every interval, spread evenly (target k at phase
# k*interval/N), each a GET /probe on a keep-alive connection pool to blackbox.
# Writes raw (scheduled, sent, done, ok) arrays as JSON to --out.
# --------------------------------------------------------------------------------------

async def _read_http_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    close = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        v = v.strip()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
        elif k == b"connection" and v.lower() == b"close":
            close = True
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, bytes(body), close
    if length is not None:
        return status, await reader.readexactly(length), close
    return status, await reader.read(), True


async def _drive(args: argparse.Namespace) -> dict:
    n, interval = args.monitors, args.interval
    step = interval / n
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    sched = array("d")
    sent = array("d")
    done = array("d")
    ok = array("b")
    errors: dict[str, int] = {}
    inflight: set[asyncio.Task] = set()
    max_inflight = 0

    async def probe(k: int, t_sched: float) -> None:
        t_sent = time.monotonic()
        target = f"http://127.0.0.1:{args.target_port}/health?i={k}"
        path = "/probe?module=http_2xx&target=" + urllib.parse.quote(target, safe="")
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{args.bb_port}\r\n\r\n".encode()
        success = False
        conn = None
        try:
            conn = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", args.bb_port)
            reader, writer = conn
            writer.write(req)
            status, body, close = await asyncio.wait_for(_read_http_response(reader), 30)
            success = status == 200 and b"\nprobe_success 1" in body
            if not success:
                key = f"status {status}" if status != 200 else "probe_success 0"
                errors[key] = errors.get(key, 0) + 1
            if close:
                writer.close()
            else:
                pool.append(conn)
        except Exception as e:  # noqa: BLE001 - counted and reported
            key = type(e).__name__
            errors[key] = errors.get(key, 0) + 1
            if conn is not None:
                conn[1].close()
        sched.append(t_sched)
        sent.append(t_sent)
        done.append(time.monotonic())
        ok.append(1 if success else 0)

    j = 0
    start, end = args.start_at, args.end_at
    while True:
        t = start + j * step
        if t >= end:
            break
        now = time.monotonic()
        if t > now:
            await asyncio.sleep(t - now)
        now = time.monotonic()
        while j * step + start <= now and start + j * step < end:
            task = asyncio.create_task(probe(j % n, start + j * step))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
            j += 1
        max_inflight = max(max_inflight, len(inflight))
    if inflight:
        await asyncio.wait(inflight, timeout=20)
    for _, w in pool:
        w.close()
    return {
        "sched": list(sched),
        "sent": list(sent),
        "done": list(done),
        "ok": list(ok),
        "errors": errors,
        "max_inflight": max_inflight,
        "issued": j,
    }


def drive_main(args: argparse.Namespace) -> None:
    raise_nofile()
    result = asyncio.run(_drive(args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["driver_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    with open(args.out, "w") as f:
        json.dump(result, f)


# --------------------------------------------------------------------------------------
# Helpers: ports, /proc, HTTP, Prometheus text (percentiles: benchlib.pct).
# --------------------------------------------------------------------------------------

def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_sample(pid: int) -> dict | None:
    """CPU seconds (user+system), resident bytes and threads of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime is field 14, stime 15, num_threads 20, rss 24.
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        threads = int(fields[17])
        rss = int(fields[21]) * PAGE_SIZE
        return {"t": time.monotonic(), "cpu": cpu, "rss": rss, "threads": threads}
    except (OSError, ValueError, IndexError):
        return None


def http_get(port: int, path: str, token: str | None = None, timeout: float = 60.0) -> tuple[int, bytes, float]:
    """One GET on a new connection; returns (status, body, seconds)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, time.perf_counter() - t
    finally:
        conn.close()


def parse_prom(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format to {metric: [(labels, value)]}, enough for our metrics."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_s, value_s = rest.rsplit("}", 1)
            labels = {}
            for part in _split_labels(labels_s):
                k, _, v = part.partition("=")
                labels[k.strip()] = v.strip().strip('"')
        else:
            name, value_s = line.split(None, 1)
            labels = {}
        try:
            value = float(value_s.split()[0])
        except (ValueError, IndexError):
            continue
        out.setdefault(name.strip(), []).append((labels, value))
    return out


def _split_labels(s: str) -> list[str]:
    parts, cur, quoted = [], "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def metric_sum(m: dict, name: str, **match: str) -> float:
    return sum(v for labels, v in m.get(name, []) if all(labels.get(k) == x for k, x in match.items()))


def histogram(m: dict, name: str) -> list[tuple[float, float]]:
    """Cumulative buckets [(le, count)] summed over label sets, sorted by le."""
    acc: dict[float, float] = {}
    for labels, v in m.get(name + "_bucket", []):
        le = math.inf if labels["le"] in ("+Inf", "Inf") else float(labels["le"])
        acc[le] = acc.get(le, 0.0) + v
    return sorted(acc.items())


def hist_delta(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    da = dict(a)
    return [(le, c - da.get(le, 0.0)) for le, c in b]


def hist_quantile(buckets: list[tuple[float, float]], q: float) -> tuple[float | None, str]:
    """Quantile from cumulative buckets, linear within the bucket (as Prometheus does).
    Returns (value, note); value None when there are no observations; note says the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None, "no observations"
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if math.isinf(le):
                return prev_le, f"> {prev_le:g} s (in the +Inf bucket)"
            frac = 0.0 if c == prev_c else (rank - prev_c) / (c - prev_c)
            return prev_le + (le - prev_le) * frac, f"bucket {prev_le:g}-{le:g} s"
        prev_le, prev_c = le, c
    return None, "?"


def fmt(v: float | None, spec: str = ".1f", unit: str = "") -> str:
    if v is None:
        return "n/a"
    return f"{v:{spec}}{unit}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def sleep_until(t: float) -> None:
    while True:
        d = t - time.monotonic()
        if d <= 0:
            return
        time.sleep(min(d, 1.0))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dir_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def stop_process(p: subprocess.Popen, grace: float = 30.0) -> float | None:
    """SIGTERM, wait up to `grace`, then SIGKILL. Returns seconds to exit after SIGTERM
    (None when it had to be killed)."""
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


# --------------------------------------------------------------------------------------
# Window measurement shared by both peers.
# --------------------------------------------------------------------------------------

def measure(pid: int, t0: float, t1: float, sub: float, on_boundary) -> dict:
    """Samples the process once a second between t0 and t1 and calls on_boundary() at
    t0, t0+sub, ..., t1. Returns the /proc samples and the boundary snapshots."""
    samples: list[dict] = []
    bounds: list[dict] = []
    n_sub = max(1, int(round((t1 - t0) / sub)))
    planned = [t0 + k * (t1 - t0) / n_sub for k in range(n_sub + 1)]
    nxt = 0
    next_sample = t0
    while nxt < len(planned):
        now = time.monotonic()
        if now >= planned[nxt]:
            snap = {"t": time.monotonic(), "proc": proc_sample(pid)}
            snap.update(on_boundary())
            bounds.append(snap)
            nxt += 1
            continue
        if now >= next_sample:
            s = proc_sample(pid)
            if s:
                samples.append(s)
            next_sample += 1.0
            continue
        time.sleep(max(0.0, min(planned[nxt], next_sample) - time.monotonic()))
    return {"samples": samples, "bounds": bounds}


def arrival_stats(dump: dict, t0: float, t1: float, interval: float, sub: float) -> dict:
    """What the target saw in [t0, t1): rate, burstiness, per-monitor interval error."""
    ts, idx = dump["t"], dump["i"]
    n = len(ts)
    dur = t1 - t0
    per_sec: dict[int, int] = {}
    for t in ts:
        per_sec[int(t - t0)] = per_sec.get(int(t - t0), 0) + 1
    secs = [per_sec.get(k, 0) for k in range(int(dur))]
    last: dict[int, float] = {}
    errs: list[float] = []
    for t, i in zip(ts, idx):
        if i in last:
            errs.append(abs((t - last[i]) - interval))
        last[i] = t
    n_sub = max(1, int(round(dur / sub)))
    sub_rates = []
    for k in range(n_sub):
        a, b = t0 + k * dur / n_sub, t0 + (k + 1) * dur / n_sub
        sub_rates.append(sum(1 for t in ts if a <= t < b) / (b - a))
    return {
        "requests": n,
        "rate": n / dur if dur > 0 else None,
        "rate_median_window": med(sub_rates),
        "per_second_median": med(secs) if secs else None,
        "per_second_max": max(secs) if secs else None,
        "per_second_min": min(secs) if secs else None,
        "per_second_p99": pct(secs, 99),
        # An even spread has requests in every second; a burst in a few.
        "busy_seconds_fraction": (sum(1 for c in secs if c > 0) / len(secs)) if secs else None,
        "monitors_seen": len(last),
        "interval_error_p50": pct(errs, 50),
        "interval_error_p99": pct(errs, 99),
        "interval_error_max": max(errs) if errs else None,
        "intervals": len(errs),
        "new_connections": dump.get("connections"),
    }


def proc_stats(samples: list[dict], bounds: list[dict], probes_at_bounds: list[float]) -> dict:
    """CPU and memory numbers from boundary snapshots and 1 s samples."""
    rss = [s["rss"] for s in samples]
    threads = [s["threads"] for s in samples]
    per_sub_cpu_per_1k, per_sub_cores, per_sub_rate = [], [], []
    for a, b, pa, pb in zip(bounds, bounds[1:], probes_at_bounds, probes_at_bounds[1:]):
        if not (a["proc"] and b["proc"]):
            continue
        dcpu = b["proc"]["cpu"] - a["proc"]["cpu"]
        dt = b["t"] - a["t"]
        dp = pb - pa
        per_sub_cores.append(dcpu / dt)
        per_sub_rate.append(dp / dt)
        if dp > 0:
            per_sub_cpu_per_1k.append(dcpu / dp * 1000)
    first, last = bounds[0], bounds[-1]
    total_cpu = last["proc"]["cpu"] - first["proc"]["cpu"] if first["proc"] and last["proc"] else None
    total_dt = last["t"] - first["t"]
    total_probes = probes_at_bounds[-1] - probes_at_bounds[0]
    # 1-second CPU samples show bursts that a 30 s average hides.
    one_sec = [
        (b["cpu"] - a["cpu"]) / (b["t"] - a["t"])
        for a, b in zip(samples, samples[1:])
        if b["t"] > a["t"]
    ]
    return {
        "probes": total_probes,
        "seconds": total_dt,
        "probes_per_s": total_probes / total_dt if total_dt else None,
        "probes_per_s_median_window": med(per_sub_rate),
        "cpu_seconds": total_cpu,
        "cores": total_cpu / total_dt if total_cpu is not None and total_dt else None,
        "cores_median_window": med(per_sub_cores),
        "cores_1s_max": max(one_sec) if one_sec else None,
        "cores_1s_p95": pct(one_sec, 95),
        "cpu_s_per_1k": (total_cpu / total_probes * 1000) if total_cpu is not None and total_probes else None,
        "cpu_s_per_1k_median_window": med(per_sub_cpu_per_1k),
        "cpu_s_per_1k_windows": per_sub_cpu_per_1k,
        "rss_median": med(rss),
        "rss_max": max(rss) if rss else None,
        "threads_median": med(threads),
        "threads_max": max(threads) if threads else None,
        "windows": len(per_sub_rate),
    }


# --------------------------------------------------------------------------------------
# Phase 1: Pharos.
# --------------------------------------------------------------------------------------

def write_pharos_config(path: str, n: int, interval: int, target_port: int, assertions: bool) -> None:
    with open(path, "w") as f:
        f.write("# generated by bench/monitors.py\nmonitors:\n")
        for k in range(n):
            f.write(
                f'  - name: "m{k:05d}"\n    interval: {interval}s\n    http:\n'
                f'      url: "http://127.0.0.1:{target_port}/health?i={k}"\n      timeout: 10s\n'
            )
            if assertions:
                f.write("      json_assertions: ['status == \"healthy\"']\n")


def start_pharos(args, workdir: str, config: str, data_dir: str, port: int, log_path: str) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ)
    env.update(PHAROS_ADMIN_TOKEN=ADMIN_TOKEN, PHAROS_LOG_FORMAT="json", PHAROS_LOG="warn")
    logf = open(log_path, "ab")
    t = time.monotonic()
    p = subprocess.Popen(
        [args.pharos_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--config", config],
        stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=workdir,
    )
    deadline = t + args.startup_timeout
    while True:
        if p.poll() is not None:
            raise RuntimeError(f"pharos exited with {p.returncode} during startup; see {log_path}")
        try:
            status, _, _ = http_get(port, "/health/live", timeout=2)
            if status == 200:
                return p, time.monotonic() - t
        except OSError:
            pass
        if time.monotonic() > deadline:
            p.kill()
            raise RuntimeError(f"pharos not live after {args.startup_timeout}s; see {log_path}")
        time.sleep(0.1)


def time_pages(port: int, n: int, rounds: int, span: float) -> dict:
    """Times each page `rounds` times, interleaved, while the probes go on. Rounds start
    evenly over `span` seconds (one interval), so they see every part of the schedule."""
    t_start = time.monotonic()
    last = max(0, n - 100)
    endpoints = [
        ("overview `/` (auth)", "/"),
        ("status page `/status`", "/status"),
        ("API first page (limit=100)", "/api/v1/monitors?limit=100&offset=0"),
        (f"API last page (limit=100, offset={last})", f"/api/v1/monitors?limit=100&offset={last}"),
        ("API limit=1000", "/api/v1/monitors?limit=1000&offset=0"),
        ("`/metrics`", "/metrics"),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in endpoints}
    info: dict[str, dict] = {name: {} for name, _ in endpoints}
    walk_times: list[float] = []
    walk_total = None
    for r in range(rounds):
        sleep_until(t_start + r * span / rounds)
        for name, path in endpoints:
            try:
                status, body, dt = http_get(port, path, ADMIN_TOKEN, timeout=120)
            except OSError as e:
                info[name].setdefault("errors", []).append(repr(e))
                continue
            times[name].append(dt)
            i = info[name]
            i["status"] = status
            i["bytes"] = len(body)
            if r == 0:
                i["first"] = dt
            if path.startswith("/api/") and status == 200:
                j = json.loads(body)
                i["total"] = j.get("total")
                i["returned"] = len(j.get("monitors", []))
            if path == "/" and status == 200:
                i["svg"] = body.count(b"<svg")
            time.sleep(0.1)
        # Every monitor through the API, 1000 at a time.
        t = time.perf_counter()
        seen, offset = 0, 0
        while True:
            try:
                status, body, _ = http_get(port, f"/api/v1/monitors?limit=1000&offset={offset}", ADMIN_TOKEN, timeout=120)
            except OSError:
                break
            if status != 200:
                break
            got = len(json.loads(body).get("monitors", []))
            seen += got
            offset += 1000
            if got < 1000:
                break
        walk_times.append(time.perf_counter() - t)
        walk_total = seen
        time.sleep(0.1)
    out = {}
    for name, _ in endpoints:
        ts = times[name]
        out[name] = {"median": med(ts), "p95": pct(ts, 95), "max": max(ts) if ts else None, "n": len(ts), **info[name]}
    out["API walk of all monitors (limit=1000 pages)"] = {
        "median": med(walk_times), "p95": pct(walk_times, 95), "max": max(walk_times) if walk_times else None,
        "n": len(walk_times), "total": walk_total,
    }
    return out


def run_pharos(args, workdir: str, target_port: int) -> dict:
    pdir = os.path.join(workdir, "pharos")
    os.makedirs(pdir)
    config = os.path.join(pdir, "pharos.yaml")
    data_dir = os.path.join(pdir, "data")
    log_path = os.path.join(pdir, "pharos.log")
    write_pharos_config(config, args.monitors, args.interval, target_port, args.json_assertions)
    port = free_port()
    result: dict = {"port": port, "start_mode": args.start}

    if args.start == "restart":
        log("pharos: first start (stores the monitors), then stop and start again")
        p, ready = start_pharos(args, pdir, config, data_dir, port, log_path)
        result["first_start_ready_s"] = ready
        time.sleep(2)
        stop_process(p)
        port = free_port()
        result["port"] = port

    log(f"pharos: starting {args.pharos_bin} with {args.monitors} monitors")
    p, ready = start_pharos(args, pdir, config, data_dir, port, log_path)
    result["ready_s"] = ready
    result["pid"] = p.pid
    log(f"pharos: live after {ready:.2f}s (pid {p.pid}); warming up {args.warmup}s")
    t_start = time.monotonic() - ready
    try:
        rss_warm = []
        t0 = time.monotonic() + args.warmup
        while time.monotonic() < t0:
            s = proc_sample(p.pid)
            if s:
                rss_warm.append(s["rss"])
            time.sleep(1)
        t1 = t0 + args.duration

        def snap() -> dict:
            status, body, dt = http_get(port, "/metrics", timeout=60)
            m = parse_prom(body.decode())
            return {
                "probes": metric_sum(m, "pharos_probes_total"),
                "probes_up": metric_sum(m, "pharos_probes_total", outcome="up"),
                "lateness": histogram(m, "pharos_probe_schedule_lateness_seconds"),
                "duration": histogram(m, "pharos_probe_duration_seconds"),
                "metrics_rss": metric_sum(m, "process_resident_memory_bytes"),
                "metrics_cpu": metric_sum(m, "process_cpu_seconds_total"),
                "outcomes": {l.get("outcome", "?"): v for l, v in m.get("pharos_probes_total", [])},
                "scrape_s": dt,
            }

        log(f"pharos: measuring {args.duration}s")
        du_before = dir_bytes(data_dir)
        w = measure(p.pid, t0, t1, args.interval, snap)
        du_after = dir_bytes(data_dir)
        bounds = w["bounds"]
        probes = [b["probes"] for b in bounds]
        result.update(proc_stats(w["samples"], bounds, probes))
        result["rss_warmup_max"] = max(rss_warm) if rss_warm else None
        late = hist_delta(bounds[0]["lateness"], bounds[-1]["lateness"])
        dur = hist_delta(bounds[0]["duration"], bounds[-1]["duration"])
        result["lateness_p50"], _ = hist_quantile(late, 0.50)
        result["lateness_p99"], result["lateness_p99_note"] = hist_quantile(late, 0.99)
        result["lateness_buckets"] = late
        result["lateness_p99_windows"] = [
            hist_quantile(hist_delta(a["lateness"], b["lateness"]), 0.99)[0] for a, b in zip(bounds, bounds[1:])
        ]
        result["lateness_p99_median_window"] = med(result["lateness_p99_windows"])
        # Lateness since start (includes the first interval) shows the first-check burst.
        result["lateness_p99_since_start"], result["lateness_p99_since_start_note"] = hist_quantile(bounds[-1]["lateness"], 0.99)
        result["duration_p50"], _ = hist_quantile(dur, 0.50)
        result["duration_p99"], result["duration_p99_note"] = hist_quantile(dur, 0.99)
        outcomes_a, outcomes_b = bounds[0]["outcomes"], bounds[-1]["outcomes"]
        result["outcomes"] = {k: outcomes_b.get(k, 0) - outcomes_a.get(k, 0) for k in outcomes_b}
        result["metrics_rss_end"] = bounds[-1]["metrics_rss"]
        result["data_dir_growth_bytes"] = du_after - du_before
        result["data_dir_bytes"] = du_after
        result["t0"], result["t1"] = t0, t1

        log(f"pharos: timing pages ({args.page_samples} rounds) while probes go on")
        tp = time.monotonic()
        cpu_a = proc_sample(p.pid)
        result["pages"] = time_pages(port, args.monitors, args.page_samples, args.interval)
        cpu_b = proc_sample(p.pid)
        result["pages_seconds"] = time.monotonic() - tp
        if cpu_a and cpu_b:
            result["pages_phase_cores"] = (cpu_b["cpu"] - cpu_a["cpu"]) / (cpu_b["t"] - cpu_a["t"])
        result["alive_at_end"] = p.poll() is None
    finally:
        result["shutdown_s"] = stop_process(p)
        result["wall_s"] = time.monotonic() - t_start
    # Pharos's warnings and errors (JSON lines at PHAROS_LOG=warn).
    levels: dict[str, int] = {}
    examples: list[str] = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                try:
                    lvl = json.loads(line).get("level", "?")
                except json.JSONDecodeError:
                    lvl = "text"
                levels[lvl] = levels.get(lvl, 0) + 1
                if len(examples) < 5:
                    examples.append(line.strip()[:300])
    except OSError:
        pass
    result["log_levels"] = levels
    result["log_examples"] = examples
    return result


# --------------------------------------------------------------------------------------
# Phase 2: prometheus-blackbox-exporter.
# --------------------------------------------------------------------------------------

def find_blackbox(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for name in ("prometheus-blackbox-exporter", "blackbox_exporter"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run_blackbox(args, workdir: str, target_port: int, bb_bin: str) -> dict:
    bdir = os.path.join(workdir, "blackbox")
    os.makedirs(bdir)
    cfg = os.path.join(bdir, "blackbox.yml")
    http_opts = "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
    if args.json_assertions:
        http_opts += "      fail_if_body_not_matches_regexp: ['\"status\":\\s*\"healthy\"']\n"
    with open(cfg, "w") as f:
        f.write(f"modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n    http:\n{http_opts}")
    port = free_port()
    log_path = os.path.join(bdir, "blackbox.log")
    logf = open(log_path, "ab")
    vr = subprocess.run([bb_bin, "--version"], capture_output=True, text=True)
    version = (vr.stdout + vr.stderr).strip().splitlines()[:1]
    p = subprocess.Popen(
        [bb_bin, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=logf, stderr=subprocess.STDOUT, cwd=bdir,
    )
    result: dict = {"port": port, "pid": p.pid, "version": version[0] if version else "?"}
    driver = None
    try:
        deadline = time.monotonic() + 30
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"blackbox exited with {p.returncode}; see {log_path}")
            try:
                if http_get(port, "/-/healthy", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("blackbox not healthy after 30s")
            time.sleep(0.1)
        start_at = time.monotonic() + 1.0
        t0 = start_at + args.warmup
        t1 = t0 + args.duration
        # The driver keeps going a little past t1 so probes completing at t1 are steady-state.
        end_at = t1 + min(5.0, args.interval)
        out = os.path.join(bdir, "driver.json")
        driver = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "drive-blackbox",
             "--bb-port", str(port), "--target-port", str(target_port),
             "--monitors", str(args.monitors), "--interval", str(args.interval),
             "--start-at", repr(start_at), "--end-at", repr(end_at), "--out", out],
        )
        result["driver_pid"] = driver.pid
        log(f"blackbox: {result['version']} pid {p.pid}; driver pid {driver.pid}; warming up {args.warmup}s")
        rss_warm = []
        while time.monotonic() < t0:
            s = proc_sample(p.pid)
            if s:
                rss_warm.append(s["rss"])
            time.sleep(1)
        log(f"blackbox: measuring {args.duration}s")
        drv_cpu: list[dict] = []

        def snap() -> dict:
            drv_cpu.append(proc_sample(driver.pid) or {})
            return {}

        w = measure(p.pid, t0, t1, args.interval, snap)
        driver.wait(timeout=args.interval + 60)
        with open(out) as f:
            d = json.load(f)
        bounds = w["bounds"]
        done = d["done"]
        probes = [sum(1 for x in done if x < b["t"]) for b in bounds]
        result.update(proc_stats(w["samples"], bounds, probes))
        result["rss_warmup_max"] = max(rss_warm) if rss_warm else None
        a, b = bounds[0]["t"], bounds[-1]["t"]
        inwin = [k for k, x in enumerate(done) if a <= x < b]
        result["probes_ok"] = sum(d["ok"][k] for k in inwin)
        result["probes_failed"] = len(inwin) - result["probes_ok"]
        lat = [d["done"][k] - d["sent"][k] for k in inwin]
        late = [d["sent"][k] - d["sched"][k] for k in inwin]
        result["duration_p50"] = pct(lat, 50)
        result["duration_p99"] = pct(lat, 99)
        result["driver_lateness_p99"] = pct(late, 99)
        result["driver_max_inflight"] = d["max_inflight"]
        result["driver_errors"] = d["errors"]
        result["driver_cpu_seconds_total"] = d.get("driver_cpu_seconds")
        if drv_cpu and drv_cpu[0] and drv_cpu[-1]:
            result["driver_cores"] = (drv_cpu[-1]["cpu"] - drv_cpu[0]["cpu"]) / (drv_cpu[-1]["t"] - drv_cpu[0]["t"])
        result["t0"], result["t1"] = t0, t1
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait()
        result["shutdown_s"] = stop_process(p)
    return result


# --------------------------------------------------------------------------------------
# Orchestration and report.
# --------------------------------------------------------------------------------------

def mib(v: float | None) -> str:
    return "n/a" if v is None else f"{v / 1048576:.1f} MiB"


def ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.1f} ms"


def report(args, env: dict, ph: dict | None, bb: dict | None, tgt: dict) -> str:
    L: list[str] = []
    n, iv = args.monitors, args.interval
    want = n / iv
    L.append(f"## Pharos probe benchmark: {n} HTTP monitors every {iv} s, {args.duration} s measured after {args.warmup} s warm-up")
    L.append("")
    L.append(f"- machine: {env['machine']}")
    L.append(f"- pharos: `{args.pharos_bin}` ({env.get('pharos_version', '?')}); start mode: {args.start}; json assertions: {'on' if args.json_assertions else 'off'}")
    if bb:
        L.append(f"- peer: {bb['version']}")
    elif not args.no_blackbox:
        L.append("- peer: prometheus-blackbox-exporter not installed: comparison skipped")
    L.append(f"- expected load: {want:.1f} probes/s; medians are over {iv} s windows of the measured period")
    L.append("")
    if ph:
        L.append("### Pharos")
        L.append("")
        L.append("| metric | value |")
        L.append("| --- | --- |")
        L.append(f"| time to live (`/health/live` 200) | {ph['ready_s']:.2f} s |")
        L.append(f"| probes/s (median of windows; whole period) | {fmt(ph['probes_per_s_median_window'])} ; {fmt(ph['probes_per_s'])} (target: {want:.1f}) |")
        up = ph["outcomes"].get("up", 0)
        L.append(f"| probe outcomes in period | {', '.join(f'{k}={int(v)}' for k, v in sorted(ph['outcomes'].items()))} |")
        L.append(f"| CPU, cores (median of windows; whole period) | {fmt(ph['cores_median_window'], '.3f')} ; {fmt(ph['cores'], '.3f')} |")
        L.append(f"| CPU, busiest 1 s (p95; max) | {fmt(ph['cores_1s_p95'], '.2f')} ; {fmt(ph['cores_1s_max'], '.2f')} cores |")
        L.append(f"| CPU s per 1000 probes (median of windows) | {fmt(ph['cpu_s_per_1k_median_window'], '.3f')} |")
        L.append(f"| RSS (median; max; max during warm-up) | {mib(ph['rss_median'])} ; {mib(ph['rss_max'])} ; {mib(ph['rss_warmup_max'])} |")
        L.append(f"| threads (median; max) | {fmt(ph['threads_median'], '.0f')} ; {fmt(ph['threads_max'], '.0f')} |")
        L.append(f"| schedule lateness p50 / p99 (Pharos histogram, period) | {ms(ph['lateness_p50'])} / {ms(ph['lateness_p99'])} ({ph['lateness_p99_note']}) |")
        L.append(f"| schedule lateness p99 (median of windows) | {ms(ph['lateness_p99_median_window'])} |")
        L.append(f"| schedule lateness p99 since start (incl. first interval) | {ms(ph['lateness_p99_since_start'])} ({ph['lateness_p99_since_start_note']}) |")
        L.append(f"| probe duration p50 / p99 (Pharos histogram) | {ms(ph['duration_p50'])} / {ms(ph['duration_p99'])} |")
        ta = tgt.get("pharos") or {}
        if ta:
            L.append(f"| target saw: requests/s (median of windows); per-second median / min / max | {fmt(ta['rate_median_window'])} ; {fmt(ta['per_second_median'], '.0f')} / {fmt(ta['per_second_min'], '.0f')} / {fmt(ta['per_second_max'], '.0f')} |")
            L.append(f"| target saw: share of 1 s slots with any request (even spread = 100 %) | {fmt(ta['busy_seconds_fraction'] * 100 if ta['busy_seconds_fraction'] is not None else None, '.0f', ' %')} |")
            L.append(f"| target saw: per-monitor interval error p50 / p99 / max | {ms(ta['interval_error_p50'])} / {ms(ta['interval_error_p99'])} / {ms(ta['interval_error_max'])} ({ta['intervals']} intervals, {ta['monitors_seen']} monitors) |")
            L.append(f"| target saw: new connections in period | {ta['new_connections']} |")
        L.append(f"| data dir growth in period | {mib(ph['data_dir_growth_bytes'])} (total {mib(ph['data_dir_bytes'])}) |")
        L.append(f"| shutdown after SIGTERM | {fmt(ph['shutdown_s'], '.2f', ' s')} |")
        L.append(f"| log lines by level | {ph['log_levels'] or 'none'} |")
        L.append("")
        L.append(f"Pages and API with {n} monitors, timed while the probes go on ({args.page_samples} rounds spread over {iv} s, interleaved, new connection each; CPU during this phase {fmt(ph.get('pages_phase_cores'), '.2f')} cores):")
        L.append("")
        L.append("| request | median | p95 | max | first | notes |")
        L.append("| --- | --- | --- | --- | --- | --- |")
        for name, v in ph["pages"].items():
            notes = []
            if "status" in v:
                notes.append(f"HTTP {v['status']}")
            if "bytes" in v:
                notes.append(f"{v['bytes'] / 1024:.0f} KiB")
            if v.get("total") is not None:
                notes.append(f"total={v['total']}")
            if v.get("returned") is not None:
                notes.append(f"returned={v['returned']}")
            if v.get("svg") is not None:
                notes.append(f"{v['svg']} svg")
            if v.get("errors"):
                notes.append(f"{len(v['errors'])} errors")
            L.append(f"| {name} | {ms(v['median'])} | {ms(v['p95'])} | {ms(v['max'])} | {ms(v.get('first'))} | {', '.join(notes)} |")
        L.append("")
        slow = [k for k, v in ph["pages"].items() if v["median"] is not None and v["median"] > 1.0 and "walk" not in k]
        goal = []
        goal.append(f"probes/s {'>=' if (ph['probes_per_s_median_window'] or 0) >= want * 0.98 else '<'} {want:.0f}")
        goal.append(f"CPU {'<' if (ph['cores_median_window'] or 9) < 1.0 else '>='} 1 core")
        goal.append("pages under 1 s" if not slow else f"pages over 1 s: {', '.join(slow)}")
        L.append(f"Goal check (10,000 on one core, pages under a second): {'; '.join(goal)}.")
        L.append("")
    if bb:
        L.append("### prometheus-blackbox-exporter (same target, same load, run after Pharos)")
        L.append("")
        L.append("| metric | value |")
        L.append("| --- | --- |")
        L.append(f"| probes/s (median of windows; whole period) | {fmt(bb['probes_per_s_median_window'])} ; {fmt(bb['probes_per_s'])} |")
        L.append(f"| probes ok / failed in period | {bb['probes_ok']} / {bb['probes_failed']} {bb['driver_errors'] or ''} |")
        L.append(f"| CPU, cores (median of windows; whole period) | {fmt(bb['cores_median_window'], '.3f')} ; {fmt(bb['cores'], '.3f')} |")
        L.append(f"| CPU, busiest 1 s (p95; max) | {fmt(bb['cores_1s_p95'], '.2f')} ; {fmt(bb['cores_1s_max'], '.2f')} cores |")
        L.append(f"| CPU s per 1000 probes (median of windows) | {fmt(bb['cpu_s_per_1k_median_window'], '.3f')} |")
        L.append(f"| RSS (median; max) | {mib(bb['rss_median'])} ; {mib(bb['rss_max'])} |")
        L.append(f"| threads (median; max) | {fmt(bb['threads_median'], '.0f')} ; {fmt(bb['threads_max'], '.0f')} |")
        L.append(f"| probe round trip via blackbox p50 / p99 (driver) | {ms(bb['duration_p50'])} / {ms(bb['duration_p99'])} |")
        L.append(f"| driver lateness p99 (driver's own schedule) | {ms(bb['driver_lateness_p99'])} |")
        L.append(f"| driver CPU (not counted against blackbox) | {fmt(bb.get('driver_cores'), '.3f')} cores |")
        tb = tgt.get("blackbox") or {}
        if tb:
            L.append(f"| target saw: requests/s (median of windows); per-second median / min / max | {fmt(tb['rate_median_window'])} ; {fmt(tb['per_second_median'], '.0f')} / {fmt(tb['per_second_min'], '.0f')} / {fmt(tb['per_second_max'], '.0f')} |")
            L.append(f"| target saw: new connections in period | {tb['new_connections']} |")
        L.append("")
    if ph and bb:
        L.append("### Ratios, Pharos / blackbox (same run; below 1 means Pharos uses less)")
        L.append("")
        L.append("| metric | Pharos | blackbox | ratio |")
        L.append("| --- | --- | --- | --- |")
        L.append(f"| CPU s per 1000 probes (median of windows) | {fmt(ph['cpu_s_per_1k_median_window'], '.3f')} | {fmt(bb['cpu_s_per_1k_median_window'], '.3f')} | {fmt_ratio(ph['cpu_s_per_1k_median_window'], bb['cpu_s_per_1k_median_window'])} |")
        L.append(f"| RSS (median) | {mib(ph['rss_median'])} | {mib(bb['rss_median'])} | {fmt_ratio(ph['rss_median'], bb['rss_median'])} |")
        L.append(f"| probes/s (median of windows) | {fmt(ph['probes_per_s_median_window'])} | {fmt(bb['probes_per_s_median_window'])} | {fmt_ratio(ph['probes_per_s_median_window'], bb['probes_per_s_median_window'])} |")
        L.append("")
    L.append("### Target")
    L.append("")
    for name in ("pharos", "blackbox"):
        t = tgt.get(name + "_proc")
        if t:
            L.append(f"- during {name}: target used {t['cores']:.3f} cores, {mib(t['rss'])} RSS; served {tgt[name]['requests']} requests in the period")
    L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    t = sub.add_parser("target", help="(internal) run the HTTP target")
    t.add_argument("--port", type=int, required=True)
    d = sub.add_parser("drive-blackbox", help="(internal) drive blackbox")
    for name in ("--bb-port", "--target-port", "--monitors"):
        d.add_argument(name, type=int, required=True)
    for name in ("--interval", "--start-at", "--end-at"):
        d.add_argument(name, type=float, required=True)
    d.add_argument("--out", required=True)

    ap.add_argument("--monitors", type=int, default=10000)
    ap.add_argument("--interval", type=int, default=30, help="seconds between checks of one monitor")
    ap.add_argument("--duration", type=int, default=180, help="measured seconds per peer")
    ap.add_argument("--warmup", type=int, default=None, help="seconds before measuring (default: one interval)")
    ap.add_argument("--page-samples", type=int, default=15, help="rounds of page/API timings")
    ap.add_argument("--pharos-bin", default=os.environ.get("PHAROS_BIN", os.path.join(REPO, "target/release/pharos")))
    ap.add_argument("--blackbox-bin", default=os.environ.get("BLACKBOX_BIN"))
    ap.add_argument("--no-blackbox", action="store_true")
    ap.add_argument("--no-pharos", action="store_true")
    ap.add_argument("--json-assertions", action="store_true", help="add status == \"healthy\" (and a body regexp for blackbox)")
    ap.add_argument("--start", choices=["fresh", "restart"], default="fresh",
                    help="fresh: new data dir (first start); restart: start once, stop, measure the second start")
    ap.add_argument("--startup-timeout", type=float, default=300)
    ap.add_argument("--json-out", help="write every number as JSON here")
    ap.add_argument("--md-out", help="also write the Markdown summary here")
    ap.add_argument("--keep-workdir", action="store_true")
    args = ap.parse_args()

    if args.cmd == "target":
        target_main(args.port)
        return
    if args.cmd == "drive-blackbox":
        drive_main(args)
        return

    if args.warmup is None:
        args.warmup = args.interval
    raise_nofile()
    if not args.no_pharos and not os.access(args.pharos_bin, os.X_OK):
        sys.exit(f"pharos binary not found at {args.pharos_bin}: build it (cargo build --release -p pharos) or set PHAROS_BIN")
    bb_bin = None
    if not args.no_blackbox:
        bb_bin = find_blackbox(args.blackbox_bin)
        if not bb_bin:
            log("prometheus-blackbox-exporter is not installed: skipping the peer comparison")

    env = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                      f"{os.sysconf('SC_PHYS_PAGES') * PAGE_SIZE / 2**30:.0f} GiB, Linux {platform.release()}, "
                      f"load avg at start {os.getloadavg()[0]:.2f}"}
    if not args.no_pharos:
        try:
            env["pharos_version"] = subprocess.run([args.pharos_bin, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass

    workdir = tempfile.mkdtemp(prefix="pharos-bench-")
    log(f"workdir {workdir}")
    tport = free_port()
    target = subprocess.Popen([sys.executable, os.path.abspath(__file__), "target", "--port", str(tport)],
                              stdout=subprocess.PIPE, text=True)
    ph = bb = None
    tgt: dict = {}
    try:
        if target.stdout.readline().strip() != "ready":
            sys.exit("target did not start")
        log(f"target on 127.0.0.1:{tport} (pid {target.pid})")

        def target_window(name: str, t0: float, t1: float) -> None:
            status, body, _ = http_get(tport, f"/_dump?t0={t0!r}&t1={t1!r}", timeout=120)
            tgt[name] = arrival_stats(json.loads(body), t0, t1, args.interval, args.interval)

        def target_cpu() -> dict | None:
            return proc_sample(target.pid)

        if not args.no_pharos:
            a = target_cpu()
            ph = run_pharos(args, workdir, tport)
            target_window("pharos", ph["t0"], ph["t1"])
            b = target_cpu()
            if a and b:
                tgt["pharos_proc"] = {"cores": (b["cpu"] - a["cpu"]) / (b["t"] - a["t"]), "rss": b["rss"]}
        if bb_bin:
            time.sleep(2)
            a = target_cpu()
            bb = run_blackbox(args, workdir, tport, bb_bin)
            target_window("blackbox", bb["t0"], bb["t1"])
            b = target_cpu()
            if a and b:
                tgt["blackbox_proc"] = {"cores": (b["cpu"] - a["cpu"]) / (b["t"] - a["t"]), "rss": b["rss"]}
    finally:
        stop_process(target, 10)
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")

    md = report(args, env, ph, bb, tgt)
    print(md)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(md + "\n")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"args": vars(args), "env": env, "pharos": ph, "blackbox": bb, "target": tgt}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
