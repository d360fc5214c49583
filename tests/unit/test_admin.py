"""The operator's routes: admins only; the overview's figures; pause and resume recorded."""

from __future__ import annotations

import pytest

from shared.domain.errors import GenerationError, QueueError

ADMIN = {"Authorization": "Bearer dev:admin"}
ALICE = {"Authorization": "Bearer dev:alice"}
REASON = {"reason": "Veo quota exhausted"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/admin/overview"),
        ("post", "/api/admin/queue/pause"),
        ("post", "/api/admin/queue/resume"),
        ("post", "/api/admin/reconcile"),
    ],
)
def test_everyone_but_an_admin_is_refused_and_nothing_runs(api_client, deps, method, path):
    response = getattr(api_client, method)(path, json=REASON, headers=ALICE)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert api_client.get(path, headers={}).status_code in (401, 405)
    assert deps.queue.info().state.value == "running"
    assert deps.store.queue_changes == []


def test_me_says_who_is_an_admin(api_client):
    assert api_client.get("/api/me", headers=ADMIN).get_json()["admin"] is True
    assert api_client.get("/api/me", headers=ALICE).get_json()["admin"] is False


def test_pausing_refuses_new_videos_at_once_and_is_recorded(api_client, deps, clock):
    paused = api_client.post("/api/admin/queue/pause", json=REASON, headers=ADMIN)

    body = paused.get_json()
    assert paused.status_code == 200, body
    assert body["queue"]["status"] == "paused"
    assert body["queue"]["lastChange"] == {
        "action": "pause",
        "by": "admin",
        "at": clock().isoformat().replace("+00:00", "Z"),
        "reason": "Veo quota exhausted",
    }
    refused = api_client.post("/api/generate/video", json={"prompt": "x"}, headers=ALICE)
    assert refused.status_code == 503 and refused.get_json()["charged"] is False

    resumed = api_client.post(
        "/api/admin/queue/resume", json={"reason": "quota back"}, headers=ADMIN
    )
    assert resumed.get_json()["queue"]["status"] == "ok"
    accepted = api_client.post("/api/generate/video", json={"prompt": "x"}, headers=ALICE)
    assert accepted.status_code == 202


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"why": "x"}])
def test_a_pause_needs_a_reason(api_client, deps, body):
    response = api_client.post("/api/admin/queue/pause", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert deps.queue.info().state.value == "running"


def test_a_queue_that_cannot_be_paused_is_a_503(api_client, deps):
    deps.queue.failure = QueueError("queue_unavailable")
    response = api_client.post("/api/admin/queue/pause", json=REASON, headers=ADMIN)
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_overview_counts_the_hour_the_day_and_each_minute(api_client, deps, clock):
    def video(prompt="v"):
        return api_client.post("/api/generate/video", json={"prompt": prompt}, headers=ALICE)

    video()
    clock.advance(3 * 3600)  # out of the last hour, still in the day
    deps.queue.take()
    deps.images.failure = GenerationError("content_filtered", "no", transient=False)
    api_client.post("/api/generate/image", json={"prompt": "i"}, headers=ALICE)
    deps.images.failure = None
    api_client.post("/api/generate/image", json={"prompt": "i"}, headers=ALICE)
    from shared.services.queue_health import QueueHealth

    deps.queue_health = QueueHealth(deps.queue, ttl_seconds=3600)
    deps.queue_health.check()  # the gate saw it running: the enqueue itself fails
    deps.queue.failure = QueueError("queue_not_found")
    clock.advance(1)
    video()
    deps.queue.failure = None

    body = api_client.get("/api/admin/overview?fresh=1", headers=ADMIN).get_json()

    hour, day = body["windows"]["hour"], body["windows"]["day"]
    assert (hour["submitted"], day["submitted"]) == (3, 4)
    assert hour["drafts"] == 1 and hour["failed"] == {"content_filtered": 1, "enqueue_failed": 1}
    assert hour["enqueueFailed"] == {"queue_not_found": 1}
    assert hour["refunded"] == {"content_filtered": 1, "enqueue_failed": 1}
    assert (hour["inFlight"], day["inFlight"]) == (0, 1)
    assert len(body["perMinute"]) == 60 and body["perMinute"][-1]["submitted"] == 3
    assert [f["errorCode"] for f in body["latestFailures"]] == [
        "enqueue_failed",
        "content_filtered",
    ]
    assert [s["status"] for s in body["stuck"]] == ["pending"]  # the first video, 3 h untouched
    assert body["queue"]["status"] == "ok" and body["truncated"] is False


def test_reconcile_now_runs_the_sweep(api_client, deps, clock):
    api_client.post("/api/generate/video", json={"prompt": "v"}, headers=ALICE)
    deps.queue.take()  # its task was lost
    clock.advance(deps.settings.stale_after_seconds + 1)

    body = api_client.post("/api/admin/reconcile", headers=ADMIN).get_json()

    assert body["report"]["scanned"] == 1 and body["report"]["requeued"] == 1


def test_the_overview_counts_the_day_s_grants_and_corrections_and_the_start_line(
    api_client, deps, clock
):
    def grant(uid, amount, key):
        headers = {**ADMIN, "Idempotency-Key": key}
        body = {"uid": uid, "amount": amount, "reason": "support"}
        return api_client.post("/api/admin/grants", json=body, headers=headers)

    api_client.post("/api/generate/video", json={"prompt": "first"}, headers=ALICE)
    first = api_client.get("/api/admin/overview", headers=ADMIN).get_json()  # cached now
    clock.advance(90)
    assert grant("alice", 25, "k1").status_code == 200
    assert grant("alice", 25, "k1").get_json()["replayed"] is True  # counted once
    assert grant("alice", -5, "k2").status_code == 200
    assert grant("bob", -500, "k3").status_code == 409  # refused: nothing written

    body = api_client.get("/api/admin/overview", headers=ADMIN).get_json()  # not the cache

    assert first["movements"]["grant"] == {"count": 1, "tokens": 100}  # alice's starting grant
    # the refused correction wrote nothing, not even bob's account and its starting grant
    assert body["movements"]["grant"] == {"count": 2, "tokens": 125}
    assert body["movements"]["adjustment"] == {"count": 1, "tokens": -5}
    assert body["movements"]["credit"] == {"count": 0, "tokens": 0}
    assert body["starts"] == {"perMinute": 10.0, "waiting": 1, "oldestWaitSeconds": 90}
