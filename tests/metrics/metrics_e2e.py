"""What the metrics suite's fixtures and tests share: a client of the Prometheus HTTP API
(the same for Pharos and Prometheus), the app's process, polling, and the traffic plan.
Pharos itself is started by the shared `harness` (tests/harness), which conftest.py puts
on the path."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import free_port, pharos_binary, wait_until  # noqa: F401 (free_port, pharos_binary: for the tests)

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "pharos-metrics-e2e-token-0123456789"


def tool(name: str, env_var: str) -> str | None:
    return shutil.which(os.environ.get(env_var, name))


def wait_for(what: str, fn, timeout: float = 15.0, log: Path | None = None, interval: float = 0.2):
    """Polls `fn` until it returns something truthy, and returns that (`harness.wait_until`)."""
    return wait_until(fn, timeout, what, interval=interval, log=log)


class PromApi:
    """A client of the Prometheus HTTP API, the same for Pharos and for Prometheus."""

    def __init__(self, url: str, token: str | None, log: Path):
        self.url = url
        self.token = token
        self.log = log

    def raw(self, path: str, params: dict | list | None = None, method: str = "GET",
            headers: dict | None = None) -> tuple[int, dict]:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        data = None
        url = self.url + path
        if method == "POST":
            data = query.encode()
        elif query:
            url += "?" + query
        req = urllib.request.Request(url, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, {"raw": body.decode(errors="replace")}

    def get(self, path: str, params: dict | list | None = None, method: str = "GET"):
        status, body = self.raw(path, params, method)
        assert status == 200 and body.get("status") == "success", f"{path} {params}: {status} {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.get("/api/v1/query", params)
        return data["result"]

    def vector(self, expr: str, at: float | None = None) -> dict[tuple, float]:
        """An instant query's answer as {sorted label pairs: value}."""
        out = {}
        for s in self.query(expr, at):
            out[labels_key(s["metric"])] = float(s["value"][1])
        return out

    def value(self, expr: str, at: float | None = None) -> float:
        result = self.query(expr, at)
        assert len(result) == 1, f"{expr}: expected one series, got {result}"
        return float(result[0]["value"][1])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self.get("/api/v1/query_range", {
            "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step),
        })["result"]


def scrape_failures(log: Path) -> list[str]:
    """Pharos's log lines for failed scrapes (logged at debug level for pharos_scrape)."""
    if not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines() if "scrape failed" in line]


def labels_key(metric: dict) -> tuple:
    return tuple(sorted(metric.items()))


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@dataclass
class App:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_app(workdir: Path, name: str) -> App:
    port = free_port()
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "app.py"), str(port)], cwd=workdir,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    app = App(f"http://127.0.0.1:{port}", port, proc, log)
    wait_for(f"app {name} to listen", lambda: app.get("/start"), log=log)
    return app


LATENCIES = [0.02, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.6, 0.6, 3.0]
ORDER_VALUES = [3, 3, 20, 20, 20, 40, 40, 40, 40, 200]


def request_plan(n: int = 100) -> list[dict]:
    """The requests the `traffic` fixture sends: 90 GET 200, 5 POST 201, 5 GET 500;
    latencies 10 x 0.02 s, 60 x 0.2 s, 20 x 0.6 s, 10 x 3 s; order values 20 x 3,
    30 x 20, 40 x 40, 10 x 200 euros."""
    plan = []
    for i in range(n):
        method = "POST" if i % 20 == 0 else "GET"
        status = "500" if i % 20 == 1 else ("201" if method == "POST" else "200")
        plan.append({"method": method, "status": status,
                     "latency": LATENCIES[i % 10], "value": ORDER_VALUES[i % 10]})
    return plan


@dataclass
class Traffic:
    before: float          # a time at which Pharos had scraped the app before any request
    after: float           # a time at which Pharos had scraped the app after every request
    plan: list[dict]
    app_start: float
