"""The operator's view: the queue, pausing and resuming it, and what happened lately.

The overview reads the last hour's creations in short form (no prompts) for the hour and
the per-minute chart; of the day, the store counts all and the drafts, and the others are
read to count them by outcome. It is cached for a
few seconds per instance, so a dashboard left open by several operators costs one read of
the day per period. Counts are of the creations submitted in each window, by the state they
are in now. Production's figures over longer periods live in Cloud Monitoring (terraform/).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared import events
from shared.domain.creation import TERMINAL, CreationSummary, Status
from shared.domain.errors import QueueError, StoreUnavailable
from shared.domain.ledger import MOVEMENTS, EntryType
from shared.ports import EntryTotals, QueueChange, QueueState
from shared.services.queue_health import QueueHealthReport
from shared.services.queue_position import Starts, start_line

if TYPE_CHECKING:
    from shared.services.deps import Deps

DAY_LIMIT = 20_000  # creations read for the day's figures (the overview says when it was cut)
STUCK_LIMIT = 50
FAILURES_LIMIT = 20
OVERVIEW_TTL_SECONDS = 5.0
READERS = 8  # the overview's reads sent at once (of its 13)


@dataclass
class Window:
    submitted: int = 0
    drafts: int = 0
    in_flight: int = 0
    enqueue_failed: Counter[str] = field(default_factory=Counter)
    refunded: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def add(self, c: CreationSummary) -> None:
        self.submitted += 1
        if c.status is Status.DRAFT:
            self.drafts += 1
        elif c.status not in TERMINAL:
            self.in_flight += 1
        if c.queue_error_code:
            self.enqueue_failed[c.queue_error_code] += 1
        if c.refunded:
            self.refunded[c.error_code or "unknown"] += 1
        if c.status is Status.FAILED:
            self.failed[c.error_code or "unknown"] += 1


@dataclass
class Minute:
    minute: datetime
    submitted: int = 0
    enqueue_failed: int = 0
    refunded: int = 0
    drafts: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Stuck:
    creation: CreationSummary
    stuck_for_seconds: int


@dataclass(frozen=True)
class Overview:
    generated_at: datetime
    queue: QueueHealthReport
    last_change: QueueChange | None
    hour: Window
    day: Window
    per_minute: list[Minute]
    stuck: list[Stuck]
    latest_failures: list[CreationSummary]
    truncated: bool  # the day had more creations than were read
    # The day's grants, credits and adjustments: counted and summed by the store (no ledger
    # read); a grant is an operator's or an account's starting grant.
    movements: dict[EntryType, EntryTotals] = field(default_factory=dict)
    starts: Starts | None = None


class OverviewCache:
    """One overview per instance at a time, kept OVERVIEW_TTL_SECONDS, and never older than
    this instance's last pause or resume: `invalidate()` drops it, and an overview that was
    being made while the queue changed is answered to its own caller but never kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, Overview] | None = None
        self._generation = 0  # bumped by invalidate(), read without the lock

    def get(self, deps: Deps, fresh: bool = False) -> Overview:
        with self._lock:
            cached = self._cached
            if cached and not fresh and time.monotonic() - cached[0] < OVERVIEW_TTL_SECONDS:
                return cached[1]
            generation = self._generation
            made = overview(deps)
            if generation == self._generation:
                self._cached = (time.monotonic(), made)
            return made

    def invalidate(self) -> None:
        """The queue just changed: the next overview is made afresh. Does not wait for an
        overview being made (it is not kept)."""
        self._generation += 1
        self._cached = None


def overview(deps: Deps) -> Overview:
    """The last hour is read whole (it feeds the per-minute chart); of the day, the store
    counts the creations and the drafts, and only the others (failed, cancelled, in flight:
    the ones whose codes are shown) are read.

    Its 13 reads (the store's, and the queue's state) do not depend on one another: they are
    sent together, so the overview waits about as long as its slowest read, not their sum.
    Any that fails fails the overview, as one after another did."""
    now = deps.clock()
    day_start = now - timedelta(days=1)
    not_drafts = tuple(s for s in Status if s is not Status.DRAFT)
    q = deps.queries
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="overview") as pool:
        hour_read = pool.submit(q.recent_creations, now - timedelta(hours=1), DAY_LIMIT)
        day_read = pool.submit(q.recent_creations, day_start, DAY_LIMIT, not_drafts)
        submitted = pool.submit(q.count_creations, day_start)
        drafts = pool.submit(q.count_creations, day_start, Status.DRAFT)
        stale = pool.submit(q.stale_creations, now - deps.policy.stale_after, STUCK_LIMIT)
        queue = pool.submit(deps.queue_health.check)
        last_change = pool.submit(q.last_queue_change)
        failures = pool.submit(q.latest_failures, FAILURES_LIMIT)
        totals = {t: pool.submit(q.entry_totals, day_start, t) for t in MOVEMENTS}
        starts = pool.submit(start_line, deps, now)
        hour_recent, day_rest = hour_read.result(), day_read.result()
        hour, day = Window(), Window()
        start = (now - timedelta(minutes=59)).replace(second=0, microsecond=0)
        minutes = [Minute(start + timedelta(minutes=n)) for n in range(60)]
        for c in hour_recent:
            hour.add(c)
            index = int((c.created_at - start).total_seconds() // 60)
            if 0 <= index < len(minutes):
                _count_minute(minutes[index], c)
        for c in day_rest:
            day.add(c)
        day.submitted = submitted.result()
        day.drafts = drafts.result()
        return Overview(
            generated_at=now,
            queue=queue.result(),
            last_change=last_change.result(),
            hour=hour,
            day=day,
            per_minute=minutes,
            stuck=[
                Stuck(CreationSummary.of(c), int((now - c.updated_at).total_seconds()))
                for c in stale.result()
            ],
            latest_failures=failures.result(),
            truncated=max(len(hour_recent), len(day_rest)) >= DAY_LIMIT,
            movements={t: read.result() for t, read in totals.items()},
            starts=starts.result(),
        )


def _count_minute(m: Minute, c: CreationSummary) -> None:
    m.submitted += 1
    m.enqueue_failed += bool(c.queue_error_code)
    m.refunded += c.refunded
    m.drafts += c.status is Status.DRAFT
    m.failed += c.status is Status.FAILED


class QueueUnchanged(Exception):
    """A pause of a paused queue, or a resume of a running one: nothing done, nothing
    recorded (functions/errors.py: 409 `queue_unchanged`)."""

    def __init__(self, action: str, state: QueueState) -> None:
        super().__init__(f"{action}: the queue is {state.value} already")
        self.action = action
        self.state = state


class QueueChangeFailed(Exception):
    """An operator's pause or resume that failed: `applied` says whether the queue took it,
    `recorded` whether who and why were kept (functions/errors.py: 503
    `queue_change_failed`, an operator's sentence)."""

    def __init__(self, action: str, code: str, *, applied: bool, recorded: bool) -> None:
        super().__init__(f"{action}: {code}")
        self.action = action
        self.code = code
        self.applied = applied
        self.recorded = recorded


def set_queue(
    deps: Deps, action: str, operator: str, reason: str
) -> tuple[QueueHealthReport, QueueChange]:
    """Pause or resume the queue, remember who did it, when and why, and set the gate of
    this instance from the state the queue answered (others see it within
    QUEUE_HEALTH_TTL_SECONDS). Refuses (QueueUnchanged) a change that would change nothing:
    it is not recorded either."""
    target = QueueState.PAUSED if action == "pause" else QueueState.RUNNING
    try:
        if deps.queue.info().state is target:
            raise QueueUnchanged(action, target)
        info = deps.queue.pause() if action == "pause" else deps.queue.resume()
    except QueueError as exc:
        deps.queue_health.report_failure(exc)
        raise QueueChangeFailed(action, exc.code, applied=False, recorded=False) from exc
    report = deps.queue_health.observe(info)
    change = QueueChange(action, operator, deps.clock(), reason)
    try:
        deps.store.record_queue_change(change)
    except StoreUnavailable as exc:
        events.emit(
            f"queue.{action}d", logging.WARNING, userId=operator, reason=reason, recorded=False
        )
        raise QueueChangeFailed(action, "store_unavailable", applied=True, recorded=False) from exc
    events.emit(f"queue.{action}d", userId=operator, reason=reason)
    return report, change
