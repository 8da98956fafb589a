"""The read side of the log API as a client uses it: live tail (server-sent events), cursor
paging, time ranges (`since`, `from`/`to`), stats, query errors, and the token."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from logs_e2e import ADMIN_TOKEN, unique


def test_tail_streams_matching_entries(pharos):
    w = unique("tail")
    events: list[tuple[str, str]] = []
    ready = threading.Event()

    def reader():
        req = urllib.request.Request(
            pharos.url + "/api/v1/logs/tail?" + urllib.parse.urlencode({"q": f"{w} level>=WARNING"}),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "text/event-stream"})
        with urllib.request.urlopen(req, timeout=20) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            ready.set()
            event = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((event, line.split(":", 1)[1].strip()))
                    if len(events) >= 2:
                        return

    import urllib.parse
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert ready.wait(10)
    time.sleep(0.3)
    body = "".join(json.dumps({"message": f"{msg} {w}", "level": lvl}) + "\n"
                   for lvl, msg in [("INFO", "not this one"), ("WARNING", "first warning"),
                                    ("DEBUG", "nor this"), ("ERROR", "then an error")])
    pharos.post_lines("tailsvc", body.encode(), "application/x-ndjson")
    t.join(timeout=15)
    assert [e for e, _ in events] == ["log", "log"], events
    got = [json.loads(d) for _, d in events]
    assert [g["message"] for g in got] == [f"first warning {w}", f"then an error {w}"]
    assert all(g["service"] == "tailsvc" for g in got)


def test_cursor_paging_covers_every_entry_once(pharos):
    w = unique("page")
    body = "".join(json.dumps({"message": f"paged {w}", "n": i}) + "\n" for i in range(250))
    pharos.post_lines("pager", body.encode(), "application/x-ndjson")
    pharos.wait_search(f"service=pager {w}", 250)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": f"service=pager {w}", "since": "1h", "limit": 60}
        if cursor:
            params["cursor"] = cursor
        page = pharos.get_json("/api/v1/logs", params)
        pages += 1
        seen.extend(e["fields"]["n"] for e in page["entries"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
        assert pages < 20
    assert sorted(seen) == list(range(250)), f"{len(seen)} entries over {pages} pages"
    assert pages == 5
    # Newest first.
    first = pharos.get_json("/api/v1/logs", {"q": f"service=pager {w}", "limit": 250})["entries"]
    times = [e["time"] for e in first]
    assert times == sorted(times, reverse=True)


def test_time_ranges_use_the_lines_own_time(pharos):
    w = unique("when")
    old = time.time() - 2 * 3600
    lines = [
        {"message": f"two hours ago {w}", "timestamp": old},
        {"message": f"just now {w}"},
    ]
    pharos.post_lines("timesvc", "\n".join(json.dumps(x) for x in lines).encode(), "application/x-ndjson")
    pharos.wait_search(f"service=timesvc {w}", 1)  # the recent one, in the last hour
    assert [e["message"] for e in pharos.search(f"{w}", since="1h")] == [f"just now {w}"]
    both = pharos.search(f"{w}", since="3h")
    assert sorted(e["message"] for e in both) == sorted([f"two hours ago {w}", f"just now {w}"])
    window = pharos.get_json("/api/v1/logs", {"q": w, "from": f"{old - 60:.3f}", "to": f"{old + 60:.3f}"})
    assert [e["message"] for e in window["entries"]] == [f"two hours ago {w}"]
    status, _, body = pharos.request("GET", "/api/v1/logs", {"q": w, "since": "soon"})
    assert status == 400 and b"since" in body


def test_query_errors_name_the_position(pharos):
    for q in ["(unclosed", "duration_ms>abc", "level=LOUD", "a AND", 'x=~"("']:
        status, _, body = pharos.request("GET", "/api/v1/logs", {"q": q})
        assert status == 400, (q, status, body)
        err = json.loads(body)
        assert "q" in json.dumps(err), (q, err)


def test_stats(pharos):
    w = unique("stats")
    before = pharos.get_json("/api/v1/logs/stats")
    pharos.post_lines("statsvc", f"one {w}\ntwo {w}\n".encode())
    pharos.wait_search(w, 2)
    after = pharos.get_json("/api/v1/logs/stats")
    assert after["lines_appended"] >= before["lines_appended"] + 2
    assert after["entries"] >= before["entries"] + 2
    assert after["bytes_total"] > 0
    assert after["partitions"], after


def test_every_endpoint_needs_the_token(pharos):
    for method, path in [("GET", "/api/v1/logs"), ("GET", "/api/v1/logs/counts?by=service"),
                         ("GET", "/api/v1/logs/histogram"), ("GET", "/api/v1/logs/stats"),
                         ("GET", "/api/v1/logs/tail"), ("GET", "/api/v1/log_rules"),
                         ("POST", "/api/v1/logs?service=x"), ("POST", "/loki/api/v1/push"),
                         ("POST", "/v1/logs")]:
        status, _, _ = pharos.request(method, path, body=b"x" if method == "POST" else None, token=None)
        assert status == 401, (method, path, status)
