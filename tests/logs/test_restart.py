"""Crashes: `pharos ship` keeps lines while Pharos is SIGKILLed and restarted on the same
data dir and port, and delivers each exactly once; an append answered 2xx survives a
SIGKILL right after the answer. These tests use a Pharos of their own (`restartable`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from logs_e2e import ADMIN_TOKEN, entry_field, pharos_binary, unique, wait_for


class Ship:
    """`pharos ship --service NAME FILE` running in the background."""

    def __init__(self, pharos, workdir: Path, service: str, file: Path):
        self.stderr_path = workdir / f"ship-{service}.stderr"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
        env["PHAROS_TOKEN"] = ADMIN_TOKEN
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(pharos_binary()), "ship", "--service", service, "--url", pharos.url,
             "--spool-dir", str(workdir / f"spool-{service}"), "--from-beginning",
             "--batch-wait", "100ms", "--max-backoff", "500ms", str(file)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self.stderr.close()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def append(file: Path, marker: str, seqs) -> None:
    with open(file, "a") as f:
        for i in seqs:
            f.write(json.dumps({"message": f"shipped line {marker}", "seq": i, "level": "info"}) + "\n")
            f.flush()


def seq_counts(pharos, service: str, marker: str) -> dict[int, int]:
    """How many entries carry each `seq`, from every matching entry (cursor paging: counts
    by field stop at 1,000 values)."""
    out: dict[int, int] = {}
    for e in pharos.search_all(f"service={service} {marker}"):
        seq = int(entry_field(e, "seq"))
        out[seq] = out.get(seq, 0) + 1
    return out


def ranges(nums: list[int]) -> str:
    """`1-5, 9` for [1, 2, 3, 4, 5, 9]."""
    out, start, prev = [], None, None
    for n in nums + [None]:
        if start is not None and (n is None or n != prev + 1):
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if n is not None and start is None:
            start = n
        prev = n
    return ", ".join(out) or "none"


def wait_all_seqs(pharos, service: str, marker: str, n: int, ship: Ship, timeout: float = 30):
    def done():
        c = seq_counts(pharos, service, marker)
        return c if len(c) >= n else None
    try:
        wait_for(f"seq 1..{n} from {service}", done, timeout=timeout, log=pharos.log, interval=0.5)
    except BaseException:
        c = seq_counts(pharos, service, marker)
        missing = sorted(set(range(1, n + 1)) - set(c))
        dups = sorted(k for k, v in c.items() if v > 1)
        print(f"{len(c)} of {n} seqs arrived; missing {ranges(missing)}; more than once {ranges(dups)}")
        print("ship stderr:\n" + ship.log()[-3000:])
        raise
    time.sleep(1.5)  # anything sent twice would show up by now
    return seq_counts(pharos, service, marker)


def test_ship_across_a_pharos_crash_delivers_every_line_once(restartable, tmp_path):
    p = restartable
    marker = unique("shipcrash")
    service = "shipper"
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    ship = Ship(p, tmp_path, service, log_file)
    try:
        append(log_file, marker, range(1, 101))
        p.wait_search(f"service={service} {marker}", 100, timeout=20)
        p.kill()
        append(log_file, marker, range(101, 201))
        time.sleep(2)  # ship reads them and retries against a closed port
        assert ship.proc.poll() is None, "ship gave up while Pharos was down:\n" + ship.log()
        p.start()
        append(log_file, marker, range(201, 301))
        counts = wait_all_seqs(p, service, marker, 300, ship)
    finally:
        code = ship.stop()
    assert sorted(counts) == list(range(1, 301)), "missing: " + str(sorted(set(range(1, 301)) - set(counts)))
    dups = {k: v for k, v in counts.items() if v != 1}
    assert dups == {}, f"delivered more than once: {dups}"
    assert code == 0, ship.log()
    assert ADMIN_TOKEN not in ship.log()


def test_ship_while_lines_keep_coming_during_the_crash(restartable, tmp_path):
    """Lines are written every 5 ms the whole time; Pharos is SIGKILLed mid-stream (perhaps
    mid-request) and restarted. No line may be missing; a batch that was durable when the
    kill came but never answered is the one duplicate at-least-once delivery allows."""
    p = restartable
    marker = unique("shipstream")
    service = "streamer"
    log_file = tmp_path / "stream.log"
    log_file.write_text("")
    ship = Ship(p, tmp_path, service, log_file)
    total = 1200
    stop = threading.Event()

    def writer():
        for i in range(1, total + 1):
            append(log_file, marker, [i])
            time.sleep(0.005)
            if stop.is_set():
                return

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(2.0)
        p.kill()
        time.sleep(1.5)
        p.start()
        t.join(timeout=30)
        counts = wait_all_seqs(p, service, marker, total, ship)
    finally:
        stop.set()
        t.join(timeout=10)
        code = ship.stop()
    assert sorted(counts) == list(range(1, total + 1)), \
        "missing: " + str(sorted(set(range(1, total + 1)) - set(counts))[:50])
    dups = sorted(k for k, v in counts.items() if v != 1)
    # At most one batch (contiguous seqs) delivered twice; never a seq three times.
    assert all(counts[k] == 2 for k in dups), {k: counts[k] for k in dups}
    if dups:
        assert dups == list(range(dups[0], dups[-1] + 1)), f"duplicates not one batch: {dups}"
        print(f"{len(dups)} lines delivered twice (seq {dups[0]}..{dups[-1]})")
    assert code == 0, ship.log()


@pytest.mark.parametrize("path", ["api", "loki"])
def test_acknowledged_append_survives_sigkill(restartable, path):
    p = restartable
    for round_ in range(3):
        marker = unique(f"durable{path}{round_}")
        now_ns = time.time_ns()
        if path == "api":
            body = "".join(json.dumps({"message": f"durable line {i} {marker}", "n": i}) + "\n"
                           for i in range(50)).encode()
            status, _, out = p.request("POST", "/api/v1/logs", {"service": "durable"}, body,
                                       {"Content-Type": "application/x-ndjson"})
            assert status == 200 and json.loads(out)["accepted"] == 50, out
        else:
            push = {"streams": [{"stream": {"service": "durable", "level": "info"},
                                 "values": [[str(now_ns + i), f"durable line {i} {marker}"]
                                            for i in range(50)]}]}
            status, _, out = p.request("POST", "/loki/api/v1/push", None, json.dumps(push).encode(),
                                       {"Content-Type": "application/json"})
            assert status == 204, out
        p.kill()  # right after the 2xx: before the index has committed anything
        p.start()
        entries = p.wait_search(f"service=durable {marker}", 50, timeout=20)
        assert sorted(int(e["message"].split()[2]) for e in entries) == list(range(50))


def rotating_logger(log_file: Path, marker: str, max_bytes: int = 0):
    import logging
    import logging.handlers

    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=50)
    handler.setFormatter(logging.Formatter(
        '{"message": "rotated line %(message)s", "level": "%(levelname)s"}'))
    lg = logging.getLogger(f"rotating.{marker}")
    lg.handlers[:] = [handler]
    lg.propagate = False
    lg.setLevel(logging.INFO)

    def log(i: int) -> None:
        lg.info(f'{marker}", "seq": {i}, "x": "')
    return handler, log


def test_ship_follows_python_rotating_file_handler(restartable, tmp_path):
    """An app logging through logging.handlers.RotatingFileHandler (small maxBytes, so it
    rotates several times while ship follows the file, each file living about a second):
    every record arrives, once."""
    p = restartable
    marker = unique("rotate")
    service = "rotator"
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    ship = Ship(p, tmp_path, service, log_file)
    total = 1000
    try:
        time.sleep(0.5)  # ship has opened the (empty) file
        handler, log = rotating_logger(log_file, marker, max_bytes=20_000)
        for i in range(1, total + 1):
            log(i)
            if i % 100 == 0:
                time.sleep(0.5)
        handler.close()
        rotated = len(list(tmp_path.glob("app.log.*")))
        assert rotated >= 3, rotated
        counts = wait_all_seqs(p, service, marker, total, ship)
    finally:
        code = ship.stop()
    assert sorted(counts) == list(range(1, total + 1)), \
        "missing: " + ranges(sorted(set(range(1, total + 1)) - set(counts)))
    assert {k: v for k, v in counts.items() if v != 1} == {}
    assert code == 0, ship.log()


def test_ship_two_rotations_within_one_poll(restartable, tmp_path):
    """RotatingFileHandler rolls over twice in a few milliseconds (a burst of large
    records): app.log (A) → app.log.1, B written and rolled (B → app.log.1, A → app.log.2),
    C is app.log. ship must read A, B and C."""
    p = restartable
    marker = unique("rotate2")
    service = "rotator2"
    log_file = tmp_path / "app.log"
    log_file.write_text("")
    ship = Ship(p, tmp_path, service, log_file)
    try:
        time.sleep(0.5)
        handler, log = rotating_logger(log_file, marker)
        for i in range(1, 101):
            log(i)
        time.sleep(1.0)  # ship has read A
        handler.doRollover()
        for i in range(101, 201):
            log(i)
        handler.doRollover()
        for i in range(201, 301):
            log(i)
        handler.close()
        counts = wait_all_seqs(p, service, marker, 300, ship, timeout=5)
    finally:
        ship.stop()
    assert sorted(counts) == list(range(1, 301))


def test_ship_killed_and_restarted_resends_what_was_left(restartable, tmp_path):
    """SIGKILL `pharos ship` itself mid-stream and start it again on the same spool: no
    line is missing (a batch in flight may come twice, as docs/ship.md says)."""
    p = restartable
    marker = unique("shipkill")
    service = "shipkill"
    log_file = tmp_path / "k.log"
    log_file.write_text("")
    ship = Ship(p, tmp_path, service, log_file)
    total = 800
    append(log_file, marker, range(1, 301))
    time.sleep(0.3)
    ship.proc.send_signal(signal.SIGKILL)
    ship.proc.wait(timeout=5)
    ship.stderr.close()
    append(log_file, marker, range(301, 601))
    ship = Ship(p, tmp_path, service, log_file)
    append(log_file, marker, range(601, total + 1))
    try:
        counts = wait_all_seqs(p, service, marker, total, ship)
    finally:
        code = ship.stop()
    assert sorted(counts) == list(range(1, total + 1)), \
        "missing: " + ranges(sorted(set(range(1, total + 1)) - set(counts)))
    dups = sorted(k for k, v in counts.items() if v != 1)
    assert all(counts[k] == 2 for k in dups)
    if dups:
        print(f"{len(dups)} lines delivered twice after ship's SIGKILL: {ranges(dups)}")
    assert code == 0, ship.log()


def test_forbidden_alert_survives_a_restart_without_a_second_firing(workdir):
    """A forbidden alert open when Pharos is SIGKILLed is taken over by the next start: still
    one occurrence (not resolved and fired again, which would notify twice), and it
    resolves `resolve_after` later as if nothing happened."""
    from logs_e2e import Pharos

    p = Pharos(workdir, "restart-rules", """
logs:
  rules:
    - name: forbidden_log_patterns
      kind: forbidden
      resolve_after: 6s
      patterns: ["Queue full", "Webhook timeout"]
metrics: {self_scrape_interval: 0s, host_metrics_interval: 0s}
""")
    p.start()
    try:
        labels = dict(alertname="forbidden_log_patterns", service="restart-rules", pattern="Queue full")

        def occurrences():
            return [a for a in p.alerts("forbidden_log_patterns")
                    if all(a["labels"].get(k) == v for k, v in labels.items())]

        p.post_lines("restart-rules", b"WARNING Queue full, rejecting update 1\n")
        sent = time.monotonic()
        wait_for("the forbidden alert firing", lambda: [a for a in occurrences() if a["state"] == "firing"],
                 log=p.log)
        p.kill()
        p.start()
        time.sleep(1.5)  # a few rule ticks after the restart
        occ = occurrences()
        assert len(occ) == 1 and occ[0]["state"] == "firing", occ
        wait_for("the alert resolved after resolve_after",
                 lambda: [a for a in occurrences() if a["state"] == "resolved"], timeout=20, log=p.log)
        elapsed = time.monotonic() - sent
        assert elapsed >= 5.5, f"resolved {elapsed:.1f}s after the line, before resolve_after (6s)"
        assert len(occurrences()) == 1, occurrences()
    finally:
        p.stop()


def test_ship_delivers_more_than_one_spool_segment(restartable, tmp_path):
    """10 MB through `pharos ship` on stdin: more than one 8 MiB spool segment."""
    p = restartable
    marker = unique("segroll")
    n = 5000
    data = "".join(json.dumps({"message": f"bulk line {marker}", "seq": i, "pad": "p" * 2000}) + "\n"
                   for i in range(1, n + 1)).encode()
    assert len(data) > 9 * 2**20
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
    env["PHAROS_TOKEN"] = ADMIN_TOKEN
    stderr = tmp_path / "ship.stderr"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [str(pharos_binary()), "ship", "--service", "bulk", "--url", p.url,
             "--spool-dir", str(tmp_path / "spool"), "--batch-wait", "100ms"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env)
        def feed():
            try:
                proc.stdin.write(data)
                proc.stdin.close()
            except OSError:
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            if "cannot write the spool" in stderr.read_text() or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail("ship did not deliver 10 MB:\n" + stderr.read_text()[-1000:])
            time.sleep(0.2)
    assert proc.returncode == 0, stderr.read_text()

    def all_there():
        c: dict = {}
        for e in p.search_all(f"service=bulk {marker}"):
            c[entry_field(e, "seq")] = c.get(entry_field(e, "seq"), 0) + 1
        return c if len(c) >= n else None

    counts = wait_for(f"{n} bulk lines searchable", all_there, timeout=20, interval=0.5, log=p.log)
    assert sorted(counts) == list(range(1, n + 1))
    assert {k: v for k, v in counts.items() if v != 1} == {}
