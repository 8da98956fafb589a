"""The monitor pages on a phone and the overview's finding aids, in a real Chromium
against a real Pharos: at 390 px wide neither the overview nor a monitor page scrolls
sideways; the overview searches by tag and group and lists groups under headings, each
monitor with a bar of its recent checks and its error written for people (the technical
text on hover); a heartbeat's ping URL has a copy button and cron / curl snippets.

    cd <repo> && cargo build -p pharos && .venv/bin/python -m pytest tests/browser/test_monitor_pages.py -q
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

CONFIG = """\
monitors:
  - name: Healthy API with a name long enough to need wrapping on a phone screen
    id: healthy-api
    interval: 1s
    group: Website
    tags: [prod, api]
    http:
      url: {health_url}?some=long&query=string&that=does&not=break&easily=true
  - name: Closed port
    interval: 1s
    group: Databases
    tcp:
      address: 127.0.0.1:{closed_port}
  - name: Nightly job
    heartbeat:
      period: 1d
"""

PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/login")
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def scroll_width(page: Page) -> int:
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")


def test_monitor_pages_on_a_phone(browser_context, admin_token, start_pharos, health_target, closed_port, tmp_path):
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


def _check(page: Page, base: str, token: str) -> None:
    sign_in(page, base, token)

    # Wait for checks: the closed port down with its error, the API with a few checks.
    deadline = time.monotonic() + 15
    while True:
        page.goto(base + "/")
        down = page.locator('tr[data-monitor="closed-port"] span.badge[data-state="down"]')
        checks = page.locator('tr[data-monitor="healthy-api"] .checkbar .check.up')
        if down.count() == 1 and checks.count() >= 2:
            break
        assert time.monotonic() < deadline, "monitors never got checked"
        time.sleep(0.5)

    # --- the overview, at desktop width: groups, tags, the bar of checks, human errors
    groups = page.locator("table.monitors tr.group th")
    expect(groups).to_have_text([re.compile("^Databases"), re.compile("^Website"), re.compile("^Other monitors")])
    error = page.locator('tr[data-monitor="closed-port"] .last-error .error-text')
    expect(error).to_have_text(re.compile(r"^Connection refused: nothing is listening"))
    assert "os error" in (error.get_attribute("title") or ""), error.get_attribute("title")
    bar = page.locator('tr[data-monitor="closed-port"] .checkbar')
    expect(bar.locator(".check.down").first).to_be_visible()

    # Search by tag, then by group; a tag links to its search.
    page.locator('input[name="search"]').fill("prod")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.monitors tr[data-monitor]")).to_have_count(1)
    expect(page.locator("table.monitors tr[data-monitor]")).to_have_attribute("data-monitor", "healthy-api")
    page.locator('input[name="search"]').fill("databases")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.monitors tr[data-monitor]")).to_have_attribute("data-monitor", "closed-port")
    page.goto(base + "/")
    page.locator('tr[data-monitor="healthy-api"] a.tag', has_text="api").click()
    expect(page).to_have_url(re.compile(r"search=api"))
    expect(page.locator("table.monitors tr[data-monitor]")).to_have_count(1)

    # --- the heartbeat page: copy the ping URL, cron and curl snippets
    page.goto(base + "/monitors/nightly-job")
    url = page.get_by_test_id("ping-url").inner_text().strip()
    assert re.fullmatch(re.escape(base) + r"/ping/\S+", url), url
    expect(page.get_by_test_id("cron-snippet")).to_have_text(f"0 3 * * * /path/to/job.sh && curl -fsS -m 10 --retry 5 -o /dev/null {url}")
    expect(page.get_by_test_id("curl-snippet")).to_contain_text(f"{url}/start")
    expect(page.get_by_test_id("curl-snippet")).to_contain_text(f"{url}/$?")
    copy = page.locator('button[data-copy="ping-url-text"]')
    copy.click()
    expect(copy).to_have_text("Copied")

    # --- a phone: nothing scrolls sideways
    page.set_viewport_size(PHONE)
    for path in ["/", "/monitors/healthy-api", "/monitors/closed-port", "/monitors/nightly-job", "/monitors/healthy-api?range=7d"]:
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        width = scroll_width(page)
        assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"
