"""What people trying Pharos in headless Chromium found (issue 16), in a real Chromium
against a real Pharos with a monitor that goes down, an incident, rules and a silence:

- at 390 px wide no signed-in page scrolls sideways (wide tables scroll in their own
  box) and the navigation is a compact bar, so the page starts near the top;
- the silences form is styled as the other forms (not the browser's default button and
  fieldset);
- a severity has the same colour on every page that shows it;
- a rule over a metric that does not exist says "no data" on /rules, not a green ok,
  while /api/v1/rules keeps Prometheus's "ok";
- a fresh install lists no metric as growing on /metrics/cardinality.

    cargo build -p pharos && PHAROS_BIN=$PWD/target/debug/pharos \\
        .venv/bin/python -m pytest tests/browser/test_headless_findings.py -q
"""

from __future__ import annotations

import http.server
import re
import threading
import time

import pytest
from playwright.sync_api import Page, expect

CONFIG = """\
global:
  evaluation_interval: 1s
metrics:
  self_scrape_interval: 1s
rule_files: [{rules}]
monitors:
  - name: Checkout API with a name long enough to need wrapping on a phone screen
    id: checkout-api
    interval: 1s
    labels:
      severity: critical
    tcp:
      address: 127.0.0.1:{closed_port}
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

RULES = """\
groups:
  - name: shop
    rules:
      - alert: CheckoutErrors
        expr: rate(checkout_errors_total{job="shop"}[5m]) > 0
        labels:
          severity: critical
      - alert: PharosUp
        expr: up{job="pharos"} == 0
        labels:
          severity: warning
"""

PHONE = {"width": 390, "height": 844}


class _Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/login")
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def wait_for(page: Page, base: str, path: str, locator: str, timeout: float = 25.0):
    """Reloads `path`, as a person waiting would, until `locator` is on the page."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(base + path)
        if page.locator(locator).count() > 0:
            return page.locator(locator).first
        assert time.monotonic() < deadline, f"{locator} never showed on {path}"
        time.sleep(0.5)


@pytest.fixture
def signed_in(browser_context, admin_token, start_pharos, closed_port, hook_url, tmp_path):
    """A Pharos with the config above, and a page signed in to it: yields (page, base).
    On a failure, saves a screenshot and prints the tail of Pharos's log."""
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    pharos = start_pharos(CONFIG.format(rules=rules, closed_port=closed_port, hook_url=hook_url))
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    sign_in(page, pharos.url, admin_token)
    failed = True
    try:
        yield page, pharos.url
        failed = False
    finally:
        if failed:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot of the failing page: {tmp_path / 'failure.png'}\n{pharos.log_tail()}")


def an_incident(page: Page, base: str) -> str:
    """Waits for the monitor's alert to open an incident; returns its path."""
    link = wait_for(page, base, "/incidents", 'a[href^="/incidents/"]')
    incident = link.get_attribute("href")
    assert re.fullmatch(r"/incidents/\d+", incident or ""), incident
    return incident


def create_silence(page: Page, base: str) -> None:
    page.goto(base + "/silences")
    page.locator('input[name="matchers"]').fill('alertname="Nothing", job="a-long-job-name-for-a-phone"')
    page.locator('input[name="comment"]').fill("a comment long enough to make the silences table wider than a phone")
    page.locator('input[name="created_by"]').fill("browser-test")
    page.get_by_role("button", name="Create silence").click()
    expect(page.locator("table.silences tr[data-silence]")).to_have_count(1)


def test_the_silences_form_is_styled_as_the_other_forms(signed_in):
    page, base = signed_in
    create_silence(page, base)
    button = page.get_by_role("button", name="Create silence")
    style = button.evaluate("b => { const s = getComputedStyle(b); return [s.backgroundColor, s.color, s.borderRadius]; }")
    assert style == ["rgb(30, 95, 168)", "rgb(255, 255, 255)", "4px"], style
    fieldset = page.locator("form.silence fieldset").evaluate(
        "f => { const s = getComputedStyle(f); return [s.borderTopStyle, s.borderTopColor, s.borderRadius]; }")
    assert fieldset == ["solid", "rgb(221, 225, 228)", "6px"], fieldset
    form = page.locator("form.silence").evaluate("f => getComputedStyle(f).backgroundColor")
    assert form == "rgb(255, 255, 255)", form


def test_a_rule_over_a_missing_metric_says_no_data(signed_in):
    page, base = signed_in
    # (`up` of Pharos's own scrape exists once it has scraped itself.)
    wait_for(page, base, "/rules", 'tr[data-rule="PharosUp"] [data-health="ok"]')
    row = page.locator('tr[data-rule="CheckoutErrors"]')
    expect(row.locator("[data-health]")).to_have_text("no data")
    expect(row.locator("[data-missing]")).to_contain_text('checkout_errors_total{job="shop"}')
    assert "rgb(31, 138, 76)" not in {b.evaluate("e => getComputedStyle(e).backgroundColor") for b in row.locator(".badge").all()}, \
        "nothing green on a rule that watches nothing"
    # The API keeps Prometheus's health.
    api = page.request.get(base + "/api/v1/rules").json()
    health = {r["name"]: r["health"] for g in api["data"]["groups"] for r in g["rules"]}
    assert health == {"CheckoutErrors": "ok", "PharosUp": "ok"}, health


def test_a_severity_has_one_colour_on_every_page(signed_in):
    page, base = signed_in
    incident = an_incident(page, base)
    red, amber = "rgb(198, 40, 40)", "rgb(178, 106, 0)"
    colour = "e => getComputedStyle(e).backgroundColor"
    for path in ["/alerts", "/incidents", incident, "/rules"]:
        page.goto(base + path)
        tags = page.locator('[data-severity="critical"]')
        expect(tags.first).to_be_visible()
        assert {t.evaluate(colour) for t in tags.all()} == {red}, path
    page.goto(base + "/rules")
    assert page.locator('tr[data-rule="PharosUp"] [data-severity="warning"]').evaluate(colour) == amber


def test_signed_in_pages_fit_a_phone(signed_in):
    page, base = signed_in
    incident = an_incident(page, base)
    create_silence(page, base)
    page.set_viewport_size(PHONE)
    for path in ["/", "/monitors/checkout-api", incident, "/incidents", "/alerts", "/rules", "/silences",
                 "/receivers", "/slos", "/issues", "/transactions", "/logs", "/logs/rules", "/metrics/explore",
                 "/metrics/cardinality", "/oncall", "/projects"]:
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
        top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
        assert top < 120, f"{path}: the navigation takes {top:.0f} px before the page starts"
        # The section you are in is on screen, not scrolled past the edge of the bar.
        current = page.locator("header.top nav.main a.current")
        if current.count():
            box = current.bounding_box()
            assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], f"{path}: current section at {box}"


def test_a_fresh_install_grows_nothing(signed_in):
    page, base = signed_in
    # Pharos scrapes itself every second: wait for its series and past the 5 s a
    # snapshot needs before it counts as a baseline.
    deadline = time.monotonic() + 20
    while True:
        page.goto(base + "/metrics/cardinality")
        if int(page.get_by_test_id("total-series").inner_text()) > 50:
            break
        assert time.monotonic() < deadline, "Pharos never scraped itself"
        time.sleep(0.5)
    time.sleep(6)
    page.reload()
    expect(page.get_by_test_id("by-metric").locator("tbody tr").first).to_be_visible()
    expect(page.get_by_test_id("growing")).to_have_count(0)
    expect(page.locator(".grow")).to_have_count(0)
