"""Status pages in a real Chromium against a real Pharos: the team posts an incident,
an update and a maintenance through the forms on /status-pages; customers see them on the
page with 90 daily bars per component (a tooltip with the date and uptime); at 390 px wide
the page does not scroll sideways and the bars show the last 30 days; a post is deleted.

    cd <repo> && cargo build -p pharos && .venv/bin/python -m pytest tests/browser/test_status_pages.py -q
"""

from __future__ import annotations

import re
import time
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from playwright.sync_api import Page, expect

CONFIG = """\
monitors:
  - name: Healthy API
    id: api
    interval: 1s
    http:
      url: {health_url}
  - name: Closed port
    id: checkout
    interval: 1s
    tcp:
      address: 127.0.0.1:{closed_port}
  - name: Internal database
    id: db
    heartbeat:
      period: 1d
web:
  status_pages:
    - slug: public
      title: Acme status
      description: Every service our customers use, with a description long enough to wrap on a phone screen.
      components:
        - monitor: api
          name: Public API with a name long enough to need wrapping on a phone
          description: REST, GraphQL and the webhooks we send to your endpoints
      groups:
        - name: Shop
          components:
            - monitor: checkout
              name: Checkout
    - slug: eu
      title: Acme EU
      components:
        - monitor: api
          name: EU API
"""

PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/login")
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def scroll_width(page: Page) -> int:
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


def test_status_pages(browser_context, admin_token, start_pharos, health_target, closed_port, tmp_path):
    pharos = start_pharos(CONFIG.format(health_url=health_target, closed_port=closed_port))
    base = pharos.url
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    try:
        _check(page, base, admin_token)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failing page: {tmp_path / 'failure.png'}")
        print(f"pharos log (tail):\n{pharos.log_tail()}")
        raise


def _wait_for(page: Page, url: str, text: str, seconds: float = 20) -> None:
    """Status page views are reused for a few seconds: reload until `text` shows."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(url)
        if text in page.locator("body").inner_text():
            return
        assert time.monotonic() < deadline, f"{url} never showed {text!r}"
        time.sleep(0.5)


def _check(page: Page, base: str, token: str) -> None:
    # --- customers: only the listed components, in their group, with 90 bars each
    _wait_for(page, base + "/status/public", "Outage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme status")
    expect(page.locator("[data-testid=overall]")).to_have_text("Partial outage")
    expect(page.locator("h2.group")).to_have_text("Shop")
    body = page.locator("body").inner_text()
    assert "Internal database" not in body and "Healthy API" not in body
    api = page.locator('[data-component="api"]')
    expect(api.locator(".bar")).to_have_count(90)
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    expect(api.locator(".bar").last).to_have_attribute("title", re.compile(rf"^{today}: [\d.]+% uptime, \d+ min down$"))
    expect(api.locator(".bar").first).to_have_attribute("title", re.compile(r"no data$"))
    expect(api.locator(".bar.nodata")).to_have_count(89)

    # --- the team posts an incident through the form
    sign_in(page, base, token)
    page.goto(base + "/status-pages")
    section = page.locator('section.status-admin[data-page="public"]')
    new_incident = section.locator('details.new-post[data-kind="incident"]')
    new_incident.locator("summary").click()
    new_incident.locator('input[name="title"]').fill("Slow API responses")
    new_incident.locator('textarea[name="message"]').fill("We are investigating slow responses.")
    new_incident.locator('input[name="component"][value="api"]').check()
    new_incident.locator('select[name="impact"]').select_option("degraded_performance")
    new_incident.get_by_role("button", name="New incident").click()
    expect(page).to_have_url(base + "/status-pages")
    post = section.locator("details.status-post", has_text="Slow API responses")
    expect(post).to_be_visible()
    post.locator('select[name="status"]').select_option("identified")
    post.locator('textarea[name="message"]').fill("A slow database query; a fix is rolling out.")
    post.get_by_role("button", name="Post update").click()
    expect(section.locator("details.status-post", has_text="Slow API responses")).to_contain_text("Identified")

    # A maintenance under way on the failing checkout.
    now = datetime.now(timezone.utc)
    maintenance = section.locator('details.new-post[data-kind="maintenance"]')
    maintenance.locator("summary").click()
    maintenance.locator('input[name="title"]').fill("Payment provider migration")
    maintenance.locator('select[name="status"]').select_option("in_progress")
    maintenance.locator('textarea[name="message"]').fill("Checkout is paused for an hour.")
    maintenance.locator('input[name="starts_at"]').fill((now - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M"))
    maintenance.locator('input[name="ends_at"]').fill((now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"))
    maintenance.locator('input[name="component"][value="checkout"]').check()
    maintenance.get_by_role("button", name="Schedule maintenance").click()
    maintenance_post = section.locator("details.status-post", has_text="Payment provider migration")
    expect(maintenance_post).to_be_visible()
    # Its window moves (no update needed): the list shows the new end.
    new_end = (now + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    maintenance_post.locator('input[name="ends_at"]').fill(new_end)
    maintenance_post.get_by_role("button", name="Post update").click()
    expect(page).to_have_url(base + "/status-pages")
    expect(section.locator("details.status-post", has_text="Payment provider migration")).to_contain_text(f"– {new_end} UTC")

    # A refused post says why, and keeps the page.
    new_incident = section.locator('details.new-post[data-kind="incident"]')
    new_incident.locator("summary").click()
    new_incident.locator('input[name="title"]').fill("No message")
    new_incident.locator('textarea[name="message"]').fill("   ")
    new_incident.get_by_role("button", name="New incident").click()
    expect(page.locator("#status-post-error")).to_contain_text("message")

    # --- customers see the incident with both updates and the maintenance
    _wait_for(page, base + "/status/public", "A slow database query")
    active = page.get_by_test_id("active")
    expect(active).to_contain_text("Slow API responses")
    expect(active).to_contain_text("We are investigating slow responses.")
    expect(active).to_contain_text("Payment provider migration")
    expect(page.locator('[data-component="checkout"] .component-head')).to_contain_text("Under maintenance")
    expect(page.locator('[data-component="api"] .component-head')).to_contain_text("Degraded performance")
    expect(page.locator("[data-testid=overall]")).to_have_text("Some systems are degraded")
    page.goto(base + "/status/eu")
    assert "Slow API responses" not in page.locator("body").inner_text()

    # --- the Atom feed parses as XML, with the elements RFC 4287 requires
    with urllib.request.urlopen(base + "/status/public/feed.atom") as r:
        assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        feed = ET.fromstring(r.read())
    atom = "{http://www.w3.org/2005/Atom}"
    assert feed.tag == atom + "feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(atom + required) is not None, required
    entries = feed.findall(atom + "entry")
    assert len(entries) == 2, [e.findtext(atom + "title") for e in entries]
    for entry in entries:
        for required in ("id", "title", "updated", "content"):
            assert entry.find(atom + required) is not None, required
        datetime.fromisoformat(entry.findtext(atom + "updated"))
    incident = next(e for e in entries if e.findtext(atom + "title").startswith("Slow API responses"))
    assert "A slow database query" in incident.findtext(atom + "content")

    # --- a phone: nothing scrolls sideways, the bars show 30 days
    page.set_viewport_size(PHONE)
    for path in ["/status/public", "/status", "/status/eu", "/status-pages"]:
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width = scroll_width(page)
        assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
    page.goto(base + "/status/public")
    bars = page.locator('[data-component="api"] .bar')
    visible = bars.evaluate_all("els => els.filter(e => e.getBoundingClientRect().width > 0).length")
    assert visible == 30, visible
    expect(page.locator('[data-component="api"] .bars-legend')).to_contain_text("30 days ago")
    page.set_viewport_size({"width": 1280, "height": 900})

    # --- the team deletes the incident
    page.goto(base + "/status-pages")
    post = page.locator('section.status-admin[data-page="public"] details.status-post', has_text="Slow API responses")
    post.get_by_role("button", name="Delete").click()
    expect(page.locator("details.status-post", has_text="Slow API responses")).to_have_count(0)
    _wait_for(page, base + "/status/public", "Payment provider migration")
    assert "Slow API responses" not in page.locator("body").inner_text()
