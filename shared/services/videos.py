"""Submitting a video: gate, debit, enqueue, and refund at once if the enqueue fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import events
from shared.domain.creation import Creation, Kind, Refund, Status, submit_deadline
from shared.domain.errors import DomainError, QueueError, StoreContention, StoreUnavailable
from shared.domain.idempotency import Endpoint, IdempotencyKey, fingerprint
from shared.domain.ledger import SpendLimits
from shared.domain.step_tasks import StepTask, start_task
from shared.services.queue_health import QueueHealthReport

if TYPE_CHECKING:
    from shared.services.deps import Deps


@dataclass(frozen=True)
class VideoOrder:
    prompt: str
    parameters: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, **self.parameters}


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


def remembered_key(
    deps: Deps, uid: str, key: str | None, endpoint: Endpoint, body: dict[str, Any]
) -> IdempotencyKey | None:
    """The request's key as the store remembers it: scoped to the user and the endpoint,
    with a fingerprint of the normalised body, for IDEMPOTENCY_KEY_TTL_HOURS."""
    if key is None:
        return None
    ttl = deps.policy.idempotency_ttl
    return IdempotencyKey(uid, key, endpoint, fingerprint(body), deps.clock() + ttl)


def submit_video(
    deps: Deps, uid: str, order: VideoOrder, idempotency_key: str | None = None
) -> Accepted:
    key = remembered_key(deps, uid, idempotency_key, Endpoint.VIDEO, order.as_json())
    report = deps.queue_health.check()
    if not report.ok:
        # A retry of a request that was accepted answers what it answered, outage or not.
        earlier = deps.queries.find_replay(key, deps.clock()) if key else None
        if earlier is not None:
            return _replay(deps, earlier.creation, earlier.balance)
        events.emit("video.rejected_queue_closed", userId=uid, queueStatus=report.status)
        raise QueueClosed(report)

    policy = deps.policy
    deps.store.ensure_account(uid, policy.starting_grant, deps.clock())
    now = deps.clock()  # read after: a new user's grant comes before the debit in the ledger
    creation = Creation(
        id=deps.new_id(),
        user_id=uid,
        kind=Kind.VIDEO,
        prompt=order.prompt,
        parameters=order.parameters,
        cost=policy.price(Kind.VIDEO, order.parameters),
        created_at=now,
        updated_at=now,
        deadline_at=submit_deadline(now, policy.max_queue_wait, policy.video_deadline),
    )
    limits = SpendLimits(in_flight=policy.in_flight_limit, daily=policy.daily_limit)
    debited = deps.store.debit_and_create(creation, now, key, limits)
    creation = debited.creation
    if debited.replayed:
        return _replay(deps, creation, debited.balance)

    task = start_task(creation.id)
    try:
        deps.queue.enqueue(task)
    except QueueError as exc:
        deps.queue_health.report_failure(exc)
        failed = _refund_enqueue_failure(deps, creation, task, exc)
        if failed is not None:
            raise failed from exc
    events.emit("video.submitted", creationId=creation.id, userId=uid, cost=creation.cost)
    return Accepted(creation, debited.balance, replayed=False)


def _replay(deps: Deps, creation: Creation, balance: int) -> Accepted:
    """The same request again (same user, key, endpoint and body): nothing is charged twice.

    A creation still pending is enqueued again, which is harmless (the task is named) and
    heals a first request that died between the debit and the enqueue. It is never refunded
    here: the first request's task may exist and run; if the queue is down, the reconciler
    moves it on or ends it, refunded, by its deadline.
    """
    if creation.status is Status.PENDING:
        try:
            deps.queue.enqueue(start_task(creation.id))
        except QueueError as exc:
            deps.queue_health.report_failure(exc)
            events.emit("video.replay_not_queued", creationId=creation.id, queueErrorCode=exc.code)
    return Accepted(creation, balance, replayed=True)


def _refund_enqueue_failure(
    deps: Deps, creation: Creation, task: StepTask, exc: QueueError
) -> EnqueueFailed | None:
    """Refund a creation whose task could not be created. None: the task exists after all
    (the failure was ambiguous, or a worker has claimed the creation), so it was accepted."""
    events.emit(
        "video.enqueue_failed",
        logging.ERROR,
        creationId=creation.id,
        userId=creation.user_id,
        queueErrorCode=exc.code,
    )
    if exc.ambiguous and _created_anyway(deps, task):
        events.emit("video.enqueue_recovered", creationId=creation.id, queueErrorCode=exc.code)
        return None
    refund = Refund("enqueue_failed", queue_error_code=exc.code, only_if_pending=True)
    try:
        refunded = deps.store.refund(creation.id, deps.clock(), refund)
    except (StoreUnavailable, StoreContention):
        events.emit("video.refund_deferred", logging.ERROR, exc_info=True, creationId=creation.id)
        return EnqueueFailed(creation, exc.code, refunded=False, balance=None)
    after = refunded.creation
    if not refunded.refunded_now and after.status is Status.PROCESSING:
        # A worker claimed it: the task was created after all, and runs.
        events.emit("video.enqueue_recovered", creationId=creation.id, queueErrorCode=exc.code)
        return None
    if refunded.refunded_now:
        events.ended(after, queueErrorCode=exc.code)
    return EnqueueFailed(after, exc.code, refunded=after.refunded, balance=refunded.balance)


def _created_anyway(deps: Deps, task: StepTask) -> bool:
    """Ask the queue whether the named task exists, by creating it again: Cloud Tasks keeps
    a task's name reserved after it ran, so ALREADY_EXISTS (a success for `enqueue`) means
    the first call did create it. (GetTask cannot tell: a task that already ran is
    NOT_FOUND.) When the queue cannot answer, assume not: the refund that follows applies
    only while no worker has claimed the creation, so it is safe either way."""
    try:
        deps.queue.enqueue(task)
    except QueueError:
        return False
    return True
