"""The trace page in a browser: a trace across two services (a Sentry transaction event in
`shop`, a streamed span of `billing` under one of its spans) with an error and a log line
draws one waterfall whose bars sit on the trace's time line, the failed span marked."""

from __future__ import annotations

import json
import time
import urllib.request

from playwright.sync_api import Page, expect

TRACE = "3f2a1b0c9d8e7f60a1b2c3d4e5f60718"
CONFIG = """
projects:
  - id: 5
    name: shop
    keys: ["browsertraceshop0123456"]
  - id: 6
    name: billing
    keys: ["browsertracebill0123456"]
"""


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def envelope(base: str, project: int, key: str, header: dict, item: dict) -> None:
    body = f"{{}}\n{json.dumps(header)}\n{json.dumps(item)}\n".encode()
    assert post(f"{base}/api/{project}/envelope/?sentry_key={key}", body, {}) == 200


def seed(base: str, token: str) -> None:
    start = time.time() - 5
    at = lambda ms: start + ms / 1000  # noqa: E731
    envelope(base, 5, "browsertraceshop0123456", {"type": "transaction"}, {
        "event_id": "7d3efb2d2a5f4e5c9bbf7c3a8a2b9c02", "type": "transaction",
        "transaction": "POST /checkout", "start_timestamp": at(0), "timestamp": at(200),
        "contexts": {"trace": {"trace_id": TRACE, "span_id": "a1a1a1a1a1a1a1a1", "op": "http.server", "status": "ok"}},
        "spans": [{"trace_id": TRACE, "span_id": "a3a3a3a3a3a3a3a3", "parent_span_id": "a1a1a1a1a1a1a1a1",
                   "op": "http.client", "description": "POST billing/charge",
                   "start_timestamp": at(50), "timestamp": at(150)}],
    })
    envelope(base, 6, "browsertracebill0123456",
             {"type": "span", "content_type": "application/vnd.sentry.items.span.v2+json"},
             {"version": 2, "items": [{
                 "trace_id": TRACE, "span_id": "b1b1b1b1b1b1b1b1", "parent_span_id": "a3a3a3a3a3a3a3a3",
                 "name": "POST /charge", "status": "internal_error", "is_segment": True,
                 "start_timestamp": at(100), "end_timestamp": at(140)}]})
    envelope(base, 6, "browsertracebill0123456", {"type": "event"}, {
        "event_id": "9f1c2b3a4d5e4f60a1b2c3d4e5f60719", "level": "error", "timestamp": at(120),
        "exception": {"values": [{"type": "CardDeclined", "value": "card declined"}]},
        "contexts": {"trace": {"trace_id": TRACE, "span_id": "b1b1b1b1b1b1b1b1"}},
    })
    line = json.dumps({"levelname": "WARNING", "message": "charge refused", "trace_id": TRACE,
                       "span_id": "b1b1b1b1b1b1b1b1"}).encode()
    assert post(f"{base}/api/v1/logs?service=billing", line,
                {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}) == 200


def sign_in(page: Page, base: str, token: str, next_path: str) -> None:
    page.goto(base + next_path)
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + next_path)


def test_a_trace_across_two_services_draws_one_waterfall(start_pharos, browser_context, admin_token, tmp_path):
    pharos = start_pharos(CONFIG)
    base = pharos.url
    seed(base, admin_token)
    page = browser_context.new_page()
    sign_in(page, base, admin_token, f"/traces/{TRACE}")
    waterfall = page.locator("#trace-waterfall table.waterfall")
    # The log line is searchable about a second after it is stored.
    for _ in range(50):
        if waterfall.locator("tr.wf-log").count() == 1:
            break
        time.sleep(0.2)
        page.reload()
    rows = waterfall.locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(0)).to_contain_text("POST /checkout")
    expect(rows.nth(2)).to_contain_text("POST /charge")
    expect(rows.nth(2)).to_contain_text("billing")
    expect(rows.nth(2)).to_have_class("wf-span failed")
    expect(rows.nth(3)).to_contain_text("card declined")
    expect(rows.nth(4)).to_contain_text("charge refused")

    # The bars are drawn where the spans are: billing's starts half-way along the trace
    # and lasts a fifth of it.
    def box(row: int):
        b = rows.nth(row).locator(".span").bounding_box()
        assert b and b["width"] > 0, b
        return b

    whole, charge = box(0), box(2)
    assert abs((charge["x"] - whole["x"]) / whole["width"] - 0.5) < 0.03, (whole, charge)
    assert abs(charge["width"] / whole["width"] - 0.2) < 0.03, (whole, charge)
    expect(rows.nth(3).locator(".mark")).to_be_visible()
    page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)

    # The summary names both services and links to their transactions.
    expect(page.locator("#trace-summary li[data-service='shop'] a")).to_have_text("POST /checkout")
    page.locator("#trace-summary li[data-service='billing'] a", has_text="POST /charge").click()
    expect(page.locator("h2 code")).to_have_text("POST /charge")
