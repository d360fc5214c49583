"""The end-to-end tests run against the whole local stack, over HTTP, as the app would."""

from __future__ import annotations

import httpx
import pytest

from devtools.stack import LocalStack
from tests.e2e.helpers import STACK_SETTINGS
from tests.stacks import quiet_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> LocalStack:
    with quiet_stack(tmp_path_factory.mktemp("stack"), STACK_SETTINGS) as running:
        yield running


@pytest.fixture
def http(stack: LocalStack) -> httpx.Client:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client
