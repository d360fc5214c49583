"""The overview's reads are sent together: it waits about as long as its slowest read, not
their sum (benchmarks/overview.py prints the figures). Proven without a clock: four of its
reads each wait at a barrier for the other three, which only reads in flight at once pass;
one after another, the first would wait alone until the barrier's deadline and break it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.domain.errors import StoreUnavailable
from shared.services.admin import overview


def _meeting(barrier: threading.Barrier, read: Any) -> Any:
    def wait_then_read(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return read(*args, **kwargs)

    return wait_then_read


def test_the_overviews_reads_are_in_flight_at_once(deps, monkeypatch):
    barrier = threading.Barrier(4, timeout=30)  # a deadline only for the failing case
    for name in ("recent_creations", "count_creations"):  # each called twice
        monkeypatch.setattr(deps.queries, name, _meeting(barrier, getattr(deps.queries, name)))
    seen = overview(deps)
    assert not barrier.broken
    assert (seen.day.submitted, seen.day.drafts, seen.hour.submitted) == (0, 0, 0)


def test_a_failed_read_fails_the_overview(deps, monkeypatch):
    def down(*_args: Any) -> Any:
        raise StoreUnavailable("the store is down")

    monkeypatch.setattr(deps.queries, "latest_failures", down)
    with pytest.raises(StoreUnavailable):
        overview(deps)
