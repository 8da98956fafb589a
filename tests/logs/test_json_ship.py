"""Seed 003's structured logging (the standard `logging` module with python-json-logger's
JsonFormatter) on an app's stdout, piped through `pharos ship --service api`, with the
token in PHAROS_TOKEN. A seed-004-format logger on stderr adds a plain-text traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest

from logs_e2e import ADMIN_TOKEN, HERE, entry_field, pharos_binary, unique


@pytest.fixture(scope="module")
def shipped(pharos, tmp_path_factory):
    """Runs `json_app.py MARKER 2>&1 | pharos ship --service api` to its end; returns the
    marker and the entries it made."""
    marker = unique("jsonship")
    spool = tmp_path_factory.mktemp("ship-api-spool")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
    env["PHAROS_TOKEN"] = ADMIN_TOKEN
    app = subprocess.Popen([sys.executable, str(HERE / "json_app.py"), marker],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ship = subprocess.run(
        [str(pharos_binary()), "ship", "--service", "api", "--url", pharos.url,
         "--spool-dir", str(spool), "--batch-wait", "200ms", "--drain-timeout", "20s"],
        stdin=app.stdout, capture_output=True, env=env, timeout=60,
    )
    app.stdout.close()
    assert app.wait(timeout=10) == 0
    stderr = ship.stderr.decode(errors="replace")
    assert ship.returncode == 0, f"ship exited {ship.returncode}: {stderr}"
    assert ADMIN_TOKEN not in stderr and ADMIN_TOKEN not in ship.stdout.decode(errors="replace")
    # 6 JSON records on stdout, 3 seed-004 lines (one with its traceback) on stderr.
    entries = pharos.wait_search(f"service=api {marker}", 9)
    return marker, entries


def test_every_record_arrives_with_service_logger_level(shipped):
    marker, entries = shipped
    for e in entries:
        assert e["service"] == "api"
        assert entry_field(e, "host"), e  # ship labels every entry with this host
        assert not e["message"].startswith("{"), "the JSON record should be read, not kept raw"
        for key in ("asctime", "levelname", "name"):
            assert key not in (e.get("fields") or {}), (key, e)
    loggers = sorted(e["logger"] for e in entries)
    assert loggers == ["app.legacy"] * 3 + ["app.orders"] * 6
    by_message = {e["message"].split("\n")[0]: e for e in entries}
    order = by_message[f"Slow database query {marker}"]
    assert order["level"] == "WARNING"
    assert entry_field(order, "user_id") == 456
    assert entry_field(order, "duration_ms") == 2500
    assert entry_field(order, "request_id") == "req_jkl"


def test_plain_traceback_is_one_entry(shipped, pharos):
    marker, entries = shipped
    [crash] = [e for e in entries if e["message"].startswith(f"Legacy worker crashed {marker}")]
    assert crash["level"] == "ERROR"
    assert crash["logger"] == "app.legacy"
    lines = crash["message"].split("\n")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == f"KeyError: 'token_{marker}'"
    for e in entries:
        first = e["message"].split("\n")[0]
        assert not first.startswith(("Traceback", "  File", "KeyError", "    ")), \
            f"a traceback line became its own entry: {first!r}"
    assert [e["id"] for e in pharos.search(f"KeyError {marker}")] == [crash["id"]]


def test_json_exception_keeps_its_traceback(shipped, pharos):
    marker, _ = shipped
    [e] = pharos.search(f'"Payment processing failed" {marker}')
    assert e["level"] == "ERROR"
    assert "Traceback (most recent call last):" in e["message"] + str(e.get("fields"))
    assert "ValueError: card declined for amount 42" in e["message"] + str(e.get("fields"))
    # The exception text is searchable.
    assert [x["id"] for x in pharos.search(f'"card declined" {marker}')] == [e["id"]]
    assert entry_field(e, "error_type") == "ValueError"


@pytest.mark.parametrize("query,expected", [
    ("user_id=123", ["Order status update", "Health check ok", "Payment processing failed"]),
    ("duration_ms>1000", ["Order status update", "Slow database query", "Payment processing failed"]),
    ("duration_ms>=1500", ["Order status update", "Slow database query"]),
    ("duration_ms<5", ["Health check ok", "Shutting down"]),
    ("request_id=req_abc", ["Order status update", "Payment processing failed"]),
    ("level>=ERROR", ["Payment processing failed", "Legacy worker crashed"]),
    ("level=WARNING", ["Slow database query"]),
    ('"Order status update"', ["Order status update", "Order status update"]),
    ('"worker restarted"', ["Legacy worker restarted"]),
    ("user_id=123 -level=ERROR", ["Order status update", "Health check ok"]),
    ("request_id=req_abc OR request_id=req_zzz",
     ["Order status update", "Payment processing failed", "Shutting down"]),
    ("event=order_status_change order_id=9002", ["Order status update"]),
    ("logger=app.legacy level=INFO", ["Legacy worker started", "Legacy worker restarted"]),
])
def test_field_searches(shipped, pharos, query, expected):
    marker, _ = shipped
    got = pharos.search(f"service=api {marker} {query}")
    messages = sorted(e["message"].split("\n")[0].removesuffix(f" {marker}") for e in got)
    assert messages == sorted(expected), query


def test_count_by_field(shipped, pharos):
    marker, _ = shipped
    assert pharos.counts("request_id", f"service=api {marker}") == {
        "req_abc": 2, "req_def": 1, "req_ghi": 1, "req_jkl": 1, "req_zzz": 1,
    }
    assert pharos.counts("user_id", f"service=api {marker}") == {"123": 3, "456": 2, "789": 1}
    assert pharos.counts("level", f"service=api {marker}") == {"INFO": 6, "WARNING": 1, "ERROR": 2}
    assert pharos.counts("user_id", f"service=api {marker} duration_ms>1000") == {"123": 2, "456": 1}


def test_histogram_by_level(shipped, pharos):
    marker, _ = shipped
    h = pharos.get_json("/api/v1/logs/histogram", {"q": f"service=api {marker}", "since": "1h",
                                                    "buckets": 12})
    total = sum(b["total"] for b in h["buckets"])
    assert total == 9
    levels: dict = {}
    for b in h["buckets"]:
        for c in b["by_level"]:
            levels[c["level"]] = levels.get(c["level"], 0) + c["count"]
    assert levels == {"INFO": 6, "WARNING": 1, "ERROR": 2}


def test_zone_offset_of_asctime_is_honoured(pharos, tmp_path):
    """The same app in a zone east of UTC (asctime `…+0530`, seed 003's `%z`): the line's own
    timestamp is read with its offset, so the entry is at the right instant, not 5.5 h off."""
    marker = unique("jsontz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
    env.update(PHAROS_TOKEN=ADMIN_TOKEN, TZ="Asia/Kolkata")
    app = subprocess.Popen([sys.executable, str(HERE / "json_app.py"), marker],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    ship = subprocess.run(
        [str(pharos_binary()), "ship", "--service", "api-tz", "--url", pharos.url,
         "--spool-dir", str(tmp_path / "spool"), "--batch-wait", "200ms"],
        stdin=app.stdout, capture_output=True, env=env, timeout=60)
    app.stdout.close()
    app.wait(timeout=10)
    assert ship.returncode == 0, ship.stderr
    entries = pharos.wait_search(f"service=api-tz {marker}", 6)
    for e in entries:
        t = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
        r = datetime.fromisoformat(e["received"].replace("Z", "+00:00"))
        assert abs((r - t).total_seconds()) < 5, (e["time"], e["received"])


def test_zoneless_asctime_east_of_utc_is_not_in_the_future(pharos, tmp_path):
    """Seed 004's `logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s -
    %(message)s")` in a bot whose container runs in Moscow time, shipped with `pharos ship`."""
    marker = unique("moscow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
    env.update(PHAROS_TOKEN=ADMIN_TOKEN, TZ="Europe/Moscow")
    script = ("import logging, sys\n"
              "logging.basicConfig(level=logging.INFO, stream=sys.stdout, "
              "format='%(asctime)s - %(name)s - %(levelname)s - %(message)s')\n"
              f"logging.getLogger('bot.webhook').warning('Duplicate-free webhook handled {marker}')\n")
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    ship = subprocess.run(
        [str(pharos_binary()), "ship", "--service", "bot-moscow", "--url", pharos.url,
         "--spool-dir", str(tmp_path / "spool"), "--batch-wait", "200ms"],
        stdin=app.stdout, capture_output=True, env=env, timeout=60)
    app.stdout.close()
    app.wait(timeout=10)
    assert ship.returncode == 0, ship.stderr
    pharos.wait_search(f"service=bot-moscow {marker}", 1, timeout=4)
