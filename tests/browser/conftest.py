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
import sys
import tempfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from harness import Pharos, pharos_binary  # noqa: E402

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


@pytest.fixture(scope="session")
def admin_token() -> str:
    return ADMIN_TOKEN


# --------------------------------------------------------------------------- binaries


@pytest.fixture(scope="session")
def pharos_bin() -> Path:
    """The binary under test ($PHAROS_BIN, target/release, target/debug); skips without one."""
    return pharos_binary()


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


@pytest.fixture
def start_pharos(pharos_bin, tmp_path):
    """Starts `pharos serve` (with a config text, or none) in `tmp_path/name` and waits for
    /health/live. Every Pharos started is stopped at the end of the test."""
    started: list[Pharos] = []

    def start(config_yaml: str | None, name: str = "pharos") -> Pharos:
        pharos = Pharos(tmp_path / name, name=name, config=config_yaml, admin_token=ADMIN_TOKEN)
        started.append(pharos)
        return pharos.start()

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
