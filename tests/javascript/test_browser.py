"""The real `@sentry/browser` (11.x) in headless Chromium reporting to Pharos unchanged.

`browser/app.js` imports the npm package as a web app does; esbuild bundles it; the page
is served from `http://localhost:<port>` and reports to Pharos on `127.0.0.1` (another
origin: every request of the SDK is cross-origin, `?sentry_key=` in the URL). One page
visit: the pageload, a click whose handler throws, a click that logs."""

from __future__ import annotations

import urllib.parse

from conftest import KEY, PROJECT, unique


def visit(browser, site, pharos, marker: str, release: str, **extra):
    """Loads the page, clicks Buy (throws) and Log, flushes the SDK, leaves the page.
    Returns the browser's console errors and every request the SDK made to Pharos with
    its answer."""
    page = browser.new_page()
    console, sent = [], []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("requestfinished", lambda r: sent.append((r, r.response())) if "/envelope/" in r.url else None)
    page.on("requestfailed", lambda r: sent.append((r, None)) if "/envelope/" in r.url else None)
    query = urllib.parse.urlencode({"dsn": pharos.dsn, "marker": marker, "release": release, **extra})
    page.goto(f"{site}/index.html?{query}")
    page.wait_for_function("document.getElementById('status').textContent === 'ready'")
    page.wait_for_timeout(1500)  # the pageload span ends after 1 s without activity
    page.click("#buy")
    page.click("#log")
    assert page.evaluate("() => window.sentryFlush()") is True
    # Leaving the page: the SDK sends the web-vital spans it reports when a page is hidden
    # (LCP, CLS, the click's INP).
    page.close(run_before_unload=True)
    return console, sent


def test_browser_sdk_errors_pageload_session_and_logs(pharos, browser, site):
    marker = unique("basket")
    release = f"storefront-web@{marker}"
    console, sent = visit(browser, site, pharos, marker, release)

    # Every envelope went cross-origin to Pharos and was accepted, CORS and all.
    assert sent, "the SDK sent nothing"
    for request, response in sent:
        assert response is not None, f"{request.url}: {request.failure}"
        assert response.status == 200, (request.url, response.status, response.text())
        assert f"sentry_key={KEY}" in request.url
        assert response.headers.get("access-control-allow-origin") == "*"
        assert "x-sentry-rate-limits" in (response.headers.get("access-control-expose-headers") or "")
    assert not [c for c in console if "CORS" in c or "/envelope/" in c], console

    # The error thrown in the click handler.
    issue = pharos.issue_titled(marker)
    assert issue["title"] == f"Error: basket {marker} rejected an empty item", issue
    assert issue["culprit"].endswith("in addToBasket"), issue
    event = pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]
    assert event["platform"] == "javascript" and event["sdk"]["name"] == "sentry.javascript.browser"
    assert event["release"] == release and event["environment"] == "e2e"
    exc = event["exception"]["values"][-1]
    assert exc["type"] == "Error" and exc["mechanism"]["handled"] is False, exc
    assert exc["mechanism"]["data"]["handler"] == "onBuyClick", exc["mechanism"]
    frames = exc["stacktrace"]["frames"]
    assert frames[-1]["function"] == "addToBasket" and frames[-1]["in_app"] is True, frames
    assert frames[-2]["function"].endswith("onBuyClick"), frames
    assert all(f["filename"] == f"{site}/app.js" for f in frames[-2:]), frames
    assert event["request"]["url"].startswith(f"{site}/index.html"), event["request"]
    assert "Chrome" in event["request"]["headers"]["User-Agent"], event["request"]
    # The browser and OS Pharos derives from the user agent (the SDK sends neither), as
    # contexts and as the tags an issue is broken down by.
    assert event["contexts"]["browser"]["name"] == "HeadlessChrome", event["contexts"]
    assert event["contexts"]["os"]["name"] == "Linux", event["contexts"]
    tags = {t["key"]: t["top"][0]["value"] for t in pharos.api(f"/api/v1/issues/{issue['id']}")["tags"]}
    assert tags["browser.name"] == "HeadlessChrome" and tags["os.name"] == "Linux", tags
    assert tags["browser"].startswith("HeadlessChrome "), tags
    status, _, html = pharos.request(f"/issues/{issue['id']}")
    assert status == 200 and "addToBasket" in html and "HeadlessChrome" in html

    # The pageload (streamed spans; the SDK names it "Pageload") with the page's spans.
    def pageload():
        rows = [t for t in pharos.transactions()["transactions"] if t["op"] == "pageload"]
        return rows[0] if rows else None

    tx = pharos.wait("the pageload transaction", pageload)
    assert tx["name"] == "Pageload" and tx["count"] >= 1, tx
    detail = pharos.wait("the pageload's spans", lambda: (
        lambda d: d if d["slowest"] and len(d["slowest"][0]["spans"]) >= 5 else None)(pharos.transactions("Pageload")))
    ops = {s["op"] for s in detail["slowest"][0]["spans"]}
    assert {"browser.request", "resource.script", "browser.paint"} <= ops, ops
    status, _, html = pharos.request(f"/transactions?project={PROJECT}&period=1h&name=Pageload")
    assert status == 200 and "Slowest samples" in html and "resource.script" in html
    trace_id = event["contexts"]["trace"]["trace_id"]
    # One trace: the pageload, its spans (also those sent after it ended: LCP, the click),
    # the error and, below, the log.
    trace = pharos.wait("the click span in the trace", lambda: (
        lambda t: t if "ui.interaction.click" in {s["op"] for s in t["spans"]} else None)(
        pharos.api(f"/api/v1/traces/{trace_id}")))
    assert [t["name"] for t in trace["transactions"]] == ["Pageload"], trace["transactions"]
    assert [e["event_id"] for e in trace["events"]] == [event["event_id"]], trace["events"]

    # The session sent on pageload, then marked by the unhandled error.
    rel = pharos.wait("the browser session", lambda: pharos.release(release))
    assert rel["sessions"] == 1, rel
    rel = pharos.wait("the unhandled error counted", lambda: (
        lambda r: r if r["errored"] == 1 else None)(pharos.release(release)))
    assert rel["crashed"] == 0 and rel["crash_free_rate"] == 1, rel

    # The log from the click.
    log = pharos.wait("the browser log", lambda: next(
        (x for x in pharos.logs() if x["body"] == f"checkout {marker} slow"), None))
    assert log["level"] == "warn" and log["trace_id"] == trace_id, log
    attrs = {k: v["value"] for k, v in log["attributes"].items()}  # typed, as the SDK sent them
    assert attrs["step"] == "payment" and log["attributes"]["elapsed_ms"] == {"type": "integer", "value": 1234}, log
    assert attrs["sentry.message.template"] == "checkout %s slow" and attrs["sentry.message.parameter.0"] == marker
    assert attrs["sentry.sdk.name"] == "sentry.javascript.browser" and attrs["sentry.release"] == release, log

    # What the browser SDK reported dropping: nothing for rate limits or failures.
    reports = pharos.api(f"/api/v1/projects/{PROJECT}/client-reports")["discarded"]
    assert not [r for r in reports if r["reason"] in ("ratelimit_backoff", "network_error", "send_error")], reports


def test_transport_headers_make_the_browser_preflight_and_pharos_answers_it(pharos, browser, site):
    # `transportOptions.headers` (a header a proxy wants, say) turns every SDK request into
    # a non-simple one: Chromium sends OPTIONS first and posts only if Pharos allows it.
    marker = unique("preflight")
    console, sent = visit(browser, site, pharos, marker, f"storefront-web@{marker}", header="1")
    assert sent and all(response is not None and response.status == 200 for _, response in sent), [
        (r.url, r.failure, response and response.status) for r, response in sent]
    assert all(r.headers.get("x-requested-with") == "storefront" for r, _ in sent)
    assert not [c for c in console if "CORS" in c or "/envelope/" in c], console
    issue = pharos.issue_titled(marker)
    assert issue["title"] == f"Error: basket {marker} rejected an empty item", issue
