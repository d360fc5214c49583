"""Logs: one named event per thing that happens; structured for Cloud Logging in production;
never a token, a key or a whole prompt."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
import logging
from pathlib import Path

import flask
import pytest

from functions import api, worker
from shared import events
from shared.domain.errors import GenerationError, QueueError
from shared.logs import Redactor, redact, structured_handler, text_handler
from shared.services.queue_health import QueueHealth

API_KEY = "AIzaSy-test-secret-key-0042"
R2_SECRET = "r2-secret-access-key-0042"  # noqa: S105 - a fake, to be looked for in the logs
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"  # noqa: S105
PROMPT = "a very private prompt about my secret project " * 5


def test_the_redactor_removes_bearer_tokens_jwts_and_secrets():
    redact = Redactor([API_KEY])
    line = redact(f"Authorization: Bearer {TOKEN} url=?key={API_KEY} raw={TOKEN}")
    assert TOKEN not in line and API_KEY not in line and "Bearer [redacted]" in line


def test_structured_lines_carry_severity_trace_and_event_fields(deps):
    stream = io.StringIO()
    settings = dataclasses.replace(deps.settings, project="creator-prod")
    handler = structured_handler(settings, stream)
    logger = logging.getLogger("creator.events")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    app = flask.Flask("t")
    trace = "0af7651916cd43dd8448eb211c80319c"
    try:
        with app.test_request_context(headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"}):
            events.emit("video.submitted", creationId="c1", userId="u1", queueErrorCode=None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["severity"] == "INFO" and entry["event"] == "video.submitted"
    assert (entry["creationId"], entry["userId"]) == ("c1", "u1") and "queueErrorCode" not in entry
    assert entry["logging.googleapis.com/trace"] == f"projects/creator-prod/traces/{trace}"


@pytest.fixture
def captured(deps, monkeypatch):
    """Every log line of a flow, in both formats, with secrets configured."""
    deps.settings = dataclasses.replace(
        deps.settings, gemini_api_key=API_KEY, r2_secret_access_key=R2_SECRET
    )
    streams = io.StringIO(), io.StringIO()
    handlers = (
        text_handler(deps.settings, streams[0]),
        structured_handler(deps.settings, streams[1]),
    )
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield lambda: streams[0].getvalue() + streams[1].getvalue()
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def test_no_log_line_holds_a_token_a_key_or_a_whole_prompt(deps, captured):
    headers = {"Authorization": "Bearer dev:alice", "X-Debug-Token": TOKEN}
    client = api.create_app(deps).test_client()
    ok = client.post("/api/generate/video", json={"prompt": PROMPT}, headers=headers)
    assert ok.status_code == 202
    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    deps.queue_health.check()  # the gate saw the queue running a moment ago
    deps.queue.failure = QueueError("queue_unavailable", f"key={API_KEY} {R2_SECRET}")
    assert (
        client.post("/api/generate/video", json={"prompt": PROMPT}, headers=headers).status_code
        == 503
    )
    deps.queue.failure = None
    deps.images.failure = GenerationError("generation_rejected", f"?key={API_KEY}", transient=False)
    client.post("/api/generate/image", json={"prompt": PROMPT}, headers=headers)
    worker.create_app(deps).test_client().post(
        "/tasks/video",
        json={"creationId": ok.get_json()["creationId"], "step": "start", "seq": 0},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    deps.store.fail_next("ensure_account", RuntimeError(f"boom {API_KEY} Bearer {TOKEN}"))
    assert client.get("/api/tokens", headers=headers).status_code == 500

    output = captured()
    for event in ("video.submitted", "video.enqueue_failed", "video.refunded", "image.failed"):
        assert event in output
    assert "boom" in output  # the unexpected error is logged, scrubbed
    for secret in (API_KEY, R2_SECRET, TOKEN, PROMPT[:60]):
        assert secret not in output


# --- where a line comes from --------------------------------------------------------------


@contextlib.contextmanager
def events_logged_to(handler: logging.Handler):
    logger = logging.getLogger("creator.events")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def emit_from_here(**fields) -> int:
    """Emits an event and returns the line that did."""
    line = inspect.currentframe().f_lineno + 1
    events.emit("test.located", **fields)
    return line


def test_cloud_logging_gets_the_callers_source_location(deps):
    stream = io.StringIO()
    with events_logged_to(structured_handler(deps.settings, stream)):
        line = emit_from_here(creationId="c1")
    entry = json.loads(stream.getvalue().splitlines()[-1])
    location = entry["logging.googleapis.com/sourceLocation"]
    assert Path(location["file"]).resolve() == Path(__file__).resolve()
    assert (int(location["line"]), location["function"]) == (line, "emit_from_here")
    assert entry["event"] == "test.located" and entry["creationId"] == "c1"


def test_a_text_line_ends_with_the_callers_location_before_any_traceback():
    stream = io.StringIO()
    with events_logged_to(text_handler(None, stream)):
        line = emit_from_here(creationId="c1")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            failed_at = inspect.currentframe().f_lineno + 1
            events.emit("test.failed", logging.ERROR, exc_info=True, creationId="c2")
    first, second, *traceback = stream.getvalue().splitlines()
    assert first.endswith(f" INFO test.located creationId=c1 (tests/unit/test_logs.py:{line})")
    assert second.endswith(
        f" ERROR test.failed creationId=c2 (tests/unit/test_logs.py:{failed_at})"
    )
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "RuntimeError: boom"
    assert "shared/events.py" not in first + second


def test_the_redactor_masks_google_keys_and_tokens_nobody_configured():
    key = "AIza" + "Q" * 35
    access = "ya29.a0AfH6SMB-secret_token.value"
    line = Redactor()(f"GET /v1/models?key=s3cr3t&alt=json x-goog-api-key: {key} {access}")
    assert "s3cr3t" not in line and key not in line and access not in line
    assert "?key=[redacted]&alt=json" in line
    kept = "mediaKey=videos/u1/c1.mp4 idempotencyKey=k-42 key=value"
    assert Redactor()(kept) == kept  # only a URL's `key` query value is a secret by its name


def test_redact_scrubs_the_given_secrets_and_the_known_shapes():
    assert redact("token=abcdef123 Bearer xyz", "abcdef123") == "token=[redacted] Bearer [redacted]"
    assert redact("short ab", "ab", None) == "short ab"  # under 6 characters: never a secret


def test_configure_logging_takes_the_root_from_functions_framework(deps, monkeypatch):
    """What functions-framework installs with LOG_EXECUTION_ID=true (a plain StreamHandler
    on the root) is replaced by our one handler; other handlers stay; twice is once."""
    import sys

    from shared import logs

    root = logging.getLogger()
    framework = logging.StreamHandler(io.StringIO())
    pytest_like = logging.FileHandler(Path(deps.settings.local_state_dir) / "kept.log")
    before, level = list(root.handlers), root.level
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    settings = dataclasses.replace(deps.settings, log_format="json", project="creator-prod")
    root.addHandler(framework)
    root.addHandler(pytest_like)
    try:
        logs.configure_logging(settings)
        logs.configure_logging(settings)
        ours = [h for h in root.handlers if getattr(h, "_creator_handler", False)]
        assert framework not in root.handlers and pytest_like in root.handlers
        assert len(ours) == 1
        app = flask.Flask("t")
        with app.test_request_context(headers={"Function-Execution-Id": "abc123"}):
            events.emit("video.submitted", creationId="c1")
        entry = json.loads(sys.stdout.getvalue().splitlines()[-1])
        assert entry["event"] == "video.submitted"
        assert entry["logging.googleapis.com/labels"]["execution_id"] == "abc123"
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
        pytest_like.close()
