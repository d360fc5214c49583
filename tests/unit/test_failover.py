"""Failover (issue 21): a start that the primary refuses with 429 goes to the next route (a
model at a location: VEO_LOCATIONS, VEO_FALLBACK_MODELS) whose price is not above what was
charged; the creation records the model and location that made it; never two paid
generations for one creation (only a 429, which proves nothing started, moves on)."""

from __future__ import annotations

import dataclasses

import pytest

from shared.adapters.local_video import LocalVideoGenerator
from shared.config import ConfigError, settings_from_env
from shared.domain.creation import Status
from shared.domain.errors import GenerationError
from shared.ports import VideoRoute, VideoSpec
from shared.services.deps import video_routes
from shared.services.videos import VideoOrder, submit_video
from tests.unit.simulation import deliver_all

ORDER = VideoOrder(prompt="a lighthouse at dawn", parameters={})
PRIMARY = "veo-3.1-generate-001"
FAST = "veo-3.1-fast-generate-001"
PRICEY = "veo-3.0-generate-001"


def quota_error() -> GenerationError:
    return GenerationError(
        "generator_rate_limited", "429 RESOURCE_EXHAUSTED", transient=True, not_started=True
    )


@pytest.fixture
def failover(deps):
    """Routes: the primary and the fast model, each at us-central1 then global, and a
    fallback that costs more than a video is charged (10 tokens)."""
    deps.settings = dataclasses.replace(
        deps.settings,
        video_model=PRIMARY,
        veo_locations=("us-central1", "global"),
        veo_fallback_models=(PRICEY, FAST),
        video_model_costs=((FAST, 6), (PRICEY, 20)),
    )
    return deps


def test_the_routes_in_order_with_their_prices(failover):
    routes = failover.policy.video_routes
    assert [(r.model, r.location, price) for r, price in routes] == [
        (PRIMARY, "us-central1", 10),
        (PRIMARY, "global", 10),
        (PRICEY, "us-central1", 20),
        (PRICEY, "global", 20),
        (FAST, "us-central1", 6),
        (FAST, "global", 6),
    ]
    assert [(r.model, r.location) for r in failover.policy.routes_for(10)] == [
        (PRIMARY, "us-central1"),
        (PRIMARY, "global"),
        (FAST, "us-central1"),
        (FAST, "global"),
    ]


def test_by_default_one_route_the_video_model_at_vertex_location(tmp_path):
    settings = settings_from_env({"APP_ENV": "local", "LOCAL_STATE_DIR": str(tmp_path)})
    assert video_routes(settings) == (
        (VideoRoute(settings.video_model, settings.vertex_location), settings.video_cost),
    )


@pytest.mark.parametrize("raw", ["fast", "fast=", "fast=0", "=5", "fast=ten"])
def test_a_model_cost_must_be_model_equals_tokens(tmp_path, raw):
    with pytest.raises(ConfigError, match="VIDEO_MODEL_COSTS"):
        settings_from_env(
            {"APP_ENV": "local", "LOCAL_STATE_DIR": str(tmp_path), "VIDEO_MODEL_COSTS": raw}
        )


def test_a_429_on_the_primary_starts_the_video_on_the_next_location(failover, clock):
    videos = failover.videos
    videos.route_errors[VideoRoute(PRIMARY, "us-central1")] = quota_error()
    cid = submit_video(failover, "ann", ORDER).creation.id

    deliver_all(failover, clock)

    c = failover.store.get_creation(cid)
    assert (c.status, c.refunded, c.model, c.location) == (
        Status.DRAFT,
        False,
        PRIMARY,
        "global",
    )
    assert len(videos.started) == 1  # one paid generation
    assert videos.routes[c.operation_name] == VideoRoute(PRIMARY, "global")
    assert failover.store.get_account("ann").tokens == 100 - 10


def test_the_primary_out_of_quota_everywhere_goes_to_the_cheaper_model_never_the_pricier(
    failover, clock
):
    videos = failover.videos
    for location in ("us-central1", "global"):
        videos.route_errors[VideoRoute(PRIMARY, location)] = quota_error()
    cid = submit_video(failover, "ann", ORDER).creation.id

    deliver_all(failover, clock)

    c = failover.store.get_creation(cid)
    assert (c.status, c.model, c.location) == (Status.DRAFT, FAST, "us-central1")
    assert all(r is None or r.model != PRICEY for r in videos.tried)
    assert len(videos.started) == 1


def test_every_allowed_route_out_of_quota_the_video_waits_as_before(failover, clock):
    videos = failover.videos
    for route, _price in failover.policy.video_routes:
        videos.route_errors[route] = quota_error()
    cid = submit_video(failover, "ann", ORDER).creation.id

    result = failover_start(failover, cid)

    c = failover.store.get_creation(cid)
    assert result.retry and (c.status, c.claim_id, c.operation_name) == (Status.PENDING, None, None)
    assert len(videos.tried) == 4 and videos.started == []  # the 4 routes at 10 tokens or less
    assert not c.refunded


@pytest.mark.parametrize(
    "error",
    [
        # it may have started (a timeout): never started again anywhere
        GenerationError("generator_unavailable", "timeout", transient=True),
        # refused before it ran, but not for quota (no connection): waits, no failover
        GenerationError("generator_unavailable", "refused", transient=True, not_started=True),
        # refused for good
        GenerationError("generation_rejected", "no", transient=False),
    ],
)
def test_only_a_429_moves_a_start_to_another_route(failover, error):
    videos = failover.videos
    videos.route_errors[VideoRoute(PRIMARY, "us-central1")] = error
    cid = submit_video(failover, "ann", ORDER).creation.id

    failover_start(failover, cid)

    assert videos.tried == [VideoRoute(PRIMARY, "us-central1")]
    assert videos.started == []
    c = failover.store.get_creation(cid)
    assert c.model is None and c.operation_name is None


def test_the_api_shows_the_model_and_location_that_made_it(failover, clock, api_client):
    failover.videos.route_errors[VideoRoute(PRIMARY, "us-central1")] = quota_error()
    cid = submit_video(failover, "ann", ORDER).creation.id
    deliver_all(failover, clock)

    body = api_client.get(f"/api/creations/{cid}", headers={"Authorization": "Bearer dev:ann"})

    creation = body.get_json()["creation"]
    assert (creation["model"], creation["location"]) == (PRIMARY, "global")


def test_the_local_quota_is_per_route(tmp_path):
    gen = LocalVideoGenerator(tmp_path, latency_seconds=0, quota_per_minute=1)
    spec = VideoSpec(prompt="a lighthouse")
    primary, fast = VideoRoute(PRIMARY, "us-central1"), VideoRoute(FAST, "us-central1")

    gen.start(spec, primary)
    with pytest.raises(GenerationError) as refused:
        gen.start(spec, primary)
    assert (refused.value.code, refused.value.not_started) == ("generator_rate_limited", True)
    name = gen.start(spec, fast)  # a quota of its own
    gen.start(spec, VideoRoute(PRIMARY, "global"))  # and per location

    op = (tmp_path / "operations" / f"{name.split('/')[-1]}.json").read_text()
    assert f'"model": "{FAST}"' in op


def failover_start(deps, cid):  # one delivery of the start step
    from shared.domain.step_tasks import Step, StepTask
    from shared.services.video_steps import run_step

    return run_step(deps, StepTask(cid, Step.START))
