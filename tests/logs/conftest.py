"""One Pharos for the session with syslog listeners (UDP and TCP) and log rules of every
kind with short windows, plus, for the tests that SIGKILL and restart Pharos, a second one
of their own (the module's `restartable` fixture). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared harness

from logs_e2e import Pharos, free_port, free_udp_port  # noqa: E402

# Seed 004's lists, as written in its `forbidden_errors` and `rate_limited_patterns`.
FORBIDDEN = [
    "Decimal.*is not JSON serializable",
    "OID.*out of range",
    "Error handling request",
    "Lock acquisition failed",
    "Queue full",
    "Database connection lost",
    "Webhook timeout",
]
RATE_LIMITED = ["Duplicate update_id", "Insufficient balance", "Model not found"]
# The service whose lines the threshold rule counts (other tests log errors too).
RULES_SERVICE = "rules-bot"


def _yaml_list(items: list[str], indent: int) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}- {item!r}".replace("'", '"') for item in items)


def session_config(udp_port: int, tcp_port: int) -> str:
    return f"""
metrics:
  self_scrape_interval: 1s
  host_metrics_interval: 0s
logs:
  syslog:
    udp: 127.0.0.1:{udp_port}
    tcp: 127.0.0.1:{tcp_port}
  rules:
    - name: forbidden_log_patterns
      kind: forbidden
      severity: critical
      resolve_after: 3s
      labels: {{team: bot}}
      patterns:
{_yaml_list(FORBIDDEN, 8)}
    - name: rate_limited_log_patterns
      kind: rate_limited
      patterns:
{_yaml_list(RATE_LIMITED, 8)}
      max: 1
      per: 5s
    - name: error_burst
      kind: threshold
      service: {RULES_SERVICE}
      level: ERROR
      max: 3
      per: 10s
    - name: slow_requests
      kind: count
      patterns: ["Slow request detected"]
"""


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pharos-logs")


@pytest.fixture(scope="session")
def pharos(workdir):
    udp, tcp = free_udp_port(), free_port()
    p = Pharos(workdir, "pharos", session_config(udp, tcp))
    p.syslog_udp = udp
    p.syslog_tcp = tcp
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def restartable(workdir, request):
    """A Pharos of the module's own, on a port it keeps across SIGKILL and restart."""
    name = "restart-" + request.module.__name__.rsplit(".", 1)[-1]
    p = Pharos(workdir, name, "logs: {}\nmetrics: {self_scrape_interval: 0s, host_metrics_interval: 0s}\n")
    p.start()
    yield p
    p.stop()
