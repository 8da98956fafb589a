"""A service instrumented with the real `prometheus_client`, scraped by Pharos every
second in both exposition formats, checked through Pharos's Prometheus HTTP API: what
Prometheus itself would answer for counters, `rate()`, `_created`, histograms with default
and custom buckets, summaries, Info, Enum, the process/platform/gc collectors, metadata,
`up`, and staleness when the app goes away."""

from __future__ import annotations

import math
import time
from collections import Counter as Tally

import pytest

from metrics_e2e import wait_for

JOBS = ("app_text", "app_om")


def extrapolated_rate(samples: list[tuple[float, float]], at: float, window: float,
                      is_rate: bool = True) -> float:
    """Prometheus 3's `rate()`/`increase()` (promql/functions.go extrapolatedRate) over a
    range selector's samples [(t seconds, v)], evaluated at `at` with range `window`.
    Times are whole milliseconds as in Prometheus, so durations are exact."""
    assert len(samples) >= 2, samples
    ms = [(round(t * 1000), v) for t, v in samples]
    first_t, first_v = ms[0]
    last_t, last_v = ms[-1]
    result = last_v - first_v
    prev = first_v
    for _, v in ms[1:]:
        if v < prev:
            result += prev
        prev = v
    at_ms = round(at * 1000)
    range_start, range_end = at_ms - round(window * 1000), at_ms
    sampled = (last_t - first_t) / 1000
    avg = sampled / (len(ms) - 1)
    to_start = (first_t - range_start) / 1000
    to_end = (range_end - last_t) / 1000
    threshold = avg * 1.1
    if to_start >= threshold:
        to_start = avg / 2
    to_zero = to_start
    if result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
    to_start = min(to_start, to_zero)
    if to_end >= threshold:
        to_end = avg / 2
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor /= window
    return result * factor


def test_scrapes_negotiate_both_formats_with_prometheus_client(app, pharos):
    """Job app_text asks for text 0.0.4 only; app_om asks as Prometheus does (OpenMetrics
    first). prometheus_client answers each with the format asked for."""
    scrapes = [s for s in app.get("/scrapes") if not s["query"]]
    by_accept = {s["accept"]: s["content_type"] for s in scrapes}
    text = [a for a in by_accept if a.startswith("text/plain;version=0.0.4")]
    om = [a for a in by_accept if a.startswith("application/openmetrics-text;version=1.0.0")]
    assert text and om, by_accept
    assert by_accept[text[0]].startswith("text/plain; version=0.0.4"), by_accept
    assert by_accept[om[0]].startswith("application/openmetrics-text; version=1.0.0"), by_accept
    assert all(s["user_agent"] for s in scrapes)


def test_up_and_scrape_series(pharos):
    up = pharos.api.vector("up")
    for job in JOBS + ("doomed",):
        matches = [v for k, v in up.items() if ("job", job) in k]
        assert matches == [1.0], (job, up)
    for job in JOBS:
        key = dict(pharos.api.query(f'up{{job="{job}"}}')[0]["metric"])
        assert key["service"] == "shop" and key["instance"].startswith("127.0.0.1:"), key
        samples = pharos.api.value(f'scrape_samples_scraped{{job="{job}"}}')
        assert samples > 30, samples  # the process/gc/platform collectors alone make dozens
        assert pharos.api.value(f'scrape_samples_post_metric_relabeling{{job="{job}"}}') == samples
        assert 0 < pharos.api.value(f'scrape_duration_seconds{{job="{job}"}}') < 1


def test_counter_with_labels_counts_every_request(pharos, traffic):
    expected = Tally((r["method"], r["status"]) for r in traffic.plan)
    assert expected == {("GET", "200"): 90, ("POST", "201"): 5, ("GET", "500"): 5}
    for job in JOBS:
        got = pharos.api.vector(f'http_requests_total{{job="{job}"}}', traffic.after)
        by = {(dict(k)["method"], dict(k)["status"]): v for k, v in got.items()}
        assert by == {k: float(v) for k, v in expected.items()}, (job, got)
        for k in got:
            assert dict(k)["endpoint"] == "/api/orders" and dict(k)["service"] == "shop"
        # Seed 003's error ratio.
        ratio = pharos.api.value(
            f'sum(http_requests_total{{job="{job}",status=~"5.."}}) / sum(http_requests_total{{job="{job}"}})',
            traffic.after)
        assert ratio == pytest.approx(0.05)


def test_counter_increases_with_more_traffic(app, pharos, traffic):
    sel = 'http_requests_total{job="app_om",method="PATCH",status="204"}'
    assert pharos.api.vector(sel) == {}
    for _ in range(3):
        app.get("/api/orders?method=PATCH&status=204&latency=0.01")
    first = wait_for("PATCH counted", lambda: pharos.api.vector(sel), log=pharos.log)
    assert list(first.values()) == [3.0]
    for _ in range(4):
        app.get("/api/orders?method=PATCH&status=204&latency=0.01")
    wait_for("PATCH counted again", lambda: list(pharos.api.vector(sel).values()) == [7.0], log=pharos.log)
    now = time.time()
    assert pharos.api.value(f"increase({sel}[1m])", now) >= 4
    assert pharos.api.value(f"resets({sel}[1m])", now) == 0


def test_rate_of_a_steady_counter_is_its_slope(pharos, app):
    """jobs_processed_total grows by exactly 5 per second of wall-clock time."""
    wait_for("5 s of samples", lambda: pharos.api.value(
        'count_over_time(jobs_processed_total{job="app_om"}[6s])') >= 5, log=pharos.log)
    now = time.time()
    for job in JOBS:
        r = pharos.api.value(f'rate(jobs_processed_total{{job="{job}"}}[5s])', now)
        assert r == pytest.approx(5.0, rel=0.1), (job, r)
        d = pharos.api.value(f'deriv(jobs_processed_total{{job="{job}"}}[5s])', now)
        assert d == pytest.approx(5.0, rel=0.1), (job, d)


def test_rate_follows_prometheus_extrapolation_on_the_raw_samples(pharos, traffic):
    at = round(time.time(), 3)  # the API takes milliseconds
    for job in JOBS:
        for window in (3, 7, 20):
            sel = f'http_requests_total{{job="{job}",method="GET",status="200"}}'
            matrix = pharos.api.query(f"{sel}[{window}s]", at)
            assert len(matrix) == 1, matrix
            samples = [(float(t), float(v)) for t, v in matrix[0]["values"]]
            if len(samples) < 2:
                continue
            want_rate = extrapolated_rate(samples, at, window)
            want_increase = extrapolated_rate(samples, at, window, is_rate=False)
            assert pharos.api.value(f"rate({sel}[{window}s])", at) == pytest.approx(want_rate, rel=1e-9, abs=1e-12)
            assert pharos.api.value(f"increase({sel}[{window}s])", at) == pytest.approx(want_increase, rel=1e-9, abs=1e-12)


def test_created_series_as_prometheus_keeps_them(pharos, traffic):
    """Prometheus (2.x, and 3.x without the created-timestamp feature flag) stores the
    OpenMetrics `_created` lines as ordinary series named `<family>_created`, and the text
    format's separate `_created` gauges the same way, so both jobs have the same series
    with the creation time as value; `rate()` of the counter ignores them."""
    for name in ("http_requests_created", "http_request_duration_seconds_created",
                 "order_value_euros_created", "payment_processing_seconds_created",
                 "checkout_latency_seconds_created"):
        per_job = {}
        for job in JOBS:
            got = pharos.api.vector(f'{name}{{job="{job}"}}', traffic.after)
            assert got, (name, job)
            for v in got.values():
                assert traffic.app_start - 1 <= v <= traffic.after, (name, job, v)
            per_job[job] = {tuple(x for x in k if x[0] != "job"): v for k, v in got.items()}
        assert per_job["app_text"] == per_job["app_om"], name
    created = pharos.api.vector('http_requests_created{job="app_om"}', traffic.after)
    assert {(dict(k)["method"], dict(k)["status"]) for k in created} >= {
        ("GET", "200"), ("POST", "201"), ("GET", "500")}
    # Gauges, Info and Enum have no _created.
    assert pharos.api.vector('{__name__=~"orders_in_queue_created|build_created|build_info_created|worker_state_created"}') == {}
    # The counter's own series are only the _total ones.
    names = {s["__name__"] for s in pharos.api.get("/api/v1/series", {
        "match[]": '{__name__=~"http_requests.*",job="app_om"}'})}
    assert names == {"http_requests_total", "http_requests_created"}, names


def test_histogram_default_buckets(pharos, traffic):
    default_le = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75",
                  "1.0", "2.5", "5.0", "7.5", "10.0", "+Inf"]
    lat = [r["latency"] for r in traffic.plan]
    for job in JOBS:
        got = pharos.api.vector(f'http_request_duration_seconds_bucket{{job="{job}"}}', traffic.after)
        by_le = {dict(k)["le"]: v for k, v in got.items()}
        assert sorted(by_le, key=float) == default_le, (job, by_le)
        for le, v in by_le.items():
            assert v == sum(1 for x in lat if x <= float(le)), (job, le, v)
        assert pharos.api.value(f'http_request_duration_seconds_count{{job="{job}"}}', traffic.after) == 100
        assert pharos.api.value(f'http_request_duration_seconds_sum{{job="{job}"}}', traffic.after) == pytest.approx(sum(lat))
        for q, want in ((0.5, 0.1 + 0.15 * 40 / 60), (0.75, 0.5 + 0.25 * 5 / 20),
                        (0.95, 2.5 + 2.5 * 5 / 10), (0.05, 0.01 + 0.015 * 5 / 10)):
            expr = f'histogram_quantile({q}, sum by (le) (http_request_duration_seconds_bucket{{job="{job}"}}))'
            assert pharos.api.value(expr, traffic.after) == pytest.approx(want), (job, q)
        # The average latency from _sum / _count.
        avg = pharos.api.value(
            f'http_request_duration_seconds_sum{{job="{job}"}} / http_request_duration_seconds_count{{job="{job}"}}',
            traffic.after)
        assert avg == pytest.approx(sum(lat) / 100)
    values = pharos.api.get("/api/v1/label/le/values")
    assert {"0.005", "0.025", "1.0", "10.0", "+Inf", "250.0"} <= set(values), values


def test_histogram_custom_buckets_and_quantile_over_rate(pharos, traffic):
    """order_value_euros has buckets 5, 10, 25, 50, 100, 250; it exists (all zero) from
    the app's start, so a rate over a window starting before the traffic scales every
    bucket alike and the quantiles of the rate are those of the totals."""
    for job in JOBS:
        got = pharos.api.vector(f'order_value_euros_bucket{{job="{job}"}}', traffic.after)
        assert {dict(k)["le"]: v for k, v in got.items()} == {
            "5.0": 20, "10.0": 20, "25.0": 50, "50.0": 90, "100.0": 90, "250.0": 100, "+Inf": 100}
        assert pharos.api.value(f'order_value_euros_sum{{job="{job}"}}', traffic.after) == 60 + 600 + 1600 + 2000
        window = math.ceil(traffic.after - traffic.before) + 2
        for q, want in ((0.1, 2.5), (0.5, 25.0), (0.75, 40.625), (0.95, 175.0), (1.0, 250.0)):
            raw = f'histogram_quantile({q}, order_value_euros_bucket{{job="{job}"}})'
            assert pharos.api.value(raw, traffic.after) == pytest.approx(want), (job, q)
            rated = f'histogram_quantile({q}, sum by (le) (rate(order_value_euros_bucket{{job="{job}"}}[{window}s])))'
            assert pharos.api.value(rated, traffic.after) == pytest.approx(want), (job, q)
    # Pharos's instant query at a time before the traffic: every bucket is 0 → NaN.
    assert math.isnan(pharos.api.value('histogram_quantile(0.5, order_value_euros_bucket{job="app_om"})', traffic.before))


def test_summaries(pharos, traffic):
    lat = sorted(r["latency"] for r in traffic.plan)
    for job in JOBS:
        # prometheus_client's Summary: _count and _sum only.
        assert pharos.api.value(f'payment_processing_seconds_count{{job="{job}"}}', traffic.after) == 100
        assert pharos.api.value(f'payment_processing_seconds_sum{{job="{job}"}}', traffic.after) == pytest.approx(sum(lat))
        assert pharos.api.vector(f'payment_processing_seconds{{job="{job}"}}', traffic.after) == {}
        # A custom collector's summary with quantiles.
        got = pharos.api.vector(f'checkout_latency_seconds{{job="{job}"}}', traffic.after)
        by_q = {dict(k)["quantile"]: v for k, v in got.items()}
        assert by_q == {"0.5": lat[50], "0.9": lat[90], "0.99": lat[99]} == {"0.5": 0.2, "0.9": 3.0, "0.99": 3.0}
        assert pharos.api.value(f'checkout_latency_seconds_count{{job="{job}"}}', traffic.after) == 100
        mean = pharos.api.value(
            f'rate(checkout_latency_seconds_sum{{job="{job}"}}[1m]) / rate(checkout_latency_seconds_count{{job="{job}"}}[1m])',
            traffic.after)
        assert mean == pytest.approx(sum(lat) / 100)
    assert "quantile" in pharos.api.get("/api/v1/labels")


def test_gauge(app, pharos, traffic):
    for job in JOBS:
        assert pharos.api.value(f'orders_in_queue{{job="{job}"}}', traffic.after) == 7
    app.get("/queue?set=3.5")
    wait_for("the gauge to drop in both jobs", lambda: len(pharos.api.vector('orders_in_queue{job=~"app_text|app_om"} == 3.5')) == 2, log=pharos.log)
    now = time.time()
    for job in JOBS:
        assert pharos.api.value(f'max_over_time(orders_in_queue{{job="{job}"}}[1m])', now) == 7
        assert pharos.api.value(f'min_over_time(orders_in_queue{{job="{job}"}}[1m])', now) == 0
        assert pharos.api.value(f'delta(orders_in_queue{{job="{job}"}}[1m])', now) != 0
    app.get("/queue?set=7")


def test_info_and_enum_become_the_series_prometheus_makes(app, pharos, traffic):
    """Info → `<name>_info{labels…} 1`; Enum → one series per state, the current one 1
    (a gauge in text 0.0.4, a stateset in OpenMetrics; the same series either way)."""
    for job in JOBS:
        info = pharos.api.query(f'build_info{{job="{job}"}}', traffic.after)
        assert len(info) == 1
        m = info[0]["metric"]
        assert (m["version"], m["revision"], float(info[0]["value"][1])) == ("1.4.2", "abc123", 1.0), m
        states = pharos.api.vector(f'worker_state{{job="{job}"}}', traffic.after)
        assert {dict(k)["worker_state"]: v for k, v in states.items()} == {
            "starting": 0, "running": 1, "stopped": 0}
    # The usual join of an info metric onto another series.
    joined = pharos.api.query(
        'orders_in_queue{job="app_om"} * on (instance, job) group_left (version) build_info{job="app_om"}',
        traffic.after)
    assert [(r["metric"].get("version"), float(r["value"][1])) for r in joined] == [("1.4.2", 7.0)]
    app.get("/state?to=stopped")
    wait_for("enum to switch", lambda: len(pharos.api.vector('worker_state{job=~"app_text|app_om",worker_state="stopped"} == 1')) == 2, log=pharos.log)
    assert pharos.api.vector('worker_state{job=~"app_text|app_om",worker_state="running"} == 1') == {}
    app.get("/state?to=running")


def test_process_platform_and_gc_collectors(pharos, app, traffic):
    for job in JOBS:
        q = lambda e: pharos.api.value(e.replace("JOB", job), traffic.after)  # noqa: E731
        assert q('process_resident_memory_bytes{job="JOB"}') > 1e6
        assert q('process_virtual_memory_bytes{job="JOB"}') >= q('process_resident_memory_bytes{job="JOB"}')
        assert q('process_start_time_seconds{job="JOB"}') == pytest.approx(traffic.app_start, abs=5)
        assert q('process_cpu_seconds_total{job="JOB"}') > 0
        assert 3 <= q('process_open_fds{job="JOB"}') < q('process_max_fds{job="JOB"}')
        py = pharos.api.query(f'python_info{{job="{job}"}}', traffic.after)
        assert len(py) == 1 and py[0]["metric"]["implementation"] == "CPython", py
        assert py[0]["value"][1] == "1"
        gens = pharos.api.vector(f'python_gc_collections_total{{job="{job}"}}', traffic.after)
        assert {dict(k)["generation"] for k in gens} == {"0", "1", "2"}
        assert len(pharos.api.vector(f'python_gc_objects_collected_total{{job="{job}"}}', traffic.after)) == 3
        assert len(pharos.api.vector(f'python_gc_objects_uncollectable_total{{job="{job}"}}', traffic.after)) == 3


def test_series_and_labels_endpoints(pharos, traffic):
    series = pharos.api.get("/api/v1/series", {"match[]": 'http_requests_total{job="app_om"}',
                                               "start": str(traffic.before - 60), "end": str(time.time())})
    assert {frozenset(s) for s in series} == {frozenset(
        {"__name__", "endpoint", "instance", "job", "method", "service", "status"})}
    assert {(s["method"], s["status"]) for s in series} >= {("GET", "200"), ("POST", "201"), ("GET", "500")}
    # POST form, several matchers.
    both = pharos.api.get("/api/v1/series", [("match[]", "build_info"), ("match[]", 'up{job="app_text"}')],
                          method="POST")
    assert sorted((s["__name__"], s["job"]) for s in both if s["job"] != "doomed") == [
        ("build_info", "app_om"), ("build_info", "app_text"), ("up", "app_text")]
    labels = pharos.api.get("/api/v1/labels")
    assert {"__name__", "job", "instance", "service", "method", "endpoint", "status", "le",
            "quantile", "worker_state", "version", "revision", "generation",
            "implementation"} <= set(labels), labels
    assert labels == sorted(labels)
    assert pharos.api.get("/api/v1/labels", {"match[]": "build_info"}) == [
        "__name__", "instance", "job", "revision", "service", "version"]
    jobs = pharos.api.get("/api/v1/label/job/values")
    assert {"app_text", "app_om", "doomed"} <= set(jobs)
    names = pharos.api.get("/api/v1/label/__name__/values")
    assert {"http_requests_total", "http_requests_created", "http_request_duration_seconds_bucket",
            "order_value_euros_bucket", "build_info", "worker_state", "up",
            "process_cpu_seconds_total", "python_info"} <= set(names)


def _meta(pharos, metric: str) -> list[dict]:
    return pharos.api.get("/api/v1/metadata", {"metric": metric}).get(metric, [])


def test_metadata_types_and_help(pharos, traffic):
    """Metadata as Prometheus keys it: by the family name of the `# TYPE` line, which for
    OpenMetrics counters and infos has no `_total` / `_info` suffix."""
    expect = {
        # OpenMetrics (job app_om)
        "http_requests": ("counter", "HTTP requests by method, endpoint and status."),
        "build": ("info", "Build of this service."),
        "process_cpu_seconds": ("counter", "Total user and system CPU time spent in seconds."),
        # text 0.0.4 (job app_text)
        "http_requests_total": ("counter", "HTTP requests by method, endpoint and status."),
        "http_requests_created": ("gauge", "HTTP requests by method, endpoint and status."),
        "build_info": ("gauge", "Build of this service."),
        "process_cpu_seconds_total": ("counter", "Total user and system CPU time spent in seconds."),
        # both
        "orders_in_queue": ("gauge", "Orders waiting to be processed."),
        "http_request_duration_seconds": ("histogram", "Request latency (default buckets)."),
        "order_value_euros": ("histogram", "Order value (custom buckets)."),
        "payment_processing_seconds": ("summary", "Payment processing time."),
        "checkout_latency_seconds": ("summary", "Checkout latency with quantiles."),
        "python_info": ("gauge", "Python platform information"),
    }
    for metric, (kind, help_) in expect.items():
        got = _meta(pharos, metric)
        assert [(m["type"], m["help"], m["unit"]) for m in got] == [(kind, help_, "")], (metric, got)
    everything = pharos.api.get("/api/v1/metadata")
    assert set(expect) <= set(everything)
    assert "up" not in everything and "http_requests_bucket" not in everything
    limited = pharos.api.get("/api/v1/metadata", {"limit": "2"})
    assert len(limited) == 2


def test_metadata_lists_every_distinct_type_of_a_family(pharos, traffic):
    """prometheus_client's Enum is `# TYPE worker_state gauge` in text 0.0.4 and
    `# TYPE worker_state stateset` in OpenMetrics; Prometheus's metadata API then lists
    both entries for `worker_state`."""
    seen = []
    for _ in range(4):
        seen.append(sorted(m["type"] for m in _meta(pharos, "worker_state")))
        time.sleep(0.6)
    assert all(s == ["gauge", "stateset"] for s in seen), seen


def test_query_range(pharos, traffic):
    end = time.time()
    start = traffic.before - 2
    result = pharos.api.query_range('sum by (job) (http_requests_total{job=~"app_text|app_om"})',
                                    start, end, 0.5)
    assert {r["metric"]["job"] for r in result} == set(JOBS)
    for r in result:
        ts = [float(t) for t, _ in r["values"]]
        assert all(b - a == pytest.approx(0.5) for a, b in zip(ts, ts[1:]))
        values = [float(v) for _, v in r["values"]]
        assert values == sorted(values), r  # a counter never goes down
        assert values[-1] >= 100
    # Steps before the traffic see no requests (the labelled children did not exist yet).
    early = pharos.api.query_range('sum(http_requests_total{job="app_om"})', traffic.before - 2,
                                   traffic.before, 1)
    assert early == [] or all(float(v) == 0 for _, v in early[0]["values"])
    status, body = pharos.api.raw("/api/v1/query_range", {"query": "up", "start": "10", "end": "5", "step": "1"})
    assert status == 400 and body["errorType"] == "bad_data", body


def test_api_needs_the_token(pharos):
    from metrics_e2e import PromApi
    anonymous = PromApi(pharos.url, None, pharos.log)
    status, body = anonymous.raw("/api/v1/query", {"query": "up"})
    assert status == 401, body
    wrong = PromApi(pharos.url, "not-the-token", pharos.log)
    assert wrong.raw("/api/v1/series", {"match[]": "up"})[0] == 401


def test_stopped_app_goes_down_and_its_series_go_stale(pharos, doomed_app):
    """Uses its own copy of the app (job `doomed`), so the order of tests does not matter."""
    sel = '{job="doomed",__name__!~"up|scrape_.*"}'
    before = pharos.api.vector(sel)
    assert len(before) > 30 and pharos.api.value('up{job="doomed"}') == 1
    assert pharos.api.value('orders_in_queue{job="doomed"}') == 0
    doomed_app.stop()
    stopped = time.time()
    wait_for("up to be 0", lambda: pharos.api.value('up{job="doomed"}') == 0, log=pharos.log)
    # Staleness markers: the series vanish from instant queries at once, not after the
    # 5-minute lookback.
    wait_for("series to go stale", lambda: pharos.api.vector(sel) == {}, timeout=10, log=pharos.log)
    assert pharos.api.vector('orders_in_queue{job="doomed"}') == {}
    assert pharos.api.vector('build_info{job="doomed"}') == {}
    assert pharos.api.value('scrape_samples_scraped{job="doomed"}') == 0
    # A range query shows the series up to the stop and nothing after the marker.
    now = time.time()
    r = pharos.api.query_range('orders_in_queue{job="doomed"}', stopped - 5, now + 0.001, 0.25)
    assert len(r) == 1
    last_point = max(float(t) for t, _ in r[0]["values"])
    assert stopped - 5 < last_point < stopped + 3, (stopped, last_point)
    # The samples before the stop are still there.
    assert pharos.api.value('last_over_time(orders_in_queue{job="doomed"}[1m])') == 0
    targets = pharos.api.get("/api/v1/targets")["activeTargets"]
    doomed = [t for t in targets if t["scrapePool"] == "doomed"]
    assert len(doomed) == 1 and doomed[0]["health"] == "down" and doomed[0]["lastError"], doomed
    # The other jobs carry on.
    assert len(pharos.api.vector('up{job=~"app_text|app_om"} == 1')) == 2


def test_scrape_protocols_in_prometheus_spelling(workdir):
    import subprocess

    from metrics_e2e import pharos_binary
    cfg = workdir / "protocols.yaml"
    cfg.write_text("""
scrape_configs:
  - job_name: pasted_from_prometheus_yml
    scrape_protocols: [OpenMetricsText1.0.0, OpenMetricsText0.0.1, PrometheusText1.0.0, PrometheusText0.0.4]
    static_configs:
      - targets: ['127.0.0.1:9']
""")
    out = subprocess.run([str(pharos_binary()), "check", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
