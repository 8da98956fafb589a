"""Alerting in the browser: a monitor goes down, its alert shows on /alerts, a person
silences it from there and sees it marked silenced, then sends a test notification from
/receivers and reads the result. A real Pharos, a local target it can be told to fail,
and a local webhook receiver; screenshots go to pytest's tmp dir (paths printed).

    cargo build -p pharos && PHAROS_BIN=$PWD/target/debug/pharos \
        .venv/bin/python -m pytest tests/browser/test_alerting.py -q -s
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time

import pytest
from playwright.sync_api import Page, expect

CONFIG = """\
monitors:
  - name: Checkout API
    interval: 1s
    labels:
      severity: critical
    http:
      url: {health_url}
receivers:
  - name: ops
    webhook_configs:
      - url: {hook_url}
route:
  receiver: ops
  group_by: [alertname, monitor]
  group_wait: 1s
  group_interval: 2s
"""


class _Switch(http.server.BaseHTTPRequestHandler):
    """`/health` answers 200 or 500 as the test says; `/hook` takes webhook posts."""

    failing = False
    received: list = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        code = 500 if type(self).failing else 200
        body = b'{"status":"healthy"}' if code == 200 else b"boom"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def switch():
    handler = type("Switch", (_Switch,), {"failing": False, "received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sign_in(page: Page, base: str, token: str, path: str) -> None:
    page.goto(base + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + path)


def reload_until(page: Page, locator, timeout: float = 20.0) -> None:
    """Reloads, as a person waiting would, until `locator` is on the page."""
    deadline = time.monotonic() + timeout
    while locator.count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing matched {locator} after {timeout:.0f} s")
        time.sleep(0.5)
        page.reload()


def test_alert_silenced_from_alerts_page_and_test_notification(
        browser_context, admin_token, start_pharos, switch, tmp_path):
    handler, base_url = switch
    pharos = start_pharos(CONFIG.format(health_url=base_url + "/health", hook_url=base_url + "/hook"))
    base = pharos.url
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    try:
        _check(page, base, admin_token, handler, tmp_path)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failing page: {tmp_path / 'failure.png'}\n{pharos.log_tail()}")
        raise


def _check(page: Page, base: str, token: str, handler, tmp_path) -> None:
    sign_in(page, base, token, "/alerts")
    expect(page.locator("header.top nav.main a.current")).to_have_text("Alerts")
    expect(page.locator("nav.sub a.current")).to_have_text("Alerts")
    expect(page.locator("#no-open-alerts")).to_be_visible()

    handler.failing = True
    row = page.locator('#open-alerts tr[data-state="firing"]', has_text="MonitorDown")
    reload_until(page, row)
    expect(row.locator("[data-source=monitor]")).to_have_text("checkout-api")
    expect(row).to_contain_text("severity=critical")
    # Who was told: the webhook took the firing notification.
    reload_until(page, row.locator('[data-outcome="delivered"]'))
    expect(row.locator(".notified")).to_contain_text("ops")
    page.screenshot(path=str(tmp_path / "alerts-firing.png"), full_page=True)
    print(f"alerts page: {tmp_path / 'alerts-firing.png'}")

    row.get_by_role("link", name="Silence…").click()
    expect(page).to_have_url(re.compile(r"/silences\?matchers="))
    expect(page.locator("nav.sub a.current")).to_have_text("Silences")
    expect(page.locator('input[name="matchers"]')).to_have_value(re.compile(r'monitor="checkout-api"'))
    page.locator('input[name="comment"]').fill("deploying a fix")
    page.locator('input[name="created_by"]').fill("browser-test")
    page.get_by_role("button", name="Create silence").click()
    expect(page).to_have_url(base + "/silences")
    expect(page.locator("table.silences tr[data-silence]")).to_have_count(1)

    page.goto(base + "/alerts")
    row = page.locator('#open-alerts tr[data-state="firing"]', has_text="MonitorDown")
    expect(row.locator("span.badge.silenced")).to_be_visible()
    page.locator('select[name="state"]').select_option("silenced")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"state=silenced"))
    expect(page.locator("#open-alerts tr[data-alert]")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "alerts-silenced.png"), full_page=True)
    print(f"silenced: {tmp_path / 'alerts-silenced.png'}")

    page.get_by_role("link", name="Receivers").click()
    expect(page).to_have_url(base + "/receivers")
    section = page.locator('section[data-receiver="ops"]')
    expect(section.locator("[data-health]")).to_have_text("OK")
    before = len(handler.received)
    section.get_by_role("button", name="Send test notification").click()
    result = page.locator("#test-result")
    expect(result).to_have_attribute("data-status", "delivered")
    expect(result).to_contain_text("ops")
    assert len(handler.received) == before + 1
    assert handler.received[-1]["alerts"][0]["labels"]["alertname"] == "PharosTestNotification"
    expect(section.locator("table.deliveries tr[data-delivery]").first).to_have_attribute("data-outcome", "delivered")
    page.screenshot(path=str(tmp_path / "receivers.png"), full_page=True)
    print(f"receivers page: {tmp_path / 'receivers.png'}")
