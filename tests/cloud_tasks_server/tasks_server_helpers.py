"""Helpers for the local Cloud Tasks server tests: names, task builders and what tests ask of
a task's life. The receiver that records deliveries is tests/servers/receiver.py; polling is
tests/waiting.py."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from typing import TypeVar

from google.api_core import exceptions as gexc
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

from tests.servers.receiver import Receiver
from tests.waiting import wait_for

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


def task_exists(client: tasks_v2.CloudTasksClient, name: str) -> bool:
    """GetTask, as the application asks after an ambiguous CreateTask: is the task there?"""
    try:
        client.get_task(name=name)
    except gexc.NotFound:
        return False
    return True


def run_named_task(client: tasks_v2.CloudTasksClient, receiver: Receiver, name: str) -> str:
    """Create the named task, due now, and wait until it was delivered (a 200) and has left
    its queue's listing; returns its URL."""
    queue = name.rsplit("/tasks/", 1)[0]
    path = f"/{unique('run')}"
    client.create_task(parent=queue, task=http_task(receiver.url(path), name))
    wait_for(lambda: receiver.got(path))
    wait_for(lambda: name not in {task.name for task in client.list_tasks(parent=queue)})
    return receiver.url(path)
