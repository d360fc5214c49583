"""Fixtures of the local stack's tests: make dev runs that never outlive a test, and ports
held by someone else."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devtools.processes import free_port
from devtools.stack import Ports
from tests.devtools.dev_run import DevRun


@pytest.fixture
def make_dev(tmp_path):
    """A factory of make dev runs; each is stopped (and checked for leftovers) at the end."""
    runs: list[DevRun] = []

    def make(state_dir: Path | None = None, ports: Ports | None = None, **env: str) -> DevRun:
        run = DevRun(state_dir or tmp_path / "state", ports or Ports.free(), **env)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.cleanup()


@pytest.fixture
def taken_port():
    """A port held by a listening socket (another program, another stack)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", free_port()))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()
