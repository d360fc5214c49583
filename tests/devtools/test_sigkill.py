"""SIGKILL each process of a running `make dev` (scripts/dev.py), as a developer or a crash
would, and check what a client of the api sees:

    tasks      the queue outage: 503 and no token lost; make queue-up brings it back with its tasks
    worker     started again; a video submitted while it was down completes
    api        started again; it answers with the same balance
    firestore  make dev stops (exit code 1), naming the data lost
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import httpx
import pytest
from google.cloud import tasks_v2

from devtools.cloud_tasks_server.runner import client_for
from devtools.processes import read_pid_file
from tests.devtools.dev_run import DevRun, answered, processes_of, submit_video, task_for_later
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

ALICE = {"Authorization": "Bearer dev:alice"}
QUEUE = "projects/demo-creator/locations/us-central1/queues/video-generation"
VIDEO_DEADLINE = 180  # worker down, its replacement booting, Cloud Tasks' retry backoff


def pid_of(run: DevRun, name: str) -> int:
    """The PID as a developer gets it: `scripts/dev.py pid NAME`."""
    answer = run.command("pid", name)
    assert answer.returncode == 0, answer.stderr
    return int(answer.stdout)


def tokens(http: httpx.Client) -> dict:
    """GET /api/tokens for alice: balance and ledger."""
    return answered(lambda: http.get("/api/tokens", headers=ALICE)).json()


def status(http: httpx.Client, creation: str) -> str | None:
    answer = http.get(f"/api/creations/{creation}", headers=ALICE)
    return answer.json().get("creation", {}).get("status") if answer.status_code == 200 else None


def answers_again(run: DevRun, name: str) -> re.Match[str]:
    """make dev's line saying the replacement of `name` answers; its PID, delay and count."""
    pattern = re.compile(
        rf"\({name}, PID (\d+)\) answers again, ([\d.]+) s after it ended; restarts: (\d+)"
    )
    return wait_for(lambda: pattern.search(run.output()), timeout=120, interval=0.1)


def test_a_killed_queue_is_the_outage_and_queue_up_brings_it_back(make_dev):
    run = make_dev(QUEUE_HEALTH_TTL_SECONDS="1").start().wait_running()
    client = client_for(f"127.0.0.1:{run.ports.tasks}")
    later = task_for_later(client, run)
    with run.http() as http:
        before = tokens(http)
        pid = pid_of(run, "tasks")

        os.kill(pid, signal.SIGKILL)

        run.wait_output(f"the Cloud Tasks server (tasks, PID {pid}) was killed by SIGKILL")
        refused = http.post(
            "/api/generate/video",
            headers={**ALICE, "Idempotency-Key": "during-the-outage"},
            json={"prompt": "a fox while the queue is dead"},
        )
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["code"] == "queue_unavailable" and body["charged"] is False, body
        after = tokens(http)
        assert after["balance"] == before["balance"] == 100
        if body["refunded"]:  # charged, then refunded in the same request: both in the ledger
            moves = [e["amount"] for e in after["entries"] if e["creationId"] == body["creationId"]]
            assert len(moves) == 2 and sum(moves) == 0, after["entries"]
        wait_for(lambda: http.get("/api/health/queue").status_code == 503, timeout=60)
        assert run.process.poll() is None  # make dev, the api and the worker keep running

        up = run.command("queue-up")
        assert up.returncode == 0, up.stderr
        assert "Cloud Tasks server up again" in up.stdout
        kept = client.get_task(
            request={"name": later.name, "response_view": tasks_v2.Task.View.FULL}, timeout=10
        )
        assert kept.http_request.body == b"kept"
        wait_for(lambda: http.get("/api/health/queue").status_code == 200, timeout=60)
        accepted = submit_video(http, ALICE, "a fox after the outage")
        assert accepted["balance"] == 100 - accepted["tokensCharged"] == tokens(http)["balance"]
    assert run.interrupt() == 0
    client.transport.close()


def test_a_killed_worker_is_replaced_and_a_video_submitted_meanwhile_completes(make_dev):
    run = make_dev().start().wait_running()
    pid_file = run.state_dir / "run" / "worker.pid"
    killed = [pid_of(run, "worker")]
    accepted = threading.Event()

    def keep_it_down() -> None:
        """Each replacement is killed as soon as it is recorded (long before it can serve),
        until the submit is accepted: the video is queued while no worker runs."""
        while not accepted.wait(0.02):
            pid = read_pid_file(pid_file)
            if pid is not None and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    os.kill(killed[0], signal.SIGKILL)
    killer = threading.Thread(target=keep_it_down, daemon=True)
    killer.start()
    with run.http() as http:
        try:
            creation = submit_video(http, ALICE, "a fox while the worker is dead")["creationId"]
        finally:
            accepted.set()
            killer.join(10)
        run.wait_output(f"(worker, PID {killed[0]}) was killed by SIGKILL")

        wait_for(lambda: status(http, creation) == "draft", timeout=VIDEO_DEADLINE, interval=0.5)

    line = answers_again(run, "worker")
    assert int(line[1]) not in killed and int(line[3]) == len(killed)
    assert f"(restart {len(killed)})" in run.output()
    assert run.process.poll() is None
    assert run.interrupt() == 0


def test_a_killed_api_is_replaced_and_answers_again(make_dev):
    run = make_dev().start().wait_running()
    with run.http() as http:
        before = tokens(http)
        first = pid_of(run, "api")

        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()

        run.wait_output(f"(api, PID {first}) was killed by SIGKILL")
        line = answers_again(run, "api")
        seen_after = time.monotonic() - killed_at
        assert int(line[1]) != first and line[3] == "1"

        def reached() -> dict | None:
            try:
                return tokens(http)
            except httpx.TransportError:
                return None

        assert wait_for(reached, timeout=60)["balance"] == before["balance"]
        second = pid_of(run, "api")
        assert second == int(line[1])

        os.kill(second, signal.SIGKILL)  # again: counted, and started again once more
        run.wait_output(f"(api, PID {second}) was killed by SIGKILL")
        run.wait_output("(restart 2)")
        wait_for(reached, timeout=120)
    print(f"api: SIGKILL to answering again seen after {seen_after:.1f} s")
    assert run.interrupt() == 0


def test_a_killed_firestore_stops_make_dev_naming_the_data_lost(make_dev):
    run = make_dev().start().wait_running()
    with run.http() as http:
        assert tokens(http)["balance"] == 100  # alice's account: written, never exported
    pid = pid_of(run, "firestore")

    os.kill(pid, signal.SIGKILL)

    assert run.wait_exit() == 1
    output = run.output()
    assert f"the Firestore emulator (firestore, PID {pid}) was killed by SIGKILL" in output
    assert "the end of its log" in output
    assert "Firestore data lost: everything written since this make dev started" in output
    assert processes_of(run.state_dir) == []
    assert not list((run.state_dir / "run").glob("*.pid"))
