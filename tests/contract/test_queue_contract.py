"""The TaskQueue port: one contract for the in-memory fake and the Cloud Tasks adapter.

The adapter runs through the real google-cloud-tasks client against the local Cloud Tasks
server (devtools/cloud_tasks_server), which de-duplicates task names like the service.
"""

from __future__ import annotations

import json
import time

import pytest

from devtools.cloud_tasks_server.runner import CloudTasksServer
from devtools.processes import free_port
from shared.adapters.cloud_tasks_queue import CloudTasksQueue, local_client
from shared.domain.errors import QueueError
from shared.domain.step_tasks import Step, StepTask
from shared.ports import QueueState
from tests.fakes import FakeQueue
from tests.servers.receiver import Receiver
from tests.waiting import wait_for

QUEUE = "projects/demo-creator/locations/us-central1/queues/contract"


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.shutdown()


WORKER_PATH = "/tasks/video"


@pytest.fixture(scope="module")
def tasks_server(tmp_path_factory):
    with CloudTasksServer(
        db_path=tmp_path_factory.mktemp("tasks") / "db.sqlite3", queues=[QUEUE]
    ) as server:
        yield server


def adapter(target: str, url: str, budget: float = 0.8, queue: str = QUEUE) -> CloudTasksQueue:
    return CloudTasksQueue(
        lambda: local_client(target),
        queue_path=queue,
        target_url=url,
        service_account="tasks-invoker@demo-creator.iam.gserviceaccount.com",
        audience=None,
        dispatch_deadline_seconds=60,
        budget_seconds=budget,
    )


@pytest.fixture(params=["memory", "cloud_tasks"])
def queue(request, receiver):
    if request.param == "memory":
        return FakeQueue(QUEUE)
    server = request.getfixturevalue("tasks_server")
    return adapter(server.grpc_target, receiver.url(WORKER_PATH))


def test_a_running_queue_reports_running(queue):
    info = queue.info()
    assert info.state is QueueState.RUNNING and info.name == QUEUE


def test_the_same_step_enqueued_twice_makes_one_task(queue):
    step = StepTask(f"c{time.monotonic_ns()}", Step.POLL, 3, delay_seconds=3600)
    queue.enqueue(step)
    queue.enqueue(step)  # AlreadyExists is success

    assert queue.delete(step) is True  # there was one ...
    assert queue.delete(step) is False  # ... and only one


def test_a_task_is_waiting_until_it_is_deleted(queue):
    step = StepTask(f"w{time.monotonic_ns()}", Step.START, delay_seconds=3600)
    assert queue.waiting(step) is False  # never created
    queue.enqueue(step)
    assert queue.waiting(step) is True
    queue.delete(step)
    assert queue.waiting(step) is False


def test_a_paused_queue_holds_its_tasks_and_resumes(queue):
    assert queue.pause().state is QueueState.PAUSED
    assert queue.info().state is QueueState.PAUSED
    assert queue.resume().state is QueueState.RUNNING


def test_a_task_that_already_ran_keeps_its_name_so_enqueueing_it_again_succeeds(
    tasks_server, receiver
):
    """What an ambiguous enqueue failure relies on: the same named task again answers
    ALREADY_EXISTS (a success) even after the first one was delivered and deleted."""
    step = StepTask(f"r{time.monotonic_ns()}", Step.START)
    queue = adapter(tasks_server.grpc_target, receiver.url(WORKER_PATH))
    queue.enqueue(step)
    wait_for(
        lambda: [d for d in receiver.got(WORKER_PATH) if json.loads(d.body) == step.payload()],
        timeout=20,
    )
    queue.enqueue(step)  # no error: the name is still reserved
    names = [t.name for t in tasks_server.client().list_tasks(parent=QUEUE)]
    assert f"{QUEUE}/tasks/{step.task_id}" not in names  # and nothing new was queued


def test_a_task_is_delivered_as_a_json_post_with_an_oidc_token(tasks_server, receiver):
    step = StepTask(f"d{time.monotonic_ns()}", Step.START)
    adapter(tasks_server.grpc_target, receiver.url(WORKER_PATH)).enqueue(step)

    def delivered():
        return [d for d in receiver.got(WORKER_PATH) if json.loads(d.body) == step.payload()]

    [delivery] = wait_for(delivered, timeout=20)
    headers = delivery.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-CloudTasks-TaskName"] == step.task_id
    assert headers["Authorization"].startswith("Bearer ")


def test_a_missing_queue_is_queue_not_found(tasks_server, receiver):
    missing = adapter(tasks_server.grpc_target, receiver.url(WORKER_PATH), queue=QUEUE + "-missing")
    with pytest.raises(QueueError) as error:
        missing.enqueue(StepTask("x1", Step.START))
    assert error.value.code == "queue_not_found"
    with pytest.raises(QueueError):
        missing.info()


def test_a_paused_queue_reports_paused(tasks_server, receiver):
    client = tasks_server.client()
    client.pause_queue(name=QUEUE)
    try:
        assert (
            adapter(tasks_server.grpc_target, receiver.url(WORKER_PATH)).info().state
            is QueueState.PAUSED
        )
    finally:
        client.resume_queue(name=QUEUE)


def test_a_server_that_is_down_is_queue_unavailable(receiver):
    """(How fast it answers is measured by benchmarks/, not asserted here.)"""
    down = adapter(f"127.0.0.1:{free_port()}", receiver.url(WORKER_PATH))
    for _ in range(3):  # the first call, and the ones on a channel already failing
        with pytest.raises(QueueError) as error:
            down.enqueue(StepTask("y1", Step.START))
        assert error.value.code == "queue_unavailable"
        assert error.value.ambiguous and error.value.unreachable
