"""A real Prometheus (Debian's 2.42) scrapes the same `prometheus_client` app and
remote-writes everything to Pharos. The remote-written series must be in Pharos exactly as
they are in Prometheus (labels, timestamps, values, NaN), and the series Pharos makes when
it scrapes the app itself must be the ones Prometheus makes (Info, Enum, `_created`,
buckets), in both exposition formats."""

from __future__ import annotations

import math
import time

import pytest

from metrics_e2e import labels_key, same_float, wait_for

PROM_JOBS = 'job=~"prom_app|prom_app_text"'
# Series whose values do not change while the app is left alone.
STABLE = ("http_requests_total|http_requests_created|http_request_duration_seconds_.*|"
          "order_value_euros_.*|payment_processing_seconds_.*|checkout_latency_seconds.*|"
          "build_info|worker_state|orders_in_queue|python_info|process_start_time_seconds|"
          "process_max_fds")


def vectors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_float(a[k], b[k]) for k in a)


def diff(a: dict, b: dict) -> str:
    only_a = sorted(set(a) - set(b))[:5]
    only_b = sorted(set(b) - set(a))[:5]
    values = [(k, a[k], b[k]) for k in sorted(set(a) & set(b)) if not same_float(a[k], b[k])][:5]
    return f"only left: {only_a}\nonly right: {only_b}\ndifferent values: {values}"


def without(key: tuple, name: str) -> tuple:
    return tuple(x for x in key if x[0] != name)


@pytest.fixture(scope="module")
def settled(app, pharos, prometheus):
    """Sends three PUT requests, then waits until Prometheus (both jobs) and Pharos's own
    scrapes (both jobs) have seen them. Returns a time `t` after all of that, at which
    Prometheus's answers are final, once Pharos has received them by remote_write."""
    for _ in range(3):
        app.get("/api/orders?method=PUT&status=200&latency=0.04&value=12")
    sent = time.time()
    put = 'http_requests_total{method="PUT"} == 3 and timestamp(http_requests_total{method="PUT"}) > %.3f' % sent
    wait_for("Prometheus to scrape the PUTs", lambda: len(prometheus.api.vector(put)) == 2, log=prometheus.log)
    wait_for("Pharos to scrape the PUTs", lambda: len(pharos.api.vector(
        put.replace("{method", '{job=~"app_text|app_om",method'))) == 2, log=pharos.log)
    t = time.time()
    want = prometheus.api.vector(f"{{{PROM_JOBS}}}", t)
    assert len(want) > 80, want
    wait_for("remote-written series to reach Pharos", lambda: vectors_equal(
        pharos.api.vector(f"{{{PROM_JOBS}}}", t), want), timeout=15, log=pharos.log)
    return t


def test_remote_written_series_equal_prometheus_own(pharos, prometheus, settled):
    t = settled
    want = prometheus.api.vector(f"{{{PROM_JOBS}}}", t)
    got = pharos.api.vector(f"{{{PROM_JOBS}}}", t)
    assert vectors_equal(got, want), diff(got, want)
    names = {dict(k)["__name__"] for k in got}
    assert {"up", "scrape_duration_seconds", "http_requests_total", "http_requests_created",
            "order_value_euros_bucket", "build_info", "worker_state", "checkout_latency_seconds",
            "process_cpu_seconds_total", "python_gc_collections_total"} <= names
    # NaN travels unchanged (the quantiles of a summary with no observations would be NaN;
    # process_* never are): compare an expression that makes NaN on both sides.
    nan_expr = f'0 / (order_value_euros_count{{{PROM_JOBS}}} * 0)'
    a, b = pharos.api.vector(nan_expr, t), prometheus.api.vector(nan_expr, t)
    assert a and vectors_equal(a, b) and all(math.isnan(v) for v in a.values())


def test_raw_samples_have_the_same_timestamps_and_values(pharos, prometheus, settled):
    sel = f'{{{PROM_JOBS},__name__=~"up|jobs_processed_total|http_requests_total|process_resident_memory_bytes"}}'
    # Prometheus 2.42 includes a sample lying exactly on the range's left edge, Prometheus
    # 3 and Pharos do not: move the evaluation time back a millisecond if one does.
    t = round(settled, 3)
    wider = prometheus.api.query(f"{sel}[7s]", t)
    sample_ms = {round(float(ts) * 1000) for s in wider for ts, _ in s["values"]}
    while round(t * 1000) - 6000 in sample_ms:
        t = round(t - 0.001, 3)
    expr = f"{sel}[6s]"
    want = {labels_key(s["metric"]): s["values"] for s in prometheus.api.query(expr, t)}
    got = {labels_key(s["metric"]): s["values"] for s in pharos.api.query(expr, t)}
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == want[k], k
    assert all(len(v) >= 1 for v in want.values()) and max(len(v) for v in want.values()) >= 3


def test_series_labels_and_range_queries_match(pharos, prometheus, settled):
    t = settled
    params = {"match[]": f"{{{PROM_JOBS}}}", "start": f"{t - 5:.3f}", "end": f"{t:.3f}"}
    want = sorted(labels_key(s) for s in prometheus.api.get("/api/v1/series", params))
    got = sorted(labels_key(s) for s in pharos.api.get("/api/v1/series", params))
    assert got == want
    for name in ("job", "le", "quantile", "worker_state", "method"):
        p = {"match[]": f"{{{PROM_JOBS}}}", "start": f"{t - 5:.3f}", "end": f"{t:.3f}"}
        assert pharos.api.get(f"/api/v1/label/{name}/values", p) == prometheus.api.get(f"/api/v1/label/{name}/values", p), name
    assert (pharos.api.get("/api/v1/labels", params) == prometheus.api.get("/api/v1/labels", params))

    # Range queries over the remote-written data. Prometheus 2.42 includes a sample lying
    # exactly on a range's left edge and Prometheus 3 (which Pharos follows) does not, so
    # steps are moved by a millisecond if one would land there.
    window, step = 3, 1
    start, end = t - 8, t
    raw = prometheus.api.query(f'jobs_processed_total{{{PROM_JOBS}}}[{end - start + window + 1:.0f}s]', end)
    sample_ms = {round(float(ts) * 1000) for s in raw for ts, _ in s["values"]}
    for _ in range(10):
        edges = {round((start + i * step - window) * 1000) for i in range(int((end - start) / step) + 1)}
        if not edges & sample_ms:
            break
        start += 0.001
        end += 0.001
    for expr in (
        f'rate(jobs_processed_total{{{PROM_JOBS}}}[{window}s])',
        f'sum by (job, status) (increase(http_requests_total{{{PROM_JOBS}}}[{window}s]))',
        f'histogram_quantile(0.9, sum by (job, le) (order_value_euros_bucket{{{PROM_JOBS}}}))',
        f'avg_over_time(process_resident_memory_bytes{{{PROM_JOBS}}}[{window}s])',
        f'up{{{PROM_JOBS}}}',
    ):
        want = {labels_key(s["metric"]): s["values"] for s in prometheus.api.query_range(expr, start, end, step)}
        got = {labels_key(s["metric"]): s["values"] for s in pharos.api.query_range(expr, start, end, step)}
        assert got.keys() == want.keys(), expr
        for k in want:
            assert [ts for ts, _ in got[k]] == [ts for ts, _ in want[k]], (expr, k)
            for (_, a), (_, b) in zip(got[k], want[k]):
                assert float(a) == pytest.approx(float(b), rel=1e-12) or same_float(float(a), float(b)), (expr, k, got[k], want[k])


def test_pharos_scrapes_make_the_series_prometheus_makes(pharos, prometheus, settled):
    """Pharos's own scrape of the app (job app_om: OpenMetrics; app_text: text 0.0.4) and
    Prometheus's (prom_app, prom_app_text) give the same series: names and labels of
    everything, values of what does not move."""
    t = settled
    for ours, theirs in (("app_om", "prom_app"), ("app_text", "prom_app_text")):
        got = {without(without(k, "job"), "instance"): v
               for k, v in pharos.api.vector(f'{{job="{ours}"}}', t).items()}
        want = {without(without(k, "job"), "instance"): v
                for k, v in prometheus.api.vector(f'{{job="{theirs}"}}', t).items()}
        assert got.keys() == want.keys(), (ours, diff(got, want))
        got_stable = {k: v for k, v in pharos.api.vector(f'{{job="{ours}",__name__=~"{STABLE}"}}', t).items()}
        want_stable = {k: v for k, v in prometheus.api.vector(f'{{job="{theirs}",__name__=~"{STABLE}"}}', t).items()}
        strip = lambda d: {without(without(k, "job"), "instance"): v for k, v in d.items()}  # noqa: E731
        assert len(got_stable) > 40
        assert vectors_equal(strip(got_stable), strip(want_stable)), (ours, diff(strip(got_stable), strip(want_stable)))


def test_metadata_matches_prometheus(pharos, prometheus, settled):
    """Every family Prometheus reports with one type, Pharos reports with the same type,
    help and unit (Prometheus's metadata comes from its scrapes of both formats; Pharos's
    from its own scrapes and from Prometheus's remote_write metadata)."""
    want = prometheus.api.get("/api/v1/metadata")
    got = pharos.api.get("/api/v1/metadata")
    app_families = [m for m in want if not m.startswith(("prometheus_", "go_", "net_", "promhttp_"))]
    assert {"http_requests", "http_requests_total", "build", "build_info", "worker_state",
            "order_value_euros", "checkout_latency_seconds"} <= set(app_families)
    for m in app_families:
        if len(want[m]) == 1:
            assert got.get(m) == want[m], m
    # Prometheus lists both types of the Enum (gauge in text, stateset in OpenMetrics).
    assert sorted(x["type"] for x in want["worker_state"]) == ["gauge", "stateset"]
