"""The outage this project exists to survive: the Cloud Tasks server is down.

Runs last in the session (file name order is not relied on: each test restores the
server before it returns).
"""

from __future__ import annotations

import time

from google.cloud import tasks_v2

from shared.adapters.cloud_tasks_queue import local_client
from tests.e2e.conftest import user, wait_for

VIDEO = {"prompt": "a lighthouse in a storm"}


def test_submit_during_an_outage_is_503_refunded_and_conserves_tokens(http, stack):
    headers = user("olga")
    assert http.get("/api/health/queue").status_code == 200  # the gate last saw it RUNNING
    stack.stop_tasks_server()
    try:
        started = time.perf_counter()
        response = http.post("/api/generate/video", json=VIDEO, headers=headers)
        elapsed = time.perf_counter() - started
        body = response.json()
        assert response.status_code == 503, body
        assert response.headers["Retry-After"]
        assert body["success"] is False and body["refunded"] is True
        assert body["error"] == "Video generation queue is unavailable. Please retry shortly."
        assert "refunded" in body["details"]
        assert elapsed < 2.0

        creation = http.get(f"/api/creations/{body['creationId']}", headers=headers).json()
        creation = creation["creation"]
        assert creation["status"] == "failed" and creation["refunded"] is True
        assert creation["queueErrorCode"] == "queue_unavailable"
        ledger = http.get("/api/tokens", headers=headers).json()
        assert ledger["balance"] == 100 and ledger["totalTokensSpent"] == 0
        assert sorted(e["type"] for e in ledger["entries"]) == ["debit", "grant", "refund"]

        # Once the gate has seen the outage, nothing is charged at all.
        wait_for(lambda: http.get("/api/health/queue").status_code == 503, timeout=30)
        health = http.get("/api/health/queue").json()
        assert health["status"] == "unavailable"
        gated = http.post("/api/generate/video", json=VIDEO, headers=headers)
        assert gated.status_code == 503
        assert (gated.json()["refunded"], gated.json()["charged"]) == (False, False)
        assert len(http.get("/api/tokens", headers=headers).json()["entries"]) == 3
    finally:
        stack.start_tasks_server()

    wait_for(lambda: http.get("/api/health/queue").status_code == 200, timeout=30)
    recovered = http.post("/api/generate/video", json=VIDEO, headers=headers)
    assert recovered.status_code == 202


def test_a_paused_queue_is_reported_and_charges_nothing(http, stack):
    headers = user("pia")
    client = local_client(f"127.0.0.1:{stack.ports.tasks}")
    client.pause_queue(name=stack.queue_path)
    try:
        wait_for(lambda: http.get("/api/health/queue").json()["status"] == "paused", timeout=30)
        assert http.get("/api/health/queue").status_code == 503
        response = http.post("/api/generate/video", json=VIDEO, headers=headers)
        assert response.status_code == 503 and response.json()["charged"] is False
        assert http.get("/api/tokens", headers=headers).json()["balance"] == 100
    finally:
        client.resume_queue(name=stack.queue_path)
    wait_for(lambda: http.get("/api/health/queue").json()["status"] == "ok", timeout=30)
    state = client.get_queue(name=stack.queue_path).state
    assert state == tasks_v2.Queue.State.RUNNING
