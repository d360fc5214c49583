"""Idempotency keys over HTTP: a retry is never told something false, never charged twice."""

from __future__ import annotations

import pytest

from shared.domain.errors import QueueError
from shared.services.queue_health import QueueHealth

ALICE = {"Authorization": "Bearer dev:alice"}
VIDEO = {"prompt": "a kite over the sea", "durationSeconds": 6}
IMAGE = {"prompt": "a kite over the sea"}


def post(client, path, body, key):
    return client.post(path, json=body, headers={**ALICE, "Idempotency-Key": key})


def balance(client):
    return client.get("/api/tokens", headers=ALICE).get_json()["balance"]


def ledger(client):
    entries = client.get("/api/tokens", headers=ALICE).get_json()["entries"]
    return sorted(e["type"] for e in entries)


def test_a_replay_answers_the_same_creation_and_charges_nothing(api_client):
    first = post(api_client, "/api/generate/video", VIDEO, "k1")
    again = post(api_client, "/api/generate/video", VIDEO, "k1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json()["creationId"] == first.get_json()["creationId"]
    assert (again.get_json()["replayed"], again.get_json()["tokensCharged"]) == (True, 0)
    assert balance(api_client) == 90


def test_the_same_body_written_differently_is_the_same_request(api_client):
    first = post(api_client, "/api/generate/video", VIDEO, "k1")
    spelled = {"durationSeconds": 6, "prompt": "  a kite over the sea ", "aspectRatio": "16:9"}
    again = post(api_client, "/api/generate/video", spelled, "k1")
    assert again.status_code == 202
    assert again.get_json()["creationId"] == first.get_json()["creationId"]


def test_a_refunded_request_retried_with_its_key_starts_a_new_attempt(api_client, deps):
    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    deps.queue_health.check()  # the gate saw the queue running a moment ago
    deps.queue.failure = QueueError("queue_not_found")

    refused = post(api_client, "/api/generate/video", VIDEO, "k1")
    assert refused.status_code == 503 and refused.get_json()["refunded"] is True

    deps.queue.failure = None
    retried = post(api_client, "/api/generate/video", VIDEO, "k1")

    body = retried.get_json()
    assert retried.status_code == 202 and body["status"] == "pending"
    assert body["replayed"] is False and body["tokensCharged"] == 10
    assert body["creationId"] != refused.get_json()["creationId"]
    assert ledger(api_client) == ["debit", "debit", "grant", "refund"]
    assert balance(api_client) == 90
    # and from now on the key replays the accepted attempt
    again = post(api_client, "/api/generate/video", VIDEO, "k1")
    assert again.get_json()["creationId"] == body["creationId"] and again.get_json()["replayed"]


def test_the_same_key_with_another_body_is_a_422_and_charges_nothing(api_client):
    post(api_client, "/api/generate/video", VIDEO, "k1")
    other = post(api_client, "/api/generate/video", {**VIDEO, "prompt": "a dog"}, "k1")

    assert other.status_code == 422
    body = other.get_json()
    assert body["code"] == "idempotency_conflict" and "different request body" in body["error"]
    assert balance(api_client) == 90


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("/api/generate/image", IMAGE), ("/api/generate/video", VIDEO)),
        (("/api/generate/video", VIDEO), ("/api/generate/image", IMAGE)),
    ],
)
def test_a_key_is_scoped_to_its_endpoint_and_a_clash_is_422(api_client, first, second):
    made = post(api_client, *first, "shared-key")
    before = balance(api_client)
    clash = post(api_client, *second, "shared-key")

    assert made.status_code in (200, 202)
    assert clash.status_code == 422 and clash.get_json()["code"] == "idempotency_conflict"
    assert "used for a" in clash.get_json()["error"]
    assert balance(api_client) == before


def test_a_key_is_forgotten_after_its_time(api_client, deps, clock):
    first = post(api_client, "/api/generate/video", VIDEO, "k1")
    clock.advance(deps.settings.idempotency_key_ttl_hours * 3600 - 1)
    assert post(api_client, "/api/generate/video", VIDEO, "k1").get_json()["replayed"] is True
    clock.advance(2)
    later = post(api_client, "/api/generate/video", VIDEO, "k1")

    assert later.status_code == 202 and later.get_json()["replayed"] is False
    assert later.get_json()["creationId"] != first.get_json()["creationId"]
    assert balance(api_client) == 80


def test_a_failed_image_retried_with_its_key_tries_again(api_client, deps):
    from shared.domain.errors import GenerationError

    deps.images.failure = GenerationError("generator_unavailable", "busy", transient=True)
    failed = post(api_client, "/api/generate/image", IMAGE, "img")
    assert failed.status_code == 503 and failed.get_json()["refunded"] is True
    assert failed.get_json()["code"] == "generation_unavailable"
    deps.images.failure = None
    retried = post(api_client, "/api/generate/image", IMAGE, "img")
    assert retried.status_code == 200 and retried.get_json()["status"] == "draft"
    assert balance(api_client) == 99
