"""Every failure of the queue adapter gets a code that says what happened (issue 17: one
submit during an outage failed as `queue_error`, an exception the adapter did not classify,
and the gate closed only one failure later). The real adapter and client, against the local
Cloud Tasks server; the gate is the real QueueHealth."""

from __future__ import annotations

import logging

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as gauth

from devtools.cloud_tasks_server.runner import CloudTasksServer
from shared.adapters.cloud_tasks_queue import CloudTasksQueue, local_client, queue_error
from shared.domain.step_tasks import Step, StepTask
from shared.services.queue_health import QueueHealth

QUEUE = "projects/demo-creator/locations/us-central1/queues/errors"


@pytest.fixture(scope="module")
def tasks_server():
    with CloudTasksServer(queues=[QUEUE]) as running:
        yield running


def adapter(target: str) -> CloudTasksQueue:
    return CloudTasksQueue(
        lambda: local_client(target),
        queue_path=QUEUE,
        target_url="http://127.0.0.1:9/tasks/video",
        service_account=None,
        audience=None,
        dispatch_deadline_seconds=60,
        budget_seconds=0.8,
    )


def events(caplog, name: str) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "event", None) == name]


def test_a_closed_channel_is_unavailable_closes_the_gate_and_the_next_call_reconnects(
    tasks_server, caplog
):
    queue = adapter(tasks_server.grpc_target)
    gate = QueueHealth(queue, ttl_seconds=60)
    assert gate.check().ok
    queue.client.transport.close()  # what a client torn down under a call leaves
    caplog.set_level(logging.INFO, logger="creator.events")

    with pytest.raises(Exception) as failed:
        queue.enqueue(StepTask("closed", Step.START, 0, 3600))
    error = failed.value
    assert error.code == "queue_unavailable"  # was "queue_error"
    assert events(caplog, "queue.call_failed") == [
        {
            "rpc": "CreateTask",
            "queueErrorCode": "queue_unavailable",
            "errorType": "builtins.ValueError",
        }
    ]
    gate.report_failure(error)
    assert gate.check().status == "unavailable"  # closed at the first failure

    queue.enqueue(StepTask("closed", Step.START, 0, 3600))  # a new channel, no restart
    assert queue.info().name == QUEUE


@pytest.mark.parametrize(
    "raised, code",
    [
        (grpc.FutureTimeoutError(), "queue_deadline_exceeded"),
        (TimeoutError("timed out"), "queue_deadline_exceeded"),
        (gauth.TransportError("metadata server unreachable"), "queue_unavailable"),
        (gauth.RefreshError("no token", retryable=True), "queue_unavailable"),
        (gauth.RefreshError("account disabled"), "queue_unauthenticated"),
        (ConnectionRefusedError(111, "Connection refused"), "queue_unavailable"),
        (OSError(101, "Network is unreachable"), "queue_unavailable"),
        (ValueError("Cannot invoke RPC on closed channel!"), "queue_unavailable"),
        (gexc.Unknown("Stream removed"), "queue_unavailable"),
        (gexc.Cancelled("Channel closed"), "queue_unavailable"),
        (gexc.Aborted("aborted"), "queue_unavailable"),
        (gexc.GatewayTimeout("504"), "queue_deadline_exceeded"),
        (gexc.RetryError("budget", gexc.Unknown("Stream removed")), "queue_unavailable"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
def test_outage_failures_raised_outside_the_status_mapping_are_classified(raised, code):
    error = queue_error(raised)
    assert error.code == code
    assert error.unreachable is (code in ("queue_unavailable", "queue_deadline_exceeded"))


def test_what_is_still_unclassified_names_its_type(tasks_server, caplog):
    error = queue_error(KeyError("surprise"))
    assert (error.code, error.message) == ("queue_error", "KeyError")
