"""Failover on the local stack: the local generator's quota is one start a minute per model
and location (LOCAL_VIDEO_QUOTA_PER_MINUTE), as Vertex's is per project and model. With a
second location allowed (VEO_LOCATIONS), a start the first location refuses with 429 goes
to the second at once; with none left, it waits in line and is never failed or charged
twice."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devtools.stack import LocalStack
from tests.e2e.helpers import STACK_SETTINGS, user, wait_for
from tests.stacks import quiet_stack

VIDEO = {"prompt": "a heron lifting off a misty lake"}


@pytest.fixture(scope="module")
def failover_stack(tmp_path_factory) -> Iterator[LocalStack]:
    settings = {
        **STACK_SETTINGS,
        "LOCAL_VIDEO_QUOTA_PER_MINUTE": "1",
        "VEO_LOCATIONS": "us-central1,global",
    }
    with quiet_stack(tmp_path_factory.mktemp("failover"), settings) as stack:
        yield stack


def test_a_start_refused_for_quota_goes_to_the_next_location(failover_stack) -> None:
    with httpx.Client(base_url=failover_stack.api_url, timeout=30) as http:
        submitted = []
        for name in ("fay", "gus"):
            headers = user(name)
            answer = http.post("/api/generate/video", json=VIDEO, headers=headers)
            assert answer.status_code == 202, answer.text
            submitted.append((headers, answer.json()["creationId"]))

        def ended() -> list[dict] | None:
            seen = [
                http.get(f"/api/creations/{cid}", headers=h).json()["creation"]
                for h, cid in submitted
            ]
            return seen if all(c["status"] == "draft" for c in seen) else None

        done = wait_for(ended, timeout=120)
        assert sorted(c["location"] for c in done) == ["global", "us-central1"]
        assert {c["model"] for c in done} == {"veo-3.1-generate-001"}
        for headers, _cid in submitted:
            tokens = http.get("/api/tokens", headers=headers).json()
            assert tokens["balance"] == 100 - 10  # charged once, never refunded
