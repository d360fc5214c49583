"""The public api's HTTP contract, on the in-memory fakes."""

from __future__ import annotations

import dataclasses

import pytest

from functions import api
from shared.domain.errors import QueueError, StoreContention
from shared.ports import QueueState
from shared.services.queue_health import QueueHealth

ALICE = {"Authorization": "Bearer dev:alice"}
VIDEO = {"prompt": "a paper boat on a river", "aspectRatio": "9:16", "durationSeconds": 6}


@pytest.fixture
def client(deps):
    return api.create_app(deps).test_client()


def test_submit_answers_202_with_the_creation_and_balance(client, deps):
    response = client.post("/api/generate/video", json=VIDEO, headers=ALICE)

    assert response.status_code == 202
    body = response.get_json()
    assert body["success"] is True and body["status"] == "pending"
    assert (body["tokensCharged"], body["balance"]) == (10, 90)
    creation = deps.store.get_creation(body["creationId"])
    assert creation.parameters == {
        "aspectRatio": "9:16",
        "durationSeconds": 6,
        "resolution": "720p",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "ok", "aspectRatio": "4:3"}, "aspectRatio"),
        ({"prompt": "ok", "durationSeconds": 5}, "durationSeconds"),
        ({"prompt": "ok", "durationSeconds": "8"}, "durationSeconds"),
        ({"prompt": "ok", "resolution": "4k"}, "resolution"),
        ({"prompt": "ok", "resolution": "1080p", "durationSeconds": 4}, "resolution"),
        ({"prompt": "ok", "colour": "red"}, "colour"),
        ([1, 2], "body"),
    ],
)
def test_bad_bodies_get_400_naming_the_field_and_charge_nothing(client, deps, body, field):
    response = client.post("/api/generate/video", json=body, headers=ALICE)

    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert deps.store.get_account("alice") is None


def test_non_json_oversized_and_unauthenticated_requests(client, deps):
    post = client.post
    assert post("/api/generate/video", data="prompt=x", headers=ALICE).status_code == 415
    bad_json = post(
        "/api/generate/video", data="{nope", headers={**ALICE, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "body" in bad_json.get_json()["fields"]
    huge = post("/api/generate/video", json={"prompt": "x" * 20_000}, headers=ALICE)
    assert huge.status_code == 413
    assert post("/api/generate/video", json=VIDEO).status_code == 401
    wrong = post("/api/generate/video", json=VIDEO, headers={"Authorization": "Bearer abc"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    assert deps.store.get_account("alice") is None


def test_short_balance_is_402_with_balance_and_required(client, deps):
    deps.settings = dataclasses.replace(deps.settings, video_cost=101)
    response = client.post("/api/generate/video", json=VIDEO, headers=ALICE)

    assert response.status_code == 402
    assert response.get_json() | {"error": ""} == {
        "success": False,
        "code": "insufficient_tokens",
        "error": "",
        "balance": 100,
        "required": 101,
    }


def test_enqueue_failure_is_503_refunded_with_retry_after(client, deps):
    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    deps.queue_health.check()
    deps.queue.failure = QueueError("queue_unavailable")

    response = client.post("/api/generate/video", json=VIDEO, headers=ALICE)

    body = response.get_json()
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert body["error"] == "Video generation queue is unavailable. Please retry shortly."
    assert body["refunded"] is True and "refunded" in body["details"]
    assert body["balance"] == 100
    creation = client.get(f"/api/creations/{body['creationId']}", headers=ALICE).get_json()
    assert creation["creation"]["status"] == "failed"
    assert creation["creation"]["queueErrorCode"] == "queue_unavailable"


def test_paused_queue_is_503_and_nothing_is_charged(client, deps):
    deps.queue.state = QueueState.PAUSED
    response = client.post("/api/generate/video", json=VIDEO, headers=ALICE)

    body = response.get_json()
    assert response.status_code == 503
    assert (body["refunded"], body["charged"]) == (False, False)
    assert deps.store.get_account("alice") is None


def test_contention_is_a_clean_retryable_409(client, deps):
    deps.store.fail_next("debit_and_create", StoreContention("busy"))
    response = client.post("/api/generate/video", json=VIDEO, headers=ALICE)
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert client.get("/api/tokens", headers=ALICE).get_json()["balance"] == 100


def test_creations_are_visible_to_their_owner_only(client):
    cid = client.post("/api/generate/video", json=VIDEO, headers=ALICE).get_json()["creationId"]

    mine = client.get(f"/api/creations/{cid}", headers=ALICE)
    theirs = client.get(f"/api/creations/{cid}", headers={"Authorization": "Bearer dev:mallory"})

    assert mine.status_code == 200 and mine.get_json()["creation"]["status"] == "pending"
    assert theirs.status_code == 404
    assert client.get("/api/creations/no-such-id", headers=ALICE).status_code == 404
    assert client.get("/api/creations/bad%20id", headers=ALICE).status_code == 404


def test_tokens_lists_balance_and_ledger(client):
    client.post("/api/generate/video", json=VIDEO, headers=ALICE)
    body = client.get("/api/tokens", headers=ALICE).get_json()

    assert (body["balance"], body["totalTokensSpent"]) == (90, 10)
    assert sorted(e["type"] for e in body["entries"]) == ["debit", "grant"]
    assert body["inFlight"] == 1 and body["nextCursor"] is None


def test_queue_health_reports_each_state(client, deps):
    assert client.get("/api/health/queue").status_code == 200
    for state in (QueueState.PAUSED, QueueState.DISABLED):
        deps.queue.state = state
        response = client.get("/api/health/queue")
        assert response.status_code == 503
        assert response.get_json()["status"] == state.value
    deps.queue.failure = QueueError("queue_unavailable")
    body = client.get("/api/health/queue").get_json()
    assert (body["status"], body["reason"]) == ("unavailable", "queue_unavailable")


def test_health_reports_each_dependency_by_status_only(client, deps):
    ok = client.get("/api/health")
    assert ok.get_json() == {
        "status": "ok",
        "checks": {"store": "ok", "media": "ok", "queue": "ok"},
    }
    deps.media.failing = True
    response = client.get("/api/health")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["checks"]["media"] == "unavailable"
    assert deps.settings.queue_path not in response.get_data(as_text=True)


def test_health_is_cached_so_callers_cannot_hammer_the_store(deps):
    from shared.services.system_health import SystemHealth

    pings = []
    deps.store.ping = lambda: pings.append(1)
    health = SystemHealth(deps.store, deps.media, deps.queue_health, ttl_seconds=3600)
    for _ in range(50):
        assert health.check().ok
    assert len(pings) == 1


def test_queue_health_shows_no_resource_path_and_503s_say_when_to_retry(client, deps):
    body = client.get("/api/health/queue").get_data(as_text=True)
    assert deps.settings.queue_path not in body and deps.settings.project not in body
    deps.queue.state = QueueState.PAUSED
    paused = client.get("/api/health/queue")
    assert paused.status_code == 503 and paused.headers["Retry-After"]


def test_unknown_routes_and_methods_are_json_and_405_says_what_is_allowed(client):
    missing = client.get("/nope")
    assert missing.get_json()["error"] == "not found"
    assert missing.get_json()["code"] == "not_found"
    wrong = client.get("/api/generate/video")
    assert wrong.status_code == 405 and wrong.get_json()["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


@pytest.mark.parametrize("creation_id", ["__main__", "__x__", "__.*__"])
def test_ids_firestore_reserves_are_404(client, creation_id):
    response = client.get(f"/api/creations/{creation_id}", headers=ALICE)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_deeply_nested_json_is_a_400_not_a_500(client, deps):
    for depth in (40, 5000):
        body = '{"prompt": "x", "negativePrompt": ' + "[" * depth + "]" * depth + "}"
        response = client.post(
            "/api/generate/video",
            data=body,
            headers={**ALICE, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, depth
        assert "body" in response.get_json()["fields"]
    assert deps.store.get_account("alice") is None


def test_a_chunked_body_over_the_limit_is_413(client, deps):
    import io

    big = b'{"prompt": "' + b"x" * (deps.settings.max_body_bytes + 10) + b'"}'
    response = client.post(
        "/api/generate/video",
        input_stream=io.BytesIO(big),
        headers={**ALICE, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert deps.store.get_account("alice") is None


@pytest.mark.parametrize("duration", [8.0, 6.0, True, "8"])
def test_a_duration_that_is_not_a_json_integer_is_refused(client, duration):
    response = client.post(
        "/api/generate/video", json={"prompt": "x", "durationSeconds": duration}, headers=ALICE
    )
    assert response.status_code == 400
    assert "durationSeconds" in response.get_json()["fields"]


@pytest.mark.parametrize("limit", ["0", "101", "ten", "²", "-1", "1e2", ""])
def test_a_bad_ledger_limit_is_400_naming_it(client, limit):
    response = client.get("/api/tokens", query_string={"limit": limit}, headers=ALICE)
    assert response.status_code == 400 and "limit" in response.get_json()["fields"]
