"""A small app logging the way seed 003 configures it: the standard `logging` module with
python-json-logger's JsonFormatter on stdout. A second logger writes seed 004's plain
format to stderr, so `2>&1 | pharos ship` carries both, tracebacks included.

Usage: json_app.py MARKER
"""

from __future__ import annotations

import logging
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pythonjsonlogger import jsonlogger  # seed 003's import


def configure_logging() -> None:
    # Seed 003, as written.
    log_handler = logging.StreamHandler(sys.stdout)
    formatter = jsonlogger.JsonFormatter(
        fmt="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    log_handler.setFormatter(formatter)
    root_logger = logging.getLogger()
    root_logger.addHandler(log_handler)
    root_logger.setLevel(logging.INFO)

    # Seed 004's format, on stderr, for one legacy module.
    legacy = logging.getLogger("app.legacy")
    legacy.propagate = False
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    legacy.addHandler(h)


def charge(amount):
    raise ValueError(f"card declined for amount {amount}")


def main(marker: str) -> None:
    configure_logging()
    log = logging.getLogger("app.orders")
    log.info(f"Order status update {marker}", extra={
        "user_id": 123, "duration_ms": 1500, "request_id": "req_abc",
        "order_id": 9001, "event": "order_status_change",
    })
    log.info(f"Order status update {marker}", extra={
        "user_id": 456, "duration_ms": 80, "request_id": "req_def",
        "order_id": 9002, "event": "order_status_change",
    })
    log.info(f"Health check ok {marker}", extra={"user_id": 123, "duration_ms": 3,
                                                 "request_id": "req_ghi"})
    log.warning(f"Slow database query {marker}", extra={"user_id": 456, "duration_ms": 2500,
                                                        "request_id": "req_jkl"})
    try:
        charge(42)
    except ValueError:
        log.exception(f"Payment processing failed {marker}", extra={
            "user_id": 123, "duration_ms": 1200, "request_id": "req_abc",
            "error_type": "ValueError",
        })
    legacy = logging.getLogger("app.legacy")
    legacy.info(f"Legacy worker started {marker}")
    try:
        {}["token_" + marker]
    except KeyError:
        legacy.exception(f"Legacy worker crashed {marker}")
    legacy.info(f"Legacy worker restarted {marker}")
    log.info(f"Shutting down {marker}", extra={"user_id": 789, "duration_ms": 1, "request_id": "req_zzz"})


if __name__ == "__main__":
    main(sys.argv[1])
