"""The operator's routes on the api: the overview, pause and resume, grants, reconcile now.

Admins only: a Firebase ID token with the custom claim `admin: true` in production, a dev
uid listed in ADMIN_UIDS locally. Everyone else gets 403 and nothing runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import flask

from functions import schemas
from functions.http import app_deps, reply, validated
from shared import events
from shared.domain.errors import Forbidden

if TYPE_CHECKING:
    from shared.ports import QueueChange
    from shared.services.admin import Overview
    from shared.services.queue_health import QueueHealthReport

bp = flask.Blueprint("admin", __name__, url_prefix="/api/admin")


def _operator() -> str:
    """The admin's uid; answers 403 (and runs nothing) for anyone else."""
    who = app_deps().identity.identify(flask.request.headers.get("Authorization"))
    if not who.admin:
        events.emit("admin.refused", logging.WARNING, userId=who.uid, path=flask.request.path)
        raise Forbidden("This is for operators only.")
    return who.uid


@bp.get("/overview")
def overview() -> flask.Response:
    _operator()
    deps = app_deps()
    fresh = flask.request.args.get("fresh") == "1"
    return reply(200, _overview_out(flask.current_app.extensions["overview"].get(deps, fresh)))


@bp.post("/queue/pause")
def pause() -> flask.Response:
    return _set_queue("pause")


@bp.post("/queue/resume")
def resume() -> flask.Response:
    return _set_queue("resume")


def _set_queue(action: str) -> flask.Response:
    from functions.schemas import QueueChangeRequest
    from shared.services.admin import set_queue

    operator = _operator()
    body = validated(QueueChangeRequest)
    try:
        # QueueUnchanged: 409; QueueChangeFailed: 503 (functions/errors.py, for operators)
        report, change = set_queue(app_deps(), action, operator, body.reason)
    finally:
        # The next overview shows the queue as it is now, not as it was up to
        # OVERVIEW_TTL_SECONDS ago (a failed change may have been applied, too).
        flask.current_app.extensions["overview"].invalidate()
    return reply(200, schemas.AdminQueueAnswer(queue=_queue_out(report, change)))


@bp.post("/grants")
def grant() -> flask.Response:
    """An operator grants tokens (amount > 0) or corrects a balance (amount < 0, never below
    zero): one ledger entry with who, when and why. Idempotency-Key required."""
    from functions.http import required_idempotency_key
    from functions.schemas import GrantRequest
    from functions.views import movement_out
    from shared.services import tokens

    operator = _operator()
    body = validated(GrantRequest)
    key = required_idempotency_key()
    moved = tokens.grant(app_deps(), operator, key, body.uid, body.amount, body.reason)
    if not moved.replayed:
        flask.current_app.extensions["overview"].invalidate()  # the day's grants changed
    return reply(200, movement_out(moved))


@bp.post("/reconcile")
def reconcile_now() -> flask.Response:
    from shared.services.reconcile import reconcile

    operator = _operator()
    report = reconcile(app_deps())
    events.emit("admin.reconciled", userId=operator, **report.as_json())
    return reply(200, schemas.ReconcileAnswer(report=schemas.ReconcileOut(**report.as_json())))


def _queue_out(report: QueueHealthReport, change: QueueChange | None) -> schemas.AdminQueue:
    return schemas.AdminQueue(
        status=report.status,
        state=report.state,
        checkedAt=report.checked_at,
        reason=report.reason,
        lastChange=schemas.QueueChangeOut.model_validate(change) if change else None,
    )


def _overview_out(o: Overview) -> schemas.AdminOverview:
    return schemas.AdminOverview(
        generatedAt=o.generated_at,
        queue=_queue_out(o.queue, o.last_change),
        windows=schemas.WindowsOut(
            hour=schemas.WindowOut.model_validate(o.hour),
            day=schemas.WindowOut.model_validate(o.day),
        ),
        perMinute=[schemas.MinuteOut.model_validate(m) for m in o.per_minute],
        stuck=[
            schemas.StuckOut(
                creationId=s.creation.id,
                userId=s.creation.user_id,
                kind=s.creation.kind.value,
                status=s.creation.status.value,
                updatedAt=s.creation.updated_at,
                stuckForSeconds=s.stuck_for_seconds,
            )
            for s in o.stuck
        ],
        latestFailures=[schemas.FailureOut.model_validate(f) for f in o.latest_failures],
        truncated=o.truncated,
        movements={
            str(t): schemas.MovementTotalsOut.model_validate(m) for t, m in o.movements.items()
        },
        starts=schemas.StartsOut.model_validate(o.starts) if o.starts else None,
    )
