"""Submitting a video: gate, debit, enqueue, and refund at once if the enqueue fails."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared import events
from shared.domain.creation import Creation, Kind, Status
from shared.domain.errors import DomainError, QueueError, StoreContention, StoreUnavailable
from shared.domain.steps import Step, StepTask
from shared.services.queue_health import QueueHealthReport

if TYPE_CHECKING:
    from shared.bootstrap import Container

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1f7c52-8f0e-4d37-9a57-0d0f5a4f2d11")


@dataclass(frozen=True)
class VideoOrder:
    prompt: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    creation: Creation
    balance: int
    replayed: bool


class QueueClosed(DomainError):
    """The health gate knows the queue cannot run tasks now; nothing was charged."""

    def __init__(self, report: QueueHealthReport) -> None:
        super().__init__(report.reason or report.status)
        self.report = report


class EnqueueFailed(DomainError):
    """The debit happened, the task could not be created, and the tokens were refunded
    (refunded=False only when the refund itself could not be written: the reconciler
    finishes it)."""

    def __init__(self, creation: Creation, queue_code: str, refunded: bool, balance: int | None):
        super().__init__(queue_code)
        self.creation = creation
        self.queue_code = queue_code
        self.refunded = refunded
        self.balance = balance


def creation_id_for(uid: str, idempotency_key: str | None) -> str:
    """A random id, or one derived from the caller's Idempotency-Key so a retried request
    finds the creation the first one made instead of paying twice."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{uid}\n{idempotency_key}").hex


def submit_video(
    deps: Container, uid: str, order: VideoOrder, idempotency_key: str | None = None
) -> Accepted:
    report = deps.queue_health.check()
    if not report.ok:
        events.emit("video.rejected_queue_closed", userId=uid, queueStatus=report.status)
        raise QueueClosed(report)

    settings = deps.settings
    deps.store.ensure_account(uid, deps.starting_grant, deps.clock())
    now = deps.clock()  # read after: a new user's grant comes before the debit in the ledger
    creation = Creation(
        id=creation_id_for(uid, idempotency_key),
        user_id=uid,
        kind=Kind.VIDEO,
        prompt=order.prompt,
        parameters=order.parameters,
        cost=settings.video_cost,
        created_at=now,
        updated_at=now,
        deadline_at=now + timedelta(seconds=settings.video_deadline_seconds),
    )
    debited = deps.store.debit_and_create(creation, now)
    creation = debited.creation
    if debited.replayed:
        return _replay(deps, creation, debited.balance)

    try:
        deps.queue.enqueue(StepTask(creation.id, Step.START))
    except QueueError as exc:
        raise _refund_enqueue_failure(deps, creation, exc) from exc
    events.emit(
        "video.submitted",
        creationId=creation.id,
        userId=uid,
        cost=creation.cost,
        replayed=debited.replayed,
    )
    return Accepted(creation, debited.balance, debited.replayed)


def _replay(deps: Container, creation: Creation, balance: int) -> Accepted:
    """The same request again (same user, same Idempotency-Key): nothing is charged twice.

    A creation still pending is enqueued again, which is harmless (the task is named) and
    heals a first request that died between the debit and the enqueue. It is never refunded
    here: the first request's task may exist and run; if the queue is down, the reconciler
    moves it on or ends it, refunded, by its deadline.
    """
    if creation.status is Status.PENDING:
        try:
            deps.queue.enqueue(StepTask(creation.id, Step.START))
        except QueueError as exc:
            events.emit("video.replay_not_queued", creationId=creation.id, queueErrorCode=exc.code)
    return Accepted(creation, balance, replayed=True)


def _refund_enqueue_failure(deps: Container, creation: Creation, exc: QueueError) -> EnqueueFailed:
    events.emit(
        "video.enqueue_failed",
        logging.ERROR,
        creationId=creation.id,
        userId=creation.user_id,
        queueErrorCode=exc.code,
    )
    try:
        refunded = deps.store.refund(
            creation.id,
            deps.clock(),
            error_code="enqueue_failed",
            error_message="the generation task could not be queued; tokens refunded",
            queue_error_code=exc.code,
        )
    except (StoreUnavailable, StoreContention):
        events.emit("video.refund_deferred", logging.ERROR, exc_info=True, creationId=creation.id)
        return EnqueueFailed(creation, exc.code, refunded=False, balance=None)
    events.emit(
        "video.refunded", creationId=creation.id, userId=creation.user_id, reason="enqueue_failed"
    )
    after = refunded.creation
    return EnqueueFailed(after, exc.code, refunded=after.refunded, balance=refunded.balance)
