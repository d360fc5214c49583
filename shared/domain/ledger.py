"""Users' token accounts and the ledger of grants, adjustments, credits, debits and refunds.

Ledger ids are deterministic (`debit-<creationId>`, `refund-<creationId>`, the starting
grant's `grant-<uid>-starting_grant`, an operator's `operator-<digest of who and the
Idempotency-Key>`, a payment's `credit-<digest of its externalId>`) and written
create-if-absent inside the money transactions: each can be written at most once.

Tokens come in as `grant` (the starting grant, an operator's grant), `credit` (a payment)
and go back out as `adjustment` (an operator's correction, a negative amount); `debit` and
`refund` are what creations cost and give back. A balance is the sum of `signed_amount`.

The daily spend cap (DAILY_SPEND_LIMIT_TOKENS) is counted on the account itself, in the
debit and refund transactions: `spent_day` (a UTC date) and `spent_today` (debits less
refunds of creations made that day), never by reading the ledger.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.domain.creation import Creation, Kind
from shared.domain.errors import DailyLimitReached, InsufficientTokens, TooManyInFlight


class EntryType(StrEnum):
    GRANT = "grant"
    DEBIT = "debit"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"  # an operator's correction: a negative amount
    CREDIT = "credit"  # tokens paid for, from the payments backend


# The entries that bring tokens in (or take them back) outside of creations.
MOVEMENTS = (EntryType.GRANT, EntryType.ADJUSTMENT, EntryType.CREDIT)


@dataclass(frozen=True)
class Account:
    uid: str
    tokens: int
    total_tokens_spent: int = 0
    in_flight: int = 0  # videos debited and not ended yet (images are not counted)
    spent_day: str = ""  # the UTC date `spent_today` counts (YYYY-MM-DD)
    spent_today: int = 0  # debits less refunds of the creations made that day


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    user_id: str
    type: EntryType
    amount: int
    created_at: datetime
    creation_id: str | None = None
    reason: str = ""
    by: str | None = None  # who moved the tokens: an operator's uid, a payments caller
    external_id: str | None = None  # a credit's payment id
    fingerprint: str | None = None  # a grant's or credit's request, to tell a replay
    balance_after: int | None = None  # the balance this entry left (answered on replay)

    @property
    def signed_amount(self) -> int:
        """What the entry does to the balance (an adjustment's amount is negative already)."""
        return -self.amount if self.type is EntryType.DEBIT else self.amount


def _creation_entry(c: Creation, kind: EntryType, reason: str, now: datetime) -> LedgerEntry:
    """A creation's own entry (its debit or its refund): id `<type>-<creation id>`, its cost."""
    return LedgerEntry(
        id=f"{kind.value}-{c.id}",
        user_id=c.user_id,
        type=kind,
        amount=c.cost,
        created_at=now,
        creation_id=c.id,
        reason=reason,
    )


def debit_entry(c: Creation, now: datetime) -> LedgerEntry:
    return _creation_entry(c, EntryType.DEBIT, f"{c.kind} generation", now)


def refund_entry(c: Creation, now: datetime) -> LedgerEntry:
    return _creation_entry(c, EntryType.REFUND, c.error_code or "refund", now)


def grant_entry(uid: str, amount: int, reason: str, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        id=f"grant-{uid}-{reason}",
        user_id=uid,
        type=EntryType.GRANT,
        amount=amount,
        created_at=now,
        reason=reason,
    )


def counts_in_flight(c: Creation) -> bool:
    """Videos count against the in-flight limit; images end within their own request."""
    return c.kind is Kind.VIDEO


def utc_day(t: datetime) -> str:
    return t.astimezone(UTC).date().isoformat()


def next_utc_midnight(t: datetime) -> datetime:
    day = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def spent_on(account: Account, day: str) -> int:
    """Tokens the account spent (debits less refunds) on the UTC `day`."""
    return account.spent_today if account.spent_day == day else 0


@dataclass(frozen=True)
class SpendLimits:
    """The limits a debit is checked against (`after_debit`); None: no limit.

    in_flight: videos a user may have in flight (MAX_IN_FLIGHT_VIDEOS; images do not
    count): a video while that many are in flight raises TooManyInFlight.
    daily: tokens a user may spend in a UTC day (DAILY_SPEND_LIMIT_TOKENS; debits less
    refunds): a creation that would spend past it raises DailyLimitReached.
    """

    in_flight: int | None = None
    daily: int | None = None


NO_LIMITS = SpendLimits()


def after_debit(account: Account, c: Creation, limits: SpendLimits = NO_LIMITS) -> Account:
    """The account once `c` is paid for. Raises TooManyInFlight (a video while
    `limits.in_flight` are in flight), DailyLimitReached (the day's spending past `limits.daily`) or
    InsufficientTokens; the limits are checked first, since nothing is charged either way."""
    in_flight = account.in_flight
    if counts_in_flight(c):
        if limits.in_flight is not None and in_flight >= limits.in_flight:
            raise TooManyInFlight(in_flight, limits.in_flight)
        in_flight += 1
    day = utc_day(c.created_at)
    spent = spent_on(account, day)
    if limits.daily is not None and spent + c.cost > limits.daily:
        resets_at = next_utc_midnight(c.created_at)
        raise DailyLimitReached(spent, limits.daily, c.cost, resets_at, c.created_at)
    if account.tokens < c.cost:
        raise InsufficientTokens(account.tokens, c.cost)
    return dataclasses.replace(
        account,
        tokens=account.tokens - c.cost,
        total_tokens_spent=account.total_tokens_spent + c.cost,
        in_flight=in_flight,
        spent_day=day,
        spent_today=spent + c.cost,
    )


def after_end(account: Account, c: Creation) -> Account:
    """The account once `c` reached a terminal state (draft: nothing else changes)."""
    in_flight = max(0, account.in_flight - 1) if counts_in_flight(c) else account.in_flight
    return dataclasses.replace(account, in_flight=in_flight)


def after_refund(account: Account, c: Creation) -> Account:
    """The account once `c` ended refunded (failed or cancelled); a refund of a creation of
    the day being counted gives its cost back to the day's allowance."""
    ended = after_end(account, c)
    spent_today = ended.spent_today
    if ended.spent_day == utc_day(c.created_at):
        spent_today = max(0, spent_today - c.cost)
    return dataclasses.replace(
        ended,
        tokens=ended.tokens + c.cost,
        total_tokens_spent=max(0, ended.total_tokens_spent - c.cost),
        spent_today=spent_today,
    )
