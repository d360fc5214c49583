"""The worker's HTTP contract: one step per request, 2xx done, 503 retry, 400 not a task."""

from __future__ import annotations

import pytest

from functions import worker
from shared.services.videos import VideoOrder, submit_video


@pytest.fixture
def client(deps):
    return worker.create_app(deps).test_client()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"step": "start"}, "creationId"),
        ({"creationId": "a/b", "step": "start"}, "creationId"),
        ({"creationId": "abc", "step": "explode"}, "step"),
        ({"creationId": "abc", "step": "poll", "seq": -1}, "seq"),
        ([], "body"),
    ],
)
def test_a_body_that_is_not_a_task_is_400(client, body, field):
    response = client.post("/tasks/video", json=body)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]


def test_steps_run_and_answer_their_outcome(client, deps):
    cid = submit_video(deps, "zoe", VideoOrder("tides", {})).creation.id

    start = client.post("/tasks/video", json={"creationId": cid, "step": "start"})
    poll = client.post("/tasks/video", json={"creationId": cid, "step": "poll", "seq": 1})

    assert (start.status_code, start.get_json()["outcome"]) == (200, "poll_scheduled:1")
    assert (poll.status_code, poll.get_json()["outcome"]) == (200, "draft")


def test_reconcile_answers_its_report(client):
    body = client.post("/tasks/reconcile").get_json()
    assert body == {"scanned": 0, "requeued": 0, "failed": 0, "errors": 0, "repaired": 0}


def test_a_store_outage_during_the_sweep_is_503_so_the_scheduler_retries(client, deps):
    from shared.domain.errors import StoreUnavailable

    deps.store.fail_next("stale_creations", StoreUnavailable("down"))
    response = client.post("/tasks/reconcile", json={})
    assert response.status_code == 503 and response.headers["Retry-After"]
