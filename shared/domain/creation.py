"""Creations, their states and the only transitions allowed between them.

Every function here is pure: it takes a creation and returns the changed copy, or
None when the transition does not apply (a duplicate delivery, a terminal state).
Store adapters run these inside their transactions, so the rules live in one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.step_tasks import MAX_REQUEUES


class Status(StrEnum):
    PENDING = "pending"  # debited; the start task is being or has been enqueued
    PROCESSING = "processing"  # claimed by a worker; operation_name once generation started
    DRAFT = "draft"  # finished, media_key set (the app's name for a finished creation)
    FAILED = "failed"  # terminal, error_code set, refunded
    CANCELLED = "cancelled"  # terminal, refunded; only before generation started


TERMINAL = frozenset({Status.DRAFT, Status.FAILED, Status.CANCELLED})
REFUNDED = frozenset({Status.FAILED, Status.CANCELLED})  # the terminal states with a refund

CANCELLED_CODE = "cancelled"  # the errorCode of a cancelled creation
EXPIRED_CODE = "deadline_exceeded"  # the errorCode of an expired one


class Ending(StrEnum):
    """How a creation ended without its media: what happened to the creation. Its tokens are
    refunded in every case (that is what happens to the money, `Refund`).

    An expired creation is stored `failed` with errorCode `deadline_exceeded` (the API's
    states are unchanged); its ending, and its event, say what it is.
    """

    FAILED = "failed"  # refused, filtered, failed, not queued, or its start was lost
    EXPIRED = "expired"  # not finished by its deadline (or past the reconciler's requeues)
    CANCELLED = "cancelled"  # its user cancelled it before it started

    @classmethod
    def for_code(cls, code: str | None) -> Ending:
        """The ending an errorCode stands for: the one rule, for a refund being made and for
        a creation read back."""
        if code == CANCELLED_CODE:
            return cls.CANCELLED
        return cls.EXPIRED if code == EXPIRED_CODE else cls.FAILED

    @property
    def status(self) -> Status:
        return Status.CANCELLED if self is Ending.CANCELLED else Status.FAILED


def ending_of(c: Creation) -> Ending | None:
    """How a creation ended, or None: still running, or a draft."""
    return Ending.for_code(c.error_code) if c.status in REFUNDED else None


class Kind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"


@dataclass(frozen=True)
class Creation:
    id: str
    user_id: str
    kind: Kind
    prompt: str
    parameters: dict[str, Any]
    cost: int
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime
    status: Status = Status.PENDING
    operation_name: str | None = None
    media_key: str | None = None  # where the media is stored; its URL is made when read
    error_code: str | None = None
    error_message: str | None = None
    refunded: bool = False
    queue_error_code: str | None = None
    attempts: int = 0
    progress: int = 0
    claim_id: str | None = None
    claimed_at: datetime | None = None
    requeues: int = 0
    # The generator's model and location that made the video (set with its operation: the
    # route that started it, a fallback when the primary was out of quota; issue 21).
    model: str | None = None
    location: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def with_changes(self, now: datetime, **changes: Any) -> Creation:
        return dataclasses.replace(self, updated_at=now, **changes)


@dataclass(frozen=True)
class CreationSummary:
    """What the operator's overview needs of a creation: no prompt, no parameters."""

    id: str
    user_id: str
    kind: Kind
    status: Status
    created_at: datetime
    updated_at: datetime
    error_code: str | None = None
    queue_error_code: str | None = None
    refunded: bool = False

    @classmethod
    def of(cls, c: Creation) -> CreationSummary:
        return cls(
            c.id,
            c.user_id,
            c.kind,
            c.status,
            c.created_at,
            c.updated_at,
            c.error_code,
            c.queue_error_code,
            c.refunded,
        )


@dataclass(frozen=True)
class CreationFilter:
    """Which of a user's creations a history page shows: of one kind, in one status, or all."""

    kind: str | None = None
    status: str | None = None

    def matches(self, c: Creation) -> bool:
        return (self.kind is None or c.kind == self.kind) and (
            self.status is None or c.status == self.status
        )


ALL = CreationFilter()


def claim(c: Creation, claim_id: str, now: datetime) -> Creation | None:
    """pending -> processing, for the one delivery that wins the claim."""
    if c.status is not Status.PENDING:
        return None
    return c.with_changes(
        now, status=Status.PROCESSING, claim_id=claim_id, claimed_at=now, attempts=c.attempts + 1
    )


def release_claim(c: Creation, claim_id: str, now: datetime) -> Creation | None:
    """Give a claim back after generation could not be started (transient error)."""
    if c.status is not Status.PROCESSING or c.claim_id != claim_id or c.operation_name:
        return None
    return c.with_changes(now, status=Status.PENDING, claim_id=None, claimed_at=None)


def record_operation(
    c: Creation,
    claim_id: str,
    operation_name: str,
    now: datetime,
    generation_deadline: timedelta | None = None,
    *,
    model: str | None = None,
    location: str | None = None,
) -> Creation | None:
    """Record the started operation, and the model and location that run it. With
    `generation_deadline`, the creation's deadline becomes the start plus it: the
    generation's time counts from its start, not from the submit (the time it waited for its
    turn is bounded by MAX_QUEUE_WAIT_SECONDS)."""
    if c.status is not Status.PROCESSING or c.claim_id != claim_id or c.operation_name:
        return None
    route = {"model": model, "location": location}
    if generation_deadline is None:
        return c.with_changes(now, operation_name=operation_name, **route)
    deadline = min(c.deadline_at, now + generation_deadline)
    return c.with_changes(now, operation_name=operation_name, deadline_at=deadline, **route)


PROGRESS_HEARTBEAT = timedelta(seconds=60)  # the reconciler's STALE_AFTER must exceed it
PROGRESS_STEP = 10  # points of progress worth a write


def touch_progress(c: Creation, progress: int, now: datetime) -> Creation | None:
    """Record a poll, so the reconciler can tell a live creation from a stuck one.

    A poll is only written when the progress moved by PROGRESS_STEP points or the last
    write is PROGRESS_HEARTBEAT old: most polls then cost no store write at all.
    """
    if c.status is not Status.PROCESSING:
        return None
    progress = max(c.progress, min(99, max(0, progress)))
    if progress < c.progress + PROGRESS_STEP and now - c.updated_at < PROGRESS_HEARTBEAT:
        return None
    return c.with_changes(now, progress=progress)


def complete(c: Creation, media_key: str, now: datetime) -> Creation | None:
    """processing -> draft. A terminal creation (failed meanwhile) stays as it is."""
    if c.status is not Status.PROCESSING:
        return None
    return c.with_changes(now, status=Status.DRAFT, media_key=media_key, progress=100)


def count_requeue(c: Creation, now: datetime) -> Creation | None:
    """One more requeue by the reconciler, up to MAX_REQUEUES (the task names it has)."""
    if c.is_terminal or c.requeues >= MAX_REQUEUES:
        return None
    return c.with_changes(now, requeues=c.requeues + 1)


@dataclass(frozen=True)
class Refund:
    """A creation ends without its media and its tokens go back, in one store transaction
    (`Store.refund`): the one value every such end carries.

    `code` is stable and machine-readable (errorCode); users see the fixed sentence for it
    (`shared.domain.failures`), never a provider's raw text. The code names the ending
    (`Ending.for_code`): `Refund.cancelled()`, `Refund.expired()`, any other code a failure.
    `only_if_pending`: end only a creation no worker has claimed yet (an enqueue failure:
    once claimed, the task did run; a cancel: once claimed, a generation is being started).
    """

    code: str
    queue_error_code: str | None = None
    only_if_pending: bool = False

    @classmethod
    def cancelled(cls) -> Refund:
        return cls(CANCELLED_CODE, only_if_pending=True)

    @classmethod
    def expired(cls) -> Refund:
        return cls(EXPIRED_CODE)

    @property
    def ending(self) -> Ending:
        return Ending.for_code(self.code)

    @property
    def status(self) -> Status:
        return self.ending.status


def end_with_refund(c: Creation, now: datetime, refund: Refund) -> Creation | None:
    """Any non-terminal creation -> its ending's state (failed or cancelled), refunded=True.

    Returns None when the creation is already terminal: a draft is never refunded and a
    failed or cancelled one was refunded already, so a refund happens at most once.
    Cancelling is only allowed before generation started; `only_if_pending` refunds only a
    creation still `pending`.
    """
    from shared.domain.failures import user_message

    if c.is_terminal:
        return None
    if refund.ending is Ending.CANCELLED and c.operation_name:
        return None
    if refund.only_if_pending and c.status is not Status.PENDING:
        return None
    return c.with_changes(
        now,
        status=refund.status,
        refunded=True,
        error_code=refund.code,
        error_message=user_message(refund.code),
        queue_error_code=refund.queue_error_code,
    )


START_INTERRUPTED = "start_interrupted"  # claimed, and no operation recorded in time
CAPACITY_CODE = "capacity"  # waited MAX_QUEUE_WAIT_SECONDS for the generator, never started


def submit_deadline(
    now: datetime, max_queue_wait: timedelta, generation_deadline: timedelta
) -> datetime:
    """A new video's deadline: the longest it may wait for its start, plus the generation's
    own time. `record_operation` brings it forward to its start + the generation's time."""
    return now + max_queue_wait + generation_deadline


def overdue(
    c: Creation,
    now: datetime,
    start_timeout: timedelta,
    max_queue_wait: timedelta | None = None,
) -> Refund | None:
    """How a non-terminal video must end now, or None (the one rule for the worker and the
    reconciler): waiting for its start (`pending`, e.g. put back after the provider's 429)
    `max_queue_wait` after its submit, it fails with `capacity`; past its deadline it
    expires; claimed with no operation recorded for `start_timeout`, its start was lost,
    and it fails (it is never started again: a start that may have run could make a second
    paid operation)."""
    waiting = c.status is Status.PENDING and not c.operation_name
    if waiting and max_queue_wait is not None and now - c.created_at >= max_queue_wait:
        return Refund(CAPACITY_CODE)
    if now >= c.deadline_at:
        return Refund.expired()
    never_started = c.status is Status.PROCESSING and not c.operation_name
    if never_started and now - (c.claimed_at or c.updated_at) >= start_timeout:
        return Refund(START_INTERRUPTED)
    return None
