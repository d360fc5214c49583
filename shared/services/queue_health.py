"""The queue health gate: is it worth charging a user for a task right now?

A paused queue still accepts tasks, so without this gate users would pay and wait for a
queue that does not dispatch. Answers are cached for a few seconds so that health checks
and submits cannot exhaust the Cloud Tasks API quota; one caller refreshes at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain.errors import QueueError
from shared.ports import QueueState, TaskQueue


@dataclass(frozen=True)
class QueueHealthReport:
    status: str  # ok | paused | disabled | unavailable
    queue: str
    state: str | None
    reason: str | None
    latency_ms: float
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict:
        body = {
            "status": self.status,
            "queue": {"name": self.queue, "state": self.state},
            "latencyMs": round(self.latency_ms, 1),
            "checkedAt": self.checked_at.isoformat(),
        }
        if self.reason:
            body["reason"] = self.reason
        return body


_REASONS = {
    QueueState.PAUSED: "the queue is paused: tasks would be held, not run",
    QueueState.DISABLED: "the queue is disabled",
}


class QueueHealth:
    def __init__(
        self,
        queue: TaskQueue,
        queue_name: str,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._queue_name = queue_name
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, QueueHealthReport] | None = None

    def check(self) -> QueueHealthReport:
        cached = self._cached
        if cached and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached and self._monotonic() - cached[0] < self._ttl:
                return cached[1]
            report = self._probe()
            self._cached = (self._monotonic(), report)
            return report

    def _probe(self) -> QueueHealthReport:
        started = time.perf_counter()
        try:
            info = self._queue.info()
        except QueueError as exc:
            status, state, reason = "unavailable", None, exc.code
        else:
            state = info.state.name
            status = "ok" if info.state is QueueState.RUNNING else info.state.value
            reason = _REASONS.get(info.state)
        return QueueHealthReport(
            status=status,
            queue=self._queue_name,
            state=state,
            reason=reason,
            latency_ms=(time.perf_counter() - started) * 1000,
            checked_at=datetime.now(UTC),
        )
