"""Error tracking in the UI, as a new user meets it: no project yet, create one, copy its
DSN, send the events the real SDK recorded, find the issue, read its stack trace, resolve
it, search for it, look at performance, revoke the key."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

FIXTURES = Path(__file__).resolve().parents[2] / "crates/ingest/tests/fixtures/sentry"


def sign_in(page: Page, base: str, token: str, next_path: str) -> None:
    page.goto(base + next_path)
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + next_path)


def send(dsn: str, fixture: str) -> int:
    m = re.match(r"http://([^@]+)@([^/]+)/(\d+)$", dsn)
    assert m, dsn
    key, host, project = m.groups()
    req = urllib.request.Request(
        f"http://{host}/api/{project}/envelope/",
        data=(FIXTURES / fixture).read_bytes(),
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_from_no_project_to_a_resolved_issue(start_pharos, browser_context, admin_token, tmp_path):
    pharos = start_pharos(None)
    base = pharos.url
    page = browser_context.new_page()
    sign_in(page, base, admin_token, "/issues")

    # No project yet: the issues page says how to start.
    expect(page.locator("#onboarding")).to_be_visible()
    page.locator("#onboarding a", has_text="Create a project").click()
    page.locator('input[name="name"]').fill("shop")
    page.locator('input[name="platform"]').fill("python")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    dsn = page.locator("code#dsn").inner_text().strip()
    assert re.match(r"http://[0-9a-f]{32}@127\.0\.0\.1:\d+/\d+$", dsn), dsn

    for fixture in ("full-001-event.envelope", "secret-001-event.envelope", "full-002-event.envelope",
                    "full-005-transaction.envelope"):
        assert send(dsn, fixture) == 200, fixture

    # The issue list: the exception issue with its counts and a sparkline.
    page.goto(base + "/issues")
    row = page.locator("table.issues tr", has_text="ZeroDivisionError: division by zero")
    expect(row).to_have_count(1)
    expect(row.locator("svg.bars")).to_be_visible()
    expect(row.locator("td.num").first).to_have_text("2")

    # The issue page: in-app frames, the crash line, the secret filtered, tags.
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("ZeroDivisionError: division by zero")
    expect(page.locator("ol.frames li.frame.in-app").first).to_be_visible()
    expect(page.locator("pre.context .current").first).to_contain_text("return 1 / x")
    expect(page.locator("section#event")).to_contain_text("[Filtered]")
    assert "hunter2" not in page.content()
    expect(page.locator(".tagdist", has_text="environment")).to_contain_text("production")
    page.screenshot(path=str(tmp_path / "issue.png"), full_page=True)

    # Resolve: gone from the default list, listed under Resolved.
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("#issue-status")).to_contain_text("resolved")
    page.goto(base + "/issues")
    expect(page.locator("table.issues tr", has_text="ZeroDivisionError")).to_have_count(0)
    page.get_by_role("link", name="Resolved", exact=True).click()
    expect(page.locator("table.issues tr", has_text="ZeroDivisionError")).to_have_count(1)

    # Search by a tag through the search box.
    page.locator('input[name="query"]').fill("component:billing ZeroDivisionError")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.issues tr", has_text="ZeroDivisionError")).to_have_count(1)
    page.locator('input[name="query"]').fill("component:nope")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#no-issues")).to_be_visible()

    # Performance: the transaction and its spans.
    page.get_by_role("link", name="Performance").click()
    page.locator('select[name="period"]').select_option("30d")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name="process-job").click()
    expect(page.locator("table.waterfall tbody tr")).to_have_count(2)

    # Revoke the key on the project page: the SDK is refused from then on.
    page.get_by_role("link", name="Projects").click()
    page.locator(".project-card h2 a", has_text="shop").click()
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("table.keys")).to_contain_text("revoked")
    assert send(dsn, "full-003-event.envelope") == 401
