"""What a person sees in Pharos's web UI, checked in a real Chromium against a real,
running Pharos (see README.md beside this file).

    cd <repo> && cargo build -p pharos && .venv/bin/python -m pytest tests/browser -q
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

CONFIG = """\
web:
  status_page:
    monitors: [healthy-api, closed-port, nightly-job]
monitors:
  - name: Healthy API
    interval: 1s
    http:
      url: {health_url}
      json_assertions: ['status == "healthy"']
  - name: Closed port
    interval: 1s
    tcp:
      address: 127.0.0.1:{closed_port}
  - name: Nightly job
    heartbeat:
      period: 1d
"""

MONITORS = ("healthy-api", "closed-port", "nightly-job")


def badge(page: Page, monitor_id: str):
    return page.locator(f'table.monitors tr[data-monitor="{monitor_id}"] span.badge[data-state]')


def sign_in(page: Page, base: str, token: str) -> None:
    """Opens the overview signed out, is sent to sign in, tries a wrong token, then the
    right one, and lands back on the overview."""
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    page.locator('input[name="token"]').fill("not-the-token-not-the-token-0000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That is not the admin token.")

    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def wait_for_states(page: Page, wanted: dict[str, str], timeout: float = 12.0) -> None:
    """Reloads the overview, as a person waiting would, until every monitor shows the
    wanted state and has a 24 h uptime (that is, at least one stored check)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {m: badge(page, m).get_attribute("data-state") for m in wanted}
        uptime = {
            m: page.locator(f'table.monitors tr[data-monitor="{m}"] td.num').first.inner_text().strip()
            for m in wanted
        }
        if seen == wanted and "–" not in uptime.values():
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {timeout:.0f} s the overview shows states {seen} and 24 h uptimes {uptime}; "
                f"wanted states {wanted} with an uptime each")
        time.sleep(0.5)
        page.reload()


def test_overview_and_monitor_pages(browser_context, admin_token, start_pharos, health_target, closed_port, tmp_path):
    pharos = start_pharos(CONFIG.format(health_url=health_target, closed_port=closed_port))
    base = pharos.url
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    try:
        _check_ui(page, base, admin_token, health_target, closed_port, tmp_path)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot of the failing page: {tmp_path / 'failure.png'}")
        print(f"pharos log (tail):\n{pharos.log_tail()}")
        raise


def _check_ui(page: Page, base: str, admin_token: str, health_url: str, closed_port: int, tmp_path) -> None:
    # --- signing in
    sign_in(page, base, admin_token)

    # --- the overview: three monitors, in their right states
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitors")
    expect(page).to_have_title(re.compile("Monitors"))
    rows = page.locator("table.monitors tbody tr[data-monitor]")
    expect(rows).to_have_count(3)
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.monitor)")) == sorted(MONITORS)

    wait_for_states(page, {"healthy-api": "up", "closed-port": "down"})

    expect(badge(page, "healthy-api")).to_have_text("Up")
    expect(badge(page, "closed-port")).to_have_text("Down")
    # A heartbeat that has never been pinged, with a day to go, is still pending.
    expect(badge(page, "nightly-job")).to_have_attribute("data-state", "unknown")
    expect(badge(page, "nightly-job")).to_have_text("Pending")

    for monitor_id, name in zip(MONITORS, ("Healthy API", "Closed port", "Nightly job")):
        row = page.locator(f'table.monitors tr[data-monitor="{monitor_id}"]')
        link = row.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", f"/monitors/{monitor_id}")
        expect(row.locator("svg.chart")).to_be_visible()

    healthy_row = page.locator('table.monitors tr[data-monitor="healthy-api"]')
    expect(healthy_row).to_contain_text(health_url)
    # 24 h, 7 d and 30 d uptime columns of a monitor that never failed.
    expect(healthy_row.locator("td.num")).to_have_text(["100%", "100%", "100%"])
    closed_row = page.locator('table.monitors tr[data-monitor="closed-port"]')
    expect(closed_row).to_contain_text(f"127.0.0.1:{closed_port}")
    expect(closed_row.locator("td.num").first).to_have_text(re.compile(r"^0(\.00)?%$"))
    expect(closed_row).to_contain_text(re.compile("connection refused", re.I))

    # The counts at the top.
    expect(page.locator("div.counts a[data-count=up] strong")).to_have_text("1")
    expect(page.locator("div.counts a[data-count=down] strong")).to_have_text("1")
    expect(page.locator("div.counts a[data-count=pending] strong")).to_have_text("1")
    expect(page.locator("div.counts a[data-count=down]")).to_have_attribute("href", "/?state=down")

    shot = tmp_path / "overview.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"overview screenshot: {shot}")

    # Filtering by a count shows only those monitors.
    page.locator("div.counts a[data-count=down]").click()
    expect(page).to_have_url(base + "/?state=down")
    expect(page.locator("table.monitors tbody tr[data-monitor]")).to_have_count(1)
    expect(page.locator('table.monitors tr[data-monitor="closed-port"]')).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Monitors").click()
    expect(page).to_have_url(base + "/")

    # --- the closed port's page, reached by clicking its name
    closed_row.get_by_role("link", name="Closed port", exact=True).click()
    expect(page).to_have_url(base + "/monitors/closed-port")
    h1 = page.get_by_role("heading", level=1)
    expect(h1).to_contain_text("Closed port")
    expect(h1.locator("span.badge")).to_have_attribute("data-state", "down")
    expect(h1.locator("span.badge")).to_have_text("Down")
    expect(page.locator("[data-testid=last-error]")).to_contain_text("Connection refused")
    expect(page.locator("div.chartbox svg.timeseries")).to_be_visible()
    history = page.locator("table.history tbody tr")
    expect(history.first).to_have_attribute("data-outcome", "down")
    assert page.locator("table.history tr[data-outcome=down]").count() >= 1
    assert page.locator("table.history tr[data-outcome=up]").count() == 0
    expect(page.locator("[data-uptime='24h']")).to_have_text(re.compile(r"^0(\.00)?%$"))

    # --- back to the overview, then the healthy API's page
    page.get_by_role("link", name="← All monitors").click()
    expect(page).to_have_url(base + "/")
    page.locator('table.monitors tr[data-monitor="healthy-api"]').get_by_role(
        "link", name="Healthy API", exact=True).click()
    expect(page).to_have_url(base + "/monitors/healthy-api")
    h1 = page.get_by_role("heading", level=1)
    expect(h1).to_contain_text("Healthy API")
    expect(h1.locator("span.badge")).to_have_text("Up")
    expect(page.locator("[data-uptime='24h']")).to_have_text("100%")
    expect(page.locator(".card", has_text="Uptime 24 h")).to_contain_text("100%")
    expect(page.locator("[data-testid=last-error]")).to_have_count(0)
    expect(page.locator("div.chartbox svg.timeseries")).to_be_visible()
    expect(page.locator("table.history tr[data-outcome=up]").first).to_be_visible()
    assert page.locator("table.history tr[data-outcome=down]").count() == 0
    assert page.locator("table.history tr[data-outcome=degraded]").count() == 0
    # Each check's HTTP status is shown in the history.
    expect(page.locator("table.history tr[data-outcome=up]").first).to_contain_text("200")

    # --- the heartbeat's page shows where to ping
    page.goto(base + "/monitors/nightly-job")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nightly job")
    ping = page.locator("[data-testid=ping-url]")
    expect(ping).to_contain_text("/ping/")
    expect(ping).to_have_text(re.compile("^" + re.escape(base) + r"/ping/\S+$"))

    # --- signing out, then the public status page
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out for real

    response = page.goto(base + "/status")
    assert response is not None and response.status == 200
    expect(page).to_have_url(base + "/status")
    overall = page.locator("[data-testid=overall]")
    expect(overall).to_be_visible()
    expect(overall).to_have_text("Partial outage")
    for name in ("Healthy API", "Closed port", "Nightly job"):
        expect(page.locator(".status-row", has_text=name)).to_be_visible()
    expect(page.locator(".status-row", has_text="Closed port")).to_contain_text("Outage")
    expect(page.locator(".status-row", has_text="Healthy API")).to_contain_text("Operational")
    # Customers see names and states, never targets or errors.
    body = page.locator("body").inner_text()
    assert "refused" not in body.lower()
    assert health_url not in body and f":{closed_port}" not in body


def test_onboarding_on_a_fresh_pharos(browser_context, admin_token, start_pharos, tmp_path):
    pharos = start_pharos(None, name="empty")
    base = pharos.url
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    sign_in(page, base, admin_token)

    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Pharos")
    onboarding = page.locator("#onboarding")
    expect(onboarding).to_be_visible()
    expect(onboarding).to_contain_text("No monitors yet")
    expect(onboarding.get_by_role("heading", level=2)).to_have_text(
        ["1. In the browser", "2. With the API", "3. In pharos.yaml"])
    expect(onboarding).to_contain_text(f"curl -X POST {base}/api/v1/monitors")
    expect(onboarding).to_contain_text("pharos serve --config pharos.yaml")
    expect(page.locator("table.monitors")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "onboarding.png"), full_page=True)

    onboarding.get_by_role("link", name="Add a monitor").click()
    expect(page).to_have_url(base + "/monitors/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a monitor")
