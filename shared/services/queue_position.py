"""Where a waiting video stands: how many accepted videos start before it, and about when
its own start comes (issue 21; docs/DESIGN.md, "Veo's quota").

Starts leave the start queue at the pace Cloud Tasks keeps (VEO_STARTS_PER_MINUTE), in
about the order they were submitted; so the position is the number of videos still
`pending` that were submitted before this one, and the estimate is that many start
intervals from now. The store counts them from an index (an aggregation: no document is
read, nothing is written: no counter document to funnel a burst of submits through). Each
instance keeps a creation's count CACHE_SECONDS, so a user polling every second costs one
count per few seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.domain.creation import Creation, Kind, Status

if TYPE_CHECKING:
    from shared.services.deps import Deps

CACHE_SECONDS = 3.0
CACHE_ENTRIES = 10_000  # per instance; the oldest half goes when full


@dataclass(frozen=True)
class QueuePosition:
    ahead: int  # accepted videos that start before this one
    estimated_start_at: datetime


@dataclass(frozen=True)
class Starts:
    """Videos waiting for their start, at the pace the start queue keeps (issue 21): the
    operator overview's and the reconcile sweep's `video.start_line`."""

    per_minute: float  # VEO_STARTS_PER_MINUTE
    waiting: int  # videos `pending`: accepted, not started
    oldest_wait_seconds: int | None  # how long the oldest of them has waited (None: none)


def start_line(deps: Deps, now: datetime) -> Starts:
    """Two index reads, no document scan: the count of `pending` creations (an aggregation)
    and the oldest one's submit time (one index entry)."""
    oldest = deps.queries.oldest_waiting()
    return Starts(
        per_minute=deps.policy.starts_per_minute,
        waiting=deps.queries.count_waiting_before(now + timedelta(seconds=1)),
        oldest_wait_seconds=max(0, int((now - oldest).total_seconds())) if oldest else None,
    )


def estimate(ahead: int, counted_at: datetime, starts_per_minute: float) -> datetime:
    """The start of a video with `ahead` videos before it, at `starts_per_minute`."""
    return counted_at + timedelta(seconds=ahead * 60.0 / starts_per_minute)


class _Cache:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[float, int, datetime]] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def get(self, key: str) -> tuple[int, datetime] | None:
        with self._lock:
            found = self._entries.get(key)
        if found is None or self._monotonic() - found[0] > CACHE_SECONDS:
            return None
        return found[1], found[2]

    def put(self, key: str, ahead: int, counted_at: datetime) -> None:
        with self._lock:
            if len(self._entries) >= CACHE_ENTRIES:
                for old in list(self._entries)[: CACHE_ENTRIES // 2]:
                    del self._entries[old]
            self._entries[key] = (self._monotonic(), ahead, counted_at)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = _Cache()


def queue_position(deps: Deps, creation: Creation) -> QueuePosition | None:
    """The position of a video waiting for its start, or None (not a waiting video).
    Raises StoreUnavailable / StoreContention as the store's reads do."""
    if creation.kind is not Kind.VIDEO or creation.status is not Status.PENDING:
        return None
    cached = CACHE.get(creation.id)
    if cached is None:
        counted_at = deps.clock()
        ahead = deps.queries.count_waiting_before(creation.created_at)
        CACHE.put(creation.id, ahead, counted_at)
    else:
        ahead, counted_at = cached
    pace = deps.policy.starts_per_minute
    return QueuePosition(ahead, estimate(ahead, counted_at, pace))
