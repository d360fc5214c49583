"""The services wired to the fakes (and, for the contract tests, to a real store): the one
place a test builds a Container."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from shared.adapters.dev_identity import DevIdentityVerifier
from shared.bootstrap import Container, utc_now
from shared.config import settings_from_env
from shared.ports import Store
from shared.services.queue_health import QueueHealth
from tests.fakes.generators import FakeImages, FakeVideos
from tests.fakes.media import FakeMedia
from tests.fakes.queue import FakeQueue
from tests.fakes.store import InMemoryStore


def fake_container(
    state_dir: Path,
    *,
    store: Store | None = None,
    queue: Callable[[str], FakeQueue] = FakeQueue,
    clock: Callable[[], datetime] = utc_now,
) -> Container:
    """Local settings (state under `state_dir`, the gate uncached), the fakes, and `store`
    (an InMemoryStore unless given); `queue` makes the queue from its path."""
    settings = settings_from_env(
        {"APP_ENV": "local", "LOCAL_STATE_DIR": str(state_dir), "QUEUE_HEALTH_TTL_SECONDS": "0"}
    )
    task_queue = queue(settings.queue_path)
    return Container(
        settings,
        clock=clock,
        store=store if store is not None else InMemoryStore(),
        queue=task_queue,
        queue_health=QueueHealth(task_queue, ttl_seconds=0),
        videos=FakeVideos(),
        images=FakeImages(),
        task_auth=None,
        media=FakeMedia(),
        identity=DevIdentityVerifier(settings.admin_uids),
    )
