"""Cancelling a video before its generation started: refunded at once, its task deleted.

Only a `pending` creation can be cancelled: once a worker has claimed it, a generation is
being started (or runs), and a started generation is paid for with the provider whatever
happens next. Veo's long-running operations offer no cancellation that stops the charge
(google-genai exposes no cancel for them), so a claimed or started creation answers 409
and goes on to its result.

The refund and the `cancelled` state are one store transaction that applies only while
the creation is still pending, so a cancel racing a worker's claim cannot lose: one of the
two wins. The start task is then deleted (it is named, so we know it); if that fails, the
task still arrives and finds a terminal creation: it does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import events
from shared.domain.creation import Creation, Kind, Refund, Status
from shared.domain.errors import NotCancellable, QueueError
from shared.domain.step_tasks import start_tasks
from shared.services.accounts import own_creation

if TYPE_CHECKING:
    from shared.services.deps import Deps

CANCEL = Refund.cancelled()
STARTED = "The generation has started: it is paid for and cannot be stopped."


@dataclass(frozen=True)
class Cancelled:
    creation: Creation
    balance: int | None
    cancelled_now: bool  # False: it was cancelled before (cancelling is idempotent)


def cancel_creation(deps: Deps, uid: str, creation_id: str) -> Cancelled:
    """Raises CreationNotFound (missing or someone else's) or NotCancellable."""
    creation = own_creation(deps, uid, creation_id)
    if creation.kind is not Kind.VIDEO:
        raise NotCancellable("An image is made within its request: it cannot be cancelled.",
                             str(creation.status))  # fmt: skip
    if creation.status is Status.CANCELLED:
        return Cancelled(creation, None, cancelled_now=False)
    _refuse_unless_pending(creation)
    result = deps.store.refund(creation.id, deps.clock(), CANCEL)
    if not result.refunded_now:
        after = result.creation
        if after.status is Status.CANCELLED:
            return Cancelled(after, result.balance, cancelled_now=False)
        _refuse_unless_pending(after)
    if result.refunded_now:
        events.ended(result.creation)
    _delete_start_tasks(deps, result.creation)
    return Cancelled(result.creation, result.balance, cancelled_now=True)


def _refuse_unless_pending(c: Creation) -> None:
    if c.status is Status.PENDING:
        return
    if c.is_terminal:
        raise NotCancellable(f"This creation is {c.status} already.", str(c.status))
    raise NotCancellable(STARTED, str(c.status))


def _delete_start_tasks(deps: Deps, c: Creation) -> None:
    """The first start task and the reconciler's re-queued ones (`-start-<requeues>`)."""
    for task in start_tasks(c.id, c.requeues):
        try:
            deps.queue.delete(task)
        except QueueError as exc:  # harmless: the task will find the creation cancelled
            events.emit(
                "video.cancel_task_left",
                logging.WARNING,
                creationId=c.id,
                queueErrorCode=exc.code,
            )
