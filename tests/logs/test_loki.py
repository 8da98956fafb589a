"""python-logging-loki (the handler seed-style bots use to ship to Grafana Loki) pointed at
Pharos's `/loki/api/v1/push`, with the admin token as the basic-auth password."""

from __future__ import annotations

import logging
import time

import logging_loki
import pytest

from logs_e2e import ADMIN_TOKEN, entry_field, unique

SEED_004_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


class RecordingLokiHandler(logging_loki.LokiHandler):
    """LokiHandler that keeps the errors it would print (a non-204 answer raises inside
    `emit`), so a test can assert on them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []

    def handleError(self, record):  # noqa: N802 (logging's name)
        import sys
        self.errors.append(repr(sys.exc_info()[1]))


def loki_logger(pharos, name: str, tags: dict, auth=("pharos", ADMIN_TOKEN), fmt: str | None = None):
    handler = RecordingLokiHandler(
        url=pharos.url + "/loki/api/v1/push", tags=tags, auth=auth, version="1",
    )
    if fmt:
        handler.setFormatter(logging.Formatter(fmt))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler


def test_records_searchable_by_service_level_and_words(pharos):
    w = unique("lokiw")
    logger, handler = loki_logger(pharos, "bot.handlers", {"application": "bot"})
    logger.debug(f"Polling updates {w}")
    logger.info(f"Webhook received update {w}")
    logger.warning(f"Slow response {w} took 900ms")
    logger.error(f"Payment provider failed {w}")
    assert handler.errors == []

    entries = pharos.wait_search(f"service=bot {w}", 4)
    for e in entries:
        assert e["service"] == "bot"
        assert e["source"] == "loki"
        assert e["logger"] == "bot.handlers"
        assert e["id"]
    by_message = {e["message"]: e for e in entries}
    assert by_message[f"Payment provider failed {w}"]["level"] == "ERROR"
    assert by_message[f"Slow response {w} took 900ms"]["level"] == "WARNING"
    assert by_message[f"Webhook received update {w}"]["level"] == "INFO"
    assert by_message[f"Polling updates {w}"]["level"] == "DEBUG"

    assert [e["message"] for e in pharos.search(f"service=bot level=ERROR {w}")] == \
        [f"Payment provider failed {w}"]
    assert len(pharos.search(f"level>=WARNING {w}")) == 2
    assert len(pharos.search(f'"payment provider" {w}')) == 1
    assert len(pharos.search(f"{w} logger=bot.handlers")) == 4
    assert pharos.search(f"service=other {w}") == []
    # LogQL spelling of the same search.
    assert len(pharos.search(f'{{service="bot", level="ERROR"}} |= "{w}"')) == 1
    # One entry by its id.
    one = pharos.get_json(f"/api/v1/logs/{by_message[f'Payment provider failed {w}']['id']}")
    assert one["message"] == f"Payment provider failed {w}"


def test_extra_tags_become_fields(pharos):
    w = unique("lokitag")
    logger, handler = loki_logger(pharos, "bot.updates", {"application": "bot", "env": "prod"})
    logger.info(f"Update handled {w}", extra={"tags": {"chat_id": "42", "update-type": "message"}})
    logger.info(f"Update handled {w}", extra={"tags": {"chat_id": "43", "update-type": "callback"}})
    assert handler.errors == []
    entries = pharos.wait_search(f"service=bot {w}", 2)
    chat_ids = sorted(entry_field(e, "chat_id") for e in entries)
    assert chat_ids == ["42", "43"]
    for e in entries:
        assert entry_field(e, "env") == "prod"
    # python-logging-loki cleans the label name: `update-type` is sent as `update_type`.
    assert [entry_field(e, "update_type") for e in pharos.search(f"chat_id=42 {w}")] == ["message"]
    assert len(pharos.search(f"update_type=callback {w}")) == 1
    assert pharos.counts("chat_id", f"{w}") == {"42": 1, "43": 1}


def test_formatted_lines_are_parsed(pharos):
    """With seed 004's `logging` format on the handler, the line's own prefix is read (time,
    logger, level) and the message is what the code logged."""
    w = unique("lokifmt")
    logger, handler = loki_logger(pharos, "bot.payments", {"application": "bot"}, fmt=SEED_004_FORMAT)
    logger.warning(f"Insufficient funds for user 77 {w}")
    assert handler.errors == []
    [e] = pharos.wait_search(f"service=bot {w}", 1)
    assert e["message"] == f"Insufficient funds for user 77 {w}"
    assert e["level"] == "WARNING"
    assert e["logger"] == "bot.payments"


def test_exception_with_traceback_is_one_entry(pharos):
    w = unique("lokiexc")
    logger, handler = loki_logger(pharos, "bot.jobs", {"application": "bot"}, fmt=SEED_004_FORMAT)
    try:
        {"a": 1}["missing_key_" + w]
    except KeyError:
        logger.exception(f"Generation job crashed {w}")
    assert handler.errors == []
    [e] = pharos.wait_search(f"service=bot {w}", 1)
    assert e["level"] == "ERROR"
    assert e["message"].startswith(f"Generation job crashed {w}\nTraceback (most recent call last):")
    assert "KeyError" in e["message"]
    assert len(pharos.search(f"KeyError {w}")) == 1


@pytest.mark.parametrize("auth", [("pharos", "wrong-token"), None], ids=["wrong-password", "no-auth"])
def test_refused_without_the_token(pharos, auth):
    w = unique("lokiauth")
    logger, handler = loki_logger(pharos, "bot.auth", {"application": "bot"}, auth=auth)
    logger.info(f"should not be stored {w}")
    assert len(handler.errors) == 1 and "401" in handler.errors[0], handler.errors
    status, _, _ = pharos.request("GET", "/api/v1/logs", {"q": w}, token=None)
    assert status == 401
    time.sleep(1.2)  # the index commits every second
    assert pharos.search(w) == []
