"""The end-to-end tests run against the whole local stack, over HTTP, as the app would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest

from devtools.processes import free_port
from devtools.stack import LocalStack, Ports

T = TypeVar("T")

# Fast timings so a "generation" takes a second and polls come every half second.
STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "8",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    ports = Ports(*(free_port() for _ in range(5)))
    with LocalStack(
        ports=ports,
        state_dir=tmp_path_factory.mktemp("stack"),
        settings=STACK_SETTINGS,
        quiet=True,
    ) as running:
        yield running


@pytest.fixture
def http(stack: LocalStack) -> httpx.Client:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


def wait_for(probe: Callable[[], T | None], deadline: float = 60, every: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not reached within {deadline}s; last value: {value!r}")
        time.sleep(every)


def user(name: str) -> dict[str, str]:
    """A fresh dev identity per test, so that balances never mix."""
    return {"Authorization": f"Bearer dev:{name}-{time.monotonic_ns()}"}
