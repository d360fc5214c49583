"""The worker's state machine is driven by one small task per step.

Task ids are derived from the creation id (random, so well spread for Cloud Tasks) and
the step, so that enqueueing the same step twice is refused by the queue as a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Step(StrEnum):
    START = "start"
    POLL = "poll"


_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


@dataclass(frozen=True)
class StepTask:
    creation_id: str
    step: Step
    seq: int = 0  # poll number, or requeue number for a start
    delay_seconds: float = 0.0

    @property
    def task_id(self) -> str:
        return f"{self.creation_id}-{self.step}-{self.seq}"

    def payload(self) -> dict[str, Any]:
        return {"creationId": self.creation_id, "step": str(self.step), "seq": self.seq}

    @classmethod
    def from_payload(cls, data: Any) -> StepTask:
        """Parse a task body; raises ValueError with a message naming the field."""
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object")
        creation_id = data.get("creationId")
        if not isinstance(creation_id, str) or not _ID.match(creation_id):
            raise ValueError("creationId: expected an id of letters, digits, - and _")
        raw_step = data.get("step")
        if raw_step not in tuple(Step):
            raise ValueError("step: expected 'start' or 'poll'")
        step = Step(raw_step)
        seq = data.get("seq", 0)
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 100_000:
            raise ValueError("seq: expected an integer from 0 to 99999")
        return cls(creation_id, step, seq)


def next_poll_delay(seq: int, initial: float, maximum: float) -> float:
    """Delay before poll number `seq` (1-based): grows by half each time, capped."""
    return min(maximum, initial * (1.5 ** max(0, seq - 1)))
