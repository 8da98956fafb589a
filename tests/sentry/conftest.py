"""One Pharos for the module, with a project whose DSN the real `sentry-sdk` reports to.

Each scenario runs the SDK in its own Python subprocess (a fresh `sentry_sdk.init`, then
`sentry_sdk.flush()` before exit), and the test checks what Pharos made of it through
its JSON API. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "pharos-sentry-e2e-token-0123456789"
KEY = "e2esdkkey0123456789abcdef0123456"
PROJECT = 42


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pharos_binary() -> Path:
    env = os.environ.get("PHAROS_BIN")
    if env:
        return Path(env).resolve()
    for profile in ("release", "debug"):
        p = REPO / "target" / profile / "pharos"
        if p.is_file():
            return p
    pytest.skip("no pharos binary: run `cargo build -p pharos` or set PHAROS_BIN")


@dataclass
class Pharos:
    url: str
    dsn: str
    workdir: Path
    proc: subprocess.Popen

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def issues(self, query: str) -> list[dict]:
        q = urllib.parse.quote(query)
        return self.api(f"/api/v1/issues?per_page=100&query={q}")["issues"]

    def wait(self, what: str, fn, timeout: float = 10.0):
        """Polls `fn` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.1)
        log = (self.workdir / "pharos.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"timed out waiting for {what}; last: {last!r}\npharos log tail:\n{log}")

    def run_sdk(self, code: str, dsn: str | None = None, files: dict[str, str] | None = None) -> str:
        """Runs `code` with the SDK initialised by the scenario itself; `DSN` is defined."""
        scenario = self.workdir / f"scenario_{time.monotonic_ns()}"
        scenario.mkdir()
        for name, text in (files or {}).items():
            (scenario / name).write_text(textwrap.dedent(text))
        script = f"DSN = {(dsn or self.dsn)!r}\n" + textwrap.dedent(code)
        (scenario / "main.py").write_text(script)
        out = subprocess.run(
            [sys.executable, "main.py"], cwd=scenario, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(scenario)},
        )
        assert out.returncode == 0, f"scenario failed:\n{out.stdout}\n{out.stderr}"
        return out.stdout


@pytest.fixture(scope="session")
def pharos(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pharos-sentry")
    port = free_port()
    (workdir / "pharos.yaml").write_text(
        f"""
projects:
  - id: {PROJECT}
    name: shop
    keys: ["{KEY}"]
    rate_limit: 0
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
    env.update(PHAROS_ADMIN_TOKEN=ADMIN_TOKEN, PHAROS_LOG_FORMAT="json")
    with open(workdir / "pharos.log", "wb") as log:
        proc = subprocess.Popen(
            [str(pharos_binary()), "serve", "--listen", f"127.0.0.1:{port}",
             "--data-dir", str(workdir / "data"), "--config", str(workdir / "pharos.yaml")],
            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url + "/health/live", timeout=1):
                break
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("pharos did not start:\n" + (workdir / "pharos.log").read_text())
            time.sleep(0.1)
    p = Pharos(url, f"http://{KEY}@127.0.0.1:{port}/{PROJECT}", workdir, proc)
    # The DSN Pharos shows is the one we use.
    assert p.api(f"/api/v1/projects/{PROJECT}")["dsn"] == p.dsn
    yield p
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
