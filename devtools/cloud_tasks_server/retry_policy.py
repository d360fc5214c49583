"""When a failed dispatch is tried again, and when it is given up: a queue's (or a task's)
RetryConfig as the service applies it, and the response's Retry-After."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any

from devtools.cloud_tasks_server.protobuf_time import to_seconds


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), from `now`
    (epoch seconds); None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # -1: unlimited
    max_retry_duration: float  # 0: unlimited
    min_backoff: float
    max_backoff: float
    max_doublings: int

    @classmethod
    def from_pb(cls, config: Any, fallback: RetryPolicy | None = None) -> RetryPolicy:
        """From a RetryConfig message; zero fields take the fallback's (or the defaults)."""
        base = fallback or DEFAULT_RETRY
        return cls(
            max_attempts=config.max_attempts or base.max_attempts,
            max_retry_duration=to_seconds(config.max_retry_duration) or base.max_retry_duration,
            min_backoff=to_seconds(config.min_backoff) or base.min_backoff,
            max_backoff=to_seconds(config.max_backoff) or base.max_backoff,
            max_doublings=config.max_doublings or base.max_doublings,
        )

    def backoff(self, failures: int) -> float:
        """Delay before the retry that follows the `failures`-th failed attempt (1-based).

        min_backoff, doubled max_doublings times, then growing linearly by the last doubled
        interval, never above max_backoff: 10s, 20s, 40s, 80s, 160s, 240s, 300s, ... for
        min 10s, max 300s, 3 doublings.
        """
        k = max(0, failures - 1)
        doublings = max(0, self.max_doublings)
        if k <= doublings:
            interval = self.min_backoff * 2.0**k
        else:
            interval = self.min_backoff * 2.0**doublings * (k - doublings + 1)
        return min(interval, self.max_backoff)

    def retry_delay(self, failures: int, retry_after: float | None = None) -> float:
        """The backoff after the `failures`-th failed attempt, or the response's Retry-After
        (in seconds) when that is longer."""
        delay = self.backoff(failures)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def exhausted(self, attempts: int, first_attempt: float, now: float) -> bool:
        """Stop retrying? Each limit that is set must be reached; none set: never."""
        by_attempts = self.max_attempts > 0
        by_age = self.max_retry_duration > 0
        if not by_attempts and not by_age:
            return False
        attempts_done = attempts >= self.max_attempts if by_attempts else True
        age_done = now - first_attempt >= self.max_retry_duration if by_age else True
        return attempts_done and age_done


DEFAULT_RETRY = RetryPolicy(
    max_attempts=100,
    max_retry_duration=0.0,
    min_backoff=0.1,
    max_backoff=3600.0,
    max_doublings=16,
)
