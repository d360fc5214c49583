"""Errors the domain and its ports speak. No SDK exception crosses a port."""

from __future__ import annotations

import math
from datetime import datetime


class DomainError(Exception):
    """Base of every error a service may see."""


class InsufficientTokens(DomainError):
    def __init__(self, balance: int, required: int) -> None:
        super().__init__(f"balance {balance} is below the {required} tokens required")
        self.balance = balance
        self.required = required


class TooManyInFlight(DomainError):
    """The user has `limit` videos in flight already; nothing was charged."""

    def __init__(self, in_flight: int, limit: int) -> None:
        super().__init__(f"{in_flight} videos in flight, the limit is {limit}")
        self.in_flight = in_flight
        self.limit = limit


class DailyLimitReached(DomainError):
    """The user spent `spent` of their `limit` tokens today (UTC); a creation costing `cost`
    would pass it. Nothing was charged; the allowance is whole again at `resets_at`."""

    def __init__(
        self, spent: int, limit: int, cost: int, resets_at: datetime, now: datetime
    ) -> None:
        super().__init__(f"{spent} of {limit} tokens spent today; this costs {cost}")
        self.spent = spent
        self.limit = limit
        self.cost = cost
        self.resets_at = resets_at
        self.wait_seconds = max(1, math.ceil((resets_at - now).total_seconds()))


class BalanceTooLow(DomainError):
    """A correction would take the balance below zero; nothing was changed."""

    def __init__(self, balance: int, amount: int) -> None:
        super().__init__(f"balance {balance}: a correction of {amount} would go below zero")
        self.balance = balance
        self.amount = amount


class NotCancellable(DomainError):
    """The creation cannot be cancelled any more; `reason` says why, for the user."""

    def __init__(self, reason: str, status: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class CreationNotFound(DomainError):
    """Missing, or owned by someone else: the caller cannot tell the two apart."""


class Unauthenticated(DomainError):
    """No identity, or one that does not verify. The message is safe to show."""


class IdentityUnavailable(DomainError):
    """The keys that verify identities could not be fetched: our outage, not the caller's."""


class Forbidden(DomainError):
    """A verified caller that is not allowed here (e.g. the wrong service account)."""


class StoreContention(DomainError):
    """The store gave up on a transaction because a document was too busy. Retry later."""


class StoreUnavailable(DomainError):
    """The store could not be reached or failed transiently. Retry later."""


# Failures of the connection to the queue (no answer, or none in time): the queue cannot be
# reached, so the health gate closes at once, and the call may have reached it and created
# the task anyway. One set serves both readings (`unreachable`, `ambiguous`).
UNREACHABLE_QUEUE_CODES = frozenset({"queue_unavailable", "queue_deadline_exceeded"})


class QueueError(DomainError):
    """Any failure of the task queue, reduced to a stable code such as `queue_unavailable`."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message

    @property
    def ambiguous(self) -> bool:
        """The task may exist although the call failed (a deadline, a dropped connection)."""
        return self.code in UNREACHABLE_QUEUE_CODES

    @property
    def unreachable(self) -> bool:
        return self.code in UNREACHABLE_QUEUE_CODES


class GenerationError(DomainError):
    """A generator failure. `transient` ones are retried; the others fail the creation.

    `not_started`: the request certainly did not start anything (refused before it ran:
    rate limited, no connection, no credentials). A transient failure of a start that may
    have run (a timeout, a 5xx) must not be retried with a new start: that could pay for a
    second generation.
    """

    def __init__(
        self, code: str, message: str = "", *, transient: bool, not_started: bool = False
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.transient = transient
        self.not_started = not_started


class StorageError(DomainError):
    """Media storage failed. Treated as transient: the step is retried."""
