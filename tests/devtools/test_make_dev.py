"""make dev names each process's lines (what a killed process does: test_sigkill.py)."""

from __future__ import annotations

import pytest

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
