"""One Pharos for the module, with a project whose DSN the real `sentry-sdk` reports to.

Each scenario runs the SDK in its own Python subprocess (a fresh `sentry_sdk.init`, then
`sentry_sdk.flush()` before exit), and the test checks what Pharos made of it through
its JSON API. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from harness import Pharos  # noqa: E402

ADMIN_TOKEN = "pharos-sentry-e2e-token-0123456789"
KEY = "e2esdkkey0123456789abcdef0123456"
PROJECT = 42
# A project with a quota of one transaction a minute.
LIMITED_KEY = "e2elimitedkey0123456789abcdef01"
LIMITED_PROJECT = 43
# The OpenTelemetry-instrumented service of the cross-service trace.
OTEL_KEY = "e2eotelkey0123456789abcdef01234"
OTEL_PROJECT = 44


class SentryPharos(Pharos):
    """Pharos with one project whose DSN the scenarios report to."""

    @property
    def dsn(self) -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}/{PROJECT}"

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
        """Polls `fn` until it returns something truthy (an exception fails at once)."""
        return self.wait_until(fn, timeout, what, interval=0.1, retry_on=())

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
    p = SentryPharos(
        tmp_path_factory.mktemp("pharos-sentry"),
        admin_token=ADMIN_TOKEN,
        config=f"""
projects:
  - id: {PROJECT}
    name: shop
    keys: ["{KEY}"]
    rate_limit: 0
  - id: {LIMITED_PROJECT}
    name: limited
    keys: ["{LIMITED_KEY}"]
    limits:
      transactions_per_minute: 1
  - id: {OTEL_PROJECT}
    name: checkout
    keys: ["{OTEL_KEY}"]
""",
    )
    p.start()
    try:
        # The DSN Pharos shows is the one we use.
        assert p.api(f"/api/v1/projects/{PROJECT}")["dsn"] == p.dsn
        yield p
    finally:
        p.stop()
