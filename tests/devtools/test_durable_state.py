"""make dev keeps its data under its state dir: accounts, creations and queued tasks survive
a restart (Firestore through its own export and --import-data); FRESH=1 starts empty."""

from __future__ import annotations

import pytest

from devtools.firestore_emulator import FirestoreEmulator
from tests.devtools.dev_run import answered, submit_video
from tests.waiting import wait_for

CAROL = {"Authorization": "Bearer dev:carol"}


@pytest.mark.emulator
def test_the_emulator_keeps_its_documents_in_its_data_dir(tmp_path, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    data_dir = tmp_path / "firestore"
    with FirestoreEmulator(data_dir=data_dir, log_path=tmp_path / "first.log") as first:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", first.host)
        client = firestore.Client(project=first.project, credentials=AnonymousCredentials())
        client.collection("users").document("dana").set({"balance": 42})
        client.close()
    assert first.export_metadata.is_file()

    with FirestoreEmulator(data_dir=data_dir, log_path=tmp_path / "second.log") as second:
        assert second.imported == second.export_metadata
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", second.host)
        client = firestore.Client(project=second.project, credentials=AnonymousCredentials())
        assert client.collection("users").document("dana").get().to_dict() == {"balance": 42}
        client.close()


@pytest.mark.stack
def test_make_dev_keeps_accounts_creations_and_queued_tasks_across_a_restart(make_dev, tmp_path):
    state, slow = tmp_path / "state", {"LOCAL_VIDEO_LATENCY_SECONDS": "600"}
    first = make_dev(state, FRESH="1", **slow).start().wait_running()
    with first.http() as http:
        submitted = submit_video(http, CAROL, "a slow fox")
        creation, balance = submitted["creationId"], submitted["balance"]
    worker_log = state / "worker.log"
    # Started and polling: a poll task is queued when make dev stops.
    wait_for(lambda: f"creationId={creation} step=poll" in worker_log.read_text(), timeout=60)
    assert first.interrupt() == 0, first.logs()

    # Same ports, as make dev would have: the queued tasks name the worker's URL.
    second = make_dev(state, first.ports, **slow).start().wait_running()
    with second.http() as http:
        tokens = answered(lambda: http.get("/api/tokens", headers=CAROL)).json()
        assert tokens.get("balance") == balance, (tokens, second.logs())
        assert [e["type"] for e in tokens["entries"]] == ["debit", "grant"], tokens
        kept = answered(lambda: http.get(f"/api/creations/{creation}", headers=CAROL))
        assert kept.status_code == 200, (kept.text, second.logs())
        assert kept.json()["creation"]["status"] == "processing", kept.text
    # The poll queued before the restart is delivered, and finds its creation.
    wait_for(lambda: f"creationId={creation} step=poll" in worker_log.read_text(), timeout=60)
    assert "unknown_creation" not in worker_log.read_text()
    assert second.interrupt() == 0, second.logs()

    fresh = make_dev(state, first.ports, FRESH="1").start().wait_running()
    with fresh.http() as http:
        gone = answered(lambda: http.get(f"/api/creations/{creation}", headers=CAROL))
        assert gone.status_code == 404, (gone.text, fresh.logs())
        assert answered(lambda: http.get("/api/tokens", headers=CAROL)).json()["balance"] == 100
    assert fresh.interrupt() == 0, fresh.logs()
