"""The reconciler: a sweep (Cloud Scheduler, every few minutes) over stuck creations.

A creation is stuck when nothing touched it for STALE_AFTER_SECONDS while it is not
terminal: its task was lost (the enqueue died after the debit, the retries ran out, a
queue was purged). Each one is either moved on again with a new named task, or, past its
deadline (or its last requeue), ended expired and refunded. With this sweep every creation
ends in a terminal state within its deadline plus one sweep interval, whatever single fault
happened.

Each sweep also logs the start line's state (`video.start_line`: how many videos wait for
their start, and how long the oldest has waited), read from two indexes with no document
read: what terraform/monitoring.tf charts and alerts on, once a minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import events
from shared.domain import creation as transitions
from shared.domain.creation import Creation, Kind, Refund, Status
from shared.domain.errors import QueueError, StoreContention, StoreUnavailable
from shared.domain.step_tasks import MAX_REQUEUES, Step, StepTask, first_poll_seq, start_task
from shared.services.queue_position import start_line
from shared.services.video_steps import end_and_refund, end_overdue

if TYPE_CHECKING:
    from shared.services.deps import Deps

REPAIR_USERS_PER_SWEEP = 50


@dataclass
class ReconcileReport:
    scanned: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # users whose in-flight count drifted

    def as_json(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "requeued": len(self.requeued),
            "failed": len(self.failed),
            "errors": len(self.errors),
            "repaired": len(self.repaired),
        }


def reconcile(deps: Deps, limit: int = 200) -> ReconcileReport:
    now = deps.clock()
    stale = deps.queries.stale_creations(now - deps.policy.stale_after, limit)
    report = ReconcileReport(scanned=len(stale))
    for creation in stale:
        try:
            _settle(deps, creation, report)
        except (QueueError, StoreUnavailable, StoreContention) as exc:
            report.errors.append(creation.id)
            events.emit("reconcile.error", creationId=creation.id, error=type(exc).__name__)
    _repair_in_flight(deps, {c.user_id for c in stale}, report)
    _log_start_line(deps, report)
    events.emit("reconcile.swept", **report.as_json())
    return report


def _log_start_line(deps: Deps, report: ReconcileReport) -> None:
    """One `video.start_line` per sweep, after it settled the overdue ones: `waiting` (videos
    `pending`) and `oldestWaitSeconds` (0 when none wait, so the alert on it clears)."""
    try:
        line = start_line(deps, deps.clock())
    except (StoreUnavailable, StoreContention) as exc:
        report.errors.append("start_line")
        events.emit("reconcile.error", error=type(exc).__name__)
        return
    events.emit(
        "video.start_line",
        waiting=line.waiting,
        oldestWaitSeconds=line.oldest_wait_seconds or 0,
        perMinute=line.per_minute,
    )


def _repair_in_flight(deps: Deps, users: set[str], report: ReconcileReport) -> None:
    """Set each counter that drifted (a limit that refuses wrongly, or too late) to the
    user's videos actually in flight: the users of this sweep's stale creations, and some
    of those whose counter says they have videos in flight."""
    try:
        users |= set(deps.queries.users_in_flight(REPAIR_USERS_PER_SWEEP))
    except (StoreUnavailable, StoreContention) as exc:
        report.errors.append("users_in_flight")
        events.emit("reconcile.error", error=type(exc).__name__)
    for uid in sorted(users):
        try:
            was, now = deps.store.recount_in_flight(uid)
        except (StoreUnavailable, StoreContention) as exc:
            report.errors.append(uid)
            events.emit("reconcile.error", userId=uid, error=type(exc).__name__)
            continue
        if was != now:
            report.repaired.append(uid)
            events.emit("reconcile.in_flight_repaired", logging.WARNING, userId=uid,
                        was=was, now=now)  # fmt: skip


def _settle(deps: Deps, creation: Creation, report: ReconcileReport) -> None:
    now = deps.clock()
    if creation.kind is Kind.IMAGE:  # synchronous: a stale one lost its request
        detail = "the image request did not finish"
        end_and_refund(deps, creation, Refund("image_interrupted"), detail)
        report.failed.append(creation.id)
        return
    if creation.requeues >= MAX_REQUEUES:  # no task name left to requeue it under
        late: Refund | None = Refund.expired()
    else:
        p = deps.policy
        late = transitions.overdue(creation, now, p.start_timeout, p.max_queue_wait)
    if late is not None:
        end_overdue(deps, creation, late)
        report.failed.append(creation.id)
        return
    if creation.status is Status.PROCESSING and not creation.operation_name:
        return  # its start may still be running (not past the start timeout yet)
    if creation.status is Status.PENDING and deps.queue.waiting(
        start_task(creation.id, creation.requeues)
    ):
        # In line behind the paced start queue (queue.tf): a second start task would only
        # take one of the pace's dispatches. MAX_QUEUE_WAIT_SECONDS bounds the wait above.
        return
    creation, changed = deps.store.update_creation(
        creation.id, lambda c: transitions.count_requeue(c, deps.clock())
    )
    if not changed:
        return
    if creation.status is Status.PENDING:
        task = start_task(creation.id, creation.requeues)
    else:  # a new poll chain, in names of its own; its first poll at once
        task = StepTask(creation.id, Step.POLL, first_poll_seq(creation.requeues))
    deps.queue.enqueue(task)
    report.requeued.append(creation.id)
    events.emit("video.requeued", creationId=creation.id, step=str(task.step), seq=task.seq)
