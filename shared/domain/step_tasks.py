"""The worker's state machine is driven by one small task per step; this module owns their
names and the bounds that keep the names apart.

Task ids are derived from the creation id (random, so well spread for Cloud Tasks), the step
and a sequence number, so that enqueueing the same step twice is refused by the queue as a
duplicate (ALREADY_EXISTS, a success for the enqueuer). Cloud Tasks keeps a name reserved
for about an hour after its task ran, so a task meant to be NEW must never get a name that
an earlier task of the same creation used: it would be dropped as a duplicate, silently.

    <id>-start-<r>      r = 0 for the first start, r = the requeue number (1..MAX_REQUEUES)
                        for a start the reconciler queues again
    <id>-poll-<seq>     poll chain k holds seq POLL_CHAIN*k + j: chain 0 (made by the start)
                        is seq 1, 2, ...; chain k >= 1 (the reconciler's k-th requeue of a
                        running creation) is seq POLL_CHAIN*k, POLL_CHAIN*k + 1, ...

A chain stays within its POLL_CHAIN names while it makes at most MAX_POLLS_PER_CHAIN polls,
which the configuration guarantees: polls stop at the creation's deadline, and
`poll_chain_span_seconds` is the least time that many polls take (`deadline_fits`). Every
seq is then below SEQ_LIMIT, the bound the worker checks a task body against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

POLL_CHAIN = 1000  # task names per poll chain
MAX_POLLS_PER_CHAIN = POLL_CHAIN - 1  # chain 0 starts at seq 1
MAX_REQUEUES = 99  # the reconciler's requeues of one creation; past them it expires
SEQ_LIMIT = POLL_CHAIN * (MAX_REQUEUES + 1)  # every seq is below: 100,000
POLL_GROWTH = 1.5  # each poll waits half as long again as the one before, up to the maximum


class Step(StrEnum):
    START = "start"
    POLL = "poll"


_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


@dataclass(frozen=True)
class StepTask:
    creation_id: str
    step: Step
    seq: int = 0  # requeue number for a start, poll number for a poll (module docstring)
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
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < SEQ_LIMIT:
            raise ValueError(f"seq: expected an integer from 0 to {SEQ_LIMIT - 1}")
        return cls(creation_id, step, seq)


def start_task(creation_id: str, requeues: int = 0) -> StepTask:
    """The start of a creation: the first one (0), or the reconciler's requeue number."""
    if not 0 <= requeues <= MAX_REQUEUES:
        raise ValueError(f"requeues: expected 0 to {MAX_REQUEUES}, got {requeues}")
    return StepTask(creation_id, Step.START, requeues)


def start_tasks(creation_id: str, requeues: int) -> list[StepTask]:
    """Every start task a creation requeued `requeues` times may have (to delete them)."""
    return [start_task(creation_id, r) for r in range(min(requeues, MAX_REQUEUES) + 1)]


def first_poll_seq(requeues: int) -> int:
    """The seq of a poll chain's first task: 1 for the start's chain, POLL_CHAIN * k for the
    chain of the reconciler's k-th requeue."""
    if not 0 <= requeues <= MAX_REQUEUES:
        raise ValueError(f"requeues: expected 0 to {MAX_REQUEUES}, got {requeues}")
    return POLL_CHAIN * requeues or 1


def poll_task(creation_id: str, seq: int, initial: float, maximum: float) -> StepTask:
    """Poll number `seq`, delayed by its place in its chain."""
    if not 0 < seq < SEQ_LIMIT:
        raise ValueError(f"seq: expected 1 to {SEQ_LIMIT - 1}, got {seq}")
    return StepTask(creation_id, Step.POLL, seq, poll_delay(seq % POLL_CHAIN, initial, maximum))


def poll_delay(j: int, initial: float, maximum: float) -> float:
    """Delay before the chain's poll number `j` (1-based; 0 and 1 wait `initial`): grows by
    half each time, capped at `maximum`."""
    return min(maximum, initial * (POLL_GROWTH ** max(0, j - 1)))


def poll_chain_span_seconds(initial: float, maximum: float) -> float:
    """The least time MAX_POLLS_PER_CHAIN polls of one chain take (their delays alone; each
    step's own run time only adds to it)."""
    return sum(poll_delay(j, initial, maximum) for j in range(1, MAX_POLLS_PER_CHAIN + 1))


def deadline_fits(deadline_seconds: float, initial: float, maximum: float) -> bool:
    """Whether a creation that polls until `deadline_seconds` after its submission keeps each
    poll chain within its POLL_CHAIN names (a chain starts after the submission and polls
    no further than the deadline: it cannot make more polls than fit in that time)."""
    return deadline_seconds <= poll_chain_span_seconds(initial, maximum)


def largest_deadline_seconds(initial: float, maximum: float) -> int:
    """The largest whole VIDEO_DEADLINE_SECONDS that `deadline_fits` these poll timings."""
    return int(poll_chain_span_seconds(initial, maximum))
