"""One Pharos for the session with a project `storefront` whose DSN the real JavaScript
SDKs report to: `@sentry/node` run by Node (one script per scenario, in `node/`), and
`@sentry/browser` bundled by esbuild into a page (`browser/`) that headless Chromium
(Debian's, driven by Playwright) loads from a loopback HTTP server of the test.

The npm packages come from this folder's `node_modules` (`npm ci`, run by `scripts/test`);
everything listens on 127.0.0.1 and nothing is fetched from the internet at test time."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from harness import Pharos  # noqa: E402

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "pharos-javascript-e2e-token-0123456789"
KEY = "e2ejssdkkey0123456789abcdef01234"
PROJECT = 11
PROJECT_NAME = "storefront"

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


class JsPharos(Pharos):
    """Pharos with the project the SDKs report to, and a small JSON API client."""

    @property
    def dsn(self) -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                headers: dict | None = None, token: str | None = ADMIN_TOKEN):
        """(status, headers, parsed JSON or text) of one request; HTTP errors are answers."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        if "json" in hdrs.get("content-type", ""):
            return status, hdrs, json.loads(raw or b"null")
        return status, hdrs, raw.decode(errors="replace")

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        status, _, answer = self.request(path, method, data, {"Content-Type": "application/json"})
        assert status < 300, f"{method} {path}: {status} {answer}"
        return answer

    def issues(self, query: str = "") -> list[dict]:
        q = urllib.parse.quote(query)
        return self.api(f"/api/v1/issues?per_page=100&query={q}")["issues"]

    def issue_titled(self, part: str, timeout: float = 30.0) -> dict:
        return self.wait(f"an issue titled {part!r}",
                         lambda: next((i for i in self.issues() if part in i["title"]), None), timeout)

    def transactions(self, name: str | None = None) -> dict:
        q = f"/api/v1/transactions?project={PROJECT}&period=1h"
        if name is not None:
            q += "&name=" + urllib.parse.quote(name)
        return self.api(q)

    def logs(self) -> list[dict]:
        """The project's latest SDK logs (`GET /api/v1/projects/{id}/logs`)."""
        return self.api(f"/api/v1/projects/{PROJECT}/logs")["logs"]

    def search_logs(self, q: str) -> list[dict]:
        """The log store's search (`GET /api/v1/logs?q=`), where SDK logs land too."""
        return self.api("/api/v1/logs?" + urllib.parse.urlencode({"q": q, "since": "1h"}))["entries"]

    def release(self, name: str) -> dict | None:
        rows = self.api(f"/api/v1/projects/{PROJECT}/releases")["releases"]
        return next((r for r in rows if r["release"] == name), None)

    def wait(self, what: str, fn, timeout: float = 30.0):  # generous: scripts/test runs suites side by side
        """Polls `fn` until it returns something truthy (an exception fails at once)."""
        return self.wait_until(fn, timeout, what, interval=0.2, retry_on=())


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: install Node.js 20.19 or later to run tests/javascript")
    return found


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """This folder's node_modules (@sentry/node, @sentry/browser, esbuild), from `npm ci`."""
    tool("node")
    modules = HERE / "node_modules"
    for needed in ("@sentry/node", "@sentry/browser", "esbuild"):
        if not (modules / needed / "package.json").exists():
            pytest.skip(f"tests/javascript/node_modules has no {needed}: run `npm ci` in tests/javascript")
    return modules


def sdk_version(modules: Path, package: str) -> str:
    return json.loads((modules / package / "package.json").read_text())["version"]


@pytest.fixture(scope="session")
def pharos(tmp_path_factory):
    p = JsPharos(
        tmp_path_factory.mktemp("pharos-javascript"),
        admin_token=ADMIN_TOKEN,
        config=f"""
projects:
  - id: {PROJECT}
    name: {PROJECT_NAME}
    keys: ["{KEY}"]
    rate_limit: 0
""",
    )
    p.start()
    try:
        assert p.api(f"/api/v1/projects/{PROJECT}")["dsn"] == p.dsn
        yield p
    finally:
        p.stop()


@pytest.fixture
def run_node(node_modules, pharos):  # node_modules first: skip before starting Pharos
    """Runs `node/<script>` with SENTRY_DSN and the given environment; returns the finished
    process (stdout, stderr, returncode). `check=False` for a script meant to crash."""

    def run(script: str, env: dict | None = None, check: bool = True, timeout: float = 60):
        out = subprocess.run(
            [tool("node"), str(HERE / "node" / script)], cwd=HERE / "node", capture_output=True, text=True,
            timeout=timeout,
            env={**os.environ, "NODE_PATH": str(node_modules), "SENTRY_DSN": pharos.dsn, **(env or {})},
        )
        if check:
            assert out.returncode == 0, f"{script} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        return out

    return run


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def chromium_path() -> str:
    candidate = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    found = shutil.which(candidate)
    if not found:
        pytest.skip(f"Chromium not found at {candidate!r}: install Debian's package "
                    "(`apt-get install chromium`) or set CHROMIUM to its path")
    return found


@pytest.fixture(scope="session")
def browser_bundle(node_modules, tmp_path_factory) -> Path:
    """`browser/app.js` (which imports @sentry/browser) bundled by esbuild into one
    script, as an app's build step would; served with `browser/index.html`."""
    out_dir = tmp_path_factory.mktemp("site")
    shutil.copy(HERE / "browser" / "index.html", out_dir / "index.html")
    built = subprocess.run(
        [str(node_modules / ".bin" / "esbuild"), str(HERE / "browser" / "app.js"), "--bundle",
         "--format=iife", "--target=chrome100", "--sourcemap", f"--outfile={out_dir / 'app.js'}"],
        cwd=HERE, capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return out_dir


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output quiet
        pass


@pytest.fixture(scope="session")
def site(browser_bundle):
    """The page on `http://localhost:<port>/` (another origin than Pharos's 127.0.0.1, so
    every SDK request is cross-origin, as on a real site)."""
    handler = lambda *a, **kw: _SiteHandler(*a, directory=str(browser_bundle), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(chromium_path):
    """A fresh headless Chromium profile with one browser context."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="pharos-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


def unique(prefix: str) -> str:
    """A marker no other test uses, to find this test's data."""
    return f"{prefix}{time.monotonic_ns() % 10**9}"
