"""What every answer of the api and the worker has in common: JSON (errors included, also
those werkzeug makes), `X-Content-Type-Options: nosniff`, one log event for each 5xx with
its cause, and error answers from one table (functions/errors.py)."""

from __future__ import annotations

import dataclasses
import logging
import math

import flask
import pytest

from functions import api, errors, worker
from shared.domain.errors import QueueError, StoreUnavailable
from shared.ports import QueueState

ALICE = {"Authorization": "Bearer dev:alice"}
VIDEO = {"prompt": "a paper boat on a river"}


class Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, event: str) -> list[dict]:
        return [
            {**r.fields, "exc_info": r.exc_info}
            for r in self.records
            if getattr(r, "event", None) == event
        ]


@pytest.fixture
def logged():
    handler = Events()
    log = logging.getLogger("creator.events")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler
    log.removeHandler(handler)
    log.setLevel(level)


@pytest.fixture
def app(deps):
    app = api.create_app(deps)

    @app.get("/test/bug")
    def bug() -> flask.Response:
        raise RuntimeError("a bug")

    @app.get("/test/raw-503")
    def raw() -> flask.Response:  # an answer made without any cause: still logged
        return flask.Response("{}", 503, mimetype="application/json")

    return app


@pytest.fixture
def client(app):
    return app.test_client()


# -- every 5xx logs one event with its cause ------------------------------------------------


def _one_server_error(logged, status, cause):
    [event] = logged.named("http.server_error")
    assert event["status"] == status
    assert cause in event["cause"]
    return event


def test_a_store_outage_on_history_is_503_and_logged_once(client, deps, logged):
    deps.store.fail_next("creations", StoreUnavailable("the store is slow"))
    response = client.get("/api/creations", headers=ALICE)

    assert response.status_code == 503 and response.headers["Retry-After"]
    event = _one_server_error(logged, 503, "StoreUnavailable: the store is slow")
    assert event["code"] == "service_unavailable" and event["route"] == "/api/creations"


def test_the_store_lock_wait_in_a_cancel_race_is_logged(client, deps, logged):
    cid = client.post("/api/generate/video", json=VIDEO, headers=ALICE).get_json()["creationId"]
    deps.store.fail_next("refund", StoreUnavailable("transactions are queueing"))
    response = client.post(f"/api/creations/{cid}/cancel", headers=ALICE)

    assert response.status_code == 503
    _one_server_error(logged, 503, "transactions are queueing")


def test_a_bug_is_500_internal_logged_once_with_its_traceback(client, logged):
    response = client.get("/test/bug", headers=ALICE)

    assert response.status_code == 500
    assert response.get_json() == {"success": False, "code": "internal", "error": "internal error"}
    event = _one_server_error(logged, 500, "RuntimeError: a bug")
    assert event["exc_info"] and event["exc_info"][0] is RuntimeError


def test_an_answer_made_without_a_cause_is_still_logged(client, logged):
    assert client.get("/test/raw-503").status_code == 503
    _one_server_error(logged, 503, "not recorded")


def test_an_unhealthy_queue_is_logged_with_its_state(client, deps, logged):
    deps.queue.state = QueueState.PAUSED
    response = client.get("/api/health/queue")

    assert response.status_code == 503
    _one_server_error(logged, 503, "paused")


def test_the_worker_s_store_outage_is_503_logged_once(deps, logged):
    deps.store.fail_next("stale_creations", StoreUnavailable("down"))
    response = worker.create_app(deps).test_client().post("/tasks/reconcile", json={})

    assert response.status_code == 503 and response.headers["Retry-After"]
    _one_server_error(logged, 503, "StoreUnavailable: down")


def test_answers_below_500_log_no_server_error(client, logged):
    assert (
        client.get("/api/creations", query_string={"limit": "0"}, headers=ALICE).status_code == 400
    )
    assert client.get("/api/creations").status_code == 401
    assert client.get("/nowhere").status_code == 404
    assert logged.named("http.server_error") == []


# -- JSON, whatever werkzeug would have answered ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/api/creations/abc//cancel", 404, "not_found"),
        ("GET", "/api/creations//cancel", 404, "not_found"),
        ("GET", "/api//me", 404, "not_found"),
        ("GET", "/robots.txt", 404, "not_found"),
        ("GET", "/favicon.ico", 404, "not_found"),
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/api/generate/video", 405, "method_not_allowed"),
        ("DELETE", "/api/creations", 405, "method_not_allowed"),
    ],
)
def test_routing_answers_are_json(client, method, path, status, code):
    response = client.open(path, method=method, headers=ALICE)

    assert (response.status_code, response.mimetype) == (status, "application/json")
    assert response.get_json()["code"] == code
    assert "Location" not in response.headers


def test_body_answers_are_json(client, deps):
    big = client.post(
        "/api/generate/video",
        data=b"{" + b" " * deps.settings.max_body_bytes + b"}",
        content_type="application/json",
        headers=ALICE,
    )
    text = client.post("/api/generate/video", data="hi", content_type="text/plain", headers=ALICE)

    assert (big.status_code, big.get_json()["code"]) == (413, "payload_too_large")
    assert (text.status_code, text.get_json()["code"]) == (415, "unsupported_media_type")


# -- nosniff on every answer ---------------------------------------------------------------


def test_every_answer_of_the_api_says_nosniff(client):
    answers = [
        client.get("/api/me", headers=ALICE),  # 200
        client.get("/api/me"),  # 401
        client.get("/nowhere"),  # 404
        client.get("/test/bug"),  # 500
        client.options(
            "/api/me",
            headers={
                "Origin": "http://127.0.0.1:8090",
                "Access-Control-Request-Method": "GET",
            },
        ),  # a CORS preflight
    ]
    assert [r.headers.get("X-Content-Type-Options") for r in answers] == ["nosniff"] * 5


def test_every_answer_of_the_worker_says_nosniff(deps):
    client = worker.create_app(deps).test_client()
    answers = [client.post("/tasks/reconcile", json={}), client.get("/nowhere")]
    assert [r.headers.get("X-Content-Type-Options") for r in answers] == ["nosniff"] * 2


# -- the table ---------------------------------------------------------------------------


def test_the_429_says_when_a_video_can_have_ended_from_the_policy(client, deps):
    deps.settings = dataclasses.replace(deps.settings, max_in_flight_videos=1)
    assert client.post("/api/generate/video", json=VIDEO, headers=ALICE).status_code == 202
    refused = client.post("/api/generate/video", json=VIDEO, headers=ALICE)

    expected = math.ceil(errors.SHORTEST_VIDEO_SECONDS + deps.policy.poll_max_seconds)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(expected)
    assert expected >= 60  # a video takes a minute or more: not the 30 s it said

    deps.settings = dataclasses.replace(deps.settings, poll_max_seconds=30)
    again = client.post("/api/generate/video", json=VIDEO, headers=ALICE)
    assert again.headers["Retry-After"] == "90"


def test_a_queue_that_will_not_pause_is_503_from_the_table(deps):
    client = api.create_app(deps).test_client()
    admin = {"Authorization": "Bearer dev:admin"}

    def refuse(*_args, **_kwargs):
        raise QueueError("queue_unavailable", "no answer")

    deps.queue.pause = refuse
    response = client.post("/api/admin/queue/pause", json={"reason": "test"}, headers=admin)

    assert response.status_code == 503
    body = response.get_json()
    assert (body["code"], body["queueErrorCode"]) == ("queue_unavailable", "queue_unavailable")
    assert response.headers["Retry-After"] == str(errors.QUEUE_CHANGE_RETRY_SECONDS)


def test_every_row_of_the_table_answers_a_code_and_a_sentence(deps):
    """Each rule's answer is complete: the codes are the README's (see its error table)."""
    readme_codes = {
        "invalid_request", "unauthenticated", "insufficient_tokens", "forbidden", "not_found",
        "method_not_allowed", "busy", "in_progress", "not_cancellable", "payload_too_large",
        "unsupported_media_type", "idempotency_conflict", "content_filtered", "rate_limited",
        "generation_failed", "queue_unavailable", "generation_unavailable",
        "service_unavailable", "identity_unavailable", "internal",
    }  # fmt: skip
    codes = {code for code, _ in errors.HTTP_CODES.values()}
    assert codes <= readme_codes
    assert "Exception" in {k.__name__ for k in errors.TABLE}


# -- under functions-framework, as deployed -------------------------------------------------

_FRAMEWORK_PROBE = """
import json, sys
import functions_framework
app = functions_framework.create_app(target=sys.argv[1], source="main.py")
client = app.test_client()
out = []
for method, path in json.loads(sys.argv[2]):
    r = client.open(path, method=method)
    body = r.get_json(silent=True) or {}
    sniff = r.headers.get("X-Content-Type-Options")
    out.append([r.status_code, r.mimetype, body.get("code"), sniff])
print(json.dumps(out))
"""


@pytest.mark.parametrize("target", ["api", "video_worker"])
def test_functions_framework_s_own_answers_are_json_too(target, tmp_path):
    """`/robots.txt`, `/favicon.ico` and a `//` are answered by functions-framework's app
    before ours is reached: HTML 404s and a 308 redirect, unless it answers as ours do."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    probes = [
        ["GET", "/robots.txt"],
        ["GET", "/favicon.ico"],
        ["POST", "/api/creations/abc//cancel"],
        ["GET", "/api/creations//cancel"],
        ["GET", "/api//me"],
        ["GET", "/nowhere"],
    ]
    env = {
        **os.environ,
        "APP_ENV": "local",
        "LOCAL_STATE_DIR": str(tmp_path),
        "LOG_FORMAT": "text",
    }
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", _FRAMEWORK_PROBE, target, json.dumps(probes)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = json.loads(run.stdout.strip().splitlines()[-1])
    assert answers == [[404, "application/json", "not_found", "nosniff"]] * len(probes), answers
