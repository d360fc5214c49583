"""make dev names each process's lines, and a process that dies stops it, said at once."""

from __future__ import annotations

import os
import signal

import pytest

from devtools.processes import read_pid_file
from tests.devtools.dev_run import processes_of, submit_video
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

ALICE = {"Authorization": "Bearer dev:alice"}


def test_each_process_s_lines_carry_its_name(make_dev):
    run = make_dev().start().wait_running()
    with run.http() as http:
        creation = submit_video(http, ALICE, "a fox")["creationId"]

        def status() -> str | None:
            body = http.get(f"/api/creations/{creation}", headers=ALICE).json()
            return body.get("creation", {}).get("status")

        wait_for(lambda: status() == "draft", timeout=60, interval=0.2)

    for name in ("firestore", "tasks", "api", "worker"):
        run.wait_output(f"\n[{name}] ")
    assert "[worker] " in run.output() and creation in run.output()
    assert "[firestore] [firestore]" not in run.output()  # gcloud's own prefix is dropped
    assert run.interrupt() == 0
    assert processes_of(run.state_dir) == []


@pytest.mark.parametrize("name", ["worker", "tasks"])
def test_a_process_that_dies_is_reported_and_everything_stops(make_dev, name):
    run = make_dev().start().wait_running()
    pid = read_pid_file(run.state_dir / "run" / f"{name}.pid")
    assert pid is not None

    os.kill(pid, signal.SIGKILL)

    assert run.wait_exit() == 1
    log = run.state_dir / f"{name}.log"
    assert "make dev: the " in run.output()
    assert f"({name}, PID {pid}) was killed by SIGKILL; its log: {log}" in run.output()
    assert "Stopping everything." in run.output()
    assert processes_of(run.state_dir) == []
    assert not list((run.state_dir / "run").glob("*.pid"))
