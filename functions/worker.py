"""The private `video_worker` function: Cloud Tasks delivers one step per request, and
Cloud Scheduler calls the reconciler. Answers: 2xx done (or permanently failed and
refunded), 503 retry later, 400 a body that is not one of our tasks."""

from __future__ import annotations

import logging
import time

import flask

from functions.http import dispatch, error, install_error_handlers, json_body, reply
from shared import events
from shared.bootstrap import container
from shared.domain.errors import (
    Forbidden,
    IdentityUnavailable,
    StoreContention,
    StoreUnavailable,
    Unauthenticated,
)

app = flask.Flask(__name__)
install_error_handlers(app)


@app.before_request
def _only_cloud_tasks():
    """Defence in depth behind the platform's IAM check: the request must carry a valid OIDC
    token for this worker from the tasks (or scheduler) service account. Nothing runs, and
    nothing changes, otherwise."""
    auth = container().task_auth
    if auth is None or flask.request.url_rule is None:  # no route: a plain 404/405, nothing runs
        return None
    try:
        auth.verify(flask.request.headers.get("Authorization"))
    except Unauthenticated:
        events.emit("worker.rejected", logging.WARNING, reason="unauthenticated")
        return error(401, "a valid Cloud Tasks OIDC token is required")
    except IdentityUnavailable:  # the key server is down: let Cloud Tasks retry later
        events.emit("worker.keys_unavailable", logging.ERROR)
        return error(503, "the token keys cannot be fetched now", {"Retry-After": "10"})
    except Forbidden:
        events.emit("worker.rejected", logging.WARNING, reason="forbidden")
        return error(403, "this caller may not invoke the worker")
    return None


def handle(request: flask.Request):
    return dispatch(app, request)


@app.errorhandler(StoreUnavailable)
@app.errorhandler(StoreContention)
def _store_busy(exc: Exception):
    """The store failed (e.g. during a reconcile sweep): answer 503 so the caller retries."""
    events.emit("worker.store_unavailable", logging.WARNING, error=type(exc).__name__)
    return error(503, "the store is unavailable; retry later", {"Retry-After": "10"})


@app.post("/tasks/video")
def video_step():
    from shared.domain.steps import StepTask
    from shared.services.steps import run_step

    try:
        task = StepTask.from_payload(json_body())
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return error(400, "not a video task", fields={field: message})
    headers = flask.request.headers
    started = time.perf_counter()
    result = run_step(container(), task)
    events.emit(
        "task.step",
        creationId=task.creation_id,
        step=str(task.step),
        seq=task.seq,
        outcome=result.outcome,
        httpStatus=result.status,
        attempt=headers.get("X-CloudTasks-TaskRetryCount"),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return reply(result.status, {"outcome": result.outcome})


@app.post("/tasks/reconcile")
def reconcile():
    from shared.services.reconcile import reconcile as sweep

    return reply(200, sweep(container()).as_json())
