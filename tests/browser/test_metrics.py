"""The metrics UI in a real Chromium against a real Pharos scraping a tiny local app:
the PromQL explorer (completion, a chart, a marked fault), seed 003's Grafana dashboard
listed in the config, a Grafana JSON pasted on /dashboards, and the cardinality page
finding the label whose values explode.

    cd <repo> && cargo build -p pharos && \
      PHAROS_BIN=target/debug/pharos .venv/bin/python -m pytest tests/browser/test_metrics.py -q

Screenshots of each page are saved in pytest's tmp dir (or $PHAROS_SHOTS when set).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

REPO = Path(__file__).resolve().parents[2]
SEED_003 = REPO / "crates/app/tests/fixtures/grafana-seed-003.json"


class _AppHandler(http.server.BaseHTTPRequestHandler):
    """`prometheus_client`-style metrics; product_views_total gains a user_id per scrape."""

    scrapes = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != "/metrics":
            self.send_response(404)
            self.end_headers()
            return
        type(self).scrapes += 1
        n = type(self).scrapes
        lines = [
            "# TYPE http_requests_total counter",
            f'http_requests_total{{status="200"}} {n * 100}',
            f'http_requests_total{{status="500"}} {n}',
            "# TYPE orders_created_total counter",
            f'orders_created_total{{channel="web"}} {n * 3}',
            f'orders_created_total{{channel="whatsapp"}} {n}',
            "# TYPE product_views_total counter",
        ]
        lines += [f'product_views_total{{user_id="u{u}"}} {n}' for u in range(min(150 + 50 * n, 500))]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_app():
    _AppHandler.scrapes = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AppHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


UPLOAD = {
    "uid": "pasted",
    "title": "Pasted from Grafana",
    "panels": [
        {"type": "stat", "title": "Requests per second", "gridPos": {"x": 0, "y": 0, "w": 8, "h": 4},
         "fieldConfig": {"defaults": {"unit": "reqps"}},
         "targets": [{"expr": "sum(rate(http_requests_total[$__rate_interval]))"}]},
        {"type": "piechart", "title": "Channels", "gridPos": {"x": 8, "y": 0, "w": 16, "h": 4},
         "targets": [{"expr": "sum by (channel) (orders_created_total)"}]},
    ],
}


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("PHAROS_SHOTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/metrics/explore")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/metrics/explore")


def test_explorer_dashboards_cardinality(browser_context, admin_token, start_pharos, metrics_app, tmp_path):
    dash_dir = tmp_path / "dashboards"
    dash_dir.mkdir()
    shutil.copy(SEED_003, dash_dir / "orders.json")
    pharos = start_pharos(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{metrics_app}']\n"
        f"dashboards:\n  - {dash_dir}/*.json\n"
    )
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    try:
        _check(page, pharos.url, admin_token, shots_dir(tmp_path))
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failing page: {tmp_path / 'failure.png'}")
        print(f"pharos log (tail):\n{pharos.log_tail()}")
        raise


def _check(page: Page, base: str, token: str, shots: Path) -> None:
    sign_in(page, base, token)
    expect(page.get_by_role("heading", level=1)).to_have_text("Metrics")
    expect(page.get_by_role("navigation").get_by_role("link", name="Metrics")).to_have_class("current")

    # --- completion: a metric name, then a label name inside the braces
    box = page.locator("#promql")
    deadline = time.monotonic() + 15
    while True:  # the first scrape lands within a second or two
        box.fill("")
        box.press_sequentially("orders_cr")
        try:
            expect(page.locator("ul.completions li", has_text="orders_created_total")).to_be_visible(timeout=1500)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()
            box = page.locator("#promql")
    box.press("Tab")
    expect(box).to_have_value("orders_created_total")
    box.press_sequentially("{ch")
    expect(page.locator("ul.completions li", has_text="channel")).to_be_visible()
    box.press("Tab")
    box.press_sequentially('="')
    expect(page.locator("ul.completions li", has_text="whatsapp")).to_be_visible()
    box.fill("sum by (channel) (orders_created_total)")

    # --- a chart with a line per series and a legend of label sets
    page.locator("select[name=range]").select_option("5m")
    deadline = time.monotonic() + 15
    while True:
        page.get_by_role("button", name="Graph").click()
        if page.locator("svg.timeseries path.series").count() >= 2 or time.monotonic() > deadline:
            break
        time.sleep(1)
    expect(page.locator("svg.timeseries path.series")).to_have_count(2)
    expect(page.locator("ul.legend")).to_contain_text('{channel="web"}')
    expect(page.locator("ul.legend")).to_contain_text('{channel="whatsapp"}')
    expect(page).to_have_url(re.compile(r"range=5m"))
    page.screenshot(path=str(shots / "explore.png"), full_page=True)

    # --- the table, and a query with its fault marked
    page.get_by_role("button", name="Table").click()
    expect(page.locator("[data-testid=results] tbody tr")).to_have_count(2)
    box = page.locator("#promql")
    box.fill("sum(rate(orders_created_total[5m])")
    page.get_by_role("button", name="Graph").click()
    fault = page.get_by_test_id("query-error")
    expect(fault).to_contain_text("does not parse")
    expect(fault.locator("mark")).to_have_text("(")
    page.screenshot(path=str(shots / "explore-error.png"), full_page=True)

    # --- seed 003's Grafana dashboard from the config. Its panel draws increase(), which
    # needs two stored samples: on a loaded machine the steps above can finish before
    # the second scrape, so wait for a third scrape to have been served.
    deadline = time.monotonic() + 15
    while _AppHandler.scrapes < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboards")
    page.get_by_role("link", name="Order Monitoring").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Order Monitoring")
    panel = page.locator(".panel", has_text="Orders Created")
    expect(panel.locator("svg.timeseries path.series")).to_have_count(2)
    expect(panel.locator("ul.legend")).to_contain_text("whatsapp")
    page.locator("select[name=range]").select_option("1h")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"range=1h"))
    expect(panel.locator("svg.timeseries")).to_be_visible()
    page.screenshot(path=str(shots / "dashboard-seed-003.png"), full_page=True)

    # --- a Grafana JSON pasted in: the stat is drawn, the pie chart is a placeholder
    page.goto(base + "/dashboards")
    page.locator("textarea[name=content]").fill(json.dumps(UPLOAD))
    page.get_by_role("button", name="Import").click()
    expect(page).to_have_url(base + "/dashboards/pasted")
    expect(page.get_by_test_id("stat-value")).to_contain_text("req/s")
    expect(page.get_by_test_id("unsupported-panel")).to_contain_text("piechart")
    page.screenshot(path=str(shots / "dashboard-pasted.png"), full_page=True)
    page.goto(base + "/dashboards")
    expect(page.locator("tr[data-dashboard=pasted]")).to_contain_text("uploaded")

    # --- the cardinality page names the exploding label
    page.goto(base + "/metrics/explore")
    page.get_by_role("link", name="Cardinality").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cardinality")
    exploding = page.get_by_test_id("exploding")
    expect(exploding).to_contain_text("product_views_total")
    expect(exploding).to_contain_text("user_id")
    expect(page.get_by_test_id("by-metric").locator("tbody tr").first).to_contain_text("product_views_total")
    page.screenshot(path=str(shots / "cardinality.png"), full_page=True)
