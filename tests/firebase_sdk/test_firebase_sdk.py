"""The real Firebase JS SDK against the local stack as `make dev` starts it (devtools/stack.py:
the Firestore emulator with firestore.rules, the local Cloud Tasks server, the api and the
worker): the README's live listeners see the user's own creation go pending/processing ->
draft, and every read and write the rules forbid is refused (permission-denied).

probes.mjs does the client's part in node, with the `firebase` package that
package-lock.json pins (`make node-deps` runs `npm ci` here; `make test` depends on it),
and prints one JSON object: each probe's outcome, which this test asserts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from devtools.stack import PROJECT, LocalStack
from tests.stacks import quiet_stack

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "probes.mjs"
RUN_DEADLINE = 300  # seconds; probes.mjs has its own, shorter, deadline for the whole run
# make dev's settings, but a video made in 1 s instead of 5, and the store's deadline of the
# end-to-end tests (the emulator on a busy 2-core machine can pause for seconds).
SETTINGS = {"LOCAL_VIDEO_LATENCY_SECONDS": "1", "STORE_DEADLINE_SECONDS": "30"}

ALLOWED = {
    "own users/<uid> get",
    "own creation get",
    "own ledger entry get",
    "own creations query",
    "own ledger query",
    "own users/<uid> listener",
}
DENIED = {
    "another user's users/ doc",
    "another user's creation",
    "another user's ledger entry",
    "another user's creation listener",
    "another user's creations query",
    "list all creations",
    "list all creations listener",
    "list all users",
    "list all ledger entries",
    "list idempotency keys",
    "list queue changes",
    "anonymous own-uid users/ doc",
    "anonymous creation",
    "anonymous creations query",
    "updateDoc own tokens",
    "setDoc own users/ doc",
    "updateDoc own creation status",
    "addDoc ledger grant",
    "addDoc creation",
    "write unknown collection",
    "anonymous write unknown collection",
    "delete own creation",
    "delete own users/ doc",
    "delete another user's creation",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> LocalStack:
    with quiet_stack(tmp_path_factory.mktemp("stack"), SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def run(stack: LocalStack) -> dict:
    node = shutil.which("node")
    assert node, "node (20+) is needed for the Firebase SDK probes"
    assert (HERE / "node_modules" / "firebase").is_dir(), (
        "the pinned Firebase SDK is not installed: `make node-deps` (npm ci in tests/firebase_sdk)"
    )
    assert stack.firestore is not None
    done = subprocess.run(
        [node, str(SCRIPT), stack.firestore.host, stack.api_url, PROJECT],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"probes.mjs printed nothing (exit {done.returncode}): {done.stderr[-3000:]}"
    report: dict = json.loads(lines[-1])
    assert done.returncode == 0, f"{report.get('error')}\n{done.stderr[-3000:]}"
    print(json.dumps(report, indent=1))  # the per-probe figures, with -s
    return report


def test_the_readmes_listeners_see_the_users_creation_reach_draft(run):
    for name in ("history", "creation"):
        listener = run["listeners"][name]
        seen = listener["seen"]
        assert listener["result"] == "done", (name, seen)
        assert seen[-1] == "draft", (name, seen)
        assert set(seen) <= {"pending", "processing", "draft"}, (name, seen)
    # The history listener was started before the submit: it saw the creation before draft.
    assert run["listeners"]["history"]["seen"][0] in ("pending", "processing")


@pytest.mark.parametrize(
    ("expect", "probes"),
    [("allowed", ALLOWED), ("denied", DENIED)],
    ids=["a user reads and listens to their own documents", "each forbidden one is denied"],
)
def test_each_probe_is_answered_as_the_rules_say(run, expect, probes):
    outcomes = {p["name"]: p for p in run["probes"] if p["expect"] == expect}
    assert set(outcomes) == probes
    assert {name: p["outcome"] for name, p in outcomes.items()} == dict.fromkeys(probes, expect), (
        outcomes
    )


def test_the_denied_writes_changed_nothing(run, stack: LocalStack):
    """ann's creation is still the draft the worker made, her balance what the api charged."""
    ann = run["uids"]["ann"]
    creation = run["creations"]["ann"]
    headers = {"Authorization": f"Bearer dev:{ann}"}
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        mine = http.get(f"/api/creations/{creation}", headers=headers)
        assert mine.status_code == 200 and mine.json()["creation"]["status"] == "draft"
        tokens = http.get("/api/tokens", headers=headers)
        assert tokens.status_code == 200
        assert tokens.json()["balance"] == 100 - run["charged"]["ann"], tokens.json()
