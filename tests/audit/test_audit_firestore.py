"""`python -m shared.audit audit` on the Firestore emulator: paged reads, exit codes, figures.

Each test uses a project of its own: the emulator keeps one database per project, so the
audit reads only what the test wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from devtools.stack import ROOT
from shared.audit.checks import Auditor
from shared.audit.firestore_reader import pages, read_store
from shared.domain.creation import Refund
from tests.builders import video
from tests.emulator_client import emulator_client

pytestmark = pytest.mark.emulator
NOW = datetime.now(UTC)


@pytest.fixture
def project(firestore_emulator) -> str:
    return f"audit-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(firestore_emulator, project):
    with emulator_client(firestore_emulator, project) as c:
        yield c


def seed(client, users: int = 3, per_user: int = 3) -> None:
    """Through the production adapter: grants, debits, some refunds."""
    from shared.adapters.firestore_store import FirestoreStore

    store = FirestoreStore(lambda: client)
    for u in range(users):
        uid = f"user{u}"
        store.ensure_account(uid, 100, NOW)
        for i in range(per_user):
            c = video(uid, cid=f"{uid}-c{i}", at=NOW)
            store.debit_and_create(c, NOW)
            if i == 0:
                store.refund(c.id, NOW, Refund("generation_failed"))


def run_cli(firestore_emulator, project: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": firestore_emulator.host}
    return subprocess.run(
        [sys.executable, "-m", "shared.audit", "audit", "--project", project, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def test_pages_cover_every_document_once_in_id_order(client):
    seed(client, users=5, per_user=1)
    seen = [s.id for page in pages(client, "users", page_size=2) for s in page]
    assert seen == sorted(seen) == [f"user{u}" for u in range(5)]
    assert [len(p) for p in pages(client, "users", page_size=2)] == [2, 2, 1]


def test_a_healthy_store_exits_0_with_its_figures(client, project, firestore_emulator):
    seed(client)
    auditor = Auditor()
    figures = read_store(client, auditor, page_size=2)
    assert figures.documents == {"users": 3, "creations": 9, "transactions": 15}
    assert auditor.finish(datetime.now(UTC)).ok

    done = run_cli(firestore_emulator, project, "--json", "--page-size", "4", "--live")
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout)
    assert figures["ok"] and figures["violations"] == {}
    assert figures["tokens"] == {"granted": 300, "debited": 90, "refunded": 30, "balance": 240}
    assert figures["byStatus"] == {"video/failed": 3, "video/pending": 6}


def test_a_snapshot_read_ignores_writes_made_after_its_read_time(client):
    seed(client, users=2)
    snapshot = datetime.now(UTC)
    client.collection("users").document("user0").update({"tokens": 7})
    before, now = Auditor(), Auditor()
    read_store(client, before, page_size=2, read_time=snapshot)
    read_store(client, now, page_size=2)
    assert before.finish(snapshot).ok
    assert set(now.finish(snapshot).counts()) == {"balance_mismatch"}


def test_violations_exit_1_and_are_listed(client, project, firestore_emulator):
    seed(client, users=1)
    client.collection("users").document("user0").update({"tokens": 7})
    client.collection("creations").document("broken").set({"userId": "user0"})
    done = run_cli(firestore_emulator, project, "--live")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "balance_mismatch: user0: balance 7, ledger 80" in done.stdout
    assert "unreadable: creations/broken" in done.stdout


def test_an_unreachable_store_exits_2(project):
    from devtools.processes import free_port

    env = {**os.environ, "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{free_port()}"}
    done = subprocess.run(
        [sys.executable, "-m", "shared.audit", "audit", "--project", project, "--timeout", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not be read" in done.stderr
