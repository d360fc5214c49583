"""Users' token accounts and the ledger of grants, debits and refunds.

Ledger ids are deterministic (`debit-<creationId>`, `refund-<creationId>`) and written
create-if-absent inside the money transactions: a creation can have at most one of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.creation import Creation, Kind
from shared.domain.errors import InsufficientTokens, TooManyInFlight


class EntryType(StrEnum):
    GRANT = "grant"
    DEBIT = "debit"
    REFUND = "refund"


@dataclass(frozen=True)
class Account:
    uid: str
    tokens: int
    total_tokens_spent: int = 0
    in_flight: int = 0  # videos debited and not ended yet (images are not counted)


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    user_id: str
    type: EntryType
    amount: int
    created_at: datetime
    creation_id: str | None = None
    reason: str = ""

    @property
    def signed_amount(self) -> int:
        return -self.amount if self.type is EntryType.DEBIT else self.amount


def debit_entry(c: Creation, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        id=f"debit-{c.id}",
        user_id=c.user_id,
        type=EntryType.DEBIT,
        amount=c.cost,
        created_at=now,
        creation_id=c.id,
        reason=f"{c.kind} generation",
    )


def refund_entry(c: Creation, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        id=f"refund-{c.id}",
        user_id=c.user_id,
        type=EntryType.REFUND,
        amount=c.cost,
        created_at=now,
        creation_id=c.id,
        reason=c.error_code or "refund",
    )


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


def after_debit(account: Account, c: Creation, in_flight_limit: int | None = None) -> Account:
    """The account once `c` is paid for. Raises TooManyInFlight (a video over the limit) or
    InsufficientTokens; the limit is checked first, since nothing is charged either way."""
    in_flight = account.in_flight
    if counts_in_flight(c):
        if in_flight_limit is not None and in_flight >= in_flight_limit:
            raise TooManyInFlight(in_flight, in_flight_limit)
        in_flight += 1
    if account.tokens < c.cost:
        raise InsufficientTokens(account.tokens, c.cost)
    return Account(
        account.uid, account.tokens - c.cost, account.total_tokens_spent + c.cost, in_flight
    )


def after_end(account: Account, c: Creation) -> Account:
    """The account once `c` reached a terminal state (draft: nothing else changes)."""
    in_flight = max(0, account.in_flight - 1) if counts_in_flight(c) else account.in_flight
    return Account(account.uid, account.tokens, account.total_tokens_spent, in_flight)


def after_refund(account: Account, c: Creation) -> Account:
    """The account once `c` ended refunded (failed or cancelled)."""
    ended = after_end(account, c)
    return Account(
        ended.uid,
        ended.tokens + c.cost,
        max(0, ended.total_tokens_spent - c.cost),
        ended.in_flight,
    )
