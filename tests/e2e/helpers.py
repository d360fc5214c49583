"""What the end-to-end tests share: the stack's fast timings, a patient wait, fresh users."""

from __future__ import annotations

import functools
import time

from tests import waiting

# Fast timings so a "generation" takes a second and polls come every half second.
STACK_SETTINGS = {
    "LOCAL_VIDEO_LATENCY_SECONDS": "1",
    "POLL_INITIAL_SECONDS": "0.5",
    "POLL_MAX_SECONDS": "1",
    # 1 s polls: a poll chain's names (shared/domain/step_tasks.py) last about 1000 s.
    "VIDEO_DEADLINE_SECONDS": "900",
    "QUEUE_HEALTH_TTL_SECONDS": "8",
    # The emulator on a busy 2-core machine can pause for seconds; production keeps 5 s.
    "STORE_DEADLINE_SECONDS": "30",
    # The start queue's pace (make dev: 10 a minute, as Veo's quota): tests start at once.
    "VEO_STARTS_PER_MINUTE": "600",
}

# The whole stack answers more slowly than one server: a longer deadline, a calmer pace.
wait_for = functools.partial(waiting.wait_for, timeout=60, interval=0.2)


def user(name: str) -> dict[str, str]:
    """A fresh dev identity per test, so that balances never mix."""
    return {"Authorization": f"Bearer dev:{name}-{time.monotonic_ns()}"}
