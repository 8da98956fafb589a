"""util-linux's `logger(1)` sending to Pharos's syslog listeners: UDP (`-d`) and TCP
(`-T`), RFC 5424 and RFC 3164 headers, newline and octet-counted framing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from logs_e2e import entry_field, unique

LOGGER = shutil.which("logger")
pytestmark = pytest.mark.skipif(LOGGER is None, reason="logger(1) from util-linux is not installed")


def send(port: int, transport: str, fmt: str, tag: str, priority: str, message: str,
         extra: list[str] = ()) -> None:
    args = [LOGGER, "-n", "127.0.0.1", "-P", str(port), transport, fmt, "-t", tag,
            "-p", priority, *extra, message]
    r = subprocess.run(args, capture_output=True, timeout=10)
    assert r.returncode == 0, (args, r.stderr)


CASES = [
    pytest.param("-d", "--rfc5424", [], id="udp-rfc5424"),
    pytest.param("-d", "--rfc3164", [], id="udp-rfc3164"),
    pytest.param("-T", "--rfc5424", [], id="tcp-rfc5424"),
    pytest.param("-T", "--rfc3164", [], id="tcp-rfc3164"),
    pytest.param("-T", "--rfc5424", ["--octet-count"], id="tcp-rfc5424-octet-count"),
]


@pytest.mark.parametrize("transport,fmt,extra", CASES)
def test_logger_messages_searchable_by_tag_and_level(pharos, transport, fmt, extra):
    port = pharos.syslog_udp if transport == "-d" else pharos.syslog_tcp
    w = unique("sys")
    send(port, transport, fmt, "myapp", "user.err", f"Database connection failed {w}", extra)
    send(port, transport, fmt, "myapp", "user.warning", f"Retrying connection {w}", extra)
    send(port, transport, fmt, "myapp", "local0.info", f"Connected to db {w} attempt=2", extra)
    entries = pharos.wait_search(f"{w}", 3)
    for e in entries:
        assert e["service"] == "myapp", e
        assert e["source"] == "syslog"
        assert e["host"], e
        assert not e["message"].startswith("<"), f"syslog header left in the message: {e['message']!r}"
        assert w in e["message"]
    by_level = {e["level"]: e["message"] for e in entries}
    assert by_level["ERROR"] == f"Database connection failed {w}"
    assert by_level["WARNING"] == f"Retrying connection {w}"
    assert by_level["INFO"].startswith(f"Connected to db {w}")
    assert [e["message"] for e in pharos.search(f"service=myapp level=ERROR {w}")] == \
        [f"Database connection failed {w}"]
    assert len(pharos.search(f"service=myapp level>=WARNING {w}")) == 2


def test_rfc5424_structured_data_and_msgid(pharos):
    w = unique("sd")
    send(pharos.syslog_udp, "-d", "--rfc5424", "billing", "user.notice", f"Invoice sent {w}",
         ["--msgid", "INV01", "--sd-id", "order@32473", "--sd-param", 'id="9001"'])
    [e] = pharos.wait_search(f"service=billing {w}", 1)
    assert e["level"] == "NOTICE"
    assert e["message"] == f"Invoice sent {w}"
    fields = e.get("fields") or {}
    assert "INV01" in str(fields), fields
    assert "9001" in str(fields), fields


def test_tcp_connection_with_many_messages(pharos):
    """One TCP connection, many newline-framed messages (logger reads them from a file)."""
    w = unique("tcpmany")
    lines = "".join(f"batch line {i} {w}\n" for i in range(200))
    r = subprocess.run([LOGGER, "-n", "127.0.0.1", "-P", str(pharos.syslog_tcp), "-T",
                        "--rfc5424", "-t", "batcher", "-p", "user.info"],
                       input=lines.encode(), capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    pharos.wait_search(f"service=batcher {w}", 200)
    assert pharos.counts("service", w) == {"batcher": 200}


@pytest.mark.parametrize("socktype", ["udp", "tcp"])
def test_python_sysloghandler(pharos, socktype):
    """The standard library's logging.handlers.SysLogHandler: no RFC header, just
    `<PRI>message`, NUL-terminated (over TCP the NUL is the only framing)."""
    import logging
    import logging.handlers
    import socket

    w = unique("pysys")
    if socktype == "udp":
        handler = logging.handlers.SysLogHandler(address=("127.0.0.1", pharos.syslog_udp))
    else:
        handler = logging.handlers.SysLogHandler(address=("127.0.0.1", pharos.syslog_tcp),
                                                 socktype=socket.SOCK_STREAM)
    # The usual way to name the program: `ident` (Python 3.3+), "tag: " before the message.
    handler.ident = "pybot: "
    handler.setFormatter(logging.Formatter("%(name)s - %(levelname)s - %(message)s"))
    lg = logging.getLogger("pybot.sys")
    lg.handlers[:] = [handler]
    lg.propagate = False
    lg.setLevel(logging.INFO)
    lg.error(f"Lock acquisition took too long {w}")
    lg.info(f"Heartbeat ok {w}")
    handler.close()
    entries = pharos.wait_search(w, 2)
    for e in entries:
        assert e["service"] == "pybot", e
        assert e["source"] == "syslog"
    levels = sorted(e["level"] for e in entries)
    assert levels == ["ERROR", "INFO"]
    [err] = [e for e in entries if e["level"] == "ERROR"]
    assert err["message"].endswith(f"Lock acquisition took too long {w}")
    assert "\x00" not in err["message"]


def test_rfc3164_from_a_sender_east_of_utc_is_not_in_the_future(pharos):
    """`logger --rfc3164` on a host whose local zone is Asia/Kolkata (+05:30) writes its local
    time with no zone. Whatever Pharos makes of it, an entry cannot have been written 5.5 h
    after Pharos received it."""
    import os
    w = unique("tz3164")
    r = subprocess.run([LOGGER, "-n", "127.0.0.1", "-P", str(pharos.syslog_udp), "-d", "--rfc3164",
                        "-t", "tzapp", "-p", "user.err", f"Payment failed {w}"],
                       env=dict(os.environ, TZ="Asia/Kolkata"), capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    import time
    now = time.time()
    found = pharos.get_json("/api/v1/logs", {"q": w, "from": f"{now - 86400:.0f}",
                                             "to": f"{now + 86400:.0f}"})["entries"]
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        time.sleep(0.3)
        found = pharos.get_json("/api/v1/logs", {"q": w, "from": f"{now - 86400:.0f}",
                                                 "to": f"{now + 86400:.0f}"})["entries"]
    [e] = found
    from datetime import datetime
    t = datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
    received = datetime.fromisoformat(e["received"].replace("Z", "+00:00"))
    assert (t - received).total_seconds() < 60, f"time {e['time']} is after received {e['received']}"
    assert len(pharos.search(w, since="1h")) == 1
