"""Fixtures for the local Cloud Tasks server tests: one server (a real subprocess, used
through the real client) and one receiver, shared by the session."""

from __future__ import annotations

import pytest
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.runner import CloudTasksServer
from tests.cloud_tasks_server.tasks_server_helpers import CONFIG_QUEUE, LOCATION, unique
from tests.servers.receiver import Receiver


@pytest.fixture(scope="session")
def receiver():
    server = Receiver()
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def server():
    """One server for most tests: short minimum dispatch deadline, one configured queue."""
    with CloudTasksServer(
        queues=[CONFIG_QUEUE], extra_args=["--min-dispatch-deadline", "0.5"]
    ) as running:
        yield running


@pytest.fixture(scope="session")
def client(server) -> tasks_v2.CloudTasksClient:
    return server.client()


@pytest.fixture
def make_queue(client):
    """Create a queue of a unique name with the given rate limits and retry config."""

    def make(
        rate_limits: tasks_v2.RateLimits | None = None,
        retry_config: tasks_v2.RetryConfig | None = None,
    ) -> str:
        name = f"{LOCATION}/queues/{unique('q')}"
        queue = tasks_v2.Queue(name=name)
        if rate_limits is not None:
            queue.rate_limits = rate_limits
        if retry_config is not None:
            queue.retry_config = retry_config
        client.create_queue(parent=LOCATION, queue=queue)
        return name

    return make
