"""Triage in the UI: the feedback a user wrote shows on the issue of its event; an issue is
assigned, commented on and has another issue merged into it from its page, and the
timeline says who did what; the project lists its feedback."""

from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import expect

from test_errors import sign_in

KEY = "browsertriagekey0123456"
CONFIG = f"""
projects:
  - id: 42
    name: shop
    keys: ["{KEY}"]
"""


def post(base: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(base + path, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def envelope(base: str, event_id: str, item_type: str, payload: dict) -> None:
    body = f'{{"event_id":"{event_id}"}}\n{{"type":"{item_type}"}}\n{json.dumps(payload)}\n'
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7"}
    assert post(base, "/api/42/envelope/", body.encode(), auth) == 200


def error(event_id: str, function: str) -> dict:
    return {"event_id": event_id, "level": "error", "environment": "production",
            "exception": {"values": [{"type": "KeyError", "value": "'basket'",
                                      "stacktrace": {"frames": [{"module": "shop", "function": function, "in_app": True}]}}]}}


def test_feedback_assign_comment_and_merge_on_the_issue_page(start_pharos, browser_context, admin_token, tmp_path):
    pharos = start_pharos(CONFIG)
    base = pharos.url
    add_user = urllib.request.Request(
        base + "/api/v1/users", method="POST",
        data=json.dumps({"name": "ana", "role": "editor", "password": "a long password for ana"}).encode(),
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"})
    urllib.request.urlopen(add_user, timeout=5).close()

    basket, checkout = "a" * 32, "b" * 32
    envelope(base, basket, "event", error(basket, "add_to_basket"))
    envelope(base, checkout, "event", error(checkout, "checkout"))
    fid = "c" * 32
    envelope(base, fid, "feedback", {
        "event_id": fid, "type": "feedback",
        "contexts": {"feedback": {"message": "The basket forgets what I add", "name": "Carla",
                                  "contact_email": "carla@example.com", "associated_event_id": basket}}})

    page = browser_context.new_page()
    sign_in(page, base, admin_token, "/issues")
    page.locator("table.issues tr", has_text="add_to_basket").get_by_role("link").click()
    issue_url = page.url
    expect(page.locator("section#feedback")).to_contain_text("The basket forgets what I add")
    expect(page.locator("section#feedback")).to_contain_text("carla@example.com")

    page.locator("select#assignee").select_option("ana")
    page.get_by_role("button", name="Assign").click()
    expect(page.locator("#issue-assignee")).to_have_text("ana")

    page.locator('textarea[name="text"]').fill("Reproduced with an empty session")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator("ol.timeline")).to_contain_text("Reproduced with an empty session")
    expect(page.locator("ol.timeline li").last).to_contain_text("admin")

    # Merge the checkout issue into this one: its event and count come along.
    checkout_issue = json.load(urllib.request.urlopen(urllib.request.Request(
        f"{base}/api/v1/events/{checkout}", headers={"Authorization": f"Bearer {admin_token}"}), timeout=5))["issue_id"]
    page.locator("details.merge summary").click()
    page.locator("input#merge").fill(str(checkout_issue))
    page.get_by_role("button", name="Merge into").click()
    expect(page).to_have_url(issue_url + "#activity")
    expect(page.locator("#issue-count")).to_have_text("2")
    expect(page.locator("ol.timeline")).to_contain_text("merged issue")
    page.screenshot(path=str(tmp_path / "triage.png"), full_page=True)

    page.goto(base + "/projects/42")
    page.locator("a#feedback-link").click()
    expect(page.locator("ul.feedback")).to_contain_text("The basket forgets what I add")
