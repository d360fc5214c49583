"""`/api/health`: can the store, media storage and queue be reached? Statuses only.

The answer is cached like the queue gate's (QUEUE_HEALTH_TTL_SECONDS), and one caller
refreshes at a time, so a public endpoint polled by monitors and browsers costs at most one
store read and one storage request per instance per period, whatever the traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.domain.errors import DomainError
from shared.ports import MediaStorage, StoreQueries
from shared.services.queue_health import QueueHealth


@dataclass(frozen=True)
class SystemHealthReport:
    checks: dict[str, str]  # part -> ok | unavailable | paused | disabled

    @property
    def ok(self) -> bool:
        return all(status == "ok" for status in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "degraded", "checks": self.checks}


class SystemHealth:
    def __init__(
        self,
        store: StoreQueries,
        media: MediaStorage,
        queue_health: QueueHealth,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes: dict[str, Callable[[], None]] = {"store": store.ping, "media": media.ping}
        self._queue_health = queue_health
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, SystemHealthReport] | None = None

    def check(self) -> SystemHealthReport:
        with self._lock:
            cached = self._cached
            if cached and self._monotonic() - cached[0] < self._ttl:
                return cached[1]
            checks = {name: _status(probe) for name, probe in self._probes.items()}
            checks["queue"] = self._queue_health.check().status
            report = SystemHealthReport(checks)
            self._cached = (self._monotonic(), report)
            return report


def _status(probe: Callable[[], None]) -> str:
    try:
        probe()
    except DomainError:
        return "unavailable"
    return "ok"
