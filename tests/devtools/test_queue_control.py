"""make queue-down / make queue-up: this stack's Cloud Tasks server only, checked by pid and
start time first; the queue comes back with the tasks it had."""

from __future__ import annotations

import subprocess
import sys

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.runner import client_for
from devtools.processes import process_start, read_pid_file, write_pid_file
from devtools.stack import QueueControlError, queue_down, queue_up, running_tasks_server
from tests.devtools.dev_run import task_for_later
from tests.waiting import wait_for

QUEUE = "projects/demo-creator/locations/us-central1/queues/video-generation"


@pytest.fixture
def bystander():
    """A live process that is not a Cloud Tasks server (it waits on its stdin)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield process
    process.stdin.close()
    process.wait(30)


def test_a_pid_file_names_one_process_for_good(tmp_path, bystander):
    pid_file = tmp_path / "x.pid"
    write_pid_file(pid_file, bystander.pid)
    assert read_pid_file(pid_file) == bystander.pid
    assert read_pid_file(pid_file, ["-c", "sys.stdin.read()"]) == bystander.pid
    assert read_pid_file(pid_file, ["devtools.cloud_tasks_server"]) is None

    pid_file.write_text(f'{{"pid": {bystander.pid}, "start": "another process"}}')
    assert read_pid_file(pid_file) is None  # the same pid, reused by a later process

    write_pid_file(pid_file, bystander.pid)
    bystander.stdin.close()
    bystander.wait(30)
    assert process_start(bystander.pid) is None
    assert read_pid_file(pid_file) is None


def test_queue_down_refuses_a_pid_that_is_not_this_stack_s_server(tmp_path, bystander):
    write_pid_file(tmp_path / "run" / "tasks.pid", bystander.pid)

    with pytest.raises(QueueControlError, match="no Cloud Tasks server of the stack"):
        queue_down(tmp_path)

    assert bystander.poll() is None  # untouched
    assert not (tmp_path / "run" / "queue-down").exists()


def test_queue_up_needs_a_running_make_dev(tmp_path):
    with pytest.raises(QueueControlError, match="`make dev` is not running"):
        queue_up(tmp_path)


@pytest.mark.stack
def test_queue_down_then_up_keeps_make_dev_and_the_queued_tasks(make_dev):
    run = make_dev(QUEUE_HEALTH_TTL_SECONDS="1").start().wait_running()
    first = running_tasks_server(run.state_dir)
    assert first is not None and f"PID {first}" in run.output()  # printed for the person
    client = client_for(f"127.0.0.1:{run.ports.tasks}")
    later = task_for_later(client, run)

    down = run.command("queue-down")
    assert down.returncode == 0, down.stderr
    assert f"Cloud Tasks server (PID {first}) stopped" in down.stdout
    assert process_start(first) is None  # gone (or a zombie make dev has yet to reap)
    run.wait_output("stopped by make queue-down: the queue is down")
    with pytest.raises(gexc.ServiceUnavailable):
        client.get_task(name=later.name, timeout=2, retry=None)
    with run.http() as http:
        wait_for(lambda: http.get("/api/health/queue").status_code == 503, timeout=60)
    assert run.process.poll() is None  # make dev keeps the rest running
    again = run.command("queue-down")
    assert again.returncode == 1 and "already down" in again.stderr

    up = run.command("queue-up")
    assert up.returncode == 0, up.stderr
    second = running_tasks_server(run.state_dir)
    assert second is not None and second != first
    assert f"Cloud Tasks server up again (PID {second})" in up.stdout
    run.wait_output(f"the Cloud Tasks server is up again (PID {second})")
    kept = client.get_task(
        request={"name": later.name, "response_view": tasks_v2.Task.View.FULL}, timeout=10
    )
    assert kept.http_request.body == b"kept"
    with run.http() as http:
        wait_for(lambda: http.get("/api/health/queue").status_code == 200, timeout=60)
    assert run.command("queue-up").returncode == 1  # already up

    assert run.interrupt() == 0
    client.transport.close()
