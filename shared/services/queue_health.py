"""The queue health gate: is it worth charging a user for a task right now?

A paused queue still accepts tasks, so without this gate users would pay and wait for a
queue that does not dispatch. Answers are cached for a few seconds so that health checks
and submits cannot exhaust the Cloud Tasks API quota; one caller refreshes at a time.

The gate learns of an outage from the submits themselves: an enqueue that finds the queue
unreachable closes it at once (`report_failure`), so the next submits are refused before
they are charged instead of being charged and refunded until the cache expires. While it is
closed, a background re-check probes the queue every `recheck_seconds` and reopens it as
soon as the queue answers RUNNING again; it stops by itself when nobody has asked for a
minute (an idle instance does not keep probing).
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

IDLE_AFTER_SECONDS = 60.0  # the re-check stops when no caller asked for this long


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
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, QueueHealthReport] | None = None
        self._asked_at = monotonic()
        self._rechecker: threading.Thread | None = None
        self._wake = threading.Event()

    def check(self) -> QueueHealthReport:
        self._asked_at = self._monotonic()
        cached = self._cached
        if cached and self._monotonic() - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached and self._monotonic() - cached[0] < self._ttl:
                return cached[1]
            return self._store(self._probe())

    def observe(self, info: QueueInfo) -> QueueHealthReport:
        """Take the queue's state from a call that just returned it (an operator's pause or
        resume), whatever the cache holds."""
        with self._lock:
            return self._store(_report_of(info))

    def report_failure(self, error: QueueError) -> None:
        """A call to the queue just failed: close the gate now if the queue is unreachable."""
        if not error.unreachable:
            return
        with self._lock:
            cached = self._cached
            if cached is None or cached[1].ok:
                events.emit("queue.gate_closed", logging.WARNING, reason=error.code)
            self._store(_report("unavailable", None, error.code))

    def _store(self, report: QueueHealthReport) -> QueueHealthReport:
        """Cache a report (the caller holds the lock); start the re-check while not ok."""
        self._cached = (self._monotonic(), report)
        if not report.ok:
            self._start_rechecker()
        return report

    def _start_rechecker(self) -> None:
        if self._recheck is None or (self._rechecker and self._rechecker.is_alive()):
            return
        self._rechecker = threading.Thread(
            target=self._recheck_loop, name="queue-health-recheck", daemon=True
        )
        self._rechecker.start()

    def _recheck_loop(self) -> None:
        assert self._recheck is not None
        while not self._wake.wait(self._recheck):
            if self._monotonic() - self._asked_at > IDLE_AFTER_SECONDS:
                return  # nobody is asking: the next check() probes for itself
            report = self._probe()
            with self._lock:
                self._cached = (self._monotonic(), report)
            if report.ok:
                events.emit("queue.gate_reopened")
                return

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
