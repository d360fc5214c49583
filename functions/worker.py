"""The private `video_worker` function: Cloud Tasks delivers one step per request, and
Cloud Scheduler calls the reconciler. Answers: 2xx done (or permanently failed and
refunded), 503 retry later, 400 a body that is not one of our tasks."""

from __future__ import annotations

import time

import flask

from functions.http import dispatch, error, install_error_handlers, json_body, reply
from shared import events
from shared.bootstrap import container

app = flask.Flask(__name__)
install_error_handlers(app)


def handle(request: flask.Request):
    return dispatch(app, request)


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
