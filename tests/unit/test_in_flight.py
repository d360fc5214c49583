"""The per-user limit on videos in flight: a counter moved by the money transactions."""

from __future__ import annotations

import dataclasses

from shared.domain.errors import GenerationError
from shared.services.reconcile import reconcile
from tests.contract.invariants import assert_conserved
from tests.unit.simulation import deliver_all

ALICE = {"Authorization": "Bearer dev:alice"}


def submit(client, **headers):
    return client.post(
        "/api/generate/video", json={"prompt": "a fox"}, headers={**ALICE, **headers}
    )


def test_the_fourth_video_in_flight_is_429_and_charges_nothing(api_client, deps):
    for _ in range(3):
        assert submit(api_client).status_code == 202

    refused = submit(api_client)

    body = refused.get_json()
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert body["code"] == "rate_limited" and (body["inFlight"], body["limit"]) == (3, 3)
    assert body["charged"] is False
    assert deps.store.get_account("alice").tokens == 70
    assert_conserved(deps.store, "alice")


def test_images_do_not_count_and_are_not_refused(api_client):
    for _ in range(3):
        submit(api_client)
    image = api_client.post("/api/generate/image", json={"prompt": "a cat"}, headers=ALICE)
    assert image.status_code == 200


def test_a_replay_is_not_refused_by_the_limit(api_client):
    first = submit(api_client, **{"Idempotency-Key": "k"})
    for _ in range(2):
        submit(api_client)
    again = submit(api_client, **{"Idempotency-Key": "k"})
    assert again.status_code == 202
    assert again.get_json()["creationId"] == first.get_json()["creationId"]


def test_every_end_gives_a_place_back(api_client, deps, clock):
    cids = [submit(api_client).get_json()["creationId"] for _ in range(3)]
    api_client.post(f"/api/creations/{cids[0]}/cancel", headers=ALICE)  # cancelled
    assert deps.store.get_account("alice").in_flight == 2
    deps.videos.start_error = GenerationError("generation_rejected", "no", transient=False)
    deps.queue.take()  # cids[1]'s start is lost; cids[2] fails below
    from shared.domain.step_tasks import Step, StepTask
    from shared.services.video_steps import run_step

    run_step(deps, StepTask(cids[2], Step.START))  # failed and refunded
    assert deps.store.get_account("alice").in_flight == 1
    deps.videos.start_error = None
    run_step(deps, StepTask(cids[1], Step.START))
    deliver_all(deps, clock)  # draft
    assert deps.store.get_account("alice").in_flight == 0
    assert_conserved(deps.store, "alice")


def test_the_limit_can_be_lifted(api_client, deps):
    deps.settings = dataclasses.replace(deps.settings, max_in_flight_videos=0)
    assert all(submit(api_client).status_code == 202 for _ in range(5))


def test_the_reconciler_repairs_a_counter_that_drifted(api_client, deps):
    submit(api_client)
    store = deps.store
    store.accounts["alice"] = dataclasses.replace(store.accounts["alice"], in_flight=3)
    assert submit(api_client).status_code == 429  # wrongly refused

    report = reconcile(deps)

    assert report.repaired == ["alice"]
    assert store.get_account("alice").in_flight == 1
    assert submit(api_client).status_code == 202
