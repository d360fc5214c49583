"""Playing time and Cloud Tasks for the unit tests: a clock that moves only when told, and a
loop that delivers every queued step the way Cloud Tasks would (tests/fakes/queue.py: the
names, and the retries of terraform/queue.tf's policy)."""

from __future__ import annotations

import heapq
import itertools
from datetime import UTC, datetime, timedelta

from shared.bootstrap import Container
from shared.domain.step_tasks import StepTask
from shared.services.video_steps import run_step
from tests.fakes.queue import FakeQueue

EPOCH = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def seconds(self) -> float:
        """Seconds since EPOCH: the simulated queue's clock."""
        return (self.now - EPOCH).total_seconds()


def simulated_queue(name: str, clock: Clock) -> FakeQueue:
    """The simulated Cloud Tasks on this clock (names kept, retries by the queue's policy)."""
    return FakeQueue(name, now=clock.seconds)


def deliver_all(deps: Container, clock: Clock, max_steps: int = 200) -> list[str]:
    """Play Cloud Tasks: run every queued step when it is due, until none is left. A step
    answering 503 is tried again after the queue's backoff, or given up past its retry
    window ("dropped"), as Cloud Tasks would. Returns the outcomes."""
    queue = deps.queue
    assert isinstance(queue, FakeQueue)
    order = itertools.count()
    # (due, order, task, failures so far, first attempt), on the clock's seconds
    due: list[tuple[float, int, StepTask, int, float]] = []
    outcomes: list[str] = []
    for _ in range(max_steps):
        for task in queue.take():
            at = clock.seconds() + max(task.delay_seconds, 0.001)
            heapq.heappush(due, (at, next(order), task, 0, at))
        if not due:
            return outcomes
        at, _, task, failures, first = heapq.heappop(due)
        clock.advance(max(0.0, at - clock.seconds()))
        result = run_step(deps, task)
        outcomes.append(result.outcome)
        if result.retry:
            again = queue.next_attempt(failures + 1, first)
            if again is None:
                outcomes.append("dropped")
                continue
            retried = StepTask(task.creation_id, task.step, task.seq)
            heapq.heappush(due, (again, next(order), retried, failures + 1, first))
    raise AssertionError(f"still running after {max_steps} steps: {outcomes[-5:]}")
