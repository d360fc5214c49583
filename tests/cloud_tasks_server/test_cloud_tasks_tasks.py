"""Task RPCs of the local Cloud Tasks server: CRUD, names, de-duplication, views, RunTask."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.runner import CloudTasksServer
from tests.cloud_tasks_server.tasks_server_helpers import (
    LOCATION,
    http_task,
    run_named_task,
    task_exists,
    time_in,
    unique,
)
from tests.servers.receiver import Reply
from tests.waiting import wait_for

View = tasks_v2.Task.View


def test_create_get_list_delete(client, make_queue, receiver):
    queue = make_queue()
    url = receiver.url("/crud")
    name = f"{queue}/tasks/{unique('crud')}"
    before = time.time()
    created = client.create_task(parent=queue, task=http_task(url, name, delay=3600))
    assert created.name == name
    assert created.view == View.BASIC
    assert created.http_request.url == url
    assert created.http_request.body == b""  # BASIC omits the body
    assert created.http_request.headers["Content-Type"] == "application/json"
    assert created.dispatch_count == 0 and created.response_count == 0
    assert before - 1 <= created.create_time.timestamp() <= time.time()
    assert abs(created.schedule_time.timestamp() - (before + 3600)) < 5
    assert created.dispatch_deadline == timedelta(minutes=10)

    full = client.get_task(request={"name": name, "response_view": View.FULL})
    assert full.view == View.FULL and full.http_request.body == b"{}"
    assert client.get_task(name=name).http_request.body == b""

    listed = list(client.list_tasks(request={"parent": queue, "response_view": View.FULL}))
    assert [t.name for t in listed] == [name]
    assert listed[0].http_request.body == b"{}"

    client.delete_task(name=name)
    with pytest.raises(gexc.NotFound):
        client.get_task(name=name)
    with pytest.raises(gexc.NotFound):
        client.delete_task(name=name)
    assert list(client.list_tasks(parent=queue)) == []


def test_list_tasks_pages(client, make_queue, receiver):
    queue = make_queue()
    names = [
        client.create_task(parent=queue, task=http_task(receiver.url("/p"), delay=3600)).name
        for _ in range(5)
    ]
    pages = list(client.list_tasks(request={"parent": queue, "page_size": 2}).pages)
    assert [len(page.tasks) for page in pages] == [2, 2, 1]
    assert [t.name for page in pages for t in page.tasks] == names
    with pytest.raises(gexc.NotFound):
        client.list_tasks(parent=f"{LOCATION}/queues/missing-queue")


def test_unnamed_tasks_get_generated_names(client, make_queue, receiver):
    queue = make_queue()
    first = client.create_task(parent=queue, task=http_task(receiver.url("/u"), delay=3600))
    second = client.create_task(parent=queue, task=http_task(receiver.url("/u"), delay=3600))
    for task in (first, second):
        prefix, _, task_id = task.name.rpartition("/tasks/")
        assert prefix == queue and task_id.isdigit() and len(task_id) >= 19
    assert first.name != second.name


@pytest.mark.parametrize(
    "task_id",
    ["has space", "dot.ted", "slash/ed", "x" * 501, "ünïcode"],
)
def test_invalid_task_names_are_invalid_argument(client, make_queue, receiver, task_id):
    queue = make_queue()
    with pytest.raises(gexc.InvalidArgument):
        client.create_task(
            parent=queue, task=http_task(receiver.url("/x"), f"{queue}/tasks/{task_id}")
        )


def test_valid_task_ids_of_every_allowed_kind(client, make_queue, receiver):
    queue = make_queue()
    for task_id in ["a", "A-b_C-9", "x" * 500]:
        name = f"{queue}/tasks/{task_id}"
        created = client.create_task(
            parent=queue, task=http_task(receiver.url("/x"), name, delay=3600)
        )
        assert created.name == name and client.get_task(name=name).name == name


def test_create_task_rejects_what_the_service_rejects(client, make_queue, receiver):
    queue = make_queue()
    other = make_queue()
    url = receiver.url("/r")
    with pytest.raises(gexc.InvalidArgument):  # the name is in another queue
        client.create_task(parent=queue, task=http_task(url, f"{other}/tasks/t1"))
    with pytest.raises(gexc.InvalidArgument):  # no http:// or https://
        client.create_task(parent=queue, task=http_task("ftp://example.com/x"))
    with pytest.raises(gexc.InvalidArgument):  # no host
        client.create_task(parent=queue, task=http_task("http:///path"))
    with pytest.raises(gexc.InvalidArgument):  # more than 30 days ahead
        client.create_task(parent=queue, task=http_task(url, delay=31 * 24 * 3600))
    with pytest.raises(gexc.InvalidArgument):  # a body on GET
        task = http_task(url)
        task.http_request.http_method = tasks_v2.HttpMethod.GET
        client.create_task(parent=queue, task=task)
    with pytest.raises(gexc.NotFound):  # no such queue
        client.create_task(parent=f"{LOCATION}/queues/missing-queue", task=http_task(url))


def test_dispatch_deadline_is_clamped_like_the_service(client, make_queue, receiver):
    queue = make_queue()
    url = receiver.url("/d")
    # This server runs with --min-dispatch-deadline 0.5 (the service and default: 15 s).
    short = client.create_task(parent=queue, task=http_task(url, delay=3600, deadline=0.1))
    assert short.dispatch_deadline == timedelta(seconds=0.5)
    long = client.create_task(parent=queue, task=http_task(url, delay=3600, deadline=7200))
    assert long.dispatch_deadline == timedelta(minutes=30)
    ok = client.create_task(parent=queue, task=http_task(url, delay=3600, deadline=42))
    assert ok.dispatch_deadline == timedelta(seconds=42)


def test_a_pending_name_is_already_exists(client, make_queue, receiver):
    queue = make_queue()
    name = f"{queue}/tasks/{unique('dup')}"
    client.create_task(parent=queue, task=http_task(receiver.url("/dup"), name, delay=3600))
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task=http_task(receiver.url("/dup"), name))


def test_a_deleted_name_is_reserved(client, make_queue, receiver):
    queue = make_queue()
    name = f"{queue}/tasks/{unique('deleted')}"
    client.create_task(parent=queue, task=http_task(receiver.url("/del"), name, delay=3600))
    client.delete_task(name=name)
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task=http_task(receiver.url("/del"), name))


def test_an_executed_name_is_reserved(client, make_queue, receiver):
    queue = make_queue()
    name = f"{queue}/tasks/{unique('executed')}"
    url = run_named_task(client, receiver, name)
    with pytest.raises(gexc.NotFound):
        client.get_task(name=name)
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task=http_task(url, name))


def test_get_task_tells_whether_a_named_task_exists(client, make_queue, receiver):
    """What the application asks after an ambiguous CreateTask failure, in each state."""
    queue = make_queue()
    # Never created: NOT_FOUND, in an existing queue and in a missing one.
    assert not task_exists(client, f"{queue}/tasks/{unique('never')}")
    assert not task_exists(client, f"{LOCATION}/queues/missing-queue/tasks/never")

    # Pending: the task as CreateTask answered it.
    pending = f"{queue}/tasks/{unique('pending')}"
    created = client.create_task(
        parent=queue, task=http_task(receiver.url("/pending"), pending, delay=3600)
    )
    assert client.get_task(name=pending) == created

    # Being dispatched (the worker has not answered yet): there, its attempt counted.
    slow_path = f"/{unique('in-flight')}"
    receiver.script(slow_path, Reply(delay=60))
    in_flight = f"{queue}/tasks/{unique('in-flight')}"
    client.create_task(parent=queue, task=http_task(receiver.url(slow_path), in_flight))
    wait_for(lambda: receiver.got(slow_path))
    assert client.get_task(name=in_flight).dispatch_count == 1

    # Executed with success, so deleted: NOT_FOUND, while its name stays taken.
    executed = f"{queue}/tasks/{unique('executed')}"
    url = run_named_task(client, receiver, executed)
    assert not task_exists(client, executed)
    with pytest.raises(gexc.AlreadyExists):
        client.create_task(parent=queue, task=http_task(url, executed))


def test_a_reservation_expires_after_the_configured_time(receiver):
    queue = f"{LOCATION}/queues/short-reservation"
    with CloudTasksServer(queues=[queue], extra_args=["--name-reservation-seconds", "1"]) as server:
        client = server.client()
        name = f"{queue}/tasks/expiring"
        url = run_named_task(client, receiver, name)
        with pytest.raises(gexc.AlreadyExists):
            client.create_task(parent=queue, task=http_task(url, name))
        deleted = f"{queue}/tasks/deleted-then-expired"
        client.create_task(parent=queue, task=http_task(url, deleted, delay=60))
        client.delete_task(name=deleted)

        def recreated() -> bool:
            try:
                client.create_task(parent=queue, task=http_task(url, name, delay=3600))
                client.create_task(parent=queue, task=http_task(url, deleted, delay=3600))
            except gexc.AlreadyExists:
                return False
            return True

        wait_for(recreated, timeout=5, interval=0.2)


def test_schedule_time_in_the_past_is_now(client, make_queue, receiver):
    queue = make_queue()
    client.pause_queue(name=queue)
    task = http_task(receiver.url("/past"))
    task.schedule_time = time_in(-3600)
    created = client.create_task(parent=queue, task=task)
    assert abs(created.schedule_time.timestamp() - time.time()) < 5


def test_run_task_dispatches_now_even_in_a_paused_queue(client, make_queue, receiver):
    queue = make_queue()
    client.pause_queue(name=queue)
    path = f"/{unique('run')}"
    created = client.create_task(parent=queue, task=http_task(receiver.url(path), delay=3600))
    ran = client.run_task(name=created.name)
    assert ran.name == created.name and ran.dispatch_count == 1
    assert ran.first_attempt.dispatch_time.timestamp() > 0
    [delivery] = wait_for(lambda: receiver.got(path))
    assert delivery.headers["X-CloudTasks-TaskRetryCount"] == "0"
    wait_for(lambda: not list(client.list_tasks(parent=queue)))
    with pytest.raises(gexc.NotFound):
        client.run_task(name=created.name)
