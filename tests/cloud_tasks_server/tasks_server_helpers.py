"""Helpers for the local Cloud Tasks server tests: names and task builders. The receiver that
records deliveries is tests/servers/receiver.py; polling is tests/waiting.py."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import TypeVar

from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

PROJECT = "test-project"
LOCATION = f"projects/{PROJECT}/locations/us-central1"
CONFIG_QUEUE = f"{LOCATION}/queues/from-config"
T = TypeVar("T")
_ids = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 10**9}"


def http_task(
    url: str,
    name: str | None = None,
    *,
    delay: float = 0.0,
    body: bytes = b"{}",
    deadline: float | None = None,
    headers: dict[str, str] | None = None,
) -> tasks_v2.Task:
    task = tasks_v2.Task(
        http_request=tasks_v2.HttpRequest(
            url=url,
            http_method=tasks_v2.HttpMethod.POST,
            headers=headers or {"Content-Type": "application/json"},
            body=body,
        )
    )
    if name:
        task.name = name
    if delay:
        task.schedule_time = time_in(delay)
    if deadline is not None:
        task.dispatch_deadline = timedelta(seconds=deadline)
    return task


def time_in(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int((time.time() + seconds) * 1e9))
    return stamp
