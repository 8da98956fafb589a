"""One Pharos for the session scraping a small `prometheus_client` app (app.py) twice,
once in each exposition format, plus a second copy of the app that a test stops; and,
when Debian's `prometheus` is installed, one real Prometheus 2.42 scraping the same app
and remote-writing to Pharos. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from harness import Pharos  # noqa: E402
from metrics_e2e import (  # noqa: E402
    ADMIN_TOKEN,
    PromApi,
    Traffic,
    free_port,
    request_plan,
    start_app,
    tool,
    wait_for,
)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pharos-metrics")


@pytest.fixture(scope="session")
def app(workdir):
    a = start_app(workdir, "app")
    yield a
    a.stop()


@pytest.fixture(scope="session")
def doomed_app(workdir):
    """A second copy of the app, scraped by its own job, that a test stops."""
    a = start_app(workdir, "doomed-app")
    yield a
    a.stop()


class MetricsPharos(Pharos):
    """Pharos with a client of its Prometheus HTTP API (`api`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.api = PromApi(self.url, self.admin_token, self.log)


@pytest.fixture(scope="session")
def pharos(workdir, app, doomed_app):
    # Two jobs on the same app: one asks for the text format 0.0.4 only, the other asks as
    # Prometheus does by default (OpenMetrics first), which prometheus_client answers.
    # Prometheus spells the protocol `PrometheusText0.0.4`; Pharos refuses that spelling
    # (see test_scrape_protocols_in_prometheus_spelling), so this uses Pharos's own.
    config = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app_text
    scrape_protocols: [PrometheusText0.0.4]
    static_configs:
      - targets: ['127.0.0.1:{app.port}']
        labels: {{service: shop}}
  - job_name: app_om
    static_configs:
      - targets: ['127.0.0.1:{app.port}']
        labels: {{service: shop}}
  - job_name: doomed
    static_configs:
      - targets: ['127.0.0.1:{doomed_app.port}']
metrics:
  self_scrape_interval: 0s
  host_metrics_interval: 0s
"""
    # pharos_scrape=debug: a failed scrape is logged with its error, so a test that sees
    # `up` 0 or a series go missing can say why (the log tail is in wait_for's failures).
    p = MetricsPharos(workdir, config=config, admin_token=ADMIN_TOKEN,
                      env={"PHAROS_LOG": "info,pharos_scrape=debug"})
    p.start()
    try:
        # Every job has scraped at least twice, so the series are there.
        wait_for("three jobs up with two scrapes each", lambda: len(p.api.vector(
            "count_over_time(up[1m]) >= 2 and up == 1")) == 3, log=p.log)
        yield p
    finally:
        p.stop()


@dataclass
class Prometheus:
    url: str
    log: Path
    proc: subprocess.Popen
    api: PromApi


@pytest.fixture(scope="session")
def prometheus(workdir, app, pharos):
    """A real Prometheus scraping the same app (OpenMetrics, as 2.42 always asks, and the
    text format through the app's `?format=text`) and remote-writing to Pharos."""
    binary = tool("prometheus", "PROMETHEUS_BIN")
    if binary is None:
        pytest.skip("Debian's `prometheus` is not installed (scripts/test installs it; "
                    "or `apt-get install --no-install-recommends prometheus`)")
    port = free_port()
    cfg = workdir / "prometheus.yml"
    cfg.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prom_app
    static_configs:
      - targets: ['127.0.0.1:{app.port}']
        labels: {{service: shop}}
  - job_name: prom_app_text
    params: {{format: [text]}}
    static_configs:
      - targets: ['127.0.0.1:{app.port}']
        labels: {{service: shop}}
remote_write:
  - url: {pharos.url}/api/v1/write
    authorization:
      credentials: {ADMIN_TOKEN}
    queue_config:
      batch_send_deadline: 200ms
      min_backoff: 50ms
      max_backoff: 500ms
      capacity: 5000
      max_samples_per_send: 2000
    metadata_config:
      send_interval: 1s
""")
    log = workdir / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={workdir / 'prometheus-data'}", "--log.level=info"],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    p = Prometheus(f"http://127.0.0.1:{port}", log, proc, PromApi(f"http://127.0.0.1:{port}", None, log))

    def ready():
        if proc.poll() is not None:
            pytest.fail("prometheus exited:\n" + log.read_text(errors="replace"))
        with urllib.request.urlopen(p.url + "/-/ready", timeout=1) as r:
            return r.status == 200

    wait_for("prometheus to be ready", ready, log=log)
    wait_for("prometheus's two jobs up, twice each", lambda: len(p.api.vector(
        "count_over_time(up[1m]) >= 2 and up == 1")) == 2, log=log)
    yield p
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def traffic(app, pharos) -> Traffic:
    """Sends `request_plan()` to the app, sets the queue gauge to 7 and the worker state to
    `running`, then waits until both of Pharos's jobs have scraped the result."""
    time.sleep(1.2)  # one more scrape of the untouched app
    before = time.time()
    plan = request_plan()
    for r in plan:
        app.get(f"/api/orders?method={r['method']}&status={r['status']}"
                f"&latency={r['latency']}&value={r['value']}")
    app.get("/queue?set=7")
    app.get("/state?to=running")
    done = time.time()
    # A scrape that started after the last request saw all of them.
    wait_for("both jobs to scrape after the traffic", lambda: len(pharos.api.vector(
        f'timestamp(orders_in_queue{{job=~"app_text|app_om"}}) > {done:.3f}')) == 2, log=pharos.log)
    time.sleep(0.05)
    return Traffic(before=before, after=time.time(), plan=plan, app_start=app.get("/start")["start"])
