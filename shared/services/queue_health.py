"""The queue health gate: is it worth charging a user for a task right now?

A paused queue still accepts tasks, so without this gate users would pay and wait for a
queue that does not dispatch. Answers are cached for a few seconds so that health checks
and submits cannot exhaust the Cloud Tasks API quota; one caller refreshes at a time.

The gate learns of an outage from the submits themselves: an enqueue that finds the queue
unreachable closes it at once (`report_failure`), so the next submits are refused before
they are charged instead of being charged and refunded until the cache expires. While it is
closed, the first request that comes `recheck_seconds` after the last probe probes the
queue again, inside that request, and reopens the gate when the queue answers RUNNING; the
requests that arrive meanwhile answer from the current state. There is no background
thread: Cloud Functions (2nd gen) run on Cloud Run, which gives an instance CPU only while
it handles a request, so a thread could not run between requests there. An idle instance
probes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import events
from shared.domain.errors import QueueError
from shared.ports import QueueInfo, QueueState, TaskQueue


@dataclass(frozen=True)
class QueueHealthReport:
    status: str  # ok | paused | disabled | unavailable
    state: str | None
    reason: str | None
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        """What callers see: statuses only, never the queue's resource path."""
        body: dict[str, Any] = {
            "status": self.status,
            "state": self.state,
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
    """The gate of one instance. Nothing runs between requests: every probe happens inside
    a `check()`, so it works where the platform gives CPU only while a request is handled
    (Cloud Run's default, hence Cloud Functions 2nd gen)."""

    def __init__(
        self,
        queue: TaskQueue,
        ttl_seconds: float,
        *,
        recheck_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._ttl = ttl_seconds
        # how long a closed gate waits before a request probes again (default: the ttl)
        self._recheck = ttl_seconds if recheck_seconds is None else recheck_seconds
        self._monotonic = monotonic
        self._state = threading.Lock()  # guards _cached; never held during a probe
        self._probing = threading.Lock()  # held by the one request that probes
        self._cached: tuple[float, QueueHealthReport] | None = None

    def check(self) -> QueueHealthReport:
        """The gate's state; probes the queue first when the state is due (an open gate's
        after the ttl, a closed gate's after `recheck_seconds`). One request probes at a
        time; the others answer from the current state at once (only the very first
        requests, with no state yet, wait for the first probe)."""
        cached = self._cached
        if cached is not None and not self._due(cached):
            return cached[1]
        if not self._probing.acquire(blocking=cached is None):
            assert cached is not None
            return cached[1]  # another request of this instance is probing
        try:
            cached = self._cached  # the request that probed before us may have refreshed it
            if cached is not None and not self._due(cached):
                return cached[1]
            return self._probed(self._probe(), since=cached)
        finally:
            self._probing.release()

    def observe(self, info: QueueInfo) -> QueueHealthReport:
        """Take the queue's state from a call that just returned it (an operator's pause or
        resume), whatever the cache holds."""
        report = _report_of(info)
        with self._state:
            self._cached = (self._monotonic(), report)
        return report

    def report_failure(self, error: QueueError) -> None:
        """A call to the queue just failed: close the gate now if the queue is unreachable."""
        if not error.unreachable:
            return
        with self._state:
            cached = self._cached
            self._cached = (self._monotonic(), _report("unavailable", None, error.code))
        if cached is None or cached[1].ok:
            events.emit("queue.gate_closed", logging.WARNING, reason=error.code)

    def _due(self, cached: tuple[float, QueueHealthReport]) -> bool:
        at, report = cached
        return self._monotonic() - at >= (self._ttl if report.ok else self._recheck)

    def _probed(
        self, report: QueueHealthReport, since: tuple[float, QueueHealthReport] | None
    ) -> QueueHealthReport:
        """Store a probe's answer, unless something newer came in while it ran (a failure
        reported by a submit, an operator's pause): that one stands."""
        with self._state:
            current = self._cached
            if current is not since and current is not None:
                return current[1]
            self._cached = (self._monotonic(), report)
        if report.ok and since is not None and not since[1].ok:
            events.emit("queue.gate_reopened")
        return report

    def _probe(self) -> QueueHealthReport:
        try:
            info = self._queue.info()
        except QueueError as exc:
            return _report("unavailable", None, exc.code)
        return _report_of(info)


def _report_of(info: QueueInfo) -> QueueHealthReport:
    status = "ok" if info.state is QueueState.RUNNING else str(info.state)
    return _report(status, info.state.name, _REASONS.get(info.state))


def _report(status: str, state: str | None, reason: str | None) -> QueueHealthReport:
    return QueueHealthReport(status, state, reason, datetime.now(UTC))
