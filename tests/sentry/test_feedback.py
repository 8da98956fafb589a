"""User feedback from the real Python `sentry-sdk`, through its own transport.

sentry-sdk 2.75 (pinned) and 3.0.0 have no `capture_feedback`: a Python service sends
feedback as the JavaScript widget does, a `feedback` item holding an event with
`contexts.feedback`, or as the older `user_report` item, through the SDK's envelope and
transport (DSN auth, compression, retries as for any envelope). When an SDK grows
`capture_feedback`, the scenario uses it instead."""

from __future__ import annotations

SEND = """
import uuid
import sentry_sdk
from sentry_sdk.envelope import Envelope, Item, PayloadRef

sentry_sdk.init(dsn=DSN, release="shop@1.0", environment="staging")
try:
    {{}}["basket"]
except KeyError:
    event_id = sentry_sdk.capture_exception()
sentry_sdk.flush()

feedback = {{"message": {message!r}, "contact_email": "carla.customer@example.com",
            "name": "Carla", "url": "https://shop.example.com/basket",
            "associated_event_id": event_id}}
if hasattr(sentry_sdk, "capture_feedback"):
    sentry_sdk.capture_feedback(**feedback)
else:
    fid = uuid.uuid4().hex
    env = Envelope(headers={{"event_id": fid}})
    env.add_item(Item(type="feedback", payload=PayloadRef(json={{
        "event_id": fid, "type": "feedback", "level": "info", "platform": "python",
        "environment": "staging", "release": "shop@1.0",
        "contexts": {{"feedback": feedback}}}})))
    sentry_sdk.get_client().transport.capture_envelope(env)

report = Envelope(headers={{"event_id": event_id}})
report.add_item(Item(type="user_report", payload=PayloadRef(json={{
    "event_id": event_id, "name": "Carla", "email": "carla.customer@example.com",
    "comments": {comments!r}}})))
sentry_sdk.get_client().transport.capture_envelope(report)
sentry_sdk.flush()
print(event_id)
"""


def test_feedback_and_a_user_report_land_on_the_issue_of_their_event(pharos):
    out = pharos.run_sdk(SEND.format(message="The basket forgets what I add", comments="Basket empty again"))
    event_id = out.strip().splitlines()[-1]
    event = pharos.wait("the event", lambda: _event(pharos, event_id))
    issue = event["issue_id"]

    def both():
        items = pharos.api(f"/api/v1/issues/{issue}/feedback")["feedback"]
        return items if len(items) == 2 else None

    items = pharos.wait("feedback on the issue", both)
    by_source = {f["source"]: f for f in items}
    assert by_source["feedback"]["message"] == "The basket forgets what I add"
    assert by_source["feedback"]["email"] == "carla.customer@example.com"
    assert by_source["feedback"]["url"] == "https://shop.example.com/basket"
    assert by_source["feedback"]["environment"] == "staging"
    assert by_source["user_report"]["message"] == "Basket empty again"
    assert by_source["user_report"]["name"] == "Carla"
    listed = pharos.api("/api/v1/projects/42/feedback?per_page=100")["feedback"]
    assert {f["message"] for f in listed} >= {"The basket forgets what I add", "Basket empty again"}


def _event(pharos, event_id):
    import urllib.error

    try:
        return pharos.api(f"/api/v1/events/{event_id}")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
