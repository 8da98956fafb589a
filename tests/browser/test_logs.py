"""The log explorer in a real Chromium against a real Pharos: lines posted to
`POST /api/v1/logs?service=…` (JSON lines with a traceback, and a plain-text traceback),
then on /logs a search for `level>=ERROR`, an entry opened to its traceback and fields,
a field added as a filter, count-by, "same request", a query that does not parse with
its fault marked, paging to older lines, the live tail receiving (and holding while
paused) lines posted after the page opened, and the log rules and storage pages.

    cd <repo> && cargo build -p pharos && \
      PHAROS_BIN=target/debug/pharos .venv/bin/python -m pytest tests/browser/test_logs.py -q

A screenshot of /logs is saved in pytest's tmp dir (or $PHAROS_SHOTS when set).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from playwright.sync_api import Page, expect

CONFIG = """
logs:
  rules:
    - name: send_failures
      kind: forbidden
      patterns: ['Failed to send']
"""

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/bot/send.py", line 41, in send\n'
    '    chat = chats[update["chat_id"]]\n'
    "KeyError: 'chat_id'"
)
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("PHAROS_SHOTS", tmp_path))
    d.mkdir(parents=True, exist_ok=True)
    return d


def post_logs(base: str, token: str, service: str, body: str, content_type: str) -> dict:
    req = urllib.request.Request(
        f"{base}/api/v1/logs?service={service}",
        data=body.encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def api_total(base: str, token: str, query: str) -> int:
    url = f"{base}/api/v1/logs?" + urllib.parse.urlencode({"q": query, "limit": 1000})
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return len(json.load(r)["entries"])


def wait_searchable(base: str, token: str, query: str, want: int) -> None:
    """New lines become searchable at the store's next commit (about a second)."""
    deadline = time.monotonic() + 15
    while api_total(base, token, query) < want:
        assert time.monotonic() < deadline, f"{want} lines matching {query!r} never became searchable"
        time.sleep(0.2)


def seed(base: str, token: str) -> None:
    records = [
        {"level": "INFO", "logger": "bot.handler", "message": "update received", "request_id": "req-7",
         "chat_id": 1001},
        {"level": "WARNING", "logger": "bot.handler", "message": "slow reply from Telegram", "duration_ms": 2300},
        {"level": "ERROR", "logger": "bot.send", "message": "Failed to send message", "exc_info": TRACEBACK,
         "error_type": "KeyError", "request_id": "req-7", "trace_id": TRACE_ID, "http": {"status": 500}},
        {"level": "ERROR", "logger": "bot.db", "message": "query timed out", "error_type": "TimeoutError",
         "request_id": "req-8"},
    ]
    # Enough older lines that the first page (100) does not hold everything.
    filler = [{"level": "DEBUG", "logger": "bot.poll", "message": f"poll {i}"} for i in range(120)]
    body = "\n".join(json.dumps(r) for r in filler + records) + "\n"
    assert post_logs(base, token, "bot", body, "application/x-ndjson")["accepted"] == len(filler) + len(records)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    text = (
        "worker starting\n"
        f"{now} ERROR app.worker: job failed\n"
        "Traceback (most recent call last):\n"
        '  File "/app/worker.py", line 10, in run\n'
        "    total / count\n"
        "ZeroDivisionError: division by zero\n"
    )
    assert post_logs(base, token, "worker", text, "text/plain")["accepted"] == 2
    wait_searchable(base, token, "", len(filler) + len(records) + 2)


def sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/logs")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator('input[name="token"]').fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/logs")


def search(page: Page, query: str) -> None:
    box = page.locator("#logquery")
    box.fill(query)
    box.press("Enter")
    page.wait_for_load_state("domcontentloaded")


def test_log_explorer(browser_context, admin_token, start_pharos, tmp_path):
    pharos = start_pharos(CONFIG)
    seed(pharos.url, admin_token)
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
    rows = page.locator("#log-results > li.log-entry")
    expect(page.locator("header.top nav a.current")).to_have_text("Logs")
    expect(page.locator("nav.sub a.current")).to_have_text("Search")

    # Everything in the last hour: a page of 100, newest first, and older lines behind.
    expect(rows).to_have_count(100)
    # The worker's traceback line carries its own timestamp, just before it was posted.
    expect(rows.nth(0)).to_contain_text("worker starting")
    expect(rows.nth(1)).to_contain_text("job failed")
    expect(page.locator("#log-count")).to_contain_text("126 matching lines")
    page.locator("#older").click()
    expect(rows).to_have_count(26)
    expect(rows.last).to_contain_text("poll 0")
    expect(page.locator("#older")).to_have_count(0)

    # Errors only: the histogram stacks them, the list holds exactly three.
    search(page, "level>=ERROR")
    expect(page).to_have_url(re.compile(r"q=level%3E%3DERROR"))
    expect(rows).to_have_count(3)
    expect(page.locator('[data-testid="histogram"] svg rect.lvl-error').first).to_be_attached()
    for row in rows.all():
        expect(row.locator("summary .level")).to_have_text(re.compile(r"ERROR|CRITICAL"))
    page.screenshot(path=str(shots / "logs-errors.png"), full_page=True)

    # Open the KeyError line: its traceback in full, its fields, links to request and trace.
    entry = rows.filter(has_text="Failed to send message")
    expect(entry.locator("summary .tag.more")).to_have_text("+4 lines")
    detail = entry.locator(".log-detail")
    expect(detail).to_be_hidden()
    entry.locator("summary").click()
    expect(detail).to_be_visible()
    message = detail.locator("pre.log-message")
    expect(message).to_contain_text("Traceback (most recent call last):")
    expect(message).to_contain_text('chat = chats[update["chat_id"]]')
    expect(message).to_contain_text("KeyError: 'chat_id'")
    fields = detail.locator("table.log-fields")
    for name, value in [("service", "bot"), ("logger", "bot.send"), ("error_type", "KeyError"),
                        ("trace_id", TRACE_ID), ("request_id", "req-7"), ("http.status", "500")]:
        expect(fields.locator("tr", has=page.locator("td", has_text=re.compile(f"^{re.escape(name)}$")))) \
            .to_contain_text(value)
    expect(detail.get_by_test_id("same-trace")).to_have_attribute("href", re.compile(f"trace_id%3D{TRACE_ID}"))
    expect(detail.get_by_test_id("trace-refs")).to_have_attribute("href", f"/traces/{TRACE_ID}")
    page.screenshot(path=str(shots / "logs-entry.png"), full_page=True)

    # The trace page: no Sentry event or span here, but the log line of the trace, marked
    # on its waterfall.
    detail.get_by_test_id("trace-refs").click()
    expect(page.locator("h1")).to_contain_text(TRACE_ID)
    expect(page.locator("#trace-error-count")).to_have_text("0")
    lines = page.locator("#trace-waterfall tr.wf-log")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text("Failed to send message")
    expect(lines.first.locator(".mark")).to_be_visible()
    page.goto(base + "/logs?q=level%3E%3DERROR")
    entry.locator("summary").click()
    expect(detail).to_be_visible()

    # The plain-text traceback was kept as one entry.
    worker = rows.filter(has_text="job failed")
    worker.locator("summary").click()
    expect(worker.locator("pre.log-message")).to_contain_text("ZeroDivisionError: division by zero")

    # A field value adds itself to the search.
    fields.locator("a.filter", has_text="KeyError").click()
    expect(page.locator("#logquery")).to_have_value("level>=ERROR error_type=KeyError")
    expect(rows).to_have_count(1)

    # Same request: every line of req-7, whatever its level.
    rows.first.locator("summary").click()
    rows.first.get_by_test_id("same-request").click()
    expect(page.locator("#logquery")).to_have_value("request_id=req-7")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="update received")).to_have_count(1)

    # Count errors by type, then narrow by clicking a value.
    search(page, "level>=ERROR")
    page.locator("#count-by").fill("error_type")
    page.get_by_role("button", name="Count").click()
    counts = page.get_by_test_id("counts")
    expect(counts.locator("tbody tr")).to_have_count(2)
    expect(counts.locator("tr", has_text="KeyError")).to_contain_text("1")
    expect(counts.locator("tr", has_text="TimeoutError")).to_contain_text("1")
    page.get_by_test_id("count-by").get_by_role("link", name="service", exact=True).click()
    expect(counts.locator("tr", has_text="bot")).to_contain_text("2")
    expect(counts.locator("tr", has_text="worker")).to_contain_text("1")
    counts.get_by_role("link", name="worker").click()
    expect(page.locator("#logquery")).to_have_value("level>=ERROR service=worker")
    expect(rows).to_have_count(1)

    # A search that does not parse: the message, and the place marked.
    search(page, "service=bot (timeout")
    error = page.get_by_test_id("query-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("never closed")
    expect(error.locator("pre.query-fault mark")).to_have_text("(")
    expect(error).to_contain_text("At character 13")
    expect(rows).to_have_count(0)

    # Live tail: lines posted after the page opened appear on top; paused, they wait.
    search(page, "service=bot level>=WARNING")
    expect(rows).to_have_count(3)
    live = page.locator("#live-toggle")
    expect(live).to_be_visible()
    live.click()
    expect(page.locator("#live-status")).to_have_text(re.compile(r"^live"), timeout=10_000)
    post_logs(base, token, "bot", json.dumps({"level": "ERROR", "message": "live line one"}), "application/json")
    post_logs(base, token, "bot", json.dumps({"level": "INFO", "message": "not matching"}), "application/json")
    expect(rows.first).to_contain_text("live line one", timeout=10_000)
    expect(rows.first).to_have_class(re.compile(r"\blive\b"))
    page.locator("#live-pause").click()
    post_logs(base, token, "bot", json.dumps({"level": "WARNING", "message": "live line two"}), "application/json")
    expect(page.locator("#live-status")).to_have_text(re.compile(r"1 new line held"), timeout=10_000)
    expect(rows.filter(has_text="live line two")).to_have_count(0)
    page.locator("#live-pause").click()
    expect(rows.first).to_contain_text("live line two")
    expect(rows.filter(has_text="not matching")).to_have_count(0)
    expect(rows).to_have_count(5)
    live.click()

    # The log rule matched "Failed to send" and fires.
    page.get_by_role("link", name="Rules").first.click()
    expect(page).to_have_url(base + "/logs/rules")
    rule = page.locator('tr[data-rule="send_failures"]')
    expect(rule.locator(".badge[data-state]")).to_have_text("Firing", timeout=15_000)
    expect(rule.locator("table.patterns")).to_contain_text("Failed to send")
    expect(rule.locator("td.last-match")).to_contain_text("Failed to send message")
    page.screenshot(path=str(shots / "logs-rules.png"), full_page=True)

    # Storage: a day partition (two when the test runs across midnight UTC) and the
    # default retention.
    page.get_by_role("link", name="Storage").click()
    expect(page).to_have_url(base + "/logs/storage")
    expect(page.get_by_test_id("partitions").locator("tbody tr").first).to_be_visible()
    expect(page.get_by_test_id("retention")).to_contain_text("7d")
    page.screenshot(path=str(shots / "logs-storage.png"), full_page=True)

    page.goto(base + "/logs?q=level%3E%3DWARNING&by=error_type")
    page.screenshot(path=str(shots / "logs.png"), full_page=True)
