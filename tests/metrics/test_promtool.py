"""`promtool query` (Debian's, from the `prometheus` package) as a client of Pharos's
Prometheus HTTP API: instant, range, series and label queries.

promtool 2.42 cannot send a bearer token (`--http.config.file` for `promtool query` came
in a later Prometheus), and Pharos takes only `Authorization: Bearer`. So with 2.42,
promtool talks to Pharos through a small loopback proxy that adds the header, as a user
would put Pharos behind a proxy; a promtool that has `--http.config.file` is given the
token directly with an http config file (`authorization: {credentials: ...}`).
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from metrics_e2e import ADMIN_TOKEN, scrape_failures, tool, wait_for


class _AuthProxy(http.server.BaseHTTPRequestHandler):
    upstream = ""
    seen: list[tuple[str, str]] = []

    def _forward(self):
        body = None
        if "Content-Length" in self.headers:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        req = urllib.request.Request(self.upstream + self.path, data=body, method=self.command)
        for h in ("Content-Type", "Accept", "User-Agent"):
            if h in self.headers:
                req.add_header(h, self.headers[h])
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        type(self).seen.append((self.command, self.path.split("?")[0]))
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, headers, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers, e.read()
        self.send_response(status)
        self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward  # noqa: N815 (http.server's naming)

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def promtool(pharos, workdir, traffic):
    """Returns a function running `promtool query <args>` against Pharos with the token."""
    binary = tool("promtool", "PROMTOOL_BIN")
    if binary is None:
        pytest.skip("promtool (Debian's `prometheus` package) is not installed")
    wait_for("5 s of scrapes", lambda: pharos.api.vector(
        'count_over_time(up{job="app_om"}[5s]) >= 5'), log=pharos.log)
    shown = subprocess.run([binary, "query", "instant", "--help"], capture_output=True, text=True)
    help_text = shown.stdout + shown.stderr
    server = None
    if "--http.config.file" in help_text:
        http_cfg = workdir / "promtool-http.yml"
        http_cfg.write_text(f"authorization:\n  credentials: {ADMIN_TOKEN}\n")
        url, extra = pharos.url, [f"--http.config.file={http_cfg}"]
    else:
        handler = type("Proxy", (_AuthProxy,), {"upstream": pharos.url, "seen": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url, extra = f"http://127.0.0.1:{server.server_address[1]}", []

    def run(sub: str, *args: str, with_token: bool = True, check: bool = True):
        target = [*extra, url] if with_token else [pharos.url]
        out = subprocess.run([binary, "query", sub, *target, *args],
                             capture_output=True, text=True, timeout=30)
        if check:
            assert out.returncode == 0, f"promtool query {sub} {args}: {out.returncode}\n{out.stdout}\n{out.stderr}"
        return out

    yield run
    if server is not None:
        server.shutdown()


def test_instant(promtool, pharos):
    out = promtool("instant", "up").stdout
    lines = sorted(out.strip().splitlines())
    # up{instance="127.0.0.1:…", job="app_om", service="shop"} => 1 @[1796074513.619]
    pattern = re.compile(r'^up\{(.*)\} => ([01]) @\[(\d+(?:\.\d+)?)\]$')
    jobs = {}
    for line in lines:
        m = pattern.match(line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        jobs[labels["job"]] = m.group(2)
        assert abs(float(m.group(3)) - time.time()) < 60
    assert jobs.get("app_om") == "1" and jobs.get("app_text") == "1", out
    out = promtool("instant", "-o", "json", 'sum by (job) (up{job=~"app_.*"})').stdout
    result = json.loads(out)
    assert sorted((r["metric"]["job"], r["value"][1]) for r in result) == [("app_om", "1"), ("app_text", "1")]
    # A scalar and an error the way Prometheus reports them.
    assert promtool("instant", "1 + 2").stdout.strip().startswith("scalar: 3 @[")
    bad = promtool("instant", "sum(up", check=False)
    assert bad.returncode != 0 and "bad_data" in bad.stderr and "unclosed left parenthesis" in bad.stderr, bad.stderr


def test_range(promtool, pharos):
    end = time.time()
    out = promtool("range", f"--start={end - 4:.3f}", f"--end={end:.3f}", "--step=1s",
                   'up{job="app_om"}').stdout
    lines = out.strip().splitlines()
    assert re.match(r'^up\{instance="127\.0\.0\.1:\d+", job="app_om", service="shop"\} =>$', lines[0]), out
    points = lines[1:]
    assert len(points) == 5, out
    for p in points:
        assert re.match(r"^1 @\[\d+(\.\d+)?\]$", p), (out, scrape_failures(pharos.log))
    out = promtool("range", "-o", "json", f"--start={end - 2:.3f}", f"--end={end:.3f}", "--step=1s",
                   'rate(jobs_processed_total{job="app_text"}[3s])').stdout
    matrix = json.loads(out)
    assert len(matrix) == 1 and len(matrix[0]["values"]) == 3
    assert all(4 < float(v) < 6 for _, v in matrix[0]["values"]), matrix


def test_series(promtool):
    out = promtool("series", "--match=up").stdout
    lines = sorted(out.strip().splitlines())
    assert lines, out
    for line in lines:
        assert line.startswith('{__name__="up", instance="127.0.0.1:'), line
    assert any('job="app_om"' in line for line in lines) and any('job="app_text"' in line for line in lines)
    out = promtool("series", '--match=build_info{job="app_om"}', '--match=worker_state{job="app_om"}').stdout
    assert len(out.strip().splitlines()) == 4, out  # one build_info, three states
    assert 'revision="abc123"' in out and 'worker_state="running"' in out


def test_labels(promtool):
    out = promtool("labels", "job").stdout
    jobs = out.strip().splitlines()
    assert {"app_om", "app_text", "doomed"} <= set(jobs), out
    assert jobs == sorted(jobs)
    le = promtool("labels", "le").stdout.strip().splitlines()
    assert {"0.005", "+Inf", "250.0"} <= set(le), le


def test_without_the_token_promtool_is_refused(promtool):
    out = promtool("instant", "up", with_token=False, check=False)
    assert out.returncode != 0
    assert "admin token" in out.stderr, out.stderr
