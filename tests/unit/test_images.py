"""Images: 1 token, synchronous; any failure after the debit refunds in the same request."""

from __future__ import annotations

import pytest

from functions import api
from shared.domain.creation import Kind, Status
from shared.domain.errors import GenerationError, StoreUnavailable
from shared.services.reconcile import reconcile
from tests.contract.invariants import assert_conserved

ALICE = {"Authorization": "Bearer dev:alice"}


@pytest.fixture
def client(deps):
    return api.create_app(deps).test_client()


def test_an_image_costs_one_token_and_comes_back_in_the_answer(client, deps):
    response = client.post(
        "/api/generate/image", json={"prompt": "a lighthouse", "aspectRatio": "16:9"}, headers=ALICE
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "draft" and (body["tokensCharged"], body["balance"]) == (1, 99)
    key = f"images/alice/{body['creationId']}.png"
    assert body["mediaUrl"] == f"https://media.test/{key}" and key in deps.media.objects
    assert deps.images.prompts == [("a lighthouse", "16:9")]
    creation = deps.store.get_creation(body["creationId"])
    assert creation.kind is Kind.IMAGE and creation.status is Status.DRAFT
    assert_conserved(deps.store, "alice")


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (GenerationError("content_filtered", "blocked", transient=False), 422, "content_filtered"),
        (
            GenerationError("generation_rejected", "400", transient=False),
            502,
            "generation_rejected",
        ),
        (
            GenerationError("generator_unavailable", "503", transient=True),
            503,
            "generator_unavailable",
        ),
    ],
)
def test_a_failed_generation_refunds_in_the_same_request(client, deps, failure, status, code):
    deps.images.failure = failure
    response = client.post("/api/generate/image", json={"prompt": "x"}, headers=ALICE)
    assert response.status_code == status
    body = response.get_json()
    assert body["refunded"] is True and body["errorCode"] == code and body["balance"] == 100
    assert "refunded" in body["details"]
    creation = deps.store.get_creation(body["creationId"])
    assert creation.status is Status.FAILED and creation.refunded
    assert_conserved(deps.store, "alice")


def test_a_storage_failure_refunds_and_asks_for_a_retry(client, deps):
    deps.media.failing = True
    response = client.post("/api/generate/image", json={"prompt": "x"}, headers=ALICE)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["refunded"] is True
    assert deps.store.get_account("alice").tokens == 100
    assert_conserved(deps.store, "alice")


def test_a_refund_that_cannot_be_written_is_finished_by_the_reconciler(client, deps, clock):
    deps.images.failure = GenerationError("generator_unavailable", transient=True)
    deps.store.fail_next("refund", StoreUnavailable("down"))
    response = client.post("/api/generate/image", json={"prompt": "x"}, headers=ALICE)
    body = response.get_json()
    assert response.status_code == 503 and body["refunded"] is False
    assert "automatically" in body["details"]
    assert deps.store.get_account("alice").tokens == 99

    clock.advance(deps.settings.stale_after_seconds + 1)
    report = reconcile(deps)
    assert report.failed == [body["creationId"]]
    assert deps.store.get_account("alice").tokens == 100
    assert deps.queue.take() == []  # an image is never sent to the video worker
    assert_conserved(deps.store, "alice")


def test_the_same_idempotency_key_returns_the_same_image_without_a_second_charge(client, deps):
    headers = {**ALICE, "Idempotency-Key": "img-1"}
    first = client.post("/api/generate/image", json={"prompt": "x"}, headers=headers).get_json()
    again = client.post("/api/generate/image", json={"prompt": "x"}, headers=headers).get_json()
    assert first["creationId"] == again["creationId"] and again["replayed"] is True
    assert again["tokensCharged"] == 0 and deps.store.get_account("alice").tokens == 99
    assert len(deps.images.prompts) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "aspectRatio": "2:1"}, "aspectRatio"),
        ({"prompt": "x", "durationSeconds": 4}, "durationSeconds"),
    ],
)
def test_bad_image_bodies_are_400_and_charge_nothing(client, deps, body, field):
    response = client.post("/api/generate/image", json=body, headers=ALICE)
    assert response.status_code == 400 and field in response.get_json()["fields"]
    assert deps.store.get_account("alice") is None


def test_an_image_without_tokens_is_402(client, deps):
    deps.store.ensure_account("alice", 0, deps.clock())
    response = client.post("/api/generate/image", json={"prompt": "x"}, headers=ALICE)
    assert response.status_code == 402 and response.get_json()["required"] == 1
    assert deps.images.prompts == []
