"""Secrets never reach the log store: seed 004's "Never log TELEGRAM_BOT_TOKEN / KIE_API_KEY"
enforced by Pharos. The lines come in through each ingest path; the API shows them without
the secret, and no file under the data dir (WAL, index, SQLite) holds the secret's bytes."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import logging_loki
import pytest

from logs_e2e import ADMIN_TOKEN, entry_field, unique

# Made-up secrets of the real shapes (seed 002 did the same with its credentials).
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3"
BOT_TOKEN_TAIL = BOT_TOKEN.split(":")[1]
KIE_KEY = "kie_4f8a9b2c1d3e5f6a7b8c9d0e"
API_KEY = "sk_live_51HxQzK2eZvKYlo2C8f3ZpLmNoPqRsTuV"
PASSWORD = "hunter2-Zq9-correct-horse"
# Another token, only ever inside a Bot API URL (its own test).
URL_BOT_TOKEN = "987654321:AAFqWcvXH2bGWJxfSeofSAs0K5PALDzzq9"
# Never a secret: proves that the grep can see what a line left on disk.
CANARY = "zebracanaryseen"


def secrets() -> list[str]:
    return [BOT_TOKEN, BOT_TOKEN_TAIL, KIE_KEY, API_KEY, PASSWORD]


def files_containing(root: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """{needle: [files]} for every needle found (case-insensitively: the index lowercases
    its terms) in any file under `root`."""
    found: dict[str, list[str]] = {}
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        try:
            data = p.read_bytes().lower()
        except OSError:
            continue
        for n in needles:
            if n.lower() in data:
                found.setdefault(n.decode(), []).append(str(p.relative_to(root)))
    return found


def now_asctime() -> str:
    """`logging`'s default asctime for now (UTC, as Pharos reads a zone-less one)."""
    t = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f",{int(t * 1000) % 1000:03d}"


def post_secret_lines(pharos, service: str, w: str) -> None:
    text = (
        f"{now_asctime()} - bot.config - INFO - Loaded TELEGRAM_BOT_TOKEN={BOT_TOKEN} "
        f"KIE_API_KEY={KIE_KEY} {w} {CANARY}\n"
        f"{now_asctime()} - bot.api - INFO - Bot token {BOT_TOKEN} in use {w}\n"
    ).encode()
    assert pharos.post_lines(service, text)["accepted"] == 2
    record = {"message": f"KIE request {w}", "levelname": "INFO", "name": "bot.kie",
              "api_key": API_KEY, "user_id": 42,
              "config": {"password": PASSWORD, "bot": BOT_TOKEN}}
    assert pharos.post_lines(service, json.dumps(record).encode(), "application/x-ndjson")["accepted"] == 1


def test_secrets_removed_before_storage(pharos):
    w = unique("redact")
    service = "redact-http"
    post_secret_lines(pharos, service, w)
    entries = pharos.wait_search(f"service={service} {w}", 3)
    dump = json.dumps(entries)
    for s in secrets():
        assert s not in dump, f"secret {s!r} shown by the API: {dump}"
    loaded = [e for e in entries if "Loaded" in e["message"]][0]
    assert loaded["message"].startswith("Loaded TELEGRAM_BOT_TOKEN=")
    assert CANARY in loaded["message"], "redaction must not eat the rest of the line"
    kie = [e for e in entries if e["message"].startswith("KIE request")][0]
    assert entry_field(kie, "user_id") == 42
    assert entry_field(kie, "api_key") not in (None, API_KEY)
    # Searching for the secret finds nothing.
    for s in (BOT_TOKEN_TAIL, KIE_KEY, API_KEY):
        assert pharos.search(f'"{s}"') == [], s


def test_bot_token_in_telegram_api_url_redacted(pharos):
    """python-telegram-bot and httpx log the request URL, which carries the token:
    `https://api.telegram.org/bot<token>/sendMessage`."""
    w = unique("tgurl")
    status, _, body = pharos.request(
        "POST", "/api/v1/logs", {"service": "redact-url"},
        f"{now_asctime()} - httpx - INFO - HTTP Request: POST https://api.telegram.org/bot{URL_BOT_TOKEN}/sendMessage \"HTTP/1.1 200 OK\" {w}\n".encode(),
        {"Content-Type": "text/plain"})
    assert status == 200, body
    [e] = pharos.wait_search(f"service=redact-url {w}", 1)
    assert "HTTP Request: POST https://api.telegram.org/bot" in e["message"]
    time.sleep(1.5)
    on_disk = files_containing(pharos.data_dir, [URL_BOT_TOKEN.split(":")[1].encode()])
    assert URL_BOT_TOKEN.split(":")[1] not in e["message"] and on_disk == {}, \
        f"stored as {e['message']!r}; on disk in {on_disk}"


def test_loki_and_syslog_paths_redacted_too(pharos):
    w = unique("redact2")
    handler = logging_loki.LokiHandler(url=pharos.url + "/loki/api/v1/push",
                                       tags={"application": "redact-loki"},
                                       auth=("pharos", ADMIN_TOKEN), version="1")
    lg = logging.getLogger("redact.loki")
    lg.handlers[:] = [handler]
    lg.propagate = False
    lg.setLevel(logging.INFO)
    lg.info(f"Loaded TELEGRAM_BOT_TOKEN={BOT_TOKEN} {w}",
            extra={"tags": {"api_key": API_KEY}})
    logger = shutil.which("logger")
    if logger:
        subprocess.run([logger, "-n", "127.0.0.1", "-P", str(pharos.syslog_udp), "-d",
                        "--rfc5424", "-t", "redact-syslog", f"KIE_API_KEY={KIE_KEY} {w}"],
                       check=True, timeout=10)
    entries = pharos.wait_search(w, 2 if logger else 1)
    dump = json.dumps(entries)
    for s in secrets():
        assert s not in dump, f"secret {s!r} shown by the API: {dump}"


def test_no_secret_bytes_in_the_data_dir(pharos):
    """Greps every file of the data dir (log WAL, tantivy index, SQLite) for the secrets of
    the lines above, once right after they were acknowledged (the WAL holds them) and again
    after the index has committed them. The canary word of the same line must be found, or
    the grep proves nothing."""
    w = unique("redactdisk")
    service = "redact-disk"
    post_secret_lines(pharos, service, w)
    needles = [s.encode() for s in secrets()]
    right_after = files_containing(pharos.data_dir, needles + [CANARY.encode()])
    pharos.wait_search(f"service={service} {w}", 3)
    time.sleep(1.5)
    after_commit = files_containing(pharos.data_dir, needles + [CANARY.encode()])
    assert CANARY in right_after or CANARY in after_commit, \
        "the canary word is in no file: the grep cannot see stored lines"
    leaked = {k: v for k, v in {**right_after, **after_commit}.items() if k != CANARY}
    assert leaked == {}, f"secrets on disk: {leaked}"
