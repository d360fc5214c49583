"""Fixtures for the fast unit tests: the services wired to in-memory fakes."""

from __future__ import annotations

import pytest

from shared.bootstrap import Container
from tests.fakes.container import fake_container
from tests.unit.simulation import Clock, simulated_queue


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock, tmp_path) -> Container:
    return fake_container(tmp_path, clock=clock, queue=lambda path: simulated_queue(path, clock))


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
