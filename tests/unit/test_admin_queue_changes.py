"""An operator's pause and resume (issue 22): the overview never shows the state from before
the change, a change that would change nothing is refused (409) and not recorded, and a
failure answers an operator's sentence: what failed, whether it was applied and recorded."""

from __future__ import annotations

from shared.domain.errors import QueueError, StoreUnavailable

ADMIN = {"Authorization": "Bearer dev:admin"}


def _queue_status(api_client) -> str:
    return api_client.get("/api/admin/overview", headers=ADMIN).get_json()["queue"]["status"]


def test_the_overview_shows_a_pause_and_a_resume_at_once(api_client):
    assert _queue_status(api_client) == "ok"  # cached now, for OVERVIEW_TTL_SECONDS
    paused = api_client.post("/api/admin/queue/pause", json={"reason": "r"}, headers=ADMIN)
    assert paused.status_code == 200, paused.get_json()
    overview = api_client.get("/api/admin/overview", headers=ADMIN).get_json()["queue"]
    assert overview["status"] == "paused"
    assert overview["lastChange"]["action"] == "pause"
    api_client.post("/api/admin/queue/resume", json={"reason": "back"}, headers=ADMIN)
    assert _queue_status(api_client) == "ok"


def test_a_resume_of_a_running_queue_is_refused_and_not_recorded(api_client, deps):
    response = api_client.post("/api/admin/queue/resume", json={"reason": "r"}, headers=ADMIN)
    body = response.get_json()
    assert response.status_code == 409, body
    assert body["code"] == "queue_unchanged"
    assert body["error"] == (
        "The queue is running already: nothing was changed and nothing was recorded."
    )
    assert deps.store.queue_changes == []


def test_a_pause_of_a_paused_queue_is_refused_too(api_client, deps):
    assert api_client.post("/api/admin/queue/pause", json={"reason": "a"}, headers=ADMIN).is_json
    again = api_client.post("/api/admin/queue/pause", json={"reason": "b"}, headers=ADMIN)
    assert again.status_code == 409
    assert again.get_json()["error"].startswith("The queue is paused already")
    assert [c.reason for c in deps.store.queue_changes] == ["a"]


def test_a_pause_the_queue_did_not_take_says_so_to_the_operator(api_client, deps):
    deps.queue.failure = QueueError("queue_unavailable")
    response = api_client.post("/api/admin/queue/pause", json={"reason": "r"}, headers=ADMIN)
    body = response.get_json()
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert (body["code"], body["queueErrorCode"]) == ("queue_unavailable", "queue_unavailable")
    assert "The queue was not paused" in body["error"]
    assert "still accepts new videos" in body["error"]
    assert "nothing was recorded" in body["error"]
    assert "Cloud Tasks" in body["details"]
    assert "creation" not in body["error"] + body["details"]  # an operator's, not a user's
    assert deps.store.queue_changes == []


def test_a_pause_applied_but_not_recorded_says_so(api_client, deps, monkeypatch):
    def down(_change):
        raise StoreUnavailable("store down")

    monkeypatch.setattr(deps.store, "record_queue_change", down)
    response = api_client.post("/api/admin/queue/pause", json={"reason": "r"}, headers=ADMIN)
    body = response.get_json()
    assert response.status_code == 503
    assert body["code"] == "service_unavailable"
    assert body["error"].startswith("The queue is paused, but who did it and why could not")
    assert deps.queue.info().state.value == "paused"
