"""What the logs suite's fixtures and tests share: Pharos with a client of the log API (the
process itself — start, SIGKILL, restart on the same data dir and port — is the shared
`harness.Pharos`), polling and free ports."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import harness
from harness import free_port, free_udp_port, pharos_binary, wait_until  # noqa: F401 (for conftest and the tests)

HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "pharos-logs-e2e-token-0123456789"


def wait_for(what: str, fn, timeout: float = 15.0, log: Path | None = None, interval: float = 0.2):
    """Polls `fn` until it returns something truthy, and returns that (`harness.wait_until`)."""
    return wait_until(fn, timeout, what, interval=interval, log=log)


def unique(prefix: str) -> str:
    """A word no other test writes, so a search finds only this test's lines."""
    return f"{prefix}{os.getpid()}x{time.monotonic_ns() % 10**9}"


class Pharos(harness.Pharos):
    """One `pharos serve` in `workdir/name`, which a test may SIGKILL and start again on
    the same port and data dir, with a client of the log API."""

    def __init__(self, workdir: Path, name: str, config: str, port: int | None = None):
        super().__init__(workdir / name, name=name, config=config, port=port, admin_token=ADMIN_TOKEN,
                         env={"PHAROS_LOG": "info"}, start_timeout=30)

    # --- HTTP -------------------------------------------------------------------------

    def request(self, method: str, path: str, params: dict | None = None,
                body: bytes | None = None, headers: dict | None = None,
                token: str | None = ADMIN_TOKEN, timeout: float = 30) -> tuple[int, dict, bytes]:
        """(status, response headers, body) without raising on 4xx/5xx."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(url, data=body, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get_json(self, path: str, params: dict | None = None):
        status, _, body = self.request("GET", path, params)
        assert status == 200, f"GET {path} {params}: {status} {body[:2000]!r}"
        return json.loads(body)

    def post_lines(self, service: str, body: bytes, content_type: str = "text/plain") -> dict:
        status, _, out = self.request("POST", "/api/v1/logs", {"service": service}, body,
                                      {"Content-Type": content_type})
        assert status == 200, f"POST /api/v1/logs: {status} {out[:2000]!r}"
        return json.loads(out)

    def search(self, q: str, since: str = "1h", limit: int = 1000) -> list[dict]:
        return self.get_json("/api/v1/logs", {"q": q, "since": since, "limit": limit})["entries"]

    def search_all(self, q: str, since: str = "1h") -> list[dict]:
        """Every matching entry, following the cursor."""
        out, cursor = [], None
        while True:
            params = {"q": q, "since": since, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = self.get_json("/api/v1/logs", params)
            out.extend(page["entries"])
            cursor = page.get("next_cursor")
            if not cursor or not page["entries"]:
                return out

    def wait_search(self, q: str, n: int, timeout: float = 15.0, exact: bool = True) -> list[dict]:
        """Polls the search until it finds `n` entries (at least `n` when not `exact`); the
        index commits every second, so a stored line is searchable about a second later."""
        last: list[dict] = []

        def found():
            nonlocal last
            last = self.search(q)
            return last if (len(last) >= n) else None

        wait_for(f"{n} entries for {q!r}", found, timeout=timeout, log=self.log)
        if exact:
            # Nothing more arrives a little later (no duplicates).
            time.sleep(0.3)
            last = self.search(q)
            assert len(last) == n, f"{q!r}: expected {n} entries, got {len(last)}: " + \
                json.dumps([e.get("message", "")[:200] for e in last[:20]])
        return last

    def counts(self, by: str, q: str = "", since: str = "1h", limit: int = 1000) -> dict[str, int]:
        rows = self.get_json("/api/v1/logs/counts", {"by": by, "q": q, "since": since,
                                                     "limit": limit})["counts"]
        return {r["value"]: r["count"] for r in rows}

    def promql(self, expr: str) -> list[dict]:
        body = self.get_json("/api/v1/query", {"query": expr})
        assert body["status"] == "success", body
        return body["data"]["result"]

    def metrics_text(self) -> str:
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, (status, body[:500])
        return body.decode()

    def metric(self, name: str, labels: dict | None = None) -> float:
        """Sum of a metric's samples in Pharos's own /metrics whose labels include `labels`."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric_name = head.split("{", 1)[0]
            if metric_name != name:
                continue
            if labels and not all(f'{k}="{v}"' in head for k, v in labels.items()):
                continue
            total += float(value)
        return total

    def alerts(self, alertname: str) -> list[dict]:
        """Every occurrence of this alert (open and resolved) from `/api/v1/alerts/history`."""
        return self.get_json("/api/v1/alerts/history", {"alertname": alertname, "limit": 200})["alerts"]

    def am_alerts(self) -> list[dict]:
        """`GET /api/v2/alerts` (Alertmanager's API): the alerts open now."""
        return self.get_json("/api/v2/alerts")


def entry_field(entry: dict, name: str):
    """A field of an entry as the API shows it: top-level or in `fields`."""
    if name in entry:
        return entry[name]
    return (entry.get("fields") or {}).get(name)
