"""A waiting video's place in line (issue 21): GET /api/creations/<id> carries
`queuePosition` (accepted videos that start before it) and `estimatedStartAt` (from the
pace of starts), counted by the store, never by reading every waiting creation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.domain.errors import StoreUnavailable
from shared.services import queue_position
from shared.services.video_steps import run_step

VIDEO = {"prompt": "a lighthouse at dawn"}


@pytest.fixture(autouse=True)
def fresh_cache():
    queue_position.CACHE.clear()
    yield
    queue_position.CACHE.clear()


def submit(client, who: str) -> str:
    response = client.post(
        "/api/generate/video", json=VIDEO, headers={"Authorization": f"Bearer dev:{who}"}
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["creationId"]


def read(client, who: str, cid: str) -> dict:
    response = client.get(f"/api/creations/{cid}", headers={"Authorization": f"Bearer dev:{who}"})
    assert response.status_code == 200
    return response.get_json()["creation"]


def test_each_waiting_video_says_how_many_start_before_it_and_about_when(api_client, deps, clock):
    ids = []
    for who in ("ann", "bob", "cat"):
        ids.append(submit(api_client, who))
        clock.advance(1)

    seen = [read(api_client, who, cid) for who, cid in zip(("ann", "bob", "cat"), ids, strict=True)]

    assert [c["queuePosition"] for c in seen] == [0, 1, 2]
    interval = 60 / deps.policy.starts_per_minute
    starts = [datetime.fromisoformat(c["estimatedStartAt"]) for c in seen]
    assert starts[2] - starts[0] == timedelta(seconds=2 * interval)
    assert starts[0] == clock()


def test_a_started_video_has_no_position_and_the_ones_behind_it_move_up(api_client, deps, clock):
    first = submit(api_client, "ann")
    clock.advance(1)
    second = submit(api_client, "bob")
    assert read(api_client, "bob", second)["queuePosition"] == 1

    for task in deps.queue.take():
        if task.creation_id == first:
            run_step(deps, task)
    queue_position.CACHE.clear()  # a few seconds later

    started = read(api_client, "ann", first)
    assert started["status"] == "processing"
    assert started["queuePosition"] is None and started["estimatedStartAt"] is None
    assert read(api_client, "bob", second)["queuePosition"] == 0


def test_a_poll_within_the_cache_time_does_not_count_again(api_client, deps):
    cid = submit(api_client, "ann")
    counts = []
    original = deps.store.count_waiting_before

    def counting(created_at):
        counts.append(created_at)
        return original(created_at)

    deps.store.count_waiting_before = counting
    for _ in range(5):
        assert read(api_client, "ann", cid)["queuePosition"] == 0
    assert len(counts) == 1


def test_the_creation_still_reads_when_the_count_fails(api_client, deps):
    cid = submit(api_client, "ann")

    def down(created_at):
        raise StoreUnavailable("down")

    deps.store.count_waiting_before = down
    creation = read(api_client, "ann", cid)
    assert creation["status"] == "pending" and creation["queuePosition"] is None
