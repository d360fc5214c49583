"""The private `video_worker` function: Cloud Tasks delivers one step per request, and
Cloud Scheduler calls the reconciler. Answers: 2xx done (or permanently failed and
refunded), 503 (or 409 `busy`) retry later, 400 a body that is not one of our tasks; errors
answer from the api's table (functions/errors.py)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import flask

from functions.http import app_deps, error, install_error_handlers, json_body, reply
from shared import events
from shared.domain.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from shared.bootstrap import Container

bp = flask.Blueprint("worker", __name__)


def create_app(deps: Container) -> flask.Flask:
    app = flask.Flask(__name__)
    app.extensions["deps"] = deps
    install_error_handlers(app)
    app.register_blueprint(bp)
    return app


@bp.before_app_request
def _only_cloud_tasks() -> flask.Response | None:
    """Defence in depth behind the platform's IAM check: the request must carry a valid OIDC
    token for this worker from the tasks (or scheduler) service account. Nothing runs, and
    nothing changes, otherwise."""
    auth = app_deps().task_auth
    if auth is None or flask.request.url_rule is None:  # no route: a plain 404/405, nothing runs
        return None
    try:
        auth.verify(flask.request.headers.get("Authorization"))
    except (Unauthenticated, Forbidden) as exc:  # answered from the table: 401, 403
        reason = "unauthenticated" if isinstance(exc, Unauthenticated) else "forbidden"
        events.emit("worker.rejected", logging.WARNING, reason=reason)
        raise
    return None  # IdentityUnavailable (the key server is down): 503, Cloud Tasks retries


@bp.post("/tasks/video")
def video_step() -> flask.Response:
    from shared.domain.step_tasks import StepTask
    from shared.services.video_steps import run_step

    try:
        task = StepTask.from_payload(json_body())
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return error(400, "invalid_request", "not a video task", fields={field: message})
    headers = flask.request.headers
    started = time.perf_counter()
    result = run_step(app_deps(), task)
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
    return reply(result.status, {"outcome": result.outcome}, cause=f"step {result.outcome}")


@bp.post("/tasks/reconcile")
def reconcile() -> flask.Response:
    from shared.services.reconcile import reconcile as sweep

    return reply(200, sweep(app_deps()).as_json())
