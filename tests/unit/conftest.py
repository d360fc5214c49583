"""Fixtures for the fast unit tests: the services wired to in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.bootstrap import Container
from shared.config import settings_from_env
from shared.domain.step_tasks import StepTask
from shared.services.queue_health import QueueHealth
from shared.services.video_steps import run_step
from tests.fakes import FakeImages, FakeMedia, FakeQueue, FakeVideos, InMemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock, tmp_path) -> Container:
    settings = settings_from_env(
        {"APP_ENV": "local", "LOCAL_STATE_DIR": str(tmp_path), "QUEUE_HEALTH_TTL_SECONDS": "0"}
    )
    queue = FakeQueue(settings.queue_path)
    return Container(
        settings,
        clock=clock,
        store=InMemoryStore(),
        queue=queue,
        queue_health=QueueHealth(queue, ttl_seconds=0),
        videos=FakeVideos(),
        images=FakeImages(),
        task_auth=None,
        media=FakeMedia(),
        identity=DevIdentityVerifier(settings.admin_uids),
    )


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


@pytest.fixture
def api_client(deps: Container):
    """The api's HTTP interface, built from the fakes."""
    from functions.api import create_app

    return create_app(deps).test_client()


@pytest.fixture
def worker_client(deps: Container):
    """The worker's HTTP interface, built from the fakes."""
    from functions.worker import create_app

    return create_app(deps).test_client()
