"""Tokens that come in outside of creations: an operator's grant or correction, and a
payment's credit. Plain rules; the store applies them with `shared.domain.money.move`.

A movement's ledger id is derived from what makes it unique, so that writing it twice is
impossible (the ledger's create-if-absent) and a retry finds the first one:

    operator grant / correction   operator-<sha256(operator uid, Idempotency-Key)>
    payment credit                credit-<sha256(externalId)>  (for ever, not 24 h)

The entry keeps a fingerprint of the request (uid, amount, reason): the same request again
answers the first result; another request under the same key or externalId is a conflict
(IdempotencyConflict, 422).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from shared.domain.idempotency import fingerprint
from shared.domain.ledger import EntryType, LedgerEntry

MAX_AMOUNT = 1_000_000  # tokens one grant, correction or credit may move
MAX_REASON = 500
MAX_EXTERNAL_ID = 200


@dataclass(frozen=True)
class Movement:
    """Tokens to add to (or, an adjustment, take from) `uid`'s balance, once."""

    entry_id: str
    uid: str
    type: EntryType
    amount: int  # signed: an adjustment's is negative
    reason: str
    by: str
    fingerprint: str
    external_id: str | None = None


@dataclass(frozen=True)
class Moved:
    """What a movement did: its ledger entry and the balance it left (the first time's, on
    a replay)."""

    entry: LedgerEntry
    balance: int
    replayed: bool = False


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def operator_grant(operator: str, key: str, uid: str, amount: int, reason: str) -> Movement:
    """An operator's grant (amount > 0) or correction (amount < 0, an `adjustment`)."""
    if amount == 0 or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount must be a non-zero integer of at most {MAX_AMOUNT} tokens")
    kind = EntryType.GRANT if amount > 0 else EntryType.ADJUSTMENT
    return Movement(
        entry_id=f"operator-{_digest(operator, key)}",
        uid=uid,
        type=kind,
        amount=amount,
        reason=reason,
        by=operator,
        fingerprint=fingerprint({"uid": uid, "amount": amount, "reason": reason}),
    )


def credit_entry_id(external_id: str) -> str:
    return f"credit-{_digest(external_id)}"


def payment_credit(caller: str, external_id: str, uid: str, amount: int, reason: str) -> Movement:
    """Tokens paid for (amount > 0), once per `external_id` (the payment's id)."""
    if not 0 < amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be a positive integer of at most {MAX_AMOUNT} tokens")
    return Movement(
        entry_id=credit_entry_id(external_id),
        uid=uid,
        type=EntryType.CREDIT,
        amount=amount,
        reason=reason,
        by=caller,
        fingerprint=fingerprint({"uid": uid, "amount": amount, "reason": reason}),
        external_id=external_id,
    )


def movement_entry(m: Movement, balance_after: int, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        id=m.entry_id,
        user_id=m.uid,
        type=m.type,
        amount=m.amount,
        created_at=now,
        reason=m.reason,
        by=m.by,
        external_id=m.external_id,
        fingerprint=m.fingerprint,
        balance_after=balance_after,
    )
