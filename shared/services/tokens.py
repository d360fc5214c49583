"""Tokens coming in: an operator's grant or correction, and a payment's credit.

Both are one store transaction (`Store.move_tokens`, decided by `shared.domain.money.move`):
the ledger entry with who, when and why, and the balance, at once; the account opened
first with its starting grant when the user has none yet. A retry answers the first result.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared import events
from shared.domain.grants import Moved, Movement, operator_grant, payment_credit

if TYPE_CHECKING:
    from shared.services.deps import Deps


def grant(deps: Deps, operator: str, key: str, uid: str, amount: int, reason: str) -> Moved:
    """An operator's grant (amount > 0) or correction (< 0, never below zero: BalanceTooLow),
    once per operator and Idempotency-Key."""
    return _move(deps, operator_grant(operator, key, uid, amount, reason))


def credit(deps: Deps, caller: str, external_id: str, uid: str, amount: int, reason: str) -> Moved:
    """Tokens a payment bought, once per `external_id`, for ever."""
    return _move(deps, payment_credit(caller, external_id, uid, amount, reason))


def _move(deps: Deps, m: Movement) -> Moved:
    moved = deps.store.move_tokens(m, deps.policy.starting_grant, deps.clock())
    events.emit(
        "tokens.moved",
        logging.INFO,
        type=str(moved.entry.type),
        replayed=moved.replayed,
        userId=m.uid,
        amount=m.amount,
        by=m.by,
        entryId=m.entry_id,
        externalId=m.external_id,
        balance=moved.balance,
    )
    return moved
