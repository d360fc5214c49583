"""Fixtures for the fast unit tests: the services wired to in-memory fakes."""

from __future__ import annotations

import pytest

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.bootstrap import Container
from shared.config import settings_from_env
from shared.services.queue_health import QueueHealth
from tests.fakes import FakeImages, FakeMedia, FakeVideos, InMemoryStore
from tests.unit.simulation import Clock, simulated_queue


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock, tmp_path) -> Container:
    settings = settings_from_env(
        {"APP_ENV": "local", "LOCAL_STATE_DIR": str(tmp_path), "QUEUE_HEALTH_TTL_SECONDS": "0"}
    )
    queue = simulated_queue(settings.queue_path, clock)
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
