"""The outage this project exists to survive: the Cloud Tasks server is down.

Runs last in the session (file name order is not relied on: each test restores the
server before it returns).
"""

from __future__ import annotations

from google.cloud import tasks_v2

from shared.adapters.cloud_tasks_queue import local_client
from tests.e2e.helpers import user, wait_for

VIDEO = {"prompt": "a lighthouse in a storm"}


def test_submits_during_an_outage_are_503_and_conserve_tokens(http, stack):
    """Whether the gate still believed the queue was running (charged, then refunded in the
    same request) or had already seen the outage (not charged at all) depends on timing;
    both are correct answers, and in both the balance is whole. Which one a given run took
    is not asserted: nothing here depends on a cache not expiring."""
    headers = user("olga")
    assert http.get("/api/health/queue").status_code == 200  # the gate last saw it RUNNING
    stack.stop_tasks_server()
    try:
        answers = [http.post("/api/generate/video", json=VIDEO, headers=headers) for _ in range(3)]
        for response in answers:
            body = response.json()
            assert response.status_code == 503, body
            assert response.headers["Retry-After"]
            assert body["success"] is False and body["code"] == "queue_unavailable"
            assert body["error"] == "Video generation queue is unavailable. Please retry shortly."
            assert body["refunded"] is True or body["charged"] is False
        refunded = [r.json() for r in answers if r.json()["refunded"]]
        # The gate closes on the first failed enqueue: at most one submit is charged.
        assert len(refunded) <= 1
        for body in refunded:
            creation = http.get(f"/api/creations/{body['creationId']}", headers=headers).json()
            creation = creation["creation"]
            assert creation["status"] == "failed" and creation["refunded"] is True
            assert creation["queueErrorCode"] == "queue_unavailable"
        ledger = http.get("/api/tokens", headers=headers).json()
        assert ledger["balance"] == 100 and ledger["totalTokensSpent"] == 0
        expected = ["grant"] + ["debit", "refund"] * len(refunded)
        assert sorted(e["type"] for e in ledger["entries"]) == sorted(expected)

        health = wait_for(lambda: http.get("/api/health/queue").json(), timeout=30)
        assert health["status"] == "unavailable"
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
