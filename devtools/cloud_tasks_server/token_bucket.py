"""A queue's dispatch rate: a token bucket of `max_burst_size` tokens, refilled at
`max_dispatches_per_second`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def burst_for(rate: float) -> int:
    """The max_burst_size the server picks for a rate (the service's default queue: 100)."""
    return max(1, min(100, math.ceil(rate)))


class TokenBucket:
    """`burst` tokens, full at the start, refilled at `rate` tokens a second (rate > 0)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._refilled = clock()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is there (none is taken)."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
