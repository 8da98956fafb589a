"""Source maps with the real tools: a small Node program minified by esbuild, the real
`sentry-cli` (PyPI wheel) injecting debug ids and uploading to Pharos with a Pharos API
token, the bundle run with the real `@sentry/node` throwing; the issue page and the API
show the original files, lines, columns and functions. Then the bad inputs: a chunk over
the size, a bundle with the wrong checksum, a bundle that is not one, a malformed source
map (the event is kept, its frames stay minified with the reason), and a token without
the scope."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import uuid
import zipfile

from conftest import HERE, KEY, PROJECT, PROJECT_NAME, tool

RELEASE = "webshop@1.0.0"


def build(tmp_path, node_tools):
    """The program copied beside its own dist/, so the map's sources read `../src/…`."""
    work = tmp_path / "program"
    shutil.copytree(HERE / "program", work)
    out = subprocess.run(
        [str(node_tools / ".bin" / "esbuild"), "src/app.js", "--bundle", "--minify", "--sourcemap",
         "--platform=node", "--external:@sentry/node", "--outfile=dist/app.js"],
        cwd=work, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return work


def run_node(pharos, work, node_tools, script="dist/app.js"):
    out = subprocess.run(
        [tool("node"), script], cwd=work, capture_output=True, text=True, timeout=60,
        env={**os.environ, "NODE_PATH": str(node_tools), "SENTRY_DSN": pharos.dsn, "SENTRY_RELEASE": RELEASE},
    )
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"


def latest_event(pharos, title_part: str):
    def find():
        issues = pharos.api("/api/v1/issues?per_page=100&query=")["issues"]
        return next((i for i in issues if title_part in i["title"]), None)

    issue = pharos.wait_until(find, 15, f"an issue titled {title_part!r}")
    return issue, pharos.api(f"/api/v1/issues/{issue['id']}/events/latest")["payload"]


def test_sentry_cli_upload_then_node_events_show_original_frames(pharos, node_tools, tmp_path):
    work = build(tmp_path, node_tools)
    minified = (work / "dist" / "app.js").read_text()
    assert "computeTotal" not in minified, "esbuild renamed the functions"

    out = subprocess.run(
        [tool("sentry-cli"), "sourcemaps", "inject", "dist/"], cwd=work, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "debugId=" in (work / "dist" / "app.js").read_text()

    out = subprocess.run(
        [tool("sentry-cli"), "sourcemaps", "upload", "--org", "any-org", "--project", PROJECT_NAME,
         "--release", RELEASE, "dist/"],
        cwd=work, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SENTRY_URL": pharos.url, "SENTRY_AUTH_TOKEN": pharos.token,
             "SENTRY_DISABLE_UPDATE_CHECK": "1"},
    )
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert pharos.token not in pharos.log_tail(), "the token reached a log line"
    # The same bundle again: already stored, nothing uploaded twice.
    again = subprocess.run(
        [tool("sentry-cli"), "sourcemaps", "upload", "--org", "any-org", "--project", PROJECT_NAME,
         "--release", RELEASE, "dist/"],
        cwd=work, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SENTRY_URL": pharos.url, "SENTRY_AUTH_TOKEN": pharos.token,
             "SENTRY_DISABLE_UPDATE_CHECK": "1"},
    )
    assert again.returncode == 0, again.stderr
    # Deploy scripts that also run `releases new` and `finalize` keep working.
    for args in (["releases", "new", "--org", "any-org", "--project", PROJECT_NAME, RELEASE],
                 ["releases", "finalize", "--org", "any-org", RELEASE]):
        out = subprocess.run([tool("sentry-cli"), *args], cwd=work, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SENTRY_URL": pharos.url, "SENTRY_AUTH_TOKEN": pharos.token,
                                  "SENTRY_DISABLE_UPDATE_CHECK": "1"})
        assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"

    # An acknowledged upload survives kill -9.
    pharos.restart(kill=True)
    run_node(pharos, work, node_tools)
    issue, event = latest_event(pharos, "cart is empty")
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    top = frames[-1]
    assert top["filename"] == "src/checkout.js", top
    assert top["function"] == "computeTotal", top
    assert (top["lineno"], top["colno"]) == (9, 11), top
    assert top["context_line"].strip() == 'throw new Error("cart is empty: nothing to check out");'
    assert top["pre_context"][-1].strip() == "if (items.length === 0) {"
    assert top["data"]["symbolicated"] is True
    caller = frames[-2]
    assert (caller["filename"], caller["function"], caller["lineno"]) == ("src/checkout.js", "checkout", 15)
    # The minified frames are kept, as the SDK sent them.
    raw = event["exception"]["values"][-1]["raw_stacktrace"]["frames"][-1]
    assert raw["filename"].endswith("dist/app.js") and raw["function"] != "computeTotal"
    # Grouping and the culprit use the original frames.
    assert issue["culprit"] == "src/checkout in computeTotal", issue

    status, page = pharos.request(f"/issues/{issue['id']}")
    assert status == 200
    for text in ("src/checkout.js", "computeTotal", "column 11", "source map", "Minified frames",
                 "throw new Error(&quot;cart is empty"):
        assert text in page, text


def upload_chunk(pharos, data: bytes, *, name: str | None = None, gzip_it: bool = True, token=None):
    name = name or hashlib.sha1(data).hexdigest()
    boundary = "pharos-test-boundary"
    field = "file_gzip" if gzip_it else "file"
    payload = gzip.compress(data) if gzip_it else data
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return pharos.request("/api/0/organizations/any/chunk-upload/", "POST", body,
                          {"Content-Type": f"multipart/form-data; boundary={boundary}"}, token=token or pharos.token)


def assemble(pharos, checksum: str, chunks: list[str], project: str = PROJECT_NAME, token=None):
    body = json.dumps({"checksum": checksum, "chunks": chunks, "projects": [project]}).encode()
    return pharos.request("/api/0/organizations/any/artifactbundle/assemble/", "POST", body,
                          {"Content-Type": "application/json"}, token=token or pharos.token)


def bundle(files: dict[str, bytes], manifest: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("manifest.json", json.dumps(manifest))
    return out.getvalue()


def test_a_chunk_over_the_size_is_refused(pharos):
    status, options = pharos.request("/api/0/organizations/any/chunk-upload/", token=pharos.token)
    assert status == 200 and options["hashAlgorithm"] == "sha1" and "gzip" in options["compression"]
    big = os.urandom(options["chunkSize"] + 1)
    status, answer = upload_chunk(pharos, big, gzip_it=False)
    assert status == 413, answer
    assert "larger than" in answer["detail"]
    # A gzip'd chunk that expands past the size is refused the same way.
    status, answer = upload_chunk(pharos, b"\0" * (options["chunkSize"] + 1))
    assert status == 413, answer
    # A chunk whose bytes do not match its name.
    status, answer = upload_chunk(pharos, b"some bytes", name="0" * 40)
    assert status == 400 and "SHA-1" in answer["detail"], answer


def test_wrong_checksum_and_malformed_bundles_are_errors_in_the_answer(pharos):
    good = bundle({"files/_/_/x.js": b"x()"}, {"files": {"files/_/_/x.js": {"type": "minified_source", "url": "~/x.js"}}})
    chunk = hashlib.sha1(good).hexdigest()
    status, answer = assemble(pharos, "1" * 40, [chunk])
    assert status == 200 and answer["state"] == "not_found" and answer["missingChunks"] == [chunk]
    assert upload_chunk(pharos, good)[0] == 200
    status, answer = assemble(pharos, "1" * 40, [chunk])
    assert (status, answer["state"]) == (200, "error"), answer
    assert "not the checksum" in answer["detail"]

    not_zip = b"this is not a zip file at all"
    name = hashlib.sha1(not_zip).hexdigest()
    assert upload_chunk(pharos, not_zip)[0] == 200
    status, answer = assemble(pharos, name, [name])
    assert answer["state"] == "error" and "not a zip" in answer["detail"], answer

    no_manifest_file = bundle({}, {"files": {"files/_/_/gone.js": {"type": "source_map", "url": "~/gone.js.map"}}})
    name = hashlib.sha1(no_manifest_file).hexdigest()
    assert upload_chunk(pharos, no_manifest_file)[0] == 200
    status, answer = assemble(pharos, name, [name])
    assert answer["state"] == "error" and "does not hold" in answer["detail"], answer

    # The good bundle still assembles under its own checksum; an unknown project is named.
    assert assemble(pharos, chunk, [chunk])[1]["state"] == "ok"
    status, answer = assemble(pharos, chunk, [chunk], project="no-such-project")
    assert status == 404 and "no-such-project" in answer["detail"], answer


def test_a_malformed_source_map_keeps_the_event_with_minified_frames(pharos):
    debug_id = str(uuid.uuid4())
    files = {
        "files/_/_/broken.min.js": b"function a(){throw new Error('x')}a();",
        "files/_/_/broken.min.js.map": b"{\"version\": 3, \"mappings\": 42, \"sources\": 7}",
    }
    manifest = {"files": {
        "files/_/_/broken.min.js": {"type": "minified_source", "url": "~/broken.min.js",
                                    "headers": {"debug-id": debug_id, "sourcemap": "broken.min.js.map"}},
        "files/_/_/broken.min.js.map": {"type": "source_map", "url": "~/broken.min.js.map",
                                        "headers": {"debug-id": debug_id}},
    }}
    data = bundle(files, manifest)
    name = hashlib.sha1(data).hexdigest()
    assert upload_chunk(pharos, data)[0] == 200
    assert assemble(pharos, name, [name])[1]["state"] == "ok"

    event = {
        "event_id": uuid.uuid4().hex, "platform": "javascript", "level": "error",
        "exception": {"values": [{"type": "TypeError", "value": "broken map example", "stacktrace": {"frames": [
            {"abs_path": "https://shop.example/broken.min.js", "filename": "broken.min.js", "function": "a",
             "lineno": 1, "colno": 14, "in_app": True}]}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": "https://shop.example/broken.min.js",
                                   "debug_id": debug_id}]},
    }
    envelope = (json.dumps({"event_id": event["event_id"]}) + "\n" + json.dumps({"type": "event"}) + "\n"
                + json.dumps(event) + "\n").encode()
    status, answer = pharos.request(f"/api/{PROJECT}/envelope/", "POST", envelope,
                                    {"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7",
                                     "Content-Type": "application/x-sentry-envelope"})
    assert status == 200, answer
    _, stored = latest_event(pharos, "broken map example")
    frame = stored["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert (frame["function"], frame["colno"]) == ("a", 14), frame
    assert "not valid" in frame["data"]["sourcemap_error"]
    assert stored["errors"][0]["type"] == "js_invalid_source_map"


def test_a_token_without_the_scope_may_not_upload(pharos):
    read_only = pharos.api("/api/v1/tokens", "POST", {"name": "grafana", "scopes": ["read"]})["secret"]
    status, answer = pharos.request("/api/0/organizations/any/chunk-upload/", token=read_only)
    assert status == 403, answer
    status, _ = pharos.request("/api/0/organizations/any/chunk-upload/", token="phr_" + "0" * 64)
    assert status == 401
