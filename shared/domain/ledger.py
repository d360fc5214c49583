"""Users' token accounts and the ledger of grants, debits and refunds.

Ledger ids are deterministic (`debit-<creationId>`, `refund-<creationId>`) and written
create-if-absent inside the money transactions: a creation can have at most one of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.creation import Creation
from shared.domain.errors import InsufficientTokens


class EntryType(StrEnum):
    GRANT = "grant"
    DEBIT = "debit"
    REFUND = "refund"


@dataclass(frozen=True)
class Account:
    uid: str
    tokens: int
    total_tokens_spent: int = 0


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


def after_debit(account: Account, cost: int) -> Account:
    if account.tokens < cost:
        raise InsufficientTokens(account.tokens, cost)
    return Account(account.uid, account.tokens - cost, account.total_tokens_spent + cost)


def after_refund(account: Account, cost: int) -> Account:
    return Account(account.uid, account.tokens + cost, max(0, account.total_tokens_spent - cost))
