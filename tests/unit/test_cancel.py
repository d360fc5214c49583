"""Cancelling a video: refunded at once before it started, refused after, idempotent."""

from __future__ import annotations

from shared.domain import creation as transitions
from shared.domain.creation import Status
from shared.domain.errors import QueueError
from shared.domain.step_tasks import Step, StepTask
from shared.services.video_steps import run_step
from tests.contract.invariants import assert_conserved

ALICE = {"Authorization": "Bearer dev:alice"}
VIDEO = {"prompt": "a paper boat"}


def submit(client) -> str:
    return client.post("/api/generate/video", json=VIDEO, headers=ALICE).get_json()["creationId"]


def cancel(client, cid, headers=ALICE):
    return client.post(f"/api/creations/{cid}/cancel", headers=headers)


def test_a_pending_video_is_cancelled_refunded_and_its_task_deleted(api_client, deps):
    cid = submit(api_client)
    assert f"{cid}-start-0" in deps.queue.tasks

    response = cancel(api_client, cid)

    body = response.get_json()
    assert response.status_code == 200, body
    assert body["creation"]["status"] == "cancelled" and body["creation"]["refunded"] is True
    assert body["balance"] == 100 and body["cancelledNow"] is True
    assert deps.queue.tasks == {}
    assert deps.store.get_account("alice").in_flight == 0
    assert_conserved(deps.store, "alice")


def test_a_start_task_that_arrives_after_the_cancel_does_nothing(api_client, deps):
    cid = submit(api_client)
    [start] = deps.queue.take()  # delivered before the delete could reach it
    cancel(api_client, cid)

    result = run_step(deps, start)

    assert result.outcome == "already_cancelled"
    assert deps.videos.started == []
    assert_conserved(deps.store, "alice")


def test_cancelling_twice_refunds_once(api_client, deps):
    cid = submit(api_client)
    first, second = cancel(api_client, cid), cancel(api_client, cid)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json()["cancelledNow"] is False
    refunds = [e for e in deps.store.ledger("alice", 100) if str(e.type) == "refund"]
    assert len(refunds) == 1 and deps.store.get_account("alice").tokens == 100


def test_a_started_generation_cannot_be_cancelled(api_client, deps):
    cid = submit(api_client)
    run_step(deps, StepTask(cid, Step.START))  # claimed, Veo started, operation recorded

    response = cancel(api_client, cid)

    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "not_cancellable" and "paid for" in body["error"]
    assert deps.store.get_creation(cid).status is Status.PROCESSING
    assert deps.store.get_account("alice").tokens == 90


def test_a_claimed_creation_whose_start_is_under_way_cannot_be_cancelled(api_client, deps):
    """Between the claim and the recorded operation Veo may be starting: cancelling then
    could refund a generation that is paid for."""
    cid = submit(api_client)
    deps.store.update_creation(cid, lambda c: transitions.claim(c, "w", deps.clock()))
    assert cancel(api_client, cid).status_code == 409
    assert deps.store.get_account("alice").tokens == 90


def test_a_finished_creation_cannot_be_cancelled(api_client, deps, clock):
    from tests.unit.simulation import deliver_all

    cid = submit(api_client)
    deliver_all(deps, clock)
    response = cancel(api_client, cid)
    assert response.status_code == 409 and "draft" in response.get_json()["error"]


def test_someone_else_s_creation_is_404(api_client, deps):
    cid = submit(api_client)
    response = cancel(api_client, cid, {"Authorization": "Bearer dev:mallory"})
    assert response.status_code == 404
    assert deps.store.get_creation(cid).status is Status.PENDING
    assert cancel(api_client, "no-such-id").status_code == 404


def test_an_image_cannot_be_cancelled(api_client):
    made = api_client.post("/api/generate/image", json={"prompt": "a cat"}, headers=ALICE)
    response = cancel(api_client, made.get_json()["creationId"])
    assert response.status_code == 409


def test_a_queue_that_cannot_delete_the_task_still_cancels(api_client, deps):
    cid = submit(api_client)
    deps.queue.failure = QueueError("queue_unavailable")
    response = cancel(api_client, cid)
    assert response.status_code == 200
    assert deps.store.get_creation(cid).status is Status.CANCELLED
