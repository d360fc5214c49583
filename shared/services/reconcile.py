"""The reconciler: a sweep (Cloud Scheduler, every few minutes) over stuck creations.

A creation is stuck when nothing touched it for STALE_AFTER_SECONDS while it is not
terminal: its task was lost (the enqueue died after the debit, the retries ran out, a
queue was purged). Each one is either moved on again with a new named task, or, past its
deadline, failed and refunded. With this sweep every creation ends in a terminal state
within its deadline plus one sweep interval, whatever single fault happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from shared import events
from shared.domain import creation as transitions
from shared.domain.creation import Creation, Kind, Status
from shared.domain.errors import QueueError, StoreContention, StoreUnavailable
from shared.domain.steps import Step, StepTask
from shared.services.steps import POLL_CHAIN, fail_and_refund

if TYPE_CHECKING:
    from shared.bootstrap import Container

MAX_REQUEUES = 99


@dataclass
class ReconcileReport:
    scanned: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "scanned": self.scanned,
            "requeued": len(self.requeued),
            "failed": len(self.failed),
            "errors": len(self.errors),
        }


def reconcile(deps: Container, limit: int = 200) -> ReconcileReport:
    now = deps.clock()
    stale = deps.store.stale_creations(
        now - timedelta(seconds=deps.settings.stale_after_seconds), limit
    )
    report = ReconcileReport(scanned=len(stale))
    for creation in stale:
        try:
            _settle(deps, creation, report)
        except (QueueError, StoreUnavailable, StoreContention) as exc:
            report.errors.append(creation.id)
            events.emit("reconcile.error", creationId=creation.id, error=type(exc).__name__)
    events.emit("reconcile.swept", **report.as_json())
    return report


def _settle(deps: Container, creation: Creation, report: ReconcileReport) -> None:
    now = deps.clock()
    if creation.kind is Kind.IMAGE:  # synchronous: a stale one lost its request
        fail_and_refund(deps, creation, "image_interrupted", "the image request did not finish")
        report.failed.append(creation.id)
        return
    if now >= creation.deadline_at or creation.requeues >= MAX_REQUEUES:
        fail_and_refund(deps, creation, "deadline_exceeded", "generation did not finish in time")
        report.failed.append(creation.id)
        return
    if creation.status is Status.PROCESSING and not creation.operation_name:
        claimed_at = creation.claimed_at or creation.updated_at
        if now - claimed_at >= timedelta(seconds=deps.settings.start_timeout_seconds):
            fail_and_refund(deps, creation, "start_interrupted", "generation could not be started")
            report.failed.append(creation.id)
        return
    creation, changed = deps.store.update_creation(
        creation.id, lambda c: transitions.count_requeue(c, deps.clock())
    )
    if not changed:
        return
    if creation.status is Status.PENDING:
        task = StepTask(creation.id, Step.START, creation.requeues)
    else:
        task = StepTask(creation.id, Step.POLL, POLL_CHAIN * creation.requeues)
    deps.queue.enqueue(task)
    report.requeued.append(creation.id)
    events.emit("video.requeued", creationId=creation.id, step=str(task.step), seq=task.seq)
