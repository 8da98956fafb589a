"""The pages under Pharos's Content-Security-Policy: every page a person opens renders
with no CSP violation reported by Chromium (the explorer's completion and the live tail,
the pages' scripts, are exercised under the same policy in test_metrics.py and
test_logs.py), and a public monitor page shows a heartbeat's ping URL only once signed in.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

CONFIG = """\
web:
  public: [status, monitors]
monitors:
  - name: Healthy API
    interval: 1s
    http:
      url: {health_url}
  - name: Nightly job
    heartbeat:
      period: 1d
"""

PAGES = [
    "/",
    "/monitors/healthy-api",
    "/monitors/nightly-job",
    "/monitors/new",
    "/alerts",
    "/silences",
    "/receivers",
    "/incidents",
    "/issues",
    "/transactions",
    "/projects",
    "/logs",
    "/metrics/explore?query=up",
    "/metrics/cardinality",
    "/dashboards",
    "/status",
]


def test_pages_run_under_the_content_security_policy(browser_context, admin_token, start_pharos, health_target):
    pharos = start_pharos(CONFIG.format(health_url=health_target))
    base = pharos.url
    page = browser_context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(f"{page.url}: {m.text}")
        if "Content Security Policy" in m.text
        else None,
    )

    # Signed out, the public monitor page has no ping URL.
    response = page.goto(base + "/monitors/nightly-job")
    assert response is not None and response.status == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nightly job")
    expect(page.get_by_test_id("ping-url")).to_have_count(0)

    page.goto(base + "/login")
    page.locator('input[name="token"]').fill(admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto(base + "/monitors/nightly-job")
    expect(page.get_by_test_id("ping-url")).to_contain_text(re.compile(r"/ping/[0-9a-f]+"))

    for path in PAGES:
        response = page.goto(base + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        page.wait_for_load_state("networkidle")
    assert violations == [], "\n".join(violations)
