"""Playing time and Cloud Tasks for the unit tests: a clock that moves only when told, and a
loop that delivers every queued step the way Cloud Tasks would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.bootstrap import Container
from shared.domain.step_tasks import StepTask
from shared.services.video_steps import run_step


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def deliver_all(deps: Container, clock: Clock, max_steps: int = 200) -> list[str]:
    """Play Cloud Tasks: run every queued step (waiting out its delay) until none is left.
    A step answering 503 is put back and retried after 10 s. Returns the outcomes."""
    outcomes: list[str] = []
    pending: list[StepTask] = []
    for _ in range(max_steps):
        pending += deps.queue.take()
        if not pending:
            return outcomes
        task = pending.pop(0)
        clock.advance(max(task.delay_seconds, 0.001))
        result = run_step(deps, task)
        outcomes.append(result.outcome)
        if result.retry:
            clock.advance(10)
            pending.append(StepTask(task.creation_id, task.step, task.seq))
    raise AssertionError(f"still running after {max_steps} steps: {outcomes[-5:]}")
