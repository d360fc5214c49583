"""The end-to-end tests run against the whole local stack, over HTTP, as the app would."""

from __future__ import annotations

import functools
import time

import httpx
import pytest

from devtools.stack import LocalStack, Ports
from tests import waiting

# Fast timings so a "generation" takes a second and polls come every half second.
STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
    "QUEUE_HEALTH_TTL_SECONDS": "8",
    # The emulator on a busy 2-core machine can pause for seconds; production keeps 5 s.
    "STORE_DEADLINE_SECONDS": "30",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    with LocalStack(
        ports=Ports.free(),
        state_dir=tmp_path_factory.mktemp("stack"),
        settings=STACK_SETTINGS,
        quiet=True,  # the output of each process is in <state_dir>/<name>.log
    ) as running:
        yield running


@pytest.fixture
def http(stack: LocalStack) -> httpx.Client:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


# The whole stack answers more slowly than one server: a longer deadline, a calmer pace.
wait_for = functools.partial(waiting.wait_for, timeout=60, interval=0.2)


def user(name: str) -> dict[str, str]:
    """A fresh dev identity per test, so that balances never mix."""
    return {"Authorization": f"Bearer dev:{name}-{time.monotonic_ns()}"}
