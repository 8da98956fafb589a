"""One Pharos for the module with a project `webshop`, an API token with the
`sourcemaps:write` scope, and the Node tools of this folder (`npm ci` in `scripts/test`).
Everything listens on 127.0.0.1; nothing is fetched from the internet at test time."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from harness import Pharos  # noqa: E402

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "pharos-sourcemaps-e2e-token-0123456789"
KEY = "e2esourcemapkey0123456789abcdef0"
PROJECT = 7
PROJECT_NAME = "webshop"


class SourceMapPharos(Pharos):
    token: str = ""

    @property
    def dsn(self) -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}/{PROJECT}"

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                headers: dict | None = None, token: str | None = None):
        """(status, parsed JSON or text) of one request; errors are answers, not raised."""
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {token or ADMIN_TOKEN}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw, ctype = r.status, r.read(), r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, raw, ctype = e.code, e.read(), e.headers.get("content-type", "")
        if "json" in ctype:
            return status, json.loads(raw or b"null")
        return status, raw.decode(errors="replace")

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        status, answer = self.request(path, method, data, {"Content-Type": "application/json"})
        assert status < 300, f"{method} {path}: {status} {answer}"
        return answer


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (scripts/test installs it)")
    return found


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The folder's node_modules (esbuild, @sentry/node), installed by scripts/test."""
    tool("node")
    modules = HERE / "node_modules"
    if not (modules / ".bin" / "esbuild").exists() or not (modules / "@sentry" / "node").exists():
        pytest.skip("tests/sourcemaps/node_modules is missing: run `npm ci` in tests/sourcemaps")
    return modules


@pytest.fixture(scope="session")
def pharos(tmp_path_factory):
    p = SourceMapPharos(
        tmp_path_factory.mktemp("pharos-sourcemaps"),
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
        p.token = p.api("/api/v1/tokens", "POST", {"name": "ci", "scopes": ["sourcemaps:write"]})["secret"]
        yield p
    finally:
        p.stop()
