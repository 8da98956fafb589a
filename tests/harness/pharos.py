"""The one launcher of `pharos serve` for the Python end-to-end suites (tests/sentry,
tests/metrics, tests/logs, tests/browser).

`Pharos` runs the binary on a free 127.0.0.1 port with a data dir, an optional config
file and an admin token, all inside one directory of its own:

    <workdir>/data          the data dir (kept across restart and kill)
    <workdir>/pharos.yaml   the config, when `config` text was given
    <workdir>/pharos.log    stdout and stderr of every start, appended, each start headed
                            by a `==== start N ====` line

The environment is the test's own without any `PHAROS_*` variable, plus
`PHAROS_ADMIN_TOKEN`, `PHAROS_LOG_FORMAT=json` and whatever `env` adds. `start()` waits
until `ready_path` (`/health/live`, what every suite waited for) answers 200; `restart()`,
`kill()` (SIGKILL) and `stop()` (SIGTERM, then SIGKILL) keep the port and the data dir.
`wait_until()` polls a predicate and fails the test with the log's tail.

Each suite subclasses it to add its API client and keeps its fixtures in its conftest.
A suite's conftest puts tests/ on `sys.path` and imports `harness`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_TOKEN = "pharos-e2e-admin-token-0123456789"  # Pharos wants at least 16 chars

# What `wait_until` treats as "not yet" rather than a failure: Pharos (or the peer) not
# answering yet, or an answer without the key or item the predicate looks for.
RETRY_ON: tuple[type[BaseException], ...] = (urllib.error.URLError, OSError, KeyError, IndexError)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on right now (TCP unless `kind` says)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def pharos_binary() -> Path:
    """The binary under test: $PHAROS_BIN, else target/release/pharos, else
    target/debug/pharos. Skips the test (saying why) when there is none."""
    env = os.environ.get("PHAROS_BIN")
    if env:
        path = Path(env).resolve()
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.skip(f"PHAROS_BIN={env} is not an executable file; build with `cargo build -p pharos`")
        return path
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "pharos"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.skip(
        "no pharos binary: run `cargo build -p pharos` (or set PHAROS_BIN); "
        f"looked for {REPO}/target/release/pharos and {REPO}/target/debug/pharos"
    )


def log_tail(log: Path | None, n: int = 3000) -> str:
    """The last `n` characters of a log file, or "" when there is none."""
    if log is None:
        return ""
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, message: str = "a condition", *,
               interval: float = 0.2, log: Path | None = None,
               retry_on: tuple[type[BaseException], ...] = RETRY_ON):
    """Calls `predicate` every `interval` s until it returns something truthy, and returns
    that. An exception in `retry_on` counts as "not yet"; any other propagates. After
    `timeout` s the test fails, naming `message`, the last value and the tail of `log`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except retry_on as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    tail = log_tail(log)
    tail = f"\nlog tail ({log}):\n{tail}" if tail else ""
    pytest.fail(f"timed out after {timeout}s waiting for {message}; last: {last!r}{tail}")


class Pharos:
    """One `pharos serve` on a port and data dir it keeps across restart and SIGKILL."""

    def __init__(self, workdir: Path, *, config: str | None = None, env: dict[str, str] | None = None,
                 admin_token: str = DEFAULT_ADMIN_TOKEN, name: str = "pharos", port: int | None = None,
                 ready_path: str = "/health/live", start_timeout: float = 15.0):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.admin_token = admin_token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = self.workdir / "data"
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = self.workdir / "pharos.yaml"
            self.config_path.write_text(config)
        self.log = self.workdir / "pharos.log"
        self.extra_env = dict(env or {})
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # --- process ----------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(pharos_binary()), "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHAROS_")}
        env.update(PHAROS_ADMIN_TOKEN=self.admin_token, PHAROS_LOG_FORMAT="json")
        env.update(self.extra_env)
        return env

    def start(self) -> "Pharos":
        """Starts the process and waits for `ready_path`; fails the test (after stopping
        the process) when it exits first or does not answer within `start_timeout` s."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        cmd = self.command()
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n==== start {self.starts} ====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(cmd, env=self.environment(), cwd=self.workdir, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"`pharos serve` {self.name!r} exited with {self.proc.returncode} before answering "
                            f"{self.ready_path}:\n{self.log_tail()}")
            if self.answers():
                return self
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"`pharos serve` {self.name!r} did not answer {self.ready_path} within "
                            f"{self.start_timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def answers(self) -> bool:
        """Whether `ready_path` answers 200 now."""
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        """The process runs and answers `ready_path`."""
        return self.proc is not None and self.proc.poll() is None and self.answers()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, and SIGKILL if it has not exited after `timeout` s. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def restart(self, kill: bool = False) -> "Pharos":
        """Stops (or SIGKILLs) and starts again on the same port, data dir and config."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __enter__(self) -> "Pharos":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- diagnostics and polling ------------------------------------------------------

    def log_tail(self, n: int = 3000) -> str:
        """The last `n` characters of everything this Pharos printed."""
        return log_tail(self.log, n) or "(no log)"

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 15.0, message: str = "a condition", *,
                   interval: float = 0.2, retry_on: tuple[type[BaseException], ...] = RETRY_ON):
        """`wait_until` with this Pharos's log tail in the failure."""
        return wait_until(predicate, timeout, message, interval=interval, log=self.log, retry_on=retry_on)
