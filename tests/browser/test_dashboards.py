"""The built-in dashboards in a real Chromium against a fresh Pharos (no config): the list
marks them Built-in, the Host dashboard's panels fill with data from Pharos's own /proc
scrapes, no series is labelled `{}`, the last time label of every chart lies inside the
chart, and at a phone's 390 px the page does not scroll sideways.

    cd <repo> && cargo build -p pharos && \
      PHAROS_BIN=target/debug/pharos .venv/bin/python -m pytest tests/browser/test_dashboards.py -q

Rates need two scrapes 15 s apart, so the test waits up to a minute for the charts.
Screenshots are saved in pytest's tmp dir (or $PHAROS_SHOTS when set).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect

# For every chart: how far its last time label sticks out past the chart's right edge
# (CSS px; <= 0 when inside). Time labels are the axis texts on the lowest line.
LAST_LABEL_OVERFLOW = """
() => [...document.querySelectorAll('svg.timeseries')].map(svg => {
  const texts = [...svg.querySelectorAll('text.axis')];
  const y = Math.max(...texts.map(t => parseFloat(t.getAttribute('y'))));
  const times = texts.filter(t => parseFloat(t.getAttribute('y')) === y);
  if (!times.length) return -1;
  const last = times[times.length - 1].getBoundingClientRect();
  return last.right - svg.getBoundingClientRect().right;
})
"""


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("PHAROS_SHOTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/dashboards")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/dashboards")


def test_builtin_host_dashboard_on_a_fresh_pharos(browser_context, admin_token, start_pharos, tmp_path):
    pharos = start_pharos(None)
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
    for title in ["Host", "Pharos", "Probes", "Error tracking", "Logs"]:
        row = page.locator("table.dashboards tbody tr", has=page.get_by_role("link", name=title, exact=True))
        expect(row).to_contain_text("Built-in")
        expect(row.get_by_role("button", name="Delete")).to_have_count(0)

    page.get_by_role("link", name="Host", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Host")
    expect(page.get_by_test_id("builtin")).to_be_visible()

    # Every panel of the host dashboard has data once two scrapes are in.
    panels = page.locator(".panel")
    deadline = time.monotonic() + 60
    while True:
        empty = [
            panels.nth(i).locator("h3").inner_text()
            for i in range(panels.count())
            if panels.nth(i).get_by_test_id("no-data").count() > 0
        ]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(3)
        page.reload()
    assert not empty, f"panels without data after a minute: {empty}"
    assert panels.count() >= 10
    for i in range(panels.count()):
        panel = panels.nth(i)
        kind = panel.get_attribute("data-panel-type")
        if kind == "timeseries":
            expect(panel.locator("svg.timeseries path.series").first).to_be_attached()
        elif kind == "stat":
            expect(panel.get_by_test_id("stat-value").first).not_to_have_text("–")

    # No series is called {}: aggregates are named by their legend or their query.
    labels = page.locator("ul.legend .label").all_inner_texts()
    assert labels, "no legend"
    assert "{}" not in labels, labels
    assert all(t.strip() for t in labels), labels
    # The full label set is kept for hover.
    assert page.locator("ul.legend li[title]").count() == len(labels)

    overflow = page.evaluate(LAST_LABEL_OVERFLOW)
    assert overflow and max(overflow) <= 0.5, f"last time label past the right edge by {overflow} px"
    page.screenshot(path=str(shots / "dashboard-host.png"), full_page=True)

    # The Pharos dashboard too: no {} anywhere in its legends.
    page.goto(base + "/dashboards/pharos-self")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pharos")
    labels = page.locator("ul.legend .label").all_inner_texts()
    assert "{}" not in labels, labels
    # Panels that stay empty on a fresh install say so neutrally, not in green.
    no_data = page.get_by_test_id("no-data").first
    expect(no_data).to_contain_text("No data")
    colour = no_data.locator(".no-data-title").evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(31, 138, 76)", "No data is drawn in the 'up' green"
    page.screenshot(path=str(shots / "dashboard-pharos.png"), full_page=True)

    # At a phone's width the dashboard fits: no sideways scrolling, labels still inside.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/dashboards/pharos-host")
    expect(page.locator("svg.timeseries").first).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at a 390 px viewport"
    overflow = page.evaluate(LAST_LABEL_OVERFLOW)
    assert max(overflow) <= 0.5, overflow
    page.screenshot(path=str(shots / "dashboard-host-390.png"), full_page=True)
