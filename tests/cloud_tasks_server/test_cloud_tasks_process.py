"""The local Cloud Tasks server as a process: durability, ports, signals, configuration."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.runner import ROOT, CloudTasksServer, client_for
from devtools.processes import free_port
from tests.cloud_tasks_server.tasks_server_helpers import LOCATION, http_task, unique
from tests.servers.receiver import Reply
from tests.waiting import wait_for

State = tasks_v2.Queue.State
STACK_PORT_VARIABLES = ("TASKS_PORT", "TASKS_HTTP_PORT")


def run_server(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools.cloud_tasks_server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_restart_loses_no_queue_no_pending_task_and_no_reserved_name(tmp_path, receiver):
    config_queue = f"{LOCATION}/queues/durable-config"
    db = tmp_path / "state" / "tasks.sqlite3"  # the parent directory is created
    server = CloudTasksServer(db_path=db, queues=[config_queue])
    try:
        server.start()
        client = server.client()
        made = f"{LOCATION}/queues/{unique('durable')}"
        client.create_queue(
            parent=LOCATION,
            queue=tasks_v2.Queue(
                name=made,
                rate_limits=tasks_v2.RateLimits(max_concurrent_dispatches=7),
                retry_config=tasks_v2.RetryConfig(
                    max_attempts=9, min_backoff=timedelta(seconds=0.1)
                ),
            ),
        )
        client.pause_queue(name=config_queue)
        kid = httpx.get(server.jwks_url).json()["keys"][0]["kid"]

        executed_path = f"/{unique('executed')}"
        executed = f"{made}/tasks/executed-before-restart"
        client.create_task(parent=made, task=http_task(receiver.url(executed_path), executed))
        wait_for(lambda: receiver.got(executed_path))
        wait_for(lambda: not list(client.list_tasks(parent=made)))

        later_path = f"/{unique('later')}"
        later = f"{made}/tasks/due-after-restart"
        client.create_task(parent=made, task=http_task(receiver.url(later_path), later, delay=2.0))
        # A dispatch in flight at the stop is cancelled and stays pending.
        slow_path = f"/{unique('in-flight')}"
        receiver.script(slow_path, Reply(delay=20), Reply(status=200))
        slow = f"{made}/tasks/in-flight-at-stop"
        client.create_task(parent=made, task=http_task(receiver.url(slow_path), slow))
        wait_for(lambda: receiver.got(slow_path))

        stopped_at = time.monotonic()
        server.stop()
        assert server.returncode == 0
        assert time.monotonic() - stopped_at < 5
        assert receiver.got(later_path) == []

        server.fresh = False
        server.start()
        queue = client.get_queue(name=made)  # the same client reconnects
        assert queue.rate_limits.max_concurrent_dispatches == 7
        assert queue.retry_config.max_attempts == 9
        assert client.get_queue(name=config_queue).state == State.PAUSED
        [delivery] = wait_for(lambda: receiver.got(later_path), timeout=10)
        assert delivery.headers["X-CloudTasks-TaskName"] == "due-after-restart"
        second = wait_for(lambda: len(receiver.got(slow_path)) == 2 and receiver.got(slow_path))
        assert second[1].headers["X-CloudTasks-TaskName"] == "in-flight-at-stop"
        with pytest.raises(gexc.AlreadyExists):
            client.create_task(parent=made, task=http_task(receiver.url(executed_path), executed))
        assert httpx.get(server.jwks_url).json()["keys"][0]["kid"] == kid
    finally:
        server.stop()


def test_fresh_deletes_the_state(tmp_path):
    queue = f"{LOCATION}/queues/made-by-api"
    db = tmp_path / "tasks.sqlite3"
    with CloudTasksServer(db_path=db) as server:
        server.client().create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=queue))
    with CloudTasksServer(db_path=db, fresh=True) as server, pytest.raises(gexc.NotFound):
        server.client().get_queue(name=queue)


def test_sigterm_stops_cleanly_with_exit_code_zero(tmp_path):
    server = CloudTasksServer(db_path=tmp_path / "db.sqlite3").start()
    server.stop()
    assert server.returncode == 0
    assert any("stopped" in line for line in server.lines)
    server.stop()  # idempotent


def test_sigint_stops_cleanly_with_exit_code_zero(tmp_path):
    server = CloudTasksServer(db_path=tmp_path / "db.sqlite3").start()
    process = server.process
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0
    server.stop()


@contextlib.contextmanager
def started_with_environment(variables: dict[str, str]) -> Iterator[str]:
    """`python -m devtools.cloud_tasks_server` without flags, configured by these variables
    alone (none of the server's own are inherited); yields its ready line."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CLOUD_TASKS_SERVER_") and key not in STACK_PORT_VARIABLES
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.cloud_tasks_server"],
        cwd=ROOT,
        env={**inherited, **variables},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def test_every_setting_has_an_environment_fallback(tmp_path):
    port, http_port = free_port(), free_port()
    db = tmp_path / "from-env" / "db.sqlite3"
    queues = [f"{LOCATION}/queues/env-one", f"{LOCATION}/queues/env-two"]
    env = {
        "CLOUD_TASKS_SERVER_PORT": str(port),
        "CLOUD_TASKS_SERVER_HTTP_PORT": str(http_port),
        "CLOUD_TASKS_SERVER_DB": str(db),
        "CLOUD_TASKS_SERVER_QUEUES": ",".join(queues),
    }
    with started_with_environment(env) as ready:
        assert ready == (
            f"cloud-tasks-server ready grpc=127.0.0.1:{port} http=127.0.0.1:{http_port}"
        )
        assert db.exists()
        client = client_for(f"127.0.0.1:{port}")
        assert [q.name for q in client.list_queues(parent=LOCATION)] == queues
        assert httpx.get(f"http://127.0.0.1:{http_port}/healthz").status_code == 200


def test_make_tasks_server_takes_its_ports_from_the_stack_variables(tmp_path):
    # `make tasks-server` runs `python -m devtools.cloud_tasks_server` with no flags; `make dev`
    # documents TASKS_PORT and TASKS_HTTP_PORT for the same server.
    port, http_port = free_port(), free_port()
    env = {
        "TASKS_PORT": str(port),
        "TASKS_HTTP_PORT": str(http_port),
        "CLOUD_TASKS_SERVER_DB": str(tmp_path / "db.sqlite3"),
    }
    with started_with_environment(env) as ready:
        assert ready == (
            f"cloud-tasks-server ready grpc=127.0.0.1:{port} http=127.0.0.1:{http_port}"
        )
        assert list(client_for(f"127.0.0.1:{port}").list_queues(parent=LOCATION)) == []


def test_a_taken_grpc_port_is_exit_code_two_with_one_line(server, tmp_path):
    # The port is held by the (running) session server: a gRPC server, SO_REUSEPORT and all.
    taken = server.port
    result = run_server(
        "--port", str(taken), "--http-port", str(free_port()), "--db", str(tmp_path / "db")
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(taken) in lines[0]
    assert "ready" not in result.stdout
    assert not (tmp_path / "db").exists()  # refused before touching any state


def test_a_taken_http_port_is_exit_code_two_with_one_line(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = run_server(
            "--port", str(free_port()), "--http-port", str(taken), "--db", str(tmp_path / "db")
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "HTTP port" in lines[0] and str(taken) in lines[0]


def test_a_state_file_in_use_is_exit_code_two(server):
    result = run_server(
        "--port", str(free_port()), "--http-port", str(free_port()), "--db", str(server.db_path)
    )
    assert result.returncode == 2
    assert "in use by another server" in result.stderr
    assert server.client().get_queue(name=f"{LOCATION}/queues/from-config")  # untouched


def test_jwks_and_health_over_http(server):
    keys = httpx.get(server.jwks_url).json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["kid"]
    base = server.jwks_url.rsplit("/", 1)[0]
    assert httpx.get(f"{base}/.well-known/jwks.json").json()["keys"] == keys
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}


def test_a_disabled_queue_holds_its_tasks_and_refuses_new_ones(receiver):
    disabled = f"{LOCATION}/queues/disabled"
    with CloudTasksServer(extra_args=["--disable-queue", disabled]) as server:
        client = server.client()
        assert client.get_queue(name=disabled).state == State.DISABLED
        with pytest.raises(gexc.FailedPrecondition):
            client.create_task(parent=disabled, task=http_task(receiver.url("/disabled")))
        assert client.resume_queue(name=disabled).state == State.RUNNING
        path = f"/{unique('was-disabled')}"
        client.create_task(parent=disabled, task=http_task(receiver.url(path)))
        wait_for(lambda: receiver.got(path))


def test_a_server_that_is_down_is_service_unavailable_within_a_second():
    client = client_for(f"127.0.0.1:{free_port()}")
    retry = gretry.Retry(
        predicate=gretry.if_exception_type(gexc.ServiceUnavailable),
        initial=0.05,
        maximum=0.25,
        timeout=0.5,
    )
    task = http_task("http://127.0.0.1:9/x")
    for _ in range(2):  # the first call, and one on a channel already failing
        started = time.perf_counter()
        with pytest.raises((gexc.ServiceUnavailable, gexc.RetryError)) as error:
            client.create_task(parent=f"{LOCATION}/queues/q", task=task, retry=retry, timeout=0.5)
        assert time.perf_counter() - started < 1.0
        cause = error.value
        if isinstance(cause, gexc.RetryError):
            cause = cause.cause
        assert isinstance(cause, gexc.ServiceUnavailable)
