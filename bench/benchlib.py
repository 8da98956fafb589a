"""Helpers shared by the benchmarks under bench/: processes and /proc, HTTP on 127.0.0.1,
the Prometheus exposition text, percentiles, and remote_write 1.0 encoding.

Standard library only. Snappy: the block format with cramjam when it is importable (the
venv of metrics.py has it), otherwise a valid snappy stream made of literals only (no
compression: the receivers decode it as any other snappy block; it costs them a memcpy).
`SNAPPY` says which one is in use, so a result can record it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Processes and /proc
# --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(utime+stime ticks, RSS bytes) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12]), int(rest[21]) * PAGE_SIZE


class Sampler(threading.Thread):
    """CPU ticks and RSS of one process every `period` seconds: (monotonic, ticks, rss)."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples: list[tuple[float, int, int]] = []
        self.stop_ev = threading.Event()

    def run(self) -> None:
        while not self.stop_ev.is_set():
            s = proc_stat(self.pid)
            if s:
                self.samples.append((time.monotonic(), s[0], s[1]))
            self.stop_ev.wait(self.period)

    def stop(self) -> None:
        self.stop_ev.set()

    def window(self, t0: float, t1: float) -> list[tuple[float, int, int]]:
        return [x for x in self.samples if t0 <= x[0] <= t1]


def stop_process(p: subprocess.Popen | None, grace: float = 60.0) -> float | None:
    """SIGTERM, wait up to `grace` s, then SIGKILL. Seconds until it exited."""
    if p is None or p.poll() is not None:
        return None
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None
    return time.monotonic() - t0


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 300) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def get_json(port: int, path: str, headers: dict | None = None, timeout: float = 60):
    st, body = request(port, "GET", path, headers=headers, timeout=timeout)
    if st != 200:
        raise RuntimeError(f"GET {path}: {st} {body[:200]!r}")
    return json.loads(body)


def wait_ready(port: int, path: str, headers: dict | None, proc: subprocess.Popen, timeout: float = 120) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            st, _ = request(port, "GET", path, headers=headers, timeout=2)
            if st == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not ready after {timeout} s")


# --------------------------------------------------------------------------------------
# Exposition text
# --------------------------------------------------------------------------------------

def parse_metrics(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every line of an exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        try:
            k, v = line.rsplit(" ", 1) if "}" not in line else (line[:line.rindex("}") + 1], line[line.rindex("}") + 1:].split()[0])
            out[k.strip()] = float(v)
        except ValueError:
            continue
    return out


def metric_sum(m: dict[str, float], name: str, must: str = "") -> float | None:
    vals = [v for k, v in m.items() if (k == name or k.startswith(name + "{")) and must in k]
    return sum(vals) if vals else None


# --------------------------------------------------------------------------------------
# Statistics and formatting
# --------------------------------------------------------------------------------------

def pct(xs, p: float, empty=None):
    """Percentile `p` (0..100) of the numbers in `xs` (None values ignored): the one
    definition every benchmark under bench/ uses for its p50/p95/p99 and medians.

    Linear interpolation between the closest ranks (numpy's default `linear`, Excel's
    PERCENTILE.INC, Hyndman & Fan type 7): with `s` the values sorted and n of them,
    the rank is k = (n - 1) * p / 100, and the result s[floor(k)] + (s[ceil(k)] -
    s[floor(k)]) * (k - floor(k)); a whole k gives s[k] itself. So p 0 is the minimum,
    p 100 the maximum, and p 50 the median as `statistics.median` gives it (the mean of
    the two middle values for an even n). `empty` (None unless said) when there are no
    values."""
    s = sorted(x for x in xs if x is not None)
    if not s:
        return empty
    k = (len(s) - 1) * p / 100
    lo = int(k)
    if lo == k:
        return s[lo]
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def med(xs, empty=None):
    """The median: `pct(xs, 50)`."""
    return pct(xs, 50, empty)


def fmt(x, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def mib(b) -> str:
    return "–" if b is None else f"{b / 2**20:.0f} MiB"


def ratio(a, b, spec: str = ".2f") -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:{spec}}×"


# --------------------------------------------------------------------------------------
# remote_write 1.0: WriteRequest{ repeated TimeSeries timeseries = 1 },
# TimeSeries{ repeated Label labels = 1; repeated Sample samples = 2 },
# Label{ string name = 1; string value = 2 }, Sample{ double value = 1; int64 timestamp = 2 }
# --------------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def encode_labels(labels: dict) -> bytes:
    """Labels in the order given: put `__name__` first and the rest sorted, as senders do."""
    return b"".join(pb_bytes(1, pb_bytes(1, k.encode()) + pb_bytes(2, v.encode())) for k, v in labels.items())


# A sample: 0x12 len=16 | 0x09 <8 value bytes> | 0x10 <6-byte varint timestamp>. Millisecond
# timestamps between 2^35 and 2^42 (1971 .. 2109) take exactly 6 varint bytes.
SAMPLE_HEAD = b"\x12\x10\x09"


def series_prefix(labels: dict) -> bytes:
    """A TimeSeries with one sample, up to the sample's value: append
    `struct.pack('<d', v) + ts_bytes(t)` to complete it."""
    le = encode_labels(labels)
    return b"\x0a" + varint(len(le) + 18) + le + SAMPLE_HEAD


def ts_bytes(t_ms: int) -> bytes:
    """The sample's timestamp field (tag and 6 varint bytes)."""
    assert 2**35 <= t_ms < 2**42
    return b"\x10" + bytes(((t_ms >> (7 * i)) & 0x7F) | (0x80 if i < 5 else 0) for i in range(6))


try:  # pragma: no cover - depends on the environment
    import cramjam as _cramjam

    def snappy_block(data: bytes) -> bytes:
        return bytes(_cramjam.snappy.compress_raw(data))

    SNAPPY = "cramjam"
except ImportError:  # pragma: no cover
    def snappy_block(data: bytes) -> bytes:
        """The snappy block format with literals only (each up to 64 KiB): valid, uncompressed."""
        out = [varint(len(data))]
        for i in range(0, len(data), 65536):
            chunk = data[i:i + 65536]
            n = len(chunk) - 1
            if n < 60:
                out.append(bytes([n << 2]))
            else:
                out.append(bytes([61 << 2]) + n.to_bytes(2, "little"))
            out.append(chunk)
        return b"".join(out)

    SNAPPY = "literal-only (no cramjam)"


REMOTE_WRITE_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


class RemoteWriter:
    """Keep-alive connections posting WriteRequests to one receiver's /api/v1/write."""

    def __init__(self, port: int, path: str = "/api/v1/write", headers: dict | None = None, timeout: float = 120):
        self.port, self.path, self.timeout = port, path, timeout
        self.headers = {**REMOTE_WRITE_HEADERS, **(headers or {})}
        self.conn: http.client.HTTPConnection | None = None
        self.errors: list[str] = []

    def post(self, body: bytes) -> int:
        data = snappy_block(body)
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.request("POST", self.path, body=data, headers=self.headers)
                r = self.conn.getresponse()
                msg = r.read()
                if r.status >= 300 and len(self.errors) < 20:
                    self.errors.append(f"{r.status} {msg[:200]!r}")
                return r.status
            except (OSError, http.client.HTTPException) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    if len(self.errors) < 20:
                        self.errors.append(repr(e))
                    return 0
        return 0

    def close(self) -> None:
        if self.conn:
            self.conn.close()
            self.conn = None
