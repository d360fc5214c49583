"""The worker's state machine: one short step per task, never a long blocking wait.

start: claim the creation, start one generation, record its operation name, schedule poll 1.
poll:  read the operation; not done -> schedule the next poll; done -> store the media and
       mark `draft`, or end it failed and refund it. Past its deadline it ends expired.

A duplicate delivery of any step is a no-op (state is checked first and every transition is
a transaction). A transient failure answers 503 so that Cloud Tasks retries the same task; a
permanent one is recorded (failed + refunded) and answers 200 so that it is not retried.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import events
from shared.domain import creation as transitions
from shared.domain.creation import Creation, Ending, Kind, Refund, Status
from shared.domain.errors import (
    CreationNotFound,
    GenerationError,
    QueueError,
    StorageError,
    StoreContention,
    StoreUnavailable,
)
from shared.domain.media_keys import video_key
from shared.domain.step_tasks import Step, StepTask, first_poll_seq, poll_task
from shared.ports import VideoRoute, VideoSpec

RATE_LIMITED = "generator_rate_limited"  # the provider's 429 / RESOURCE_EXHAUSTED

if TYPE_CHECKING:
    from shared.services.deps import Deps


@dataclass(frozen=True)
class StepResult:
    status: int  # the HTTP status the worker answers: 2xx done, 503 retry
    outcome: str

    @property
    def retry(self) -> bool:
        return self.status >= 500


def done(outcome: str) -> StepResult:
    return StepResult(200, outcome)


def retry(outcome: str) -> StepResult:
    return StepResult(503, outcome)


def run_step(deps: Deps, task: StepTask) -> StepResult:
    try:
        creation = deps.queries.get_creation(task.creation_id)
        if creation is None:
            return done("unknown_creation")
        if creation.is_terminal:
            return done(f"already_{creation.status}")
        if creation.kind is not Kind.VIDEO:
            return done("not_a_video")
        p = deps.policy
        late = transitions.overdue(creation, deps.clock(), p.start_timeout, p.max_queue_wait)
        if late is not None:
            return end_overdue(deps, creation, late)
        if task.step is Step.START:
            return _start(deps, creation)
        return _poll(deps, creation, task.seq)
    except (StoreUnavailable, StoreContention) as exc:
        return retry(f"store:{type(exc).__name__}")
    except QueueError as exc:
        return retry(f"queue:{exc.code}")
    except StorageError:
        events.emit("video.storage_failed", logging.WARNING, creationId=task.creation_id)
        return retry("storage_failed")


def end_and_refund(deps: Deps, creation: Creation, refund: Refund, detail: str) -> StepResult:
    """End the creation as `refund` says (failed or expired) and give the tokens back (once,
    whoever calls). `detail` (a provider's own words) goes to the log only; users see the
    sentence for the code."""
    try:
        result = deps.store.refund(creation.id, deps.clock(), refund)
    except CreationNotFound:
        return done("unknown_creation")
    if result.refunded_now:
        events.ended(result.creation, detail=detail)
    return done(f"{refund.ending}:{refund.code}")


def end_overdue(deps: Deps, creation: Creation, refund: Refund) -> StepResult:
    """End a creation `transitions.overdue` found late: expired, waited too long for the
    provider's quota, or its start lost."""
    if refund.ending is Ending.EXPIRED:
        return end_and_refund(deps, creation, refund, "generation did not finish in time")
    if refund.code == transitions.CAPACITY_CODE:
        return end_and_refund(deps, creation, refund, "waited too long for the generator")
    return end_and_refund(deps, creation, refund, "generation could not be started")


def _start(deps: Deps, creation: Creation) -> StepResult:
    if creation.status is Status.PROCESSING:
        return _already_claimed(deps, creation)
    claim_id = uuid.uuid4().hex
    now = deps.clock()
    creation, won = deps.store.update_creation(
        creation.id, lambda c: transitions.claim(c, claim_id, now)
    )
    if not won:
        return done(f"already_{creation.status}") if creation.is_terminal else retry("claimed")

    try:
        operation, route = _start_on_a_route(deps, creation)
    except GenerationError as exc:
        if not exc.transient:
            return end_and_refund(
                deps, creation, Refund(exc.code), exc.message or "generation was refused"
            )
        if not exc.not_started:
            # It may have started (a timeout, a 5xx): never start again. The claim stays; the
            # next delivery fails and refunds the creation after the start timeout.
            events.emit("video.start_uncertain", logging.WARNING, creationId=creation.id)
            return retry(f"generator:{exc.code}")
        # Refused before it ran (the provider's quota: 429 RESOURCE_EXHAUSTED, or no
        # connection): the video waits for its turn again. The claim is given back and the
        # queue retries this start on its backoff (the start queue's pace holds the retries
        # too); nothing counts against the user until MAX_QUEUE_WAIT_SECONDS (`overdue`).
        deps.store.update_creation(
            creation.id, lambda c: transitions.release_claim(c, claim_id, deps.clock())
        )
        events.emit(
            "video.start_deferred",
            logging.WARNING if exc.code == RATE_LIMITED else logging.INFO,
            creationId=creation.id,
            code=exc.code,
        )
        return retry(f"generator:{exc.code}")

    try:
        creation, recorded = deps.store.update_creation(
            creation.id,
            lambda c: transitions.record_operation(
                c,
                claim_id,
                operation,
                deps.clock(),
                deps.policy.video_deadline,
                model=route.model if route else None,
                location=route.location if route else None,
            ),
        )
    except (StoreUnavailable, StoreContention):
        # The operation runs but may not be recorded: it is never started again (at most one per
        # creation); the next delivery finds no operation and fails + refunds after the
        # start timeout. The name is logged so that an operator can find it.
        events.emit(
            "video.operation_unrecorded",
            logging.ERROR,
            creationId=creation.id,
            operationName=operation,
        )
        raise
    if not recorded:
        # The creation was ended meanwhile (failed and refunded, e.g. past its start timeout):
        # it stays ended. The operation runs unwatched; its name is logged for operators.
        events.emit(
            "video.operation_orphaned",
            logging.ERROR,
            creationId=creation.id,
            operationName=operation,
            status=str(creation.status),
        )
        return done(f"already_{creation.status}")
    events.emit("video.started", creationId=creation.id, operationName=operation)
    return _schedule_poll(deps, creation, first_poll_seq(0))


def _start_on_a_route(deps: Deps, creation: Creation) -> tuple[str, VideoRoute | None]:
    """Start the generation on the first route that takes it (Policy.routes_for: the primary,
    then the fallbacks whose price is not above what was charged). Only a 429 moves on to
    the next route: it proves that nothing was started, so a creation still gets at most one
    operation (the claim is held throughout). Any other error, or the last route's 429,
    is raised as it came."""
    spec = VideoSpec.from_creation(creation)
    routes: list[VideoRoute | None] = [*deps.policy.routes_for(creation.cost)] or [None]
    for n, route in enumerate(routes):
        try:
            return deps.videos.start(spec, route), route
        except GenerationError as exc:
            refused = exc.transient and exc.not_started and exc.code == RATE_LIMITED
            if not refused or n == len(routes) - 1 or route is None:
                raise
            following = routes[n + 1]
            assert following is not None
            events.emit(
                "video.start_failover",
                creationId=creation.id,
                model=route.model,
                location=route.location,
                nextModel=following.model,
                nextLocation=following.location,
            )
    raise AssertionError("unreachable: the last route returns or raises")


def _already_claimed(deps: Deps, creation: Creation) -> StepResult:
    """A start for a creation that some delivery claimed before. Whoever claimed it may have
    died between claiming and recording an operation: past the start timeout, `run_step`
    ended it (`transitions.overdue`); until then, the start may still be running."""
    if creation.operation_name:
        # Generation runs: make sure its poll chain exists (a named task: no duplicate).
        return _schedule_poll(deps, creation, first_poll_seq(0))
    return retry("start_in_progress")


def _poll(deps: Deps, creation: Creation, seq: int) -> StepResult:
    if creation.status is Status.PENDING or not creation.operation_name:
        return _start(deps, creation)
    try:
        status = deps.videos.poll(creation.operation_name)
    except GenerationError as exc:
        if exc.transient:
            return retry(f"generator:{exc.code}")
        return end_and_refund(deps, creation, Refund(exc.code), exc.message or "generation failed")

    if not status.done:
        # Judged on the copy read at the start of this step first: most polls write nothing.
        if transitions.touch_progress(creation, status.progress, deps.clock()) is not None:
            deps.store.update_creation(
                creation.id, lambda c: transitions.touch_progress(c, status.progress, deps.clock())
            )
        return _schedule_poll(deps, creation, seq + 1)
    if status.media is None:
        code = status.error_code or "generation_failed"
        detail = status.error_message or "generation failed"
        return end_and_refund(deps, creation, Refund(code), detail)

    media_key = video_key(creation.user_id, creation.id, status.media.extension)
    deps.media.put(media_key, status.media)
    creation, changed = deps.store.update_creation(
        creation.id, lambda c: transitions.complete(c, media_key, deps.clock())
    )
    if changed:
        events.emit(
            "video.completed",
            creationId=creation.id,
            userId=creation.user_id,
            latencyMs=int((creation.updated_at - creation.created_at).total_seconds() * 1000),
        )
    return done(str(creation.status))


def _schedule_poll(deps: Deps, creation: Creation, seq: int) -> StepResult:
    p = deps.policy
    deps.queue.enqueue(poll_task(creation.id, seq, p.poll_initial_seconds, p.poll_max_seconds))
    return done(f"poll_scheduled:{seq}")
