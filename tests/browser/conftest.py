"""Fixtures for the browser test: a real Pharos process, a tiny HTTP target for it to
probe, a closed TCP port, and Debian's Chromium driven by Playwright.

Everything listens on 127.0.0.1 only. Nothing here downloads a browser: Chromium comes
from the system (`apt-get install chromium`), found at $CHROMIUM or /usr/bin/chromium.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "pharos-browser-test-token-012345"  # 32 chars; Pharos wants at least 16
assert len(ADMIN_TOKEN) == 32

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def admin_token() -> str:
    return ADMIN_TOKEN


# --------------------------------------------------------------------------- binaries


@pytest.fixture(scope="session")
def pharos_bin() -> Path:
    env = os.environ.get("PHAROS_BIN")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.skip(f"PHAROS_BIN={env} is not an executable file; build with `cargo build -p pharos`")
        return path
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "pharos"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.skip(
        "no pharos binary: run `cargo build -p pharos` (or set PHAROS_BIN); "
        f"looked for {REPO}/target/release/pharos and {REPO}/target/debug/pharos"
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    candidate = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    found = shutil.which(candidate)
    if not found:
        pytest.skip(
            f"Chromium not found at {candidate!r}: install Debian's package "
            "(`apt-get install chromium`) or set CHROMIUM to its path"
        )
    return found


# --------------------------------------------------------------------------- targets


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] == "/health":
            body = json.dumps({"status": "healthy"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep pytest output quiet
        pass


@pytest.fixture
def health_target():
    """`http://127.0.0.1:<port>/health` answering {"status":"healthy"}."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port():
    """A port that refuses connections: bound (so nobody else takes it) but not listening,
    which on Linux answers a connect with RST, i.e. "Connection refused"."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


# --------------------------------------------------------------------------- pharos


@dataclass
class Pharos:
    base_url: str
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def start_pharos(pharos_bin, tmp_path):
    """Starts `pharos serve` (with a config text, or none) and waits for /health/live.
    Every Pharos started is stopped at the end of the test."""
    started: list[Pharos] = []

    def start(config_yaml: str | None, name: str = "pharos") -> Pharos:
        workdir = tmp_path / name
        data_dir = workdir / "data"
        data_dir.mkdir(parents=True)
        port = free_port()
        cmd = [str(pharos_bin), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
        if config_yaml is not None:
            config = workdir / "pharos.yaml"
            config.write_text(config_yaml)
            cmd += ["--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
        env.update(PHAROS_ADMIN_TOKEN=ADMIN_TOKEN, PHAROS_LOG_FORMAT="json")
        log_path = workdir / "pharos.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        pharos = Pharos(f"http://127.0.0.1:{port}", proc, log_path)
        started.append(pharos)

        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"pharos exited with {proc.returncode} before answering:\n{pharos.log_tail()}")
            try:
                with urllib.request.urlopen(pharos.base_url + "/health/live", timeout=1) as r:
                    if r.status == 200:
                        return pharos
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"pharos did not answer /health/live within 15 s:\n{pharos.log_tail()}")
            time.sleep(0.1)

    yield start
    for pharos in started:
        pharos.stop()


# --------------------------------------------------------------------------- browser


@pytest.fixture
def browser_context(chromium_path):
    """A fresh Chromium profile (its own --user-data-dir) with one browser context.

    Playwright refuses `--user-data-dir` in `launch(args=...)`, so the profile directory
    is handed to `launch_persistent_context`, which passes it to Chromium as that flag."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="pharos-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()
